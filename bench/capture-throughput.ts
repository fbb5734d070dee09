/**
 * bench/capture-throughput: exchanges/s and MB/s of request body through phonehome's capture path
 * (CaptureSession in block mode, streaming exchanges.ndjson + bodies.bin + capture.har, and
 * `analyseRecord()` = decode + detect on every record), against mitmdump (Debian mitmproxy) answering
 * every request from a script and saving the flows with `io.FlowWriter`, under the same load in the
 * same run; then an RSS run through phonehome alone (100k exchanges by default). A third, context
 * row runs the same session with the `record` handler only counting (capture without decode/detect).
 * As in the product (src/scenario/evidence.ts), decode + detect run in the analysis pool's worker
 * threads (src/detect/pool.ts; `--analysis-pool N`, 0 = inline on the proxy's loop), and a round ends
 * when every analysis has settled; the workers' CPU is in this process's cpuUsage().
 *
 * Load: a seeded, fixed mix of phone uploads built with the virtual phone's encoders: Sensors
 * `data_list` batches (gzip=1, 10–50 browser events), MIUI tracking H/B envelopes (1–20 entries) and
 * small GETs (Sensors web `sa.gif?data=`, ad/A-B config), sent as plain-HTTP proxy requests
 * (absolute-form) over N keep-alive connections by a generator in a child process (node:http, one
 * request in flight per connection), so it does not share an event loop with the proxy under test.
 * Rounds alternate between the two proxies (both idle-listening all along) so drift hits both alike.
 * MB/s counts request body bytes (1 MB = 10^6 B).
 *
 *   npm run bench:capture [-- --exchanges 20000 --connections 16 --rounds 4 --rss-exchanges 100000 --analysis-pool 1 --quick]
 */
import { fork, spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { createServer, connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { CaptureSession as Session } from '../src/capture/session.ts';
import { BODIES_FILE, HAR_FILE, NDJSON_FILE } from '../src/capture/format.ts';

/** One request of the mix, as sent over IPC (body base64). */
interface WireReq {
  kind: string;
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body: string;
}

type ToGenerator =
  | { type: 'init'; pool: WireReq[] }
  | { type: 'run'; port: number; from: number; count: number; connections: number; load: Load };

/**
 * `https`: what phones send. Each client connection opens a CONNECT tunnel to the collector's host
 * through the proxy, does the TLS handshake (the proxy intercepts, minting a certificate for the
 * SNI), then keeps the tunnel alive for its following requests (origin-form, as a phone's HTTP
 * client does inside a tunnel); a connection is re-opened when the next request goes to another
 * host. `http`: plain-HTTP proxy requests (absolute-form) over keep-alive connections.
 */
type Load = 'https' | 'http';

interface RunResult {
  type: 'done';
  count: number;
  bytes: number;
  ms: number;
  cpuUs: number;
  p50: number;
  p99: number;
  /** CONNECT tunnels (each with a full TLS handshake) opened during the run; 0 for plain HTTP. */
  tunnels: number;
  errors: string[];
}

type FromGenerator = { type: 'ready' } | RunResult;

// ------------------------------------------------------------------------------ generator (child)

async function generatorMain(): Promise<void> {
  let pool: Array<{ method: string; url: string; headers: Record<string, string>; body: Buffer }> = [];
  const send = (m: FromGenerator): void => void process.send!(m);
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: ToGenerator) => {
    if (m.type === 'init') {
      pool = m.pool.map((r) => ({ ...r, body: Buffer.from(r.body, 'base64') }));
      send({ type: 'ready' });
      return;
    }
    void run(m).then(send, (err: unknown) =>
      send({
        type: 'done',
        count: 0,
        bytes: 0,
        ms: 0,
        cpuUs: 0,
        p50: 0,
        p99: 0,
        tunnels: 0,
        errors: [String(err)],
      }),
    );
  });

  async function run(m: Extract<ToGenerator, { type: 'run' }>): Promise<RunResult> {
    const agent =
      m.load === 'https'
        ? new TunnelAgent(m.port, { keepAlive: true, maxSockets: m.connections })
        : new Agent({ keepAlive: true, maxSockets: m.connections });
    const lat = new Float64Array(m.count);
    const errors: string[] = [];
    let next = 0;
    let done = 0;
    let bytes = 0;
    const one = (i: number): Promise<void> =>
      new Promise((resolve) => {
        const r = pool[(m.from + i) % pool.length]!;
        const t0 = performance.now();
        const url = new URL(r.url);
        const target =
          m.load === 'https'
            ? { host: url.hostname, port: 443, path: url.pathname + url.search, servername: url.hostname }
            : { host: '127.0.0.1', port: m.port, path: r.url };
        const req = request({ ...target, method: r.method, headers: r.headers, agent }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode! >= 200 && res.statusCode! < 300) {
              done++;
              bytes += r.body.length;
              lat[i] = performance.now() - t0;
            } else if (errors.length < 5) errors.push(`${r.method} ${r.url}: HTTP ${res.statusCode}`);
            resolve();
          });
        });
        req.on('error', (e) => {
          if (errors.length < 5) errors.push(`${r.method} ${r.url}: ${e.message}`);
          resolve();
        });
        req.end(r.body.length ? r.body : undefined);
      });
    const worker = async (): Promise<void> => {
      while (next < m.count) await one(next++);
    };
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: m.connections }, worker));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const tunnels = agent instanceof TunnelAgent ? agent.tunnels : 0;
    agent.destroy();
    const sorted = lat.slice(0, m.count).sort();
    return {
      type: 'done',
      count: done,
      bytes,
      ms,
      cpuUs: cpu.user + cpu.system,
      p50: sorted[Math.floor(sorted.length * 0.5)] ?? 0,
      p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0,
      tunnels,
      errors,
    };
  }
}

