/**
 * Test support for the Xiaomi behaviour acceptance tests (issue 3): a lab phone driven only through
 * the real adb CLI (`input`, `uiautomator dump`, `settings`, `am`, `su`), a mockttp HTTPS proxy on
 * the host whose CA is made a system CA, a classifier for what the proxy sees, a strict parser of
 * the UIAutomator XML, a PNG decoder, and the behaviour-table logic that turns a profile row into a
 * toggle state and the uploads it must produce.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { getLocal, generateCACertificate, type Mockttp } from 'mockttp';
import type { Profile, ProfileTelemetry, TelemetryRule } from '../../src/virtual/profiles/load.ts';
import {
  TELEMETRY_TOGGLES,
  type TelemetryEmitter,
  type TelemetryToggle,
} from '../../src/virtual/profiles/schema.ts';
import { parsePemCertificate, subjectHashOld, SYSTEM_FILE_LABEL } from '../../src/virtual/netstack/trust.ts';
import type { LabPhone } from '../../src/virtual/lab/virtual-lab.ts';
import { adbRun, startLab, type TestLab } from './lab.ts';

export const XIAOMI_PROFILES = [
  'redmi-note-8-leaky',
  'redmi-note-8-leaky-rooted',
  'redmi-note-8-fixed-rooted',
  'xiaomi-13-hyperos-rooted',
  'redmi-note-11-china',
] as const;

/** Queues that flush within a few hundred ms and retry quickly (the SDK defaults are 15 s to 30 min). */
const FAST = { flushCount: 100, flushIntervalMs: 150, maxBatch: 50, retryBaseMs: 200, retryMaxMs: 800 };
export const FAST_TIMINGS = { sensors: FAST, tracking: FAST, mistat: FAST };

export const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/** `p`, or a test failure naming `what` after `ms` (every wait in these tests is bounded). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` every 20 ms for at most `ms`; resolves to whether it became true. */
export async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= end) return false;
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------- UI XML

export interface Bounds {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export interface XmlNode {
  attrs: Record<string, string>;
  children: XmlNode[];
  parent: XmlNode | null;
  bounds: Bounds;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescapeXml(v: string, where: number): string {
  return v.replace(/&(#\d+|#x[0-9a-f]+|\w+);|&/gi, (m, e: string | undefined) => {
    if (!e) throw new Error(`bare '&' in an attribute near ${where}`);
    if (e.startsWith('#x') || e.startsWith('#X')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(Number(e.slice(1)));
    const r = ENTITIES[e];
    if (r === undefined) throw new Error(`unknown entity ${m} near ${where}`);
    return r;
  });
}

function parseBounds(s: string | undefined): Bounds {
  const m = /^\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]$/.exec(s ?? '');
  if (!m) throw new Error(`bad bounds '${s}'`);
  return { left: +m[1]!, top: +m[2]!, right: +m[3]!, bottom: +m[4]! };
}

/**
 * Parses `uiautomator dump` output strictly: the XML declaration, one `<hierarchy>` root holding
 * `<node>` elements with quoted attributes, balanced tags, known entities only. Throws on anything
 * else. Returns the `<hierarchy>` element.
 */
export function parseUiXml(text: string): XmlNode {
  const xml = text.replace(/UI hierchary dumped to: \S+\s*$/, '');
  const decl = /^<\?xml version='1\.0' encoding='UTF-8' standalone='yes' \?>/.exec(xml);
  if (!decl) throw new Error(`no XML declaration: ${xml.slice(0, 60)}`);
  let pos = decl[0].length;
  const tagRe = /\s*<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w-]*="[^"<]*")*)\s*(\/?)>/y;
  const attrRe = /([A-Za-z_][\w-]*)="([^"<]*)"/g;
  const stack: XmlNode[] = [];
  const names: string[] = [];
  let root: XmlNode | null = null;
  while (pos < xml.length) {
    if (/^\s*$/.test(xml.slice(pos))) break;
    tagRe.lastIndex = pos;
    const m = tagRe.exec(xml);
    if (!m) throw new Error(`malformed XML at ${pos}: ${xml.slice(pos, pos + 80)}`);
    pos = tagRe.lastIndex;
    const [, close, name, attrText, self] = m;
    if (close) {
      if (names.pop() !== name) throw new Error(`unbalanced </${name}> at ${pos}`);
      stack.pop();
      continue;
    }
    if (root && stack.length === 0) throw new Error('more than one root element');
    if (name !== (stack.length === 0 ? 'hierarchy' : 'node')) throw new Error(`unexpected <${name}>`);
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(attrRe)) {
      if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
      attrs[a[1]!] = unescapeXml(a[2]!, pos);
    }
    const parent = stack[stack.length - 1] ?? null;
    const n: XmlNode = {
      attrs,
      children: [],
      parent,
      bounds: name === 'node' ? parseBounds(attrs.bounds) : { left: 0, top: 0, right: 0, bottom: 0 },
    };
    if (parent) parent.children.push(n);
    else root = n;
    if (!self) {
      stack.push(n);
      names.push(name);
    }
  }
  if (stack.length) throw new Error(`unclosed <${names.join('> <')}>`);
  if (!root) throw new Error('no root element');
  if (root.children.length !== 1) throw new Error('the hierarchy holds one window root here');
  root.bounds = root.children[0]!.bounds;
  return root;
}

