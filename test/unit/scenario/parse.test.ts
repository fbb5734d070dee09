import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ScenarioError,
  didYouMean,
  levenshtein,
  loadScenarios,
  parseScenarioFile,
  parseScenarioText,
} from '../../../src/scenario/parse.ts';
import type { Step } from '../../../src/scenario/types.ts';
import { UserFacingError } from '../../../src/util/user-facing.ts';
import { FIXTURES, fixture, thrown } from './helpers.ts';

const KNOWN_STEPS =
  'known steps: launchApp, openUrl, search, incognito, setToggle, tapOn, inputText, swipe, openFolder, statusBar, openSettings, wait, background, startEvidence, assertNoUpload, assertUpload, assertNoRequest, assertToggle, runFlow, repeat, retry';
const HEADER_KEYS =
  'known keys here: name, description, tags, env, canary, when, portable, epic, feature, story, severity, owner, links';

const brief = (steps: Step[]): Array<[string, Record<string, unknown>]> => steps.map((s) => [s.name, s.args]);

/** The message of the ScenarioError `fn` throws (and checks it is one, with exit code 2). */
function problemsOf(fn: () => unknown): string {
  const err = thrown(fn);
  assert.ok(err instanceof ScenarioError, String(err));
  assert.ok(err instanceof UserFacingError);
  assert.equal(err.exitCode, 2);
  return err.message;
}

