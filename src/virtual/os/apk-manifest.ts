/**
 * Reads a real APK's AndroidManifest.xml: the ZIP entry (stored or deflated) in Android's binary
 * XML format (AXML: a string pool, a resource-id map, then start/end element chunks), as
 * PackageParser would. Only what the package manager model needs is extracted: package name,
 * versionCode/versionName, activities (and the MAIN/LAUNCHER one), services and the
 * `<instrumentation>` entry. This is how the streamed installs of Appium's own APKs (the
 * UiAutomator2 server, its test APK, io.appium.settings) register with their real names.
 */
import { inflateRawSync } from 'node:zlib';

export interface ManifestInfo {
  package: string;
  versionCode?: number;
  versionName?: string;
  /** `pkg/full.ClassName`. */
  activities: string[];
  launcher?: string;
  services: string[];
  instrumentation?: { component: string; targetPackage: string };
}

const ATTR_NAME = 0x01010003;
const ATTR_TARGET_PACKAGE = 0x01010021;
const ATTR_VERSION_CODE = 0x0101021b;
const ATTR_VERSION_NAME = 0x0101021c;

const TYPE_STRING = 0x03;
const TYPE_INT_DEC = 0x10;
const TYPE_INT_HEX = 0x11;

/** The bytes of one ZIP entry, or undefined when the archive or the entry cannot be read. */
export function zipEntry(zip: Buffer, name: string): Buffer | undefined {
  const minEocd = 22;
  if (zip.length < minEocd) return undefined;
  let eocd = -1;
  for (let i = zip.length - minEocd; i >= Math.max(0, zip.length - minEocd - 0xffff); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return undefined;
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < count && p + 46 <= zip.length; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) return undefined;
    const method = zip.readUInt16LE(p + 10);
    const compSize = zip.readUInt32LE(p + 20);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const entryName = zip.toString('utf8', p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (entryName !== name) continue;
    if (local + 30 > zip.length || zip.readUInt32LE(local) !== 0x04034b50) return undefined;
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(start, start + compSize);
    if (method === 0) return data;
    if (method === 8) {
      try {
        return inflateRawSync(data);
      } catch {
        return undefined;
      }
    }
    return undefined;
  }
  return undefined;
}

function readStringPool(buf: Buffer, at: number): string[] {
  const count = buf.readUInt32LE(at + 8);
  const flags = buf.readUInt32LE(at + 16);
  const stringsStart = at + buf.readUInt32LE(at + 20);
  const utf8 = (flags & 0x100) !== 0;
  const headerSize = buf.readUInt16LE(at + 2);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let p = stringsStart + buf.readUInt32LE(at + headerSize + i * 4);
    if (utf8) {
      // character count, then byte count, each 1 or 2 bytes
      p += buf[p]! & 0x80 ? 2 : 1;
      let len = buf[p]!;
      if (len & 0x80) {
        len = ((len & 0x7f) << 8) | buf[p + 1]!;
        p += 2;
      } else p += 1;
      out.push(buf.toString('utf8', p, p + len));
    } else {
      let len = buf.readUInt16LE(p);
      if (len & 0x8000) {
        len = ((len & 0x7fff) << 16) | buf.readUInt16LE(p + 2);
        p += 4;
      } else p += 2;
      out.push(buf.toString('utf16le', p, p + len * 2));
    }
  }
  return out;
}

interface AxmlAttr {
  name: string;
  resId: number | undefined;
  value: string | number | undefined;
}

interface AxmlElement {
  name: string;
  attrs: AxmlAttr[];
  depth: number;
}

