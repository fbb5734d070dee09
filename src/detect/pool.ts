/**
 * Decode + detect off the caller's event loop (issue 14): a pool of worker threads that run
 * analyseRecord (pipeline.ts), so that the capture proxy's loop only records, and a second core
 * does the analysis. Size 0 analyses inline on the calling thread (for comparison and tiny runs).
 *
 * - A detector configuration (canaries, identifiers, catalogue, keys) is registered once with
 *   `analyser(config)`: it goes to every worker once, and to each replacement worker, and records then
 *   name it by id. One pool thus serves every scenario of a process (a worker's start, tsx included,
 *   costs far more than one configuration).
 * - Each record is posted with a copy of its body in a fresh ArrayBuffer that is transferred: the
 *   capture writer keeps its own buffer untouched.
 * - Dispatch goes to the worker with the fewest analyses in flight.
 * - A worker that throws or exits rejects the analyses it held, naming the exchange, and is replaced:
 *   a lost analysis must make a verdict broken, never passed (ground rule 1).
 * - A worker is unref'd while it holds nothing, so an idle pool never keeps the process alive;
 *   `close()` terminates them.
 *
 * Workers run the TypeScript sources: the bootstrap (a data: URL module, so there is no plain JS file
 * to lint) calls tsx's `register()`, then imports pool-worker.ts. It calls it even when execArgv
 * carries `--import=tsx/esm` (mocha): that flag alone did not make an eval'd worker load .ts files.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { UserFacingError } from '../util/user-facing.ts';
import type { Catalogue, TrackerEntry, UploadTiming, VendorDomains } from './catalogue.ts';
import { createDetector, type Detector, type Identifier } from './detector.ts';
import {
  analyseRecord,
  type AnalysedRecord,
  type AnalyseOptions,
  type InspectedExchange,
  type InspectedLayer,
} from './pipeline.ts';

/** What a detector is made from, plus the decoders' keys: sent once to each worker. */
export interface AnalyserConfig {
  canaries?: readonly string[];
  identifiers?: readonly Identifier[];
  /** Default: the shipped catalogue. */
  catalogue?: Catalogue;
  keys?: Record<string, Buffer>;
}

/** The catalogue as plain data (a Catalogue is a class with compiled maps; workers rebuild it). */
export interface WireCatalogue {
  entries: readonly TrackerEntry[];
  file: string;
  defaultUpload: UploadTiming;
  vendors: readonly VendorDomains[];
}

export interface WireConfig {
  canaries?: readonly string[];
  identifiers?: readonly Identifier[];
  catalogue?: WireCatalogue;
  keys?: Record<string, Uint8Array>;
}

export type ToWorker =
  | { type: 'config'; id: number; config: WireConfig }
  | { type: 'release'; id: number }
  | { type: 'analyse'; job: number; config: number; record: AnalysedRecord }
  | { type: 'crash' };

export type FromWorker =
  | { ready: true }
  | { job: number; result: Omit<InspectedExchange, 'layers'>; layers: string }
  | { job: number; error: string };

/**
 * An exchange's layer list as one string, `<kind length>,<path length>;<kind><path>` per layer, to
 * cross the thread boundary: the structured clone of ~90 `{path, kind}` objects per Sensors batch
 * cost more than the rest of the answer (bench/README.md), while one string is copied flat.
 */
export function packLayers(layers: readonly InspectedLayer[]): string {
  let s = '';
  for (const l of layers) s += `${l.kind.length},${l.path.length};${l.kind}${l.path}`;
  return s;
}

export function unpackLayers(s: string): InspectedLayer[] {
  const out: InspectedLayer[] = [];
  const length = (from: number, to: number): number => {
    const t = s.slice(from, to);
    return /^\d{1,9}$/.test(t) ? Number(t) : NaN;
  };
  let i = 0;
  while (i < s.length) {
    const comma = s.indexOf(',', i);
    const semi = comma < 0 ? -1 : s.indexOf(';', comma);
    const k = comma < 0 ? NaN : length(i, comma);
    const p = semi < 0 ? NaN : length(comma + 1, semi);
    if (Number.isNaN(k) || Number.isNaN(p) || semi + 1 + k + p > s.length)
      throw new Error(`a packed layer list is malformed at ${i}`);
    out.push({ kind: s.slice(semi + 1, semi + 1 + k), path: s.slice(semi + 1 + k, semi + 1 + k + p) });
    i = semi + 1 + k + p;
  }
  return out;
}

/**
 * The worker's answer with its `layers` unpacked on first read (most analyses are judged by their
 * findings alone). The getter turns itself into a plain data property, so spreading, JSON and
 * assertions see an ordinary object.
 */
function withLayers(result: Omit<InspectedExchange, 'layers'>, packed: string): InspectedExchange {
  const r = result as InspectedExchange;
  Object.defineProperty(r, 'layers', {
    enumerable: true,
    configurable: true,
    get(): InspectedLayer[] {
      const layers = unpackLayers(packed);
      Object.defineProperty(r, 'layers', {
        value: layers,
        enumerable: true,
        configurable: true,
        writable: true,
      });
      return layers;
    },
    set(v: InspectedLayer[]) {
      Object.defineProperty(r, 'layers', { value: v, enumerable: true, configurable: true, writable: true });
    },
  });
  return r;
}

