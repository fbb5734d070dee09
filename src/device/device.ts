/**
 * One phone, as the rest of phonehome sees it. Every call has a timeout; on timeout the adb
 * connections the call opened are destroyed (nothing keeps running on a long-lived lab host) and a
 * DeviceError names the phone, the operation, the limit and the fix.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { stat as statLocal } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  openConnection,
  scopedDeviceApi,
  type AdbClient,
  type AdbConnection,
  type AdbDeviceApi,
} from './adb-client.ts';
import { failReason, firstLine, toDeviceError } from './adb-errors.ts';
import { DeviceError, adbCommand, hintForDeviceOutput } from './errors.ts';
import { fingerprintFromProps, parseGetprop, type Fingerprint } from './fingerprint.ts';
import { shJoin } from './quote.ts';
import { probeRoot } from './root.ts';
import {
  AdbClosedError,
  queryValue,
  request,
  requestWithStatus,
  shellLegacy,
  shellV2,
  syncPull,
  waitForClose,
} from './service.ts';

export const DEFAULT_TIMEOUT_MS = 20_000;
/**
 * Transfers get `timeoutMs` plus this much per MiB (a floor of 1 MiB/s; USB 2 phones do 20–40).
 * For a pull, whose size is unknown up front, the deadline moves out as bytes arrive.
 */
export const DEFAULT_TRANSFER_MS_PER_MIB = 1000;
/** Root probes (`id`, `su -v`: neither asks for root, so no grant prompt). */
const ROOT_PROBE_TIMEOUT_MS = 5000;
/** appium-adb's transient states: retried once after this pause. */
const RETRY_PATTERN = /device still connecting|protocol fault/i;
const RETRY_DELAY_MS = 500;
const MiB = 1024 * 1024;

export interface DeviceOptions {
  /** Per-call timeout (ms); the phonehome commands set it from their --timeout option. Default 20000. */
  timeoutMs?: number;
  /** Extra time per MiB for push/pull. Default 1000. */
  transferMsPerMiB?: number;
}

export interface ShellOptions {
  timeoutMs?: number;
  stdin?: Buffer | string;
}

export interface ShellResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ShellBufferResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

export type SettingsNamespace = 'global' | 'secure' | 'system';

export interface RemoteStat {
  mode: number;
  size: number;
  mtime: Date;
  isFile: boolean;
  isDirectory: boolean;
}

export interface ReverseRule {
  /** Phone side, e.g. `tcp:8080`. */
  remote: string;
  /** Host side, e.g. `tcp:18080`. */
  local: string;
}

export interface ForwardRule {
  /** Host side. */
  local: string;
  /** Phone side. */
  remote: string;
}

export interface LogcatEntry {
  date: Date;
  pid: number;
  tid: number;
  /** Android priority: 2 verbose … 7 fatal. */
  priority: number;
  tag: string;
  message: string;
}

/** The part of adbkit-logcat's Reader we use. */
type LogcatReader = Awaited<ReturnType<AdbDeviceApi['openLogcat']>>;

/**
 * A running `logcat -B`: emits 'entry' (LogcatEntry), 'error' and 'end'; also async-iterable.
 * Always call close().
 */
export class LogcatSession extends EventEmitter implements AsyncIterable<LogcatEntry> {
  /** How many entries the session keeps for an iterator that has not started yet. */
  static readonly BACKLOG = 10_000;
  private closed = false;
  /**
   * Entries that arrived while no iterator ran, for the next one: without it, whatever logcat sent
   * between logcat() and the first `for await` (the buffer it dumps, an entry logged meanwhile)
   * would be lost, and a loop waiting for that entry would wait forever.
   */
  private backlog: LogcatEntry[] = [];
  private iterators = 0;

