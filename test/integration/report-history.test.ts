/**
 * Acceptance (issue 12 §2): Allure history across runs, through the real CLI, the virtual lab on a
 * private adb server and allure-commandline, checked in headless Chromium.
 *
 * Two phones: `xiaomi-13-hyperos-rooted` (unchanged) and `redmi-note-8-fixed-rooted` loaded from a
 * copy of its profile file. Run 1 runs the shipped incognito-browsing scenario on both (both pass).
 * Then that phone is taken down and a new one comes up from a changed file with the same profile
 * name: a firmware update (MIUI 12.0 → 12.5, a new incremental) whose Mi Browser reports visited URLs
 * in incognito again. Run 2 writes into the same reports folder. Its report must show two builds in
 * the Trend widget, passed → failed in that scenario × profile's history with the new firmware on
 * the result, and the other profile's history continuing (passed → passed), although both phones have
 * new serials (history is keyed by scenario × profile, owner C's historyId: src/report/allure-labels.ts).
 *
 * Run 1 also takes `--screenshots steps` (a screenshot after every scenario step, in the step and in
 * the evidence folder), and CI variables are set GitLab-style for run 2 (executor.json).
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { assertCleanFailure, parseJson, runCli, show } from '../support/cli.ts';
import { cliEnv, labDevices, labDevicesFile, startAdbServer, type TestAdbServer } from '../support/lab.ts';
import { CHROMIUM } from '../support/chromium.ts';
import { ALLURE_PAGE_HELPERS, Browser } from '../support/cdp.ts';
import { Lab, type LabPhone } from '../../src/virtual/lab/virtual-lab.ts';
import type { JobResult, RunSummary } from '../../src/report/run-folder.ts';
import { slug } from '../../src/report/run-folder.ts';

const SCENARIO = resolve('scenarios/incognito-browsing.yaml');
/** Its positive control (a third party does receive the URL with the data-collection switch on). */
const CONTROL = resolve('scenarios/incognito-data-collection-switch.yaml');
const SCENARIO_NAME = 'Incognito browsing is not reported';
const CHANGED = 'redmi-note-8-fixed-rooted';
const KEPT = 'xiaomi-13-hyperos-rooted';

/** The changed firmware: MIUI 12.5 (V12.5.1.0), whose Mi Browser reports every page again. */
function updatedFirmware(profile: Record<string, unknown>): Record<string, unknown> {
  const p = structuredClone(profile) as {
    description: string;
    props: Record<string, string>;
    telemetry: { rules: unknown[] };
  };
  p.description = `${p.description}; test firmware update V12.5.1.0 that reports incognito browsing again`;
  p.props['ro.build.version.incremental'] = 'V12.5.1.0.QCOMIXM';
  p.props['ro.miui.ui.version.name'] = 'V125';
  // The browser rows (12.1.4: silent with incognito on and the switch off) give way to one row.
  const rules = p.telemetry.rules as Array<{ when: { source?: string } }>;
  const first = rules.findIndex((r) => r.when.source === 'browser');
  p.telemetry.rules = rules.filter((r) => r.when.source !== 'browser');
  p.telemetry.rules.splice(first, 0, {
    when: { source: 'browser' },
    send: ['sensors', 'mistat'],
    note: 'test regression: every page and search is reported, incognito or not (as Mi Browser 12.1.3 did)',
  });
  return p;
}