describe('scenario parser', () => {
  describe('valid fixtures', () => {
    it('Case 001 - every scalar shorthand and the bare step expand to their arguments', () => {
      const s = parseScenarioFile(fixture('001_shorthands.yaml'));
      assert.equal(s.file, fixture('001_shorthands.yaml'));
      assert.deepEqual(s.config, {
        name: 'Every shorthand',
        tags: ['fixture', 'shorthand'],
        env: {},
        canaries: ['url', 'search'],
      });
      assert.deepEqual(brief(s.steps), [
        ['launchApp', { app: 'browser' }],
        ['openUrl', { url: 'https://example.com/${canary.url}' }],
        ['search', { query: '${canary.search}' }],
        ['incognito', { on: true }],
        ['incognito', { on: false }],
        ['tapOn', { text: 'Privacy' }],
        ['inputText', { text: 'hello' }],
        ['swipe', { direction: 'left' }],
        ['openFolder', { name: 'Tools' }],
        ['statusBar', { action: 'down' }],
        ['openSettings', { page: 'about' }],
        ['wait', { ms: 500 }],
        ['background', {}],
        ['assertNoRequest', { host: '*.miui.com' }],
        ['runFlow', { file: '_004_subflow.yaml', env: { PAGE_TITLE: 'Privacy' } }],
      ]);
      assert.deepEqual(s.steps[0]!.pos, { file: fixture('001_shorthands.yaml'), line: 6, col: 3 });
      assert.equal(s.steps[12]!.path, 'steps[12]');
      const flow = s.steps[14]!;
      assert.deepEqual(brief(flow.children!), [
        ['openSettings', { page: 'privacy' }],
        ['tapOn', { text: '${PAGE_TITLE}' }],
      ]);
      assert.equal(flow.children![1]!.path, 'steps[14].runFlow.steps[1]');
      assert.deepEqual(flow.children![1]!.pos, { file: fixture('_004_subflow.yaml'), line: 7, col: 3 });
    });

    it('Case 002 - every map form, the per-step options and every header key', () => {
      const s = parseScenarioFile(fixture('002_map_forms.yaml'), { env: { HOME: '/root' } });
      assert.deepEqual(s.config, {
        name: 'Every map form',
        description: 'The long forms.',
        tags: ['fixture'],
        env: { SITE: 'example.com', COUNT: '3' },
        canaries: ['url'],
        when: {
          profiles: ['redmi-note-8-leaky'],
          os: ['MIUI', 'HyperOS'],
          region: ['global'],
          rooted: true,
          app: 'com.mi.globalbrowser',
        },
        portable: true,
      });
      assert.deepEqual(brief(s.steps), [
        ['launchApp', { app: 'com.android.settings' }],
        ['openUrl', { url: 'https://${SITE}/${canary.url}' }],
        ['search', { query: 'weather ${canary.url}', engine: 'duckduckgo' }],
        ['incognito', { on: true }],
        ['setToggle', { name: 'browser.incognitoDataCollection', on: false }],
        ['tapOn', { id: 'com.android.settings:id/title', index: 1 }],
        ['inputText', { text: '${env.HOME}' }],
        ['swipe', { direction: 'up' }],
        ['openFolder', { name: 'Tools' }],
        ['statusBar', { action: 'up' }],
        ['openSettings', { page: 'ad_services' }],
        ['wait', { ms: 1000 }],
        ['background', {}],
        ['assertNoUpload', { to: 'tracker', containing: 'canary' }],
        ['assertNoUpload', { to: 'vendor', value: 'Xiaomi', containing: 'identifier', identifier: 'ad_id' }],
        ['assertUpload', { to: 'host', value: '*.miui.com', containing: 'any' }],
        ['assertNoRequest', { host: 'mqs-log.miui.com' }],
        ['assertToggle', { name: 'miui.personalisedAds', on: false }],
      ]);
      assert.equal(s.steps[0]!.label, 'Open Settings');
      assert.equal(s.steps[1]!.optional, true);
      assert.equal(s.steps[1]!.label, undefined);
      assert.deepEqual([s.steps[4]!.label, s.steps[4]!.optional], ['Switch off', true]);
      assert.equal(s.steps[12]!.label, 'Flush');
    });

    it('Case 003 - repeat, retry and runFlow carry their steps as children', () => {
      const s = parseScenarioFile(fixture('003_flow_control.yaml'));
      const [repeat, retry, flow, stepsOnly] = s.steps;
      assert.deepEqual(repeat!.args, { times: 2, commands: [{ swipe: 'left' }, { swipe: 'right' }] });
      assert.deepEqual(brief(repeat!.children!), [
        ['swipe', { direction: 'left' }],
        ['swipe', { direction: 'right' }],
      ]);
      assert.equal(repeat!.children![1]!.path, 'steps[0].repeat.commands[1]');
      assert.deepEqual(repeat!.children![1]!.pos, {
        file: fixture('003_flow_control.yaml'),
        line: 7,
        col: 9,
      });
      assert.equal(retry!.label, 'Find privacy');
      assert.deepEqual(brief(retry!.children!), [
        ['openSettings', { page: 'passwords_security' }],
        ['tapOn', { text: 'Privacy' }],
      ]);
      // The runFlow's env overrides the sub-flow's header env.
      assert.deepEqual(flow!.args, { file: '_004_subflow.yaml', env: { PAGE_TITLE: 'Privacy settings' } });
      assert.equal(flow!.children!.length, 2);
      // A sub-flow may be a bare list of steps.
      assert.deepEqual(brief(stepsOnly!.children!), [
        ['statusBar', { action: 'down' }],
        ['statusBar', { action: 'up' }],
      ]);
      assert.equal(stepsOnly!.children![0]!.path, 'steps[3].runFlow.steps[0]');
    });

    it('parses every shipped scenario', () => {
      const all = loadScenarios(['scenarios']);
      assert.equal(all.length, 9);
      const ads = all.find((s) => s.file.endsWith('personalised-ads.yaml'))!;
      assert.deepEqual(ads.steps.at(-1)!.args, {
        to: 'tracker',
        value: 'xiaomi-splash-ads',
        containing: 'identifier',
        identifier: 'ad_id',
      });
    });
  });

  describe('invalid fixtures (exact messages)', () => {
    it('Case 101 - YAML syntax (bad indentation) with line:col', () => {
      assert.equal(
        problemsOf(() => parseScenarioFile(fixture('101_bad_indentation.yaml'))),
        `${fixture('101_bad_indentation.yaml')}:4:9 YAML syntax: Nested mappings are not allowed in compact mappings\n` +
          "  fix: check the indentation: a step's arguments sit under its name, two spaces deeper (`- tapOn:` then `    text: OK`), and a value holding `: ` or starting with `{`, `[`, `*` or `&` needs quotes",
      );
    });

    it('Case 102 - a file without "---" gets a worked example', () => {
      assert.equal(
        problemsOf(() => parseScenarioFile(fixture('102_missing_separator.yaml'))),
        `${fixture('102_missing_separator.yaml')}:1:1 a scenario file is two YAML documents, a config header and the steps, separated by "---"; this one has only the steps (no header and no "---")\n` +
          '  fix: write it like this:\n' +
          '    name: Incognito browsing is not reported\n' +
          '    tags: [incognito]\n' +
          '    canary: [url]\n' +
          '    ---\n' +
          '    - launchApp: browser\n' +
          '    - incognito: on\n' +
          '    - openUrl: https://news.example.com/${canary.url}\n' +
          '    - background\n' +
          '    - assertNoUpload: {to: tracker, containing: canary}',
      );
    });

    it('Case 103 - an unknown step lists the known steps and suggests one', () => {
      assert.equal(
        problemsOf(() => parseScenarioFile(fixture('103_unknown_step.yaml'))),
        `${fixture('103_unknown_step.yaml')}:4:3 steps[1]: unknown step "tapOnn" (did you mean "tapOn"?)\n  fix: ${KNOWN_STEPS}`,
      );
    });

    it('Case 104 - a wrong argument type points at the value', () => {
      assert.equal(
        problemsOf(() => parseScenarioFile(fixture('104_wrong_arg_type.yaml'))),
        `${fixture('104_wrong_arg_type.yaml')}:5:12 steps[0].tapOn.index: expected a whole number for index, got "first"\n` +
          '  fix: write it like `tapOn: Tools`',
      );
    });

    it('Case 105 - an unknown header key lists the known ones', () => {
      assert.equal(
        problemsOf(() => parseScenarioFile(fixture('105_unknown_header_key.yaml'))),
        `${fixture('105_unknown_header_key.yaml')}:2:1 header.tag: unknown key "tag" (did you mean "tags"?)\n  fix: ${HEADER_KEYS}`,
      );
    });

    it('Case 106 - an undeclared canary reference, at the reference itself', () => {
      assert.equal(
        problemsOf(() => parseScenarioFile(fixture('106_undeclared_canary.yaml'))),
        `${fixture('106_undeclared_canary.yaml')}:4:11 steps[0].search: \${canary.serch}: canary "serch" is not declared (did you mean "search"?)\n` +
          "  fix: declare it in the scenario's header: canary: [search, serch]",
      );
    });

    it('Case 107 - a runFlow cycle names the chain', () => {
      assert.equal(
        problemsOf(() => parseScenarioFile(fixture('107_cycle.yaml'))),
        `${fixture('_107_cycle_b.yaml')}:2:12 steps[0].runFlow.steps[1].runFlow.file: runFlow cycle: 107_cycle.yaml → _107_cycle_b.yaml → 107_cycle.yaml\n` +
          '  fix: a sub-flow may not (directly or through others) run a file that runs it; remove one of these runFlow steps',
      );
    });

    it('Case 108 - every problem of a file is reported at once', () => {
      const f = fixture('108_several_errors.yaml');
      const err = thrown(() => parseScenarioFile(f)) as ScenarioError;
      assert.equal(err.problems.length, 6);
      assert.equal(
        err.message,
        [
          '6 problems in scenario files:',
          `${f}:2:1 header.colour: unknown key "colour"`,
          `  fix: ${HEADER_KEYS}`,
          `${f}:5:9 steps[1].wait: expected a number of milliseconds, got "soon"`,
          '  fix: write it like `wait: 500`',
          `${f}:6:10 steps[2].swipe: expected one of left, right, up, down, got "sideways"`,
          '  fix: write it like `swipe: left`',
          `${f}:9:9 steps[3].setToggle.on: expected true or false for on, got "off"`,
          '  fix: write true or false (YAML reads off as text here)',
          `${f}:10:32 steps[4].openUrl: \${canary.url}: canary "url" is not declared`,
          "  fix: declare it in the scenario's header: canary: [url]",
          `${f}:11:3 steps[5]: unknown step "statusBarr" (did you mean "statusBar"?)`,
          `  fix: ${KNOWN_STEPS}`,
        ].join('\n'),
      );
    });

    it('Case 109 - problems inside sub-flows carry the sub-flow file and position', () => {
      assert.equal(
        problemsOf(() => parseScenarioFile(fixture('109_subflow_problems.yaml'))),
        [
          '3 problems in scenario files:',
          `${fixture('_109_bad_subflow.yaml')}:1:1 header.tags: unknown key "tags"`,
          '  fix: a sub-flow header may only hold name, description and env; tags, canary and when belong to the scenario that runs it',
          `${fixture('_109_bad_subflow.yaml')}:3:9 steps[0].runFlow.steps[0].wait: ms must be at least 1`,
          '  fix: write it like `wait: 500`',
          `${fixture('109_subflow_problems.yaml')}:4:12 steps[1].runFlow.file: no such file: ${fixture('_missing.yaml')}`,
          `  fix: runFlow paths are relative to the including file's folder (${FIXTURES})`,
        ].join('\n'),
      );
    });

    it('Case 110 - malformed steps: two keys, a missing space, shorthand not allowed, bad enum, not a step', () => {
      const f = fixture('110_step_shapes.yaml');
      assert.equal(
        problemsOf(() => parseScenarioFile(f)),
        [
          '5 problems in scenario files:',
          `${f}:3:3 steps[0]: a step is a one-key map, this one has 2 keys (openFolder, label)`,
          '  fix: put label inside the step\'s map, indented under "openFolder:" (e.g. `- openFolder: {…, label: …}`)',
          `${f}:5:3 steps[1]: "openUrl:https://example.com" is not a step: a space is missing after "openUrl:"`,
          '  fix: write `- openUrl: https://example.com`',
          `${f}:6:14 steps[2].setToggle: setToggle takes a map of arguments (name, on), not a single value`,
          '  fix: write it like this:',
          '    - setToggle:',
          '        name: browser.incognitoDataCollection',
          '        on: false',
          `${f}:9:17 steps[3].assertNoUpload.containing: expected one of canary, identifier, any, got "anything"`,
          '  fix: write it like this:',
          '    - assertNoUpload:',
          '        containing: canary',
          '        control: incognito-reported',
          `${f}:10:3 steps[4]: expected a step (a step name or a one-key map like \`openUrl: https://…\`), got number 42`,
          `  fix: ${KNOWN_STEPS}`,
        ].join('\n'),
      );
    });
  });

  describe('text cases', () => {
    const msg = (text: string, env: Record<string, string> = {}) =>
      problemsOf(() => parseScenarioText(text, 't.yaml', { env }));

    it('checks ${NAME} against the header env, ${env.NAME} against the environment', () => {
      const text = 'env: {SITE: a.com}\n---\n- openUrl: https://${SIT}/${env.LAB_HOST}\n';
      assert.equal(
        msg(text),
        [
          '2 problems in scenario files:',
          't.yaml:3:20 steps[0].openUrl: ${SIT}: unknown variable "SIT" (did you mean "SITE"?)',
          "  fix: define it in the header's env (env: {SIT: …}), or write ${env.SIT} for the process environment",
          't.yaml:3:27 steps[0].openUrl: ${env.LAB_HOST}: the environment variable LAB_HOST is not set',
          "  fix: set it before running (export LAB_HOST=…), or define LAB_HOST in the header's env and write ${LAB_HOST}",
        ].join('\n'),
      );
      const ok = parseScenarioText(text.replace('${SIT}', '${SITE}'), 't.yaml', { env: { LAB_HOST: 'x' } });
      assert.equal(ok.steps[0]!.args.url, 'https://${SITE}/${env.LAB_HOST}');
    });

    it('rejects bad and unterminated references, and references in header env values', () => {
      assert.equal(
        msg('env: {A: "${env.B}"}\n---\n- inputText: "${1x} ${A"\n'),
        [
          '3 problems in scenario files:',
          't.yaml:1:10 header.env.A: header env values are literal and may not hold ${…} references',
          '  fix: use the reference in the steps instead (e.g. `openUrl: https://${env.HOST}/`)',
          't.yaml:3:15 steps[0].inputText: bad reference ${1x}',
          '  fix: write ${NAME} (header env), ${env.NAME} (process environment) or ${canary.NAME}',
          't.yaml:3:21 steps[0].inputText: unterminated ${ reference',
          '  fix: close it with }: ${NAME}',
        ].join('\n'),
      );
    });

    it('reports header value errors at the value, and keeps the good keys', () => {
      assert.equal(
        msg(
          'tags: [a, 1]\ncanary: [url, url]\nwhen: {os: Android}\n---\n- openUrl: https://x/${canary.url}\n',
        ),
        [
          '3 problems in scenario files:',
          't.yaml:1:11 header.tags[1]: expected a string for tag, got number 1',
          't.yaml:3:12 header.when.os: expected one of MIUI, HyperOS, got "Android"',
          't.yaml:2:15 header.canary[1]: canary "url" is declared twice',
          '  fix: list each canary once',
        ].join('\n'),
      );
    });

    it('explains files with one, three or no documents', () => {
      assert.match(
        msg('name: x\n'),
        /^t\.yaml:1:1 a scenario file .*; this one has only a header \(no "---" and no steps\)\n {2}fix: write it like this:\n/,
      );
      assert.match(msg(''), /^t\.yaml:1:1 a scenario file .*; this file is empty\n/);
      assert.equal(
        msg('name: x\n---\n- background\n---\n- background\n'),
        't.yaml:4:1 expected two YAML documents (the config header, "---", the steps), found 3\n' +
          '  fix: keep one "---" line, between the header and the steps',
      );
      assert.equal(
        msg('name: x\n---\n'),
        't.yaml:2:4 steps: no steps after "---"\n  fix: write one step per line after "---", e.g.\n    - launchApp: browser\n    - background',
      );
    });

    it('names missing arguments, wrong shorthands and per-step option types', () => {
      assert.equal(
        msg(
          'name: x\n---\n- setToggle: {name: miui.diagnosticData}\n- incognito: maybe\n- launchApp\n- tapOn: {index: 1, optional: yes}\n',
        ),
        [
          '5 problems in scenario files:',
          't.yaml:3:14 steps[0].setToggle.on: missing required key "on"',
          '  fix: write it like this:\n    - setToggle:\n        name: browser.incognitoDataCollection\n        on: false',
          't.yaml:4:14 steps[1].incognito: expected on or off, got "maybe"',
          '  fix: write it like `incognito: on`',
          't.yaml:5:3 steps[2]: launchApp needs arguments',
          '  fix: write it like `launchApp: browser`',
          't.yaml:6:31 steps[3].tapOn.optional: expected true or false, got "yes"',
          '  fix: write `optional: true`',
          't.yaml:6:10 steps[3].tapOn: give text, id or desc',
          '  fix: write it like `tapOn: Tools`',
        ].join('\n'),
      );
    });

    it('checks assertion argument combinations', () => {
      assert.equal(
        msg(
          'name: x\n---\n- assertUpload: {to: host, containing: any}\n- assertNoUpload: {to: tracker, containing: canary, identifier: ad_id}\n',
        ),
        [
          '2 problems in scenario files:',
          't.yaml:3:17 steps[0].assertUpload.value: value is required with to: host (the host pattern)',
          '  fix: write it like this:\n    - assertUpload:\n        to: tracker\n        value: miui-analytics\n        containing: any\n        id: uep-reported',
          't.yaml:4:65 steps[1].assertNoUpload.identifier: identifier is only allowed with containing: identifier',
          '  fix: write it like this:\n    - assertNoUpload:\n        containing: canary\n        control: incognito-reported',
        ].join('\n'),
      );
    });

    it('takes the scenario name from the file name by default', () => {
      const s = parseScenarioText('{}\n---\n- background\n', 'dir/my-scenario.yml');
      assert.equal(s.config.name, 'my-scenario');
      assert.deepEqual(s.config.tags, []);
    });
  });

  describe('loadScenarios', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'phonehome-scenarios-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('expands folders (sorted, skipping _sub-flows) and filters by tag', () => {
      writeFileSync(join(dir, 'b.yaml'), 'tags: [x]\n---\n- background\n');
      writeFileSync(join(dir, 'a.yml'), 'tags: [y, z]\n---\n- runFlow: _sub.yaml\n');
      writeFileSync(join(dir, '_sub.yaml'), '- background\n');
      writeFileSync(join(dir, 'notes.txt'), 'not a scenario');
      assert.deepEqual(
        loadScenarios([dir]).map((s) => s.config.name),
        ['a', 'b'],
      );
      assert.deepEqual(
        loadScenarios([dir], { tags: ['x'] }).map((s) => s.config.name),
        ['b'],
      );
      assert.deepEqual(
        loadScenarios([join(dir, 'b.yaml'), join(dir, 'a.yml')], { tags: ['z', 'x'] }).map(
          (s) => s.config.name,
        ),
        ['b', 'a'],
      );
    });

    it('collects the problems of every file, and of missing paths', () => {
      writeFileSync(join(dir, 'a.yaml'), 'name: a\n---\n- wiat: 5\n');
      writeFileSync(join(dir, 'b.yaml'), 'nme: b\n---\n- background\n');
      const missing = join(dir, 'nope.yaml');
      const err = thrown(() => loadScenarios([missing, dir])) as ScenarioError;
      assert.ok(err instanceof ScenarioError);
      assert.deepEqual(
        err.problems.map((p) => `${p.pos.file}:${p.pos.line}:${p.pos.col} ${p.message}`),
        [
          `${missing}:0:0 no such file or folder`,
          `${join(dir, 'a.yaml')}:3:3 unknown step "wiat" (did you mean "wait"?)`,
          `${join(dir, 'b.yaml')}:1:1 unknown key "nme" (did you mean "name"?)`,
        ],
      );
      assert.match(
        err.message,
        /^3 problems in scenario files:\n.*nope\.yaml: no such file or folder\n {2}fix: /,
      );
    });

    it('reports every invalid fixture when loading the fixture folder', () => {
      const err = thrown(() => loadScenarios([FIXTURES], { env: { HOME: '/root' } })) as ScenarioError;
      const files = new Set(err.problems.map((p) => p.pos.file.split('/').pop()));
      assert.deepEqual([...files].sort(), [
        '101_bad_indentation.yaml',
        '102_missing_separator.yaml',
        '103_unknown_step.yaml',
        '104_wrong_arg_type.yaml',
        '105_unknown_header_key.yaml',
        '106_undeclared_canary.yaml',
        '108_several_errors.yaml',
        '109_subflow_problems.yaml',
        '110_step_shapes.yaml',
        '_107_cycle_b.yaml',
        '_109_bad_subflow.yaml',
      ]);
    });
  });

  describe('did you mean', () => {
    it('measures edit distance', () => {
      assert.equal(levenshtein('tapOnn', 'tapOn'), 1);
      assert.equal(levenshtein('', 'abc'), 3);
      assert.equal(levenshtein('kitten', 'sitting'), 3);
    });
    it('suggests close names only', () => {
      assert.equal(didYouMean('opnUrl', ['openUrl', 'tapOn']), 'openUrl');
      assert.equal(didYouMean('TAPON', ['openUrl', 'tapOn']), 'tapOn');
      assert.equal(didYouMean('frobnicate', ['openUrl', 'tapOn']), undefined);
      assert.equal(didYouMean('x', []), undefined);
    });
  });
});