  constructor(
    private readonly reader: LogcatReader,
    private readonly release: () => void,
  ) {
    super();
    reader.on('entry', (entry: LogcatEntry) => {
      if (this.iterators === 0) {
        this.backlog.push(entry);
        if (this.backlog.length > 2 * LogcatSession.BACKLOG)
          this.backlog = this.backlog.slice(-LogcatSession.BACKLOG);
      }
      this.emit('entry', entry);
    });
    reader.on('error', (err: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    reader.on('end', () => this.close());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.end();
    this.release();
    this.emit('end');
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LogcatEntry> {
    const queue: LogcatEntry[] = this.backlog.slice(-LogcatSession.BACKLOG);
    this.backlog = [];
    this.iterators++;
    let wake: (() => void) | undefined;
    let failure: Error | undefined;
    const onEntry = (entry: LogcatEntry) => {
      queue.push(entry);
      wake?.();
    };
    const onEnd = () => wake?.();
    const onError = (err: Error) => {
      failure = err;
      wake?.();
    };
    this.on('entry', onEntry);
    this.on('end', onEnd);
    this.on('error', onError);
    try {
      for (;;) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (failure) throw failure;
        if (this.closed) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      this.iterators--;
      this.off('entry', onEntry);
      this.off('end', onEnd);
      this.off('error', onError);
    }
  }
}

/** The adbkit connections one operation opened; destroyed together when it ends or times out. */
class ConnectionScope {
  private readonly conns = new Set<AdbConnection>();
  private closed = false;

  track(conn: AdbConnection): AdbConnection {
    if (this.closed) {
      conn.socket.destroy();
      return conn;
    }
    this.conns.add(conn);
    conn.socket.once('close', () => this.conns.delete(conn));
    return conn;
  }

  close(): void {
    this.closed = true;
    for (const conn of this.conns) conn.socket.destroy();
    this.conns.clear();
  }
}

interface OpContext {
  /** adbkit's per-device API; its connections belong to this operation. */
  readonly adb: AdbDeviceApi;
  /** A new connection to the adb server. */
  connection(): Promise<AdbConnection>;
  /** A new connection switched to this phone (`host:transport:SERIAL`). */
  transport(): Promise<AdbConnection>;
  /** Moves the deadline to `ms` after the operation started. */
  setTimeout(ms: number): void;
  /** Keeps the connections open after success; the caller must call the returned function. */
  keepOpen(): () => void;
}

function describeCommand(command: string): string {
  const oneLine = command.replace(/\s*\n\s*/g, ' ⏎ ');
  return JSON.stringify(oneLine.length > 80 ? `${oneLine.slice(0, 77)}...` : oneLine);
}

/** `tcp:8080`, `localabstract:name`, …; a number means `tcp:N`. */
function socketSpec(spec: string | number, what: string): string {
  const s = typeof spec === 'number' ? `tcp:${spec}` : spec;
  if (
    !/^(?:tcp:\d{1,5}|local(?:abstract|reserved|filesystem):[^;\s\0]+|dev:[^;\s\0]+|jdwp:\d+|vsock:\d+:\d+)$/.test(
      s,
    )
  ) {
    throw new TypeError(`${what} must look like tcp:PORT or localabstract:NAME, got ${JSON.stringify(s)}`);
  }
  if (s === 'tcp:0')
    throw new TypeError(`${what}: tcp:0 (let adb pick a port) is not supported; give a port`);
  return s;
}

const SETTINGS_NAMESPACES: readonly SettingsNamespace[] = ['global', 'secure', 'system'];
const SETTINGS_KEY = /^[A-Za-z0-9_.:-]+$/;
const PROP_KEY = /^[A-Za-z0-9_.:@-]+$/;

function checkSettingsArgs(ns: string, key: string): void {
  if (!SETTINGS_NAMESPACES.includes(ns as SettingsNamespace)) {
    throw new TypeError(
      `settings namespace must be one of ${SETTINGS_NAMESPACES.join(', ')}, got ${JSON.stringify(ns)}`,
    );
  }
  if (!SETTINGS_KEY.test(key)) {
    throw new TypeError(
      `settings key may contain only letters, digits and _ . : -, got ${JSON.stringify(key)}`,
    );
  }
}

function checkRemotePath(path: string): void {
  if (!path.startsWith('/') || path.includes('\0') || path.includes('\n')) {
    throw new TypeError(`a phone path must be absolute, without NUL or newline, got ${JSON.stringify(path)}`);
  }
}

function stripNewline(s: string): string {
  return s.replace(/\r?\n$/, '');
}

export class Device {
  readonly serial: string;
  readonly timeoutMs: number;
  readonly transferMsPerMiB: number;
  private readonly client: AdbClient;
  /** adb transport features (`shell_v2`, `stat_v2`, …), once known. */
  private features: Set<string> | undefined;
  /** Set by reboot(): waitForBoot() waits for a boot newer than this one. */
  private pendingReboot: { bootId: string | undefined } | undefined;

  constructor(client: AdbClient, serial: string, opts: DeviceOptions = {}) {
    this.client = client;
    this.serial = serial;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.transferMsPerMiB = opts.transferMsPerMiB ?? DEFAULT_TRANSFER_MS_PER_MIB;
    // adbkit re-emits stray socket errors on the client; without a listener they would crash.
    if (client.listenerCount('error') === 0) client.on('error', () => undefined);
  }

  private get port(): number {
    return Number(this.client.port);
  }

  // ---------------------------------------------------------------- plumbing

  /**
   * Runs one operation under a deadline. On timeout every connection it opened is destroyed.
   * Errors become DeviceErrors; `device still connecting` / `protocol fault` are retried once.
   */
  private async run<T>(operation: string, timeoutMs: number, fn: (ctx: OpContext) => Promise<T>): Promise<T> {
    const scope = new ConnectionScope();
    const { client, serial } = this;
    let keep = false;
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    let rejectTimeout: (err: Error) => void = () => undefined;
    const timedOut = new Promise<never>((_, reject) => (rejectTimeout = reject));
    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(
        () => {
          scope.close();
          rejectTimeout(this.timeoutError(operation, ms));
        },
        Math.max(0, started + ms - Date.now()),
      );
    };
    arm(timeoutMs);

    const connection = async () => scope.track(await openConnection(this.client));
    let adb: AdbDeviceApi | undefined;
    const ctx: OpContext = {
      // adbkit's per-device API is built only for the operations that use it (the hot path, shell,
      // talks the protocol directly).
      get adb() {
        return (adb ??= scopedDeviceApi(client, serial, (conn) => scope.track(conn)));
      },
      connection,
      transport: async () => {
        const conn = await connection();
        await request(conn, `host:transport:${serial}`);
        return conn;
      },
      setTimeout: arm,
      keepOpen: () => {
        keep = true;
        return () => scope.close();
      },
    };
    const attempt = async (): Promise<T> => {
      try {
        return await fn(ctx);
      } catch (err) {
        if (!RETRY_PATTERN.test(failReason(err) ?? '')) throw err;
        await sleep(RETRY_DELAY_MS);
        return await fn(ctx);
      }
    };
    try {
      return await Promise.race([attempt(), timedOut]);
    } catch (err) {
      keep = false;
      throw toDeviceError(err, { serial, operation, host: this.client.host, port: this.port });
    } finally {
      clearTimeout(timer);
      if (!keep) scope.close();
    }
  }

  private timeoutError(operation: string, ms: number): DeviceError {
    return new DeviceError({
      serial: this.serial,
      operation,
      problem: `timed out after ${ms} ms`,
      hint:
        `Check the phone is awake and connected (${adbCommand(this.port, this.serial, 'get-state')}), ` +
        'or raise the timeout (--timeout on the phonehome command, or the timeoutMs option of Device)',
    });
  }

  private transferTimeout(bytes: number, timeoutMs?: number): number {
    return (timeoutMs ?? this.timeoutMs) + Math.ceil(bytes / MiB) * this.transferMsPerMiB;
  }

  /** adb transport features, asked from the server (`host-serial:S:features`) once. */
  private async transportFeatures(ctx: OpContext): Promise<Set<string>> {
    if (this.features) return this.features;
    const conn = await ctx.connection();
    const list = await queryValue(conn, `host-serial:${this.serial}:features`);
    conn.socket.destroy();
    this.features = new Set(list.split(',').filter(Boolean));
    return this.features;
  }

  /** adb transport features of this phone (e.g. `shell_v2`), as `adb features` prints them. */
  async adbFeatures(opts: { timeoutMs?: number } = {}): Promise<string[]> {
    return this.run('features', opts.timeoutMs ?? this.timeoutMs, async (ctx) => [
      ...(await this.transportFeatures(ctx)),
    ]);
  }

  /** The phone's adb state (`device`, `offline`, `unauthorized`, …). */
  async getState(opts: { timeoutMs?: number } = {}): Promise<string> {
    return this.run('get-state', opts.timeoutMs ?? this.timeoutMs, async (ctx) => {
      const conn = await ctx.connection();
      return queryValue(conn, `host-serial:${this.serial}:get-state`);
    });
  }

  // ---------------------------------------------------------------- shell

  /**
   * Runs a command in the phone's shell. A string runs as-is (sh syntax); an array is quoted
   * argument by argument. Uses the shell v2 protocol when the phone offers it (separate stderr, real
   * exit code). Without `shell_v2` (Android < 7) it falls back to legacy `shell:`: stderr is merged
   * into stdout (stderr is then empty) and the exit code comes from a marker echoed after the
   * command; stdin is not supported there.
   */
  async shell(cmd: string | readonly string[], opts: ShellOptions = {}): Promise<ShellResult> {
    const r = await this.shellBuffer(cmd, opts);
    return { stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), exitCode: r.exitCode };
  }

  /** As shell(), with stdout/stderr as Buffers (for binary output). */
  async shellBuffer(cmd: string | readonly string[], opts: ShellOptions = {}): Promise<ShellBufferResult> {
    const command = typeof cmd === 'string' ? cmd : shJoin(cmd);
    if (command.includes('\0')) throw new TypeError('a shell command cannot contain a NUL byte');
    const stdin = opts.stdin === undefined ? undefined : Buffer.from(opts.stdin);
    return this.run(`shell ${describeCommand(command)}`, opts.timeoutMs ?? this.timeoutMs, async (ctx) => {
      const features = await this.transportFeatures(ctx);
      if (features.has('shell_v2')) return shellV2(await ctx.transport(), command, stdin);
      if (stdin !== undefined) {
        throw new DeviceError({
          serial: this.serial,
          operation: `shell ${describeCommand(command)}`,
          problem: 'failed: stdin needs the shell v2 protocol, which this phone does not offer (Android < 7)',
          hint: 'Push the input to a file (push()) and redirect it instead',
        });
      }
      return this.legacyShell(ctx, command);
    });
  }

  private async legacyShell(ctx: OpContext, command: string): Promise<ShellBufferResult> {
    const marker = `__PHONEHOME_RC_${randomBytes(6).toString('hex')}__`;
    // A subshell, so `exit N` in the command still reaches the echo; newlines, so a trailing
    // comment in the command cannot swallow the closing parenthesis.
    const wrapped = `(\n${command.trim() === '' ? 'true' : command}\n); echo "${marker}$?"`;
    const out = await shellLegacy(await ctx.transport(), wrapped);
    const text = out.toString('latin1');
    const at = text.lastIndexOf(marker);
    const m = at >= 0 ? /^(\d+)/.exec(text.slice(at + marker.length)) : null;
    if (!m?.[1]) throw new AdbClosedError('before the command reported its exit status');
    return { stdout: out.subarray(0, at), stderr: Buffer.alloc(0), exitCode: Number(m[1]) };
  }

  /** shell(), throwing a DeviceError (with the output) unless the exit code is 0. */
  async shellOk(cmd: string | readonly string[], opts: ShellOptions = {}): Promise<string> {
    const r = await this.shell(cmd, opts);
    if (r.exitCode !== 0) throw this.commandFailed(cmd, r);
    return r.stdout;
  }

  private commandFailed(cmd: string | readonly string[], r: ShellResult): DeviceError {
    const command = typeof cmd === 'string' ? cmd : shJoin(cmd);
    const output = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' / ');
    const hint = hintForDeviceOutput(`${r.stderr}\n${r.stdout}`);
    return new DeviceError({
      serial: this.serial,
      operation: `shell ${describeCommand(command)}`,
      problem: `exited with ${r.exitCode}${output ? `: ${output}` : ''}`,
      ...(hint ? { hint } : {}),
    });
  }

