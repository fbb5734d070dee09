/**
 * finishReport and the lab history (report/finish.ts, report/history.ts) with a stand-in for
 * allure-commandline that keeps a history as Allure 2 does (this report's trend entry first, then the
 * previous ones from results/history) and embeds it in the single file the way allure 2.46 does
 * (`d('history/<file>','<base64>')`). The real allure-commandline is exercised by
 * test/integration/report-history.test.ts.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { embeddedHistory, finishReport } from '../../../src/report/finish.ts';
import {
  HISTORY_FILES,
  historyFromSingleFile,
  lastBuildOrder,
  moveStaleLock,
  withHistoryLock,
} from '../../../src/report/history.ts';
import { job, tempDir } from './fixtures.ts';

const FAKE_ALLURE = `#!/usr/bin/env node
const fs = require('fs'), path = require('path');
const [, , cmd, results, , out, , single] = process.argv;
if (cmd !== 'generate') process.exit(9);
if (process.env.FAKE_FAIL) { console.error('boom'); process.exit(4); }
const read = (f, d) => { try { return JSON.parse(fs.readFileSync(f, 'utf8')); } catch { return d; } };
const exec = read(path.join(results, 'executor.json'), {});
const prev = read(path.join(results, 'history', 'history-trend.json'), []);
const n = fs.readdirSync(results).filter((f) => f.endsWith('-result.json')).length;
const hist = {
  'history.json': {},
  'history-trend.json': [{ buildOrder: exec.buildOrder, data: { total: n } }, ...prev],
  'duration-trend.json': [{ data: { duration: 1 } }],
  'categories-trend.json': [{ data: {} }],
  'retry-trend.json': [{ data: { run: n, retry: 0 } }],
};
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
if (single === '--single-file') {
  const embed = process.env.FAKE_NO_EMBED ? '' : Object.entries(hist)
    .map(([k, v]) => "d('history/" + k + "','" + Buffer.from(JSON.stringify(v)).toString('base64') + "'),").join('\\n');
  fs.writeFileSync(path.join(out, 'index.html'), '<script>Promise.allSettled([' + embed + '])</script>');
} else {
  fs.mkdirSync(path.join(out, 'history'));
  for (const [k, v] of Object.entries(hist)) fs.writeFileSync(path.join(out, 'history', k), JSON.stringify(v));
  fs.writeFileSync(path.join(out, 'index.html'), 'multi');
}
`;

describe('report/finish: Allure history across runs', () => {
  let reports: string;
  let bin: string;
  const lines: string[] = [];
  const quiet = { log: () => {}, warn: (l: string) => void lines.push(l) };

  beforeEach(() => {
    reports = tempDir();
    bin = join(reports, 'fake-allure.cjs');
    writeFileSync(bin, FAKE_ALLURE);
    chmodSync(bin, 0o755);
    lines.length = 0;
  });
  afterEach(() => rmSync(reports, { recursive: true, force: true }));

  function run(id: string, results = 1): string {
    const dir = join(reports, id);
    mkdirSync(join(dir, 'allure-results'), { recursive: true });
    for (let i = 0; i < results; i++) writeFileSync(join(dir, 'allure-results', `r${i}-result.json`), '{}');
    return dir;
  }
  const trend = (dir: string) =>
    JSON.parse(readFileSync(join(dir, 'history-trend.json'), 'utf8')) as Array<{
      buildOrder?: number;
      data: { total: number };
    }>;
  const local = { PATH: process.env.PATH, JAVA_HOME: process.env.JAVA_HOME } as NodeJS.ProcessEnv;

  it('carries the history from one run to the next through <reports>/history', async () => {
    const r1 = run('20260301-100000-000-aaaaaa', 1);
    const index = await finishReport(r1, {
      results: [job()],
      environment: { 'adb.servers': '127.0.0.1:5037' },
      categories: [{ name: 'Known firmware bug', matchedStatuses: ['failed'], messageRegex: '.*MIUI-123.*' }],
      html: true,
      env: local,
      generate: { allureBin: bin },
      ...quiet,
    });
    assert.equal(index, join(r1, 'html', 'index.html'));
    const lab = join(reports, 'history');
    assert.deepEqual(trend(lab), [{ buildOrder: 1, data: { total: 1 } }]);
    for (const f of HISTORY_FILES) assert.ok(existsSync(join(lab, f)), f);
    assert.ok(!existsSync(join(lab, '.lock')), 'the lock is released');
    assert.ok(!existsSync(join(r1, 'allure-results', 'history')), 'the first run started from no history');
    const exec1 = JSON.parse(readFileSync(join(r1, 'allure-results', 'executor.json'), 'utf8'));
    assert.equal(exec1.type, 'local');
    assert.equal(exec1.buildOrder, 1);
    const cats = JSON.parse(readFileSync(join(r1, 'allure-results', 'categories.json'), 'utf8')) as Array<{
      name: string;
    }>;
    assert.equal(cats[0]!.name, 'Known firmware bug', 'user categories come first');
    assert.ok(cats.some((c) => c.name === 'Upload leaked in private mode'));
    const props = readFileSync(join(r1, 'allure-results', 'environment.properties'), 'utf8');
    assert.match(props, /^phonehome\.run=20260301-100000-000-aaaaaa$/m);
    assert.match(props, /^adb\.servers=127.0.0.1\\:5037$/m);
    assert.match(props, /^phonehome\.version=/m);

    const r2 = run('20260301-110000-000-bbbbbb', 2);
    await finishReport(r2, {
      results: [],
      environment: {},
      html: true,
      env: local,
      generate: { allureBin: bin },
      ...quiet,
    });
    // The second run started from the first's history (kept in its allure-results for `phonehome
    // report`), was numbered after it, and the lab history now has both builds, newest first.
    assert.deepEqual(trend(join(r2, 'allure-results', 'history')), [{ buildOrder: 1, data: { total: 1 } }]);
    assert.equal(JSON.parse(readFileSync(join(r2, 'allure-results', 'executor.json'), 'utf8')).buildOrder, 2);
    assert.deepEqual(trend(lab), [
      { buildOrder: 2, data: { total: 2 } },
      { buildOrder: 1, data: { total: 1 } },
    ]);
    assert.deepEqual(lines, []);
  });

  it('an interrupted run keeps its input history but does not update the lab history', async () => {
    const lab = join(reports, 'lab-history');
    mkdirSync(lab);
    writeFileSync(join(lab, 'history-trend.json'), JSON.stringify([{ buildOrder: 9, data: { total: 3 } }]));
    writeFileSync(join(lab, 'history.json'), '{not json');
    const r = run('20260301-120000-000-cccccc');
    const out = await finishReport(r, {
      results: [],
      environment: {},
      historyDir: lab,
      html: false,
      env: local,
      generate: { allureBin: bin },
      ...quiet,
    });
    assert.equal(out, r);
    assert.ok(!existsSync(join(r, 'html')));
    assert.deepEqual(trend(join(r, 'allure-results', 'history')), [{ buildOrder: 9, data: { total: 3 } }]);
    assert.ok(!existsSync(join(r, 'allure-results', 'history', 'history.json')), 'a broken file is left out');
    assert.ok(
      lines.some((l) => l.includes('history.json is not valid JSON')),
      lines.join('\n'),
    );
    assert.equal(JSON.parse(readFileSync(join(r, 'allure-results', 'executor.json'), 'utf8')).buildOrder, 10);
    assert.deepEqual(trend(lab), [{ buildOrder: 9, data: { total: 3 } }], 'lab history unchanged');
  });

  it('falls back on a multi-file generate when the single file embeds no history', async () => {
    const r = run('20260301-130000-000-dddddd');
    await finishReport(r, {
      results: [],
      environment: {},
      html: true,
      env: { ...local, FAKE_NO_EMBED: '1' },
      generate: { allureBin: bin },
      ...quiet,
    });
    assert.deepEqual(trend(join(reports, 'history')), [{ buildOrder: 1, data: { total: 1 } }]);
    assert.ok(!existsSync(join(r, 'html', 'history')), 'the multi-file report went to a temporary folder');
  });

  it('a failed generate warns, returns the run folder and leaves the lab history alone', async () => {
    const r = run('20260301-140000-000-eeeeee');
    const out = await finishReport(r, {
      results: [],
      environment: {},
      html: true,
      env: { ...local, FAKE_FAIL: '1' },
      generate: { allureBin: bin },
      ...quiet,
    });
    assert.equal(out, r);
    assert.ok(
      lines.some((l) => /no HTML report .*exit code 4/s.test(l)),
      lines.join('\n'),
    );
    assert.ok(!existsSync(join(reports, 'history', 'history-trend.json')));
    assert.ok(!existsSync(join(reports, 'history', '.lock')));
  });

  it('reads the embedded history only when all five files are there and are JSON', () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');
    const all = HISTORY_FILES.map((f) => `d('history/${f}','${b64([{ data: {} }])}'),`).join('\n');
    assert.equal(Object.keys(historyFromSingleFile(all) ?? {}).length, 5);
    assert.equal(
      historyFromSingleFile(all.replace(/d\('history\/retry-trend\.json'[^)]*\),/, '')),
      undefined,
    );
    assert.equal(
      historyFromSingleFile(
        all.replace(/(d\('history\/history\.json',')[^']*/, `$1${Buffer.from('{').toString('base64')}`),
      ),
      undefined,
    );
    assert.equal(lastBuildOrder('[{"buildOrder":3},{"data":{}},{"buildOrder":12}]'), 12);
    assert.equal(lastBuildOrder('[{"data":{}}]'), undefined);
    assert.equal(lastBuildOrder('nope'), undefined);
  });

  it('one report at a time per history folder; a dead holder’s lock is taken over', async () => {
    const lab = join(reports, 'h');
    mkdirSync(lab);
    // held by this (live) process: the second caller gives up after waitMs
    let release!: () => void;
    const first = withHistoryLock(lab, () => new Promise<string>((r) => (release = () => r('first'))));
    await new Promise((r) => setTimeout(r, 50));
    const second = await withHistoryLock(lab, async () => 'second', { waitMs: 300, pollMs: 50 });
    assert.ok('unavailable' in second && /held .*\.lock/.test(second.unavailable), JSON.stringify(second));
    release();
    assert.deepEqual(await first, { value: 'first' });
    // a lock left by a process that is gone (pid far beyond pid_max) is stale
    writeFileSync(join(lab, '.lock'), `${hostname()} 999999999\n`);
    assert.deepEqual(await withHistoryLock(lab, async () => 'took over', { waitMs: 300 }), {
      value: 'took over',
    });
    assert.ok(!existsSync(join(lab, '.lock')));
  });

  it('leaves a lock taken over in the meantime to its new holder', async () => {
    const lab = join(reports, 'h');
    const other = `${hostname()} ${process.pid} someone-else\n`;
    const r = await withHistoryLock(lab, async () => {
      assert.match(
        readFileSync(join(lab, '.lock'), 'utf8'),
        new RegExp(`^${hostname()} ${process.pid} [0-9a-f]{16}\n$`),
      );
      writeFileSync(join(lab, '.lock'), other); // another run judged ours stale and took it over
      return 'done';
    });
    assert.deepEqual(r, { value: 'done' });
    assert.equal(readFileSync(join(lab, '.lock'), 'utf8'), other);
  });

  it('a second waiter that judged the same lock stale does not remove the first one’s fresh lock', async () => {
    const lab = join(reports, 'h');
    mkdirSync(lab);
    const file = join(lab, '.lock');
    const o = { staleMs: 600_000, emptyGraceMs: 30_000 };
    writeFileSync(file, `${hostname()} 999999999\n`);
    const r = await withHistoryLock(lab, async () => {
      const mine = readFileSync(file, 'utf8');
      // the late waiter acts on its (now wrong) judgement: its rename moves our lock, which is put back
      moveStaleLock(file, 'late waiter', o);
      assert.equal(readFileSync(file, 'utf8'), mine);
      assert.deepEqual(readdirSync(lab), ['.lock'], 'nothing left aside');
      return 'kept';
    });
    assert.deepEqual(r, { value: 'kept' });
    assert.ok(!existsSync(file));
    // and a lock that is still stale when moved is removed
    writeFileSync(file, `${hostname()} 999999999\n`);
    moveStaleLock(file, 'w', o);
    assert.deepEqual(readdirSync(lab), []);
  });

  it('an empty lock (a crash between open and write) is stale after a short grace, not 10 minutes', async () => {
    const lab = join(reports, 'h');
    mkdirSync(lab);
    const file = join(lab, '.lock');
    writeFileSync(file, '');
    const waiting = await withHistoryLock(lab, async () => 'no', { waitMs: 300, pollMs: 50 });
    assert.ok('unavailable' in waiting, 'a fresh empty lock may be mid-write: waited for');
    const old = new Date(Date.now() - 31_000);
    utimesSync(file, old, old);
    assert.deepEqual(await withHistoryLock(lab, async () => 'took over', { waitMs: 300 }), {
      value: 'took over',
    });
    assert.ok(!existsSync(file));
  });

  it('skips the embedded history of a single file too large to read as one string', () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');
    const index = join(reports, 'index.html');
    writeFileSync(index, HISTORY_FILES.map((f) => `d('history/${f}','${b64([{ data: {} }])}'),`).join('\n'));
    assert.equal(Object.keys(embeddedHistory(index) ?? {}).length, 5);
    assert.equal(embeddedHistory(index, 100), undefined, 'over the size limit: the multi-file path');
    assert.equal(embeddedHistory(reports), undefined, 'unreadable as a string: no throw');
    assert.equal(embeddedHistory(join(reports, 'missing.html')), undefined);
  });
});