export function allNodes(root: XmlNode): XmlNode[] {
  const out: XmlNode[] = [];
  const rec = (n: XmlNode): void => {
    if (n.attrs.bounds !== undefined) out.push(n);
    n.children.forEach(rec);
  };
  rec(root);
  return out;
}

export const isTrue = (n: XmlNode, attr: string): boolean => n.attrs[attr] === 'true';

export function centre(b: Bounds): { x: number; y: number } {
  return { x: Math.floor((b.left + b.right) / 2), y: Math.floor((b.top + b.bottom) / 2) };
}

const inside = (b: Bounds, x: number, y: number): boolean =>
  x >= b.left && x < b.right && y >= b.top && y < b.bottom;

/**
 * The node a touch at (x, y) lands on, as Android dispatches it: children in reverse drawing order,
 * the deepest clickable view containing the point; otherwise the deepest view.
 */
export function hitTestXml(root: XmlNode, x: number, y: number): XmlNode | null {
  const clickable = (n: XmlNode): XmlNode | null => {
    if (!inside(n.bounds, x, y)) return null;
    for (let i = n.children.length - 1; i >= 0; i--) {
      const hit = clickable(n.children[i]!);
      if (hit) return hit;
    }
    return isTrue(n, 'clickable') ? n : null;
  };
  const deepest = (n: XmlNode): XmlNode | null => {
    if (!inside(n.bounds, x, y)) return null;
    for (let i = n.children.length - 1; i >= 0; i--) {
      const hit = deepest(n.children[i]!);
      if (hit) return hit;
    }
    return n;
  };
  const top = root.children[0]!;
  return clickable(top) ?? deepest(top);
}

export function describeNode(n: XmlNode): string {
  const a = n.attrs;
  return `${a.class} ${a['resource-id'] || '-'} '${a.text || a['content-desc'] || ''}' ${a.bounds}`;
}

function overlapArea(a: Bounds, b: Bounds): number {
  const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
  const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
  return w > 0 && h > 0 ? w * h : 0;
}

/**
 * What every screen must satisfy: every clickable node is non-empty, inside the display, its centre
 * lies in its bounds and a touch there lands on that very node; clickable siblings do not overlap.
 * Returns the clickable nodes.
 */