  // ---------------------------------------------------------------- properties and fingerprint

  async getProps(opts: { timeoutMs?: number } = {}): Promise<Record<string, string>> {
    return parseGetprop(await this.shellOk('getprop', opts));
  }

  /** One system property; '' when unset. */
  async getProp(key: string, opts: { timeoutMs?: number } = {}): Promise<string> {
    if (!PROP_KEY.test(key)) throw new TypeError(`not a property name: ${JSON.stringify(key)}`);
    return stripNewline(await this.shellOk(['getprop', key], opts));
  }

  /**
   * True when the phone can give uid 0: adbd already root (`adb root`), or a `su` that answers
   * `su -v` (MagiskSU, KernelSU, AOSP userdebug su: src/device/root.ts). Neither probe asks for root,
   * so no Magisk grant prompt shows for a fingerprint; and none is `su 0 id`, which MagiskSU takes
   * as "a shell for uid 0" that waits on stdin (arguments after the uid are ignored).
   */
  async isRooted(opts: { timeoutMs?: number } = {}): Promise<boolean> {
    const timeoutMs = Math.min(opts.timeoutMs ?? ROOT_PROBE_TIMEOUT_MS, this.timeoutMs);
    return (await probeRoot(this, timeoutMs)) !== null;
  }

  async fingerprint(opts: { timeoutMs?: number } = {}): Promise<Fingerprint> {
    const [props, rooted] = await Promise.all([this.getProps(opts), this.isRooted(opts)]);
    return fingerprintFromProps(props, { rooted });
  }