/** Builds the detector and options a configuration describes (in a worker, or inline). */
export function fromWire(
  config: WireConfig,
  rebuild: (c: WireCatalogue) => Catalogue,
): { detector: Detector; opts: AnalyseOptions } {
  const detector = createDetector({
    ...(config.canaries ? { canaries: config.canaries } : {}),
    ...(config.identifiers ? { identifiers: config.identifiers } : {}),
    ...(config.catalogue ? { catalogue: rebuild(config.catalogue) } : {}),
  });
  const keys = config.keys
    ? Object.fromEntries(
        Object.entries(config.keys).map(([k, v]) => [k, Buffer.from(v.buffer, v.byteOffset, v.length)]),
      )
    : undefined;
  return { detector, opts: keys ? { keys } : {} };
}

function toWire(config: AnalyserConfig): WireConfig {
  const c = config.catalogue;
  return {
    ...(config.canaries ? { canaries: [...config.canaries] } : {}),
    ...(config.identifiers ? { identifiers: config.identifiers.map((i) => ({ ...i })) } : {}),
    ...(c
      ? {
          catalogue: {
            entries: c.entries,
            file: c.file,
            defaultUpload: c.defaultUpload,
            vendors: c.vendors,
          },
        }
      : {}),
    ...(config.keys ? { keys: config.keys } : {}),
  };
}

/** The record as the pipeline reads it, its body copied into a fresh ArrayBuffer to transfer. */
function forWorker(record: AnalysedRecord): { record: AnalysedRecord; transfer: ArrayBuffer[] } {
  if (record.type === 'tls-failure') {
    const { type, index, startedAt, host, cause, remoteAddress } = record;
    return {
      record: { type, index, startedAt, host, cause, ...(remoteAddress ? { remoteAddress } : {}) },
      transfer: [],
    };
  }
  const body = record.request.body;
  const copy = new ArrayBuffer(body.length);
  new Uint8Array(copy).set(body);
  return {
    record: {
      type: 'exchange',
      index: record.index,
      method: record.method,
      url: record.url,
      host: record.host,
      request: {
        headers: record.request.headers,
        // A Uint8Array on the wire; the worker wraps it in a Buffer again.
        body: new Uint8Array(copy) as Buffer,
        bodySize: record.request.bodySize,
        truncated: record.request.truncated,
      },
    },
    transfer: [copy],
  };
}

/** Analyses records under one registered configuration. */
export interface Analyser {
  analyse(record: AnalysedRecord): Promise<InspectedExchange>;
  /** Forgets the configuration (its analyses in flight still complete). */
  release(): void;
}

export interface AnalysisPoolOptions {
  /** Worker threads; 0 = inline on the calling thread. Default: max(1, availableParallelism() - 1). */
  size?: number;
}

export function defaultPoolSize(): number {
  return Math.max(1, availableParallelism() - 1);
}

interface Job {
  index: number;
  resolve(r: InspectedExchange): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
  dead: boolean;
  /** Whether the worker loaded its module (one that dies before is not replaced: it would die again). */
  ready: boolean;
}

// An ES module as a data: URL (it may import builtins and absolute URLs only), so that neither
// --input-type nor the package type can read it as CommonJS or the other way round.
const BOOTSTRAP = new URL(
  `data:text/javascript,${encodeURIComponent(`
import { workerData } from 'node:worker_threads';
(await import(workerData.tsx)).register();
await import(workerData.module);
`)}`,
);

export class AnalysisPool {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly configs = new Map<number, WireConfig>();
  private readonly inline = new Map<number, { detector: Detector; opts: AnalyseOptions }>();
  private nextConfig = 1;
  private nextJob = 1;
  private closed = false;
  /** Why workers cannot start (set when one dies before it is ready); analyses then reject with it. */
  private broken: string | undefined;

