/**
 * A tiny, strict XML 1.0 parser for tests (no DTDs, no namespaces processing): it rejects what a
 * conforming parser rejects for the documents we write (characters XML cannot carry, a raw `<` or `&`,
 * `]]>` in text, unknown entities, mismatched or duplicate tags and attributes) and returns the tree
 * with entities decoded, so a test can compare values with what went in.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The decoded text directly inside (all text nodes joined). */
  text: string;
}

const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*/;
// Chars XML 1.0 allows: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
const BAD_CHAR = /[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u;

export function parseXml(xml: string): XmlElement {
  const bad = BAD_CHAR.exec(xml);
  if (bad) throw new Error(`character U+${bad[0].codePointAt(0)!.toString(16)} not allowed at ${bad.index}`);
  let i = 0;
  const fail = (m: string): never => {
    throw new Error(`${m} at ${i}: ${JSON.stringify(xml.slice(i, i + 40))}`);
  };
  const decode = (s: string, inAttr: boolean): string => {
    if (s.includes('<')) fail("raw '<'");
    return s.replace(/&([^;]*);?/g, (m, ref: string) => {
      if (!m.endsWith(';')) fail("raw '&'");
      if (ref === 'lt') return '<';
      if (ref === 'gt') return '>';
      if (ref === 'amp') return '&';
      if (ref === 'quot') return '"';
      if (ref === 'apos') return "'";
      const num = /^#x([0-9a-fA-F]+)$/.exec(ref) ?? /^#([0-9]+)$/.exec(ref);
      if (!num) return fail(`unknown entity &${ref};`);
      const cp = parseInt(num[1]!, ref.startsWith('#x') ? 16 : 10);
      const ch = String.fromCodePoint(cp);
      if (BAD_CHAR.test(ch)) fail(`reference to a character not allowed (&${ref};)`);
      return ch;
    });
    void inAttr;
  };
  const skipWs = () => {
    while (i < xml.length && /\s/.test(xml[i]!)) i++;
  };
  const skipMisc = () => {
    for (;;) {
      skipWs();
      if (xml.startsWith('<!--', i)) {
        const end = xml.indexOf('-->', i + 4);
        if (end < 0) fail('unterminated comment');
        i = end + 3;
      } else if (xml.startsWith('<?', i) && !xml.startsWith('<?xml ', i)) {
        const end = xml.indexOf('?>', i);
        if (end < 0) fail('unterminated processing instruction');
        i = end + 2;
      } else return;
    }
  };
  if (xml.startsWith('<?xml ')) {
    const end = xml.indexOf('?>');
    if (end < 0) fail('unterminated XML declaration');
    if (!/^<\?xml version="1\.0"( encoding="UTF-8")?\s*$/.test(xml.slice(0, end)))
      fail('bad XML declaration');
    i = end + 2;
  }
  const element = (): XmlElement => {
    if (xml[i] !== '<') fail("expected '<'");
    i++;
    const name = NAME.exec(xml.slice(i))?.[0] ?? fail('expected a tag name');
    i += name.length;
    const el: XmlElement = { name, attrs: {}, children: [], text: '' };
    for (;;) {
      const before = i;
      skipWs();
      if (xml.startsWith('/>', i)) {
        i += 2;
        return el;
      }
      if (xml[i] === '>') {
        i++;
        break;
      }
      if (i === before) fail('expected whitespace before an attribute');
      const an = NAME.exec(xml.slice(i))?.[0] ?? fail('expected an attribute name');
      i += an.length;
      skipWs();
      if (xml[i] !== '=') fail("expected '='");
      i++;
      skipWs();
      const q = xml[i];
      if (q !== '"' && q !== "'") fail('expected a quoted value');
      const end = xml.indexOf(q!, i + 1);
      if (end < 0) fail('unterminated attribute value');
      if (an in el.attrs) fail(`duplicate attribute ${an}`);
      // attribute-value normalisation: literal whitespace becomes a space; references keep theirs
      el.attrs[an] = decode(xml.slice(i + 1, end).replace(/[\t\n\r]/g, ' '), true);
      i = end + 1;
    }
    for (;;) {
      const lt = xml.indexOf('<', i);
      if (lt < 0) fail(`unterminated <${name}>`);
      const raw = xml.slice(i, lt);
      if (raw.includes(']]>')) fail("']]>' in text");
      el.text += decode(raw.replace(/\r\n?/g, '\n'), false);
      i = lt;
      if (xml.startsWith('</', i)) {
        i += 2;
        if (!xml.startsWith(name, i)) fail(`expected </${name}>`);
        i += name.length;
        skipWs();
        if (xml[i] !== '>') fail("expected '>'");
        i++;
        return el;
      }
      if (xml.startsWith('<!--', i)) {
        const end = xml.indexOf('-->', i + 4);
        if (end < 0) fail('unterminated comment');
        i = end + 3;
        continue;
      }
      if (xml.startsWith('<![CDATA[', i)) {
        const end = xml.indexOf(']]>', i);
        if (end < 0) fail('unterminated CDATA');
        el.text += xml.slice(i + 9, end);
        i = end + 3;
        continue;
      }
      el.children.push(element());
    }
  };
  skipMisc();
  const root = element();
  skipMisc();
  if (i !== xml.length) fail('content after the root element');
  return root;
}
