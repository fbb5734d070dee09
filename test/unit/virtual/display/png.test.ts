import * as assert from 'node:assert/strict';
import { inflateSync, crc32 as zlibCrc32 } from 'node:zlib';
import type { Profile } from '../../../../src/virtual/profiles/load.ts';
import { miuiScreen } from './helpers.ts';
import { crc32, encodePng, COLOR_RGB } from '../../../../src/virtual/display/png.ts';
import { Canvas } from '../../../../src/virtual/display/canvas.ts';
import { appWindow } from '../../../../src/virtual/display/window.ts';
import { node, rect } from '../../../../src/virtual/display/node.ts';

function makeProfile(display = { width: 1080, height: 2340, density: 440 }): Profile {
  const pkg = (name: string, launcher?: string) => ({
    name,
    versionName: '1',
    versionCode: 1,
    path: `/system/app/${name}.apk`,
    system: true,
    launcher,
  });
  return {
    name: 'png-test',
    description: '',
    rooted: false,
    props: {},
    settings: { global: {}, secure: {}, system: {} },
    packages: [
      pkg('com.android.settings', 'com.android.settings/.Settings'),
      pkg('com.android.browser', 'com.android.browser/.BrowserActivity'),
      pkg('com.android.camera', 'com.android.camera/.Camera'),
      pkg('com.miui.home'),
    ],
    browser: 'com.android.browser',
    display,
    systemCaDir: '/system/etc/security/cacerts',
    sources: [],
  };
}

interface Decoded {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  bpp: number;
  raw: Buffer;
  chunkTypes: string[];
}

/** Checks signature, chunk order and CRCs, inflates IDAT; asserts the layout the brief requires. */
function decodePng(png: Buffer): Decoded {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'signature');
  let pos = 8;
  const types: string[] = [];
  const idat: Buffer[] = [];
  let ihdr: Buffer | undefined;
  while (pos < png.length) {
    const len = png.readUInt32BE(pos);
    const type = png.toString('latin1', pos + 4, pos + 8);
    const data = png.subarray(pos + 8, pos + 8 + len);
    const crc = png.readUInt32BE(pos + 8 + len);
    const typed = png.subarray(pos + 4, pos + 8 + len);
    assert.equal(crc, zlibCrc32(typed), `${type} CRC (zlib)`);
    assert.equal(crc, crc32(typed), `${type} CRC (ours)`);
    types.push(type);
    if (type === 'IHDR') ihdr = Buffer.from(data);
    if (type === 'IDAT') idat.push(data);
    pos += 12 + len;
  }
  assert.equal(pos, png.length, 'no trailing bytes');
  assert.equal(types[0], 'IHDR');
  assert.equal(types[types.length - 1], 'IEND');
  assert.ok(ihdr && ihdr.length === 13);
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  const bitDepth = ihdr[8]!;
  const colorType = ihdr[9]!;
  assert.deepEqual([ihdr[10], ihdr[11], ihdr[12]], [0, 0, 0], 'deflate, filter method 0, no interlace');
  assert.equal(bitDepth, 8);
  assert.ok(colorType === 2 || colorType === 6, 'RGB or RGBA');
  const bpp = colorType === 6 ? 4 : 3;
  const raw = inflateSync(Buffer.concat(idat));
  assert.equal(raw.length, height * (1 + width * bpp), 'scanline bytes');
  for (let y = 0; y < height; y++) assert.equal(raw[y * (1 + width * bpp)], 0, `filter byte of row ${y}`);
  return { width, height, bitDepth, colorType, bpp, raw, chunkTypes: types };
}

function pixel(d: Decoded, x: number, y: number): number[] {
  const off = y * (1 + d.width * d.bpp) + 1 + x * d.bpp;
  return [...d.raw.subarray(off, off + d.bpp)];
}

describe('virtual ui: screencap PNG', () => {
  it('crc32 matches the reference values', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32(Buffer.alloc(0)), 0);
    const data = Buffer.from('IEND');
    assert.equal(crc32(data), 0xae426082);
    assert.equal(crc32(Buffer.from('6789'), crc32(Buffer.from('12345'))), 0xcbf43926);
  });

  it('renders the home screen at display size as a valid PNG', () => {
    const s = miuiScreen(makeProfile());
    const png = s.renderPng();
    const d = decodePng(png);
    assert.equal(d.width, 1080);
    assert.equal(d.height, 2340);
    assert.equal(d.colorType, 6);
    assert.deepEqual(
      d.chunkTypes.filter((t) => t !== 'IDAT'),
      ['IHDR', 'IEND'],
    );
    // Opaque everywhere, and not a single flat colour.
    const colours = new Set<string>();
    for (let y = 0; y < d.height; y += 37) {
      for (let x = 0; x < d.width; x += 29) {
        const p = pixel(d, x, y);
        assert.equal(p[3], 255);
        colours.add(p.slice(0, 3).join(','));
      }
    }
    assert.ok(colours.size > 10, `varied picture (${colours.size} colours)`);
  });

  it('renders an app window: white body, dark title text, focused field border', () => {
    const s = miuiScreen(makeProfile());
    s.registerActivity('com.example.ui/.Main', (sc) => {
      const w = appWindow(sc, { title: 'Hello PNG' });
      w.content.children.push(
        node('EditText', {
          resourceId: 'com.example.ui:id/q',
          text: 'typed',
          focusable: true,
          clickable: true,
          focused: true,
          bounds: rect(40, 600, 1040, 760),
        }),
        node('Button', { text: 'OK', clickable: true, bounds: rect(40, 800, 1040, 960) }),
        node('TextView', { text: 'Ünïcödé ✓', bounds: rect(40, 1000, 1040, 1100) }),
      );
      return w.root;
    });
    s.startActivity('com.example.ui/.Main');
    const d = decodePng(s.renderPng({ alpha: false }));
    assert.equal(d.colorType, 2);
    assert.deepEqual(pixel(d, 540, 1800), [255, 255, 255], 'white window body');
    // The focused EditText has an accent border on its top edge.
    assert.deepEqual(pixel(d, 540, 600), [0x0d, 0x84, 0xff]);
    // Some dark text pixels in the action bar title row.
    let dark = 0;
    const barTop = s.statusBarHeight;
    for (let y = barTop; y < barTop + s.dp(56); y++) {
      for (let x = 0; x < 600; x++) if (pixel(d, x, y)[0]! < 100) dark++;
    }
    assert.ok(dark > 100, `title drawn (${dark} dark px)`);
  });

  it('handles other display sizes and a bare encoder call', () => {
    const s = miuiScreen(makeProfile({ width: 720, height: 1600, density: 320 }));
    const d = decodePng(s.renderPng());
    assert.equal(d.width, 720);
    assert.equal(d.height, 1600);
    const c = new Canvas(3, 2, { alpha: false, background: 0x112233 });
    c.fillRect(rect(1, 1, 3, 2), 0xff0000);
    const tiny = decodePng(c.toPng());
    assert.deepEqual(pixel(tiny, 0, 0), [0x11, 0x22, 0x33]);
    assert.deepEqual(pixel(tiny, 2, 1), [0xff, 0, 0]);
    assert.throws(() => encodePng({ width: 2, height: 2, colorType: COLOR_RGB, scanlines: Buffer.alloc(5) }));
  });
});
