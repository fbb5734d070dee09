import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLeases, LeaseHeldError, leaseDir } from '../../../src/runner/lease.ts';
import { EXIT } from '../../../src/report/run-folder.ts';

describe('runner leases', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'phonehome-lease-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes one lease per phone with pid and start time, and removes them on release', () => {
    const l = acquireLeases(dir, ['127.0.0.1:41001', 'ABC'], 'run-1');
    const file = join(leaseDir(dir), '127.0.0.1_41001.json');
    const rec = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; serial: string; run: string };
    assert.equal(rec.pid, process.pid);
    assert.equal(rec.serial, '127.0.0.1:41001');
    assert.equal(rec.run, 'run-1');
    l.release();
    assert.equal(existsSync(file), false);
    l.release();
  });

  it('a phone leased by a live process fails fast (exit 3, holder pid) and takes none of the others', async () => {
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      mkdirSync(leaseDir(dir), { recursive: true });
      writeFileSync(
        join(leaseDir(dir), 'B.json'),
        JSON.stringify({ serial: 'B', pid: holder.pid, since: '2026-01-01T00:00:00Z' }),
      );
      assert.throws(
        () => acquireLeases(dir, ['A', 'B']),
        (err: unknown) => {
          assert.ok(err instanceof LeaseHeldError);
          assert.equal(err.exitCode, EXIT.infrastructure);
          assert.match(err.message, new RegExp(`phone B is leased by another run \\(pid ${holder.pid}`));
          return true;
        },
      );
      assert.equal(existsSync(join(leaseDir(dir), 'A.json')), false, 'all or nothing');
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('takes over a stale lease (dead holder, or a reused pid with another start time)', async () => {
    const dead = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await new Promise((r) => dead.on('exit', r));
    mkdirSync(leaseDir(dir), { recursive: true });
    writeFileSync(join(leaseDir(dir), 'A.json'), JSON.stringify({ serial: 'A', pid: dead.pid, since: 'x' }));
    writeFileSync(
      join(leaseDir(dir), 'B.json'),
      JSON.stringify({ serial: 'B', pid: process.ppid, startTime: '1', since: 'x' }),
    );
    const l = acquireLeases(dir, ['A', 'B']);
    for (const s of ['A', 'B']) {
      const rec = JSON.parse(readFileSync(join(leaseDir(dir), `${s}.json`), 'utf8')) as { pid: number };
      assert.equal(rec.pid, process.pid);
    }
    l.release();
  });
});
