/**
 * Shell services: legacy `shell:` / `exec:` (raw bytes, stdout and stderr merged, no exit status;
 * adbkit only ever uses this) and `shell,v2,…:` (framed; separate stderr; the exit packet is always
 * sent before CLSE, or the adb CLI would exit 0).
 */
import type { VirtualPhone } from '../phone.ts';
import type { InStream } from '../commands/types.ts';
import { checkSyntax } from '../shell/interpreter.ts';
import type { AdbStream } from './stream.ts';
import { ByteReader, inStreamOf, outStreamOf } from './io.ts';

const V2_STDIN = 0;
const V2_STDOUT = 1;
const V2_STDERR = 2;
const V2_EXIT = 3;
const V2_CLOSE_STDIN = 4;

function v2Frame(id: number, data: Buffer): Buffer {
  const head = Buffer.allocUnsafe(5);
  head.writeUInt8(id, 0);
  head.writeUInt32LE(data.length, 1);
  return Buffer.concat([head, data]);
}

/**
 * Runs `command`; or, when it is empty (`adb shell` with its input piped), reads the script from
 * the input and runs each complete command as soon as it has arrived, in one shell session, so
 * variables, `cd` and multi-line compound commands work as with `sh` reading a script.
 */
async function runCommandOrSession(
  phone: VirtualPhone,
  command: string,
  io: Omit<Parameters<VirtualPhone['exec']>[1], 'stdin'> & { stdin: InStream },
): Promise<number> {
  if (command.trim() !== '') return phone.exec(command, io);
  // The script arrives on stdin, so the commands in it get an empty input.
  const session = phone.openSession({ ...io, stdin: { read: async () => null } });
  let status = 0;
  let pending = '';
  let searchFrom = 0;
  for (;;) {
    const chunk = await io.stdin.read();
    if (chunk !== null) pending += chunk.toString('utf8');
    for (;;) {
      const nl = pending.indexOf('\n', searchFrom);
      if (nl < 0) break;
      const script = pending.slice(0, nl + 1);
      if (checkSyntax(script) === 'incomplete') {
        searchFrom = nl + 1; // e.g. inside a for … done: wait for more lines
        continue;
      }
      pending = pending.slice(nl + 1);
      searchFrom = 0;
      status = await session.run(script);
      if (session.exitStatus !== null || io.signal.aborted) {
        await session.finish();
        return session.exitStatus ?? status;
      }
    }
    if (chunk === null) break;
  }
  if (pending.trim() !== '') status = await session.run(pending);
  await session.finish();
  return session.exitStatus ?? status;
}

export function legacyShell(phone: VirtualPhone, command: string) {
  return (stream: AdbStream): void => {
    const out = outStreamOf(stream);
    void runCommandOrSession(phone, command, {
      stdin: inStreamOf(stream),
      stdout: out,
      stderr: out,
      signal: stream.closedSignal,
    })
      .catch((err: unknown) => phone.emit('log', `shell '${command}' failed: ${String(err)}`))
      .finally(() => stream.end());
  };
}

export function shellV2(phone: VirtualPhone, command: string) {
  return (stream: AdbStream): void => {
    const stdin = new V2Stdin(stream);
    void runCommandOrSession(phone, command, {
      stdin,
      stdout: outStreamOf(stream, (d) => v2Frame(V2_STDOUT, d)),
      stderr: outStreamOf(stream, (d) => v2Frame(V2_STDERR, d)),
      signal: stream.closedSignal,
    })
      .catch((err: unknown) => {
        phone.emit('log', `shell '${command}' failed: ${String(err)}`);
        return 1;
      })
      .then((status) => {
        if (!stream.destroyed && !stream.writableEnded) {
          stream.write(v2Frame(V2_EXIT, Buffer.from([status & 0xff])));
        }
        stream.end();
      });
  };
}

/** Demultiplexes shell v2 input: stdin packets become input; close-stdin ends it. */
class V2Stdin implements InStream {
  private readonly reader: ByteReader;
  private eof = false;

  constructor(stream: AdbStream) {
    this.reader = new ByteReader(stream);
  }

  async read(): Promise<Buffer | null> {
    while (!this.eof) {
      const head = await this.reader.readExact(5);
      if (!head) break;
      const id = head.readUInt8(0);
      const len = head.readUInt32LE(1);
      const data = len ? await this.reader.readExact(len) : Buffer.alloc(0);
      if (data === null) break;
      if (id === V2_STDIN && data.length) return data;
      if (id === V2_CLOSE_STDIN) break;
      // window-size and anything else: ignored (no pty)
    }
    this.eof = true;
    return null;
  }
}

/** Parses `shell,v2,TERM=xterm,raw:CMD` / `shell:CMD` / `exec:CMD` into its parts. */
export function parseShellService(service: string): { v2: boolean; command: string } | null {
  if (service.startsWith('exec:')) return { v2: false, command: service.slice(5) };
  if (service.startsWith('shell:')) return { v2: false, command: service.slice(6) };
  const m = /^shell(,[^:]*)?:(.*)$/s.exec(service);
  if (!m) return null;
  const args = (m[1] ?? '').split(',').filter(Boolean);
  return { v2: args.includes('v2'), command: m[2] ?? '' };
}
