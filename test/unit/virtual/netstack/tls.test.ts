/**
 * TLS as Android and Chromium check it, with certificates made here by openssl: a root, an
 * intermediate CA under it, leaves with and without subjectAltName. The server runs on the far end
 * of the sink (an in-memory stream), so no socket is opened.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { PhoneHttpError } from '../../../../src/virtual/apps/events.ts';
import { duplexPair } from '../../../../src/virtual/os/local-net.ts';
import type { VirtualPhone } from '../../../../src/virtual/phone.ts';
import { parsePemCertificate, subjectHashOld } from '../../../../src/virtual/netstack/trust.ts';
import { makePhone } from '../os/helpers.ts';

const run = promisify(execFile);
const HOST = 'sa.api.intl.miui.com';
const BROWSER = 'com.mi.globalbrowser';

interface Issued {
  key: string;
  cert: string;
}

interface Pki {
  root: Issued;
  /** A CA signed by root. */
  inter: Issued;
  /** Leaf for HOST with subjectAltName DNS:HOST, signed by inter. */
  leaf: Issued;
  /** Leaf with CN=HOST and no subjectAltName, signed by root. */
  cnOnly: Issued;
}

/** Makes the test PKI with `openssl req` / `openssl x509` (EC P-256 keys: fast). */
async function makePki(): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'phonehome-pki-'));
  const file = (n: string): string => join(dir, n);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const read = async (name: string): Promise<Issued> => ({
    key: await readFile(file(`${name}.key`), 'utf8'),
    cert: await readFile(file(`${name}.pem`), 'utf8'),
  });
  const issue = async (name: string, cn: string, issuer: string, ext: string, serial: number) => {
    await writeFile(file(`${name}.ext`), ext);
    await run('openssl', [
      'req',
      '-new',
      ...key,
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.csr`),
      '-subj',
      `/CN=${cn}`,
    ]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      file(`${issuer}.pem`),
      '-CAkey',
      file(`${issuer}.key`),
      '-set_serial',
      String(serial),
      '-days',
      '30',
      '-extfile',
      file(`${name}.ext`),
      '-out',
      file(`${name}.pem`),
    ]);
  };
  try {
    await run('openssl', [
      'req',
      '-x509',
      ...key,
      '-keyout',
      file('root.key'),
      '-out',
      file('root.pem'),
      '-subj',
      '/CN=phonehome test root',
      '-days',
      '30',
    ]);
    await issue(
      'inter',
      'phonehome test intermediate',
      'root',
      'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n',
      2,
    );
    await issue('leaf', HOST, 'inter', `basicConstraints=CA:FALSE\nsubjectAltName=DNS:${HOST}\n`, 3);
    await issue('cnonly', HOST, 'root', 'basicConstraints=CA:FALSE\n', 4);
    return {
      root: await read('root'),
      inter: await read('inter'),
      leaf: await read('leaf'),
      cnOnly: await read('cnonly'),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Installs `pem` in the profile's system CA store as `<hash>.<index>` (or under `name`). */
function trustSystem(phone: VirtualPhone, pem: string, index = 0, name?: string): string {
  const path = `${phone.profile.systemCaDir}/${name ?? `${subjectHashOld(parsePemCertificate(pem)!)}.${index}`}`;
  phone.fs.provision(() => phone.fs.writeFile(path, pem));
  return path;
}

/** Every direct connection reaches a TLS server with this key and chain, answering 200 'ok'. */
function serveTls(phone: VirtualPhone, key: string, chain: string[]): void {
  phone.http.sink = () => {
    const [client, server] = duplexPair();
    const tls = new TLSSocket(server, { isServer: true, key, cert: chain.join('') });
    tls.on('error', () => undefined);
    tls.on('data', (c: Buffer) => {
      if (c.includes('\r\n\r\n')) tls.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    return client;
  };
}

async function get(phone: VirtualPhone): Promise<string> {
  const res = await phone.http.request({ app: BROWSER, method: 'GET', url: `https://${HOST}/` });
  return `${res.status} ${res.body.toString()}`;
}

async function rejected(phone: VirtualPhone): Promise<PhoneHttpError> {
  try {
    await get(phone);
  } catch (e) {
    assert.ok(e instanceof PhoneHttpError, String(e));
    assert.equal(e.failure, 'cert-rejected', e.message);
    return e;
  }
  assert.fail('the handshake succeeded');
}

describe('netstack: TLS like Android (Conscrypt) and Chromium', function () {
  this.timeout(20_000);
  let pki: Pki;
  before(async () => {
    pki = await makePki();
  });

  it('a leaf without subjectAltName is rejected even though its CN matches (Chromium >= 58)', async () => {
    const phone = makePhone();
    trustSystem(phone, pki.root.cert);
    serveTls(phone, pki.leaf.key, [pki.leaf.cert, pki.inter.cert]);
    assert.equal(await get(phone), '200 ok', 'a SAN leaf under the same root passes');
    serveTls(phone, pki.cnOnly.key, [pki.cnOnly.cert]);
    const e = await rejected(phone);
    assert.match(e.message, /subjectAltName/);
  });

  it('an intermediate CA in the store is a trust anchor (partial chain)', async () => {
    const phone = makePhone();
    serveTls(phone, pki.leaf.key, [pki.leaf.cert, pki.inter.cert]);
    await rejected(phone);
    trustSystem(phone, pki.inter.cert);
    assert.equal(await get(phone), '200 ok', 'leaf + intermediate sent');
    serveTls(phone, pki.leaf.key, [pki.leaf.cert]);
    assert.equal(await get(phone), '200 ok', 'leaf only');
    // A leaf signed by the root, not by the intermediate, still fails.
    serveTls(phone, pki.cnOnly.key, [pki.cnOnly.cert]);
    await rejected(phone);
  });

  it('a skipped <hash>.0 (not a certificate) does not hide the CA at <hash>.1', async () => {
    const phone = makePhone();
    const hash = subjectHashOld(parsePemCertificate(pki.root.cert)!);
    serveTls(phone, pki.leaf.key, [pki.leaf.cert, pki.inter.cert]);
    trustSystem(phone, pki.root.cert, 1);
    await rejected(phone); // hash.0 missing: never probed
    trustSystem(phone, 'not a certificate\n', 0, `${hash}.0`);
    assert.equal(await get(phone), '200 ok');
  });
});
