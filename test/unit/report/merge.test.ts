/**
 * `phonehome merge` (src/report/merge.ts) on hand-built run folders: the shards' results, summary,
 * JUnit, allure-results and evidence combined; phones with the same serial on two hosts kept apart
 * (evidence and Allure parameters follow); duplicated and missing jobs reported, missing ones broken
 * (never a false passed); different shard counts; inputs that are not run folders. And the one-run
 * `phonehome diff`'s choice of the previous run.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mergeRuns, NOT_RUN_PHONE, qualifyPhones, type MergeReport } from '../../../src/report/merge.ts';
import { readRunMeta, writeRunMeta, type RunMetaJob } from '../../../src/report/run-meta.ts';
import { choosePreviousRun } from '../../../src/report/diff.ts';
import { loadRun } from '../../../src/report/summary.ts';
import type { JobResult } from '../../../src/report/run-folder.ts';
import { job, makeRun, tempDir } from './fixtures.ts';

const LEAKY = 'Redmi Note 8|MIUI 12|10|V12|leaky';
const HYPER = 'Xiaomi 13|HyperOS 1|14|OS1|hyperos';
const profileOf = (k: string) => k.split('|').at(-1)!;

interface Shard {
  id: string;
  host: string;
  shard?: { index: number; count: number };
  universe: RunMetaJob[];
  results: JobResult[];
}

/** A run folder as `phonehome run --shard` leaves it: results, summary, run.json, allure-results, evidence. */
function makeShard(reports: string, s: Shard): string {
  const dir = makeRun(reports, s.id, s.results);
  writeRunMeta(dir, {
    run: s.id,
    host: s.host,
    started: '2026-03-01T10:00:00.000Z',
    finished: '2026-03-01T10:05:00.000Z',
    phonehome: '0.1.0',
    ...(s.shard ? { shard: s.shard } : {}),
    jobs: s.universe,
  });
  const ar = join(dir, 'allure-results');
  mkdirSync(ar, { recursive: true });
  for (const f of ['environment.properties', 'categories.json', 'executor.json'])
    writeFileSync(join(ar, f), `from ${s.id}`);
  s.results.forEach((r, i) => {
    const uuid = `${s.id}-${i}`;
    writeFileSync(
      join(ar, `${uuid}-result.json`),
      JSON.stringify({
        uuid,
        name: r.scenario,
        testCaseId: `tc-${r.scenario}`,
        status: r.status,
        parameters: [
          { name: 'profile', value: r.profile, excluded: false },
          { name: 'phone', value: r.phone, excluded: true },
        ],
        attachments: [{ name: 'capture.har', source: `${uuid}-attachment.json`, type: 'application/json' }],
      }),
    );
    writeFileSync(join(ar, `${uuid}-attachment.json`), `{"har":"${s.id}"}`);
    if (r.evidenceDir) {
      mkdirSync(join(dir, r.evidenceDir), { recursive: true });
      writeFileSync(join(dir, r.evidenceDir, 'findings.json'), `{"run":"${s.id}","host":"${s.host}"}`);
    }
  });
  return dir;
}

const result = (scenario: string, phone: string, key: string, status: JobResult['status'], host: string) =>
  job({
    scenario,
    file: `scenarios/${scenario}.yaml`,
    phone,
    profile: profileOf(key),
    status,
    fingerprintKey: key,
    host,
    fingerprint: { model: key.split('|')[0]!, os: key.split('|')[1]!, build: key.split('|')[3]! },
    evidenceDir: `evidence/${scenario}/${phone.replace(/[^A-Za-z0-9._-]+/g, '_')}`,
  });
const uni = (scenario: string, key: string, shard: number): RunMetaJob => ({
  scenario,
  fingerprintKey: key,
  profile: profileOf(key),
  shard,
});

