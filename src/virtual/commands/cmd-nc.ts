/**
 * toybox `nc` over the phone's loopback network (PhoneNet): `nc HOST PORT` connects (only
 * 127.0.0.1/localhost reach anything yet; other hosts are refused), `nc -l [-p] PORT` accepts one
 * connection. Both pump stdin → socket and socket → stdout until the peer closes or the client
 * goes away.
 */
import type { Duplex } from 'node:stream';
import { NetError } from '../os/local-net.ts';
import type { CommandContext } from './types.ts';
import { err } from './util.ts';

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', 'ip6-localhost', '0.0.0.0']);
const USAGE = 'usage: nc [-46Llu] [-pqWw #] [-s addr] {IPADDR PORTNUM|-f FILENAME|COMMAND...}\n';

export async function nc(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  let listen = false;
  let port: string | undefined;
  const pos: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (!a.startsWith('-') || a === '-') {
      pos.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a.charAt(j);
      if (c === 'l' || c === 'L') listen = true;
      else if ('pqWwsf'.includes(c)) {
        const v = j + 1 < a.length ? a.slice(j + 1) : args[++i];
        if (v === undefined) {
          await err(ctx, USAGE);
          return 1;
        }
        if (c === 'p') port = v;
        break;
      } else if (!'46unt'.includes(c)) {
        await err(ctx, `nc: Unknown option '${c}'\n${USAGE}`);
        return 1;
      }
    }
  }
  if (listen) {
    const p = port ?? pos[pos.length - 1];
    if (!p || !/^\d+$/.test(p)) {
      await err(ctx, USAGE);
      return 1;
    }
    return serve(ctx, Number(p));
  }
  const [host, p] = pos;
  if (!host || !p || !/^\d+$/.test(p)) {
    await err(ctx, USAGE);
    return 1;
  }
  if (!LOCAL_HOSTS.has(host)) {
    // No route off the phone yet (an outbound sink comes later): refuse like a closed port.
    await err(ctx, 'nc: connect: Connection refused\n');
    return 1;
  }
  let socket: Duplex;
  try {
    socket = ctx.phone.net.connect(`tcp:${Number(p)}`);
  } catch (e) {
    if (e instanceof NetError) {
      await err(ctx, 'nc: connect: Connection refused\n');
      return 1;
    }
    throw e;
  }
  await pump(ctx, socket);
  return 0;
}

async function serve(ctx: CommandContext, port: number): Promise<number> {
  let accept!: (s: Duplex) => void;
  const accepted = new Promise<Duplex>((resolve) => (accept = resolve));
  let listener: { close: () => void };
  try {
    listener = ctx.phone.net.listen(`tcp:${port}`, (socket) => accept(socket));
  } catch (e) {
    if (e instanceof NetError) {
      await err(
        ctx,
        e.code === 'EADDRINUSE' ? 'nc: bind: Address already in use\n' : `nc: bind: ${e.message}\n`,
      );
      return 1;
    }
    throw e;
  }
  const aborted = new Promise<null>((resolve) => {
    if (ctx.signal.aborted) resolve(null);
    ctx.signal.addEventListener('abort', () => resolve(null), { once: true });
  });
  try {
    const socket = await Promise.race([accepted, aborted]);
    // toybox nc -l serves one connection: stop listening as soon as it is accepted.
    listener.close();
    if (socket) await pump(ctx, socket);
  } finally {
    listener.close();
  }
  return 0;
}

/** Copies stdin → socket (then half-closes) and socket → stdout; resolves when the socket ends. */
async function pump(ctx: CommandContext, socket: Duplex): Promise<void> {
  // Take data as soon as it arrives ('data' events) rather than leaving it buffered in the socket:
  // a peer that ends and closes right after writing must not lose its last bytes.
  const queue: Buffer[] = [];
  let done = false;
  let wake: (() => void) | undefined;
  const poke = (): void => wake?.();
  const finish = (): void => {
    done = true;
    poke();
  };
  socket.on('data', (chunk: Buffer) => {
    queue.push(chunk);
    if (queue.length > 64) socket.pause();
    poke();
  });
  socket.once('end', finish);
  socket.once('close', finish);
  socket.once('error', finish);
  const onAbort = (): void => {
    finish();
    socket.destroy();
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal.aborted) onAbort();

  void (async () => {
    for (;;) {
      const chunk = await ctx.stdin.read();
      if (chunk === null || done || socket.destroyed) break;
      if (!socket.write(chunk)) {
        await new Promise<void>((resolve) => {
          socket.once('drain', resolve);
          socket.once('close', resolve);
        });
      }
    }
    if (!socket.destroyed && !done) socket.end();
  })().catch(() => undefined);

  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk) {
        await ctx.stdout.write(chunk);
        if (queue.length < 16 && socket.isPaused()) socket.resume();
        continue;
      }
      if (done) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (queue.length || done) resolve();
      });
      wake = undefined;
    }
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    if (!socket.destroyed) socket.destroy();
  }
}