describe('Allure history across runs: a firmware update shows as passed → failed (issue 12 acceptance)', function () {
  this.timeout(120_000);
  let tmp: string;
  let adb: TestAdbServer | undefined;
  const labs: Lab[] = [];
  let env: Record<string, string>;
  let run1: string;
  let run2: string;
  let browser: Browser | undefined;

  const newLab = (): Lab => {
    const lab = new Lab({ adbPort: adb!.port, adbd: { rebootDownMs: 300, bootCompleteMs: 200 } });
    labs.push(lab);
    return lab;
  };
  const devices = (name: string, phones: LabPhone[]): string =>
    labDevicesFile(join(tmp, name), labDevices(phones, adb!.port), { pinServers: true });
  const cli = (args: string[], extra: Record<string, string | undefined> = {}) =>
    runCli(args, { env: { ...env, ...extra }, cwd: tmp, timeoutMs: 60_000 });

  before(async function () {
    if (!existsSync(CHROMIUM)) this.skip();
    const started = Date.now();
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-report-history-'));
    mkdirSync(join(tmp, 'home'));
    mkdirSync(join(tmp, 'firmware-1'));
    mkdirSync(join(tmp, 'firmware-2'));
    const shipped = JSON.parse(readFileSync(resolve('profiles', `${CHANGED}.json`), 'utf8')) as Record<
      string,
      unknown
    >;
    writeFileSync(join(tmp, 'firmware-1', `${CHANGED}.json`), JSON.stringify(shipped));
    writeFileSync(join(tmp, 'firmware-2', `${CHANGED}.json`), JSON.stringify(updatedFirmware(shipped)));
    adb = await startAdbServer();
    env = cliEnv(tmp, adb.port, {
      // not a CI build for run 1, whatever runs this test
      GITLAB_CI: undefined,
      JENKINS_URL: undefined,
      GITHUB_ACTIONS: undefined,
      PHONEHOME_REPORT_URL: undefined,
    });
    const kept = await newLab().addPhone(KEPT);
    const firmware1 = await newLab().addPhone(join(tmp, 'firmware-1', `${CHANGED}.json`));

    // Run 1: both pass; a screenshot after every step.
    const r1 = await cli([
      'run',
      SCENARIO,
      CONTROL,
      '--devices',
      devices('devices-1.json', [kept, firmware1]),
      '--json',
      '--screenshots',
      'steps',
    ]);
    assert.equal(r1.code, 0, show(r1));
    process.stderr.write(`      (run 1 done at ${Date.now() - started} ms)\n`);
    run1 = join(tmp, 'reports', parseJson<RunSummary>(r1).run);

    // `lab down` for that phone, `lab up` from the changed file: a new phone, same profile name.
    await labs[1]!.stop();
    const firmware2 = await newLab().addPhone(join(tmp, 'firmware-2', `${CHANGED}.json`));
    assert.notEqual(firmware2.serial, firmware1.serial);
    const r2 = await cli(
      ['run', SCENARIO, CONTROL, '--devices', devices('devices-2.json', [kept, firmware2]), '--json'],
      {
        GITLAB_CI: 'true',
        CI_PIPELINE_IID: '2',
        CI_PIPELINE_URL: 'https://gitlab.example/lab/phonehome/-/pipelines/9002',
        CI_PROJECT_PATH: 'lab/phonehome',
        CI_JOB_NAME: 'privacy',
        PHONEHOME_REPORT_URL: 'https://lab.example/reports/{run}/html/index.html',
      },
    );
    assert.equal(r2.code, 1, show(r2));
    run2 = join(tmp, 'reports', parseJson<RunSummary>(r2).run);
    const status = Object.fromEntries(
      parseJson<RunSummary>(r2)
        .results.filter((x) => x.scenario === SCENARIO_NAME)
        .map((x) => [x.profile, x.status]),
    );
    assert.deepEqual(status, { [KEPT]: 'passed', [CHANGED]: 'failed' }, show(r2));
    browser = new Browser();
    await browser.attach();
    process.stderr.write(
      `      (set-up: two runs of 2 scenarios × 2 phones in ${Date.now() - started} ms)\n`,
    );
  });

  after(async () => {
    browser?.kill();
    for (const lab of labs) await lab.stop().catch(() => undefined);
    await adb?.stop();
    if (tmp && !process.env.KEEP_TMP) rmSync(tmp, { recursive: true, force: true });
    else if (tmp) process.stderr.write(`kept ${tmp}\n`);
  });

  it('keeps the lab history in reports/history and each run’s input history in its allure-results', () => {
    const trend = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as Array<{ buildOrder?: number }>;
    assert.deepEqual(
      trend(join(tmp, 'reports', 'history', 'history-trend.json')).map((t) => t.buildOrder),
      [2, 1],
    );
    assert.ok(!existsSync(join(run1, 'allure-results', 'history')), 'run 1 started from no history');
    assert.deepEqual(
      trend(join(run2, 'allure-results', 'history', 'history-trend.json')).map((t) => t.buildOrder),
      [1],
    );
    const exec1 = JSON.parse(readFileSync(join(run1, 'allure-results', 'executor.json'), 'utf8'));
    assert.deepEqual([exec1.type, exec1.buildOrder], ['local', 1]);
    const exec2 = JSON.parse(readFileSync(join(run2, 'allure-results', 'executor.json'), 'utf8'));
    assert.deepEqual(exec2, {
      name: 'GitLab CI',
      type: 'gitlab',
      buildOrder: 2,
      buildName: 'lab/phonehome #2 (privacy)',
      buildUrl: 'https://gitlab.example/lab/phonehome/-/pipelines/9002',
      reportUrl: `https://lab.example/reports/${run2.split('/').pop()}/html/index.html`,
      reportName: 'phonehome: lab/phonehome #2',
    });
  });

  it('--screenshots steps: a numbered screenshot after every step, in the evidence folder and in the step', () => {
    const results = JSON.parse(readFileSync(join(run1, 'results.json'), 'utf8')) as JobResult[];
    for (const r of results) {
      const shots = readdirSync(join(run1, r.evidenceDir, 'steps')).sort();
      // one per step, numbered in order (the executor's own restore step comes last)
      assert.deepEqual(
        shots.slice(0, r.steps.length).map((f) => f.slice(0, 4)),
        r.steps.map((_, i) => `${String(i + 1).padStart(3, '0')}-`),
        `${r.profile}: ${shots.join(', ')}`,
      );
      for (const [i, step] of r.steps.entries())
        assert.ok(
          shots[i]!.startsWith(`${String(i + 1).padStart(3, '0')}-${slug(step.name)}`),
          `${shots[i]} for ${step.name}`,
        );
      const png = readFileSync(join(run1, r.evidenceDir, 'steps', shots[0]!));
      assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    }
    // Allure: each scenario step holds its screenshot (allure-js 3 records an attachment as a
    // sub-step carrying it); none is left at the test's level.
    interface AllureStep {
      name: string;
      attachments: Array<{ name: string; type: string }>;
      steps: AllureStep[];
    }
    const allure = join(run1, 'allure-results');
    const res = readdirSync(allure)
      .filter((f) => f.endsWith('-result.json'))
      .map((f) => JSON.parse(readFileSync(join(allure, f), 'utf8')) as AllureStep);
    assert.equal(res.length, 4);
    const pngIn = (s: AllureStep) =>
      s.steps.some((x) => x.attachments.some((a) => a.type === 'image/png' && /^step \d+: /.test(a.name)));
    for (const r of res) {
      const scenarioSteps = r.steps.filter((s) => s.attachments.length === 0);
      assert.ok(scenarioSteps.length >= 6, scenarioSteps.map((s) => s.name).join(', '));
      for (const s of scenarioSteps) assert.ok(pngIn(s), `no screenshot in step ${s.name}`);
      assert.ok(!r.steps.some((s) => s.attachments.some((a) => /^step \d+: /.test(a.name))), 'at test level');
    }
  });

  it('the report shows two builds in the Trend widget', async () => {
    await browser!.goto(`${pathToFileURL(join(run2, 'html', 'index.html')).href}#`);
    const ticks = await browser!.evaluate<string[]>(
      `(async () => { ${ALLURE_PAGE_HELPERS}
        const w = await waitFor('the trend widget', () => [...document.querySelectorAll('.widget')].find((x) => /trend/i.test(x.querySelector('.widget__title')?.innerText ?? '') && x.querySelector('svg .chart__axis_x .tick')));
        return [...w.querySelectorAll('.chart__axis_x .tick text')].map((t) => t.textContent.trim()); })()`,
    );
    // Allure names the columns after executor.json's buildOrder: local run #1, then GitLab pipeline #2.
    assert.deepEqual(ticks, ['#1', '#2']);
  });

  /** The History tab of a result of SCENARIO_NAME on `profile` in run 2's report, and its Overview text. */
  async function historyOf(profile: string): Promise<{ status: string; overview: string; history: string }> {
    await browser!.goto(`${pathToFileURL(join(run2, 'html', 'index.html')).href}#suites`);
    return browser!.evaluate(
      `(async () => { ${ALLURE_PAGE_HELPERS}
        await expandAll();
        const row = await waitFor('the row', () => rows().find((r) => r.name.startsWith(${JSON.stringify(`${SCENARIO_NAME} on ${profile} (`)})));
        location.hash = row.href;
        const pane = () => document.querySelector('.side-by-side__right');
        const overview = (await waitFor('the overview', () => pane()?.innerText.includes('Parameters') && pane())).innerText;
        location.hash = row.href + 'history';
        const h = await waitFor('the history', () => pane()?.querySelector('.test-result-history__success-rate') && pane().querySelector('.test-result-history'));
        return { status: row.status, overview, history: h.innerText }; })()`,
    );
  }

  it("the changed firmware's history shows passed → failed, with the new firmware on the result", async () => {
    const { status, overview, history } = await historyOf(CHANGED);
    assert.equal(status, 'failed');
    // This run: the new firmware, in the parameters (left out of the history key).
    assert.match(overview, /os: MIUI 12\.5\b/, overview);
    assert.match(overview, /build: V12\.5\.1\.0\.QCOMIXM/, overview);
    // The history: the previous run (MIUI 12, another serial) passed.
    assert.match(history, /Success rate 50% \(1 of 2\)/, history);
    assert.deepEqual(history.match(/\b(passed|failed|broken)\b/g), ['passed'], history);
    const before = (JSON.parse(readFileSync(join(run1, 'results.json'), 'utf8')) as JobResult[]).find(
      (r) => r.profile === CHANGED && r.scenario === SCENARIO_NAME,
    )!;
    assert.deepEqual(
      [before.status, before.fingerprint.os, before.fingerprint.build],
      ['passed', 'MIUI 12', 'V12.0.3.0.QCOMIXM'],
    );
  });

  it("the other profile's history continues (passed → passed) on a phone with a new serial", async () => {
    const { status, history } = await historyOf(KEPT);
    assert.equal(status, 'passed');
    assert.match(history, /Success rate 100% \(2 of 2\)/, history);
    assert.deepEqual(history.match(/\b(passed|failed|broken)\b/g), ['passed'], history);
  });
});

describe('phonehome run --screenshots', () => {
  it('a value other than failures or steps exits 2 before any phone is touched', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'phonehome-screenshots-'));
    try {
      const r = await runCli(['run', SCENARIO, '--screenshots', 'always'], {
        env: { PHONEHOME_HOME: join(cwd, 'home'), ANDROID_ADB_SERVER_PORT: '1' },
        cwd,
      });
      const { message } = assertCleanFailure(r, 2);
      assert.match(message, /--screenshots must be failures or steps; not "always"/);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
