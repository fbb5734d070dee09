/**
 * Scenario header labels and links, history keys, phonehome.json and JUnit attachments through the
 * real runner (issue 12 §2): the CLI in a child process, two virtual phones of one profile on a private
 * adb server, allure-commandline building the report and its history.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { assertCleanFailure, parseJson, runCli, show } from '../support/cli.ts';
import { cliEnv, labDevices, labDevicesFile, startLab, type TestLab } from '../support/lab.ts';
import { historyIdOf, testCaseIdOf } from '../../src/report/allure-labels.ts';
import type { RunSummary } from '../../src/report/run-folder.ts';

const SCENARIO = resolve('test/fixtures/runner/labels.yaml');
const PROFILE = 'redmi-note-8-leaky-rooted';

interface AllureResult {
  name: string;
  historyId: string;
  testCaseId: string;
  labels: Array<{ name: string; value: string }>;
  links: Array<{ name?: string; url: string; type?: string }>;
  parameters: Array<{ name: string; value: string; excluded?: boolean }>;
}

describe('phonehome run: Allure labels, links, history keys and JUnit attachments', function () {
  this.timeout(90_000);
  let lab: TestLab;
  let tmp: string;
  let env: Record<string, string>;
  let devices: string;

  const cli = (args: string[]) => runCli(args, { env, cwd: tmp, timeoutMs: 60_000 });
  const run = async (serial: string, extra: string[] = []) => {
    const r = await cli([
      'run',
      SCENARIO,
      '--devices',
      devices,
      '--device',
      serial,
      '--json',
      '--out',
      'reports',
      ...extra,
    ]);
    assert.equal(r.code, 0, show(r));
    const summary = parseJson<RunSummary>(r);
    return join(tmp, 'reports', summary.run);
  };
  const resultsOf = (runDir: string): AllureResult[] => {
    const dir = join(runDir, 'allure-results');
    return readdirSync(dir)
      .filter((f) => f.endsWith('-result.json'))
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as AllureResult);
  };

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-labels-'));
    mkdirSync(join(tmp, 'home'));
    lab = await startLab([PROFILE, PROFILE]);
    env = cliEnv(tmp, lab.adb.port);
    devices = join(tmp, 'devices.json');
    labDevicesFile(devices, labDevices(lab.phones, lab.adb.port));
  });
  after(async () => {
    await lab?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('an issue link without a URL template stops the run before any job (exit 2, link and config named)', async () => {
    const config = join(tmp, 'no-links.json');
    writeFileSync(config, '{"report": {}}\n');
    const r = await cli(['run', SCENARIO, '--devices', devices, '--config', config, '--out', 'reports']);
    const { message } = assertCleanFailure(r, 2);
    assert.match(
      message,
      new RegExp(
        `${SCENARIO}:10:5 header\\.links\\[0\\]\\.issue: no URL template for issue links in ${config}`,
      ),
    );
    assert.equal(existsSync(join(tmp, 'reports')), false, 'no run folder: nothing ran');
  });

  it('puts labels, links and history keys on the results, attachments in junit.xml; a replaced phone keeps the history', async () => {
    writeFileSync(
      join(tmp, 'phonehome.json'),
      JSON.stringify({ report: { links: { issue: 'https://gitlab.example/lab/-/issues/{}' } } }),
    );
    const [a, b] = lab.phones.map((p) => p.serial) as [string, string];
    const first = await run(a);
    const [res] = resultsOf(first);
    assert.ok(res, 'one Allure result');
    const labels = res.labels.filter((l) =>
      ['epic', 'feature', 'story', 'severity', 'owner'].includes(l.name),
    );
    assert.deepEqual(labels, [
      { name: 'epic', value: 'Browser privacy' },
      { name: 'feature', value: 'Incognito' },
      { name: 'feature', value: 'Search' },
      { name: 'story', value: 'Search terms' },
      { name: 'severity', value: 'critical' },
      { name: 'owner', value: 'qa-lab' },
    ]);
    assert.deepEqual(res.links, [
      { url: 'https://gitlab.example/lab/-/issues/PRIV%2012%2Fa', name: 'PRIV 12/a', type: 'issue' },
      { url: 'https://example.org/research', name: 'The research', type: 'link' },
    ]);
    assert.equal(res.historyId, historyIdOf('runner labels', PROFILE));
    assert.equal(res.testCaseId, testCaseIdOf('runner labels'));
    const param = (n: string) => res.parameters.find((p) => p.name === n);
    assert.deepEqual(param('profile'), { name: 'profile', value: PROFILE, excluded: false });
    assert.equal(param('phone')?.value, a);
    for (const n of ['phone', 'os', 'build', 'com.mi.globalbrowser'])
      assert.equal(param(n)?.excluded, true, n);

    // junit.xml: the evidence files, relative to the working directory (the run folder is under it).
    // A passed job has its HAR (the screenshot and hierarchy of failed jobs: test/unit/report/junit.test.ts).
    const junit = readFileSync(join(first, 'junit.xml'), 'utf8');
    const attached = [...junit.matchAll(/^\[\[ATTACHMENT\|(.+?)\]\]/gm)].map((m) => m[1]!);
    assert.deepEqual(
      attached.map((p) => p.split('/').pop()),
      ['capture.har'],
      junit,
    );
    for (const p of attached) {
      assert.ok(p.startsWith('reports/'), p);
      assert.ok(existsSync(join(tmp, p)), p);
    }

    // The other phone of the same profile, in a later run: the same history entry (allure-commandline
    // keys history by testCaseId and the parameters that are not excluded).
    const second = await run(b);
    assert.equal(resultsOf(second)[0]!.historyId, res.historyId);
    const history = JSON.parse(
      readFileSync(join(tmp, 'reports', 'history', 'history.json'), 'utf8'),
    ) as Record<string, { items: unknown[] }>;
    const entries = Object.values(history);
    assert.equal(entries.length, 1, JSON.stringify(history));
    assert.equal(entries[0]!.items.length, 2, JSON.stringify(history));
  });
});
