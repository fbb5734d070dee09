/**
 * A phone worker: one child process per phone (forked by fork.ts), with ONE mocha instance and the
 * allure-mocha reporter (two mochas cannot share a process and Allure's runtime is process-global:
 * ../shared/STYLE.md §A3, §C). Jobs arrive one at a time over IPC; each becomes a mocha suite (the
 * scenario) with one test (this phone), added while mocha runs: the afterAll hook of a job's suite
 * reports the result to the parent and waits for the next job, whose suite it appends to the root
 * (mocha's runner reads `suite.suites` as it goes).
 *
 * The phone is set up once per worker: lab CA, stale journal entries of this phone restored, wiring
 * (adb reverse tcp:P → tcp:P, http_proxy, CA), UI driver, identifiers, fingerprint. Capture is one
 * CaptureSession per job, on the same host port P, writing into the job's evidence folder: the
 * evidence of a job is exactly its session's files, with no slicing by time, and the wiring stays.
 * The phone is always restored (wiring.restore, ui.close, session.stop) when the worker ends, on
 * 'stop', SIGINT/SIGTERM or the parent going away; a second signal exits at once (the wiring
 * journal restores the phone at the next phonehome command).
 */
import { AssertionError } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import Mocha from 'mocha';
import * as allure from 'allure-js-commons';
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
import type { JobSpec, ParentMessage, WorkerInit, WorkerMessage } from './ipc.ts';
import { evidenceDirOf, slug, type JobResult } from '../report/run-folder.ts';

/** After an infrastructure failure, how long the worker waits for the phone to come back to restore it. */
const LOST_WAIT_MS = 15_000;
/** The whole restore on 'stop' / SIGINT must fit in the run's 5 s bound (the parent kills at 4 s). */
const STOP_RESTORE_MS = 3500;

const send = (m: WorkerMessage): void => {
  if (process.connected) process.send?.(m);
};
const log = (line: string): void => send({ type: 'log', line });
const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