export function checkClickables(root: XmlNode, label: string, display: { width: number; height: number }) {
  const clickables = allNodes(root).filter((n) => isTrue(n, 'clickable'));
  assert.ok(clickables.length > 0, `${label}: something clickable`);
  for (const n of clickables) {
    const b = n.bounds;
    assert.ok(b.right > b.left && b.bottom > b.top, `${label}: ${describeNode(n)} is not empty`);
    assert.ok(
      b.left >= 0 && b.top >= 0 && b.right <= display.width && b.bottom <= display.height,
      `${label}: ${describeNode(n)} inside the ${display.width}x${display.height} display`,
    );
    const c = centre(b);
    assert.ok(inside(b, c.x, c.y), `${label}: centre of ${describeNode(n)} in its bounds`);
    const hit = hitTestXml(root, c.x, c.y);
    assert.equal(
      hit,
      n,
      `${label}: a tap at the centre of ${describeNode(n)} hits ${hit && describeNode(hit)}`,
    );
  }
  for (const n of allNodes(root)) {
    const kids = n.children.filter((c) => isTrue(c, 'clickable'));
    for (let i = 0; i < kids.length; i++)
      for (let j = i + 1; j < kids.length; j++)
        assert.equal(
          overlapArea(kids[i]!.bounds, kids[j]!.bounds),
          0,
          `${label}: clickable siblings overlap: ${describeNode(kids[i]!)} / ${describeNode(kids[j]!)}`,
        );
  }
  return clickables;
}

// ------------------------------------------------------------------------------------------- PNG

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface DecodedPng {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  /** Unfiltered scanlines, `height * width * channels` bytes (8-bit depth only). */
  pixels: Buffer;
  channels: number;
}

/** Decodes a non-interlaced 8-bit PNG fully: signature, chunk CRCs, IHDR, zlib, scanline filters. */
export function decodePng(png: Buffer): DecodedPng {
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(png.subarray(0, 8).equals(sig), `PNG signature, got ${png.subarray(0, 8).toString('hex')}`);
  let pos = 8;
  let ihdr: Buffer | undefined;
  const idat: Buffer[] = [];
  let ended = false;
  while (pos < png.length) {
    assert.ok(pos + 12 <= png.length, 'truncated chunk');
    const len = png.readUInt32BE(pos);
    const type = png.subarray(pos + 4, pos + 8).toString('latin1');
    const data = png.subarray(pos + 8, pos + 8 + len);
    assert.equal(data.length, len, `truncated ${type}`);
    const crc = png.readUInt32BE(pos + 8 + len);
    assert.equal(crc32(png.subarray(pos + 4, pos + 8 + len)), crc, `${type} CRC`);
    if (type === 'IHDR') ihdr = Buffer.from(data);
    else if (type === 'IDAT') idat.push(Buffer.from(data));
    else if (type === 'IEND') {
      ended = true;
      pos += 12 + len;
      break;
    }
    pos += 12 + len;
  }
  assert.ok(ihdr && ihdr.length === 13, 'IHDR first');
  assert.ok(ended && pos === png.length, 'IEND last');
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  const bitDepth = ihdr[8]!;
  const colorType = ihdr[9]!;
  assert.equal(ihdr[12], 0, 'not interlaced');
  assert.equal(bitDepth, 8, '8-bit');
  const channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[colorType];
  assert.ok(channels, `colour type ${colorType}`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  assert.equal(raw.length, height * (stride + 1), 'IDAT size');
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    assert.ok(f <= 4, `filter ${f} at row ${y}`);
    const src = y * (stride + 1) + 1;
    const dst = y * stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? out[dst + i - channels]! : 0;
      const b = y > 0 ? out[dst - stride + i]! : 0;
      const c = y > 0 && i >= channels ? out[dst - stride + i - channels]! : 0;
      let pred = 0;
      if (f === 1) pred = a;
      else if (f === 2) pred = b;
      else if (f === 3) pred = (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[dst + i] = (raw[src + i]! + pred) & 0xff;
    }
  }
  return { width, height, bitDepth, colorType, pixels: out, channels };
}

// ------------------------------------------------------------------------------- the phone via adb

/** A lab phone as a lab engineer sees it: only through the adb CLI. */
export class AdbPhone {
  constructor(
    readonly adbPort: number,
    readonly serial: string,
  ) {}

  adb(args: string[], input?: string) {
    return adbRun(this.adbPort, ['-s', this.serial, ...args], input !== undefined ? { input } : {});
  }

