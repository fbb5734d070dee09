/** The lab CA (src/capture/ca.ts): generated once, key 0600, outside the repo, named as Android names it. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { X509Certificate } from 'node:crypto';
import { CaError, LabCa, subjectHashOld } from '../../../src/capture/ca.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CA_MODULE = pathToFileURL(join(REPO, 'src', 'capture', 'ca.ts')).href;

describe('LabCa', function () {
  this.timeout(30_000);
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-ca-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('generates a CA on first use: key mode 0600, directory 0700; the second load reuses it', async () => {
    const dir = join(tmp, 'first');
    const a = await LabCa.load(dir);
    assert.equal(statSync(a.keyPath).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const x = new X509Certificate(a.certPem);
    assert.ok(x.ca, 'a CA certificate');
    assert.ok(x.checkPrivateKey((await import('node:crypto')).createPrivateKey(a.keyPem)), 'key matches');
    const b = await LabCa.load(dir);
    assert.equal(b.certPem, a.certPem, 'the same certificate');
    assert.equal(b.sha256, a.sha256);
    assert.deepEqual(readdirSync(dir).sort(), ['ca.key', 'ca.pem'], 'no temporary files left');
  });

  it('subjectHashOld equals `openssl x509 -subject_hash_old`', async function () {
    const ca = await LabCa.load(join(tmp, 'first'));
    const o = spawnSync('openssl', ['x509', '-noout', '-subject_hash_old'], {
      input: ca.certPem,
      encoding: 'utf8',
    });
    if (o.error) this.skip(); // reason: no openssl CLI on this machine
    assert.equal(o.status, 0, o.stderr);
    assert.equal(ca.subjectHashOld, o.stdout.trim());
    assert.equal(ca.fileName, `${o.stdout.trim()}.0`);
    assert.equal(subjectHashOld(new X509Certificate(ca.certPem).raw), o.stdout.trim());
  });

  it('refuses a key that others can read, naming the fix', async () => {
    const dir = join(tmp, 'loose');
    const ca = await LabCa.load(dir);
    chmodSync(ca.keyPath, 0o640);
    await assert.rejects(LabCa.load(dir), (err: unknown) => {
      assert.ok(err instanceof CaError);
      assert.match(err.message, /readable by other users \(mode 0640\)/);
      assert.match(err.message, new RegExp(`chmod 600 ${ca.keyPath}`));
      return true;
    });
  });

  it('refuses a directory inside the repository, without creating it', async () => {
    for (const inside of [join(REPO, '.phonehome-test-ca'), join(REPO, 'src', 'ca'), REPO]) {
      const existed = existsSync(inside);
      await assert.rejects(LabCa.load(inside), (err: unknown) => {
        assert.ok(err instanceof CaError, String(err));
        assert.match(err.message, /inside the phonehome checkout/);
        assert.match(err.message, /PHONEHOME_CA_DIR/);
        return true;
      });
      assert.equal(existsSync(inside), existed, `${inside} not created`);
    }
  });

  it('refuses a repository directory whose name starts with two dots', async () => {
    const inside = join(REPO, '..phonehome-test-ca');
    try {
      await assert.rejects(LabCa.load(inside), CaError, `${inside} is inside the repository`);
    } finally {
      rmSync(inside, { recursive: true, force: true });
    }
  });

  it('two processes loading the same fresh directory at once end up with one CA', async () => {
    const dir = join(tmp, 'race');
    const script = join(tmp, 'load-ca.mts');
    writeFileSync(
      script,
      `import { LabCa } from ${JSON.stringify(CA_MODULE)};\n` +
        `const ca = await LabCa.load(process.argv[2]);\nprocess.stdout.write(ca.sha256);\n`,
    );
    const run = (): Promise<{ code: number | null; out: string; err: string }> =>
      new Promise((res, rej) => {
        const c = spawn(process.execPath, ['--import', 'tsx/esm', script, dir], {
          cwd: REPO,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString()));
        c.stderr.on('data', (d: Buffer) => (err += d.toString()));
        c.on('error', rej);
        c.on('close', (code) => res({ code, out, err }));
      });
    const [a, b] = await Promise.all([run(), run()]);
    assert.equal(a.code, 0, a.err);
    assert.equal(b.code, 0, b.err);
    assert.match(a.out, /^[0-9a-f]{64}$/);
    assert.equal(a.out, b.out, 'both processes use the same CA');
    const ca = await LabCa.load(dir);
    assert.equal(ca.sha256, a.out, 'the one on disk');
    assert.deepEqual(readdirSync(dir).sort(), ['ca.key', 'ca.pem']);
    assert.equal(statSync(ca.keyPath).mode & 0o777, 0o600);
  });
});
