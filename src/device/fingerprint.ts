/**
 * What a phone is, from its system properties (xiaomi-telemetry.md §4.1): vendor, model, firmware
 * family (HyperOS / MIUI / plain Android) and version, Android release, region, root.
 */

export type OsName = 'HyperOS' | 'MIUI' | 'Android';
export type Region = 'global' | 'china' | 'unknown';

export interface Fingerprint {
  /** ro.product.brand, else ro.product.manufacturer: `Redmi`, `Xiaomi`, `POCO`. */
  vendor: string;
  manufacturer: string;
  /** ro.product.model: `Redmi Note 8`, `2211133G`. */
  model: string;
  /** ro.product.marketname when the ROM sets it: `Xiaomi 13`. */
  marketName?: string;
  /** Codename (ro.product.device): `ginkgo`, `fuxi`. */
  device: string;
  /** `{ name: 'HyperOS', version: '2' }`, `{ name: 'MIUI', version: '12.5' }`, `{ name: 'Android' }`. */
  os: { name: OsName; version?: string };
  android: { release: string; /** 0 when the property is missing. */ sdk: number };
  /** ro.build.version.incremental: `V12.5.1.0.QCOMIXM`. */
  incremental: string;
  region: Region;
  rooted: boolean;
  /** ro.serialno (for network phones the adb serial is only host:port). */
  serialno?: string;
  /** One line for people: `Redmi Note 8 · MIUI 12 · Android 10 · global`. */
  label: string;
}

function first(props: Record<string, string>, ...keys: string[]): string {
  for (const key of keys) {
    const value = props[key]?.trim();
    if (value) return value;
  }
  return '';
}

/** `OS2.0` → `2`, `OS1.1` → `1.1`, `OS3` → `3`. */
function hyperOsVersion(name: string): string | undefined {
  const m = /^OS(\d+)(?:\.(\d+))?/i.exec(name);
  if (!m) return undefined;
  return m[2] && m[2] !== '0' ? `${m[1]}.${m[2]}` : m[1];
}

/** `V125` → `12.5`, `V12` → `12`, `V130` → `13`, `V140` → `14`, `V9` → `9`. */
function miuiVersion(name: string): string | undefined {
  const m = /^V(\d+)$/i.exec(name);
  const digits = m?.[1];
  if (!digits) return undefined;
  if (digits.length <= 2) return String(Number(digits));
  const major = Number(digits.slice(0, 2));
  const minor = digits.slice(2).replace(/0+$/, '');
  return minor ? `${major}.${minor}` : String(major);
}

/** The HyperOS 1–3 ROMs keep `ro.miui.ui.version.name=V816` (code 816) for compatibility. */
const HYPEROS_COMPAT_MIUI = 'V816';

function detectOs(props: Record<string, string>): Fingerprint['os'] {
  const hyper = first(props, 'ro.mi.os.version.name');
  if (hyper) {
    const version = hyperOsVersion(hyper);
    return version ? { name: 'HyperOS', version } : { name: 'HyperOS' };
  }
  const miui = first(props, 'ro.miui.ui.version.name');
  const miuiCode = first(props, 'ro.miui.ui.version.code');
  // V816 without ro.mi.os.version.name: HyperOS whose version we cannot tell, not "MIUI 81.6".
  if (miui.toUpperCase() === HYPEROS_COMPAT_MIUI || miuiCode === '816') return { name: 'HyperOS' };
  if (miui) {
    const version = miuiVersion(miui);
    return version ? { name: 'MIUI', version } : { name: 'MIUI' };
  }
  if (miuiCode) return { name: 'MIUI' };
  return { name: 'Android' };
}

function detectRegion(props: Record<string, string>): Region {
  const region = first(props, 'ro.miui.region', 'ro.miui.build.region').toLowerCase();
  if (region === 'cn') return 'china';
  // Global ROMs set `global` or the market (`in`, `ru`, `eea`, `GB` …).
  if (region) return 'global';
  const modDevice = first(props, 'ro.product.mod_device');
  if (/_global$/i.test(modDevice)) return 'global';
  // China ROMs use the bare codename as mod_device.
  if (modDevice) return 'china';
  return 'unknown';
}

export function fingerprintFromProps(props: Record<string, string>, opts: { rooted: boolean }): Fingerprint {
  const manufacturer = first(props, 'ro.product.manufacturer', 'ro.product.vendor.manufacturer');
  const vendor = first(props, 'ro.product.brand', 'ro.product.vendor.brand') || manufacturer;
  const model = first(props, 'ro.product.model', 'ro.product.vendor.model', 'ro.product.system.model');
  const marketName = first(props, 'ro.product.marketname', 'ro.product.vendor.marketname');
  const device = first(props, 'ro.product.device', 'ro.product.vendor.device', 'ro.build.product');
  const os = detectOs(props);
  const release = first(props, 'ro.build.version.release');
  const sdk = Number.parseInt(first(props, 'ro.build.version.sdk'), 10);
  const region = detectRegion(props);
  const serialno = first(props, 'ro.serialno', 'ro.boot.serialno');

  const name = marketName || model || device || 'unknown phone';
  const parts = [name];
  if (os.name !== 'Android') parts.push(os.version ? `${os.name} ${os.version}` : os.name);
  parts.push(release ? `Android ${release}` : 'Android');
  if (region !== 'unknown') parts.push(region);
  if (opts.rooted) parts.push('rooted');

  return {
    vendor,
    manufacturer,
    model,
    ...(marketName ? { marketName } : {}),
    device,
    os,
    android: { release, sdk: Number.isNaN(sdk) ? 0 : sdk },
    incremental: first(props, 'ro.build.version.incremental'),
    region,
    rooted: opts.rooted,
    ...(serialno ? { serialno } : {}),
    label: parts.join(' · '),
  };
}

/** Parses `getprop` output: lines `[key]: [value]`; a value may span lines. */
export function parseGetprop(text: string): Record<string, string> {
  const props: Record<string, string> = {};
  const re = /^\[([^\]\r\n]+)\]: \[([\s\S]*?)\]\r?$(?=\r?\n\[|(?:\r?\n)*(?![\s\S]))/gm;
  for (const m of text.matchAll(re)) {
    const key = m[1];
    if (key !== undefined) props[key] = m[2] ?? '';
  }
  return props;
}
