/**
 * The lab CA: generated once (mockttp's generator), kept in a directory outside the repository
 * (`$PHONEHOME_CA_DIR`, else `$PHONEHOME_HOME/ca`), the key mode 0600, and reused by every session
 * so a phone needs it installed once. Also the names phones use for it: `subject_hash_old` (the
 * system store's `<hash>.0`, xiaomi-telemetry.md §4.6) and the SPKI fingerprint Chromium takes in
 * `--ignore-certificate-errors-spki-list`.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserFacingError } from '../util/user-facing.ts';

export const CA_COMMON_NAME = 'phonehome lab CA (captures personal data; do not trust outside the lab)';
const KEY_FILE = 'ca.key';
const CERT_FILE = 'ca.pem';
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export class CaError extends UserFacingError {}

export class LabCa {
  readonly certPem: string;
  readonly keyPem: string;
  readonly dir: string;
  /** base64 SHA-256 of the SubjectPublicKeyInfo (Chromium's SPKI list format). */
  readonly spkiFingerprint: string;
  /** `openssl x509 -subject_hash_old`: the CA's file name in Android's system store is `<hash>.0`. */
  readonly subjectHashOld: string;
  /** SHA-256 of the certificate (colon-free hex), for the evidence. */
  readonly sha256: string;

  private constructor(dir: string, certPem: string, keyPem: string) {
    this.dir = dir;
    this.certPem = certPem;
    this.keyPem = keyPem;
    const x = new X509Certificate(certPem);
    this.spkiFingerprint = createHash('sha256')
      .update(x.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('base64');
    this.subjectHashOld = subjectHashOld(x.raw);
    this.sha256 = x.fingerprint256.replace(/:/g, '').toLowerCase();
  }

  get fileName(): string {
    return `${this.subjectHashOld}.0`;
  }

  get certPath(): string {
    return join(this.dir, CERT_FILE);
  }

  get keyPath(): string {
    return join(this.dir, KEY_FILE);
  }

  /** Loads the CA from `dir`, generating it on first use. Refuses a key others can read or a dir inside the repo. */
  static async load(dir: string): Promise<LabCa> {
    const abs = resolve(dir);
    const rel = relative(REPO_ROOT, abs);
    const outside = isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`);
    if (!outside) {
      throw new CaError(
        `the lab CA directory ${abs} is inside the phonehome checkout; its private key must live outside ` +
          'the repository. Set PHONEHOME_CA_DIR (or --ca-dir) to a directory elsewhere, e.g. ~/.phonehome/ca',
      );
    }
    mkdirSync(abs, { recursive: true, mode: 0o700 });
    const keyPath = join(abs, KEY_FILE);
    const certPath = join(abs, CERT_FILE);
    if (!exists(keyPath)) await generate(abs, keyPath, certPath);
    const mode = statSync(keyPath).mode & 0o777;
    if (mode & 0o077) {
      throw new CaError(
        `the lab CA key ${keyPath} is readable by other users (mode ${mode.toString(8).padStart(4, '0')}); ` +
          `run: chmod 600 ${keyPath}`,
      );
    }
    let certPem: string;
    try {
      certPem = readFileSync(certPath, 'utf8');
      const keyPem = readFileSync(keyPath, 'utf8');
      return new LabCa(abs, certPem, keyPem);
    } catch (err) {
      throw new CaError(
        `the lab CA in ${abs} cannot be read (${err instanceof Error ? err.message : String(err)}); ` +
          `move ${abs} aside and phonehome generates a new CA (phones then need the new one installed)`,
      );
    }
  }
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Writes a new pair; when two processes race, the first link wins and the other reads its files. */
async function generate(dir: string, keyPath: string, certPath: string): Promise<void> {
  // Loaded here, once per CA: mockttp is half a second of module loading for a process that only
  // reads the CA (the parent of `phonehome run`, `lab up`).
  const { generateCACertificate } = await import('mockttp');
  const { key, cert } = await generateCACertificate({
    subject: { commonName: CA_COMMON_NAME, organizationName: 'phonehome' },
    bits: 2048,
  });
  const tmpKey = join(dir, `.ca-${process.pid}.key`);
  const tmpCert = join(dir, `.ca-${process.pid}.pem`);
  writeFileSync(tmpKey, key, { mode: 0o600 });
  chmodSync(tmpKey, 0o600); // the umask cannot loosen it, but an existing file keeps its mode
  writeFileSync(tmpCert, cert, { mode: 0o644 });
  try {
    linkSync(tmpCert, certPath);
    linkSync(tmpKey, keyPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another process generated it first; wait briefly for its key to appear.
    for (let i = 0; i < 50 && !exists(keyPath); i++) await new Promise((r) => setTimeout(r, 20));
  } finally {
    unlinkSync(tmpKey);
    unlinkSync(tmpCert);
  }
}

// ------------------------------------------------------------------------------ subject_hash_old

/** Reads one DER TLV at `off`: returns [tag, start of content, end of content]. */
function tlv(der: Buffer, off: number): [number, number, number] {
  const tag = der[off]!;
  let len = der[off + 1]!;
  let start = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  if (start + len > der.length) throw new Error('truncated DER');
  return [tag, start, start + len];
}

/** MD5 of the DER-encoded subject Name; the first 4 bytes read little-endian as 8 hex digits. */
export function subjectHashOld(certDer: Buffer): string {
  const [, certStart] = tlv(certDer, 0); // Certificate SEQUENCE
  const [, tbsStart] = tlv(certDer, certStart); // TBSCertificate SEQUENCE
  let off = tbsStart;
  if (tlv(certDer, off)[0] === 0xa0) off = tlv(certDer, off)[2]; // [0] version
  for (let i = 0; i < 4; i++) off = tlv(certDer, off)[2]; // serialNumber, signature, issuer, validity
  const subject = certDer.subarray(off, tlv(certDer, off)[2]);
  const md5 = createHash('md5').update(subject).digest();
  return md5.readUInt32LE(0).toString(16).padStart(8, '0');
}
