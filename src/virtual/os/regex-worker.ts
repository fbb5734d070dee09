/**
 * Runs user-supplied JavaScript regexes off the event loop that every virtual phone shares.
 *
 * A pattern such as `(a+)+$` against a long run of a's backtracks for minutes; run on the main thread it
 * would freeze every phone in the lab. So matching happens in a small pool of worker threads shared by
 * the whole lab ({@link REGEX_POOL_SIZE}; each started on first use and `unref()`ed so it never keeps
 * the process alive), one batch of subjects per call, one call per worker at a time so that each call's
 * deadline measures its own matching only. A call that overruns its deadline terminates its worker (a
 * new one serves the next call) and rejects with {@link RegexTooCostlyError}. Callers compile the
 * pattern on their own thread first to report bad syntax their own way: compiling does not backtrack,
 * only matching does.
 *
 * Fairness: every call names an owner (the phone's serial). Each owner has its own queue, owners are
 * served round-robin and an owner has at most one call running, so one phone's costly patterns take at
 * most one worker and delay another phone's call by at most one deadline. An owner may have
 * {@link REGEX_QUEUE_LIMIT} calls waiting; beyond that a call fails at once with
 * {@link RegexQueueFullError}. A call's AbortSignal (the command's, or the Appium request's connection)
 * takes a waiting call out of its queue, or terminates the worker running it; either way the call
 * rejects with an error named `AbortError`.
 */
import { Worker } from 'node:worker_threads';

/** How long one batch may match before the worker is stopped. */
export const REGEX_DEADLINE_MS = 2000;
/** Worker threads in the pool: owners beyond this wait their turn, round-robin. */
export const REGEX_POOL_SIZE = 2;
/** Calls one owner may have waiting (its running call not counted). */
export const REGEX_QUEUE_LIMIT = 16;

/** The worker did not answer a call; the message reads after a command's `name: `. */
export class RegexRefusedError extends Error {}

/** The batch overran {@link REGEX_DEADLINE_MS}. */
export class RegexTooCostlyError extends RegexRefusedError {
  constructor() {
    super(`regex too costly (stopped after ${REGEX_DEADLINE_MS / 1000} s)`);
    this.name = 'RegexTooCostlyError';
  }
}

/** The owner already had {@link REGEX_QUEUE_LIMIT} calls waiting. */
export class RegexQueueFullError extends RegexRefusedError {
  constructor() {
    super('regex queue full');
    this.name = 'RegexQueueFullError';
  }
}

/** Who asks (the phone's serial; calls without one share the '' queue) and until when. */
export interface RegexCaller {
  owner?: string;
  signal?: AbortSignal;
}

function abortError(signal: AbortSignal): Error {
  const e = new Error('regex matching aborted', { cause: signal.reason });
  e.name = 'AbortError';
  return e;
}

