/**
 * adb smart-socket requests that adbkit does not offer, sent over adbkit's own connections:
 * `host-serial:S:features`, shell v2, `reverse:killforward…`, `host-serial:S:killforward…`,
 * `reboot:` and the sync `RECV` request.
 *
 * A request is a hex4 length plus the service string; the server answers `OKAY`, or `FAIL` plus a
 * hex4 length and a message (adb-protocol.md §5–7).
 */
import type { AdbConnection } from './adb-client.ts';
import { V2_EXIT, V2_STDERR, V2_STDOUT, V2Decoder, encodeV2Stdin } from './shell-v2.ts';

/** The adb server or adbd answered FAIL. */
export class AdbFailError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'AdbFailError';
  }
}

/** The stream ended where the protocol needs more bytes. */
export class AdbClosedError extends Error {
  constructor(what: string) {
    super(`the adb connection closed ${what}`);
    this.name = 'AdbClosedError';
  }
}

export function encodeRequest(service: string): Buffer {
  const body = Buffer.from(service, 'utf8');
  if (body.length > 0xffff) throw new RangeError(`adb request too long (${body.length} bytes)`);
  return Buffer.concat([Buffer.from(body.length.toString(16).padStart(4, '0'), 'ascii'), body]);
}

/** Reads exactly `n` bytes; rejects with AdbClosedError if the stream ends first. */
async function readExactly(conn: AdbConnection, n: number, what: string): Promise<Buffer> {
  try {
    return await conn.parser.readBytes(n);
  } catch (err) {
    if ((err as Error).name === 'PrematureEOFError') throw new AdbClosedError(what);
    throw err;
  }
}

/** Reads a hex4 length and that many bytes. */
export async function readHexValue(conn: AdbConnection, what: string): Promise<Buffer> {
  const len = Number.parseInt((await readExactly(conn, 4, what)).toString('ascii'), 16);
  if (Number.isNaN(len)) throw new AdbFailError(`malformed reply ${what}`);
  return readExactly(conn, len, what);
}

/** Reads `OKAY` or `FAIL` + message. */
async function readStatus(conn: AdbConnection, what: string): Promise<void> {
  const status = (await readExactly(conn, 4, what)).toString('ascii');
  if (status === 'OKAY') return;
  if (status === 'FAIL') throw new AdbFailError((await readHexValue(conn, what)).toString('utf8'));
  throw new AdbFailError(`unexpected reply ${JSON.stringify(status)} ${what}`);
}

/** Sends a request and waits for `OKAY`. */
export async function request(conn: AdbConnection, service: string): Promise<void> {
  conn.write(encodeRequest(service));
  await readStatus(conn, `before answering ${service.split(':')[0]}`);
}

/** A host request answered with `OKAY` + hex4 value (e.g. `host-serial:S:features`). */
export async function queryValue(conn: AdbConnection, service: string): Promise<string> {
  await request(conn, service);
  return (await readHexValue(conn, 'in the middle of a reply')).toString('utf8');
}

/**
 * A request whose success is a second `OKAY` (forward/killforward on the server; `reverse:` on
 * adbd, where the first OKAY comes from the server when adbd accepts the stream). A close right
 * after the first OKAY counts as success.
 */
export async function requestWithStatus(conn: AdbConnection, service: string): Promise<void> {
  await request(conn, service);
  try {
    await readStatus(conn, 'after the first OKAY');
  } catch (err) {
    if (err instanceof AdbClosedError) return;
    throw err;
  }
}

/** Reads until the peer closes (used after `reboot:`); resolves on end, close or error. */
export function waitForClose(conn: AdbConnection): Promise<void> {
  const socket = conn.socket;
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    socket.on('data', () => undefined);
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
    socket.resume();
  });
}

export interface ShellOutput {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

/**
 * Runs `command` through `shell,v2,raw:` on a connection already switched to the phone's transport.
 * stdin (if any) is sent, then close-stdin, so commands reading stdin see EOF.
 */
export async function shellV2(conn: AdbConnection, command: string, stdin?: Buffer): Promise<ShellOutput> {
  await request(conn, `shell,v2,raw:${command}`);
  const socket = conn.socket;
  for (const packet of encodeV2Stdin(stdin)) socket.write(packet);
  return new Promise<ShellOutput>((resolve, reject) => {
    const decoder = new V2Decoder();
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let done = false;
    const finish = (err: Error | undefined, exitCode = 0) => {
      if (done) return;
      done = true;
      socket.off('data', onData);
      if (err) reject(err);
      else resolve({ stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), exitCode });
    };
    const onData = (chunk: Buffer) => {
      for (const packet of decoder.push(chunk)) {
        if (packet.id === V2_STDOUT) stdout.push(packet.data);
        else if (packet.id === V2_STDERR) stderr.push(packet.data);
        else if (packet.id === V2_EXIT) finish(undefined, packet.data[0] ?? 0);
      }
    };
    socket.on('data', onData);
    // Built only when needed: a normal exit closes the socket too, and an Error's stack is not free.
    const closedEarly = () => {
      if (!done) finish(new AdbClosedError('before the command reported its exit status'));
    };
    socket.once('end', closedEarly);
    socket.once('close', closedEarly);
    socket.once('error', (err) => finish(err));
    socket.resume();
  });
}

/** Runs a legacy `shell:` request and returns every byte until the phone closes the stream. */
export async function shellLegacy(conn: AdbConnection, command: string): Promise<Buffer> {
  await request(conn, `shell:${command}`);
  return readToEnd(conn);
}

export function readToEnd(conn: AdbConnection): Promise<Buffer> {
  const socket = conn.socket;
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => parts.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(parts)));
    socket.once('error', reject);
    socket.once('close', () => resolve(Buffer.concat(parts)));
    socket.resume();
  });
}

function syncHeader(id: string, length: number): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 4, 'ascii');
  head.writeUInt32LE(length, 4);
  return head;
}

/**
 * Pulls one file over `sync:` (RECV, then DATA… DONE or FAIL). adbkit's pull emits 'end' before the
 * FAIL error on a missing file, so a caller cannot tell failure from an empty file; this one can.
 */
export async function syncPull(
  conn: AdbConnection,
  remotePath: string,
  onProgress: (bytes: number) => void,
): Promise<Buffer> {
  await request(conn, 'sync:');
  const path = Buffer.from(remotePath, 'utf8');
  conn.write(Buffer.concat([syncHeader('RECV', path.length), path]));
  const parts: Buffer[] = [];
  let total = 0;
  for (;;) {
    const head = await readExactly(conn, 8, 'in the middle of a pull');
    const id = head.toString('ascii', 0, 4);
    const len = head.readUInt32LE(4);
    if (id === 'DATA') {
      const data = await readExactly(conn, len, 'in the middle of a pull');
      parts.push(data);
      total += data.length;
      onProgress(total);
    } else if (id === 'DONE') {
      break;
    } else if (id === 'FAIL') {
      throw new AdbFailError((await readExactly(conn, len, 'in the middle of a pull')).toString('utf8'));
    } else {
      throw new AdbFailError(`unexpected sync reply ${JSON.stringify(id)}`);
    }
  }
  conn.write(syncHeader('QUIT', 0));
  return Buffer.concat(parts);
}