interface PhoneState {
  init: WorkerInit;
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

let phone: PhoneState | undefined;
/** What the positive controls of this phone's earlier jobs showed (issue 10 §2 "Controls"). */
const controls: ControlRegistry = new Map();
let stopping = false;
let tearingDown: Promise<void> | undefined;
const inbox: Array<JobSpec | null> = [];
let waiting: ((j: JobSpec | null) => void) | undefined;
let currentJob: JobSpec | undefined;
/** The apps under test's versions on this phone, read once (Allure parameters). */
let appVersions: Promise<Record<string, string>> | undefined;

function nextJob(): Promise<JobSpec | null> {
  const queued = inbox.shift();
  if (queued !== undefined) return Promise.resolve(queued);
  return new Promise((resolve) => (waiting = resolve));
}

function deliver(j: JobSpec | null): void {
  if (waiting) {
    const w = waiting;
    waiting = undefined;
    w(j);
  } else inbox.push(j);
}

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

/** The job's Allure slot: that of the phone it was scheduled on (`<scenario index>:<serial>`). */
function slotOf(job: JobSpec): number {
  return phone?.init.profileSlots?.[job.id.slice(job.id.indexOf(':') + 1)] ?? 1;
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

async function setUp(init: WorkerInit): Promise<void> {
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
    log,
  });
  const state: PhoneState = { init, device, ca, hostPort: await freePort(), capture, identifiers: [] };
  phone = state;
  state.fingerprint = await device.fingerprint();
  state.identifiers = await readIdentifiers(device);
  // PhoneCapture.open first restores what a dead worker of this phone left (from the journal).
  await capture.open({ hostPort: state.hostPort });
  if (stopping) return;
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
function tearDown(opts: { waitForPhoneMs?: number } = {}): Promise<void> {
  tearingDown ??= (async () => {
    const s = phone;
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
        if (s.init.phone.connect && Date.now() >= nextConnect) {
          nextConnect = Date.now() + 3000;
          const r = await reconnectPhone(s.init.phone).catch((err: unknown) => ({
            ok: false,
            problem: errText(err),
          }));
          log(`${s.init.phone.serial}: adb connect: ${r.ok ? 'back' : (r.problem ?? 'not back yet')}`);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const report = (await s.capture.close()) ?? { ok: true, steps: [], problems: [] };
    log(
      report.ok
        ? `${s.init.phone.serial}: restored (${report.steps.join(', ') || 'nothing to undo'})`
        : `${s.init.phone.serial}: restore incomplete (${report.problems.join('; ')}); the next phonehome command retries from the journal`,
    );
  })();
  return tearingDown;
}

/**
 * Interrupted: report the job at hand, restore within the bound, exit. A second signal exits at
 * once (the journal restores the phone at the next start); a repeated 'stop' or the parent going
 * away while restoring changes nothing.
 */
function stopNow(code: number, signal = false): void {
  if (stopping) {
    if (signal) process.exit(code);
    return;
  }
  stopping = true;
  if (currentJob && phone) {
    const r = baseResult(currentJob, 'broken', 'interrupted', 0);
    send({ type: 'result', jobId: currentJob.id, result: r, phoneLost: false });
  }
  const hard = setTimeout(() => process.exit(code), STOP_RESTORE_MS);
  hard.unref();
  void tearDown().finally(() => process.exit(code));
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

function baseResult(
  job: JobSpec,
  status: Verdict,
  message: string | undefined,
  durationMs: number,
): JobResult {
  const p = phone!.init.phone;
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
    fingerprint: fingerprintRecord(phone?.fingerprint, p),
    evidenceDir: evidenceDirOf(job),
    attempts: job.attempt,
  };
}

/** Runs one job under the current mocha test; returns its result and whether the phone was lost. */
async function runJob(job: JobSpec): Promise<{ result: JobResult; phoneLost: boolean }> {
  const s = phone!;
  const started = Date.now();
  const rel = evidenceDirOf(job);
  const dir = join(s.init.runDir, rel);
  mkdirSync(dir, { recursive: true });
  const p = s.init.phone;
  await allure.parentSuite(p.profile);
  await allure.suite(job.scenario.config.name);
  // Header labels and links, history keyed by scenario × profile; serial, firmware and app versions
  // as parameters left out of the history key (src/report/allure-labels.ts).
  appVersions ??= readAppVersions(s.device, appsUnderTest()).catch(() => ({}));
  const meta = allureMeta(
    job.scenario.config,
    {
      serial: p.serial,
      profile: p.profile,
      fingerprint: fingerprintRecord(s.fingerprint, p),
      // The slot of the phone the job was scheduled on (JobSpec.id: `<scenario>:<serial>`), not of
      // this one: a job moved to a twin must not share the twin's own job's Allure key.
      ...(slotOf(job) > 1 ? { slot: slotOf(job) } : {}),
    },
    s.init.links ?? {},
    await appVersions,
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
    const filmstrip = s.init.screenshots === 'steps' ? stepScreenshots(s, dir) : undefined;
    const rep: StepReporter = {
      step: filmstrip
        ? (name, fn) => allure.step(name, () => filmstrip(name, fn))
        : (name, fn) => allure.step(name, () => fn()),
      attach: (name, content, contentType) => {
        void Promise.resolve(allure.attachment(name, content, contentType)).catch(() => undefined);
      },
      log: (line) => log(`${p.serial}: ${line}`),
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
        runId: s.init.runId,
        controls,
        ...(s.init.keys
          ? {
              keys: Object.fromEntries(
                Object.entries(s.init.keys).map(([k, v]) => [k, Buffer.from(v, 'hex')]),
              ),
            }
          : {}),
        ...(s.init.stepTimeoutMs ? { stepTimeoutMs: s.init.stepTimeoutMs } : {}),
        ...(s.init.locatorOverrides ? { locatorOverrides: loadOverrides(s.init.locatorOverrides) } : {}),
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
  const phoneLost = outcome.status === 'broken' && !stopping && !(await answers(s.device));
  const fp = fingerprintRecord(s.fingerprint, p);
  // Evidence, best effort: a failing attachment must not hide the verdict.
  await evidence(async () => {
    writeFileSync(join(dir, 'fingerprint.json'), `${JSON.stringify(fp, null, 2)}\n`);
    await allure.attachment('fingerprint.json', JSON.stringify(fp, null, 2), 'application/json');
  });
  await evidence(async () => {
    const findings = JSON.stringify(outcome.findings ?? [], null, 2);
    writeFileSync(join(dir, 'findings.json'), `${findings}\n`);
    await allure.attachment('findings.json', findings, 'application/json');
  });
  await evidence(() => allure.attachmentPath('capture.har', join(dir, 'capture.har'), 'application/json'));
  await evidence(async () => {
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
    await evidence(async () => {
      const png = await s.ui!.screenshot({ timeoutMs: 5000 });
      writeFileSync(join(dir, 'screenshot.png'), png);
      await allure.attachment('screenshot.png', png, 'image/png');
    });
    await evidence(async () => {
      // The UI hierarchy beside the screenshot (what `phonehome ui locate` searches; issue 11 §1).
      const xml = await s.ui!.source({ timeoutMs: 5000 });
      writeFileSync(join(dir, 'hierarchy.xml'), xml);
      await allure.attachment('hierarchy.xml', xml, 'application/xml');
    });
    await evidence(async () => {
      const logcat = await s.device.shell('logcat -d -t 300', { timeoutMs: 5000 });
      writeFileSync(join(dir, 'logcat.txt'), logcat.stdout);
      await allure.attachment('logcat.txt', logcat.stdout, 'text/plain');
    });
  }
  const result: JobResult = {
    ...baseResult(job, outcome.status, outcome.message, Date.now() - started),
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
function stepScreenshots(s: PhoneState, dir: string): <T>(name: string, fn: () => Promise<T>) => Promise<T> {
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
    if (!frame.parent && s.ui && !stopping) {
      await evidence(async () => {
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

async function evidence(fn: () => Promise<unknown> | PromiseLike<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    log(`evidence: ${errText(err)}`);
  }
}

/** A mocha suite (the scenario) with one test (this phone) for `job`. */
function jobSuite(root: Mocha.Suite, job: JobSpec): Mocha.Suite {
  const suite = new Mocha.Suite(job.scenario.config.name, root.ctx);
  suite.timeout(0);
  let outcome: { result: JobResult; phoneLost: boolean } | undefined;
  const test = new Mocha.Test(
    `${job.scenario.config.name} on ${phone!.init.phone.profile} (${job.phone})`,
    async function (this: Mocha.Context) {
      currentJob = job;
      try {
        outcome = await runJob(job);
      } finally {
        currentJob = undefined;
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
    if (stopping) return;
    const o = outcome ?? {
      result: baseResult(job, 'broken', 'the test did not run', 0),
      phoneLost: false,
    };
    send({ type: 'result', jobId: job.id, result: o.result, phoneLost: o.phoneLost });
    // No next suite: mocha ends after this one, and the worker restores the phone and exits.
    if (o.phoneLost) return;
    const next = await nextJob();
    if (next && !stopping) root.addSuite(jobSuite(root, next));
  });
  return suite;
}

async function main(): Promise<void> {
  process.on('SIGINT', () => stopNow(130, true));
  process.on('SIGTERM', () => stopNow(143, true));
  process.on('disconnect', () => stopNow(130));
  const gotInit = new Promise<WorkerInit>((resolve) => {
    process.on('message', (m: ParentMessage) => {
      if (m.type === 'init') resolve(m);
      else if (m.type === 'job') deliver(m.job);
      else if (m.type === 'done') deliver(null);
      else if (m.type === 'stop') stopNow(130);
    });
  });
  const init = await gotInit;
  try {
    await setUp(init);
  } catch (err) {
    send({ type: 'setup-failed', message: errText(err) });
    await tearDown({ waitForPhoneMs: LOST_WAIT_MS });
    process.exit(1);
  }
  if (stopping) return;
  send({ type: 'ready' });
  const first = await nextJob();
  if (first && !stopping) {
    const mocha = new Mocha({
      reporter: 'allure-mocha',
      reporterOptions: { resultsDir: join(init.runDir, 'allure-results') },
      timeout: 0,
    });
    const root = mocha.suite;
    root.timeout(0);
    await new Promise<void>((resolve) => {
      root.addSuite(jobSuite(root, first));
      mocha.run(() => resolve());
    });
  }
  if (stopping) return;
  await tearDown({ waitForPhoneMs: LOST_WAIT_MS });
  process.exit(0);
}

void main();
