/** `phonehome diff` and `phonehome report` end to end through bin/phonehome.js. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertCleanFailure, parseJson, runCli, show } from '../../support/cli.ts';
import type { RunDiff } from '../../../src/report/diff.ts';
import { job, makeRun, tempDir } from './fixtures.ts';

describe('phonehome diff / report (CLI)', function () {
  this.timeout(60_000);
  let dir: string;
  const cli = (args: string[]) => runCli(args, { env: { PHONEHOME_HOME: join(dir, 'state') }, cwd: dir });

  beforeEach(() => {
    dir = tempDir('phonehome-report-cli-');
    const reports = join(dir, 'reports');
    makeRun(reports, '20260101-100000-000-aaaaaa', [
      job({ scenario: 'incognito-browsing', status: 'passed', hosts: ['example.org'] }),
      job({ scenario: 'ux-opt-out', status: 'passed' }),
    ]);
    makeRun(reports, '20260201-100000-000-bbbbbb', [
      job({
        scenario: 'incognito-browsing',
        status: 'failed',
        hosts: ['example.org', 'tracking.intl.miui.com'],
        trackers: ['mistat'],
      }),
      job({ scenario: 'ux-opt-out', status: 'passed' }),
    ]);
    symlinkSync('20260201-100000-000-bbbbbb', join(reports, 'latest'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the table for a run id and latest, and writes the HTML page', async () => {
    const r = await cli(['diff', '20260101-100000-000-aaaaaa', 'latest', '--html', 'diff.html']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /incognito-browsing\s+emulator-5554\s+leaky-miui12\s+passed → failed/);
    assert.match(r.stdout, /\+ host\s+tracking\.intl\.miui\.com/);
    assert.match(r.stdout, /\+ tracker mistat/);
    assert.match(r.stdout, /1 changed \(1 verdicts\), 1 unchanged/);
    const html = readFileSync(join(dir, 'diff.html'), 'utf8');
    assert.match(html, /tracking\.intl\.miui\.com/);
  });

  it('--json prints one JSON document; run folders work as paths', async () => {
    const r = await cli([
      'diff',
      'reports/20260101-100000-000-aaaaaa',
      join(dir, 'reports', '20260201-100000-000-bbbbbb'),
      '--json',
    ]);
    assert.equal(r.code, 0, show(r));
    const d = parseJson<RunDiff>(r);
    assert.equal(d.a.run, '20260101-100000-000-aaaaaa');
    assert.equal(d.b.run, '20260201-100000-000-bbbbbb');
    assert.deepEqual(d.counts, { changed: 1, unchanged: 1, onlyA: 0, onlyB: 0, verdictsChanged: 1 });
  });

  it('a bad run is exit 2 with the fix', async () => {
    const r = await cli(['diff', 'nope', 'latest']);
    const { message, hint } = assertCleanFailure(r, 2);
    assert.match(message, /no run "nope"/);
    assert.match(hint, /fix: give a run folder .*20260201-100000-000-bbbbbb/);
    mkdirSync(join(dir, 'empty'));
    assertCleanFailure(await cli(['diff', 'empty', 'latest']), 2);
    writeFileSync(join(dir, 'reports', '20260101-100000-000-aaaaaa', 'results.json'), 'garbage');
    const bad = await cli(['diff', '20260101-100000-000-aaaaaa', 'latest']);
    assert.match(assertCleanFailure(bad, 2).message, /results\.json is not JSON/);
    assertCleanFailure(await cli(['report', 'nope']), 2);
    // a run without allure-results
    assert.match(assertCleanFailure(await cli(['report', 'latest']), 2).message, /no allure-results/);
  });

  it('report regenerates html/index.html from allure-results and prints its path', async () => {
    const run = join(dir, 'reports', '20260201-100000-000-bbbbbb');
    mkdirSync(join(run, 'allure-results'));
    writeFileSync(
      join(run, 'allure-results', '0b7c-result.json'),
      JSON.stringify({
        uuid: '0b7c',
        historyId: 'h1',
        name: 'incognito-browsing',
        fullName: 'incognito-browsing',
        status: 'failed',
        statusDetails: { message: 'upload to tracking.intl.miui.com' },
        stage: 'finished',
        start: 1,
        stop: 2,
        labels: [],
        steps: [],
        attachments: [],
        parameters: [],
        links: [],
      }),
    );
    const r = await cli(['report']);
    assert.equal(r.code, 0, show(r));
    const index = join(run, 'html', 'index.html');
    assert.equal(r.stdout.trim(), index);
    assert.ok(existsSync(index));
    assert.match(r.stderr, /generating the Allure report/);
  });
});
