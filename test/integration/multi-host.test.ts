/**
 * A lab larger than one host (issue 12 §1, acceptance): two lab hosts, each a Linux network
 * namespace with its own loopback, adb server, virtual phones and host name, each running
 * `phonehome run --shard I/2` of the same suites on twin phones (the same profiles); the two run
 * folders merged in the root namespace with `phonehome merge`. The merged verdicts must equal those
 * of a single-host run of the same profiles, with every scenario × fingerprint job exactly once.
 *
 * The suites include a positive control and the scenario that names it (system-ui-events defines
 * `uep-reported`, uep-opt-out names it): a shard split must keep them on the same host, or the
 * negative check would be `broken` for want of its control. The other scenarios are quick ones (a
 * pass, and a switch read two ways: one fails). Runs make no HTML (JAVA_HOME points nowhere, a
 * warning); `phonehome report` on the merged run makes the real one.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { assertCleanFailure, runCli, show, type CliResult } from '../support/cli.ts';
import { cliEnv, labDevices, labDevicesFile, startLab, type TestLab } from '../support/lab.ts';
import { LabHost, netnsUnavailable } from '../support/netns.ts';
import { readRunMeta } from '../../src/report/run-meta.ts';
import { shardOf } from '../../src/runner/shard.ts';
import type { MergeReport } from '../../src/report/merge.ts';
import type { RunDiff } from '../../src/report/diff.ts';
import type { JobResult, RunSummary } from '../../src/report/run-folder.ts';

/** The control group (system-ui-events defines `uep-reported`, uep-opt-out names it; the China ROM fails it). */
const CONTROL_GROUP = [resolve('scenarios/system-ui-events.yaml'), resolve('scenarios/uep-opt-out.yaml')];
const PROFILES = ['redmi-note-8-leaky-rooted', 'redmi-note-11-china'];

const summaryOf = (runDir: string): RunSummary =>
  JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as RunSummary;
const resultsOf = (runDir: string): JobResult[] =>
  JSON.parse(readFileSync(join(runDir, 'results.json'), 'utf8')) as JobResult[];
/** What a verdict is about, whatever host or serial ran it. */
const verdicts = (s: RunSummary): string[] =>
  s.results.map((r) => `${r.scenario} | ${r.profile} | ${r.status}`).sort();
const runDirOf = (r: CliResult, out: string): string => {
  const run = (JSON.parse(r.stdout) as RunSummary).run;
  return join(out, run);
};

