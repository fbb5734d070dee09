import * as assert from 'node:assert/strict';
import type { UiNode } from '../../../../src/virtual/display/node.ts';
import { node, rect } from '../../../../src/virtual/display/node.ts';
import { uia2SourceXml } from '../../../../src/virtual/display/xml.ts';
import { snapshot, type ElNode, type Snapshot } from '../../../../src/virtual/uia2/tree.ts';
import { XPathError, evaluateXPath } from '../../../../src/virtual/uia2/xpath.ts';
import {
  UiSelectorError,
  parseUiSelector,
  selectAll,
  type UiExpression,
} from '../../../../src/virtual/uia2/uiselector.ts';

const P = 'com.example';

/**
 * FrameLayout
 *   LinearLayout#list (scrollable)
 *     LinearLayout row (clickable) > TextView "Wi-Fi", Switch#wifi (checked)
 *     LinearLayout row (clickable) > TextView "Bluetooth", Switch#bt
 *     TextView "hidden" (invisible)
 *   EditText#url (hint "Search")
 *   TextView off-screen (outside the root: left out)
 */
function tree(): UiNode {
  const row = (top: number, title: string, id: string, checked: boolean): UiNode =>
    node('LinearLayout', {
      packageName: P,
      clickable: true,
      bounds: rect(0, top, 100, top + 20),
      children: [
        node('TextView', { packageName: P, text: title, bounds: rect(0, top, 80, top + 20) }),
        node('Switch', {
          packageName: P,
          resourceId: `${P}:id/${id}`,
          checkable: true,
          checked,
          contentDesc: `${title} switch`,
          bounds: rect(80, top, 100, top + 20),
        }),
      ],
    });
  return node('FrameLayout', {
    packageName: P,
    bounds: rect(0, 0, 100, 200),
    children: [
      node('LinearLayout', {
        packageName: P,
        resourceId: `${P}:id/list`,
        scrollable: true,
        bounds: rect(0, 0, 100, 100),
        children: [
          row(0, 'Wi-Fi', 'wifi', true),
          row(20, 'Bluetooth', 'bt', false),
          node('TextView', { packageName: P, text: 'hidden', visible: false, bounds: rect(0, 40, 100, 60) }),
        ],
      }),
      node('EditText', {
        packageName: P,
        resourceId: `${P}:id/url`,
        hint: 'Search',
        clickable: true,
        bounds: rect(0, 100, 100, 130),
      }),
      node('TextView', { packageName: P, text: 'away', bounds: rect(300, 300, 400, 400) }),
    ],
  });
}

function snap(): Snapshot {
  return snapshot(tree(), 100, 200);
}

const texts = (els: ElNode[]): string[] =>
  els.map((e) => e.node.text || e.node.contentDesc || e.node.resourceId || e.node.className);

describe('uia2: hierarchy snapshot', () => {
  it('holds exactly the elements GET /source writes', () => {
    const s = snap();
    const xml = uia2SourceXml(tree(), { width: 100, height: 200 });
    const tags = [...xml.matchAll(/<(android\.[\w.]+) /g)].map((m) => m[1]);
    assert.deepEqual(
      s.all.map((e) => e.node.className),
      tags,
    );
    assert.ok(!s.all.some((e) => e.node.text === 'hidden' || e.node.text === 'away'));
  });
});

describe('uia2: xpath subset', () => {
  const xp = (expr: string, context?: ElNode): string[] => texts(evaluateXPath(expr, snap(), context));

  it('descendants, attributes, functions and boolean operators', () => {
    assert.deepEqual(xp('//android.widget.TextView'), ['Wi-Fi', 'Bluetooth']);
    assert.deepEqual(xp('//*[@text="Bluetooth"]'), ['Bluetooth']);
    assert.deepEqual(xp("//android.widget.Switch[@checked='true']"), ['Wi-Fi switch']);
    assert.deepEqual(xp('//*[contains(@content-desc, "switch") and @checked="false"]'), ['Bluetooth switch']);
    assert.deepEqual(xp('//*[starts-with(@resource-id, "com.example:id/w") or @text="Bluetooth"]'), [
      'Wi-Fi switch',
      'Bluetooth',
    ]);
    assert.deepEqual(xp('//*[not(@clickable="true")][@index="0"]'), [
      'android.widget.FrameLayout',
      'com.example:id/list',
      'Wi-Fi',
      'Bluetooth',
    ]);
    // an empty EditText reports its hint as its text, as in the dump
    assert.deepEqual(xp('//android.widget.EditText[@text="Search"]'), ['com.example:id/url']);
  });

  it('child paths, *, indexes, last(), .. and parenthesised selections', () => {
    assert.deepEqual(xp('/hierarchy/android.widget.FrameLayout/*'), [
      'com.example:id/list',
      'com.example:id/url',
    ]);
    assert.deepEqual(xp('//android.widget.LinearLayout[@clickable="true"][2]/android.widget.TextView'), [
      'Bluetooth',
    ]);
    assert.deepEqual(xp('//android.widget.LinearLayout[@resource-id="com.example:id/list"]/*[last()]/*[1]'), [
      'Bluetooth',
    ]);
    assert.deepEqual(xp('//android.widget.TextView[@text="Wi-Fi"]/../android.widget.Switch'), [
      'Wi-Fi switch',
    ]);
    assert.deepEqual(xp('(//android.widget.Switch)[2]'), ['Bluetooth switch']);
    assert.deepEqual(xp('//*[android.widget.TextView[@text="Bluetooth"]]/android.widget.Switch'), [
      'Bluetooth switch',
    ]);
    assert.deepEqual(xp('//android.widget.TextView[@text="Wi-Fi"]/following-sibling::*'), ['Wi-Fi switch']);
    assert.deepEqual(xp('//android.widget.Switch | //android.widget.EditText'), [
      'Wi-Fi switch',
      'Bluetooth switch',
      'com.example:id/url',
    ]);
  });

  it('relative to a context element', () => {
    const s = snap();
    const row2 = evaluateXPath('//android.widget.LinearLayout[@clickable="true"][2]', s)[0]!;
    assert.deepEqual(texts(evaluateXPath('.//android.widget.Switch', s, row2)), ['Bluetooth switch']);
    assert.deepEqual(texts(evaluateXPath('android.widget.TextView', s, row2)), ['Bluetooth']);
  });

  it('throws XPathError for what it does not support', () => {
    for (const bad of ['//x/@text', '//x[', '', '//x[foo()]', 'namespace::x', '//x/text()', '"str"']) {
      assert.throws(() => evaluateXPath(bad, snap()), XPathError, bad);
    }
  });
});

