/**
 * How the virtual phone's apps reach the network (issue 3 §5; xiaomi-telemetry.md §4.5–4.7;
 * issue 10: apps that bypass the proxy, per-UID accounting, netfilter).
 *
 * - Proxy: `settings global http_proxy` as ProxyTracker reads it (SettingsStore.httpProxy(): `:0`
 *   clears it; a deleted key stays in force until reboot), for every new connection, unless the
 *   request says `proxy: 'direct'` (the app ignores the system proxy: Proxy.NO_PROXY, native
 *   sockets, Flutter; android-realities.md §5). Plain HTTP sends the absolute URI to the proxy;
 *   HTTPS sends `CONNECT host:port` and runs TLS in the tunnel. A direct connection speaks origin
 *   form (TLS with SNI straight away, or a relative path with a Host header).
 * - Every connection is made by socket.ts as the kernel would: DNS through the phone's resolver,
 *   netfilter (iptables REJECT refuses it, nat REDIRECT sends it to a phone-loopback port, i.e.
 *   through `adb reverse` to the host), per-UID eBPF and /proc/net/dev counters. The proxy must be
 *   on the phone's loopback (127.0.0.1:P): only an `adb reverse tcp:P …` rule (or a phone-side
 *   listener) gets it anywhere, exactly like a real phone. Any other destination goes to the sink:
 *   refused unless a test installs one, and logged to logcat. Nothing leaves the machine by itself.
 * - TLS is verified (node:tls, rejectUnauthorized) against the trust store as the app sees it: the
 *   profile's system CA directory read through the app process's mount namespace, plus the user
 *   store for apps that trust it (targetSdk < 24 or the `trustsUserCas` hook). As on Android, any
 *   CA in the store is a trust anchor, an intermediate too (allowPartialTrustChain); as in
 *   Chromium ≥ 58 (Mi Browser) a leaf without subjectAltName is rejected (no CN fallback). A
 *   request with `pinning: true` trusts none of them: it accepts only its own pinned certificate,
 *   which no server in the lab presents, so its TLS fails with 'cert-rejected' (an interceptor, or
 *   a sink answering TLS alike).
 * - A request ends by its timeout (unref'd: it keeps no process alive), its `signal`, or close():
 *   each destroys the request's sockets and rejects with 'timeout' / 'aborted'.
 */
import {
  checkServerIdentity as defaultCheckServerIdentity,
  connect as tlsConnect,
  type PeerCertificate,
  type TLSSocket,
} from 'node:tls';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { PhoneHttpError, type HttpClient, type HttpRequest, type HttpResponse } from '../apps/events.ts';
import type { VirtualPhone } from '../phone.ts';
import type { Vfs } from '../os/vfs.ts';
import { deviceState } from '../commands/util.ts';
import { netState } from '../os/kernel-net.ts';
import { procNetDev } from '../os/traffic.ts';
import { PhoneSockets, refuseAll, type ConnectionSink } from './socket.ts';
import { readCaDirectory, SYSTEM_FILE_LABEL, USER_CA_DIR, type TrustedCa } from './trust.ts';
import { readBody, requestBytes, StreamReader, writeAll } from './wire.ts';

export { refuseAll, type ConnectionSink, type SinkTarget } from './socket.ts';

export interface PhoneHttpOptions {
  sink?: ConnectionSink;
  trustsUserCas?: (pkg: string) => boolean;
  /** Whole-request timeout (default 20 s). */
  timeoutMs?: number;
}

/** `loopback`: the host is the phone's own loopback, reached through PhoneNet. */
export type Route =
  | { kind: 'proxy'; host: string; port: number; loopback: boolean }
  | { kind: 'direct'; host: string; port: number; loopback: boolean };

export interface TrustStore {
  /** CAs the app trusts, system first. */
  cas: TrustedCa[];
  skipped: Array<{ path: string; reason: string }>;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === 'ip6-localhost') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** `host:port` as CONNECT and Host want it: an IPv6 literal in brackets. */
export function authority(host: string, port: number): string {
  const h = host.replace(/^\[|\]$/g, '');
  return isIP(h) === 6 ? `[${h}]:${port}` : `${h}:${port}`;
}

