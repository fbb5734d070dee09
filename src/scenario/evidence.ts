/**
 * What the phone sent during one scenario run: every capture record from the scenario's start (the
 * session's `record` events), each analysed once on arrival (decode + detect, src/detect/pipeline.ts)
 * with a detector for the run's canaries, the phone's identifiers and the liveness probe's token.
 * The analysis runs off the proxy's event loop (src/detect/pool.ts): `observed` grows in arrival
 * order as analyses complete (a record waits for those that arrived before it), and whoever reads
 * the evidence for a verdict first awaits `settled()` (waitQuiet does). An analysis that failed is
 * kept in `analysisErrors`, naming the exchange, and makes the verdict broken (executor.ts).
 *
 * Probe attribution (liveness.ts): a record is the probe's (`probe: true`, left out of assertions,
 * findings, hosts and trackers) when it went to the probe host, or when it carries the probe token and
 * none of the run's canaries (the browser reporting the probe page in its statistics). A record with a
 * canary is never the probe's: the probe cannot have put it there. Records that merely arrived while a
 * probe ran are kept (`duringProbe` only annotates messages): hiding them could hide a leak.
 */
import type { CaptureRecord } from '../capture/exchange.ts';
import type { CaptureSession } from '../capture/session.ts';
import type { InspectedExchange } from '../detect/pipeline.ts';
import type { Analyser } from '../detect/pool.ts';

export interface Observed {
  /** Arrival order within the scenario (0-based). */
  seq: number;
  /** Date.now() at arrival. */
  at: number;
  record: CaptureRecord;
  /** analyseRecord's result, without findings of the probe token. */
  inspected: InspectedExchange;
  probe: boolean;
  duringProbe: boolean;
}

export type RecordSource = Pick<CaptureSession, 'on' | 'off'>;

/** A record whose analysis is under way (or done, waiting for those that arrived before it). */
interface Pending {
  at: number;
  record: CaptureRecord;
  duringProbe: boolean;
  done?: InspectedExchange | Error;
}

