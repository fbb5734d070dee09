import assert from 'node:assert/strict';
import { parseScenarioText, ScenarioError } from '../../../src/scenario/parse.ts';
import {
  SEARCH_ENGINES,
  SETTINGS_PAGES,
  STEPS,
  allowsBare,
  describeStep,
} from '../../../src/scenario/steps.ts';
import { STEP_NAMES } from '../../../src/scenario/types.ts';
import { loadLocators } from '../../../src/ui/pages/locators.ts';

describe('step registry', () => {
  it('has one row per step name, in order, each with a doc and an example', () => {
    assert.deepEqual(Object.keys(STEPS), [...STEP_NAMES]);
    for (const name of STEP_NAMES) {
      const spec = STEPS[name];
      assert.equal(spec.name, name);
      assert.ok(spec.doc.length > 10 && !spec.doc.includes('\n'), name);
      assert.ok(spec.example.startsWith(`- ${name}`), name);
    }
  });

  it('every row can run: a run function, a kind, and a time allowance for the steps that wait', () => {
    const t = { stepTimeoutMs: 1, quietMs: 2, settleTimeoutMs: 10, probeTimeoutMs: 100, maxTrailingMs: 1000 };
    for (const name of STEP_NAMES) {
      const spec = STEPS[name];
      assert.equal(typeof spec.run, 'function', name);
      assert.ok(['action', 'assertion', 'flow'].includes(spec.kind), name);
      assert.ok(
        spec.keys.every((k) => typeof k === 'string'),
        name,
      );
    }
    for (const name of ['assertNoUpload', 'assertUpload', 'assertNoRequest'] as const) {
      // A negative check may probe, relaunch, settle and wait the longest trailing window.
      assert.equal(STEPS[name].extraMs!({}, t), 10 * 3 + 100 + 1000 + 1, name);
    }
    assert.equal(STEPS.wait.extraMs!({ ms: 700 }, t), 700);
    assert.equal(STEPS.background.extraMs!({}, t), 10);
    assert.ok(!('extraMs' in STEPS.tapOn), 'tapOn waits only as long as the common step limit');
  });

  it("every step's example parses", () => {
    for (const name of STEP_NAMES) {
      const example = STEPS[name].example.replace('_open-privacy.yaml', '_004_subflow.yaml');
      const s = parseScenarioText(
        `canary: [url, search]\n---\n${example}\n`,
        `test/fixtures/scenarios/${name}.yaml`,
      );
      assert.equal(s.steps[0]!.name, name);
    }
  });

  it('only background and startEvidence may be written bare', () => {
    assert.deepEqual(
      STEP_NAMES.filter((n) => allowsBare(n)),
      ['background', 'startEvidence'],
    );
  });

  it('knows the Settings pages and search engines the UI layer has', () => {
    const data = loadLocators();
    assert.deepEqual([...SETTINGS_PAGES].sort(), Object.keys(data.settingsPages).sort());
    assert.deepEqual([...SEARCH_ENGINES].sort(), Object.keys(data.searchEngines).sort());
  });

  it('describes steps for reports', () => {
    assert.equal(describeStep({ name: 'incognito', args: { on: true } }), 'incognito on');
    assert.equal(
      describeStep({ name: 'setToggle', args: { name: 'miui.diagnosticData', on: false } }),
      'setToggle miui.diagnosticData off',
    );
    assert.equal(
      describeStep({ name: 'assertNoUpload', args: { to: 'tracker', containing: 'canary' } }),
      'assertNoUpload to tracker containing canary',
    );
    assert.equal(describeStep({ name: 'openUrl', args: { url: 'https://x' } }), 'openUrl https://x');
    assert.equal(describeStep({ name: 'background', args: {}, label: 'Flush' }), 'Flush');
    assert.equal(
      describeStep({ name: 'assertNoUpload', args: { containing: 'canary', control: 'incognito-reported' } }),
      'assertNoUpload to any third party containing canary (control incognito-reported)',
    );
    assert.equal(
      describeStep({
        name: 'assertUpload',
        args: { to: 'vendor', value: 'Xiaomi', containing: 'identifier', identifier: 'ad_id', id: 'x' },
      }),
      'assertUpload to vendor Xiaomi containing identifier ad_id (control x)',
    );
    assert.equal(describeStep({ name: 'search', args: { query: 'q', engine: 'bing' } }), 'search q (bing)');
    assert.equal(describeStep({ name: 'repeat', args: { times: 3, commands: [] } }), 'repeat 3 times');
  });
});