/**
 * An http.Agent whose connections are TLS sessions inside CONNECT tunnels through the proxy at
 * 127.0.0.1:`proxyPort`. Keep-alive pools sockets per host:port, so a tunnel is reused for every
 * request to the same collector, as a phone's OkHttp connection pool does. The proxy's certificate
 * is not verified (the bench measures the proxies, not trust; both mint a leaf per SNI from their own
 * CA). Sessions are not resumed: a new tunnel is a full handshake, the phone's worst case.
 */
class TunnelAgent extends Agent {
  tunnels = 0;

  constructor(
    private readonly proxyPort: number,
    opts: ConstructorParameters<typeof Agent>[0],
  ) {
    super(opts);
  }

  override createConnection(
    opts: { host?: string | null; port?: number | string | null; servername?: string },
    done: (err: Error | null, socket?: Duplex) => void,
  ): undefined {
    const host = opts.host ?? 'localhost';
    const port = Number(opts.port ?? 443);
    const tunnel = connect(this.proxyPort, '127.0.0.1');
    this.tunnels++;
    let head = '';
    const fail = (err: Error): void => {
      tunnel.destroy();
      done(err);
    };
    tunnel.once('error', fail);
    tunnel.setNoDelay(true);
    tunnel.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`);
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      tunnel.off('data', onData);
      if (!/^HTTP\/1\.[01] 200/.test(head))
        return fail(new Error(`CONNECT ${host}: ${head.split('\r\n')[0]}`));
      tunnel.off('error', fail);
      const socket = tlsConnect({
        socket: tunnel,
        servername: opts.servername ?? host,
        rejectUnauthorized: false,
        ALPNProtocols: ['http/1.1'],
      });
      socket.once('secureConnect', () => done(null, socket));
      socket.once('error', (err) => done(err));
    };
    tunnel.on('data', onData);
    return undefined;
  }
}

// ------------------------------------------------------------------------------ the load

async function buildPool(seed: number, size: number): Promise<WireReq[]> {
  const { prng, sensorsBodies } = await import('../test/support/decode/corpus.ts');
  const { DEVICE } = await import('../test/support/decode/device.ts');
  const { encodeTrackingBody, trackingHeader } = await import('../src/virtual/telemetry/index.ts');
  const rnd = prng(seed);
  const ua = `Dalvik/2.1.0 (Linux; U; Android ${DEVICE.osVersion}; ${DEVICE.model} Build/TKQ1.221114.001)`;
  const form = 'application/x-www-form-urlencoded';
  const post = (kind: string, url: string, body: string): WireReq => ({
    kind,
    method: 'POST',
    url,
    headers: {
      host: new URL(url).host,
      'user-agent': ua,
      'content-type': form,
      'content-length': String(Buffer.byteLength(body)),
    },
    body: Buffer.from(body).toString('base64'),
  });
  const get = (kind: string, url: string): WireReq => ({
    kind,
    method: 'GET',
    url,
    headers: { host: new URL(url).host, 'user-agent': ua, accept: '*/*' },
    body: '',
  });
  const senders = [
    'com.miui.securitycenter',
    'com.miui.home',
    'com.android.settings',
    'com.miui.cleanmaster',
  ];
  const pool: WireReq[] = [];
  for (let i = 0; i < size; i++) {
    const x = rnd();
    const s = seed * 1000 + i;
    if (x < 0.5) {
      // Mint Browser's Sensors batch, as the Android SDK posts it.
      const n = 10 + Math.floor(rnd() * 41);
      pool.push(
        post(
          'sensors data_list gzip=1',
          'http://sa.api.intl.miui.com/sa?project=global_browser_mini&r=GB',
          sensorsBodies(s, n).gzip,
        ),
      );
    } else if (x < 0.7) {
      const sender = senders[Math.floor(rnd() * senders.length)]!;
      const header = trackingHeader(DEVICE, { sender, analyticsVersion: '3.8.8', account: '6120004521' });
      const n = 1 + Math.floor(rnd() * 20);
      const t = 1_700_000_000_000 + i * 60_000;
      const entries = Array.from({ length: n }, (_, k) => ({
        H: { sid: `s${i}`, pk: sender, key: 'open', eventTime: String(t + k), sn: k + 1, retryCnt: 0 },
        B: {
          _event_id_: k % 3 ? 'page_show' : 'click',
          netstate: 'WIFI',
          package: sender,
          ...(k === 0 && i % 4 === 0 ? { note: CANARIES[0] } : {}),
        },
      }));
      const { body } = encodeTrackingBody(header, entries, { ts: t, nonce: `n${i.toString(16)}` });
      pool.push(post('miui tracking H/B', 'http://tracking.intl.miui.com/track/spock', body));
    } else if (x < 0.85) {
      // The web SDK's image GET: one event in the query.
      const web = sensorsBodies(s, 1).web[0]!;
      pool.push(
        get('GET sa.gif?data=', `http://sa.api.intl.miui.com/sa.gif?project=global_browser_mini&${web}`),
      );
    } else {
      const cfg =
        rnd() < 0.5
          ? `http://sdkconfig.ad.intl.xiaomi.com/api/v3/config?pkg=com.miui.msa.global&v=2.1.${i}&aaid=${DEVICE.adId}&r=${DEVICE.region}`
          : `http://abtest.mistat.intl.xiaomi.com/experiments?app_id=2882303761517${i}&sv=3.0.16&m=${encodeURIComponent(DEVICE.model)}`;
      pool.push(get('GET config', cfg));
    }
  }
  return pool;
}

