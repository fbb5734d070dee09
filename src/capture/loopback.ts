/**
 * mockttp 4 has no listen-address option: `start()` calls `server.listen(port)`, which binds every
 * interface. A capture proxy must bind 127.0.0.1 only (phones reach it through `adb reverse`, whose
 * host end connects to loopback). `onLoopback(fn)` runs `fn` with `net.Server#listen` rewritten so
 * that a bare-port listen started in `fn`'s async context binds 127.0.0.1; listens made anywhere
 * else (other sessions, the lab, tests) are untouched. Callers still verify the bound address.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import net from 'node:net';

const scope = new AsyncLocalStorage<true>();
let patched = false;

function patchOnce(): void {
  if (patched) return;
  patched = true;
  const original = Reflect.get(net.Server.prototype, 'listen') as (...args: unknown[]) => net.Server;
  const listen = function (this: net.Server, ...args: unknown[]): net.Server {
    const barePort = typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function');
    if (scope.getStore() && barePort) args.splice(1, 0, '127.0.0.1');
    return Reflect.apply(original, this, args);
  };
  Reflect.set(net.Server.prototype, 'listen', listen);
}

export async function onLoopback<T>(fn: () => Promise<T>): Promise<T> {
  patchOnce();
  return scope.run(true, fn);
}

/** Throws unless the server listens on 127.0.0.1 only. */
export function assertLoopback(address: net.AddressInfo | string | null, what: string): number {
  if (!address || typeof address === 'string' || address.address !== '127.0.0.1') {
    throw new Error(
      `${what} is not bound to 127.0.0.1 (it listens on ${JSON.stringify(address)}); refusing to expose ` +
        'a capture proxy beyond loopback',
    );
  }
  return address.port;
}
