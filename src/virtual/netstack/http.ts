/**
 * How the virtual phone's apps reach the network (issue 3 §5; xiaomi-telemetry.md §4.5–4.7).
 *
 * - Proxy: `settings global http_proxy` as ProxyTracker reads it (SettingsStore.httpProxy(): `:0`
 *   clears it; a deleted key stays in force until reboot), for every new connection. Plain HTTP
 *   sends the absolute URI to the proxy; HTTPS sends `CONNECT host:port` and runs TLS in the tunnel.
 * - The proxy must be on the phone's loopback (127.0.0.1:P): it is reached through PhoneNet, so
 *   only an `adb reverse tcp:P …` rule (or a phone-side listener) gets it anywhere, exactly like a
 *   real phone. Any other destination (a direct connection, a proxy elsewhere) goes to the sink:
 *   refused unless a test installs one, and logged to logcat. Nothing leaves the machine by itself.
 * - TLS is verified (node:tls, rejectUnauthorized) against the trust store as the app sees it: the
 *   profile's system CA directory read through the app process's mount namespace, plus the user
 *   store for apps that trust it (targetSdk < 24 or the `trustsUserCas` hook).
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { PhoneHttpError, type HttpClient, type HttpRequest, type HttpResponse } from '../apps/events.ts';
import type { VirtualPhone } from '../phone.ts';
import type { Vfs } from '../fs.ts';
import { NetError } from '../net.ts';
import { deviceState } from '../android/util.ts';
import { readCaDirectory, SYSTEM_FILE_LABEL, USER_CA_DIR, type TrustedCa } from './trust.ts';
import { readBody, requestBytes, StreamReader, writeAll } from './wire.ts';

/** A connection the phone could not make on its own loopback. */
export interface SinkTarget {
  host: string;
  port: number;
  /** The package connecting. */
  app: string;
  /** `direct`: no proxy set; `proxy`: the configured proxy is not on the phone's loopback. */
  via: 'direct' | 'proxy';
}

/** Decides what such a connection reaches: a stream, or undefined to refuse it (the default). */
export type ConnectionSink = (target: SinkTarget) => Duplex | undefined;

export const refuseAll: ConnectionSink = () => undefined;

export interface PhoneHttpOptions {
  sink?: ConnectionSink;
  trustsUserCas?: (pkg: string) => boolean;
  /** Whole-request timeout (default 20 s). */
  timeoutMs?: number;
}

export type Route =
  | { kind: 'proxy'; host: string; port: number; loopback: boolean }
  | { kind: 'direct'; host: string; port: number };

export interface TrustStore {
  /** CAs the app trusts, system first. */
  cas: TrustedCa[];
  skipped: Array<{ path: string; reason: string }>;
}

const LOG_TAG = 'NetworkSink';

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === 'ip6-localhost') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

export class PhoneHttp implements HttpClient {
  /** Where connections off the phone's loopback go. Refuses by default. */
  sink: ConnectionSink;
  /** Whether an app trusts the user CA store (apps targeting API 24+ do not; the browser does not). */
  trustsUserCas: (pkg: string) => boolean;
  timeoutMs: number;

  constructor(
    private readonly phone: VirtualPhone,
    opts: PhoneHttpOptions = {},
  ) {
    this.sink = opts.sink ?? refuseAll;
    this.trustsUserCas =
      opts.trustsUserCas ?? ((pkg) => (this.phone.packages.get(pkg)?.targetSdk ?? 99) < 24);
    this.timeoutMs = opts.timeoutMs ?? 20_000;
    // Apps read the trust store through their process's mount namespace: the process table gives
    // every process one from here on (see ProcessTable.attachFilesystem).
    phone.processes.attachFilesystem(phone.fs);
  }

  /** Where a connection to host:port goes now: the proxy apps would use, or direct. */
  route(host: string, port: number): Route {
    const proxy = this.phone.settings.httpProxy();
    if (proxy)
      return { kind: 'proxy', host: proxy.host, port: proxy.port, loopback: isLoopbackHost(proxy.host) };
    return { kind: 'direct', host, port };
  }

  /** The filesystem as the app's process sees it (its zygote's view when it does not run). */
  appFs(app: string): Vfs {
    const procs = this.phone.processes;
    const proc = procs.byName(app)[0];
    const ns = proc ? procs.mountNamespace(proc.pid) : procs.zygoteNamespace();
    return ns ? this.phone.fs.inNamespace(ns) : this.phone.fs;
  }