  // ---------------------------------------------------------------- settings

  /** `settings get`; null when the key is unset (settings prints `null`). */
  async getSetting(
    ns: SettingsNamespace,
    key: string,
    opts: { timeoutMs?: number } = {},
  ): Promise<string | null> {
    checkSettingsArgs(ns, key);
    const value = stripNewline(await this.shellOk(['settings', 'get', ns, key], opts));
    return value === 'null' ? null : value;
  }

  async putSetting(
    ns: SettingsNamespace,
    key: string,
    value: string,
    opts: { timeoutMs?: number } = {},
  ): Promise<void> {
    checkSettingsArgs(ns, key);
    await this.settingsChange(['settings', 'put', ns, key, value], opts);
  }

  async deleteSetting(ns: SettingsNamespace, key: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    checkSettingsArgs(ns, key);
    await this.settingsChange(['settings', 'delete', ns, key], opts);
  }

  /** `settings put/delete`: some ROMs print the SecurityException and still exit 0. */
  private async settingsChange(argv: string[], opts: { timeoutMs?: number }): Promise<void> {
    const r = await this.shell(argv, opts);
    if (r.exitCode !== 0 || /Exception|Permission denial/i.test(`${r.stderr}${r.stdout}`)) {
      throw this.commandFailed(argv, r.exitCode === 0 ? { ...r, exitCode: 1 } : r);
    }
  }

