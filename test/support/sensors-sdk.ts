/**
 * Real Sensors Analytics clients for the capture → decode → detect path: the web SDK
 * (sa-sdk-javascript, its unmodified browser build) in Debian's headless Chromium, and the Node SDK
 * (sa-sdk-node) in this process, both sending through a `CaptureSession` proxy.
 *
 * - `startRig()`: a lab CA in a temporary directory, a block-mode capture session, and every
 *   exchange it records; `analyse()` runs the product's decoder and detector over them.
 * - `startPages()`: a loopback HTTP server for the pages under `sensors-sdk/`; Chromium reaches it
 *   under real-looking host names (`--host-resolver-rules`, kept out of the proxy) so that the SDK's
 *   cookie-domain, referrer and search-keyword logic behave as on a real site.
 * - `launchChromium()`: one headless Chromium per send mode, its own profile, proxied to the session.
 * - `HttpProxyAgent`: sends Node's plain-HTTP requests through the session as an HTTP proxy
 *   (absolute-form request line), for clients such as sa-sdk-node's node-fetch@1 that take no proxy
 *   option: it is installed as `http.globalAgent` while the Node SDK runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import http from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabCa } from '../../src/capture/ca.ts';
import type { Exchange } from '../../src/capture/exchange.ts';
import { CaptureSession } from '../../src/capture/session.ts';
import { decode, type DecodeResult, type Layer } from '../../src/decode/index.ts';
import { createDetector, type Finding, type TrackerInfo } from '../../src/detect/index.ts';
import { CHROMIUM, headlessChromiumArgs } from './chromium.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const PAGES = join(HERE, 'sensors-sdk');
const REPO = join(HERE, '..', '..');

/** The browser build of the web SDK as published on npm (package.json `main`). */
export const WEB_SDK = join(REPO, 'node_modules', 'sa-sdk-javascript', 'dist', 'web', 'sensorsdata.js');
/** Its plugins; `/plugin/<name>.js` serves `<name>/index.js` (the build that registers by name). */
const WEB_PLUGINS = join(REPO, 'node_modules', 'sa-sdk-javascript', 'dist', 'web', 'plugin');