export class Evidence {
  readonly observed: Observed[] = [];
  /** Every record in arrival order, analysed or not (the liveness probe asks what the capture saw). */
  readonly arrived: CaptureRecord[] = [];
  /** Date.now() of the last record (or of start()). */
  lastAt = Date.now();
  captureError: Error | undefined;
  probing = false;
  /** Analyses that failed (the exchange is not in `observed`): the verdict cannot be passed. */
  readonly analysisErrors: Error[] = [];
  private readonly waiters = new Set<() => void>();
  /** Arrived and not yet in `observed`, in arrival order. */
  private readonly queue: Pending[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly onRecord = (r: CaptureRecord): void => this.add(r);
  private readonly onError = (e: Error): void => {
    this.captureError ??= e;
  };

  constructor(
    private readonly source: RecordSource,
    /** Decode + detect with the run's canaries, identifiers and keys (a pool's analyser). */
    private readonly analyser: Pick<Analyser, 'analyse'>,
    readonly probeHost: string,
    readonly probeToken: string,
    private readonly canaries: ReadonlySet<string>,
  ) {}

  /** Date.now() when start() was called. */
  startedAt = Date.now();

  start(): void {
    this.lastAt = this.startedAt = Date.now();
    this.source.on('record', this.onRecord);
    this.source.on('error', this.onError);
  }

  stop(): void {
    this.source.off('record', this.onRecord);
    this.source.off('error', this.onError);
    for (const w of [...this.waiters]) w();
  }

  private add(record: CaptureRecord): void {
    this.lastAt = Date.now();
    const p: Pending = { at: this.lastAt, record, duringProbe: this.probing };
    this.queue.push(p);
    this.arrived.push(record);
    for (const w of [...this.waiters]) w();
    // An analyser that throws instead of rejecting still settles this record (as a failed
    // analysis): an entry that never settles would hold every later record out of `observed`.
    let analysis: Promise<InspectedExchange>;
    try {
      analysis = this.analyser.analyse(record);
    } catch (e) {
      analysis = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    const done = analysis.then(
      (r) => void (p.done = r),
      (e: unknown) => void (p.done = e instanceof Error ? e : new Error(String(e))),
    );
    const tracked = done.then(() => {
      this.inFlight.delete(tracked);
      this.drain();
    });
    this.inFlight.add(tracked);
  }

  /** Moves the analysed head of the queue to `observed`, keeping arrival order. */
  private drain(): void {
    let moved = false;
    while (this.queue.length && this.queue[0]!.done) {
      const p = this.queue.shift()!;
      if (p.done instanceof Error) {
        this.analysisErrors.push(p.done);
        continue;
      }
      this.observed.push(this.observe(p, p.done!));
      moved = true;
    }
    if (moved) for (const w of [...this.waiters]) w();
  }

  private observe(p: Pending, full: InspectedExchange): Observed {
    const token = (f: { kind: string; value: string }) => f.kind === 'canary' && f.value === this.probeToken;
    const hasToken = full.findings.some(token);
    const hasCanary = full.findings.some((f) => f.kind === 'canary' && this.canaries.has(f.value));
    const inspected = hasToken ? { ...full, findings: full.findings.filter((f) => !token(f)) } : full;
    const toProbeHost = p.record.host.toLowerCase() === this.probeHost;
    return {
      seq: this.observed.length,
      at: p.at,
      record: p.record,
      inspected,
      probe: toProbeHost || (hasToken && !hasCanary),
      duringProbe: p.duringProbe,
    };
  }

  /** Resolves once every record that arrived so far is analysed (in `observed` or `analysisErrors`). */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  /** The failed analyses as one line for a verdict, or undefined when none failed. */
  analysisProblem(): string | undefined {
    const n = this.analysisErrors.length;
    if (n === 0) return undefined;
    return `${n} captured exchange${n === 1 ? '' : 's'} could not be analysed, so the evidence is incomplete: ${this.analysisErrors
      .slice(0, 3)
      .map((e) => e.message)
      .join('; ')}${n > 3 ? '; …' : ''}`;
  }

  /**
   * Resolves with the first record that arrived (from `from` in `arrived` on, analysed or not) that
   * `pred` accepts, or null at `deadline`.
   */
  waitForRecord(
    pred: (r: CaptureRecord) => boolean,
    deadline: number,
    from = 0,
  ): Promise<CaptureRecord | null> {
    return this.firstOf(() => this.arrived.slice(from).find(pred), deadline);
  }

  /** Resolves with the first analysed record (from `fromSeq` on) that `pred` accepts, or null at `deadline`. */
  waitFor(pred: (o: Observed) => boolean, deadline: number, fromSeq = 0): Promise<Observed | null> {
    return this.firstOf(() => this.observed.slice(fromSeq).find(pred), deadline);
  }

  /** Resolves with what `find` returns once it returns something (checked on every change), or null at `deadline`. */
  private firstOf<T>(find: () => T | undefined, deadline: number): Promise<T | null> {
    return new Promise((resolve) => {
      const finish = (hit: T | undefined): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(hit ?? null);
      };
      const check = (): void => {
        const hit = find();
        if (hit !== undefined || Date.now() >= deadline) finish(hit);
      };
      this.waiters.add(check);
      // The timer ends the wait whatever Date.now() says: a timer may fire a millisecond before
      // the wall clock reaches `deadline` (libuv's clock is monotonic and rounded), and a check that
      // then found nothing would wait for a record that may never come (the hang of the probe with
      // the proxy removed, where nothing arrives any more).
      const timer = setTimeout(() => finish(find()), Math.max(0, deadline - Date.now()));
      check();
    });
  }

  /**
   * Waits until no record has arrived for `quietMs` (counting from `since` at the earliest), or until
   * `deadline`, and then until what arrived is analysed (settled()); resolves to whether it got quiet.
   */
  async waitQuiet(quietMs: number, deadline: number, since = Date.now()): Promise<boolean> {
    for (;;) {
      const now = Date.now();
      const quietFrom = Math.max(this.lastAt, since);
      if (now - quietFrom >= quietMs) return this.settled().then(() => true);
      if (now >= deadline) return this.settled().then(() => false);
      await new Promise((r) => setTimeout(r, Math.min(quietFrom + quietMs - now, deadline - now, 100)));
    }
  }

  /** Where the assertions' window starts in `observed` (startEvidence moves it). */
  private windowFrom = 0;

  /** The index in `observed` where the assertions' window starts. */
  get windowStart(): number {
    return this.windowFrom;
  }

  /** Starts the assertions' window here: what was captured so far no longer counts for them. */
  markWindow(): void {
    this.windowFrom = this.observed.length;
  }

  /** What the assertions look at: the records since the window's start (all of them by default). */
  window(): readonly Observed[] {
    return this.observed.slice(this.windowFrom);
  }

  /** The scenario's records, without the probe's. */
  evidence(): Observed[] {
    return this.observed.filter((o) => !o.probe);
  }

  /** The exchanges with findings (analyseRecord's shape), the probe's left out. */
  findings(): InspectedExchange[] {
    return this.evidence()
      .map((o) => o.inspected)
      .filter((x) => x.findings.length > 0);
  }

  hosts(): string[] {
    return [...new Set(this.evidence().map((o) => o.record.host))].sort();
  }

  trackers(): string[] {
    return [
      ...new Set(this.evidence().flatMap((o) => (o.inspected.tracker ? [o.inspected.tracker.id] : []))),
    ].sort();
  }
}
