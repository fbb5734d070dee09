/** Resource limits of the virtual phone: a runaway command ends in ENOSPC, not in a lab out of memory. */
import assert from 'node:assert/strict';
import { Vfs, VfsError } from '../../../src/virtual/os/vfs.ts';
import { coreutils } from '../../../src/virtual/shell/coreutils.ts';
import { runScript } from '../../../src/virtual/shell/interpreter.ts';
import { BufferInStream, CollectOutStream } from '../../../src/virtual/shell/streams.ts';
import type { VirtualPhone } from '../../../src/virtual/phone.ts';

const MiB = 1024 * 1024;

describe('virtual phone limits', () => {
  it('refuses files above the size cap with ENOSPC (write, append, truncate)', () => {
    const fs = new Vfs({ maxFileBytes: MiB });
    fs.writeFile('/data/local/tmp/ok', Buffer.alloc(MiB));
    assert.throws(
      () => fs.writeFile('/data/local/tmp/big', Buffer.alloc(MiB + 1)),
      (e: unknown) => {
        assert.ok(e instanceof VfsError);
        assert.equal(e.code, 'ENOSPC');
        assert.equal(e.message, 'No space left on device');
        return true;
      },
    );
    assert.throws(
      () => fs.writeFile('/data/local/tmp/ok', Buffer.alloc(1), { append: true }),
      /No space left/,
    );
    assert.throws(() => fs.truncate('/data/local/tmp/ok', MiB + 1), /No space left/);
    assert.equal(fs.stat('/data/local/tmp/ok')?.size, MiB);
  });

  it('makes `yes > file` stop with "No space left on device" and status 1', async () => {
    const fs = new Vfs({ maxFileBytes: MiB });
    const phone = { fs, lookupCommand: (n: string) => coreutils[n] } as unknown as VirtualPhone;
    const stdout = new CollectOutStream();
    const stderr = new CollectOutStream();
    const status = await runScript('yes abcdefgh > /data/local/tmp/z; echo "rc=$?"', {
      phone,
      env: new Map([['PATH', '/system/bin']]),
      cwd: '/',
      uid: 0,
      stdin: new BufferInStream(Buffer.alloc(0)),
      stdout,
      stderr,
      signal: new AbortController().signal,
    });
    assert.equal(status, 0);
    assert.equal(stdout.text(), 'rc=1\n');
    assert.match(stderr.text(), /yes: No space left on device/);
    assert.ok((fs.stat('/data/local/tmp/z')?.size ?? 0) <= MiB);
  });
});