  /** The CAs `app` trusts now. */
  trustStore(app: string): TrustStore {
    const fs = this.appFs(app);
    const uid = this.appUid(app);
    const enforcing = deviceState(this.phone).selinuxEnforcing;
    const system = readCaDirectory(fs, this.phone.profile.systemCaDir, {
      uid,
      requireLabel: enforcing ? SYSTEM_FILE_LABEL : undefined,
    });
    const store: TrustStore = { cas: [...system.cas], skipped: [...system.skipped] };
    if (this.trustsUserCas(app)) {
      const user = readCaDirectory(fs, USER_CA_DIR, { uid: 0 });
      store.cas.push(...user.cas);
      store.skipped.push(...user.skipped);
    }
    return store;
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      throw new PhoneHttpError('bad-url', `${req.app}: bad URL '${req.url}'`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new PhoneHttpError('bad-url', `${req.app}: unsupported scheme in '${req.url}'`);
    }
    const https = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port) || (https ? 443 : 80);
    const sockets: Duplex[] = [];
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new PhoneHttpError('timeout', `${req.app}: ${req.method} ${req.url}: timed out`)),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exchange(req, url, https, host, port, sockets), timeout]);
    } finally {
      clearTimeout(timer);
      for (const s of sockets.reverse()) s.destroy();
    }
  }

  private async exchange(
    req: HttpRequest,
    url: URL,
    https: boolean,
    host: string,
    port: number,
    sockets: Duplex[],
  ): Promise<HttpResponse> {
    const route = this.route(host, port);
    const hostPort = url.port ? `${url.hostname}:${url.port}` : url.hostname;
    let stream = this.open(route, req.app);
    sockets.push(stream);
    if (route.kind === 'proxy' && https) {
      await this.connectTunnel(stream, hostPort.includes(':') ? hostPort : `${hostPort}:${port}`, req);
    }
    if (https) {
      stream = await this.startTls(stream, host, req.app);
      sockets.push(stream);
    }
    const reader = new StreamReader(stream);
    const headers: Array<[string, string]> = [['Host', hostPort]];
    const given = Object.entries(req.headers ?? {}).filter(
      ([k]) => !/^(host|content-length|connection|transfer-encoding)$/i.test(k),
    );
    headers.push(...given);
    const body = req.body;
    if (body || !/^(GET|HEAD|DELETE|OPTIONS)$/i.test(req.method)) {
      headers.push(['Content-Length', String(body?.length ?? 0)]);
    }
    headers.push(['Connection', 'close']);
    const target = route.kind === 'proxy' && !https ? url.href : `${url.pathname}${url.search}`;
    try {
      await writeAll(stream, requestBytes(req.method.toUpperCase(), target, headers, body));
      const head = await reader.readHead();
      const data = await readBody(reader, head, /^HEAD$/i.test(req.method));
      return { status: head.status, headers: head.headers, body: data };
    } catch (e) {
      throw this.failure(e, req, 'reset');
    }
  }

  /** Opens the first hop: the phone's loopback for a local proxy, the sink for anything else. */
  private open(route: Route, app: string): Duplex {
    if (route.kind === 'proxy' && route.loopback) {
      try {
        return this.phone.net.connect(`tcp:${route.port}`);
      } catch (e) {
        if (e instanceof NetError) {
          throw new PhoneHttpError(
            'refused',
            `${app}: connect to proxy ${route.host}:${route.port} refused (nothing listens there: adb reverse tcp:${route.port} …?)`,
          );
        }
        throw e;
      }
    }
    const target: SinkTarget = { host: route.host, port: route.port, app, via: route.kind };
    const stream = this.sink(target);
    const pid = this.phone.processes.byName(app)[0]?.pid ?? 0;
    const what = route.kind === 'proxy' ? `proxy ${route.host}:${route.port}` : `${route.host}:${route.port}`;
    this.phone.logcat.append({
      pid,
      priority: stream ? 4 : 5,
      tag: LOG_TAG,
      message: `${app}: connection to ${what} (${route.kind}) ${stream ? 'handed to the sink' : 'refused: no network off the lab'}`,
    });
    if (!stream) {
      throw new PhoneHttpError(
        'refused',
        `${app}: connect to ${what}: Connection refused (no network off the lab)`,
      );
    }
    return stream;
  }

  private async connectTunnel(stream: Duplex, authority: string, req: HttpRequest): Promise<void> {
    const reader = new StreamReader(stream);
    try {
      await writeAll(stream, requestBytes('CONNECT', authority, [['Host', authority]], undefined));
      const head = await reader.readHead();
      if (head.status < 200 || head.status >= 300) {
        throw new PhoneHttpError(
          'proxy-error',
          `${req.app}: proxy answered ${head.status} to CONNECT ${authority}`,
        );
      }
    } catch (e) {
      throw this.failure(e, req, 'proxy-error');
    } finally {
      reader.release();
    }
  }

  private startTls(stream: Duplex, host: string, app: string): Promise<TLSSocket> {
    const cas = this.trustStore(app).cas.map((c) => c.pem);
    return new Promise((resolve, reject) => {
      const tls = tlsConnect({
        socket: stream,
        servername: isIP(host) ? undefined : host,
        host,
        ca: cas,
        rejectUnauthorized: true,
        ALPNProtocols: ['http/1.1'],
      });
      const onError = (e: Error & { code?: string }): void => {
        tls.destroy();
        const code = e.code ?? '';
        if (/CERT|SIGNATURE|ISSUER|ALTNAME|SELF_SIGNED|VERIFY/.test(code)) {
          reject(
            new PhoneHttpError(
              'cert-rejected',
              `${app}: TLS to ${host}: certificate not trusted (${code || e.message})`,
            ),
          );
        } else reject(new PhoneHttpError('reset', `${app}: TLS to ${host}: ${e.message}`));
      };
      tls.once('error', onError);
      tls.once('secureConnect', () => {
        tls.off('error', onError);
        resolve(tls);
      });
    });
  }

  private failure(e: unknown, req: HttpRequest, fallback: 'reset' | 'proxy-error'): PhoneHttpError {
    if (e instanceof PhoneHttpError) return e;
    const msg = e instanceof Error ? e.message : String(e);
    return new PhoneHttpError(fallback, `${req.app}: ${req.method} ${req.url}: ${msg}`);
  }

  private appUid(app: string): number {
    return this.phone.processes.byName(app)[0]?.uid ?? this.phone.packages.get(app)?.uid ?? 10199;
  }
}