describe('uia2: UiSelector subset', () => {
  const ui = async (src: string): Promise<string[]> => {
    const s = snap();
    const found = await Promise.all(
      parseUiSelector(src).map(async (e: UiExpression) =>
        e.kind === 'selector' ? texts(await selectAll(e.selector, s)) : [],
      ),
    );
    return found.flat();
  };

  it('attribute methods, with and without the new UiSelector() head', async () => {
    assert.deepEqual(await ui('new UiSelector().resourceId("com.example:id/bt")'), ['Bluetooth switch']);
    assert.deepEqual(await ui('new UiSelector().text("Wi-Fi")'), ['Wi-Fi']);
    assert.deepEqual(await ui('UiSelector().textContains("tooth")'), ['Bluetooth']);
    assert.deepEqual(await ui('.textStartsWith("Wi")'), ['Wi-Fi']);
    assert.deepEqual(await ui('textMatches("B.*h")'), ['Bluetooth']);
    assert.deepEqual(await ui('new UiSelector().description("Wi-Fi switch")'), ['Wi-Fi switch']);
    assert.deepEqual(await ui('new UiSelector().descriptionContains("switch").checked(false)'), [
      'Bluetooth switch',
    ]);
    assert.deepEqual(await ui('new UiSelector().className("android.widget.Switch").instance(1)'), [
      'Bluetooth switch',
    ]);
    assert.deepEqual(await ui('new UiSelector().clickable(true).index(1)'), [
      'android.widget.LinearLayout',
      'com.example:id/url',
    ]);
    assert.deepEqual(await ui('new UiSelector().scrollable(true)'), ['com.example:id/list']);
    assert.deepEqual(await ui('new UiSelector().enabled(false)'), []);
    assert.deepEqual(await ui('new UiSelector().resourceIdMatches(".*:id/(wifi|bt)")'), [
      'Wi-Fi switch',
      'Bluetooth switch',
    ]);
  });

  it('childSelector, fromParent and several expressions', async () => {
    assert.deepEqual(
      await ui(
        'new UiSelector().clickable(true).childSelector(new UiSelector().className("android.widget.Switch"))',
      ),
      ['Wi-Fi switch', 'Bluetooth switch'],
    );
    assert.deepEqual(
      await ui('new UiSelector().text("Bluetooth").fromParent(new UiSelector().checkable(true))'),
      ['Bluetooth switch'],
    );
    assert.deepEqual(await ui('new UiSelector().text("Wi-Fi"); new UiSelector().text("Bluetooth")'), [
      'Wi-Fi',
      'Bluetooth',
    ]);
  });

  it('parses UiScrollable.scrollIntoView', () => {
    const [e] = parseUiSelector(
      'new UiScrollable(new UiSelector().scrollable(true)).setMaxSearchSwipes(3).scrollIntoView(new UiSelector().text("Bluetooth"))',
    );
    assert.equal(e?.kind, 'scrollable');
    assert.equal(e?.kind === 'scrollable' && e.maxSwipes, 3);
  });

  it('throws UiSelectorError for what it does not support', () => {
    for (const bad of [
      'new UiSelector().bogus("x")',
      'new UiSelector().text(1)',
      'new UiSelector().text("x"',
      'new UiSelector().textMatches("(")',
      'new UiScrollable(new UiSelector())',
      '',
    ]) {
      assert.throws(() => parseUiSelector(bad), UiSelectorError, bad);
    }
  });
});