// Plain JavaScript evaluated as the worker (no imports, so it runs the same under tsx and plain node).
// Compiled regexes are kept per (flags, source): a streaming logcat sends the same one every flush.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const cache = new Map();
parentPort.on('message', ({ id, source, flags, subjects }) => {
  try {
    const key = flags + '/' + source;
    let re = cache.get(key);
    if (!re) {
      if (cache.size >= 64) cache.clear();
      re = new RegExp(source, flags);
      cache.set(key, re);
    }
    const results = subjects.map((s) => {
      re.lastIndex = 0;
      return re.test(s);
    });
    parentPort.postMessage({ id, results });
  } catch (e) {
    parentPort.postMessage({ id, error: String((e && e.message) || e) });
  }
});
`;

type Reply = { id: number; results: boolean[] } | { id: number; error: string };

interface Job {
  owner: string;
  source: string;
  flags: string;
  subjects: string[];
  signal: AbortSignal | undefined;
  /** While the job waits: takes it out of its queue and rejects it. */
  onQueuedAbort: () => void;
  resolve: (results: boolean[]) => void;
  reject: (e: Error) => void;
}

interface Running {
  worker: Worker;
  online: Promise<void>;
}

/** One slot of the pool: its worker (started on demand) and whether a job is on it. */
interface Lane {
  current: Running | undefined;
  busy: boolean;
}

/** Waiting jobs per owner; the map's order is the round-robin order (served owners go to the back). */
const queues = new Map<string, Job[]>();
/** Owners with a job on a lane: not served again until it settles. */
const runningOwners = new Set<string>();
const lanes: Lane[] = Array.from({ length: REGEX_POOL_SIZE }, () => ({ current: undefined, busy: false }));
let nextId = 1;

function start(lane: Lane): Running {
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  worker.unref();
  const online = new Promise<void>((resolve, reject) => {
    worker.once('online', resolve);
    worker.once('error', reject);
    worker.once('exit', () => reject(new Error('regex worker exited')));
  });
  // A job that gives up on the worker before it is online already handles the rejection.
  online.catch(() => undefined);
  const self: Running = { worker, online };
  // An idle worker that dies is simply replaced on the next call (and its error never goes unheard).
  const forget = (): void => {
    if (lane.current === self) lane.current = undefined;
  };
  worker.on('error', forget);
  worker.on('exit', forget);
  return self;
}

/** Runs one job on `lane`'s worker and settles it on the reply, a failure, its abort or the deadline. */
function runJob(lane: Lane, job: Job): Promise<void> {
  lane.current ??= start(lane);
  const current = lane.current;
  const worker = current.worker;
  const id = nextId++;
  return new Promise<void>((done) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (settle: () => void, stop: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      job.signal?.removeEventListener('abort', onAbort);
      worker.off('message', onMessage);
      worker.off('error', onFailure);
      worker.off('exit', onFailure);
      if (stop) {
        if (lane.current === current) lane.current = undefined;
        void worker.terminate();
      }
      settle();
      done();
    };
    const onMessage = (m: Reply): void => {
      if (m.id !== id) return;
      if ('error' in m) finish(() => job.reject(new Error(m.error)), false);
      else finish(() => job.resolve(m.results), false);
    };
    const onFailure = (e: unknown): void =>
      finish(() => job.reject(e instanceof Error ? e : new Error('regex worker exited')), true);
    // The pattern may be backtracking: only a new worker is sure to be free.
    const onAbort = (): void => finish(() => job.reject(abortError(job.signal!)), true);
    job.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('error', onFailure);
    worker.on('exit', onFailure);
    // Starting the thread is not the pattern's cost: the deadline starts once the worker is up.
    current.online.then(() => {
      if (settled) return;
      // A ref'd timer: while a call is in flight it keeps the process alive, the worker does not.
      timer = setTimeout(() => finish(() => job.reject(new RegexTooCostlyError()), true), REGEX_DEADLINE_MS);
      worker.on('message', onMessage);
      worker.postMessage({ id, source: job.source, flags: job.flags, subjects: job.subjects });
    }, onFailure);
  });
}

/** The next owner's oldest job, round-robin over owners with nothing running. */
function nextJob(): Job | undefined {
  for (const [owner, q] of queues) {
    if (runningOwners.has(owner)) continue;
    const job = q.shift() as Job;
    queues.delete(owner);
    if (q.length) queues.set(owner, q);
    return job;
  }
  return undefined;
}

/** Puts waiting jobs on free lanes. */
function dispatch(): void {
  for (const lane of lanes) {
    if (lane.busy) continue;
    const job = nextJob();
    if (!job) return;
    job.signal?.removeEventListener('abort', job.onQueuedAbort);
    lane.busy = true;
    runningOwners.add(job.owner);
    void runJob(lane, job).finally(() => {
      lane.busy = false;
      runningOwners.delete(job.owner);
      dispatch();
    });
  }
}

function enqueue(re: RegExp, subjects: string[], owner: string, signal?: AbortSignal): Promise<boolean[]> {
  return new Promise<boolean[]>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const q = queues.get(owner) ?? [];
    if (q.length >= REGEX_QUEUE_LIMIT) return reject(new RegexQueueFullError());
    const job: Job = {
      owner,
      source: re.source,
      flags: re.flags,
      subjects,
      signal,
      onQueuedAbort: () => {
        const i = q.indexOf(job);
        if (i >= 0) q.splice(i, 1);
        if (!q.length && queues.get(owner) === q) queues.delete(owner);
        reject(abortError(signal!));
      },
      resolve,
      reject,
    };
    signal?.addEventListener('abort', job.onQueuedAbort, { once: true });
    q.push(job);
    if (!queues.has(owner)) queues.set(owner, q);
    dispatch();
  });
}

/**
 * `re.test(s)` for each of `subjects`, evaluated in a worker: one call per batch, results in the
 * order of `subjects`. Rejects with {@link RegexTooCostlyError} when matching overruns the deadline,
 * {@link RegexQueueFullError} when the owner has too many calls waiting, and an `AbortError` when
 * `caller.signal` aborts first.
 */
export async function testEach(
  re: RegExp,
  subjects: readonly string[],
  caller: RegexCaller = {},
): Promise<boolean[]> {
  if (subjects.length === 0) return [];
  const unique = [...new Set(subjects)];
  const results = await enqueue(re, unique, caller.owner ?? '', caller.signal);
  const verdict = new Map(unique.map((s, i) => [s, results[i] === true]));
  return subjects.map((s) => verdict.get(s) === true);
}

/**
 * The items whose `key` `re` matches (order kept), matched in a worker; a {@link RegexRefusedError}
 * (too costly, queue full) is returned rather than thrown, for commands that print it as
 * `name: message`.
 */
export async function filterMatching<T>(
  re: RegExp,
  items: readonly T[],
  key: (item: T) => string,
  caller: RegexCaller = {},
): Promise<T[] | RegexRefusedError> {
  try {
    const hits = await testEach(re, items.map(key), caller);
    return items.filter((_, i) => hits[i]);
  } catch (e) {
    if (e instanceof RegexRefusedError) return e;
    throw e;
  }
}
