/**
 * SharedPreferences as Android stores them: /data/data/<pkg>/shared_prefs/<name>.xml, written
 * whole on every commit in the XML XmlUtils.writeMapXml produces (FastXmlSerializer, 4-space
 * indent), the file owned by the app's uid with mode 0660 in a 0771 directory.
 */
import type { Vfs } from '../os/vfs.ts';

export type PrefValue = boolean | string | number | bigint;

const XML_DECL = "<?xml version='1.0' encoding='utf-8' standalone='yes' ?>";

function escapeXml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function unescapeXml(s: string): string {
  return s.replace(
    /&(amp|lt|gt|quot|apos|#(\d+)|#x([0-9a-fA-F]+));/g,
    (_, e: string, dec?: string, hex?: string) => {
      if (dec) return String.fromCodePoint(Number(dec));
      if (hex) return String.fromCodePoint(Number.parseInt(hex, 16));
      return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e]!;
    },
  );
}

/** The XML of a preferences map; numbers are `int` when they fit in 32 bits, bigints are `long`. */
export function prefsToXml(values: ReadonlyMap<string, PrefValue>): string {
  const lines = [XML_DECL, '<map>'];
  for (const [key, v] of [...values.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const name = escapeXml(key);
    if (typeof v === 'boolean') lines.push(`    <boolean name="${name}" value="${v}" />`);
    else if (typeof v === 'bigint') lines.push(`    <long name="${name}" value="${v}" />`);
    else if (typeof v === 'number') {
      if (Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31)
        lines.push(`    <int name="${name}" value="${v}" />`);
      else if (Number.isInteger(v)) lines.push(`    <long name="${name}" value="${v}" />`);
      else lines.push(`    <float name="${name}" value="${v}" />`);
    } else lines.push(`    <string name="${name}">${escapeXml(v)}</string>`);
  }
  lines.push('</map>', '');
  return lines.join('\n');
}

/** Reads a preferences file's XML; unknown or malformed entries are skipped (Android drops the file). */
export function prefsFromXml(xml: string): Map<string, PrefValue> {
  const out = new Map<string, PrefValue>();
  const attr = (attrs: string, name: string): string | undefined => {
    const m = new RegExp(`\\b${name}="([^"]*)"`).exec(attrs);
    return m ? unescapeXml(m[1]!) : undefined;
  };
  const re = /<(boolean|int|long|float|string)\b([^>]*?)(?:\/>|>([\s\S]*?)<\/\1>)/g;
  for (const m of xml.matchAll(re)) {
    const [, type, attrs = '', body] = m;
    const name = attr(attrs, 'name');
    if (name === undefined) continue;
    const value = attr(attrs, 'value');
    if (type === 'string') out.set(name, unescapeXml(body ?? ''));
    else if (type === 'boolean' && (value === 'true' || value === 'false')) out.set(name, value === 'true');
    else if (type === 'int' && value !== undefined && /^-?\d+$/.test(value)) out.set(name, Number(value));
    else if (type === 'long' && value !== undefined && /^-?\d+$/.test(value)) out.set(name, BigInt(value));
    else if (type === 'float' && value !== undefined && Number.isFinite(Number(value)))
      out.set(name, Number(value));
  }
  return out;
}

/** One preferences file of one app, cached in memory as the app process would. */
export class SharedPreferences {
  private values = new Map<string, PrefValue>();

  constructor(
    private readonly fs: Vfs,
    readonly pkg: string,
    readonly name: string,
    /** The app's uid (owner of the file). */
    private readonly uid: () => number,
  ) {
    this.reload();
  }

  get dir(): string {
    return `/data/data/${this.pkg}/shared_prefs`;
  }

  get path(): string {
    return `${this.dir}/${this.name}.xml`;
  }

  /** Re-reads the file (a new app process): missing or unreadable means empty. */
  reload(): void {
    try {
      this.values = prefsFromXml(this.fs.readFile(this.path).toString('utf8'));
    } catch {
      this.values = new Map();
    }
  }

  get(key: string): PrefValue | undefined {
    return this.values.get(key);
  }

  getBoolean(key: string): boolean | undefined {
    const v = this.values.get(key);
    return typeof v === 'boolean' ? v : undefined;
  }

  getString(key: string): string | undefined {
    const v = this.values.get(key);
    return typeof v === 'string' ? v : undefined;
  }

  /** Sets values and commits the file; false when it could not be written (the value stays in memory). */
  edit(changes: Record<string, PrefValue | null>): boolean {
    for (const [k, v] of Object.entries(changes)) {
      if (v === null) this.values.delete(k);
      else this.values.set(k, v);
    }
    return this.commit();
  }

  private commit(): boolean {
    const uid = this.uid();
    try {
      // As the app: its own uid, in its own data directory.
      if (!this.fs.exists(this.dir)) this.fs.mkdir(this.dir, { parents: true, mode: 0o771, uid, gid: uid });
      this.fs.writeFile(this.path, prefsToXml(this.values), { mode: 0o660, uid, gid: uid });
      return true;
    } catch {
      return false;
    }
  }
}