/** A fresh value to plant: unique per run, valid as a Sensors property key (`[a-zA-Z_$][a-zA-Z0-9_$]*`). */
export function canary(): string {
  return `canary_${randomBytes(6).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Capture rig

export interface Analysed {
  exchange: Exchange;
  decoded: DecodeResult;
  findings: Finding[];
  /** The catalogue entry detection matched (host, path or decoded layer). */
  tracker: TrackerInfo | null;
  /** The summaries of the decoder's `sensors` layers (field, gzip flag, crc, crcValid, events). */
  sensors: Array<Record<string, unknown>>;
}

export interface Rig {
  ca: LabCa;
  session: CaptureSession;
  exchanges: Exchange[];
  /** Decodes and runs detection for every exchange to `host` so far, looking for `canaries`. */
  analyse(host: string, canaries: readonly string[]): Analysed[];
  stop(): Promise<void>;
}

function sensorsSummaries(root: Layer): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  const stack = [root];
  while (stack.length) {
    const l = stack.pop()!;
    if (l.kind === 'sensors' && typeof l.value === 'object' && l.value !== null)
      out.push(l.value as Record<string, unknown>);
    stack.push(...l.children);
  }
  return out;
}

export async function startRig(): Promise<Rig> {
  const base = mkdtempSync(join(tmpdir(), 'phonehome-sensors-sdk-'));
  const ca = await LabCa.load(join(base, 'ca'));
  const session = await CaptureSession.start({ dir: join(base, 'capture'), ca, mode: 'block' });
  const exchanges: Exchange[] = [];
  session.on('record', (r) => {
    if (r.type === 'exchange') exchanges.push(r);
  });
  return {
    ca,
    session,
    exchanges,
    analyse(host, canaries) {
      const detector = createDetector({ canaries });
      return exchanges
        .filter((x) => x.host === host)
        .map((exchange) => {
          const decoded = decode({
            body: exchange.request.body,
            url: exchange.url,
            headers: exchange.request.headers,
          });
          const { findings, tracker } = detector.run(
            { method: exchange.method, url: exchange.url, host: exchange.host },
            decoded,
          );
          return { exchange, decoded, findings, tracker, sensors: sensorsSummaries(decoded.root) };
        });
    },
    async stop() {
      try {
        await session.stop();
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Expectations: where each planted value must be found

/**
 * One planted value and the provenance paths where detection must report it in plain text. A `*`
 * inside `[*]` stands for any array index (batches whose order the SDK does not fix).
 */
export interface Plant {
  /** What was planted, for messages: "property value", "login id"… */
  label: string;
  value: string;
  paths: string[];
}

function pathMatches(pattern: string, path: string): boolean {
  if (!pattern.includes('[*]')) return pattern === path;
  const re = pattern
    .split('[*]')
    .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('\\[\\d+\\]');
  return new RegExp(`^${re}$`).test(path);
}

export interface PlantStatus {
  plant: Plant;
  /** Expected paths with no plain finding yet. */
  missing: string[];
  /** Every path where the value was found in plain text (for messages). */
  foundAt: string[];
  /** The exchanges in which it was found in any form. */
  exchanges: Analysed[];
}

export function plantStatus(plant: Plant, analysed: readonly Analysed[]): PlantStatus {
  const foundAt = new Set<string>();
  const exchanges: Analysed[] = [];
  for (const a of analysed) {
    let hit = false;
    for (const f of a.findings) {
      if (f.kind !== 'canary' || f.value !== plant.value) continue;
      hit = true;
      if (f.encoding === 'plain') foundAt.add(f.path);
    }
    if (hit) exchanges.push(a);
  }
  const found = [...foundAt];
  return {
    plant,
    missing: plant.paths.filter((p) => !found.some((f) => pathMatches(p, f))),
    foundAt: found,
    exchanges,
  };
}

export function describeMissing(statuses: readonly PlantStatus[]): string {
  return statuses
    .filter((s) => s.missing.length)
    .map(
      (s) =>
        `${s.plant.label} ${s.plant.value}: not found at ${s.missing.join(' | ')}` +
        (s.foundAt.length
          ? `; found (plain) at ${s.foundAt.join(' | ')}`
          : '; not found in plain text anywhere'),
    )
    .join('\n');
}

/** Polls `check` until it returns true or `ms` pass; never throws on the deadline (callers assert). */
export async function pollUntil(check: () => boolean, ms: number, every = 100): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, every));
  }
}

// ---------------------------------------------------------------------------------------------
// Page server

export interface Pages {
  port: number;
  /** What `/plan.json?mode=<mode>` answers (the shop page's SDK config and planted values). */
  plans: Map<string, unknown>;
  /** Requests served, as `host path` (for failure messages). */
  served: string[];
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

export async function startPages(): Promise<Pages> {
  const plans = new Map<string, unknown>();
  const served: string[] = [];
  const routes: Record<string, string> = {
    '/web': join(PAGES, 'search.html'),
    '/shop': join(PAGES, 'shop.html'),
    '/sdk.js': WEB_SDK,
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://pages');
    served.push(`${req.headers.host ?? ''} ${url.pathname}${url.search}`);
    if (url.pathname === '/plan.json') {
      const plan = plans.get(url.searchParams.get('mode') ?? '');
      res.writeHead(plan ? 200 : 404, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(plan ?? null));
      return;
    }
    const plugin = /^\/plugin\/([a-z-]+)\.js$/.exec(url.pathname)?.[1];
    const file = plugin ? join(WEB_PLUGINS, plugin, 'index.js') : routes[url.pathname];
    if (!file || !existsSync(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    const type = TYPES[file.slice(file.lastIndexOf('.'))] ?? TYPES['.html']!;
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    plans,
    served,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Chromium

export interface Browser {
  process: ChildProcess;
  /** The last lines Chromium wrote to stderr, D-Bus noise left out. */
  log: string[];
  kill(): void;
}

export interface ChromiumOptions {
  url: string;
  proxyPort: number;
  spkiFingerprint: string;
  /** Host names that resolve to 127.0.0.1 and bypass the proxy (the page server's). */
  localHosts: readonly string[];
}

/**
 * Headless Chromium with a fresh profile: proxied to the session (which resolves the collector's name
 * itself), trusting the lab CA by SPKI, and mapping `localHosts` to loopback outside the proxy.
 * Its process group is killed by `kill()`; the profile is removed then.
 */
export function launchChromium(opts: ChromiumOptions): Browser {
  const profile = mkdtempSync(join(tmpdir(), 'phonehome-chromium-'));
  const args = [
    ...headlessChromiumArgs(profile),
    `--proxy-server=http://127.0.0.1:${opts.proxyPort}`,
    `--proxy-bypass-list=${opts.localHosts.join(';')}`,
    `--host-resolver-rules=${opts.localHosts.map((h) => `MAP ${h} 127.0.0.1`).join(',')}`,
    `--ignore-certificate-errors-spki-list=${opts.spkiFingerprint}`,
    opts.url,
  ];
  const child = spawn(CHROMIUM, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const log: string[] = [];
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    for (const line of chunk.split('\n')) {
      if (!line.trim() || /dbus|D-Bus|UPower|unexpected operator/i.test(line)) continue;
      log.push(line.slice(0, 300));
      if (log.length > 20) log.shift();
    }
  });
  child.on('error', (e) => log.push(`spawn failed: ${e.message}`));
  let killed = false;
  return {
    process: child,
    log,
    kill() {
      if (killed) return;
      killed = true;
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL'); // the group this spawn created (browser + its helpers)
        } catch {
          child.kill('SIGKILL');
        }
      }
      const clean = (): void =>
        rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
      if (child.exitCode !== null || child.signalCode !== null) clean();
      else child.once('exit', clean);
    },
  };
}

