/**
 * The `sync:` service (push, pull, ls, stat) over the phone's filesystem. Requests form a byte
 * stream of `ID(4) + u32 LE + payload`; SEND is followed by DATA…DONE; DONE and QUIT carry a number
 * (mtime / 0) in the length field instead of a payload. See shared/facts/adb-protocol.md §7.
 */
import type { VirtualPhone } from '../phone.ts';
import type { VfsStat } from '../os/vfs.ts';
import type { AdbStream } from './stream.ts';
import { ByteReader } from './io.ts';

const MAX_DATA = 64 * 1024;
const ENOENT = 2;

function id(name: string): Buffer {
  return Buffer.from(name, 'ascii');
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

function fail(message: string): Buffer {
  const msg = Buffer.from(message);
  return Buffer.concat([id('FAIL'), u32(msg.length), msg]);
}

/** The 68-byte stat body shared by STA2/LST2 and DNT2 (error, dev, ino, mode, nlink, uid, gid, size, atime, mtime, ctime). */
function stat2Body(st: VfsStat | null, error = 0): Buffer {
  const b = Buffer.alloc(68);
  if (!st) {
    b.writeUInt32LE(error || ENOENT, 0);
    return b;
  }
  b.writeUInt32LE(0, 0);
  b.writeBigUInt64LE(BigInt(st.dev), 4);
  b.writeBigUInt64LE(BigInt(st.ino), 12);
  b.writeUInt32LE(st.mode >>> 0, 20);
  b.writeUInt32LE(st.nlink, 24);
  b.writeUInt32LE(st.uid, 28);
  b.writeUInt32LE(st.gid, 32);
  b.writeBigUInt64LE(BigInt(st.size), 36);
  b.writeBigInt64LE(BigInt(st.atime), 44);
  b.writeBigInt64LE(BigInt(st.mtime), 52);
  b.writeBigInt64LE(BigInt(st.ctime), 60);
  return b;
}

function errnoOf(err: unknown): string {
  const e = err as { code?: string; message?: string };
  switch (e.code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EACCES':
      return 'Permission denied';
    case 'EROFS':
      return 'Read-only file system';
    case 'EISDIR':
      return 'Is a directory';
    case 'ENOTDIR':
      return 'Not a directory';
    default:
      return e.message ?? String(err);
  }
}

export function syncService(phone: VirtualPhone) {
  return (stream: AdbStream): void => {
    void runSync(phone, stream)
      .catch((err: unknown) => phone.emit('log', `sync failed: ${String(err)}`))
      .finally(() => stream.end());
  };
}

async function runSync(phone: VirtualPhone, stream: AdbStream): Promise<void> {
  const reader = new ByteReader(stream);
  const uid = () => (phone.adbdRoot ? 0 : 2000);
  const write = (buf: Buffer) =>
    new Promise<void>((resolve) => {
      if (stream.destroyed || stream.writableEnded) return resolve();
      if (stream.write(buf)) resolve();
      else {
        const done = () => {
          stream.off('drain', done);
          stream.off('close', done);
          resolve();
        };
        stream.once('drain', done);
        stream.once('close', done);
      }
    });

  for (;;) {
    const head = await reader.readExact(8);
    if (!head) return;
    const cmd = head.toString('ascii', 0, 4);
    const len = head.readUInt32LE(4);
    if (cmd === 'QUIT') return;
    if (len > 4096 && cmd !== 'DATA') {
      await write(fail(`path too long`));
      return;
    }
    const payload = await reader.readExact(len);
    if (!payload) return;
    const path = phone.fs.normalize(payload.toString('utf8') || '/');

    switch (cmd) {
      case 'STAT': {
        const st = phone.fs.lstat(path);
        const b = Buffer.alloc(16);
        id('STAT').copy(b, 0);
        if (st) {
          b.writeUInt32LE(st.mode >>> 0, 4);
          b.writeUInt32LE(Math.min(st.size, 0xffffffff), 8);
          b.writeUInt32LE(st.mtime >>> 0, 12);
        }
        await write(b);
        break;
      }
      case 'STA2':
      case 'LST2': {
        const st = cmd === 'STA2' ? phone.fs.stat(path) : phone.fs.lstat(path);
        await write(Buffer.concat([id(cmd), stat2Body(st)]));
        break;
      }
      case 'LIST':
      case 'LIS2': {
        // A missing path, a file or an unreadable directory: adbd's opendir fails and it sends DONE only.
        let names: string[] | undefined;
        try {
          names = phone.fs.readdir(path, uid());
        } catch {
          names = undefined;
        }
        const parts: Buffer[] = [];
        for (const name of names ? ['.', '..', ...names] : []) {
          const full =
            name === '.'
              ? path
              : name === '..'
                ? phone.fs.normalize(`${path}/..`)
                : `${path === '/' ? '' : path}/${name}`;
          const st = phone.fs.lstat(full);
          if (!st) continue;
          const nameBuf = Buffer.from(name);
          if (cmd === 'LIST') {
            const d = Buffer.alloc(20);
            id('DENT').copy(d, 0);
            d.writeUInt32LE(st.mode >>> 0, 4);
            d.writeUInt32LE(Math.min(st.size, 0xffffffff), 8);
            d.writeUInt32LE(st.mtime >>> 0, 12);
            d.writeUInt32LE(nameBuf.length, 16);
            parts.push(d, nameBuf);
          } else {
            parts.push(id('DNT2'), stat2Body(st), u32(nameBuf.length), nameBuf);
          }
        }
        parts.push(id('DONE'), Buffer.alloc(cmd === 'LIST' ? 16 : 72));
        await write(Buffer.concat(parts));
        break;
      }
      case 'RECV': {
        let data: Buffer;
        try {
          const st = phone.fs.stat(path);
          if (st?.type === 'dir') throw Object.assign(new Error('Is a directory'), { code: 'EISDIR' });
          data = phone.fs.readFile(path, uid());
        } catch (err) {
          await write(fail(`open failed: ${errnoOf(err)}`));
          return;
        }
        for (let off = 0; off < data.length; off += MAX_DATA) {
          const piece = data.subarray(off, Math.min(data.length, off + MAX_DATA));
          await write(Buffer.concat([id('DATA'), u32(piece.length), piece]));
        }
        await write(Buffer.concat([id('DONE'), u32(0)]));
        break;
      }
      case 'SEND': {
        const spec = payload.toString('utf8');
        const comma = spec.lastIndexOf(',');
        const target = phone.fs.normalize(comma >= 0 ? spec.slice(0, comma) : spec);
        const mode = comma >= 0 ? Number(spec.slice(comma + 1)) & 0o7777 : 0o644;
        const chunks: Buffer[] = [];
        let mtime: number;
        for (;;) {
          const h = await reader.readExact(8);
          if (!h) return;
          const kind = h.toString('ascii', 0, 4);
          const n = h.readUInt32LE(4);
          if (kind === 'DATA') {
            if (n > MAX_DATA) {
              await write(fail(`data chunk of ${n} bytes exceeds 64 KiB`));
              return;
            }
            const d = await reader.readExact(n);
            if (!d) return;
            chunks.push(d);
          } else if (kind === 'DONE') {
            mtime = n;
            break;
          } else {
            await write(fail(`unexpected '${kind}' during SEND`));
            return;
          }
        }
        try {
          phone.fs.writeFile(target, Buffer.concat(chunks), {
            mode,
            uid: uid(),
            gid: uid(),
            mtime,
            mkdirs: true,
          });
        } catch (err) {
          await write(fail(`couldn't create file: ${errnoOf(err)}`));
          return;
        }
        await write(Buffer.concat([id('OKAY'), u32(0)]));
        break;
      }
      default:
        await write(fail(`unknown sync command '${cmd}'`));
        return;
    }
  }
}