  // ---------------------------------------------------------------- reverse / forward

  /** `adb reverse REMOTE LOCAL`: the phone's REMOTE (e.g. tcp:8080) reaches the host's LOCAL. */
  async reverse(
    remote: string | number,
    local: string | number,
    opts: { timeoutMs?: number } = {},
  ): Promise<void> {
    const r = socketSpec(remote, 'reverse remote');
    const l = socketSpec(local, 'reverse local');
    await this.run(`reverse ${r} → ${l}`, opts.timeoutMs ?? this.timeoutMs, async (ctx) => {
      await ctx.adb.reverse(r, l);
    });
  }

  async listReverses(opts: { timeoutMs?: number } = {}): Promise<ReverseRule[]> {
    return this.run('reverse --list', opts.timeoutMs ?? this.timeoutMs, async (ctx) =>
      (await ctx.adb.listReverses()).map((x) => ({ remote: x.remote, local: x.local })),
    );
  }

  async removeReverse(remote: string | number, opts: { timeoutMs?: number } = {}): Promise<void> {
    const r = socketSpec(remote, 'reverse remote');
    await this.run(`reverse --remove ${r}`, opts.timeoutMs ?? this.timeoutMs, async (ctx) => {
      await requestWithStatus(await ctx.transport(), `reverse:killforward:${r}`);
    });
  }

  async removeAllReverses(opts: { timeoutMs?: number } = {}): Promise<void> {
    await this.run('reverse --remove-all', opts.timeoutMs ?? this.timeoutMs, async (ctx) => {
      await requestWithStatus(await ctx.transport(), 'reverse:killforward-all');
    });
  }

  /** `adb forward LOCAL REMOTE`: the host's LOCAL (e.g. tcp:18200) reaches the phone's REMOTE. */
  async forward(
    local: string | number,
    remote: string | number,
    opts: { timeoutMs?: number } = {},
  ): Promise<void> {
    const l = socketSpec(local, 'forward local');
    const r = socketSpec(remote, 'forward remote');
    await this.run(`forward ${l} → ${r}`, opts.timeoutMs ?? this.timeoutMs, async (ctx) => {
      await ctx.adb.forward(l, r);
    });
  }

