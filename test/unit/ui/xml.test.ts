import assert from 'node:assert/strict';
import { extractXml, findNode, matches, parseHierarchy, UiXmlError, allNodes } from '../../../src/ui/xml.ts';
import { uia2SourceXml, uiautomatorDumpXml } from '../../../src/virtual/display/xml.ts';
import { node, rect } from '../../../src/virtual/display/node.ts';
import { dumpOf } from './fakes.ts';

const DECL = "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>";
const B = 'bounds="[0,0][10,10]"';

describe('ui/xml: the strict hierarchy parser', () => {
  const tree = node('FrameLayout', {
    resourceId: 'com.x:id/root',
    bounds: rect(0, 0, 1080, 2340),
    children: [
      node('TextView', {
        resourceId: 'android:id/title',
        text: `a "quoted" <b> & 'x'\nline ☕`,
        bounds: rect(0, 0, 540, 100),
      }),
      node('Switch', {
        resourceId: 'android:id/switch_widget',
        checkable: true,
        checked: true,
        bounds: rect(600, 0, 700, 100),
      }),
    ],
  });

  it('reads what uiautomator dump writes (the virtual dumper), entities and all', () => {
    const xml = uiautomatorDumpXml(tree, { width: 1080, height: 2340 });
    const root = parseHierarchy(xml);
    const nodes = allNodes(root);
    assert.equal(nodes.length, 3);
    assert.equal(nodes[1]!.attrs.text, `a "quoted" <b> & 'x'\nline ☕`);
    assert.deepEqual(nodes[2]!.bounds, { left: 600, top: 0, right: 700, bottom: 100 });
    assert.equal(nodes[2]!.attrs.checked, 'true');
    assert.deepEqual(root.bounds, { left: 0, top: 0, right: 1080, bottom: 2340 });
  });

  it('reads the UiAutomator2 page source (class names as tags)', () => {
    const root = parseHierarchy(uia2SourceXml(tree, { width: 1080, height: 2340 }));
    const sw = findNode(root, { class: 'android.widget.Switch' });
    assert.equal(sw?.tag, 'android.widget.Switch');
    assert.equal(sw?.attrs['resource-id'], 'android:id/switch_widget');
  });

  it('extracts the XML from the tool output around it', () => {
    const out = `WARNING: linker\nUI hierchary dumped to: /dev/tty\n${DECL}<hierarchy rotation="0"><node ${B} /></hierarchy>\n`;
    const xml = extractXml(out)!;
    assert.ok(xml.startsWith('<?xml') && xml.endsWith('</hierarchy>'));
    assert.equal(extractXml('ERROR: could not get idle state.'), undefined);
    assert.equal(extractXml(`${DECL}<hierarchy rotation="0"><node ${B}>`), undefined, 'truncated');
  });

  it('accepts several window roots', () => {
    const root = parseHierarchy(
      `${DECL}<hierarchy rotation="0"><node ${B} /><node bounds="[0,0][5,50]" /></hierarchy>`,
    );
    assert.equal(root.children.length, 2);
    assert.deepEqual(root.bounds, { left: 0, top: 0, right: 10, bottom: 50 });
  });

  const bad: Array<[string, string, RegExp]> = [
    ['no declaration', `<hierarchy><node ${B} /></hierarchy>`, /no XML declaration/],
    ['truncated', `${DECL}<hierarchy rotation="0"><node ${B}>`, /unclosed <hierarchy> <node>/],
    ['unbalanced', `${DECL}<hierarchy><node ${B}></hierarchy>`, /<\/hierarchy> does not close <node>/],
    ['text content', `${DECL}<hierarchy>hello</hierarchy>`, /unexpected text/],
    ['duplicate attribute', `${DECL}<hierarchy><node ${B} ${B} /></hierarchy>`, /duplicate attribute bounds/],
    ['unknown entity', `${DECL}<hierarchy><node text="&nbsp;" ${B} /></hierarchy>`, /unknown entity/],
    ['bare ampersand', `${DECL}<hierarchy><node text="a & b" ${B} /></hierarchy>`, /bare '&'/],
    ['unquoted attribute', `${DECL}<hierarchy><node text=a ${B} /></hierarchy>`, /not quoted/],
    ['bad bounds', `${DECL}<hierarchy><node bounds="[0,0][1]" /></hierarchy>`, /bad bounds/],
    ['missing bounds', `${DECL}<hierarchy><node text="x" /></hierarchy>`, /bad bounds/],
    ['wrong root', `${DECL}<node ${B} />`, /root is <node>/],
    ['two roots', `${DECL}<hierarchy></hierarchy><hierarchy></hierarchy>`, /more than one root/],
    ['comment', `${DECL}<hierarchy><!-- x --></hierarchy>`, /comments/],
    ['empty', DECL, /no <hierarchy>/],
  ];
  for (const [what, xml, re] of bad) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => parseHierarchy(xml),
        (e: unknown) => e instanceof UiXmlError && re.test(e.message),
      );
    });
  }
});

describe('ui/xml: locator matching', () => {
  const root = parseHierarchy(
    dumpOf({
      id: 'app:id/root',
      bounds: [0, 0, 100, 100],
      kids: [
        {
          id: 'app:id/row1',
          bounds: [0, 0, 100, 50],
          kids: [{ id: 'android:id/title', text: 'Wi-Fi', bounds: [0, 0, 50, 50] }],
        },
        {
          id: 'app:id/row2',
          bounds: [0, 50, 100, 100],
          kids: [
            { id: 'android:id/title', text: 'Privacy settings', desc: 'priv', bounds: [0, 50, 50, 100] },
            {
              cls: 'android.widget.Switch',
              id: 'android:id/switch_widget',
              checked: true,
              bounds: [50, 50, 100, 100],
            },
          ],
        },
      ],
    }).replace(/^UI hierchary dumped to: \S+\n/, ''),
  );

  it('every criterion must hold', () => {
    assert.equal(
      findNode(root, { id: 'android:id/title', text: 'Privacy settings' })?.attrs['content-desc'],
      'priv',
    );
    assert.equal(findNode(root, { id: 'android:id/title', text: 'Nope' }), undefined);
    assert.equal(findNode(root, { textContains: 'Privacy' })?.attrs.text, 'Privacy settings');
    assert.equal(
      findNode(root, { desc: 'priv', class: 'android.widget.TextView' })?.attrs.text,
      'Privacy settings',
    );
  });

  it('within: an ancestor must match, not the node itself or a sibling', () => {
    const sw = findNode(root, { class: 'android.widget.Switch', within: { id: 'app:id/row2' } });
    assert.equal(sw?.attrs.checked, 'true');
    assert.equal(
      findNode(root, { class: 'android.widget.Switch', within: { id: 'app:id/row1' } }),
      undefined,
    );
    assert.equal(findNode(root, { id: 'app:id/row2', within: { id: 'app:id/row2' } }), undefined);
    const title = findNode(root, { text: 'Wi-Fi' })!;
    assert.equal(matches(title, { text: 'Wi-Fi', within: { id: 'app:id/root' } }), true);
  });
});
