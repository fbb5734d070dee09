/**
 * The one place that loads @devicefarmer/adbkit. Everything else in phonehome gets its adb client
 * (and adbkit's types) from here, so the CommonJS interop lives in a single module.
 *
 * Interop: adbkit is CommonJS with `exports.default`, and what an ESM `import` of it yields depends
 * on who loads this file. Run as native ESM (tsx, node on tsc output) a default import is the whole
 * `module.exports` (so `adbkit.createClient` is undefined and `adbkit.Adb.createClient` works);
 * transpiled to CommonJS (mocha loads .ts test files through tsx's require hook) the same default
 * import is `exports.default`, the Adb class, and `adbkit.Adb` is undefined. A named import throws
 * in native ESM ("Named export 'Adb' not found"). `createRequire` returns `module.exports` in both
 * cases, so that is what we use; the types come from `import type`.
 */
import { createRequire } from 'node:module';
import { AdbPortError } from './errors.ts';
// Under nodenext a default import of a CommonJS module is typed as its `module.exports`.
import type AdbkitExports from '@devicefarmer/adbkit';
import type ConnectionExports from '@devicefarmer/adbkit/dist/src/adb/connection.js';
import type { Client, Forward, Reverse } from '@devicefarmer/adbkit';
import type { EventEmitter } from 'node:events';
import type { Duplex, Readable } from 'node:stream';

export type { Client as AdbClient } from '@devicefarmer/adbkit';

const requireCjs = createRequire(import.meta.url);
const adbkit = requireCjs('@devicefarmer/adbkit') as typeof AdbkitExports;
const { Adb, Parser, DeviceClient: DeviceClientClass } = adbkit;
/** adbkit's Connection class (not exported from its index; needed to skip the server auto-start). */
const AdbkitConnection = (
  requireCjs('@devicefarmer/adbkit/dist/src/adb/connection.js') as typeof ConnectionExports
).default;

/** adbkit's protocol reader (FailError, PrematureEOFError, …), for error classification. */
export { Parser as AdbParser };

export const DEFAULT_ADB_PORT = 5037;
export const DEFAULT_ADB_HOST = '127.0.0.1';

/** One socket to the adb server, with adbkit's protocol reader (`.socket`, `.parser`, `.write`). */
export type AdbConnection = InstanceType<typeof AdbkitConnection>;

/**
 * The adbkit DeviceClient calls phonehome uses, with their real result types (adbkit types them as
 * Bluebird promises, which are `any` without @types/bluebird).
 */
export interface AdbDeviceApi {
  transport(): Promise<AdbConnection>;
  reverse(remote: string, local: string): Promise<boolean>;
  listReverses(): Promise<Reverse[]>;
  forward(local: string, remote: string): Promise<boolean>;
  listForwards(): Promise<Forward[]>;
  /** Emits 'end' when done and 'error' (before 'end') on failure. */
  push(contents: string | Readable, path: string, mode?: number): Promise<EventEmitter>;
  stat(
    path: string,
  ): Promise<{ mode: number; size: number; mtimeMs: number; isFile(): boolean; isDirectory(): boolean }>;
  /** adbkit-logcat's Reader: 'entry', 'error', 'end'; end() stops reading. */
  openLogcat(options?: { clear?: boolean }): Promise<EventEmitter & { end(): unknown }>;
  screencap(): Promise<Duplex>;
}

/**
 * adbkit's API for one phone, each of whose connections is handed to `track` as it opens (so the
 * caller can destroy them all on timeout).
 */
export function scopedDeviceApi(
  client: Client,
  serial: string,
  track: (conn: AdbConnection) => AdbConnection,
): AdbDeviceApi {
  // DeviceClient opens every socket through `this.client.connection()`; a client object whose
  // `connection` is ours makes them all visible. It stays a Bluebird promise: adbkit chains
  // Bluebird-only calls (`.return`, filtered `.catch`) onto it.
  const connection = () => client.connection().then((conn: AdbConnection) => track(conn));
  const scoped: Client = Object.create(client, { connection: { value: connection } });
  return new DeviceClientClass(scoped, serial);
}