/**
 * Chromium ≥ 58 (and so Mi Browser) ignores the subject CN: a leaf without subjectAltName fails
 * with ERR_CERT_COMMON_NAME_INVALID. With a SAN, node's default check applies.
 */
export function checkServerIdentity(host: string, cert: PeerCertificate): Error | undefined {
  if (!cert.subjectaltname) {
    const e = new Error(
      `certificate for '${host}' has no subjectAltName (the CN is not used: ERR_CERT_COMMON_NAME_INVALID)`,
    ) as Error & { code: string; reason: string; host: string };
    e.code = 'ERR_TLS_CERT_ALTNAME_INVALID';
    e.reason = 'no subjectAltName';
    e.host = host;
    return e;
  }
  return defaultCheckServerIdentity(host, cert);
}

/** A request under way: the sockets it opens are destroyed when it ends. */
interface Flight {
  /** Destroys the stream at once when the request already ended; otherwise keeps it for the end. */
  track<T extends Duplex>(stream: T): T;
}

export class PhoneHttp implements HttpClient {
  /** Where connections off the phone's loopback go. Refuses by default. */
  sink: ConnectionSink;
  /** Whether an app trusts the user CA store (apps targeting API 24+ do not; the browser does not). */
  trustsUserCas: (pkg: string) => boolean;
  timeoutMs: number;
  /** The kernel side of the apps' connections (netfilter, accounting). */
  readonly sockets: PhoneSockets;
  private closed = false;
  /** Requests under way: close() aborts them. */
  private readonly live = new Set<AbortController>();

  constructor(
    private readonly phone: VirtualPhone,
    opts: PhoneHttpOptions = {},
  ) {
    this.sink = opts.sink ?? refuseAll;
    this.trustsUserCas =
      opts.trustsUserCas ?? ((pkg) => (this.phone.packages.get(pkg)?.targetSdk ?? 99) < 24);
    this.timeoutMs = opts.timeoutMs ?? 20_000;
    this.sockets = new PhoneSockets(phone);
    // The kernel's per-interface counters (the phone's netstack keeps them; the file is new at
    // every boot as the counters are). /proc/net/xt_qtaguid does not exist (facts §3.1).
    phone.fs.defineDynamicFile('/proc/net/dev', () => procNetDev(netState(phone).traffic));
    // Apps read the trust store through their process's mount namespace: the process table gives
    // every process one from here on (see ProcessTable.attachFilesystem).
    phone.processes.attachFilesystem(phone.fs);
  }

  /**
   * Where a connection to host:port goes now: the proxy apps would use, or direct (always direct
   * for an app that ignores the system proxy).
   */
  route(host: string, port: number, proxyChoice: 'system' | 'direct' = 'system'): Route {
    const proxy = proxyChoice === 'direct' ? null : this.phone.settings.httpProxy();
    if (proxy)
      return { kind: 'proxy', host: proxy.host, port: proxy.port, loopback: isLoopbackHost(proxy.host) };
    return { kind: 'direct', host, port, loopback: isLoopbackHost(host) };
  }

  /**
   * Aborts every request under way (their sockets are destroyed, they reject with 'aborted') and
   * makes later ones fail at once. For the phone's close(); the client is not used after.
   */
  close(): void {
    this.closed = true;
    for (const ac of [...this.live]) ac.abort('closed');
    this.live.clear();
  }