describe('step arguments: negative checks, controls and ids', () => {
  /** The single problem the parser reports for one step, as `path: message`. */
  function problem(stepYaml: string): string {
    try {
      parseScenarioText(`canary: [url]\n---\n${stepYaml}\n`, 't.yaml');
    } catch (err) {
      assert.ok(err instanceof ScenarioError, String(err));
      assert.equal(err.problems.length, 1, err.message);
      const p = err.problems[0]!;
      return `${p.path}: ${p.message}`;
    }
    assert.fail(`accepted: ${stepYaml}`);
  }
  const args = (stepYaml: string): Record<string, unknown> =>
    parseScenarioText(`canary: [url]\n---\n${stepYaml}\n`, 't.yaml').steps[0]!.args;

  it('`to` may be left out (any third party), with `control:` on the negative checks', () => {
    assert.deepEqual(args('- assertNoUpload: {containing: canary, control: incognito-reported}'), {
      containing: 'canary',
      control: 'incognito-reported',
    });
    assert.deepEqual(args('- assertNoRequest: {host: mqs-log.miui.com, control: uep.reported_2}'), {
      host: 'mqs-log.miui.com',
      control: 'uep.reported_2',
    });
    assert.deepEqual(args('- assertUpload: {to: tracker, containing: any, id: uep-reported}'), {
      to: 'tracker',
      containing: 'any',
      id: 'uep-reported',
    });
  });

  it('`containing: any` and `value` need a destination', () => {
    assert.equal(
      problem('- assertNoUpload: {containing: any}'),
      'steps[0].assertNoUpload.to: containing: any needs a destination (to: tracker, vendor or host): every third party receives something',
    );
    assert.match(
      problem('- assertUpload: {containing: any, id: x}'),
      /^steps\[0\]\.assertUpload\.to: containing: any needs a destination/,
    );
    assert.equal(
      problem('- assertNoUpload: {value: miui-analytics, containing: canary}'),
      'steps[0].assertNoUpload.value: value needs to: tracker, vendor or host',
    );
    assert.equal(
      problem('- assertNoUpload: {to: vendor, containing: canary}'),
      'steps[0].assertNoUpload.value: value is required with to: vendor (the vendor name)',
    );
  });

  it('control and id names are letters, digits, _ . and -, starting with a letter', () => {
    for (const bad of ['1bad', '"bad name"', '"-x"', '"a/b"'])
      assert.equal(
        problem(`- assertNoUpload: {containing: canary, control: ${bad}}`),
        'steps[0].assertNoUpload.control: a control name is letters, digits, _ . and -',
        bad,
      );
    assert.equal(
      problem('- assertUpload: {to: tracker, containing: any, id: "x y"}'),
      'steps[0].assertUpload.id: an id is letters, digits, _ . and -',
    );
    assert.equal(
      problem('- assertNoRequest: {host: a.miui.com, control: "x y"}'),
      'steps[0].assertNoRequest.control: a control name is letters, digits, _ . and -',
    );
  });

  it('`id` only on assertUpload, `control` only on the negative checks', () => {
    assert.match(
      problem('- assertNoUpload: {containing: canary, id: ctl}'),
      /^steps\[0\]\.assertNoUpload\.id: unknown key "id"/,
    );
    assert.match(
      problem('- assertNoRequest: {host: a.miui.com, id: ctl}'),
      /^steps\[0\]\.assertNoRequest\.id: unknown key "id"/,
    );
    assert.equal(
      problem('- assertUpload: {to: tracker, containing: any, control: ctl}'),
      'steps[0].assertUpload.control: unknown key "control"',
    );
    assert.equal(
      problem('- assertToggle: {name: miui.diagnosticData, on: false, control: ctl}'),
      'steps[0].assertToggle.control: unknown key "control"',
    );
  });
});
