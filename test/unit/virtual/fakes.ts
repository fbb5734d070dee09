/**
 * Fakes shared by the app and telemetry unit tests: the fixed event time T0, one FakeHttp, and a
 * manual scheduler for the upload queues (time moves only when a test says so).
 */
import {
  PhoneHttpError,
  type HttpClient,
  type HttpFailure,
  type HttpRequest,
  type HttpResponse,
} from '../../../src/virtual/apps/events.ts';
import type { Scheduler } from '../../../src/virtual/telemetry/index.ts';

export const T0 = 1_700_000_000_000;

/**
 * Answers every request with a small HTML page titled after the path (status 200), unless told
 * otherwise: `failNext()` scripts the next outcomes (a failure to throw or a status to answer), and
 * `fail` makes every request to a host throw. `attempts` holds every request, `requests` those answered
 * with a 2xx (what a proxy or collector received).
 */
export class FakeHttp implements HttpClient {
  readonly requests: HttpRequest[] = [];
  readonly attempts: HttpRequest[] = [];
  readonly fail = new Map<string, HttpFailure>();
  private readonly script: Array<HttpFailure | number> = [];

  /** @param delayMs answer after this many ms (0: on the next microtask). */
  constructor(private readonly delayMs = 0) {}

  failNext(...outcomes: Array<HttpFailure | number>): void {
    this.script.push(...outcomes);
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    this.attempts.push(req);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const url = new URL(req.url);
    const failure = this.fail.get(url.host);
    if (failure) throw new PhoneHttpError(failure, `${failure}: ${url.host}`);
    const next = this.script.shift();
    if (typeof next === 'string') throw new PhoneHttpError(next, `${next}: ${req.url}`);
    const status = next ?? 200;
    if (status >= 200 && status < 300) this.requests.push(req);
    const title = `Page ${url.pathname}${url.search}`;
    return {
      status,
      headers: { 'Content-Type': 'text/html; charset=utf-8' },
      body: Buffer.from(
        `<html><head><title>${title.replace(/&/g, '&amp;')}</title></head><body><p>Hello from ${url.host}</p></body></html>`,
      ),
    };
  }
}

/** Timers that fire only in advance(): queue tests do not depend on the machine's speed. */
export class ManualScheduler implements Scheduler {
  now = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  setTimer(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Timers still armed, as delays from now. */
  pending(): number[] {
    return [...this.timers.values()].map((t) => t.at - this.now).sort((a, b) => a - b);
  }

  /**
   * Moves time forward by `ms`, firing due timers in order; after each, `settle` (e.g. the hub's
   * idle()) is awaited so that uploads a timer started finish before time moves on.
   */
  async advance(ms: number, settle: () => Promise<void> = async () => {}): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, t]) => t.at <= end)
        .sort(([a, x], [b, y]) => x.at - y.at || a - b)[0];
      if (!due) break;
      const [id, t] = due;
      this.timers.delete(id);
      this.now = t.at;
      t.fn();
      await settle();
    }
    this.now = end;
    await settle();
  }
}