  constructor(opts: AnalysisPoolOptions = {}) {
    const size = opts.size ?? defaultPoolSize();
    if (!Number.isInteger(size) || size < 0)
      throw new Error(`analysis pool size must be a whole number ≥ 0, not ${size}`);
    this.size = size;
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  /** Registers a configuration (building its detector here first, so a bad canary throws now). */
  analyser(config: AnalyserConfig): Analyser {
    if (this.closed) throw new Error('the analysis pool is closed');
    const id = this.nextConfig++;
    const wire = toWire(config);
    const built = fromWire(wire, () => config.catalogue!);
    if (this.size === 0) this.inline.set(id, built);
    else {
      this.configs.set(id, wire);
      for (const s of this.slots)
        if (!s.dead) s.worker.postMessage({ type: 'config', id, config: wire } satisfies ToWorker);
    }
    return {
      analyse: (record) => this.analyse(id, record),
      release: () => {
        this.inline.delete(id);
        if (this.configs.delete(id))
          for (const s of this.slots)
            if (!s.dead) s.worker.postMessage({ type: 'release', id } satisfies ToWorker);
      },
    };
  }

  private analyse(config: number, record: AnalysedRecord): Promise<InspectedExchange> {
    if (this.closed)
      return Promise.reject(
        new Error(`exchange #${record.index} was not analysed: the analysis pool is closed`),
      );
    if (this.size === 0) {
      const c = this.inline.get(config);
      if (!c) return Promise.reject(new Error(`exchange #${record.index}: its analyser was released`));
      return Promise.resolve(analyseRecord(record, c.detector, c.opts));
    }
    if (this.broken)
      return Promise.reject(new Error(`exchange #${record.index} was not analysed: ${this.broken}`));
    if (!this.configs.has(config))
      return Promise.reject(new Error(`exchange #${record.index}: its analyser was released`));
    let slot = this.slots.find((s) => !s.dead)!;
    for (const s of this.slots) if (!s.dead && s.jobs.size < slot.jobs.size) slot = s;
    const job = this.nextJob++;
    const { record: wire, transfer } = forWorker(record);
    return new Promise<InspectedExchange>((resolve, reject) => {
      if (slot.jobs.size === 0) slot.worker.ref();
      slot.jobs.set(job, { index: record.index, resolve, reject });
      slot.worker.postMessage({ type: 'analyse', job, config, record: wire } satisfies ToWorker, transfer);
    });
  }

  /** Test hook: makes one worker throw, as a crash would. */
  crashForTest(worker = 0): void {
    this.slots[worker]?.worker.postMessage({ type: 'crash' } satisfies ToWorker);
  }

  /** Thread ids of the live workers (tests check that close() ends them). */
  get threadIds(): number[] {
    return this.slots.filter((s) => !s.dead).map((s) => s.worker.threadId);
  }

  private spawn(): Slot {
    const worker = new Worker(BOOTSTRAP, {
      workerData: {
        tsx: import.meta.resolve('tsx/esm/api'),
        module: new URL('./pool-worker.ts', import.meta.url).href,
      },
    });
    const slot: Slot = { worker, jobs: new Map(), dead: false, ready: false };
    for (const [id, config] of this.configs)
      worker.postMessage({ type: 'config', id, config } satisfies ToWorker);
    worker.on('message', (m: FromWorker) => {
      if ('ready' in m) {
        slot.ready = true;
        return;
      }
      const j = slot.jobs.get(m.job);
      if (!j) return;
      slot.jobs.delete(m.job);
      if (slot.jobs.size === 0) worker.unref();
      if ('result' in m) j.resolve(withLayers(m.result, m.layers));
      else j.reject(new Error(`exchange #${j.index} could not be analysed: ${m.error}`));
    });
    const fail = (why: string): void => {
      if (slot.dead) return;
      slot.dead = true;
      const jobs = [...slot.jobs.values()];
      slot.jobs.clear();
      for (const j of jobs) j.reject(new Error(`exchange #${j.index} was not analysed: ${why}`));
      if (this.closed) return;
      void worker.terminate();
      if (!slot.ready) {
        this.broken = `${why}, before it was ready; no analysis worker can start`;
        return;
      }
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots[i] = this.spawn();
    };
    worker.on('error', (e) => fail(`the analysis worker crashed (${e.message})`));
    worker.on('exit', (code) => fail(`the analysis worker exited (code ${code})`));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    worker.unref();
    return slot;
  }

  /** Terminates the workers; analyses still in flight are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const slots = this.slots.splice(0);
    for (const s of slots) {
      s.dead = true;
      for (const j of s.jobs.values())
        j.reject(new Error(`exchange #${j.index} was not analysed: the analysis pool was closed`));
      s.jobs.clear();
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
    this.inline.clear();
    this.configs.clear();
  }
}

let shared: AnalysisPool | undefined;

/**
 * The process's pool, made on first use: inline (size 0) unless PHONEHOME_ANALYSIS_POOL names a
 * number of worker threads. Inline is the default because a phone's uploads come a few per second
 * (a runner worker process serves up to 16 phones; its event loop is about a quarter busy):
 * analysing one inline (~0.6 ms of CPU, bench/README.md) never keeps the proxy waiting and costs
 * less CPU than in a thread (structured clones both ways), while a thread costs about a second of
 * CPU to start (tsx compiles the decode and detect modules again in it) and its own heap, which is
 * what bench:lab-scaling counts per phone. Threads pay for a proxy under sustained load: bench:capture
 * measures both. Idle workers are unref'd, so the pool needs no close.
 */
export function sharedAnalysisPool(): AnalysisPool {
  if (!shared) {
    const env = process.env.PHONEHOME_ANALYSIS_POOL;
    let size = 0;
    if (env !== undefined && env !== '') {
      size = Number(env);
      if (!Number.isInteger(size) || size < 0 || size > 64)
        throw new UserFacingError(
          `PHONEHOME_ANALYSIS_POOL="${env}" is not a number of threads`,
          'set it to 0 (analyse on the proxy thread, the default) or to 1-64 worker threads, or unset it',
          2,
        );
    }
    shared = new AnalysisPool({ size });
  }
  return shared;
}
