/**
 * `phonehome run` as a user runs it (issue 6 §2 and the Acceptance faults): the real CLI in a child
 * process, virtual phones on private adb servers in this process, `ui: "adb"` phones (no Appium),
 * the scenario fixtures in test/fixtures/runner/.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { spawnCli } from '../support/capture.ts';
import { assertCleanFailure, parseJson, runCli, show, waitFor } from '../support/cli.ts';
import { cliEnv, labDevicesFile, startLab, type TestLab } from '../support/lab.ts';
import { AdbPhone } from '../support/xiaomi.ts';
import { slug, type JobResult, type RunSummary } from '../../src/report/run-folder.ts';

const FIXTURES = resolve('test/fixtures/runner');
const fx = (name: string): string => join(FIXTURES, name);

describe('phonehome run (CLI) on virtual phones', function () {
  // Bounds, not measurements: a run of the failing fixture waits out its control's trailing window
  // (~25 s) and then generates the Allure report; on 2 busy cores it took 36, 41 and then over 45 s.
  this.timeout(120_000);
  let labA: TestLab;
  let labB: TestLab;
  let tmp: string;
  let env: Record<string, string>;

  const phoneA = (i: number) => new AdbPhone(labA.adb.port, labA.phones[i]!.serial);
  const profileOf = (serial: string): string =>
    [...labA.phones, ...labB.phones].find((p) => p.serial === serial)!.profile.name;
  const proxyOf = async (p: AdbPhone) => (await p.sh('settings get global http_proxy')).trim();
  /** A devices file as `phonehome lab up` writes it (with lab records), on the given adb servers. */
  const devices = (name: string, phones: Array<{ serial: string; adbPort: number }>): string =>
    labDevicesFile(
      join(tmp, name),
      phones.map((p) => ({ ...p, profile: profileOf(p.serial) })),
      { pinServers: true },
    );
  const cli = (args: string[], timeoutMs = 100_000) => runCli(args, { env, cwd: tmp, timeoutMs });
  const summaryOf = (runDir: string) =>
    JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as RunSummary;
  const resultsOf = (runDir: string) =>
    JSON.parse(readFileSync(join(runDir, 'results.json'), 'utf8')) as JobResult[];
  /** The worker processes' logs of a run: one per process. */
  const workerLogs = (runDir: string) =>
    readdirSync(join(runDir, 'logs'))
      .filter((f) => /^worker-\d+\.log$/.test(f))
      .sort();

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-run-cli-'));
    mkdirSync(join(tmp, 'home'));
    labA = await startLab(['redmi-note-8-leaky-rooted', 'xiaomi-13-hyperos-rooted']);
    labB = await startLab(['redmi-note-8-fixed-rooted']);
    env = cliEnv(tmp, labA.adb.port);
  });
  after(async () => {
    await labA?.stop();
    await labB?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('runs scenario × phone, writes summary.json (the contract) and exits 1 on a failure; both phones share one worker process, each with its own Allure results', async () => {
    // pass.yaml + fail.yaml on both of lab A's phones: exit 1 (one scenario fails), JSON to stdout.
    const file = devices(
      'two.json',
      labA.phones.map((p) => ({ serial: p.serial, adbPort: labA.adb.port })),
    );
    const r = await cli([
      'run',
      fx('pass.yaml'),
      fx('fail.yaml'),
      '--devices',
      file,
      '--json',
      '--out',
      'reports',
    ]);
    assert.equal(r.code, 1, show(r));
    const summary = parseJson<RunSummary>(r);
    assert.match(summary.run, /\S/);
    const runDir = join(tmp, 'reports', summary.run);
    assert.deepEqual(summaryOf(runDir), summary, 'stdout is summary.json');
    assert.equal(readlinkSync(join(tmp, 'reports', 'latest')), summary.run);
    const got = summary.results.map((x) => `${x.scenario}|${x.phone}|${x.profile}|${x.status}`).sort();
    const want = labA.phones
      .flatMap((p) => [
        `runner fails|${p.serial}|${p.profile.name}|failed`,
        `runner passes|${p.serial}|${p.profile.name}|passed`,
      ])
      .sort();
    assert.deepEqual(got, want, show(r));
    for (const x of summary.results)
      assert.deepEqual(Object.keys(x).sort(), ['phone', 'profile', 'scenario', 'status']);
    const results = resultsOf(runDir);
    assert.equal(results.length, 4);
    for (const x of results) {
      assert.equal(x.attempts, 1);
      assert.ok(existsSync(join(runDir, x.evidenceDir)), `evidence ${x.evidenceDir}`);
    }
    assert.ok(existsSync(join(runDir, 'allure-results')), 'allure-mocha wrote results');
    // By default both phones are served by one worker process (one mocha and one allure-mocha
    // reporter per phone; the facade's calls dispatched by the job at hand).
    assert.deepEqual(workerLogs(runDir), ['worker-1.log'], show(r));
    interface Attachment {
      name: string;
      source: string;
    }
    interface Step {
      name: string;
      steps?: Step[];
      attachments?: Attachment[];
    }
    // allure-js-commons 3 writes each attachment inside a step of its name.
    const attachmentsOf = (x: { steps?: Step[]; attachments?: Attachment[] }): Attachment[] => [
      ...(x.attachments ?? []),
      ...(x.steps ?? []).flatMap(attachmentsOf),
    ];
    const dir = join(runDir, 'allure-results');
    const allure = readdirSync(dir)
      .filter((f) => f.endsWith('-result.json'))
      .map(
        (f) =>
          JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
            name: string;
            status: string;
            parameters: Array<{ name: string; value: string }>;
            labels: Array<{ name: string; value: string }>;
            steps: Step[];
            attachments: Attachment[];
          },
      );
    assert.equal(allure.length, 4, allure.map((a) => a.name).join('\n'));
    for (const a of allure) {
      const serial = /\(([^)]+)\)$/.exec(a.name)?.[1];
      assert.ok(serial, a.name);
      // Every label, parameter, step and attachment of a result comes from its own phone's job.
      assert.deepEqual(
        a.parameters.filter((p) => p.name === 'phone').map((p) => p.value),
        [serial],
        a.name,
      );
      // A Timeline row per phone, as when each phone had its own process.
      assert.deepEqual(
        a.labels.filter((l) => l.name === 'thread').map((l) => l.value),
        [serial],
        a.name,
      );
      assert.equal(a.labels.find((l) => l.name === 'parentSuite')?.value, profileOf(serial), a.name);
      assert.equal(a.labels.filter((l) => l.name === 'suite').length, 1, a.name);
      const scenario = a.labels.find((l) => l.name === 'suite')!.value;
      assert.ok(a.name.startsWith(`${scenario} on `), a.name);
      assert.equal(a.status, scenario === 'runner fails' ? 'failed' : 'passed', a.name);
      assert.ok(a.steps.length > 0, `${a.name}: its scenario steps`);
      const job = results.find((x) => x.phone === serial && x.scenario === scenario)!;
      const har = attachmentsOf(a).find((x) => x.name === 'capture.har');
      assert.ok(har, `${a.name}: its capture.har`);
      assert.equal(
        readFileSync(join(dir, har.source), 'utf8'),
        readFileSync(join(runDir, job.evidenceDir, 'capture.har'), 'utf8'),
        `${a.name}: the HAR attached is its own job's`,
      );
      const fp = attachmentsOf(a).find((x) => x.name === 'fingerprint.json');
      assert.ok(fp, a.name);
      assert.equal(
        (JSON.parse(readFileSync(join(dir, fp.source), 'utf8')) as { model: string }).model,
        job.fingerprint.model,
        a.name,
      );
    }
    for (const i of [0, 1]) assert.equal(await proxyOf(phoneA(i)), 'null', 'phones restored');
  });

  it('--phones-per-worker 1 gives each phone its own worker process, which runs its jobs in turn; 0 is refused', async () => {
    const file = devices(
      'two-isolated.json',
      labA.phones.map((p) => ({ serial: p.serial, adbPort: labA.adb.port })),
    );
    // pass.yaml, and the diagnostic-data switch asserted on and off: one of the two fails on each
    // phone at once (a toggle check waits for no upload), so the run is exit 1 without fail.yaml's wait.
    const toggles = [true, false].map((on) => {
      const f = join(tmp, `toggle-${on}.yaml`);
      writeFileSync(
        f,
        `name: diagnostic data ${on ? 'on' : 'off'}\n---\n- assertToggle:\n    name: miui.diagnosticData\n    on: ${on}\n`,
      );
      return f;
    });
    const r = await cli([
      'run',
      fx('pass.yaml'),
      ...toggles,
      '--devices',
      file,
      '--json',
      '--phones-per-worker',
      '1',
    ]);
    assert.equal(r.code, 1, show(r));
    const runDir = join(tmp, 'reports', parseJson<RunSummary>(r).run);
    assert.deepEqual(workerLogs(runDir), ['worker-1.log', 'worker-2.log'], show(r));
    const results = resultsOf(runDir);
    for (const p of labA.phones) {
      const mine = results.filter((x) => x.phone === p.serial);
      assert.equal(mine.length, 3, show(r));
      assert.ok(
        mine.every((x) => x.attempts === 1),
        show(r),
      );
      assert.deepEqual(
        mine.map((x) => x.status).sort(),
        ['failed', 'passed', 'passed'],
        `${p.serial}: pass.yaml and one toggle pass, the other fails\n${show(r)}`,
      );
    }
    // Each phone's log names its process: two phones, two processes, each serving all its phone's jobs.
    const procs = labA.phones.map((p) => {
      const log = readFileSync(join(runDir, 'logs', `${slug(p.serial)}.log`), 'utf8');
      return [...log.matchAll(/in worker process (\d+) /g)].map((m) => m[1]);
    });
    assert.deepEqual(
      procs.map((x) => x.length),
      [1, 1],
      'one process per phone for all its jobs',
    );
    assert.notEqual(procs[0]![0], procs[1]![0], 'a process of its own');
    for (const i of [0, 1]) assert.equal(await proxyOf(phoneA(i)), 'null', 'phones restored');
    const bad = await cli(['run', fx('pass.yaml'), '--devices', file, '--phones-per-worker', '0']);
    assert.match(
      assertCleanFailure(bad, 2).message,
      /--phones-per-worker must be a whole number ≥ 1 \(got '0'\)/,
    );
  });

  it('exit 0 when all pass; --device filters; the progress is plain lines in CI', async () => {
    const file = devices(
      'two.json',
      labA.phones.map((p) => ({ serial: p.serial, adbPort: labA.adb.port })),
    );
    const serial = labA.phones[1]!.serial;
    const r = await cli(['run', fx('pass.yaml'), '--devices', file, '--device', serial]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`PASS runner passes on ${serial.replace(/\./g, '\\.')}`));
    assert.doesNotMatch(r.stdout, /\x1b\[/, 'no redraw in CI');
    assert.match(r.stdout, /phonehome: report: /);
  });

  it('--ca-method reaches the wiring (the job evidence says which), and a bad one exits 2 before any phone', async () => {
    const lp = labA.phones[0]!; // rooted Android 10: auto would be system-tmpfs
    const file = devices('ca.json', [{ serial: lp.serial, adbPort: labA.adb.port }]);
    const r = await cli(['run', fx('pass.yaml'), '--devices', file, '--ca-method', 'none', '--json']);
    assert.equal(r.code, 0, show(r));
    const runDir = join(tmp, 'reports', parseJson<RunSummary>(r).run);
    const [job] = resultsOf(runDir);
    const wiring = JSON.parse(readFileSync(join(runDir, job!.evidenceDir, 'wiring.json'), 'utf8')) as {
      caMethod: string;
      caVerified: unknown[];
    };
    assert.equal(wiring.caMethod, 'none');
    assert.deepEqual(wiring.caVerified, []);
    const bad = assertCleanFailure(
      await cli(['run', fx('pass.yaml'), '--devices', file, '--ca-method', 'magic']),
      2,
    );
    assert.match(bad.message, /--ca-method must be one of auto, /);
    assert.equal(await proxyOf(phoneA(0)), 'null', 'restored');
  });

  it('a bad scenario exits 2 with file:line:col and no stack', async () => {
    const r = await cli(['run', fx('bad/typo.yaml')]);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /typo\.yaml:4:3/);
    assert.doesNotMatch(`${r.stdout}${r.stderr}`, /^\s{4}at /m);
  });

  it('a bad devices file exits 2 with file:line:col', async () => {
    const path = join(tmp, 'broken.json');
    writeFileSync(path, '{"phones": {}}\n');
    const r = assertCleanFailure(await cli(['run', fx('pass.yaml'), '--devices', path]), 2);
    assert.match(r.message, /broken\.json:\d+:\d+/);
  });

  it('a phone leased by another live run: exit 3 naming the holder pid', async () => {
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    const serial = labA.phones[0]!.serial;
    const leases = join(tmp, 'home', 'leases');
    mkdirSync(leases, { recursive: true });
    const lease = join(leases, `${serial.replace(/[^A-Za-z0-9._-]+/g, '_')}.json`);
    writeFileSync(lease, JSON.stringify({ serial, pid: holder.pid, since: new Date().toISOString() }));
    try {
      const file = devices(
        'two.json',
        labA.phones.map((p) => ({ serial: p.serial, adbPort: labA.adb.port })),
      );
      const r = assertCleanFailure(await cli(['run', fx('pass.yaml'), '--devices', file]), 3);
      assert.match(r.message, new RegExp(`leased by another run \\(pid ${holder.pid}`));
    } finally {
      holder.kill('SIGKILL');
      rmSync(lease, { force: true });
    }
  });

  it('drives phones on two adb servers (different ports) in one run', async () => {
    const file = devices('multi.json', [
      { serial: labA.phones[0]!.serial, adbPort: labA.adb.port },
      { serial: labB.phones[0]!.serial, adbPort: labB.adb.port },
    ]);
    const r = await cli(['run', fx('pass.yaml'), '--devices', file, '--json']);
    assert.equal(r.code, 0, show(r));
    const summary = parseJson<RunSummary>(r);
    assert.deepEqual(
      summary.results.map((x) => `${x.phone}:${x.status}`).sort(),
      [`${labA.phones[0]!.serial}:passed`, `${labB.phones[0]!.serial}:passed`].sort(),
    );
    assert.equal(await proxyOf(new AdbPhone(labB.adb.port, labB.phones[0]!.serial)), 'null');
  });

  it('SIGINT mid-run restores every phone and exits within 5 s', async () => {
    const file = devices(
      'two.json',
      labA.phones.map((p) => ({ serial: p.serial, adbPort: labA.adb.port })),
    );
    const run = spawnCli(['run', fx('long.yaml'), '--devices', file], { env, cwd: tmp });
    try {
      await waitFor(
        'both phones wired',
        async () => {
          const ps = await Promise.all([0, 1].map((i) => proxyOf(phoneA(i))));
          return ps.every((p) => /^127\.0\.0\.1:\d+$/.test(p)) ? true : undefined;
        },
        { timeoutMs: 30_000 },
      );
      const sent = Date.now();
      run.child.kill('SIGINT');
      // Fails only well past the 5 s bound (no timing assertion tighter than that).
      const r = await Promise.race([
        run.done,
        new Promise<never>((_, rej) =>
          setTimeout(() => rej(new Error('not exited 10 s after SIGINT')), 10_000),
        ),
      ]);
      const took = Date.now() - sent;
      assert.equal(r.code, 130, show(r));
      assert.ok(took < 10_000, `exited after ${took} ms`);
      for (const i of [0, 1])
        assert.equal(await proxyOf(phoneA(i)), 'null', `phone ${i} restored\n${show(r)}`);
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('a worker process killed mid-job: each phone it served is broken for that job, restored, and retried in a new process', async () => {
    const file = devices(
      'two-kill.json',
      labA.phones.map((p) => ({ serial: p.serial, adbPort: labA.adb.port })),
    );
    const out = join(tmp, 'reports-kill');
    const run = spawnCli(
      ['run', fx('slow.yaml'), '--devices', file, '--json', '--retries', '1', '--out', out],
      { env, cwd: tmp },
    );
    const logOf = (runDir: string, serial: string) =>
      readFileSync(join(runDir, 'logs', `${serial.replace(/[^A-Za-z0-9._-]+/g, '_')}.log`), 'utf8');
    try {
      // Both jobs running (each job's capture session has written its HAR), not only the phones
      // wired: the kill lands mid-job (slow.yaml waits 4 s first).
      let runDir = '';
      await waitFor(
        'both jobs running',
        async () => {
          const found = existsSync(out) ? readdirSync(out).find((d) => d !== 'latest') : undefined;
          if (!found) return undefined;
          runDir = join(out, found);
          const har = (serial: string) =>
            join(runDir, 'evidence', slug('runner slow'), slug(serial), 'capture.har');
          return labA.phones.every((p) => existsSync(har(p.serial))) ? true : undefined;
        },
        { timeoutMs: 30_000 },
      );
      const pids = labA.phones.map(
        (p) => /in worker process 1 \(pid (\d+)/.exec(logOf(runDir, p.serial))?.[1],
      );
      assert.ok(pids[0] && pids[0] === pids[1], `both phones in worker process 1: ${pids.join(', ')}`);
      process.kill(Number(pids[0]), 'SIGKILL');
      const r = await run.done;
      assert.equal(r.code, 0, show(r));
      // The first attempt of each phone's job: broken, the worker gone; the retry ran in a new process.
      assert.equal(
        (r.stderr.match(/\(will retry\).*runner slow.*the worker exited \(signal SIGKILL/g) ?? []).length,
        2,
        show(r),
      );
      const results = resultsOf(runDir);
      assert.deepEqual(
        results.map((x) => `${x.status}:${x.attempts}`),
        ['passed:2', 'passed:2'],
      );
      assert.ok(existsSync(join(runDir, 'logs', 'worker-2.log')), 'a new worker process');
      for (const p of labA.phones) {
        // What the killed process left wired was undone by the next one, from the journal.
        assert.match(
          logOf(runDir, p.serial),
          new RegExp(`restored what process ${pids[0]} left wired \\(ok\\)`),
        );
      }
      for (const i of [0, 1]) assert.equal(await proxyOf(phoneA(i)), 'null', `phone ${i} restored`);
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('a phone dropped mid-scenario gives broken (exit 3), and its proxy is restored when it comes back', async () => {
    const lp = labA.phones[0]!;
    const file = devices('one.json', [{ serial: lp.serial, adbPort: labA.adb.port }]);
    const run = spawnCli(['run', fx('slow.yaml'), '--devices', file, '--json'], { env, cwd: tmp });
    try {
      await waitFor(
        'phone wired',
        async () => (/^127\.0\.0\.1:\d+$/.test(await proxyOf(phoneA(0))) ? true : undefined),
        { timeoutMs: 30_000 },
      );
      lp.adbd.fault('offline');
      setTimeout(() => lp.adbd.clearFaults(), 6000);
      const r = await run.done;
      assert.equal(r.code, 3, show(r));
      const summary = parseJson<RunSummary>(r);
      assert.deepEqual(
        summary.results.map((x) => x.status),
        ['broken'],
      );
      await labA.lab.waitForState(lp.serial, 'device', 15_000);
      assert.equal(await proxyOf(phoneA(0)), 'null', `restored once back\n${show(r)}`);
    } finally {
      lp.adbd.clearFaults();
      run.child.kill('SIGKILL');
    }
  });
});