  /** This phone's forwards (the adb server lists every phone's). */
  async listForwards(opts: { timeoutMs?: number } = {}): Promise<ForwardRule[]> {
    return this.run('forward --list', opts.timeoutMs ?? this.timeoutMs, async (ctx) =>
      (await ctx.adb.listForwards())
        .filter((f) => f.serial === this.serial)
        .map((f) => ({ local: f.local, remote: f.remote })),
    );
  }

  async removeForward(local: string | number, opts: { timeoutMs?: number } = {}): Promise<void> {
    const l = socketSpec(local, 'forward local');
    await this.run(`forward --remove ${l}`, opts.timeoutMs ?? this.timeoutMs, async (ctx) => {
      await requestWithStatus(await ctx.connection(), `host-serial:${this.serial}:killforward:${l}`);
    });
  }

  async removeAllForwards(opts: { timeoutMs?: number } = {}): Promise<void> {
    await this.run('forward --remove-all', opts.timeoutMs ?? this.timeoutMs, async (ctx) => {
      await requestWithStatus(await ctx.connection(), `host-serial:${this.serial}:killforward-all`);
    });
  }

  // ---------------------------------------------------------------- files

  /**
   * Writes `data` (bytes, or a local file path) to `remotePath` with `mode`. Timeout: timeoutMs
   * plus transferMsPerMiB for each started MiB.
   */
  async push(
    data: Buffer | string,
    remotePath: string,
    mode = 0o644,
    opts: { timeoutMs?: number } = {},
  ): Promise<void> {
    checkRemotePath(remotePath);
    const bytes = typeof data === 'string' ? (await statLocal(data)).size : data.length;
    const what = typeof data === 'string' ? data : `${bytes} bytes`;
    await this.run(
      `push ${what} → ${remotePath}`,
      this.transferTimeout(bytes, opts.timeoutMs),
      async (ctx) => {
        // A byte-mode stream: adbkit reads it in 64 KiB DATA chunks (an object-mode stream would hand
        // over the whole buffer as one oversized chunk).
        let source: string | PassThrough = data as string;
        if (typeof data !== 'string') {
          source = new PassThrough();
          source.end(data);
        }
        const transfer = await ctx.adb.push(source, remotePath, mode);
        await new Promise<void>((resolve, reject) => {
          transfer.once('error', reject);
          transfer.once('end', () => resolve());
        });
      },
    );
  }

  /**
   * Reads a file. Timeout: timeoutMs, moved out by transferMsPerMiB for each MiB received, so a big
   * file may take as long as it keeps arriving at ≥ 1 MiB/s (by default).
   */
  async pull(remotePath: string, opts: { timeoutMs?: number } = {}): Promise<Buffer> {
    checkRemotePath(remotePath);
    const base = opts.timeoutMs ?? this.timeoutMs;
    return this.run(`pull ${remotePath}`, base, async (ctx) =>
      syncPull(await ctx.transport(), remotePath, (bytes) =>
        ctx.setTimeout(this.transferTimeout(bytes, base)),
      ),
    );
  }

