import assert from 'node:assert/strict';
import { ScenarioError, parseScenarioText } from '../../../src/scenario/parse.ts';
import { UserFacingError } from '../../../src/util/user-facing.ts';
import { thrown } from './helpers.ts';

const STEPS = '---\n- background\n';

function problems(text: string): string {
  const err = thrown(() => parseScenarioText(text, 't.yaml', { env: {} }));
  assert.ok(err instanceof ScenarioError, String(err));
  assert.ok(err instanceof UserFacingError);
  assert.equal(err.exitCode, 2);
  return err.message;
}

describe('scenario header: Allure labels and links (issue 12 §2)', () => {
  it('reads epic, feature, story (one or a list), severity, owner and links with their positions', () => {
    const s = parseScenarioText(
      [
        'name: Incognito',
        'epic: Browser privacy',
        'feature: [Incognito, Search]',
        'story: Incognito search',
        'severity: critical',
        'owner: qa-lab',
        'links:',
        '  - issue: PRIV-12',
        '  - {tms: 3, name: TC three}',
        '  - url: https://example.org/research',
        '    name: The research',
        STEPS,
      ].join('\n'),
      't.yaml',
      { env: {} },
    );
    const c = s.config;
    assert.deepEqual(
      [c.epic, c.feature, c.story, c.severity, c.owner],
      [['Browser privacy'], ['Incognito', 'Search'], ['Incognito search'], 'critical', 'qa-lab'],
    );
    assert.deepEqual(c.links, [
      { type: 'issue', id: 'PRIV-12', pos: { file: 't.yaml', line: 8, col: 5 } },
      { type: 'tms', id: '3', name: 'TC three', pos: { file: 't.yaml', line: 9, col: 5 } },
      {
        type: 'link',
        url: 'https://example.org/research',
        name: 'The research',
        pos: { file: 't.yaml', line: 10, col: 5 },
      },
    ]);
  });

  it('leaves the fields out when the header does not set them', () => {
    const c = parseScenarioText(`name: x\n${STEPS}`, 't.yaml', { env: {} }).config;
    for (const k of ['epic', 'feature', 'story', 'severity', 'owner', 'links'] as const) {
      assert.equal(k in c, false, k);
    }
  });

  it('names bad values at file:line:col, with the fix', () => {
    assert.equal(
      problems(
        [
          'severity: high',
          'owner: ""',
          'epic: [a, 2]',
          'links:',
          '  - isue: PRIV-1',
          '  - {issue: A, url: "https://x.example/"}',
          '  - url: ftp://x.example/file',
          '  - name: only a name',
          '  - issue: ""',
          STEPS,
        ].join('\n'),
      ),
      [
        '9 problems in scenario files:',
        't.yaml:1:11 header.severity: expected one of blocker, critical, normal, minor, trivial, got "high"',
        't.yaml:2:8 header.owner: owner is empty',
        't.yaml:3:11 header.epic[1]: expected a string for epic, got number 2',
        't.yaml:5:5 header.links[0].isue: unknown key "isue" (did you mean "issue"?)',
        '  fix: a link is {issue: ID}, {tms: ID} or {url: https://…}, each with an optional name',
        't.yaml:5:5 header.links[0]: a link needs one of issue, tms or url',
        't.yaml:6:5 header.links[1]: a link has one of issue, tms or url, not issue and url',
        't.yaml:7:10 header.links[2].url: expected an absolute http:// or https:// URL',
        't.yaml:8:5 header.links[3]: a link needs one of issue, tms or url',
        't.yaml:9:12 header.links[4].issue: the issue id is empty',
      ].join('\n'),
    );
  });

  it('says a severity typo and a links map (not a list) plainly', () => {
    assert.equal(
      problems(`severity: critcal\nlinks: {issue: PRIV-1}\n${STEPS}`),
      [
        '2 problems in scenario files:',
        't.yaml:1:11 header.severity: expected one of blocker, critical, normal, minor, trivial, got "critcal" (did you mean "critical"?)',
        't.yaml:2:8 header.links: expected a list of links, e.g. [{issue: PRIV-12}, {url: https://…}], got a map',
      ].join('\n'),
    );
  });
});