  /** `adb shell <cmd>`: stdout; fails the test on a non-zero exit. */
  async sh(cmd: string): Promise<string> {
    const r = await this.adb(['shell', cmd]);
    assert.equal(r.code, 0, `adb shell ${cmd}: exit ${r.code}\n${r.stdout.toString()}${r.stderr}`);
    return r.stdout.toString('utf8');
  }

  /** `adb shell su -c '<script>'` (no single quotes inside), as the root tools run it. */
  async su(script: string): Promise<string> {
    assert.ok(!script.includes("'"), 'no single quotes in a su script');
    return this.sh(`su -c '${script}'`);
  }

  async dump(): Promise<XmlNode> {
    const r = await this.adb(['exec-out', 'uiautomator dump /dev/tty']);
    assert.equal(r.code, 0, r.stderr);
    return parseUiXml(r.stdout.toString('utf8'));
  }

  async tap(n: XmlNode): Promise<void> {
    const c = centre(n.bounds);
    await this.sh(`input tap ${c.x} ${c.y}`);
  }

  async key(k: string): Promise<void> {
    await this.sh(`input keyevent ${k}`);
  }

  /** `input text` with a word that needs no escaping on the phone's shell. */
  async text(s: string): Promise<void> {
    assert.match(s, /^[A-Za-z0-9:/._-]+$/, 'input text word');
    await this.sh(`input text '${s}'`);
  }

  async swipe(x1: number, y1: number, x2: number, y2: number, ms = 60): Promise<void> {
    await this.sh(`input swipe ${x1} ${y1} ${x2} ${y2} ${ms}`);
  }

  /** The focused window's component (`dumpsys window`'s mCurrentFocus). */
  async focus(): Promise<string> {
    const out = await this.sh('dumpsys window windows');
    return /mCurrentFocus=Window\{[^}]* ([^ }]+)\}/.exec(out)?.[1] ?? '';
  }

  /** Dumps until `find` returns a node (bounded). */
  async waitNode(find: (root: XmlNode) => XmlNode | undefined, what: string, ms = 3000): Promise<XmlNode> {
    const end = Date.now() + ms;
    for (;;) {
      const root = await this.dump();
      const n = find(root);
      if (n) return n;
      if (Date.now() > end) assert.fail(`${what}: not on screen within ${ms} ms`);
      await sleep(30);
    }
  }

  async pidof(pkg: string): Promise<number | undefined> {
    const r = await this.adb(['shell', `pidof ${pkg}`]);
    const t = r.stdout.toString().trim();
    return /^\d+$/.test(t) ? Number(t) : undefined;
  }
}

export const byId =
  (id: string) =>
  (root: XmlNode): XmlNode | undefined =>
    allNodes(root).find((n) => n.attrs['resource-id'] === id);

export const byIdText =
  (id: string, text: string) =>
  (root: XmlNode): XmlNode | undefined =>
    allNodes(root).find((n) => n.attrs['resource-id'] === id && n.attrs.text === text);

/** The clickable row holding a child with this text (preference rows). */
export const rowWithTitle =
  (title: string) =>
  (root: XmlNode): XmlNode | undefined =>
    allNodes(root).find((n) => isTrue(n, 'clickable') && n.children.some((c) => c.attrs.text === title));

/** A preference row's Switch state. */
export function switchState(row: XmlNode): boolean {
  const sw = row.children.find((c) => c.attrs.class === 'android.widget.Switch');
  assert.ok(sw, `${describeNode(row)} has a Switch`);
  return isTrue(sw, 'checked');
}

// -------------------------------------------------------------------------------- the proxy

export type UploadKind = TelemetryEmitter | 'page' | 'other';

export interface Seen {
  kind: UploadKind;
  method: string;
  url: string;
  host: string;
  body: Buffer;
}

/** What the proxy saw; each request is classified by the profile's emitter endpoints. */
export class Capture {
  readonly requests: Seen[] = [];
  readonly tlsErrors: Array<{ sni: string | undefined; cause: string }> = [];
  /** Hosts whose plain requests are web pages the tests visit. */
  readonly pageHosts = new Set<string>();

