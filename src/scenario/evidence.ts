/**
 * What the phone sent during one scenario run: every capture record from the scenario's start (the
 * session's `record` events), each analysed once on arrival (decode + detect, src/detect/pipeline.ts)
 * with a detector for the run's canaries, the phone's identifiers and the liveness probe's token.
 *
 * Probe attribution (liveness.ts): a record is the probe's (`probe: true`, left out of assertions,
 * findings, hosts and trackers) when it went to the probe host, or when it carries the probe token and
 * none of the run's canaries (the browser reporting the probe page in its statistics). A record with a
 * canary is never the probe's: the probe cannot have put it there. Records that merely arrived while a
 * probe ran are kept (`duringProbe` only annotates messages): hiding them could hide a leak.
 */
import type { CaptureRecord } from '../capture/exchange.ts';
import type { CaptureSession } from '../capture/session.ts';
import type { Detector } from '../detect/index.ts';
import { analyseRecord, type AnalyseOptions, type InspectedExchange } from '../detect/pipeline.ts';

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

export class Evidence {
  readonly observed: Observed[] = [];
  /** Date.now() of the last record (or of start()). */
  lastAt = Date.now();
  captureError: Error | undefined;
  probing = false;
  private readonly waiters = new Set<() => void>();
  private readonly onRecord = (r: CaptureRecord): void => this.add(r);
  private readonly onError = (e: Error): void => {
    this.captureError ??= e;
  };

  constructor(
    private readonly source: RecordSource,
    private readonly detector: Detector,
    readonly probeHost: string,
    readonly probeToken: string,
    private readonly canaries: ReadonlySet<string>,
    /** Decryption keys for the decoders (`phonehome run --key`). */
    private readonly analyse: AnalyseOptions = {},
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
    const full = analyseRecord(record, this.detector, this.analyse);
    const token = (f: { kind: string; value: string }) => f.kind === 'canary' && f.value === this.probeToken;
    const hasToken = full.findings.some(token);
    const hasCanary = full.findings.some((f) => f.kind === 'canary' && this.canaries.has(f.value));
    const inspected = hasToken ? { ...full, findings: full.findings.filter((f) => !token(f)) } : full;
    const toProbeHost = record.host.toLowerCase() === this.probeHost;
    this.lastAt = Date.now();
    this.observed.push({
      seq: this.observed.length,
      at: this.lastAt,
      record,
      inspected,
      probe: toProbeHost || (hasToken && !hasCanary),
      duringProbe: this.probing,
    });
    for (const w of [...this.waiters]) w();
  }

  /** Resolves with the first record (from `fromSeq` on) that `pred` accepts, or null at `deadline`. */
  waitFor(pred: (o: Observed) => boolean, deadline: number, fromSeq = 0): Promise<Observed | null> {
    return new Promise((resolve) => {
      const check = (): void => {
        const hit = this.observed.slice(fromSeq).find(pred);
        if (hit || Date.now() >= deadline) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(hit ?? null);
        }
      };
      this.waiters.add(check);
      const timer = setTimeout(check, Math.max(0, deadline - Date.now()));
      check();
    });
  }

  /**
   * Waits until no record has arrived for `quietMs` (counting from `since` at the earliest), or until
   * `deadline`; resolves to whether it got quiet.
   */
  async waitQuiet(quietMs: number, deadline: number, since = Date.now()): Promise<boolean> {
    for (;;) {
      const now = Date.now();
      const quietFrom = Math.max(this.lastAt, since);
      if (now - quietFrom >= quietMs) return true;
      if (now >= deadline) return false;
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