export const chromiumAvailable = (): boolean => existsSync(CHROMIUM);

// ---------------------------------------------------------------------------------------------
// Node: plain HTTP through the capture proxy

type AddRequest = (req: http.ClientRequest, options: Record<string, unknown>) => void;

/**
 * An `http.Agent` that sends every request to the HTTP proxy on 127.0.0.1:`port` with the target in
 * absolute form (`POST http://host/path HTTP/1.1`), as an HTTP proxy expects. It rewrites the request
 * line before the headers are written (`addRequest` runs inside the ClientRequest constructor).
 */
export class HttpProxyAgent extends http.Agent {
  port: number;

  constructor(port: number) {
    super({ keepAlive: false });
    this.port = port;
    const addRequest = Reflect.get(http.Agent.prototype, 'addRequest') as AddRequest;
    const toProxy: AddRequest = (req, options) => {
      const target = req.getHeader('host');
      const host = typeof target === 'string' ? target : req.host; // Node sets Host unless told not to
      if (req.path.startsWith('/')) req.path = `http://${host}${req.path}`;
      addRequest.call(this, req, { ...options, host: '127.0.0.1', hostname: '127.0.0.1', port: this.port });
    };
    Reflect.set(this, 'addRequest', toProxy);
  }
}

/** A loopback port that accepts connections and resets them at once: an unreachable proxy. */
export async function startRefusingPort(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.resetAndDestroy();
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Installs `agent` as `http.globalAgent` (what node-fetch@1 uses); returns the restorer. */
export function useGlobalAgent(agent: http.Agent): () => void {
  const previous = http.globalAgent;
  http.globalAgent = agent;
  return () => {
    http.globalAgent = previous;
    agent.destroy();
  };
}

// ---------------------------------------------------------------------------------------------
// sa-sdk-node (CommonJS, untyped): the part of its API the tests use

export interface SaSubmitter {
  /** Rx: subscribes an error callback (Submitter#catch). */
  catch(callback: (err: unknown) => void): void;
}

export interface SubmitOptions {
  url: string;
  gzip?: boolean;
  mode?: 'track' | 'debug' | 'dryRun';
  timeout?: number;
}

export interface SensorsAnalyticsNode {
  track(distinctId: string, event: string, properties?: Record<string, unknown>): void;
  trackSignup(distinctId: string, originalId: string, properties?: Record<string, unknown>): void;
  profileSet(distinctId: string, properties: Record<string, unknown>): void;
  /** Returns undefined when a submitter already runs in this process (see `resetSubmitToGuard`). */
  submitTo(options: SubmitOptions, batch?: { count?: number; timeSpan?: number }): SaSubmitter | undefined;
  initNWConsumer(options: SubmitOptions & { cachePath: string }): SaSubmitter;
  /** Rx Subject: flushes buffered events and stops the buffering timers. */
  onCompleted(): void;
}

export function loadNodeSdk(): new () => SensorsAnalyticsNode {
  const require = createRequire(import.meta.url);
  return require('sa-sdk-node') as new () => SensorsAnalyticsNode;
}

/**
 * `SensorsAnalytics#submitTo` sets `global.isRunSubmitTo` and returns without subscribing on every
 * later call in the process; each instance here gets its own submitter, so the flag is cleared
 * before each call. Returns the restorer of the original value.
 */
export function resetSubmitToGuard(): () => void {
  const had = Object.prototype.hasOwnProperty.call(globalThis, 'isRunSubmitTo');
  const previous: unknown = Reflect.get(globalThis, 'isRunSubmitTo');
  Reflect.deleteProperty(globalThis, 'isRunSubmitTo');
  return () => {
    if (had) Reflect.set(globalThis, 'isRunSubmitTo', previous);
    else Reflect.deleteProperty(globalThis, 'isRunSubmitTo');
  };
}
