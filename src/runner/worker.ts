/**
 * A worker process: serves one or more phones (forked by fork.ts; `phonehome run
 * --phones-per-worker`, default 16). Each phone has its own `PhoneRun`: ONE mocha instance with the
 * allure-mocha reporter, whose jobs arrive one at a time over IPC; each becomes a mocha suite (the
 * scenario) with one test (this phone), added while mocha runs: the afterAll hook of a job's suite
 * reports the result to the parent and waits for the next job, whose suite it appends to the root
 * (mocha's runner reads `suite.suites` as it goes).
 *
 * Why several phones per process (issue 14, harness CPU per phone): a process's start-up (Node, the
 * tsx loader, mockttp + adbkit + mocha + Allure) costs ~2 s of CPU, as much as 4–5 of its jobs;
 * shared by 16 phones, about a tenth of a second per phone (and each process JIT-compiles the same hot
 * code again: on 16 phones, one process used 25 s of CPU where two used 33 s). What made one process per phone
 * necessary is process-global state in two libraries, handled here:
 * - allure-js-commons' facade (`allure.step`, `allure.attachment`, …) asks one process-global test
 *   runtime, which every allure-mocha reporter replaces with its own when it is built. Each phone's
 *   reporter runtime is taken right after its `mocha.run()` builds it (mocha builds the reporter
 *   synchronously and starts the tests on a later tick), and the global runtime becomes a dispatcher
 *   to the runtime of the phone whose job is running, found with an AsyncLocalStorage that each
 *   job's test body runs in. A facade call outside a job throws (it is a bug, never a lost label).
 * - mocha's Runner listens for the process's uncaughtException / unhandledRejection (one listener
 *   per running mocha), and would fail the test at hand of every phone of the process while its job
 *   went on. Those listeners are taken off; the process has its own: an uncaught error is an
 *   infrastructure failure of every phone here (each job at hand is `broken` and its phone lost:
 *   restored, the process exits, the scheduler retries or quarantines as for a crash); an unhandled
 *   rejection is logged and changes nothing (what mocha did with it).
 * Mocha's `describe`/`it` globals are not used (suites are built in code), so instances do not meet.
 *
 * A phone is set up once: lab CA, stale journal entries of this phone restored, wiring (adb reverse
 * tcp:P → tcp:P, http_proxy, CA), UI driver, identifiers, fingerprint. Capture is one CaptureSession
 * per job, on the same host port P, writing into the job's evidence folder: the evidence of a job is
 * exactly its session's files, with no slicing by time, and the wiring stays. The phone is always
 * restored (wiring.restore, ui.close, session.stop) when it ends: on 'done', 'stop', a lost phone,
 * SIGINT/SIGTERM or the parent going away; it then reports `ended`. A second signal exits at once
 * (the wiring journal restores the phones at the next phonehome command). The process exits when
 * the parent says `exit` (it has no phone left), or after a signal once every phone is restored.
 */
import { AssertionError } from 'node:assert';
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import Mocha from 'mocha';
import * as allure from 'allure-js-commons';
import { getGlobalTestRuntime, setGlobalTestRuntime, type TestRuntime } from 'allure-js-commons/sdk/runtime';
import {
  connectPhone,
  createAdbClient,
  openDevice,
  type Device,
  type ConnectResult,
  type Fingerprint,
} from '../device/index.ts';
import { LabCa } from '../capture/ca.ts';
import { Journal } from '../capture/journal.ts';
import type { CaptureSession } from '../capture/session.ts';
import { PhoneCapture } from '../capture/phone-capture.ts';
import { readIdentifiers, type Identifier } from '../detect/index.ts';
import { appsUnderTest } from './packages.ts';
import { allureMeta, applyAllureMeta, readAppVersions } from '../report/allure-labels.ts';
import type { UiDriver } from '../ui/driver.ts';
import { AdbUiDriver } from '../ui/adb/driver.ts';
import { loadOverrides } from '../ui/pages/overrides.ts';
import {
  runScenario,
  type ControlRegistry,
  type ScenarioOutcome,
  type StepReporter,
} from '../scenario/executor.ts';
import type { Verdict } from '../scenario/types.ts';
import type { JobSpec, ParentMessage, PhoneMessage, WorkerInit, WorkerMessage } from './ipc.ts';
import { evidenceDirOf, slug, type JobResult } from '../report/run-folder.ts';
import { ResultsWriter } from '../report/allure-writer.ts';

