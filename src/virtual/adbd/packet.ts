/**
 * ADB packets: a 24-byte header of six little-endian u32 (command, arg0, arg1, data_length,
 * data_check, magic) and a payload. adb 29 checks magic but not data_check, so we send check 0
 * under version 0x01000001 (see shared/facts/adb-protocol.md §1–2).
 */

export const A_CNXN = 0x4e584e43;
export const A_OPEN = 0x4e45504f;
export const A_OKAY = 0x59414b4f;
export const A_CLSE = 0x45534c43;
export const A_WRTE = 0x45545257;
export const A_AUTH = 0x48545541;
export const A_SYNC = 0x434e5953;
export const A_STLS = 0x534c5453;

export const A_VERSION = 0x01000001;
export const HEADER_SIZE = 24;
/** The host's own maximum payload (1 MiB); a larger data_length means a corrupt stream. */
export const HOST_MAX_PAYLOAD = 1024 * 1024;

export interface Packet {
  command: number;
  arg0: number;
  arg1: number;
  data: Buffer;
}

const NAMES: Record<number, string> = {
  [A_CNXN]: 'CNXN',
  [A_OPEN]: 'OPEN',
  [A_OKAY]: 'OKAY',
  [A_CLSE]: 'CLSE',
  [A_WRTE]: 'WRTE',
  [A_AUTH]: 'AUTH',
  [A_SYNC]: 'SYNC',
  [A_STLS]: 'STLS',
};

export function commandName(command: number): string {
  return NAMES[command] ?? `0x${command.toString(16)}`;
}

export function encodePacket(command: number, arg0: number, arg1: number, data?: Buffer | string): Buffer {
  const payload = data === undefined ? Buffer.alloc(0) : typeof data === 'string' ? Buffer.from(data) : data;
  const header = Buffer.allocUnsafe(HEADER_SIZE);
  header.writeUInt32LE(command >>> 0, 0);
  header.writeUInt32LE(arg0 >>> 0, 4);
  header.writeUInt32LE(arg1 >>> 0, 8);
  header.writeUInt32LE(payload.length, 12);
  header.writeUInt32LE(0, 16);
  header.writeUInt32LE((command ^ 0xffffffff) >>> 0, 20);
  return payload.length === 0 ? header : Buffer.concat([header, payload]);
}

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/**
 * Incremental packet reader: feed it whatever TCP delivers, get whole packets back. Throws
 * ProtocolError on a bad magic or an impossible length (the connection must then be dropped).
 */
export class PacketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Packet[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Packet[] = [];
    for (;;) {
      if (this.buffered < HEADER_SIZE) break;
      const head = this.peek(HEADER_SIZE);
      const command = head.readUInt32LE(0);
      const length = head.readUInt32LE(12);
      const magic = head.readUInt32LE(20);
      if (magic !== (command ^ 0xffffffff) >>> 0) {
        throw new ProtocolError(`bad magic for command 0x${command.toString(16)}`);
      }
      if (length > HOST_MAX_PAYLOAD) throw new ProtocolError(`payload of ${length} bytes exceeds 1 MiB`);
      if (this.buffered < HEADER_SIZE + length) break;
      const whole = this.take(HEADER_SIZE + length);
      out.push({
        command,
        arg0: whole.readUInt32LE(4),
        arg1: whole.readUInt32LE(8),
        data: whole.subarray(HEADER_SIZE),
      });
    }
    return out;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    let first = this.chunks[0]!;
    if (first.length < n) {
      this.chunks = [Buffer.concat(this.chunks)];
      first = this.chunks[0]!;
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}