  constructor(private readonly emitters: ProfileTelemetry['emitters']) {}

  classify(url: string): UploadKind {
    const u = new URL(url);
    for (const [name, cfg] of Object.entries(this.emitters) as Array<[TelemetryEmitter, { url: string }]>) {
      const e = new URL(cfg.url);
      if (e.protocol === u.protocol && e.host === u.host && e.pathname === u.pathname) return name;
    }
    return this.pageHosts.has(u.host) ? 'page' : 'other';
  }

  of(kind: UploadKind): Seen[] {
    return this.requests.filter((r) => r.kind === kind);
  }

  uploads(): Seen[] {
    return this.requests.filter((r) => r.kind !== 'page');
  }

  clear(): void {
    this.requests.length = 0;
    this.tlsErrors.length = 0;
  }
}

export const CANARY_PAGE = (token: string): string =>
  `<html><head><title>Canary ${token}</title></head><body><p>phonehome canary page</p></body></html>`;

/** A mockttp proxy with its own CA that answers pages with a small page and uploads as collectors do. */
export async function startProxy(
  capture: Capture,
): Promise<{ proxy: Mockttp; caPem: string; caName: string }> {
  const ca = await generateCACertificate({ subject: { commonName: 'phonehome xiaomi-behaviour test CA' } });
  const proxy = getLocal({ https: { key: ca.key, cert: ca.cert }, recordTraffic: false });
  await proxy.start();
  await proxy.forAnyRequest().thenCallback((req) => {
    const kind = capture.classify(req.url);
    capture.requests.push({
      kind,
      method: req.method,
      url: req.url,
      host: new URL(req.url).host,
      body: Buffer.from(req.body.buffer),
    });
    const json = { 'content-type': 'application/json; charset=utf-8' };
    switch (kind) {
      case 'mistat':
        return { statusCode: 200, headers: json, body: '{"code":200}' };
      case 'sensors':
        return { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: '' };
      case 'tracking':
        return { statusCode: 200, headers: json, body: '{"code":0,"message":"ok"}' };
      case 'ads':
        return { statusCode: 200, headers: json, body: '{"code":0,"adInfos":[]}' };
      default: {
        const token = /canary-([a-z0-9]+)/.exec(req.url)?.[1] ?? 'page';
        return {
          statusCode: 200,
          headers: { 'content-type': 'text/html; charset=utf-8' },
          body: CANARY_PAGE(token),
        };
      }
    }
  });
  await proxy.on('tls-client-error', (e) => {
    capture.tlsErrors.push({ sni: e.tlsMetadata.sniHostname, cause: e.failureCause });
  });
  const caName = `${subjectHashOld(parsePemCertificate(ca.cert)!)}.0`;
  return { proxy, caPem: ca.cert, caName };
}

// ------------------------------------------------------------------------------------- the rig

export const PHONE_PROXY_PORT = 8899;
export const SYS_CACERTS = '/system/etc/security/cacerts';
export const APEX_CACERTS = '/apex/com.android.conscrypt/cacerts';
export const USER_CACERTS = '/data/misc/user/0/cacerts-added';

export interface XiaomiRig {
  lab: TestLab;
  labPhone: LabPhone;
  profile: Profile;
  phone: AdbPhone;
  proxy: Mockttp;
  capture: Capture;
  caPem: string;
  /** `<subject_hash_old>.0` of the proxy CA. */
  caName: string;
  stop(): Promise<void>;
}

/**
 * One phone of `profile` (fast telemetry timings), a mockttp proxy, `adb reverse tcp:8899` to it,
 * `settings put global http_proxy 127.0.0.1:8899`, and the CA pushed to /data/local/tmp. The CA is
 * not installed anywhere yet (see installSystemCa / installUserCa).
 */