describe('two lab hosts in network namespaces: a shard each, merged', function () {
  this.timeout(240_000);
  let tmp: string;
  const hosts: LabHost[] = [];
  let single: TestLab | undefined;
  let env: Record<string, string>;
  let suite: string[];
  const noJava = (): string => join(tmp, 'no-java');
  const cli = (args: string[], extra: Record<string, string> = {}, timeoutMs = 60_000) =>
    runCli(args, { env: { ...env, ...extra }, cwd: tmp, timeoutMs });

  before(async function () {
    const why = netnsUnavailable();
    if (why) {
      if (process.env.CI) throw new Error(`the multi-host test must run in CI: ${why}`);
      this.skip();
    }
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-multi-host-'));
    const quick = join(tmp, 'suite');
    mkdirSync(quick);
    writeFileSync(join(quick, 'pass.yaml'), readFileSync(resolve('test/fixtures/runner/pass.yaml'), 'utf8'));
    for (const on of [true, false])
      writeFileSync(
        join(quick, `toggle-${on}.yaml`),
        `name: diagnostic data ${on ? 'on' : 'off'}\n---\n- assertToggle:\n    name: miui.diagnosticData\n    on: ${on}\n`,
      );
    suite = [quick, ...CONTROL_GROUP];
    const ups = ['lab-a', 'lab-b'].map(async (name, i) => {
      const h = new LabHost({ hostname: name, dir: join(tmp, name), adbPort: 5237 + i });
      hosts.push(h);
      h.env.JAVA_HOME = noJava();
      const r = await h.up(PROFILES);
      assert.equal(r.code, 0, `lab up on ${name}: ${show(r)}`);
    });
    const [labs] = await Promise.all([startLab(PROFILES), ...ups]);
    single = labs;
    labDevicesFile(join(tmp, 'single.json'), labDevices(single.phones, single.adb.port));
    env = cliEnv(tmp, single.adb.port);
  });

  after(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    await single?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  let dirSingle: string;

  it('runs every job once over the two hosts, and the merge equals a single-host run', async () => {
    const reports = join(tmp, 'reports');
    const shard = (h: LabHost, i: number) =>
      h.cli(
        [
          'run',
          ...suite,
          '--devices',
          h.devicesFile,
          '--shard',
          `${i}/2`,
          '--out',
          join(h.o.dir, 'reports'),
          '--json',
        ],
        180_000,
      );
    const [ra, rb, rs] = await Promise.all([
      shard(hosts[0]!, 1),
      shard(hosts[1]!, 2),
      cli(
        ['run', ...suite, '--devices', join(tmp, 'single.json'), '--out', reports, '--json'],
        { JAVA_HOME: noJava() },
        180_000,
      ),
    ]);
    for (const r of [ra, rb, rs]) assert.ok(r.code === 0 || r.code === 1, show(r));
    const dirA = runDirOf(ra, join(hosts[0]!.o.dir, 'reports'));
    const dirB = runDirOf(rb, join(hosts[1]!.o.dir, 'reports'));
    dirSingle = runDirOf(rs, reports);
    const jobs = verdicts(summaryOf(dirSingle)).length;
    assert.equal(jobs, 10, 'the single host ran 5 scenarios × 2 profiles');

    // Each host ran a slice, on its own phones, under its own name; no job ran on both.
    const metaA = readRunMeta(dirA)!;
    const metaB = readRunMeta(dirB)!;
    assert.equal(metaA.host, 'lab-a');
    assert.equal(metaB.host, 'lab-b');
    assert.deepEqual(metaA.shard, { index: 1, count: 2 });
    assert.deepEqual(metaB.shard, { index: 2, count: 2 });
    assert.deepEqual(
      metaA.jobs.map((j) => `${j.scenario}|${j.fingerprintKey}|${j.shard}`).sort(),
      metaB.jobs.map((j) => `${j.scenario}|${j.fingerprintKey}|${j.shard}`).sort(),
      'both hosts cut the suite the same way',
    );
    const a = verdicts(summaryOf(dirA));
    const b = verdicts(summaryOf(dirB));
    assert.ok(a.length > 0 && b.length > 0, `both shards ran jobs: ${show(ra)}\n${show(rb)}`);
    assert.equal(a.length + b.length, jobs, 'every job ran once');
    const jobOf = (v: string) => v.split(' | ').slice(0, 2).join(' | ');
    const inBoth = a.map(jobOf).filter((j) => b.map(jobOf).includes(j));
    assert.deepEqual(inBoth, [], 'no job ran on both hosts');
    // The control and the scenario that names it stayed together: nothing broke for want of it.
    for (const v of [...a, ...b]) assert.doesNotMatch(v, /\| broken$/, `${v}\n${show(ra)}\n${show(rb)}`);

    // Merged in the root namespace, into the single run's reports folder.
    const rm = await cli(['merge', dirA, dirB, '--out', reports, '--json'], { JAVA_HOME: noJava() }, 120_000);
    assert.equal(rm.code, rs.code, `the merged exit code is the single run's: ${show(rm)}`);
    const m = JSON.parse(rm.stdout) as MergeReport;
    assert.deepEqual(m.missing, [], show(rm));
    assert.deepEqual(m.duplicates, [], show(rm));
    const merged = join(reports, m.run);
    assert.deepEqual(verdicts(summaryOf(merged)), verdicts(summaryOf(dirSingle)), show(rm));
    const mergedResults = resultsOf(merged);
    assert.deepEqual([...new Set(mergedResults.map((r) => r.host))].sort(), ['lab-a', 'lab-b']);
    for (const r of mergedResults) assert.ok(existsSync(join(merged, r.evidenceDir)), r.evidenceDir);

    // The merged run is a run: its report is made by the real allure-commandline, diff reads it,
    // and diff with one run finds the single-host run as the previous run of the same firmware.
    const rep = await cli(['report', merged], {}, 120_000);
    assert.equal(rep.code, 0, show(rep));
    assert.ok(existsSync(join(merged, 'html', 'index.html')));
    const two = await cli(['diff', dirSingle, merged, '--json']);
    assert.equal(two.code, 0, show(two));
    assert.equal((JSON.parse(two.stdout) as RunDiff).counts.verdictsChanged, 0, two.stdout);
    const one = await cli(['diff', merged, '--reports', reports, '--json']);
    assert.equal(one.code, 0, show(one));
    const d = JSON.parse(one.stdout) as RunDiff & { previous: { run: string } };
    assert.equal(d.previous.run, basename(dirSingle), show(one));
    assert.equal(d.counts.verdictsChanged, 0);

    // One shard alone is not the whole suite: merge names what is missing, and never exits 0.
    const rOne = await cli(['merge', dirA, '--out', join(tmp, 'merged-one'), '--json'], {
      JAVA_HOME: noJava(),
    });
    assert.equal(rOne.code, 3, show(rOne));
    assert.match(rOne.stderr, /missing/i);
    const partial = JSON.parse(rOne.stdout) as MergeReport;
    assert.equal(partial.missing.length, b.length, 'the other shard’s jobs are missing');
    const one2 = summaryOf(join(tmp, 'merged-one', partial.run));
    assert.deepEqual(partial.missingShards, [{ index: 2, count: 2 }]);
    assert.equal(one2.results.length, jobs + 1, 'missing jobs and the missing shard are broken results');
    assert.equal(one2.results.filter((r) => r.status === 'broken').length, b.length + 1);
  });

  it('a shard with no job on this host is an empty run (exit 0, said so); a bad --shard exits 2', async () => {
    const keys = [...new Set(resultsOf(dirSingle).map((r) => r.fingerprintKey!))];
    // One scenario × two fingerprints over three shards: at least one shard has no job.
    const empty = [1, 2, 3].find((i) => keys.every((k) => shardOf('runner passes', k, 3) !== i))!;
    const pass = resolve('test/fixtures/runner/pass.yaml');
    const r = await cli(
      [
        'run',
        pass,
        '--devices',
        join(tmp, 'single.json'),
        '--shard',
        `${empty}/3`,
        '--out',
        join(tmp, 'empty'),
      ],
      {
        JAVA_HOME: noJava(),
      },
    );
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /0 scenario × phone run\(s\) on this host \(none here: an empty run/);
    const dir = r.stdout.match(/→ (\S+)/)![1]!;
    assert.deepEqual(resultsOf(dir), []);
    assert.equal(readRunMeta(dir)!.jobs.length, 2);
    const bad = assertCleanFailure(
      await cli(['run', pass, '--devices', join(tmp, 'single.json'), '--shard', '3/2']),
      2,
    );
    assert.match(bad.message, /--shard must be I\/N with 1 ≤ I ≤ N \(got '3\/2'\)/);
    const none = assertCleanFailure(await cli(['diff', dir, '--reports', join(tmp, 'nowhere')]), 2);
    assert.match(none.message, /no previous run to compare/);
  });
});
