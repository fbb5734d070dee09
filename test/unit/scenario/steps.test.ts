import assert from 'node:assert/strict';
import { parseScenarioText } from '../../../src/scenario/parse.ts';
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
  });
});