/** After an infrastructure failure, how long a phone's run waits for the phone to come back to restore it. */
const LOST_WAIT_MS = 15_000;
/** The whole restore on 'stop' / SIGINT must fit in the run's 5 s bound (the parent kills at 4 s). */
const STOP_RESTORE_MS = 3500;

const send = (m: WorkerMessage): void => {
  if (process.connected) process.send?.(m);
};
const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

interface PhoneState {
  device: Device;
  ca: LabCa;
  hostPort: number;
  /** The phone's capture lifecycle: wiring (proxy, reverse, CA, journal), sessions, restore. */
  capture: PhoneCapture;
  ui?: UiDriver;
  fingerprint?: Fingerprint;
  identifiers: Identifier[];
  /** The running job's capture session. */
  session?: CaptureSession;
}

/** The phone whose job is running, for the Allure dispatcher below. */
const jobContext = new AsyncLocalStorage<PhoneRun>();

/**
 * The process-global Allure test runtime: every call goes to the runtime of the phone whose job runs
 * (see the header). A call outside a job is a bug of this file; it throws.
 */
const dispatcher: TestRuntime = new Proxy({} as TestRuntime, {
  get(_target, prop) {
    const run = jobContext.getStore();
    const rt = run?.allureRuntime;
    if (!rt) throw new Error(`an Allure call (${String(prop)}) outside a phone's job`);
    const value = (rt as unknown as Record<PropertyKey, unknown>)[prop];
    return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(rt) : value;
  },
});

async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** `adb connect` a devices.json `connect` phone again (disconnecting it first when it is offline). */
function reconnectPhone(p: WorkerInit['phone']): Promise<ConnectResult> {
  return connectPhone(createAdbClient({ host: p.adb.host, port: p.adb.port }), p.serial, {
    timeoutMs: 5000,
    deviceWaitMs: 2000,
    reconnect: true,
  });
}

/** True when the phone answers adb within `timeoutMs`. */
async function answers(device: Device, timeoutMs = 3000): Promise<boolean> {
  try {
    return (await device.getState({ timeoutMs })) === 'device';
  } catch {
    return false;
  }
}

function fingerprintRecord(f: Fingerprint | undefined, p: WorkerInit['phone']): Record<string, string> {
  if (!f) return p.fingerprint;
  return {
    ...p.fingerprint,
    model: f.model,
    os: `${f.os.name}${f.os.version ? ` ${f.os.version}` : ''}`,
    android: f.android.release,
    build: f.incremental,
    region: f.region,
  };
}

async function evidence(
  log: (line: string) => void,
  fn: () => Promise<unknown> | PromiseLike<unknown>,
): Promise<void> {
  try {
    await fn();
  } catch (err) {
    log(`evidence: ${errText(err)}`);
  }
}

/** One phone of this process: its set-up, its mocha and jobs, its restore. */
class PhoneRun {
  readonly serial: string;
  state: PhoneState | undefined;
  /** This phone's allure-mocha reporter runtime (see the dispatcher). */
  allureRuntime: TestRuntime | undefined;
  stopping = false;
  /** Resolves once the phone is restored and `ended` was sent. */
  readonly ended: Promise<void>;
  /** What the positive controls of this phone's earlier jobs showed (issue 10 §2 "Controls"). */
  private readonly controls: ControlRegistry = new Map();
  private tearingDown: Promise<void> | undefined;
  private readonly inbox: Array<JobSpec | null> = [];
  private waiting: ((j: JobSpec | null) => void) | undefined;
  private currentJob: JobSpec | undefined;
  /** The apps under test's versions on this phone, read once (Allure parameters). */
  private appVersions: Promise<Record<string, string>> | undefined;
  private endedResolve!: () => void;
  private endedSent = false;
  /** The set-up under way: a stop waits for it before restoring (it may be wiring the phone). */
  private settingUp: Promise<void> | undefined;

  constructor(readonly init: WorkerInit) {
    this.serial = init.phone.serial;
    this.ended = new Promise((r) => (this.endedResolve = r));
  }