  /** File metadata, or null when the path does not exist. */
  async stat(remotePath: string, opts: { timeoutMs?: number } = {}): Promise<RemoteStat | null> {
    checkRemotePath(remotePath);
    return this.run(`stat ${remotePath}`, opts.timeoutMs ?? this.timeoutMs, async (ctx) => {
      try {
        const s = await ctx.adb.stat(remotePath);
        return {
          mode: s.mode,
          size: Number(s.size),
          mtime: new Date(s.mtimeMs),
          isFile: s.isFile(),
          isDirectory: s.isDirectory(),
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    });
  }

  // ---------------------------------------------------------------- logcat, screen, power

  /** Starts `logcat -B` (binary, parsed). `clear` empties the log first. Call close() when done. */
  async logcat(opts: { clear?: boolean; timeoutMs?: number } = {}): Promise<LogcatSession> {
    return this.run('logcat', opts.timeoutMs ?? this.timeoutMs, async (ctx) => {
      const reader = await ctx.adb.openLogcat({ clear: opts.clear ?? false });
      return new LogcatSession(reader, ctx.keepOpen());
    });
  }

  /** A PNG of the screen (`screencap -p`). */
  async screenshot(opts: { timeoutMs?: number } = {}): Promise<Buffer> {
    const operation = 'screenshot';
    const png = await this.run(operation, opts.timeoutMs ?? this.timeoutMs, async (ctx) => {
      if ((await this.transportFeatures(ctx)).has('shell_v2')) {
        const r = await shellV2(await ctx.transport(), 'screencap -p');
        if (r.exitCode !== 0) {
          throw new DeviceError({
            serial: this.serial,
            operation,
            problem: `failed: screencap exited with ${r.exitCode}: ${firstLine(r.stderr.toString('utf8')) || 'no output'}`,
          });
        }
        return r.stdout;
      }
      // Old phones: adbkit undoes the \r\n mangling of a pty-backed legacy shell.
      const stream = await ctx.adb.screencap();
      return new Promise<Buffer>((resolve, reject) => {
        const parts: Buffer[] = [];
        stream.on('data', (c: Buffer) => parts.push(c));
        stream.once('end', () => resolve(Buffer.concat(parts)));
        stream.once('error', reject);
      });
    });
    if (!png.subarray(0, 8).equals(PNG_SIGNATURE)) {
      throw new DeviceError({
        serial: this.serial,
        operation,
        problem: `failed: screencap returned ${png.length} bytes that are not a PNG`,
        hint: 'Unlock the screen; secure windows (FLAG_SECURE) and some ROMs block screencap',
      });
    }
    return png;
  }

  /** boot_id changes with every boot; sys.boot_completed is 1 once Android is up. */
  private async bootState(timeoutMs: number): Promise<{ completed: boolean; bootId: string | undefined }> {
    const r = await this.shell(
      'getprop sys.boot_completed; cat /proc/sys/kernel/random/boot_id 2>/dev/null',
      {
        timeoutMs,
      },
    );
    const [completed, bootId] = r.stdout.split('\n').map((l) => l.trim());
    return { completed: completed === '1', bootId: bootId || undefined };
  }

  /**
   * Asks the phone to reboot and returns once it accepted. The phone then drops off adb and comes
   * back under the same serial; use waitForBoot().
   */
  async reboot(opts: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const before = await this.bootState(timeoutMs).catch(() => undefined);
    await this.run('reboot', timeoutMs, async (ctx) => {
      const conn = await ctx.transport();
      await request(conn, 'reboot:');
      // adbd closes the stream as it goes down; don't wait for that longer than a few seconds.
      await Promise.race([waitForClose(conn), sleep(Math.min(5000, timeoutMs / 2))]);
    });
    this.pendingReboot = { bootId: before?.bootId };
  }

  /**
   * Waits until sys.boot_completed is 1, polling and tolerating the phone being away (offline,
   * not found, connection errors) meanwhile. After reboot() it waits for the new boot: a changed
   * boot_id, or having seen the phone away or not yet booted.
   */
  async waitForBoot(opts: { timeoutMs?: number; pollMs?: number } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const pollMs = opts.pollMs ?? 250;
    const deadline = Date.now() + timeoutMs;
    const pending = this.pendingReboot;
    let sawDown = false;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      const remaining = deadline - Date.now();
      try {
        const s = await this.bootState(Math.max(1, Math.min(5000, remaining)));
        const newBoot =
          !pending || sawDown || (!!pending.bootId && !!s.bootId && s.bootId !== pending.bootId);
        if (s.completed && newBoot) {
          this.pendingReboot = undefined;
          return;
        }
        if (!s.completed) sawDown = true;
        last = s.completed
          ? 'still running the boot before the reboot'
          : 'booting (sys.boot_completed is not 1)';
      } catch (err) {
        sawDown = true;
        last = err instanceof DeviceError ? err.problem : String(err);
      }
      await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
    }
    throw new DeviceError({
      serial: this.serial,
      operation: 'wait for boot',
      problem: `timed out after ${timeoutMs} ms (last seen: ${last})`,
      hint: `Check the phone's screen and ${adbCommand(this.port, undefined, 'devices -l')}; a phone on the network may need \`adb connect\` again`,
    });
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