export async function xiaomiRig(profileName: string): Promise<XiaomiRig> {
  const lab = await startLab([profileName], {}, { telemetryTimings: FAST_TIMINGS });
  const labPhone = lab.phones[0]!;
  const profile = labPhone.profile;
  const capture = new Capture(profile.telemetry?.emitters ?? {});
  let proxy: Mockttp | undefined;
  try {
    const started = await startProxy(capture);
    proxy = started.proxy;
    const phone = new AdbPhone(lab.adb.port, labPhone.serial);
    const rev = await phone.adb(['reverse', `tcp:${PHONE_PROXY_PORT}`, `tcp:${proxy.port}`]);
    assert.equal(rev.code, 0, rev.stderr);
    await phone.sh(`settings put global http_proxy 127.0.0.1:${PHONE_PROXY_PORT}`);
    const dir = mkdtempSync(join(tmpdir(), 'phonehome-ca-'));
    try {
      writeFileSync(join(dir, started.caName), started.caPem);
      const push = await phone.adb(['push', join(dir, started.caName), `/data/local/tmp/${started.caName}`]);
      assert.equal(push.code, 0, push.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const p = proxy;
    return {
      lab,
      labPhone,
      profile,
      phone,
      proxy: p,
      capture,
      caPem: started.caPem,
      caName: started.caName,
      stop: async () => {
        await p.stop().catch(() => undefined);
        await lab.stop();
      },
    };
  } catch (e) {
    await proxy?.stop().catch(() => undefined);
    await lab.stop();
    throw e;
  }
}

/** Events still queued on the phone, all SDKs and apps together. */
export function pendingTotal(r: XiaomiRig): number {
  return Object.values(r.labPhone.phone.telemetry.pending()).reduce((a, b) => a + b, 0);
}

/**
 * Lets the phone's telemetry settle (in-process: the lab phone is an object in this process): every
 * queued event is uploaded now and every upload in flight (the splash-ad requests too) has its answer.
 * Used between a row's setup, whose app starts report app_open like any other, and its own actions.
 */
export async function drainTelemetry(r: XiaomiRig, ms = 5000): Promise<void> {
  const hub = r.labPhone.phone.telemetry;
  await within(
    (async () => {
      await hub.flush();
      await hub.idle();
    })(),
    ms,
    'the telemetry queues drain',
  );
}

/**
 * Makes the proxy CA a system CA the way it is done on that phone:
 * - rooted, Android 10/11 (`/system/etc/security/cacerts`): remount /system rw and copy it in;
 * - rooted, Android 14 (APEX store): HTTP Toolkit's sequence (tmpfs over the /system folder with
 *   the APEX CAs and ours, bind mount over the APEX path in init's, the zygotes' and every running
 *   app's mount namespace);
 * - not rooted: nothing over adb can do it, so the file is provisioned directly into the phone's
 *   image. This stands for a lab phone that was pre-provisioned with the lab CA (e.g. flashed with
 *   it in its system image): same `<subject_hash_old>.0` name, mode 644, root-owned, SELinux label
 *   system_file, exactly as the ROM's own CAs.
 */
export async function installSystemCa(r: XiaomiRig): Promise<void> {
  const name = r.caName;
  const tmp = `/data/local/tmp/${name}`;
  const dir = r.profile.systemCaDir;
  if (!r.profile.rooted) {
    const fs = r.labPhone.phone.fs;
    fs.provision(() => {
      fs.writeFile(`${dir}/${name}`, r.caPem, { mode: 0o644 });
      fs.chown(`${dir}/${name}`, 0, 0);
      fs.setLabel(`${dir}/${name}`, SYSTEM_FILE_LABEL);
    });
  } else if (dir === SYS_CACERTS) {
    await r.phone.su(
      [
        'set -e',
        'mount -o remount,rw /system',
        `cp ${tmp} ${SYS_CACERTS}/${name}`,
        `chown root:root ${SYS_CACERTS}/${name}`,
        `chmod 644 ${SYS_CACERTS}/${name}`,
        `chcon u:object_r:system_file:s0 ${SYS_CACERTS}/${name}`,
        'mount -o remount,ro /system',
      ].join('\n'),
    );
  } else {
    assert.equal(dir, APEX_CACERTS, `no injection recipe for system CA dir ${dir}`);
    await r.phone.su(
      [
        'set -e',
        'rm -rf /data/local/tmp/ca-copy',
        'mkdir -p -m 700 /data/local/tmp/ca-copy',
        `cp ${APEX_CACERTS}/* /data/local/tmp/ca-copy/`,
        `mount -t tmpfs tmpfs ${SYS_CACERTS}`,
        `mv /data/local/tmp/ca-copy/* ${SYS_CACERTS}/`,
        `cp ${tmp} ${SYS_CACERTS}/`,
        `chown root:root ${SYS_CACERTS} ${SYS_CACERTS}/*`,
        `chmod 644 ${SYS_CACERTS}/*`,
        `chcon u:object_r:system_file:s0 ${SYS_CACERTS} ${SYS_CACERTS}/*`,
        'rm -rf /data/local/tmp/ca-copy',
        'set +e',
        `mount --bind ${SYS_CACERTS} ${APEX_CACERTS}`,
        'ZYGOTE_PIDS="$(pidof zygote || true) $(pidof zygote64 || true)"',
        'for Z_PID in $ZYGOTE_PIDS; do',
        `  nsenter --mount=/proc/$Z_PID/ns/mnt -- /bin/mount --bind ${SYS_CACERTS} ${APEX_CACERTS}`,
        'done',
        'APP_PIDS=$(for Z in $ZYGOTE_PIDS; do ps -o PID= -P $Z; done)',
        'for PID in $APP_PIDS; do',
        `  nsenter --mount=/proc/$PID/ns/mnt -- /bin/mount --bind ${SYS_CACERTS} ${APEX_CACERTS} &`,
        'done',
        'wait',
        'echo injected',
      ].join('\n'),
    );
  }
  // What apps will see: the file under its hash name (a root shell or the provisioned image).
  const ls = r.profile.rooted ? await r.phone.su(`ls ${dir}/${name}`) : await r.phone.sh(`ls ${dir}/${name}`);
  assert.match(ls, new RegExp(name.replace('.', '\\.')));
}

/** Puts the CA in the user store only, as Settings > Install certificate leaves it (system:system 644). */
export async function installUserCa(r: XiaomiRig): Promise<void> {
  assert.ok(r.profile.rooted, 'writing the user store over adb needs root');
  await r.phone.su(
    [
      'set -e',
      `mkdir -p ${USER_CACERTS}`,
      `chown system:system ${USER_CACERTS}`,
      `chmod 755 ${USER_CACERTS}`,
      `cp /data/local/tmp/${r.caName} ${USER_CACERTS}/${r.caName}`,
      `chown system:system ${USER_CACERTS}/${r.caName}`,
      `chmod 644 ${USER_CACERTS}/${r.caName}`,
    ].join('\n'),
  );
}

// --------------------------------------------------------------------- the behaviour table

export type Toggles = Record<TelemetryToggle, boolean>;
export type Action = 'browse' | 'system-ui' | 'app-open';

/**
 * Events each action produces (what the phone's apps report for them). The system UI action opens
 * Settings (`am start -n`), so it reports that app's app_open too: the launcher reports app_open for
 * any app that comes to the foreground, however it got there.
 */
export const ACTION_EVENTS: Record<Action, string[]> = {
  browse: ['page_load_event_start', 'page_load_event_finish', 'search'],
  'system-ui': ['folder_open', 'home_screen_swipe', 'status_bar_pull', 'settings_page_open', 'app_open'],
  'app-open': ['app_open'],
};

const SOURCE_OF: Record<Action, 'browser' | 'system'> = {
  browse: 'browser',
  'system-ui': 'system',
  'app-open': 'system',
};

/** The first row matching (the table's documented semantics, written out again here). */
export function firstRow(
  rules: TelemetryRule[],
  source: 'browser' | 'system',
  event: string,
  t: Toggles,
): number {
  return rules.findIndex(
    (r) =>
      (r.when.source === undefined || r.when.source === source) &&
      (r.when.events === undefined || r.when.events.includes(event)) &&
      TELEMETRY_TOGGLES.every((k) => r.when[k] === undefined || r.when[k] === t[k]),
  );
}

/** Which toggle values keep data private, and how much each counts when choosing a state. */
const PRIVATE: Toggles = {
  incognito: true,
  incognitoDataCollection: false,
  uep: false,
  diagnostics: false,
  personalizedAds: false,
};
const WEIGHT: Record<TelemetryToggle, number> = {
  incognito: 16,
  incognitoDataCollection: 8,
  uep: 4,
  diagnostics: 2,
  personalizedAds: 1,
};

export interface RowPlan {
  index: number;
  rule: TelemetryRule;
  action: Action;
  /** The toggle state the test puts the phone in. */
  toggles: Toggles;
  /** Per event the action produces: the deciding row. */
  decided: Record<string, number>;
  title: string;
}

/**
 * Turns row `index` into a test: the action that produces its events and, among the toggle states
 * the phone can be put in for which that row decides them, the most privacy-protective one (the
 * interesting case: does it still upload?).
 */
export function planRow(t: ProfileTelemetry, index: number, opts: { enhancedSwitch: boolean }): RowPlan {
  const rule = t.rules[index]!;
  const w = rule.when;
  const action: Action =
    (w.source ?? 'browser') === 'browser'
      ? 'browse'
      : w.events && w.events.every((e) => ACTION_EVENTS['app-open'].includes(e))
        ? 'app-open'
        : 'system-ui';
  if (w.events) {
    for (const e of w.events)
      assert.ok(ACTION_EVENTS[action].includes(e), `row ${index}: no UI action here produces '${e}'`);
  }
  const source = SOURCE_OF[action];
  const events = ACTION_EVENTS[action];
  let best: { toggles: Toggles; hits: number; score: number } | undefined;
  for (let bits = 0; bits < 1 << TELEMETRY_TOGGLES.length; bits++) {
    const tg = {} as Toggles;
    TELEMETRY_TOGGLES.forEach((k, i) => (tg[k] = (bits & (1 << i)) !== 0));
    // System events come from no browser tab; the browser switch is left alone for them.
    if (source === 'system' && (tg.incognito || tg.incognitoDataCollection !== true)) continue;
    // Without the switch in the UI the browser reads the profile's default.
    if (!opts.enhancedSwitch && tg.incognitoDataCollection !== t.defaults.incognitoDataCollection) continue;
    const hits = events.filter((e) => firstRow(t.rules, source, e, tg) === index).length;
    if (hits === 0) continue;
    const score = TELEMETRY_TOGGLES.reduce((s, k) => s + (tg[k] === PRIVATE[k] ? WEIGHT[k] : 0), 0);
    if (!best || hits > best.hits || (hits === best.hits && score > best.score))
      best = { toggles: tg, hits, score };
  }
  assert.ok(best, `row ${index} (${JSON.stringify(w)}) is not reachable through the UI actions`);
  const decided = Object.fromEntries(events.map((e) => [e, firstRow(t.rules, source, e, best.toggles)]));
  const state = TELEMETRY_TOGGLES.filter((k) => source === 'browser' || !k.startsWith('incognito'))
    .map((k) => `${k}=${best.toggles[k] ? 'on' : 'off'}`)
    .join(' ');
  // Events of the action that another row decides in this state (e.g. the app_open of Settings).
  const others = events
    .filter((e) => decided[e] !== index)
    .map((e) => `${e} by row ${decided[e]}`)
    .join(', ');
  const title =
    `row ${index} when ${JSON.stringify(w)} → [${rule.send.join(', ')}]` +
    `${rule.omit ? ` omit [${rule.omit.join(', ')}]` : ''} (${rule.note ?? 'no note'}); ${action} with ${state}` +
    (others ? ` (${others})` : '');
  return { index, rule, action, toggles: best.toggles, decided, title };
}
