/**
 * Runs user-supplied JavaScript regexes off the event loop that every virtual phone shares.
 *
 * A pattern such as `(a+)+$` against a long run of a's backtracks for minutes; run on the main thread it
 * would freeze every phone in the lab. So matching happens in one worker thread shared by the whole lab
 * (started on first use and `unref()`ed so it never keeps the process alive), one batch of subjects per
 * call, one call in flight at a time so that each call's deadline measures its own matching only. A
 * call that overruns its deadline terminates the worker (a new one serves the next call) and rejects
 * with {@link RegexTooCostlyError}. Callers compile the pattern on their own thread first to report bad
 * syntax their own way: compiling does not backtrack, only matching does.
 */
import { Worker } from 'node:worker_threads';

/** How long one batch may match before the worker is stopped. */
export const REGEX_DEADLINE_MS = 2000;

/** The batch overran {@link REGEX_DEADLINE_MS}; the message reads after a command's `name: `. */
export class RegexTooCostlyError extends Error {
  constructor() {
    super(`regex too costly (stopped after ${REGEX_DEADLINE_MS / 1000} s)`);
    this.name = 'RegexTooCostlyError';
  }
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
  source: string;
  flags: string;
  subjects: string[];
  resolve: (results: boolean[]) => void;
  reject: (e: Error) => void;
}

interface Running {
  worker: Worker;
  online: Promise<void>;
}

const queue: Job[] = [];
let running: Running | undefined;
let busy = false;
let nextId = 1;

function start(): Running {
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  worker.unref();
  const online = new Promise<void>((resolve, reject) => {
    worker.once('online', resolve);
    worker.once('error', reject);
    worker.once('exit', () => reject(new Error('regex worker exited')));
  });
  const self: Running = { worker, online };
  // An idle worker that dies is simply replaced on the next call (and its error never goes unheard).
  const forget = (): void => {
    if (running === self) running = undefined;
  };
  worker.on('error', forget);
  worker.on('exit', forget);
  return self;
}

/** Sends one job to the worker and settles it on the reply, a worker failure, or the deadline. */
async function runJob(job: Job): Promise<void> {
  running ??= start();
  const current = running;
  const worker = current.worker;
  // Starting the thread is not the pattern's cost: the deadline starts once the worker is up.
  try {
    await current.online;
  } catch (e) {
    job.reject(e as Error);
    return;
  }
  const id = nextId++;
  await new Promise<void>((done) => {
    const finish = (settle: () => void, stop: boolean): void => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onFailure);
      worker.off('exit', onFailure);
      if (stop) {
        if (running === current) running = undefined;
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
    // A ref'd timer: while a call is in flight it keeps the process alive, the worker does not.
    const timer = setTimeout(
      () => finish(() => job.reject(new RegexTooCostlyError()), true),
      REGEX_DEADLINE_MS,
    );
    worker.on('message', onMessage);
    worker.on('error', onFailure);
    worker.on('exit', onFailure);
    worker.postMessage({ id, source: job.source, flags: job.flags, subjects: job.subjects });
  });
}

async function pump(): Promise<void> {
  if (busy) return;
  busy = true;
  try {
    for (let job = queue.shift(); job; job = queue.shift()) await runJob(job);
  } finally {
    busy = false;
  }
}

/**
 * `re.test(s)` for each of `subjects`, evaluated in the worker: one call per batch, results in the
 * order of `subjects`. Rejects with {@link RegexTooCostlyError} when matching overruns the deadline.
 */
export async function testEach(re: RegExp, subjects: readonly string[]): Promise<boolean[]> {
  if (subjects.length === 0) return [];
  const unique = [...new Set(subjects)];
  const results = await new Promise<boolean[]>((resolve, reject) => {
    queue.push({ source: re.source, flags: re.flags, subjects: unique, resolve, reject });
    void pump();
  });
  const verdict = new Map(unique.map((s, i) => [s, results[i] === true]));
  return subjects.map((s) => verdict.get(s) === true);
}

/**
 * The items whose `key` `re` matches (order kept), matched in the worker; a {@link RegexTooCostlyError}
 * is returned rather than thrown, for commands that print it as `name: message`.
 */
export async function filterMatching<T>(
  re: RegExp,
  items: readonly T[],
  key: (item: T) => string,
): Promise<T[] | RegexTooCostlyError> {
  try {
    const hits = await testEach(re, items.map(key));
    return items.filter((_, i) => hits[i]);
  } catch (e) {
    if (e instanceof RegexTooCostlyError) return e;
    throw e;
  }
}