const CANARIES = ['PHC-7f3a9c21-canary', 'bench-canary-0001'];

// ------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      exchanges: { type: 'string' },
      connections: { type: 'string', default: '16' },
      rounds: { type: 'string', default: '4' },
      warmup: { type: 'string' },
      'rss-exchanges': { type: 'string' },
      'rss-every': { type: 'string' },
      pool: { type: 'string', default: '240' },
      // Worker threads for decode + detect (`--pool` already names the load's distinct requests).
      'analysis-pool': { type: 'string' },
      seed: { type: 'string', default: '1' },
      quick: { type: 'boolean', default: false },
      load: { type: 'string', default: 'https,http' },
    },
  });
  const quick = values.quick;
  const exchanges = Number(values.exchanges ?? (quick ? 3000 : 20000));
  const connections = Number(values.connections);
  const rounds = Number(values.rounds);
  const warmup = Number(values.warmup ?? (quick ? 300 : 1000));
  const rssExchanges = Number(values['rss-exchanges'] ?? (quick ? 20000 : 100000));
  const rssEvery = Number(values['rss-every'] ?? rssExchanges / 10);
  const perRound = Math.ceil(exchanges / rounds);
  const GOAL = 2;
  const FLAT = 1.2;
  const DISK = 1.2;
  const loads = values.load.split(',').map((l) => {
    if (l !== 'https' && l !== 'http') throw new Error(`--load: "${l}" is not https or http`);
    return l;
  });
  const rssLoad = loads[0]!;

  const { LabCa } = await import('../src/capture/ca.ts');
  const { CaptureSession } = await import('../src/capture/session.ts');
  const { createDetector } = await import('../src/detect/index.ts');
  const { AnalysisPool, defaultPoolSize } = await import('../src/detect/pool.ts');
  const poolSize = Number(values['analysis-pool'] ?? defaultPoolSize());
  const { DEVICE } = await import('../test/support/decode/device.ts');

  const pool = await buildPool(Number(values.seed), Number(values.pool));
  const base = mkdtempSync(join(tmpdir(), 'phonehome-bench-capture-'));
  let gen: ChildProcess | undefined;
  let mitm: ChildProcess | undefined;
  let session: Session | undefined;
  let analysisPool: InstanceType<typeof AnalysisPool> | undefined;
  const cleanup = (): void => {
    gen?.kill('SIGKILL');
    mitm?.kill('SIGKILL');
    rmSync(base, { recursive: true, force: true });
  };
  const onSignal = (): void => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // ---- generator
    gen = fork(fileURLToPath(import.meta.url), ['--generator'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const g = gen;
    const fromGen = (): Promise<FromGenerator> =>
      new Promise((resolve, reject) => {
        const onExit = (code: number | null): void =>
          reject(new Error(`the load generator exited (${code})`));
        g.once('exit', onExit);
        g.once('message', (m: FromGenerator) => {
          g.off('exit', onExit);
          resolve(m);
        });
      });
    g.send({ type: 'init', pool } satisfies ToGenerator);
    await fromGen();
    let loadKind: Load = 'https';
    const load = async (port: number, from: number, count: number): Promise<RunResult> => {
      g.send({ type: 'run', port, from, count, connections, load: loadKind } satisfies ToGenerator);
      const r = (await fromGen()) as RunResult;
      if (r.errors.length || r.count !== count)
        throw new Error(`load: ${r.count}/${count} exchanges completed; ${r.errors.join('; ')}`);
      return r;
    };

    // ---- phonehome
    const ca = await LabCa.load(join(base, 'ca'));
    const detectorConfig = {
      canaries: CANARIES,
      identifiers: [
        { name: 'android_id', value: DEVICE.androidId },
        { name: 'ad_id', value: DEVICE.adId },
        { name: 'imei_md5', value: DEVICE.imeiHash },
      ],
    };
    createDetector(detectorConfig); // throws here on a bad configuration, as the executor does
    analysisPool = new AnalysisPool({ size: poolSize });
    const analyser = analysisPool.analyser(detectorConfig);
    let analysisError: Error | undefined;
    const findings = new Map<string, number>();
    /** Records seen, and those run through analyseRecord (all but the capture-only rounds'). */
    let handled = 0;
    let analysed = 0;
    let analyseOn = true;
    let onAnalysed: (() => void) | undefined;
    let writeError: Error | undefined;
    const startSession = async (dir: string): Promise<Session> => {
      const s = await CaptureSession.start({ dir, ca, mode: 'block' });
      s.on('record', (rec) => {
        if (analyseOn)
          analyser.analyse(rec).then(
            (out) => {
              for (const f of out.findings) findings.set(f.kind, (findings.get(f.kind) ?? 0) + 1);
              analysed++;
              onAnalysed?.();
            },
            (e: unknown) => {
              analysisError ??= e instanceof Error ? e : new Error(String(e));
              onAnalysed?.();
            },
          );
        handled++;
        onAnalysed?.();
      });
      s.on('error', (e) => (writeError ??= e));
      return s;
    };
    /**
     * Resolves once `n` records have been handled (records are emitted just after the response) and
     * every analysis asked for so far has settled (a failed one fails the bench).
     */
    const done = (n: number): boolean => {
      if (analysisError) throw analysisError;
      return handled >= n && analysed >= analyseExpected;
    };
    const handledReach = (n: number): Promise<void> =>
      done(n)
        ? Promise.resolve()
        : new Promise((resolve, reject) => {
            const timer = setTimeout(
              () =>
                reject(
                  new Error(`only ${handled}/${n} records handled, ${analysed}/${analyseExpected} analysed`),
                ),
              30000,
            );
            onAnalysed = () => {
              let ok: boolean;
              try {
                ok = done(n);
              } catch (e) {
                clearTimeout(timer);
                onAnalysed = undefined;
                reject(e instanceof Error ? e : new Error(String(e)));
                return;
              }
              if (!ok) return;
              clearTimeout(timer);
              onAnalysed = undefined;
              resolve();
            };
          });
    session = await startSession(join(base, 'capture'));

    // ---- mitmdump
    const flowFile = join(base, 'mitm.flows');
    const script = join(base, 'save_flows.py');
    writeFileSync(script, mitmScript(flowFile));
    const mitmPort = await freePort();
    const mitmErr: Buffer[] = [];
    mitm = spawn(
      'mitmdump',
      [
        '--listen-host',
        '127.0.0.1',
        '--listen-port',
        String(mitmPort),
        '-q',
        '-s',
        script,
        '--set',
        `confdir=${join(base, 'mitm-conf')}`,
        '--set',
        'connection_strategy=lazy',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    mitm.stderr!.on('data', (c: Buffer) => mitmErr.push(c));
    const mitmProc = mitm;
    await waitListening(mitmPort, mitmProc, () => Buffer.concat(mitmErr).toString());
    const mitmVersion = execFileSync('mitmdump', ['--version']).toString().split('\n')[0]!.trim();
    const clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    const mitmCpuUs = (): number => {
      const f = readFileSync(`/proc/${mitmProc.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return ((Number(f[11]) + Number(f[12])) / clkTck) * 1e6;
    };
    const mitmRss = (): number =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${mitmProc.pid}/status`, 'utf8'))![1]) * 1024;
    let mitmExpected = 0;
    let phExpected = 0;
    let analyseExpected = 0;

    interface Side {
      name: string;
      port: number;
      /** After `count` more exchanges: waits until the proxy is done with them (phonehome: analysed). */
      settle(count: number): Promise<void>;
      cpuUs(): number;
      before?(): void;
      acc: {
        count: number;
        bytes: number;
        ms: number;
        cpuUs: number;
        genCpuUs: number;
        tunnels: number;
        p50: number[];
        p99: number[];
      };
    }
    const acc = (): Side['acc'] => ({
      count: 0,
      bytes: 0,
      ms: 0,
      cpuUs: 0,
      genCpuUs: 0,
      tunnels: 0,
      p50: [],
      p99: [],
    });
    const ph: Side = {
      name: 'phonehome capture+decode+detect',
      port: session.port,
      settle: (count) => {
        analyseExpected += count;
        return handledReach((phExpected += count));
      },
      cpuUs: () => {
        const c = process.cpuUsage();
        return c.user + c.system;
      },
      before: () => void (analyseOn = true),
      acc: acc(),
    };
    // Context: the same session with the 'record' handler only counting (no decode, no detect).
    const cap: Side = {
      ...ph,
      name: 'phonehome capture only (context)',
      settle: (count) => handledReach((phExpected += count)),
      before: () => void (analyseOn = false),
      acc: acc(),
    };
    const mi: Side = {
      name: 'mitmdump script + FlowWriter',
      port: mitmPort,
      // The script saves in its `response` hook, before the response goes out.
      settle: async (count) => void (mitmExpected += count),
      cpuUs: mitmCpuUs,
      acc: acc(),
    };

    const rate = (s: Side): number => (s.acc.count / s.acc.ms) * 1e3;
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const runOn = async (side: Side, from: number, count: number, measure: boolean): Promise<void> => {
      side.before?.();
      const c0 = side.cpuUs();
      const t0 = performance.now();
      const r = await load(side.port, from, count);
      await side.settle(count);
      const ms = performance.now() - t0;
      if (!measure) return;
      const a = side.acc;
      a.count += r.count;
      a.bytes += r.bytes;
      a.ms += ms;
      a.cpuUs += side.cpuUs() - c0;
      a.genCpuUs += r.cpuUs;
      a.tunnels += r.tunnels;
      a.p50.push(r.p50);
      a.p99.push(r.p99);
    };

    const captureDir = join(base, 'capture');
    const PH_FILES = [NDJSON_FILE, BODIES_FILE, HAR_FILE].filter((f) => existsSync(join(captureDir, f)));
    const phFileSizes = (): number[] => PH_FILES.map((f) => statSync(join(captureDir, f)).size);
    const phDisk = (): number => phFileSizes().reduce((a, b) => a + b, 0);
    interface Phase {
      load: Load;
      ratio: number;
      cpuRatio: number;
      diskRatio: number;
    }
    const phases: Phase[] = [];
    // Each load: warm-up (JIT, mitmproxy's imports, the CA's first certificates), then alternating
    // rounds. Bytes on disk are what each proxy's files grew by during the load's measured rounds.
    const sides = [ph, mi, cap];
    for (const kind of loads) {
      loadKind = kind;
      for (const side of sides) side.acc = acc();
      for (const side of sides) await runOn(side, 0, warmup, false);
      const savedBefore = Number(await controlGet(mitmPort, 'http://bench.control/count'));
      const flowBefore = statSync(flowFile).size;
      const phBefore = phDisk();
      const filesBefore = phFileSizes();
      const phRecordsBefore = session.counts.exchanges;
      for (let r = 0; r < rounds; r++) {
        const order = [...sides.slice(r % 3), ...sides.slice(0, r % 3)];
        for (const side of order) await runOn(side, warmup + r * perRound, perRound, true);
      }
      const saved = Number(await controlGet(mitmPort, 'http://bench.control/count'));
      const flowBytes = statSync(flowFile).size - flowBefore;
      const phBytes = phDisk() - phBefore;
      const phRecords = session.counts.exchanges - phRecordsBefore;
      const counts = session.counts;

      const kinds = new Map<string, number>();
      for (let i = 0; i < exchanges; i++) {
        const k = pool[(warmup + i) % pool.length]!.kind;
        kinds.set(k, (kinds.get(k) ?? 0) + 1);
      }
      const avgBody = ph.acc.bytes / ph.acc.count;
      console.log(
        `\n== ${kind === 'https' ? 'HTTPS through CONNECT (TLS intercepted, keep-alive tunnels)' : 'plain HTTP proxy requests (keep-alive)'}: ` +
          `${perRound * rounds} exchanges per proxy in ${rounds} alternating rounds (after ${warmup} warm-up each), ` +
          `${connections} connections; node ${process.version}; ${mitmVersion}; ` +
          `decode+detect: ${poolSize === 0 ? 'inline on the proxy loop' : `analysis pool of ${poolSize} worker thread${poolSize === 1 ? '' : 's'}`}`,
      );
      console.log(
        `load (seed ${values.seed}, ${pool.length} distinct requests cycled): ` +
          [...kinds].map(([k, n]) => `${k} ${((n / exchanges) * 100).toFixed(0)}%`).join(', ') +
          `; mean request body ${avgBody.toFixed(0)} B`,
      );
      console.log(
        'MB/s = request body bytes per second (1 MB = 10^6 B); cpu = the proxy process, µs per exchange',
      );
      console.log(
        `${'proxy'.padEnd(34)} ${'exch/s'.padStart(8)} ${'MB/s'.padStart(7)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'cpu'.padStart(7)} ${'gen cpu'.padStart(8)}`,
      );
      for (const s of sides) {
        const a = s.acc;
        console.log(
          `${s.name.padEnd(34)} ${rate(s).toFixed(0).padStart(8)} ${(((a.bytes / a.ms) * 1e3) / 1e6).toFixed(2).padStart(7)} ` +
            `${med(a.p50).toFixed(2).padStart(7)} ${med(a.p99).toFixed(2).padStart(7)} ` +
            `${(a.cpuUs / a.count).toFixed(0).padStart(7)} ${`${((a.genCpuUs / 1e3 / a.ms) * 100).toFixed(0)}%`.padStart(8)}`,
        );
      }
      console.log(
        (kind === 'https'
          ? `tunnels (CONNECT + full TLS handshake): ${sides.map((x) => `${x.name} ${x.acc.tunnels}`).join('; ')} per ${perRound * rounds} exchanges\n`
          : '') +
          `checks: phonehome: generator ${phExpected} = records ${handled} = session exchanges ${counts.exchanges}` +
          ` (tls failures ${counts.tlsFailures}), analysed ${analysed} of ${analyseExpected}; ` +
          `mitmdump: flows saved ${saved} of ${mitmExpected}; ` +
          `findings ${[...findings].map(([k, n]) => `${k} ${n}`).join(', ')}`,
      );
      if (
        handled !== phExpected ||
        counts.exchanges !== phExpected ||
        counts.tlsFailures !== 0 ||
        analysed !== analyseExpected ||
        saved !== mitmExpected
      )
        throw new Error('the counts do not match');
      if (writeError) throw writeError;
      const perPh = phBytes / phRecords;
      const perMi = flowBytes / (saved - savedBefore);
      const ratio = rate(ph) / rate(mi);
      const cpuRatio = mi.acc.cpuUs / mi.acc.count / (ph.acc.cpuUs / ph.acc.count);
      const diskRatio = perPh / perMi;
      console.log(
        `on disk per exchange: phonehome ${perPh.toFixed(0)} B (` +
          phFileSizes()
            .map((n, i) => `${PH_FILES[i]} ${((n - filesBefore[i]!) / phRecords).toFixed(0)}`)
            .join(' + ') +
          `), ` +
          `mitmdump ${perMi.toFixed(0)} B (flow file): ${diskRatio.toFixed(2)}× (goal ≤ ${DISK}×: ${diskRatio <= DISK ? 'met' : 'not met'})`,
      );
      console.log(
        `phonehome / mitmdump = ${ratio.toFixed(2)}× exchanges/s (same load, so the same in MB/s) ` +
          `(goal ≥ ${GOAL}×: ${ratio >= GOAL ? 'met' : 'not met'}); mitmdump / phonehome proxy cpu per exchange = ` +
          `${cpuRatio.toFixed(2)}× (goal ≥ 1×: ${cpuRatio >= 1 ? 'met' : 'not met'})`,
      );
      console.log(
        `context: phonehome capture only / mitmdump = ${(rate(cap) / rate(mi)).toFixed(2)}×; ` +
          `decode+detect cost ${((ph.acc.cpuUs / ph.acc.count - cap.acc.cpuUs / cap.acc.count) / 1e3).toFixed(2)} ms cpu per exchange`,
      );
      phases.push({ load: kind, ratio, cpuRatio, diskRatio });
    }
    console.log(
      `RSS after: phonehome ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB, mitmdump ${(mitmRss() / 2 ** 20).toFixed(0)} MiB`,
    );
    await session.stop();
    mitm.kill('SIGTERM');
    rmSync(captureDir, { recursive: true, force: true });
    rmSync(flowFile, { force: true });

    // ---- RSS over a long run, phonehome only
    loadKind = rssLoad;
    analysed = 0;
    handled = 0;
    phExpected = 0;
    analyseExpected = 0;
    session = await startSession(join(base, 'capture-rss'));
    const samples: Array<{ n: number; rss: number; heap: number; ms: number }> = [];
    const t0 = performance.now();
    const sample = (): void => {
      const m = process.memoryUsage();
      samples.push({ n: handled, rss: m.rss, heap: m.heapUsed, ms: performance.now() - t0 });
    };
    sample();
    const rssSide: Side = { ...ph, port: session.port, acc: acc() };
    const chunk = rssEvery;
    for (let done = 0; done < rssExchanges; done += chunk) {
      await runOn(rssSide, done, Math.min(chunk, rssExchanges - done), true);
      sample();
    }
    await session.stop();
    if (analysed !== rssExchanges || session.counts.exchanges !== rssExchanges)
      throw new Error(
        `RSS run: ${analysed} analysed, ${session.counts.exchanges} recorded, ${rssExchanges} sent`,
      );
    const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)}`;
    console.log('');
    console.log(
      `RSS run: ${rssExchanges} exchanges through phonehome only (${rssLoad}, same mix, ${connections} connections), sampled every ${chunk}; ` +
        `${rate(rssSide).toFixed(0)} exchanges/s overall`,
    );
    console.log(
      `exchanges: ${samples.map((s) => String(s.n).padStart(6)).join(' ')}\nRSS MiB:   ${samples
        .map((s) => mib(s.rss).padStart(6))
        .join(' ')}\nheap MiB:  ${samples.map((s) => mib(s.heap).padStart(6)).join(' ')}`,
    );
    // Flat: after the first 20% (JIT, heap sizing, the writers' buffers), RSS at the end is within 1.2×
    // of RSS at 20%; the least-squares slope over that stretch is printed for context.
    const warmIdx = samples.findIndex((s) => s.n >= rssExchanges * 0.2);
    const warm = samples[warmIdx]!;
    const tail = samples.slice(warmIdx);
    const mx = tail.reduce((a, s) => a + s.n, 0) / tail.length;
    const my = tail.reduce((a, s) => a + s.rss, 0) / tail.length;
    const slope =
      tail.reduce((a, s) => a + (s.n - mx) * (s.rss - my), 0) / tail.reduce((a, s) => a + (s.n - mx) ** 2, 0);
    const start = samples[1]!;
    const middle = samples[Math.floor(samples.length / 2)]!;
    const end = samples[samples.length - 1]!;
    const flat = end.rss <= warm.rss * FLAT;
    console.log(
      `RSS at ${start.n} / ${middle.n} / ${end.n}: ${mib(start.rss)} / ${mib(middle.rss)} / ${mib(end.rss)} MiB ` +
        `(before load ${mib(samples[0]!.rss)}); slope from ${warm.n}: ${((slope * 10000) / 2 ** 20).toFixed(2)} MiB per 10k exchanges`,
    );
    console.log(
      `flat (RSS at ${end.n} ≤ ${FLAT}× RSS at ${warm.n}: ${mib(end.rss)} ≤ ${mib(warm.rss * FLAT)} MiB): ${flat ? 'met' : 'NOT met'}`,
    );
    console.log(
      '2-core machine shared with other jobs: absolute rates vary between runs; the ratio is from the same run.',
    );
    // One line per goal, the headline last: exchanges/s on the load phones really send (HTTPS).
    const verdict = (ok: boolean): string => (ok ? 'met' : 'not met');
    for (const p of phases) {
      console.log(
        `ratio capture-disk-${p.load}: ${p.diskRatio.toFixed(2)} (goal ≤ ${DISK}× mitmdump's bytes per exchange: ${verdict(p.diskRatio <= DISK)})`,
      );
      console.log(
        `ratio capture-cpu-${p.load}: ${(1 / p.cpuRatio).toFixed(2)} (goal ≤ 1× mitmdump's proxy cpu per exchange: ${verdict(p.cpuRatio >= 1)})`,
      );
    }
    for (const p of [...phases].reverse())
      console.log(
        `ratio capture-${p.load}: ${p.ratio.toFixed(2)} (goal ≥ ${GOAL}× mitmdump's exchanges/s: ${verdict(p.ratio >= GOAL)})`,
      );
  } finally {
    await session?.stop().catch(() => undefined);
    await analysisPool?.close();
    if (gen?.connected) gen.disconnect();
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function mitmScript(flowFile: string): string {
  return `# Written by bench/capture-throughput.ts: answer every request locally and save the flow.
from mitmproxy import http, io


class SaveFlows:
    def __init__(self):
        self.f = open(${JSON.stringify(flowFile)}, "wb")
        self.w = io.FlowWriter(self.f)
        self.saved = 0

    def request(self, flow):
        if flow.request.pretty_host == "bench.control":
            self.f.flush()
            flow.metadata["bench_control"] = True
            flow.response = http.Response.make(200, str(self.saved), {"content-type": "text/plain"})
            return
        flow.response = http.Response.make(200, b"", {"content-type": "text/plain"})

    def response(self, flow):
        if flow.metadata.get("bench_control"):
            return
        self.w.add(flow)
        self.saved += 1

    def done(self):
        self.f.close()


addons = [SaveFlows()]
`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitListening(port: number, proc: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 30000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`mitmdump exited (${proc.exitCode}): ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`mitmdump did not listen on ${port}: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function controlGet(port: number, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: url, headers: { host: new URL(url).host } },
      (res) => {
        const out: Buffer[] = [];
        res.on('data', (c: Buffer) => out.push(c));
        res.on('end', () => resolve(Buffer.concat(out).toString()));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

if (process.argv.includes('--generator')) await generatorMain();
else await main();
