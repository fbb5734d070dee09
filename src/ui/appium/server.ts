/**
 * phonehome's own Appium server: `node node_modules/appium/index.js --address 127.0.0.1 --port P` as a
 * child process, with `APPIUM_HOME=<repo>/.appium` (where scripts/setup installs the uiautomator2
 * driver 8.7.0) and an ANDROID_HOME the driver accepts (facts appium-uia2.md §4: it looks for
 * `$ANDROID_HOME/platform-tools/adb` and never searches PATH):
 * 1. $ANDROID_HOME (then $ANDROID_SDK_ROOT) when it holds platform-tools/adb;
 * 2. Debian's /usr/lib/android-sdk when it does (the `adb` package puts it there);
 * 3. otherwise a generated folder `<stateDir>/android-sdk` whose platform-tools/adb links to the adb on PATH.
 *
 * start() resolves once `GET /status` answers ready; stop() ends the child (SIGTERM, then SIGKILL after
 * a grace period). Servers started here are also stopped when this process gets SIGINT/SIGTERM or exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  lstatSync,
  mkdirSync,
  readlinkSync,
  symlinkSync,
  unlinkSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (src/ui/appium/ → three levels up). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DEFAULT_APPIUM_HOME = join(REPO_ROOT, '.appium');
export const APPIUM_ENTRY = join(REPO_ROOT, 'node_modules', 'appium', 'index.js');
export const UIA2_DRIVER_PACKAGE = 'appium-uiautomator2-driver';
export const UIA2_DRIVER_VERSION = '8.7.0';
export const DEBIAN_ANDROID_SDK = '/usr/lib/android-sdk';

/** A problem with the Appium server or its installation (not one phone's). */
export class AppiumServerError extends Error {
  readonly userFacing = true;
  constructor(
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(hint ? `${message}. ${hint.replace(/[.\s]*$/, '.')}` : message, options);
    this.name = 'AppiumServerError';
  }
}

// ------------------------------------------------------------------------------- installation

/** Throws unless Appium and the uiautomator2 driver are installed where phonehome runs them from. */
export function checkAppiumInstalled(appiumHome = DEFAULT_APPIUM_HOME, entry = APPIUM_ENTRY): void {
  if (!existsSync(entry)) {
    throw new AppiumServerError(
      `Appium is not installed (no ${entry})`,
      'Run scripts/setup (it runs npm ci)',
    );
  }
  const pkg = join(appiumHome, 'node_modules', UIA2_DRIVER_PACKAGE, 'package.json');
  if (!existsSync(pkg)) {
    throw new AppiumServerError(
      `the Appium uiautomator2 driver is not installed in ${appiumHome} (no ${pkg})`,
      `Run scripts/setup (it installs ${UIA2_DRIVER_PACKAGE} ${UIA2_DRIVER_VERSION} into .appium)`,
    );
  }
}

export interface AndroidHome {
  path: string;
  source: 'ANDROID_HOME' | 'ANDROID_SDK_ROOT' | 'debian' | 'generated';
}

export interface ResolveAndroidHomeOptions {
  env?: NodeJS.ProcessEnv;
  /** Where the generated SDK folder goes (phonehome's state dir). */
  stateDir: string;
  /** Debian's SDK folder (tests point it elsewhere). */
  debianSdk?: string;
}

const hasAdb = (sdk: string | undefined): sdk is string =>
  !!sdk && existsSync(join(sdk, 'platform-tools', 'adb'));

/** The first `adb` on PATH, or undefined. */
export function adbOnPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, 'adb');
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** An ANDROID_HOME for the uiautomator2 driver; see the module comment for the order. */
export function resolveAndroidHome(opts: ResolveAndroidHomeOptions): AndroidHome {
  const env = opts.env ?? process.env;
  if (hasAdb(env.ANDROID_HOME)) return { path: env.ANDROID_HOME, source: 'ANDROID_HOME' };
  if (hasAdb(env.ANDROID_SDK_ROOT)) return { path: env.ANDROID_SDK_ROOT, source: 'ANDROID_SDK_ROOT' };
  const debian = opts.debianSdk ?? DEBIAN_ANDROID_SDK;
  if (hasAdb(debian)) return { path: debian, source: 'debian' };
  const adb = adbOnPath(env);
  if (!adb) {
    throw new AppiumServerError(
      'no adb for the Appium driver: not in $ANDROID_HOME/platform-tools, not in ' +
        `${debian}/platform-tools, not on PATH`,
      "Run scripts/setup (it installs Debian's adb), or set ANDROID_HOME to an SDK with platform-tools/adb",
    );
  }
  const sdk = join(opts.stateDir, 'android-sdk');
  const link = join(sdk, 'platform-tools', 'adb');
  mkdirSync(dirname(link), { recursive: true });
  let current: string | undefined;
  try {
    current = lstatSync(link).isSymbolicLink() ? readlinkSync(link) : 'not a link';
  } catch {
    current = undefined;
  }
  if (current !== adb) {
    if (current !== undefined) unlinkSync(link);
    symlinkSync(adb, link);
  }
  return { path: sdk, source: 'generated' };
}

