/**
 * orderByControls (src/runner/controls.ts): the scenarios that define a positive control run before
 * the ones that name it, the order is kept otherwise, cycles do not loop, and a control no scenario
 * of the run defines is a warning with the place that names it. Also: the shipped suites name only
 * controls the shipped scenarios define.
 */
import assert from 'node:assert/strict';
import { controlsDefined, controlsNamed, orderByControls } from '../../../src/runner/controls.ts';
import { loadScenarios, parseScenarioText } from '../../../src/scenario/parse.ts';
import type { Scenario } from '../../../src/scenario/types.ts';

/** A scenario file `name.yaml` with these steps (YAML lines). */
function sc(name: string, ...steps: string[]): Scenario {
  return parseScenarioText(`canary: [url]\n---\n${steps.join('\n')}\n`, `suite/${name}.yaml`);
}
const defines = (id: string) => `- assertUpload: {to: tracker, containing: any, id: ${id}}`;
const names = (id: string) => `- assertNoUpload: {containing: canary, control: ${id}}`;
const visit = '- openUrl: https://news.example.com/${canary.url}';
const order = (list: Scenario[]) => orderByControls(list).ordered.map((s) => s.config.name);

describe('runner: positive controls across scenarios (orderByControls)', () => {
  it('finds the controls a scenario defines and names, nested steps included', () => {
    const s = sc(
      'mixed',
      visit,
      defines('a'),
      '- repeat:\n    times: 2\n    commands:\n      - assertNoRequest: {host: mqs-log.miui.com, control: b}',
      names('c'),
    );
    assert.deepEqual(controlsDefined(s), ['a']);
    assert.deepEqual(controlsNamed(s), [
      { id: 'b', where: 'suite/mixed.yaml:8:9' },
      { id: 'c', where: 'suite/mixed.yaml:9:3' },
    ]);
  });

  it('puts the scenario that defines a control before the ones that name it', () => {
    const a = sc('a-names', visit, names('ctl'));
    const b = sc('b-plain', visit);
    const c = sc('c-defines', visit, defines('ctl'));
    assert.deepEqual(order([a, b, c]), ['c-defines', 'a-names', 'b-plain']);
    assert.deepEqual(orderByControls([a, b, c]).warnings, []);
  });

  it('keeps the given order otherwise (stable), and when the provider already comes first', () => {
    const list = ['d', 'b', 'a', 'c'].map((n) => sc(n, visit));
    assert.deepEqual(order(list), ['d', 'b', 'a', 'c']);
    const p = sc('provider', visit, defines('x'));
    const u1 = sc('user1', visit, names('x'));
    const other = sc('other', visit);
    const u2 = sc('user2', visit, names('x'));
    assert.deepEqual(order([other, p, u1, u2]), ['other', 'provider', 'user1', 'user2']);
    // A scenario naming its own control stays where it is.
    const self = sc('self', visit, defines('own'), names('own'));
    assert.deepEqual(order([other, self]), ['other', 'self']);
  });

  it('chains of controls: the provider of a provider goes first too', () => {
    const a = sc('a', visit, names('b-ctl'));
    const b = sc('b', visit, defines('b-ctl'), names('c-ctl'));
    const c = sc('c', visit, defines('c-ctl'));
    assert.deepEqual(order([a, b, c]), ['c', 'b', 'a']);
  });

  it('a cycle terminates and places every scenario once', () => {
    const a = sc('a', visit, defines('x'), names('y'));
    const b = sc('b', visit, defines('y'), names('x'));
    const { ordered, warnings } = orderByControls([a, b]);
    assert.equal(ordered.length, 2);
    assert.deepEqual(new Set(ordered), new Set([a, b]));
    assert.deepEqual(warnings, []);
  });

  it('warns, with file:line:col, about a control that no scenario of the run defines', () => {
    const a = sc('a', visit, names('missing'));
    const { ordered, warnings } = orderByControls([a]);
    assert.deepEqual(ordered, [a]);
    assert.deepEqual(warnings, [
      "suite/a.yaml:4:3: control missing is defined by no scenario of this run (assertUpload with id: missing); the check that names it will be broken. Add the control's scenario to the run",
    ]);
  });

  it('the shipped suites name only controls the shipped scenarios define (incognito-reported among them)', () => {
    const all = loadScenarios(['scenarios']);
    const byFile = (f: string) => all.find((s) => s.file.endsWith(`/${f}`))!;
    assert.deepEqual(controlsDefined(byFile('incognito-data-collection-switch.yaml')), [
      'incognito-reported',
    ]);
    for (const f of [
      'incognito-browsing.yaml',
      'incognito-search-duckduckgo.yaml',
      'incognito-search-google.yaml',
    ])
      assert.ok(
        controlsNamed(byFile(f)).some((c) => c.id === 'incognito-reported'),
        `${f} names control: incognito-reported`,
      );
    const { ordered, warnings } = orderByControls(all);
    assert.deepEqual(warnings, []);
    const at = (f: string) => ordered.indexOf(byFile(f));
    for (const f of [
      'incognito-browsing.yaml',
      'incognito-search-duckduckgo.yaml',
      'incognito-search-google.yaml',
    ])
      assert.ok(at('incognito-data-collection-switch.yaml') < at(f), f);
    for (const s of all)
      for (const { id } of controlsNamed(s))
        assert.ok(
          all.some((d) => controlsDefined(d).includes(id)),
          `${s.file} names ${id}`,
        );
  });
});
