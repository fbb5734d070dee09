import assert from 'node:assert/strict';
import {
  allureMeta,
  applyAllureMeta,
  expandLink,
  historyIdOf,
  profileSlots,
  readAppVersions,
  testCaseIdOf,
  type AllureApi,
} from '../../../src/report/allure-labels.ts';
import { parseScenarioText } from '../../../src/scenario/parse.ts';
import type { ScenarioLink } from '../../../src/scenario/types.ts';
import type { Device } from '../../../src/device/index.ts';
import { makePhone, sh } from '../virtual/os/helpers.ts';

const pos = { file: 's.yaml', line: 1, col: 1 };
const TEMPLATES = {
  issue: 'https://gitlab.example/lab/-/issues/{}',
  tms: 'https://tms.example/case/{}?view=1',
};

describe('report/allure-labels (issue 12 §2)', () => {
  it('keys history by scenario × profile, stably, and the test case by scenario', () => {
    const a = historyIdOf('Incognito browsing is not reported', 'redmi-note-8-leaky');
    assert.match(a, /^[0-9a-f]{32}$/);
    assert.equal(a, historyIdOf('Incognito browsing is not reported', 'redmi-note-8-leaky'));
    // Fixed values (md5 of "scenario\0profile" and of the scenario, as merge.ts writes for jobs no
    // shard ran): a change would orphan every lab's history.
    assert.equal(a, 'a35c77714095f1aa19ec309bf4888d52');
    assert.equal(testCaseIdOf('Incognito browsing is not reported'), 'd93150c5bfe9a6cfca1ae56282114c15');
    assert.notEqual(a, historyIdOf('Incognito browsing is not reported', 'redmi-note-8-fixed'));
    assert.notEqual(a, historyIdOf('Incognito DuckDuckGo search is not reported', 'redmi-note-8-leaky'));
    // No collision by concatenation: ("ab", "c") is not ("a", "bc").
    assert.notEqual(historyIdOf('ab', 'c'), historyIdOf('a', 'bc'));
    assert.equal(testCaseIdOf('s'), testCaseIdOf('s'));
    assert.notEqual(testCaseIdOf('s'), historyIdOf('s', ''));
  });

  it('expands issue/tms ids into their templates, URL-encoded, and keeps plain links', () => {
    const link = (l: Record<string, unknown>) => ({ ...l, pos }) as unknown as ScenarioLink;
    assert.deepEqual(expandLink(link({ type: 'issue', id: 'PRIV-12' }), TEMPLATES), {
      url: 'https://gitlab.example/lab/-/issues/PRIV-12',
      name: 'PRIV-12',
      type: 'issue',
    });
    assert.deepEqual(expandLink(link({ type: 'tms', id: 'a b/#?&', name: 'TC' }), TEMPLATES), {
      url: 'https://tms.example/case/a%20b%2F%23%3F%26?view=1',
      name: 'TC',
      type: 'tms',
    });
    assert.deepEqual(expandLink(link({ type: 'link', url: 'https://example.org/r' }), {}), {
      url: 'https://example.org/r',
      name: 'https://example.org/r',
      type: 'link',
    });
    assert.throws(() => expandLink(link({ type: 'tms', id: 'X' }), {}), /no URL template for tms links/);
  });

  it('makes labels, links, excluded parameters and the history keys of a job', () => {
    const { config } = parseScenarioText(
      [
        'name: Incognito',
        'epic: Browser privacy',
        'feature: [Incognito, Search]',
        'severity: critical',
        'owner: qa-lab',
        'links: [{issue: PRIV-12}, {url: "https://example.org/r", name: Research}]',
        '---',
        '- background',
      ].join('\n'),
      's.yaml',
      { env: {} },
    );
    const phone = {
      serial: '127.0.0.1:41001',
      profile: 'redmi-note-8-leaky',
      fingerprint: { os: 'MIUI 12', build: 'V12.0.3.0.QCOGMXM', model: 'Redmi Note 8' },
    };
    const meta = allureMeta(config, phone, TEMPLATES, { 'com.mi.globalbrowser': '12.1.3', 'com.a': '' });
    assert.deepEqual(meta.labels, [
      { name: 'epic', value: 'Browser privacy' },
      { name: 'feature', value: 'Incognito' },
      { name: 'feature', value: 'Search' },
      { name: 'severity', value: 'critical' },
      { name: 'owner', value: 'qa-lab' },
    ]);
    assert.deepEqual(meta.links, [
      { url: 'https://gitlab.example/lab/-/issues/PRIV-12', name: 'PRIV-12', type: 'issue' },
      { url: 'https://example.org/r', name: 'Research', type: 'link' },
    ]);
    assert.deepEqual(meta.parameters, [
      { name: 'profile', value: 'redmi-note-8-leaky', excluded: false },
      { name: 'phone', value: '127.0.0.1:41001', excluded: true },
      { name: 'os', value: 'MIUI 12', excluded: true },
      { name: 'build', value: 'V12.0.3.0.QCOGMXM', excluded: true },
      { name: 'com.a', value: '(unknown version)', excluded: true },
      { name: 'com.mi.globalbrowser', value: '12.1.3', excluded: true },
    ]);
    assert.equal(meta.historyId, historyIdOf('Incognito', 'redmi-note-8-leaky'));
    assert.equal(meta.testCaseId, testCaseIdOf('Incognito'));
    // Another serial and a firmware update: the same history entry.
    const replaced = allureMeta(
      config,
      { ...phone, serial: 'emulator-5554', fingerprint: { os: 'MIUI 12.5', build: 'V12.5.1.0' } },
      TEMPLATES,
    );
    assert.equal(replaced.historyId, meta.historyId);
    // Only the profile counts for Allure 2's key: the same non-excluded parameters.
    const counting = (m: typeof meta) => m.parameters.filter((p) => !p.excluded);
    assert.deepEqual(counting(replaced), counting(meta));
    // A second phone of the same profile in the run: its own entry, so neither hides the other.
    const second = allureMeta(config, { ...phone, serial: 'emulator-5556', slot: 2 }, TEMPLATES);
    assert.notEqual(second.historyId, meta.historyId);
    assert.deepEqual(counting(second), [
      { name: 'profile', value: 'redmi-note-8-leaky', excluded: false },
      { name: 'same-profile phone', value: '2', excluded: false },
    ]);
  });

  it('numbers the phones of each profile by serial', () => {
    const slots = profileSlots([
      { serial: 'c', profile: 'leaky' },
      { serial: 'a', profile: 'leaky' },
      { serial: 'b', profile: 'fixed' },
    ]);
    assert.deepEqual([...slots].sort(), [
      ['a', 1],
      ['b', 1],
      ['c', 2],
    ]);
  });

  it('puts the meta on the result through the allure runtime calls', async () => {
    const calls: unknown[][] = [];
    const api: AllureApi = {
      label: async (...a) => void calls.push(['label', ...a]),
      link: async (...a) => void calls.push(['link', ...a]),
      parameter: async (...a) => void calls.push(['parameter', ...a]),
      historyId: async (...a) => void calls.push(['historyId', ...a]),
      testCaseId: async (...a) => void calls.push(['testCaseId', ...a]),
    };
    await applyAllureMeta(
      {
        labels: [{ name: 'severity', value: 'critical' }],
        links: [{ url: 'https://x/1', name: '1', type: 'issue' }],
        parameters: [{ name: 'os', value: 'MIUI 12', excluded: true }],
        historyId: 'h',
        testCaseId: 't',
      },
      api,
    );
    assert.deepEqual(calls, [
      ['historyId', 'h'],
      ['testCaseId', 't'],
      ['parameter', 'os', 'MIUI 12', { excluded: true }],
      ['label', 'severity', 'critical'],
      ['link', 'https://x/1', '1', 'issue'],
    ]);
  });

  describe('app versions on a virtual phone', () => {
    // The in-process virtual phone's shell, as Device.shell answers (dumpsys package through its interpreter).
    const phone = makePhone();
    const device = {
      shell: async (cmd: string | string[]) => {
        const r = await sh(phone, Array.isArray(cmd) ? cmd.join(' ') : cmd);
        return { exitCode: r.status, stdout: r.stdout, stderr: r.stderr };
      },
    } as unknown as Pick<Device, 'shell'>;

    it('reads the installed apps under test, leaves out the missing ones', async () => {
      const versions = await readAppVersions(device, ['com.mi.globalbrowser', 'com.example.absent']);
      assert.deepEqual(Object.keys(versions), ['com.mi.globalbrowser']);
      assert.match(versions['com.mi.globalbrowser']!, /^\d+\.\d+/);
    });
  });
});