describe('report: phonehome merge', () => {
  let tmp: string;
  let reports: string;
  let out: string;
  const merge = (inputs: string[], over: { now?: () => Date } = {}) =>
    mergeRuns({ inputs, out, html: false, log: () => undefined, warn: () => undefined, ...over });

  beforeEach(() => {
    tmp = tempDir('phonehome-merge-');
    reports = join(tmp, 'hosts');
    out = join(tmp, 'reports');
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  // The suite: scenarios a, b, c on two fingerprints, split 2 ways (shards given in the universe).
  const universe = [
    uni('a', LEAKY, 1),
    uni('b', LEAKY, 2),
    uni('c', LEAKY, 1),
    uni('a', HYPER, 2),
    uni('b', HYPER, 1),
    uni('c', HYPER, 2),
  ];
  const SERIAL = '127.0.0.1:41001'; // the same virtual-phone serial on both lab hosts
  const hostA = (): Shard => ({
    id: '20260301-100000-000-aaaaaa',
    host: 'lab-a',
    shard: { index: 1, count: 2 },
    universe,
    results: [
      result('a', SERIAL, LEAKY, 'passed', 'lab-a'),
      result('c', SERIAL, LEAKY, 'failed', 'lab-a'),
      result('b', '127.0.0.1:41002', HYPER, 'passed', 'lab-a'),
    ],
  });
  const hostB = (): Shard => ({
    id: '20260301-100001-000-bbbbbb',
    host: 'lab-b',
    shard: { index: 2, count: 2 },
    universe,
    results: [
      result('b', SERIAL, LEAKY, 'passed', 'lab-b'),
      result('a', '127.0.0.1:41002', HYPER, 'passed', 'lab-b'),
      result('c', '127.0.0.1:41002', HYPER, 'passed', 'lab-b'),
    ],
  });

  it('combines two shards: every job once, phones of two hosts kept apart, evidence and Allure files follow', async () => {
    const a = makeShard(reports, hostA());
    const b = makeShard(reports, hostB());
    const r = await merge([a, b]);
    assert.deepEqual(r.missing, []);
    assert.deepEqual(r.duplicates, []);
    assert.deepEqual(r.shardCounts, []);
    assert.equal(r.exitCode, 1, 'c failed on leaky');
    const dir = join(out, r.run);
    assert.equal(r.dir, dir);
    // summary.json: the contract's four keys, both hosts' results; the shared serial is host-qualified.
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as MergeReport['summary'];
    assert.equal(summary.run, r.run);
    assert.deepEqual(
      summary.results.map((x) => `${x.scenario}|${x.phone}|${x.profile}|${x.status}`),
      [
        `a|lab-a/${SERIAL}|leaky|passed`,
        `c|lab-a/${SERIAL}|leaky|failed`,
        `b|lab-a/127.0.0.1:41002|hyperos|passed`,
        `b|lab-b/${SERIAL}|leaky|passed`,
        `a|lab-b/127.0.0.1:41002|hyperos|passed`,
        `c|lab-b/127.0.0.1:41002|hyperos|passed`,
      ],
    );
    // results.json: evidence folders exist, hold their own host's files, and did not collide.
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as JobResult[];
    const evidence = new Set<string>();
    for (const x of results) {
      assert.ok(!evidence.has(x.evidenceDir), `one folder per job: ${x.evidenceDir}`);
      evidence.add(x.evidenceDir);
      const f = JSON.parse(readFileSync(join(dir, x.evidenceDir, 'findings.json'), 'utf8')) as {
        host: string;
      };
      assert.equal(f.host, x.host, x.evidenceDir);
      assert.ok(x.phone.startsWith(`${x.host}/`));
    }
    assert.equal(
      results.find((x) => x.scenario === 'a' && x.profile === 'leaky')?.evidenceDir,
      'evidence/a/lab-a_127.0.0.1_41001',
    );
    // allure-results: every result and attachment file, the phone parameter qualified; the
    // regenerated files are the merge's own, not a copy of either input's.
    const files = readdirSync(join(dir, 'allure-results'));
    assert.equal(files.filter((f) => f.endsWith('-result.json')).length, 6);
    assert.equal(files.filter((f) => f.endsWith('-attachment.json')).length, 6);
    const res = JSON.parse(
      readFileSync(join(dir, 'allure-results', '20260301-100001-000-bbbbbb-0-result.json'), 'utf8'),
    ) as {
      parameters: Array<{ name: string; value: string }>;
    };
    assert.deepEqual(res.parameters, [
      { name: 'profile', value: 'leaky', excluded: false },
      { name: 'phone', value: `lab-b/${SERIAL}`, excluded: true },
    ]);
    for (const f of ['environment.properties', 'categories.json'])
      assert.doesNotMatch(readFileSync(join(dir, 'allure-results', f), 'utf8'), /^from /, f);
    assert.match(readFileSync(join(dir, 'allure-results', 'environment.properties'), 'utf8'), /merged\.from/);
    // junit.xml: regenerated, one suite per (qualified) phone, the failure in it.
    const junit = readFileSync(join(dir, 'junit.xml'), 'utf8');
    assert.match(junit, /<testsuites name="phonehome [^"]+" tests="6" failures="1" errors="0" skipped="0"/);
    assert.match(junit, new RegExp(`device="lab-a/${SERIAL.replace(/\./g, '\\.')}"`));
    assert.match(junit, /device="lab-b\/127\.0\.0\.1:41002"/);
    // run.json: the universe and where it came from; latest points at the merged run.
    const meta = readRunMeta(dir)!;
    assert.equal(meta.jobs.length, 6);
    assert.deepEqual(
      meta.merged?.from.map((f) => `${f.run}@${f.host} ${f.shard?.index}/${f.shard?.count}`),
      ['20260301-100000-000-aaaaaa@lab-a 1/2', '20260301-100001-000-bbbbbb@lab-b 2/2'],
    );
    assert.equal(loadRun(join(out, 'latest')).id, r.run);
    assert.deepEqual(r.renamedPhones.map((p) => p.as).sort(), [
      'lab-a/127.0.0.1:41001',
      'lab-a/127.0.0.1:41002',
      'lab-b/127.0.0.1:41001',
      'lab-b/127.0.0.1:41002',
    ]);
  });

  it('a shard not given: its jobs are broken results naming the shard, and the merge never says passed', async () => {
    const allPass = hostA();
    allPass.results = allPass.results.map((x) => ({ ...x, status: 'passed' }));
    const a = makeShard(reports, allPass);
    const r = await merge([a]);
    assert.equal(r.exitCode, 3, 'missing jobs are broken');
    assert.deepEqual(r.missing.map((m) => `${m.scenario}|${m.profile}|${m.shard}/${m.count}`).sort(), [
      'a|hyperos|2/2',
      'b|leaky|2/2',
      'c|hyperos|2/2',
    ]);
    for (const m of r.missing) assert.equal(m.why, 'shard 2/2 was not merged');
    // The shard itself is missing too: its host may have had fingerprints no run.json lists.
    assert.deepEqual(r.missingShards, [{ index: 2, count: 2 }]);
    const results = JSON.parse(readFileSync(join(out, r.run, 'results.json'), 'utf8')) as JobResult[];
    const placeholder = results.filter((x) => x.scenario === '(shard 2/2 not merged)');
    assert.equal(placeholder.length, 1);
    assert.equal(placeholder[0]!.status, 'broken');
    assert.match(placeholder[0]!.message!, /phonehome run --shard 2\/2/);
    const broken = results.filter((x) => x.status === 'broken' && x !== placeholder[0]);
    assert.equal(broken.length, 3);
    for (const x of broken) {
      assert.equal(x.phone, NOT_RUN_PHONE);
      assert.match(x.message!, /^not run: shard 2\/2 was not merged .*run it and merge again$/);
    }
    // The report shows them: one Allure result each, broken.
    const allure = readdirSync(join(out, r.run, 'allure-results'))
      .filter((f) => f.endsWith('-result.json'))
      .map(
        (f) =>
          JSON.parse(readFileSync(join(out, r.run, 'allure-results', f), 'utf8')) as {
            status: string;
            name: string;
          },
      );
    assert.equal(allure.filter((x) => x.status === 'broken').length, 4);
    assert.deepEqual(readRunMeta(join(out, r.run))!.merged?.missing?.length, 3);
    assert.deepEqual(readRunMeta(join(out, r.run))!.merged?.missingShards, [{ index: 2, count: 2 }]);
  });

  it('a shard not given whose jobs no run.json lists: still a broken result, never exit 0', async () => {
    // lab-a knew only its own slice (its phones' jobs all in shard 1): nothing names shard 2's jobs.
    const a = hostA();
    a.universe = universe.filter((j) => j.shard === 1);
    a.results = a.results.map((x) => ({ ...x, status: 'passed' }));
    const r = await merge([makeShard(reports, a)]);
    assert.deepEqual(r.missing, []);
    assert.deepEqual(r.missingShards, [{ index: 2, count: 2 }]);
    assert.equal(r.exitCode, 3);
  });

  it('a merged run as an input is refused (exit 2), naming the runs it was made from', async () => {
    const r = await merge([makeShard(reports, hostA()), makeShard(reports, hostB())]);
    await assert.rejects(merge([join(out, r.run)]), (e: Error & { exitCode?: number }) => {
      assert.equal(e.exitCode, 2);
      assert.match(e.message, /a merged run \(of 20260301-100000-000-aaaaaa, 20260301-100001-000-bbbbbb\)/);
      return true;
    });
  });

  it('a duplicated job retried in the later run: every attempt gets the same new slot (a retry, not a test)', async () => {
    const a = makeShard(reports, hostA());
    const again = hostA();
    again.id = '20260301-110000-000-cccccc';
    again.host = 'lab-c';
    // Two attempts of job a on leaky in the later run: failed, then passed.
    again.results = [
      { ...again.results[0]!, status: 'failed', attempts: 1 },
      { ...again.results[0]!, status: 'passed', attempts: 2 },
    ];
    const c = makeShard(reports, again);
    const r = await merge([a, c]);
    const slot = (file: string) =>
      (
        JSON.parse(readFileSync(join(out, r.run, 'allure-results', file), 'utf8')) as {
          parameters: Array<{ name: string; value: string }>;
        }
      ).parameters.find((p) => p.name === 'same-profile phone')?.value;
    assert.equal(slot('20260301-110000-000-cccccc-0-result.json'), '2');
    assert.equal(slot('20260301-110000-000-cccccc-1-result.json'), '2');
  });

  it('a host with no phone of a fingerprint: its shard’s jobs on that fingerprint are missing, and why', async () => {
    const b = hostB();
    b.universe = universe.filter((j) => j.fingerprintKey === HYPER); // lab-b has only the HyperOS phone
    b.results = b.results.filter((x) => x.fingerprintKey === HYPER);
    const r = await merge([makeShard(reports, hostA()), makeShard(reports, b)]);
    assert.deepEqual(
      r.missing.map((m) => `${m.scenario}|${m.profile}: ${m.why}`),
      ['b|leaky: shard 2/2 (run 20260301-100001-000-bbbbbb on lab-b) had no phone with this fingerprint'],
    );
    assert.equal(r.exitCode, 3);
  });

  it('duplicates (the same shard run on two hosts) are kept and reported; different shard counts are reported', async () => {
    const a = makeShard(reports, hostA());
    const again = hostA();
    again.id = '20260301-110000-000-cccccc';
    again.host = 'lab-c';
    const c = makeShard(reports, again);
    const b = makeShard(reports, hostB());
    const r = await merge([a, b, c]);
    assert.deepEqual(r.duplicates.map((d) => `${d.scenario}|${d.profile}|${d.runs.join(',')}`).sort(), [
      'a|leaky|20260301-100000-000-aaaaaa,20260301-110000-000-cccccc',
      'b|hyperos|20260301-100000-000-aaaaaa,20260301-110000-000-cccccc',
      'c|leaky|20260301-100000-000-aaaaaa,20260301-110000-000-cccccc',
    ]);
    assert.equal(r.summary.results.length, 9, 'both results kept');
    // In the report too: the later copy gets its own Allure key (else it would show as a retry).
    const param = (file: string) =>
      (
        JSON.parse(readFileSync(join(out, r.run, 'allure-results', file), 'utf8')) as {
          parameters: Array<{ name: string; value: string }>;
        }
      ).parameters.find((p) => p.name === 'same-profile phone')?.value;
    assert.equal(param('20260301-100000-000-aaaaaa-0-result.json'), undefined);
    assert.equal(param('20260301-110000-000-cccccc-0-result.json'), '2');
    assert.equal(param('20260301-100001-000-bbbbbb-0-result.json'), undefined, 'b on leaky is no duplicate');
    assert.deepEqual(r.shardCounts, []);

    const other = hostB();
    other.id = '20260301-120000-000-dddddd';
    other.shard = { index: 2, count: 3 };
    const r2 = await merge([a, makeShard(reports, other)]);
    assert.deepEqual(r2.shardCounts, [
      { run: '20260301-100000-000-aaaaaa', count: 2 },
      { run: '20260301-120000-000-dddddd', count: 3 },
    ]);
    assert.deepEqual(readRunMeta(join(out, r2.run))!.merged?.shardCounts?.length, 2);
  });

  it('same host name twice: the phones are qualified with the run id', () => {
    const m = qualifyPhones([
      { run: 'r1', host: 'ci', phones: ['x', 'y'] },
      { run: 'r2', host: 'ci', phones: ['x'] },
      { run: 'r3', host: 'other', phones: ['x', 'z'] },
    ]);
    assert.deepEqual([...m[0]!], [['x', 'r1/x']]);
    assert.deepEqual([...m[1]!], [['x', 'r2/x']]);
    assert.deepEqual([...m[2]!], [['x', 'other/x']]);
  });

  it('inputs that are not run folders: exit 2, every one named, nothing written', async () => {
    const a = makeShard(reports, hostA());
    mkdirSync(join(tmp, 'empty'));
    mkdirSync(join(tmp, 'broken-run'));
    writeFileSync(join(tmp, 'broken-run', 'results.json'), '{not json');
    await assert.rejects(
      merge([a, join(tmp, 'empty'), join(tmp, 'nope'), join(tmp, 'broken-run'), a]),
      (e: Error & { exitCode?: number }) => {
        assert.equal(e.exitCode, 2);
        assert.match(e.message, /empty is not a run folder/);
        assert.match(e.message, /no run ".*nope"/);
        assert.match(e.message, /broken-run: results\.json is not JSON/);
        assert.match(e.message, /given twice/);
        return true;
      },
    );
    assert.ok(!existsSync(out), 'no merged run');
  });

  it('merged runs load like any run (diff, report)', async () => {
    const r = await merge([makeShard(reports, hostA()), makeShard(reports, hostB())]);
    const loaded = loadRun(join(out, r.run));
    assert.equal(loaded.results.length, 6);
    assert.equal(loaded.summaryOnly, false);
  });
});

describe('report: phonehome diff RUN (the previous run of the same firmware)', () => {
  const run = (id: string, lines: Array<[profile: string, os: string, build: string]>) => ({
    id,
    dir: `/r/${id}`,
    summaryOnly: false,
    results: lines.map(([profile, os, build], i) =>
      job({ phone: `p${i}`, profile, fingerprint: { model: 'm', os, build } }),
    ),
  });
  const cands = (...runs: ReturnType<typeof run>[]) => runs.map((r) => ({ id: r.id, load: () => r }));
  const now = run('20260310-000000-000-000000', [
    ['leaky', 'MIUI 12', 'V12.1'],
    ['hyperos', 'HyperOS 1', 'OS1.2'],
  ]);

  it('the earlier run sharing the most device lines, the newest on a tie; never a later run', () => {
    const old1 = run('20260301-000000-000-000000', [
      ['leaky', 'MIUI 12', 'V12.1'],
      ['hyperos', 'HyperOS 1', 'OS1.2'],
    ]);
    const old2 = run('20260305-000000-000-000000', [['leaky', 'MIUI 12', 'V12.1']]);
    const old3 = run('20260306-000000-000-000000', [
      ['leaky', 'MIUI 12', 'V12.1'],
      ['hyperos', 'HyperOS 1', 'OS1.2'],
    ]);
    const later = run('20260311-000000-000-000000', [
      ['leaky', 'MIUI 12', 'V12.1'],
      ['hyperos', 'HyperOS 1', 'OS1.2'],
    ]);
    const c = choosePreviousRun(now, cands(old1, old2, old3, later));
    assert.equal(c.run?.id, old3.id);
    assert.match(c.why, /2 of 2 device line\(s\)/);
    assert.match(c.why, /hyperos · HyperOS 1 · OS1\.2; leaky · MIUI 12 · V12\.1/);
    assert.equal(choosePreviousRun(now, cands(old1, old2)).run?.id, old1.id, 'more shared lines beat newer');
  });

  it('after a firmware update (no same line): the newest run with the same profiles, and says so', () => {
    const before = run('20260301-000000-000-000000', [
      ['leaky', 'MIUI 12', 'V12.0'],
      ['hyperos', 'HyperOS 1', 'OS1.1'],
    ]);
    const unrelated = run('20260302-000000-000-000000', [['fixed', 'MIUI 14', 'V14']]);
    const c = choosePreviousRun(now, cands(before, unrelated));
    assert.equal(c.run?.id, before.id);
    assert.match(c.why, /no earlier run has the same firmware/);
  });

  it('none: no earlier run has any of these phones', () => {
    const c = choosePreviousRun(now, cands(run('20260302-000000-000-000000', [['fixed', 'MIUI 14', 'V14']])));
    assert.equal(c.run, undefined);
    assert.match(c.why, /no earlier run has any of this run's phones .* among 1 earlier run/);
    assert.equal(choosePreviousRun(now, []).run, undefined);
  });
});