  send(m: PhoneMessage extends infer T ? (T extends unknown ? Omit<T, 'serial'> : never) : never): void {
    send({ ...m, serial: this.serial });
  }

  readonly log = (line: string): void => this.send({ type: 'log', line });

  private nextJob(): Promise<JobSpec | null> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  deliver(j: JobSpec | null): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w(j);
    } else this.inbox.push(j);
  }

  /** The job's Allure slot: that of the phone it was scheduled on (`<scenario index>:<serial>`). */
  private slotOf(job: JobSpec): number {
    return this.init.profileSlots?.[job.id.slice(job.id.indexOf(':') + 1)] ?? 1;
  }

  /** Set-up, the jobs, the restore; then `ended`. Never rejects. */
  async start(): Promise<void> {
    try {
      this.settingUp = this.setUp();
      await this.settingUp;
    } catch (err) {
      this.send({ type: 'setup-failed', message: errText(err) });
      await this.tearDown({ waitForPhoneMs: LOST_WAIT_MS });
      return this.end();
    }
    if (this.stopping) return;
    this.send({ type: 'ready' });
    const first = await this.nextJob();
    if (first && !this.stopping) {
      const resultsDir = join(this.init.runDir, 'allure-results');
      const mocha = new Mocha({
        reporter: 'allure-mocha',
        // allure-mocha's runtime takes `writer` over its own FileSystemWriter (report/allure-writer.ts).
        reporterOptions: {
          resultsDir,
          // Allure's Timeline has a row per `thread` label: one per phone, as with a process per phone.
          writer: new ResultsWriter(resultsDir, { thread: this.serial }),
        },
        timeout: 0,
      });
      const root = mocha.suite;
      root.timeout(0);
      await new Promise<void>((resolve) => {
        root.addSuite(this.jobSuite(root, first));
        const runner = mocha.run(() => resolve());
        // Not mocha's process-wide error listeners (see the header): main() has the process's own.
        const handlers = runner as unknown as { uncaught: () => void; unhandled: () => void };
        process.removeListener('uncaughtException', handlers.uncaught);
        process.removeListener('unhandledRejection', handlers.unhandled);
        // The reporter was built inside run() and made its runtime the process's: take it as this
        // phone's, and put the dispatcher back (mocha starts the first test on a later tick).
        // (Should allure-mocha stop installing one, every Allure call of the job throws: broken.)
        const runtime = getGlobalTestRuntime();
        this.allureRuntime = runtime === dispatcher ? undefined : runtime;
        setGlobalTestRuntime(dispatcher);
      });
    }
    if (this.stopping) return;
    await this.tearDown({ waitForPhoneMs: LOST_WAIT_MS });
    this.end();
  }

  private end(): void {
    if (this.endedSent) return;
    this.endedSent = true;
    this.send({ type: 'ended' });
    this.endedResolve();
  }

  private async setUp(): Promise<void> {
    const init = this.init;
    const p = init.phone;
    const device = openDevice(
      { host: p.adb.host, port: p.adb.port },
      p.serial,
      init.adbTimeoutMs ? { timeoutMs: init.adbTimeoutMs } : {},
    );
    const ca = await LabCa.load(init.caDir);
    const journal = new Journal(init.stateDir);
    const capture = new PhoneCapture({
      device,
      ca,
      journal,
      adb: p.adb,
      caMethod: init.caMethod ?? 'auto',
      // Block mode; the apps the suites drive and those known to upload for a tracker: on a rooted
      // phone their direct TCP is redirected into the capture, and the CA is checked in their namespaces.
      mode: 'block',
      packages: appsUnderTest(),
      log: this.log,
    });
    const state: PhoneState = { device, ca, hostPort: await freePort(), capture, identifiers: [] };
    this.state = state;
    state.fingerprint = await device.fingerprint();
    state.identifiers = await readIdentifiers(device);
    // Stopped while reading the phone: do not wire it at all.
    if (this.stopping) return;
    // PhoneCapture.open first restores what a dead worker of this phone left (from the journal).
    await capture.open({ hostPort: state.hostPort });
    if (this.stopping) return;
    // ui/index.ts (openUiDriver) loads the Appium driver and webdriverio, about 1 s of CPU at every
    // worker's start: a phone on the ADB-only driver gets it directly (as openUiDriver builds it), and
    // only an Appium phone imports the rest (issue 14, harness CPU per phone).
    if (p.ui === 'adb') {
      state.ui = new AdbUiDriver(device, { timeoutMs: device.timeoutMs });
      return;
    }
    const { openUiDriver } = await import('../ui/index.ts');
    state.ui = await openUiDriver({
      kind: p.ui,
      device,
      adbPort: p.adb.port,
      adbHost: p.adb.host,
      ...(init.appiumUrl ? { appiumUrl: init.appiumUrl } : {}),
      // A real phone's first session has no UiAutomator2 server yet: the driver installs it (once).
      installServer: true,
    });
  }

  /** Undoes everything on the phone. Never throws. */
  tearDown(opts: { waitForPhoneMs?: number } = {}): Promise<void> {
    this.tearingDown ??= (async () => {
      // A stop during set-up: wait for it to end (it stops before wiring when it can), so that what
      // it wired is restored here, not left behind once `ended` is sent.
      await this.settingUp?.catch(() => undefined);
      const s = this.state;
      if (!s) return;
      await Promise.allSettled([s.ui?.close(), s.capture.stopSession()]);
      // Stopped while the phone was being wired: settled() waits for that (it rolls itself back on
      // failure). No wiring and nothing a failed rollback left in the journal: nothing to restore.
      if (!(await s.capture.settled()) && !s.capture.unrestored()) return;
      if (opts.waitForPhoneMs) {
        const deadline = Date.now() + opts.waitForPhoneMs;
        let nextConnect = 0;
        while (!(await answers(s.device, 1000)) && Date.now() < deadline) {
          // A phone on adb's TCP transport (devices.json `connect`): adb retries a dropped one only
          // every ~10 s and forgets it after 60 s (adb-protocol.md §8), so re-connect it ourselves.
          if (this.init.phone.connect && Date.now() >= nextConnect) {
            nextConnect = Date.now() + 3000;
            const r = await reconnectPhone(this.init.phone).catch((err: unknown) => ({
              ok: false,
              problem: errText(err),
            }));
            this.log(`${this.serial}: adb connect: ${r.ok ? 'back' : (r.problem ?? 'not back yet')}`);
          }
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      const report = (await s.capture.close()) ?? { ok: true, steps: [], problems: [] };
      this.log(
        report.ok
          ? `${this.serial}: restored (${report.steps.join(', ') || 'nothing to undo'})`
          : `${this.serial}: restore incomplete (${report.problems.join('; ')}); the next phonehome command retries from the journal`,
      );
    })();
    return this.tearingDown;
  }

  /**
   * Interrupted: report the job at hand, restore, `ended`. A repeated stop changes nothing; the
   * process bounds the restore in time (stopAll, or the parent's kill).
   */
  stop(why?: string): Promise<void> {
    if (this.stopping) return this.ended;
    this.stopping = true;
    if (this.currentJob && this.state) {
      // A crash-like stop (`why`) loses the phone for the scheduler: the job is an infrastructure failure.
      const r = this.baseResult(this.currentJob, 'broken', why ?? 'interrupted', 0);
      this.send({
        type: 'result',
        jobId: this.currentJob.id,
        result: r,
        phoneLost: why !== undefined,
        ...(why !== undefined ? { workerFault: true } : {}),
      });
    }
    // A mocha run waiting for its next job ends (no suite is added any more).
    this.inbox.length = 0;
    this.deliver(null);
    void this.tearDown().finally(() => this.end());
    return this.ended;
  }

  private baseResult(
    job: JobSpec,
    status: Verdict,
    message: string | undefined,
    durationMs: number,
  ): JobResult {
    const p = this.init.phone;
    return {
      scenario: job.scenario.config.name,
      file: job.scenario.file,
      phone: p.serial,
      profile: p.profile,
      status,
      ...(message ? { message } : {}),
      durationMs,
      steps: [],
      hosts: [],
      trackers: [],
      fingerprint: fingerprintRecord(this.state?.fingerprint, p),
      evidenceDir: evidenceDirOf(job),
      attempts: job.attempt,
    };
  }

  /** Runs one job under the current mocha test; returns its result and whether the phone was lost. */
  private async runJob(job: JobSpec): Promise<{ result: JobResult; phoneLost: boolean }> {
    const s = this.state!;
    const started = Date.now();
    const rel = evidenceDirOf(job);
    const dir = join(this.init.runDir, rel);
    mkdirSync(dir, { recursive: true });
    const p = this.init.phone;
    await allure.parentSuite(p.profile);
    await allure.suite(job.scenario.config.name);
    // Header labels and links, history keyed by scenario × profile; serial, firmware and app versions
    // as parameters left out of the history key (src/report/allure-labels.ts).
    this.appVersions ??= readAppVersions(s.device, appsUnderTest()).catch(() => ({}));
    const meta = allureMeta(
      job.scenario.config,
      {
        serial: p.serial,
        profile: p.profile,
        fingerprint: fingerprintRecord(s.fingerprint, p),
        // The slot of the phone the job was scheduled on (JobSpec.id: `<scenario>:<serial>`), not of
        // this one: a job moved to a twin must not share the twin's own job's Allure key.
        ...(this.slotOf(job) > 1 ? { slot: this.slotOf(job) } : {}),
      },
      this.init.links ?? {},
      await this.appVersions,
    );
    await applyAllureMeta(meta, allure);
    // Allure's Timeline groups by the `host` label: the lab host that ran the job (a merged run has
    // several); the adb server is shown beside the other parameters, outside the history key.
    await allure.label('host', hostname());
    await allure.parameter('adb server', `${p.adb.host}:${p.adb.port}`, { excluded: true });
    if (job.scenario.config.tags.length) await allure.tags(...job.scenario.config.tags);
    if (job.scenario.config.description) await allure.description(job.scenario.config.description);

    let outcome: ScenarioOutcome;
    try {
      s.session = await s.capture.startSession(dir);
      const filmstrip = this.init.screenshots === 'steps' ? this.stepScreenshots(dir) : undefined;
      const rep: StepReporter = {
        step: filmstrip
          ? (name, fn) => allure.step(name, () => filmstrip(name, fn))
          : (name, fn) => allure.step(name, () => fn()),
        attach: (name, content, contentType) => {
          void Promise.resolve(allure.attachment(name, content, contentType)).catch(() => undefined);
        },
        log: (line) => this.log(`${p.serial}: ${line}`),
      };
      outcome = await runScenario(
        job.scenario,
        {
          serial: p.serial,
          device: s.device,
          ui: s.ui!,
          profile: p.profile,
          fingerprint: s.fingerprint!,
          identifiers: s.identifiers,
          capture: s.session,
          wiring: s.capture.wiring!,
          bypass: s.capture.wiring!.bypass,
        },
        rep,
        {
          env: process.env,
          runId: this.init.runId,
          controls: this.controls,
          ...(this.init.keys
            ? {
                keys: Object.fromEntries(
                  Object.entries(this.init.keys).map(([k, v]) => [k, Buffer.from(v, 'hex')]),
                ),
              }
            : {}),
          ...(this.init.stepTimeoutMs ? { stepTimeoutMs: this.init.stepTimeoutMs } : {}),
          ...(this.init.locatorOverrides
            ? { locatorOverrides: loadOverrides(this.init.locatorOverrides) }
            : {}),
        },
      );
    } catch (err) {
      outcome = {
        status: 'broken',
        message: errText(err),
        steps: [],
        canaries: {},
        hosts: [],
        trackers: [],
        findings: [],
      } as unknown as ScenarioOutcome;
    } finally {
      await s.capture.stopSession();
      s.session = undefined;
    }
    const bad = outcome.status === 'failed' || outcome.status === 'broken';
    const phoneLost = outcome.status === 'broken' && !this.stopping && !(await answers(s.device));
    const fp = fingerprintRecord(s.fingerprint, p);
    // Evidence, best effort: a failing attachment must not hide the verdict.
    await evidence(this.log, async () => {
      writeFileSync(join(dir, 'fingerprint.json'), `${JSON.stringify(fp, null, 2)}\n`);
      await allure.attachment('fingerprint.json', JSON.stringify(fp, null, 2), 'application/json');
    });
    await evidence(this.log, async () => {
      const findings = JSON.stringify(outcome.findings ?? [], null, 2);
      writeFileSync(join(dir, 'findings.json'), `${findings}\n`);
      await allure.attachment('findings.json', findings, 'application/json');
    });
    await evidence(this.log, () =>
      allure.attachmentPath('capture.har', join(dir, 'capture.har'), 'application/json'),
    );
    await evidence(this.log, async () => {
      // How the phone was wired: the CA method, what it decrypts, where the CA was checked (issue 11 §2).
      const w = s.capture.wiring!;
      const wiring = JSON.stringify(
        { caMethod: w.caMethod, coverage: w.coverage, root: w.root, caVerified: w.caVerified },
        null,
        2,
      );
      writeFileSync(join(dir, 'wiring.json'), `${wiring}\n`);
      await allure.attachment('wiring.json', wiring, 'application/json');
    });
    if (bad && !phoneLost && s.ui) {
      await evidence(this.log, async () => {
        const png = await s.ui!.screenshot({ timeoutMs: 5000 });
        writeFileSync(join(dir, 'screenshot.png'), png);
        await allure.attachment('screenshot.png', png, 'image/png');
      });
      await evidence(this.log, async () => {
        // The UI hierarchy beside the screenshot (what `phonehome ui locate` searches; issue 11 §1).
        const xml = await s.ui!.source({ timeoutMs: 5000 });
        writeFileSync(join(dir, 'hierarchy.xml'), xml);
        await allure.attachment('hierarchy.xml', xml, 'application/xml');
      });
      await evidence(this.log, async () => {
        const logcat = await s.device.shell('logcat -d -t 300', { timeoutMs: 5000 });
        writeFileSync(join(dir, 'logcat.txt'), logcat.stdout);
        await allure.attachment('logcat.txt', logcat.stdout, 'text/plain');
      });
    }
    const result: JobResult = {
      ...this.baseResult(job, outcome.status, outcome.message, Date.now() - started),
      steps: outcome.steps,
      hosts: [...outcome.hosts].sort(),
      trackers: [...outcome.trackers].sort(),
      fingerprint: fp,
    };
    if (phoneLost) result.message = `phone ${p.serial} stopped answering: ${outcome.message ?? 'lost'}`;
    return { result, phoneLost };
  }

  /**
   * `--screenshots steps`: runs a step, then (when it passed and had no steps inside it) takes a
   * screenshot, attached inside the Allure step and written to `<evidence>/steps/NNN-<step>.png`,
   * numbered in step order, so the report reads as a filmstrip. A failed step has the executor's
   * failure screenshot instead. A screenshot that fails is logged and changes nothing.
   */
  private stepScreenshots(dir: string): <T>(name: string, fn: () => Promise<T>) => Promise<T> {
    const s = this.state!;
    let n = 0;
    /** Open steps, innermost last: whether a step has started inside each. */
    const open: Array<{ parent: boolean }> = [];
    return async (name, fn) => {
      const frame = { parent: false };
      if (open.length) open[open.length - 1]!.parent = true;
      open.push(frame);
      const number = ++n;
      let value;
      try {
        value = await fn();
      } finally {
        open.pop();
      }
      if (!frame.parent && s.ui && !this.stopping) {
        await evidence(this.log, async () => {
          const png = await s.ui!.screenshot({ timeoutMs: 5000 });
          const file = join(dir, 'steps', `${String(number).padStart(3, '0')}-${slug(name)}.png`);
          mkdirSync(join(dir, 'steps'), { recursive: true });
          writeFileSync(file, png);
          await allure.attachment(`step ${number}: ${name}.png`, png, 'image/png');
        });
      }
      return value;
    };
  }

  /** A mocha suite (the scenario) with one test (this phone) for `job`. */
  private jobSuite(root: Mocha.Suite, job: JobSpec): Mocha.Suite {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- mocha gives the test body its own `this`
    const run = this;
    const suite = new Mocha.Suite(job.scenario.config.name, root.ctx);
    suite.timeout(0);
    let outcome: { result: JobResult; phoneLost: boolean } | undefined;
    const test = new Mocha.Test(
      `${job.scenario.config.name} on ${this.init.phone.profile} (${job.phone})`,
      async function (this: Mocha.Context) {
        run.currentJob = job;
        try {
          // The job's Allure calls go to this phone's reporter (the dispatcher above).
          outcome = await jobContext.run(run, () => run.runJob(job));
        } finally {
          run.currentJob = undefined;
        }
        // Stopped while it ran: the phone was restored under it and the parent has `interrupted`;
        // what the job says after that is not a verdict (nor a `passed` in allure-results).
        if (run.stopping) {
          const err = new Error('interrupted: the phone was restored while the job ran');
          err.name = 'ScenarioBroken';
          throw err;
        }
        const r = outcome.result;
        if (r.status === 'skipped') this.skip();
        if (r.status === 'failed') throw new AssertionError({ message: r.message ?? 'scenario failed' });
        if (r.status === 'broken') {
          // Allure reads "assert" in a message as `failed`: a broken verdict must not say it.
          const err = new Error((r.message ?? 'scenario broken').replace(/assert/gi, 'check'));
          err.name = 'ScenarioBroken';
          throw err;
        }
      },
    );
    test.timeout(0);
    // allure-mocha names results after the spec file: the scenario file is ours.
    test.file = resolve(job.scenario.file);
    suite.file = test.file;
    suite.addTest(test);
    suite.afterAll(async function () {
      this.timeout(0);
      if (run.stopping) return;
      const o = outcome ?? {
        result: run.baseResult(job, 'broken', 'the test did not run', 0),
        phoneLost: false,
      };
      run.send({ type: 'result', jobId: job.id, result: o.result, phoneLost: o.phoneLost });
      // No next suite: mocha ends after this one, and the phone is restored and `ended`.
      if (o.phoneLost) return;
      const next = await run.nextJob();
      if (next && !run.stopping) root.addSuite(run.jobSuite(root, next));
    });
    return suite;
  }
}

/** This process's phones by serial, until each has `ended`. */
const runs = new Map<string, PhoneRun>();
let exiting = false;

/**
 * Interrupted (a signal, or the parent gone): stop every phone, and exit once all are restored or
 * after the run's bound. A second signal exits at once (the journal restores the phones at the next
 * start).
 */
function stopAll(code: number, signal = false, why?: string): void {
  if (exiting) {
    if (signal) process.exit(code);
    return;
  }
  exiting = true;
  // The parent places no new phone here any more (one sent already is refused below).
  send({ type: 'closing' });
  const hard = setTimeout(() => process.exit(code), STOP_RESTORE_MS);
  hard.unref();
  void Promise.allSettled([...runs.values()].map((r) => r.stop(why))).finally(() => process.exit(code));
}

function main(): void {
  process.on('SIGINT', () => stopAll(130, true));
  process.on('SIGTERM', () => stopAll(143, true));
  process.on('disconnect', () => stopAll(130));
  // The process's own error listeners, in place of mocha's (see the header).
  process.on('uncaughtException', (err) => {
    process.stderr.write(`phonehome worker: uncaught error: ${err.stack ?? String(err)}\n`);
    stopAll(
      70,
      false,
      `the worker process hit an uncaught error (${errText(err)}); its phones were restored`,
    );
  });
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`phonehome worker: unhandled rejection (ignored): ${errText(reason)}\n`);
  });
  setGlobalTestRuntime(dispatcher);
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'init') {
      if (exiting) {
        // Placed here before the parent heard `closing`: refused without touching the phone.
        send({
          type: 'setup-failed',
          serial: m.phone.serial,
          message: 'its worker process was exiting',
          workerFault: true,
        });
        send({ type: 'ended', serial: m.phone.serial });
        return;
      }
      const run = new PhoneRun(m);
      runs.set(run.serial, run);
      void run.start();
      void run.ended.then(() => {
        if (runs.get(run.serial) === run) runs.delete(run.serial);
      });
    } else if (m.type === 'job') runs.get(m.serial)?.deliver(m.job);
    else if (m.type === 'done') runs.get(m.serial)?.deliver(null);
    else if (m.type === 'stop') void runs.get(m.serial)?.stop();
    else if (m.type === 'exit') {
      if (runs.size === 0) process.exit(0);
      stopAll(0);
    }
  });
}

main();
