/**
 * adb's shell protocol v2 (the `shell,v2,…:` service): a byte stream of packets
 * `[u8 id][u32 LE length][data]`, split across or merged into socket chunks freely
 * (adb-protocol.md §4.1).
 */

export const V2_STDIN = 0;
export const V2_STDOUT = 1;
export const V2_STDERR = 2;
export const V2_EXIT = 3;
export const V2_CLOSE_STDIN = 4;
export const V2_WINDOW_SIZE = 5;

const HEADER = 5;
/** adbd's own buffer is 32 KiB; keep stdin packets in that range. */
export const V2_MAX_STDIN_CHUNK = 32 * 1024;

export interface V2Packet {
  id: number;
  data: Buffer;
}

export function encodeV2Packet(id: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.allocUnsafe(HEADER);
  head.writeUInt8(id, 0);
  head.writeUInt32LE(data.length, 1);
  return Buffer.concat([head, data]);
}

/** stdin as v2 packets (chunked), followed by close-stdin. */
export function encodeV2Stdin(stdin: Buffer | undefined): Buffer[] {
  const out: Buffer[] = [];
  if (stdin) {
    for (let off = 0; off < stdin.length; off += V2_MAX_STDIN_CHUNK) {
      out.push(encodeV2Packet(V2_STDIN, stdin.subarray(off, off + V2_MAX_STDIN_CHUNK)));
    }
  }
  out.push(encodeV2Packet(V2_CLOSE_STDIN));
  return out;
}

/** Incremental decoder: feed socket chunks, get whole packets back. */
export class V2Decoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  push(chunk: Buffer): V2Packet[] {
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    const packets: V2Packet[] = [];
    for (;;) {
      if (this.pendingBytes < HEADER) break;
      const head = this.peek(HEADER);
      const length = head.readUInt32LE(1);
      if (this.pendingBytes < HEADER + length) break;
      const whole = this.take(HEADER + length);
      packets.push({ id: whole.readUInt8(0), data: whole.subarray(HEADER) });
    }
    return packets;
  }

  /** Bytes received that do not yet form a whole packet. */
  get buffered(): number {
    return this.pendingBytes;
  }

  private peek(n: number): Buffer {
    const first = this.pending[0];
    if (first && first.length >= n) return first.subarray(0, n);
    const joined = Buffer.concat(this.pending);
    this.pending = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    const joined = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return out;
  }
}