  /** The default User-Agent of HttpURLConnection/OkHttp on Android: System.getProperty("http.agent"). */
  dalvikUserAgent(): string {
    const p = this.phone.props;
    const release = p.get('ro.build.version.release') || '10';
    const model = p.get('ro.product.model') || 'Redmi';
    const id = p.get('ro.build.id') || 'QKQ1.200114.002';
    return `Dalvik/2.1.0 (Linux; U; Android ${release}; ${model} Build/${id})`;
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
    const what = `${req.app}: ${req.method} ${req.url}`;
    if (this.closed) throw new PhoneHttpError('aborted', `${what}: the phone is shut down`);
    if (req.signal?.aborted) throw new PhoneHttpError('aborted', `${what}: aborted`);
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

    // Every way the request ends early aborts `ac`: its timeout, the caller's signal, close().
    const ac = new AbortController();
    this.live.add(ac);
    const sockets: Duplex[] = [];
    const flight: Flight = {
      track: (stream) => {
        if (ac.signal.aborted) stream.destroy();
        else sockets.push(stream);
        return stream;
      },
    };
    const onCallerAbort = (): void => ac.abort('aborted');
    req.signal?.addEventListener('abort', onCallerAbort, { once: true });
    const timer = setTimeout(() => ac.abort('timeout'), this.timeoutMs);
    timer.unref();
    const ended = new Promise<never>((_, reject) => {
      ac.signal.addEventListener(
        'abort',
        () => {
          const why = ac.signal.reason;
          reject(
            why === 'timeout'
              ? new PhoneHttpError('timeout', `${what}: timed out`)
              : new PhoneHttpError(
                  'aborted',
                  `${what}: ${why === 'closed' ? 'the phone is shut down' : 'aborted'}`,
                ),
          );
        },
        { once: true },
      );
    });
    try {
      return await Promise.race([this.exchange(req, url, https, host, port, flight), ended]);
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onCallerAbort);
      this.live.delete(ac);
      // Ends the request for `track` too: a socket opened after this point is destroyed at once.
      if (!ac.signal.aborted) ac.abort('done');
      for (const s of sockets.reverse()) s.destroy();
    }
  }

  private async exchange(
    req: HttpRequest,
    url: URL,
    https: boolean,
    host: string,
    port: number,
    flight: Flight,
  ): Promise<HttpResponse> {
    const route = this.route(host, port, req.proxy ?? 'system');
    let stream = flight.track(await this.open(route, req.app));
    if (route.kind === 'proxy' && https) {
      await this.connectTunnel(stream, authority(host, port), req);
    }
    if (https) {
      stream = await this.startTls(stream, host, req.app, flight, req.pinning === true);
    }
    const reader = new StreamReader(stream);
    // url.host: the port only when not the default, an IPv6 literal in brackets.
    const headers: Array<[string, string]> = [['Host', url.host]];
    const given = Object.entries(req.headers ?? {}).filter(
      ([k]) => !/^(host|content-length|connection|transfer-encoding)$/i.test(k),
    );
    headers.push(...given);
    if (!given.some(([k]) => /^user-agent$/i.test(k))) headers.push(['User-Agent', this.dalvikUserAgent()]);
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

  /**
   * Opens the first hop (the proxy, or the destination itself) through the phone's sockets:
   * netfilter, per-UID accounting, the phone's loopback or the sink.
   */
  private async open(route: Route, app: string): Promise<Duplex> {
    const conn = await this.sockets.connect({
      app,
      uid: this.appUid(app),
      host: route.host,
      port: route.port,
      via: route.kind,
      sink: (t) => this.sink(t),
    });
    return conn.stream;
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

  private startTls(
    stream: Duplex,
    host: string,
    app: string,
    flight: Flight,
    pinning: boolean,
  ): Promise<TLSSocket> {
    // A pinning app accepts only its own certificate: no CA of the phone's stores.
    const cas = pinning ? [] : this.trustStore(app).cas.map((c) => c.pem);
    return new Promise((resolve, reject) => {
      const tls = flight.track(
        tlsConnect({
          socket: stream,
          servername: isIP(host) ? undefined : host,
          host,
          ca: cas,
          rejectUnauthorized: true,
          // Android (TrustManagerImpl) takes any CA in the store as a trust anchor, intermediates too.
          allowPartialTrustChain: true,
          checkServerIdentity,
          ALPNProtocols: ['http/1.1'],
        }),
      );
      const onError = (e: Error & { code?: string }): void => {
        tls.destroy();
        const code = e.code ?? '';
        if (/CERT|SIGNATURE|ISSUER|ALTNAME|SELF_SIGNED|VERIFY/.test(code)) {
          reject(
            new PhoneHttpError(
              'cert-rejected',
              pinning
                ? `${app}: TLS to ${host}: certificate does not match the app's pin (${code ? `${code}: ` : ''}${e.message})`
                : `${app}: TLS to ${host}: certificate not trusted (${code ? `${code}: ` : ''}${e.message})`,
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

  appUid(app: string): number {
    return this.phone.processes.byName(app)[0]?.uid ?? this.phone.packages.get(app)?.uid ?? 10199;
  }
}
