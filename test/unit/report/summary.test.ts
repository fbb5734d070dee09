import assert from 'node:assert/strict';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  listRuns,
  loadRun,
  newRunId,
  pointLatest,
  resolveLatest,
  resolveRun,
  RUN_ID_RE,
  writeRunFiles,
} from '../../../src/report/summary.ts';
import { job, makeRun, tempDir } from './fixtures.ts';

describe('report/summary', () => {
  let reports: string;
  beforeEach(() => {
    reports = join(tempDir(), 'reports');
    mkdirSync(reports);
  });
  afterEach(() => rmSync(join(reports, '..'), { recursive: true, force: true }));

  it('newRunId is sortable by time and unique', () => {
    const t = Date.UTC(2026, 2, 15, 14, 22, 33, 417);
    const a = newRunId(new Date(t));
    assert.match(a, RUN_ID_RE);
    assert.ok(a.startsWith('20260315-142233-417-'), a);
    const ids = [t + 1, t + 999, t + 60_000, t + 86_400_000, Date.UTC(2027, 0, 1)].map((x) =>
      newRunId(new Date(x)),
    );
    assert.deepEqual([...ids].sort(), ids);
    assert.ok(a < ids[0]!);
    // Runs started in the same millisecond differ by 24 random bits: 20 ids collide about once in
    // 90,000 test runs (200 did once in 800, so that test failed by chance).
    const same = new Set(Array.from({ length: 20 }, () => newRunId(new Date(t))));
    assert.equal(same.size, 20);
  });

  it('summary.json is exactly {run, results: [{scenario, phone, profile, status}]}', () => {
    const dir = join(reports, 'run-a');
    const results = [job(), job({ phone: 'emulator-5556', status: 'failed', message: 'leak' })];
    writeRunFiles(dir, 'run-a', results);
    const text = readFileSync(join(dir, 'summary.json'), 'utf8');
    const s = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(s), ['run', 'results']);
    assert.deepEqual(s, {
      run: 'run-a',
      results: [
        {
          scenario: 'incognito-search-duckduckgo',
          phone: 'emulator-5554',
          profile: 'leaky-miui12',
          status: 'passed',
        },
        {
          scenario: 'incognito-search-duckduckgo',
          phone: 'emulator-5556',
          profile: 'leaky-miui12',
          status: 'failed',
        },
      ],
    });
    for (const r of s.results as object[])
      assert.deepEqual(Object.keys(r), ['scenario', 'phone', 'profile', 'status']);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')), results);
  });

  it('points reports/latest at the run with a relative symlink, replaced on the next run', () => {
    const a = join(reports, 'run-a');
    const b = join(reports, 'run-b');
    assert.equal(writeRunFiles(a, 'run-a', [job()]), 'symlink');
    assert.equal(readlinkSync(join(reports, 'latest')), 'run-a');
    assert.equal(resolveRun('latest', reports), join(reports, 'run-a'));
    assert.equal(writeRunFiles(b, 'run-b', [job()]), 'symlink');
    assert.ok(lstatSync(join(reports, 'latest')).isSymbolicLink());
    assert.equal(readlinkSync(join(reports, 'latest')), 'run-b');
    assert.equal(resolveLatest(reports), join(reports, 'run-b'));
    // no temporary links left behind
    assert.deepEqual(readdirSync(reports).sort(), ['latest', 'run-a', 'run-b']);
    assert.deepEqual(listRuns(reports), ['run-b', 'run-a']);
  });

  it('falls back to latest.json where symlinks fail, and removes it once a link works again', () => {
    const a = makeRun(reports, 'run-a', [job()]);
    const fail = () => {
      throw Object.assign(new Error('EPERM: operation not permitted, symlink'), { code: 'EPERM' });
    };
    assert.equal(pointLatest(reports, a, { symlink: fail }), 'file');
    assert.deepEqual(JSON.parse(readFileSync(join(reports, 'latest.json'), 'utf8')), {
      run: 'run-a',
      path: 'run-a',
    });
    assert.equal(resolveRun('latest', reports), join(reports, 'run-a'));
    const b = makeRun(reports, 'run-b', [job()]);
    assert.equal(pointLatest(reports, b), 'symlink');
    assert.throws(() => readFileSync(join(reports, 'latest.json')));
    assert.equal(resolveRun('latest', reports), join(reports, 'run-b'));
  });

  it('resolves a run folder path, a run id, or latest; anything else is exit 2 with the fix', () => {
    const a = makeRun(reports, '20260101-000000-000-aaaaaa', [job()]);
    assert.equal(resolveRun(a, reports), a);
    assert.equal(resolveRun('20260101-000000-000-aaaaaa', reports), a);
    assert.throws(
      () => resolveRun('latest', reports),
      (e: Error & { exitCode?: number; hint?: string }) =>
        e.exitCode === 2 &&
        /no latest run/.test(e.message) &&
        /20260101-000000-000-aaaaaa/.test(e.hint ?? ''),
    );
    assert.throws(
      () => resolveRun('nope', reports),
      (e: Error & { exitCode?: number; hint?: string }) =>
        e.exitCode === 2 && /no run "nope"/.test(e.message) && /run folder/.test(e.hint ?? ''),
    );
    const notRun = join(reports, 'not-a-run');
    mkdirSync(notRun);
    assert.throws(() => resolveRun(notRun, reports), /not a run folder/);
  });

  it('loads results.json, or summary.json alone, and rejects broken ones with exit 2', () => {
    const a = makeRun(reports, 'run-a', [job({ hosts: ['x.com'] })]);
    const loaded = loadRun(a);
    assert.equal(loaded.id, 'run-a');
    assert.equal(loaded.summaryOnly, false);
    assert.deepEqual(loaded.results[0]!.hosts, ['x.com']);
    rmSync(join(a, 'results.json'));
    const s = loadRun(a);
    assert.equal(s.summaryOnly, true);
    assert.equal(s.results[0]!.status, 'passed');
    assert.deepEqual(s.results[0]!.hosts, []);
    writeFileSync(join(a, 'results.json'), '{"not": "a list"}');
    assert.throws(
      () => loadRun(a),
      (e: Error & { exitCode?: number }) => e.exitCode === 2 && /results\.json/.test(e.message),
    );
    writeFileSync(join(a, 'results.json'), '[{');
    assert.throws(() => loadRun(a), /not JSON/);
  });
});
