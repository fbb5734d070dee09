/**
 * The phone's CA trust store as an app reads it (xiaomi-telemetry.md §4.6): PEM files named
 * `<subject_hash_old>.<n>` in the system directory the profile names (/system/etc/security/cacerts,
 * or the Conscrypt APEX directory on Android 14) and, for apps that trust them, in the user store
 * /data/misc/user/0/cacerts-added. Like Conscrypt's TrustedCertificateStore, a certificate is found
 * only under its own hash: lookups probe `hash.0`, `hash.1` … and stop at the first index where no
 * file exists. Files that do not parse as a PEM certificate, that the app's uid may not read,
 * (SELinux enforcing) that are not labelled system_file (system store) or whose subject has
 * another hash are skipped, but as files they exist: the probe goes on past them.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { Vfs } from '../os/vfs.ts';

export const USER_CA_DIR = '/data/misc/user/0/cacerts-added';
export const SYSTEM_FILE_LABEL = 'u:object_r:system_file:s0';

/** One DER TLV: where its content starts and ends within `buf`. */
interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

function readTlv(buf: Buffer, pos: number): Tlv {
  if (pos + 2 > buf.length) throw new Error('DER: truncated');
  const tag = buf[pos] as number;
  let len = buf[pos + 1] as number;
  let contentStart = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || contentStart + n > buf.length) throw new Error('DER: bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[contentStart + i] as number);
    contentStart += n;
  }
  const end = contentStart + len;
  if (end > buf.length) throw new Error('DER: truncated');
  return { tag, start: pos, contentStart, end };
}

/** The DER bytes of a certificate's subject Name. */
export function subjectDer(der: Buffer): Buffer {
  const cert = readTlv(der, 0);
  const tbs = readTlv(der, cert.contentStart);
  let pos = tbs.contentStart;
  let field = readTlv(der, pos);
  if (field.tag === 0xa0) {
    pos = field.end; // [0] version
    field = readTlv(der, pos);
  }
  // serialNumber, signature, issuer, validity, then subject.
  for (let i = 0; i < 4; i++) {
    pos = field.end;
    field = readTlv(der, pos);
  }
  if (field.tag !== 0x30) throw new Error('DER: subject is not a SEQUENCE');
  return der.subarray(field.start, field.end);
}

/** `openssl x509 -subject_hash_old`: MD5 of the DER subject, first 4 bytes little-endian, 8 hex digits. */
export function subjectHashOld(cert: X509Certificate | Buffer): string {
  const der = Buffer.isBuffer(cert) ? cert : cert.raw;
  return createHash('md5').update(subjectDer(der)).digest().readUInt32LE(0).toString(16).padStart(8, '0');
}

/** Parses a PEM file holding one certificate; undefined when it is not one. */
export function parsePemCertificate(data: Buffer | string): X509Certificate | undefined {
  const text = typeof data === 'string' ? data : data.toString('latin1');
  if (!/-----BEGIN CERTIFICATE-----/.test(text)) return undefined;
  try {
    return new X509Certificate(text);
  } catch {
    return undefined;
  }
}

export interface TrustedCa {
  /** Where it was read from. */
  path: string;
  cert: X509Certificate;
  /** PEM text, as node:tls takes it. */
  pem: string;
}

export interface StoreReading {
  cas: TrustedCa[];
  /** Files present but not used, with the reason. */
  skipped: Array<{ path: string; reason: string }>;
}

const ALIAS = /^([0-9a-f]{8})\.(\d+)$/;

/**
 * Reads one CA directory through `fs` (a view of the app's mount namespace) as `uid` would.
 * A missing or unreadable directory is an empty store.
 */
export function readCaDirectory(
  fs: Vfs,
  dir: string,
  opts: { uid?: number; requireLabel?: string } = {},
): StoreReading {
  const uid = opts.uid ?? 0;
  const out: StoreReading = { cas: [], skipped: [] };
  let names: string[];
  try {
    names = fs.readdir(dir, uid);
  } catch {
    return out;
  }
  // Per hash: the indices where a file exists (used or not), and the certificates found.
  const present = new Map<string, Set<number>>();
  const found = new Map<string, Map<number, TrustedCa>>();
  for (const name of names) {
    const path = `${dir}/${name}`;
    const m = ALIAS.exec(name);
    if (!m) {
      out.skipped.push({ path, reason: 'not named <subject_hash_old>.<n>' });
      continue;
    }
    const alias = m[1] as string;
    const index = Number(m[2]);
    const st = fs.stat(path);
    if (!st || st.type !== 'file') {
      // File.isFile() is false: the probe stops here.
      out.skipped.push({ path, reason: 'not a file' });
      continue;
    }
    let indices = present.get(alias);
    if (!indices) present.set(alias, (indices = new Set()));
    indices.add(index);
    if (opts.requireLabel && st.label !== opts.requireLabel) {
      out.skipped.push({ path, reason: `SELinux label ${st.label}` });
      continue;
    }
    let data: Buffer;
    try {
      data = fs.readFile(path, uid);
    } catch (e) {
      out.skipped.push({ path, reason: `unreadable (${(e as Error).message})` });
      continue;
    }
    const cert = parsePemCertificate(data);
    if (!cert) {
      out.skipped.push({ path, reason: 'not a PEM certificate' });
      continue;
    }
    let hash: string;
    try {
      hash = subjectHashOld(cert);
    } catch {
      out.skipped.push({ path, reason: 'unparsable subject' });
      continue;
    }
    if (hash !== alias) {
      out.skipped.push({ path, reason: `subject hash is ${hash}` });
      continue;
    }
    let byIndex = found.get(hash);
    if (!byIndex) found.set(hash, (byIndex = new Map()));
    byIndex.set(index, { path, cert, pem: cert.toString() });
  }
  // Lookups probe hash.0, hash.1 … and stop at the first index with no file; a file that is
  // there but skipped does not stop them (Conscrypt: `continue` on a certificate it cannot read).
  for (const [hash, byIndex] of found) {
    const indices = present.get(hash) ?? new Set<number>();
    for (let i = 0; indices.has(i); i++) {
      const ca = byIndex.get(i);
      if (!ca) continue;
      out.cas.push(ca);
      byIndex.delete(i);
    }
    for (const ca of byIndex.values()) out.skipped.push({ path: ca.path, reason: 'index after a gap' });
  }
  out.cas.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}