/** Start elements of a binary XML document in order, with their depth. Throws on a malformed document. */
export function readAxmlElements(xml: Buffer): AxmlElement[] {
  if (xml.length < 8 || xml.readUInt16LE(0) !== 0x0003) throw new Error('not a binary XML document');
  let strings: string[] = [];
  let resIds: number[] = [];
  const out: AxmlElement[] = [];
  let depth = 0;
  let p = xml.readUInt16LE(2);
  while (p + 8 <= xml.length) {
    const type = xml.readUInt16LE(p);
    const headerSize = xml.readUInt16LE(p + 2);
    const size = xml.readUInt32LE(p + 4);
    if (size < 8 || p + size > xml.length) throw new Error('truncated binary XML chunk');
    if (type === 0x0001) strings = readStringPool(xml, p);
    else if (type === 0x0180) {
      resIds = [];
      for (let q = p + headerSize; q + 4 <= p + size; q += 4) resIds.push(xml.readUInt32LE(q));
    } else if (type === 0x0102) {
      const ext = p + headerSize;
      const nameIdx = xml.readUInt32LE(ext + 4);
      const attrStart = xml.readUInt16LE(ext + 8);
      const attrSize = xml.readUInt16LE(ext + 10);
      const attrCount = xml.readUInt16LE(ext + 12);
      const attrs: AxmlAttr[] = [];
      for (let i = 0; i < attrCount; i++) {
        const a = ext + attrStart + i * attrSize;
        const nameI = xml.readUInt32LE(a + 4);
        const raw = xml.readUInt32LE(a + 8);
        const dataType = xml[a + 15]!;
        const data = xml.readUInt32LE(a + 16);
        let value: string | number | undefined;
        if (raw !== 0xffffffff) value = strings[raw];
        else if (dataType === TYPE_STRING) value = strings[data];
        else if (dataType === TYPE_INT_DEC || dataType === TYPE_INT_HEX) value = data;
        else if (dataType === 0x12) value = data !== 0 ? 'true' : 'false';
        attrs.push({ name: strings[nameI] ?? '', resId: resIds[nameI], value });
      }
      out.push({ name: strings[nameIdx] ?? '', attrs, depth });
      depth++;
    } else if (type === 0x0103) depth--;
    p += size;
  }
  return out;
}

function attr(el: AxmlElement, resId: number, name: string): string | number | undefined {
  return (el.attrs.find((a) => a.resId === resId) ?? el.attrs.find((a) => a.name === name))?.value;
}

function fullClass(pkg: string, name: string): string {
  if (name.startsWith('.')) return pkg + name;
  return name.includes('.') ? name : `${pkg}.${name}`;
}

/** The manifest facts of APK (ZIP) bytes, or undefined when they hold no readable binary manifest. */
export function readApkManifest(apk: Uint8Array): ManifestInfo | undefined {
  const zip = Buffer.from(apk.buffer, apk.byteOffset, apk.byteLength);
  const xml = zipEntry(zip, 'AndroidManifest.xml');
  if (!xml) return undefined;
  let elements: AxmlElement[];
  try {
    elements = readAxmlElements(xml);
  } catch {
    return undefined;
  }
  const manifest = elements.find((e) => e.name === 'manifest');
  const pkg = manifest && attr(manifest, -1, 'package');
  if (!manifest || typeof pkg !== 'string' || !pkg) return undefined;
  const info: ManifestInfo = { package: pkg, activities: [], services: [] };
  const code = attr(manifest, ATTR_VERSION_CODE, 'versionCode');
  if (typeof code === 'number') info.versionCode = code;
  else if (typeof code === 'string' && /^\d+$/.test(code)) info.versionCode = Number(code);
  const vname = attr(manifest, ATTR_VERSION_NAME, 'versionName');
  if (typeof vname === 'string') info.versionName = vname;
  let current: { kind: string; component: string; depth: number; main: boolean; launcher: boolean } | null =
    null;
  for (const el of elements) {
    if (current && el.depth <= current.depth) current = null;
    if (el.name === 'activity' || el.name === 'activity-alias' || el.name === 'service') {
      const name = attr(el, ATTR_NAME, 'name');
      if (typeof name !== 'string') continue;
      const component = `${pkg}/${fullClass(pkg, name)}`;
      if (el.name === 'service') info.services.push(component);
      else info.activities.push(component);
      current = { kind: el.name, component, depth: el.depth, main: false, launcher: false };
    } else if (current && current.kind !== 'service' && (el.name === 'action' || el.name === 'category')) {
      const name = attr(el, ATTR_NAME, 'name');
      if (name === 'android.intent.action.MAIN') current.main = true;
      if (name === 'android.intent.category.LAUNCHER') current.launcher = true;
      if (current.main && current.launcher && !info.launcher) info.launcher = current.component;
    } else if (el.name === 'instrumentation') {
      const name = attr(el, ATTR_NAME, 'name');
      const target = attr(el, ATTR_TARGET_PACKAGE, 'targetPackage');
      if (typeof name === 'string' && typeof target === 'string' && !info.instrumentation)
        info.instrumentation = { component: `${pkg}/${fullClass(pkg, name)}`, targetPackage: target };
    }
  }
  return info;
}