// ------------------------------------------------------------------------------- the server

export interface AppiumServerOptions {
  /** Port to listen on; default a free one. */
  port?: number;
  appiumHome?: string;
  /** phonehome's state dir (for a generated ANDROID_HOME). */
  stateDir: string;
  /** Appium's log goes here (appended); otherwise only the last lines are kept for error messages. */
  logFile?: string;
  /** How long to wait for `/status` (ms). Default 60000 (Appium loads slowly on a busy 2-core host). */
  startTimeoutMs?: number;
  /** Extra environment for the server. */
  env?: NodeJS.ProcessEnv;
}

const running = new Set<AppiumServer>();
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function onSignal(signal: NodeJS.Signals): void {
  for (const s of running) s.killNow();
  running.clear();
  removeHandlers();
  // Re-raise only when nobody else handles it, so the default (exit) still happens.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function onExit(): void {
  for (const s of running) s.killNow();
}

let handlersInstalled = false;
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of SIGNALS) process.on(sig, onSignal);
  process.on('exit', onExit);
}

function removeHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  for (const sig of SIGNALS) process.off(sig, onSignal);
  process.off('exit', onExit);
}

async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((res, rej) => {
      const s = createServer();
      s.once('error', rej);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    if (port < 5555 || port > 5585) return port;
  }
}

/** GET url → parsed JSON, or undefined on any failure. */
async function getJson(url: string, timeoutMs: number): Promise<unknown> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return undefined;
    return await res.json();
  } catch {
    return undefined;
  }
}

export class AppiumServer {
  /** `http://127.0.0.1:PORT/` (Appium 3's base path is `/`). */
  readonly url: string;
  private readonly tail: string[] = [];
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitPromise: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly androidHome: AndroidHome,
    readonly appiumHome: string,
    logFile: string | undefined,
  ) {
    this.url = `http://127.0.0.1:${port}/`;
    const log = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
    const keep = (chunk: Buffer) => {
      log?.write(chunk);
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        this.tail.push(line);
        if (this.tail.length > 40) this.tail.shift();
      }
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exitPromise = new Promise((res) => {
      child.once('exit', (code, signal) => {
        this.exited = { code, signal };
        running.delete(this);
        if (running.size === 0) removeHandlers();
        log?.end();
        res();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get isRunning(): boolean {
    return this.exited === undefined;
  }

  /** The last lines Appium logged (for error messages). */
  logTail(lines = 15): string {
    return this.tail.slice(-lines).join('\n');
  }

  /** Starts a server and waits until `/status` says ready. */
  static async start(opts: AppiumServerOptions): Promise<AppiumServer> {
    const appiumHome = opts.appiumHome ?? DEFAULT_APPIUM_HOME;
    checkAppiumInstalled(appiumHome);
    const androidHome = resolveAndroidHome({ stateDir: opts.stateDir, env: { ...process.env, ...opts.env } });
    const port = opts.port ?? (await freePort());
    const child = spawn(
      process.execPath,
      [APPIUM_ENTRY, '--address', '127.0.0.1', '--port', String(port), '--log-no-colors', '--log-timestamp'],
      {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          ...opts.env,
          APPIUM_HOME: appiumHome,
          ANDROID_HOME: androidHome.path,
          ANDROID_SDK_ROOT: androidHome.path,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const server = new AppiumServer(child, port, androidHome, appiumHome, opts.logFile);
    running.add(server);
    installHandlers();
    await new Promise<void>((res, rej) => {
      child.once('spawn', () => res());
      child.once('error', (err) =>
        rej(
          new AppiumServerError(`cannot start Appium (${err.message})`, 'Run scripts/setup', { cause: err }),
        ),
      );
    });
    try {
      await server.waitReady(opts.startTimeoutMs ?? 60_000);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) {
        const inUse = /EADDRINUSE|address already in use/i.test(this.logTail(40));
        throw new AppiumServerError(
          `the Appium server on port ${this.port} exited during start-up ` +
            `(${this.exited.signal ?? `code ${this.exited.code}`}):\n${this.logTail()}`,
          inUse ? `Port ${this.port} is taken; choose another port` : 'Run scripts/setup, then try again',
        );
      }
      const status = (await getJson(`${this.url}status`, 2000)) as
        { value?: { ready?: boolean } } | undefined;
      if (status?.value?.ready !== false && status?.value !== undefined) return;
      if (Date.now() >= deadline) {
        throw new AppiumServerError(
          `the Appium server on port ${this.port} did not answer GET /status within ${timeoutMs} ms:\n${this.logTail()}`,
          'The host may be overloaded; try again or raise the start timeout',
        );
      }
      await Promise.race([new Promise((r) => setTimeout(r, 250)), this.exitPromise]);
    }
  }

  /** Sends SIGKILL at once (signal and exit handlers). */
  killNow(): void {
    if (this.isRunning) this.child.kill('SIGKILL');
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. Idempotent. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.isRunning) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      await this.exitPromise;
    } finally {
      clearTimeout(timer);
    }
  }
}