/** A new connection to the adb server (typed). */
export function openConnection(client: Client): Promise<AdbConnection> {
  return Promise.resolve(client.connection() as Promise<AdbConnection>);
}

export interface AdbClientOptions {
  /** Defaults to ANDROID_ADB_SERVER_ADDRESS, else 127.0.0.1. */
  host?: string;
  /** Defaults to ANDROID_ADB_SERVER_PORT (adb's own convention), else 5037. */
  port?: number;
  /**
   * Start an adb server when none answers (adbkit runs `adb -P PORT start-server`). Off by default:
   * a typo'd port must not leave a stray adb server behind, and tests use private servers.
   */
  autoStartServer?: boolean;
}

/** The adb client plus where it points, so error messages can name the server. */
export type PhonehomeAdbClient = Client & { readonly host: string; readonly port: number };

/**
 * A TCP port (1–65535) from user input: a whole number, or a string of decimal digits (blanks
 * around it allowed). Anything else (`''`, `0x10`, `1e3`, `80.5`, `70000`) is undefined.
 * The one port parser of phonehome: the CLI checks its own ranges on top of it.
 */
export function parsePort(value: string | number): number | undefined {
  let port: number;
  if (typeof value === 'number') port = value;
  else if (/^\s*\d{1,5}\s*$/.test(value)) port = Number(value);
  else return undefined;
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * The adb server port: `explicit` if given, else ANDROID_ADB_SERVER_PORT (unless empty, as adb
 * itself treats it), else 5037. Throws an AdbPortError naming `option` (default: the `port` option)
 * or the variable, with the fix. An explicit empty string is an error, not "use the default": a
 * script's `--adb-port "$PORT"` with PORT unset must not fall through to the developer's 5037.
 */
export function resolveAdbPort(explicit?: number | string, opts: { option?: string } = {}): number {
  if (explicit !== undefined) {
    const port = parsePort(explicit);
    if (port === undefined)
      throw new AdbPortError({ value: explicit, source: opts.option ?? 'the "port" option' });
    return port;
  }
  const env = process.env['ANDROID_ADB_SERVER_PORT'];
  if (env !== undefined && env.trim() !== '') {
    const port = parsePort(env);
    if (port === undefined)
      throw new AdbPortError({ value: env, source: 'ANDROID_ADB_SERVER_PORT', fromEnv: true });
    return port;
  }
  return DEFAULT_ADB_PORT;
}

function resolveAdbHost(explicit?: string): string {
  if (explicit) return explicit;
  const env = process.env['ANDROID_ADB_SERVER_ADDRESS'];
  return env && env.trim() !== '' ? env.trim() : DEFAULT_ADB_HOST;
}

export function createAdbClient(opts: AdbClientOptions = {}): PhonehomeAdbClient {
  const host = resolveAdbHost(opts.host);
  const port = resolveAdbPort(opts.port);
  const client = Adb.createClient({ host, port });
  // adbkit re-emits connection errors nobody awaited on the client; an EventEmitter 'error' with no
  // listener would crash the process. Every call phonehome makes handles its own errors, so these
  // are duplicates (e.g. a socket we destroyed on timeout).
  client.on('error', () => undefined);
  if (!opts.autoStartServer) {
    // Same as adbkit's Client.connection(), minus the `adb start-server` attempt on ECONNREFUSED
    // (adbkit 3.3.9 keeps that flag in a private field; the version is pinned).
    client.connection = function connection() {
      const conn: AdbConnection = new AdbkitConnection(client.options);
      (conn as unknown as { triedStarting: boolean }).triedStarting = true;
      conn.on('error', (err: Error) => client.emit('error', err));
      return conn.connect();
    };
  }
  return client as PhonehomeAdbClient;
}

/** `host:port` of the adb server a client talks to. */
export function adbServerAddress(client: Client): { host: string; port: number } {
  return { host: client.host, port: Number(client.port) };
}
