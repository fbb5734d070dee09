/**
 * Runs one Scenario on one phone (issues 6 and 10): fresh canaries, the steps through the step table
 * (steps.ts: each row's `run`, under the row's time limit) and the page objects (src/ui/pages; never
 * screen coordinates), every capture record since the scenario's start analysed (decode + detect),
 * and the assertions over them.
 *
 * Verdicts:
 * - `skipped`: `when` does not match the phone (profile, OS, region, root, an installed app);
 * - `failed`: an assertion did not hold (a leak is visible: the canary or identifier with its
 *   provenance path is enough), or a step could not do what it asked for a reason that is the phone's
 *   or the scenario's (a UiError that is not a timeout, e.g. a switch this browser lacks);
 * - `broken`: the harness cannot tell. For a negative check (assertNoUpload, assertNoRequest) that is
 *   whenever one of these does not hold (ARCHITECTURE.md "Verdicts"):
 *   - seen: the liveness probe proved that the phone's traffic reaches the capture;
 *   - complete: nothing the scenario's apps sent went around the capture (per-UID accounting on every
 *     phone, iptables owner rules on rooted ones: `PhoneSession.bypass`);
 *   - readable: every record in scope was decoded to the end (no TLS failure, opaque or cut payload);
 *   - waited: the channel had its chance (background, a relaunch of the scenario's apps when a channel
 *     in scope keeps a persistent queue, and a trailing window from the control's measured delay or
 *     the catalogue's per-tracker `upload.delayMs`);
 *   - controlled: a `control:` it names showed the channel carrying decodable data on this phone in
 *     this run (an assertUpload with that `id`, earlier here or in an earlier scenario).
 *   A check that passed is looked at again when the scenario ends, after the toggles were put back:
 *   what arrived until then still counts. adb or phone failures, UI waits that ran out, steps past
 *   their time limit and capture errors are `broken` too;
 * - `passed` otherwise. An `optional` step's failure is recorded and the scenario goes on; any other
 *   failure ends the scenario (the steps left are recorded as skipped).
 *
 * Evidence attached through the reporter: a screenshot, the UI hierarchy and the logcat tail on a failing step, the
 * findings (the exchanges with findings, probe excluded) at the end.
 */
import { randomBytes } from 'node:crypto';
import type { BypassMonitor, BypassReport, TrafficSnapshot } from '../capture/bypass.ts';
import type { CaptureSession } from '../capture/session.ts';
import type { Wiring } from '../capture/wiring.ts';
import { loadCatalogue, type Catalogue, type Identifier } from '../detect/index.ts';
import { sharedAnalysisPool, type AnalysisPool } from '../detect/pool.ts';
import { DeviceUnavailableError, type Device, type Fingerprint } from '../device/index.ts';
import type { InspectedExchange } from '../detect/pipeline.ts';
import type { StepResult } from '../report/run-folder.ts';
import {
  Launcher,
  loadLocators,
  MiBrowser,
  MiuiSettings,
  StatusBar,
  targetOf,
  type LocatorData,
  type PageOptions,
} from '../ui/pages/index.ts';
import { phoneLocators, type LoadedOverrides } from '../ui/pages/overrides.ts';
import { hostMatches } from '../util/hosts.ts';
import {
  checkNoRequest,
  checkNoUpload,
  checkUpload,
  describeDestination,
  type ChannelProof,
  type CheckContext,
  type CheckResult,
  type UploadArgs,
} from './assertions.ts';
import { makeCanaries, resolveArgs, type RefScope } from './canaries.ts';
import { messageOf, StepFailed, StepBroken, verdictOf, withTimeout } from './errors.ts';
import { Evidence } from './evidence.ts';
import { PROBE_HOST, probeLiveness } from './liveness.ts';
import type { StepRuntime, StepTimings } from './runtime.ts';
import { describeStep, STEPS } from './steps.ts';
import { clearInterstitial } from '../ui/pages/interstitials.ts';
import { MIUI_TOGGLE_KEYS, readMiuiToggle, readToggle, setToggle } from './toggles.ts';
import type { Scenario, ScenarioConfig, Step, ToggleName, Verdict } from './types.ts';

export { PROBE_HOST } from './liveness.ts';
export { describeStep } from './steps.ts';

export type { BypassMonitor, BypassReport } from '../capture/bypass.ts';

export interface PhoneSession {
  serial: string;
  device: Device;
  ui: import('../ui/driver.ts').UiDriver;
  profile: string;
  fingerprint: Fingerprint;
  /** readIdentifiers(device). */
  identifiers: Identifier[];
  /** Already wired; the runner restores it. */
  capture: CaptureSession;
  wiring: Wiring;
  /**
   * The wiring's bypass monitor. Without one, no negative check can pass (nothing proves that the
   * apps' traffic went through the capture).
   */
  bypass?: BypassMonitor;
}

export interface StepReporter {
  /** A PromiseLike, so allure-js-commons' `step` fits as it is. */
  step<T>(name: string, fn: () => Promise<T>): PromiseLike<T>;
  attach(name: string, content: Buffer | string, contentType: string): void;
  log(line: string): void;
}

export interface ScenarioOutcome {
  status: Verdict;
  message?: string;
  steps: StepResult[];
  canaries: Record<string, string>;
  hosts: string[];
  trackers: string[];
  /** The exchanges with findings, from analyseRecord (the liveness probe's left out). */
  findings: InspectedExchange[];
}

/** What a positive control (assertUpload with `id`) showed, kept for the negative checks that name it. */
export interface ControlRecord {
  id: string;
  /** Where it ran: the scenario's file and step path. */
  where: string;
  status: 'passed' | 'failed' | 'broken';
  message: string;
  proof?: ChannelProof;
  /** From the step that first produced the channel's data (canary planted, first action) to the upload. */
  delayMs?: number;
}

/** Controls of this phone in this run (the worker keeps one per phone; a scenario adds its own). */
export type ControlRegistry = Map<string, ControlRecord>;

export interface RunScenarioOptions {
  /** For `${env.NAME}`. */
  env?: NodeJS.ProcessEnv;
  /** Part of every canary, so a canary points back to its run. */
  runId?: string;
  /** Time limit of each step (default 120 s), added to a step's own wait (wait, background, probe). */
  stepTimeoutMs?: number;
  /** background / before a negative assertion: how long the capture must be quiet (default 1500 ms). */
  quietMs?: number;
  /** …and the most to wait for that (default 15 s). */
  settleTimeoutMs?: number;
  /** How long the liveness probe waits for its request (default 15 s). */
  probeTimeoutMs?: number;
  /** The longest trailing window a negative check waits for a late upload (default 120 s). */
  maxTrailingMs?: number;
  /** Tracker catalogue (default: the shipped one). */
  catalogue?: Catalogue;
  /** Decryption keys by name (`mistat`, `sensors`, or a host pattern), as `phonehome run --key`. */
  keys?: Record<string, Buffer>;
  /** Where decode + detect run (default: the process's shared worker pool, src/detect/pool.ts). */
  analysisPool?: AnalysisPool;
  /** Positive controls of earlier scenarios on this phone in this run; this scenario's are added. */
  controls?: ControlRegistry;
  /** Locator data for this phone (locators.json + its firmware overrides: phoneLocators()); default: the shipped file. */
  locators?: LocatorData;
  /** Locator overrides (devices.json's file): those matching this phone apply, unless `locators` is given. */
  locatorOverrides?: LoadedOverrides;
}

const DEFAULTS: StepTimings = {
  stepTimeoutMs: 120_000,
  quietMs: 1500,
  settleTimeoutMs: 15_000,
  probeTimeoutMs: 15_000,
  maxTrailingMs: 120_000,
};

/** Packages the harness never relaunches (the home screen and the status bar restart by themselves). */
const NOT_RELAUNCHED = new Set(['com.miui.home', 'com.android.systemui']);

/** A step ended the scenario (or its flow): carries the verdict up through the enclosing steps. */
class Halt extends Error {
  constructor(
    readonly verdict: 'failed' | 'broken',
    readonly detail: string,
    readonly step: Step,
    readonly stepName: string,
    cause?: unknown,
  ) {
    // Allure reads "assert" in the name or message as `failed`; broken messages must not say it.
    super(verdict === 'failed' ? detail : detail.replace(/assert/gi, 'check'), { cause });
    this.name = verdict === 'failed' ? 'AssertionError' : 'StepBroken';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Why the scenario does not apply to this phone, or undefined when it does. */
export async function whenMismatch(
  when: ScenarioConfig['when'],
  phone: Pick<PhoneSession, 'profile' | 'fingerprint' | 'device'>,
): Promise<string | undefined> {
  if (!when) return undefined;
  const f = phone.fingerprint;
  if (when.profiles && !when.profiles.includes(phone.profile))
    return `runs only on profiles ${when.profiles.join(', ')}; this phone is ${phone.profile}`;
  if (when.os && !(when.os as string[]).includes(f.os.name))
    return `runs only on ${when.os.join(', ')}; this phone runs ${f.os.name}`;
  if (when.region && !when.region.includes(f.region))
    return `runs only in region ${when.region.join(', ')}; this phone is ${f.region}`;
  if (when.rooted !== undefined && when.rooted !== f.rooted)
    return `runs only on ${when.rooted ? 'rooted' : 'unrooted'} phones; this one is ${f.rooted ? 'rooted' : 'not rooted'}`;
  if (when.app && !(await installed(phone.device, when.app)))
    return `needs ${when.app}, which is not installed on this phone`;
  return undefined;
}

async function installed(device: Pick<Device, 'shell'>, pkg: string): Promise<boolean> {
  const r = await device.shell(['pm', 'path', pkg]);
  return r.exitCode === 0 && r.stdout.includes('package:');
}

/** A negative check that passed: looked at again when the scenario ends. */
interface PassedNegative {
  step: Step;
  args: Record<string, unknown>;
  /** The evidence window's start when it was judged. */
  windowFrom: number;
}

/** One reason a negative check cannot pass, and what to do about it. */
type Unproven = string;

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

class Run implements StepRuntime {
  readonly steps: StepResult[] = [];
  /** The page objects' "locator KEY matched [i] …" lines, each once (attached to the report). */
  readonly matchedLocators = new Set<string>();
  /** locators.json with this phone's firmware overrides applied (opts.locators), else the shipped file. */
  readonly locators: LocatorData;
  readonly settings: MiuiSettings;
  readonly launcher: Launcher;
  readonly statusBar: StatusBar;
  private browserPkg: string | undefined;
  private probes = 0;
  /** A probe succeeded and no action step ran since. */
  private live = false;
  private screenshots = 0;
  readonly t: StepTimings;
  /** Apps the scenario drove. */
  private readonly used = new Set<string>();
  /** Hosts the scenario addressed itself. */
  readonly addressed: string[] = [PROBE_HOST];
  /** Date.now() when a step first used each canary value. */
  readonly plantedAt = new Map<string, number>();
  /** Date.now() of the first action step since the evidence window started. */
  private firstActionAt: number | undefined;
  /** Action steps run so far, and the count when the scenario's apps were last relaunched. */
  private actions = 0;
  private relaunchedAtAction = -1;
  /** The bypass monitor's snapshot at the scenario's start. */
  bypassStart: TrafficSnapshot | undefined;
  bypassStartError: string | undefined;
  readonly passedNegatives: PassedNegative[] = [];

  constructor(
    private readonly phone: PhoneSession,
    private readonly rep: StepReporter,
    readonly evidence: Evidence,
    readonly check: CheckContext,
    private readonly env: Readonly<Record<string, string | undefined>>,
    private readonly controls: ControlRegistry,
    private readonly scenarioFile: string,
    opts: RunScenarioOptions,
  ) {
    this.t = {
      stepTimeoutMs: opts.stepTimeoutMs ?? DEFAULTS.stepTimeoutMs,
      quietMs: opts.quietMs ?? DEFAULTS.quietMs,
      settleTimeoutMs: opts.settleTimeoutMs ?? DEFAULTS.settleTimeoutMs,
      probeTimeoutMs: opts.probeTimeoutMs ?? DEFAULTS.probeTimeoutMs,
      maxTrailingMs: opts.maxTrailingMs ?? DEFAULTS.maxTrailingMs,
    };
    this.locators = opts.locators ?? loadLocators();
    // The phone's shell resolves Settings actions, reads the UI language and reads toggles back.
    this.settings = new MiuiSettings(phone.ui, { ...this.pageOptions(), device: phone.device });
    this.launcher = new Launcher(phone.ui, this.pageOptions());
    this.statusBar = new StatusBar(phone.ui, this.pageOptions());
  }

  get ui() {
    return this.phone.ui;
  }
  get device() {
    return this.phone.device;
  }
  log(line: string): void {
    this.rep.log(line);
  }
  sleep(ms: number): Promise<void> {
    return sleep(ms);
  }
  use(pkg: string): void {
    this.used.add(pkg);
  }
  address(hostPattern: string): void {
    if (!this.addressed.includes(hostPattern)) this.addressed.push(hostPattern);
  }
  reportStep<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return Promise.resolve(this.rep.step(name, fn));
  }
  retryable(err: unknown): boolean {
    return !(err instanceof Halt && err.cause instanceof DeviceUnavailableError);
  }

  // ------------------------------------------------------------------ flow

  /** Runs a list of steps; a non-optional failure ends it (Halt). `top`: record the steps left as skipped. */
  async list(steps: readonly Step[], vars: Record<string, string>, top = false): Promise<void> {
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      try {
        await this.one(step, vars);
      } catch (err) {
        if (step.optional) continue;
        if (top)
          for (const rest of steps.slice(i + 1))
            this.steps.push({
              name: describeStep(rest),
              path: rest.path,
              status: 'skipped',
              message: `not run: ${step.path} ${err instanceof Halt ? err.verdict : 'broken'}`,
              durationMs: 0,
            });
        throw err;
      }
    }
  }

  /** Runs one step as a reporter step; records its StepResult; throws Halt when it fails. */
  private async one(step: Step, vars: Record<string, string>): Promise<void> {
    const name = describeStep(step);
    const result: StepResult = { name, path: step.path, status: 'passed', durationMs: 0 };
    this.steps.push(result);
    const started = Date.now();
    try {
      await this.rep.step(name, async () => {
        try {
          await this.body(step, name, vars);
        } catch (err) {
          if (err instanceof Halt) throw err; // a nested step's: already recorded and attached
          const verdict = verdictOf(err);
          await this.failureEvidence(step, err);
          throw new Halt(verdict, messageOf(err), step, name, err);
        }
      });
    } catch (err) {
      const halt = err instanceof Halt ? err : new Halt('broken', messageOf(err), step, name);
      result.status = halt.verdict;
      result.message = halt.step === step ? halt.detail : `${halt.step.path}: ${halt.detail}`;
      if (step.optional) this.rep.log(`${step.path} (optional) ${halt.verdict}: ${halt.detail}`);
      throw halt;
    } finally {
      result.durationMs = Date.now() - started;
    }
  }

  private async body(step: Step, name: string, vars: Record<string, string>): Promise<void> {
    const scope: RefScope = { vars, env: this.env, canaries: this.check.canaries };
    const args = resolveArgs(step.args, scope);
    const spec = STEPS[step.name];
    if (spec.kind === 'flow') return spec.run(this, args, step, vars);
    if (spec.kind === 'action') this.actionStarted(args);
    const limit = this.t.stepTimeoutMs + (spec.extraMs?.(args, this.t) ?? 0);
    await withTimeout(name, limit, () => spec.run(this, args, step, vars));
  }

  /** An action step starts: the probe must run again, and the canaries it uses are planted now. */
  private actionStarted(args: Record<string, unknown>): void {
    const now = Date.now();
    this.live = false;
    this.actions++;
    this.firstActionAt ??= now;
    const text = JSON.stringify(args);
    for (const value of Object.values(this.check.canaries))
      if (!this.plantedAt.has(value) && text.includes(value)) this.plantedAt.set(value, now);
  }

  // ------------------------------------------------------------------ actions

  async launchApp(app: string): Promise<void> {
    const pkg =
      app === 'browser'
        ? await this.browserPackage()
        : app === 'settings'
          ? (this.locators.apps.settings?.packages[0] ?? 'com.android.settings')
          : app;
    this.use(pkg);
    await this.phone.device.shellOk(['am', 'force-stop', pkg]);
    if (app === 'browser') return (await this.browser()).launch();
    if (app === 'settings') return this.settings.openMain();
    await this.startLauncherActivity(pkg);
  }

  private async startLauncherActivity(pkg: string): Promise<void> {
    const r = await this.phone.device.shell([
      'cmd',
      'package',
      'resolve-activity',
      '--brief',
      '-c',
      'android.intent.category.LAUNCHER',
      pkg,
    ]);
    const component = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.trim())
      .reverse()
      .find((l) => /^[\w.]+\/[\w.$]+$/.test(l));
    if (r.exitCode !== 0 || !component)
      throw new StepFailed(`launchApp ${pkg}: the phone has no launcher activity for it (is it installed?)`);
    await this.phone.ui.startActivity(component);
  }

  async swipe(direction: 'left' | 'right' | 'up' | 'down'): Promise<void> {
    const ui = this.phone.ui;
    const onHome =
      (direction === 'left' || direction === 'right') &&
      (await ui.query(targetOf(this.locators, 'launcher.pageIndicator'))) !== null;
    if (onHome) {
      this.use('com.miui.home');
      const cur = await this.launcher.currentScreen();
      const target = cur.index + (direction === 'left' ? 1 : -1);
      if (target >= 0 && target < cur.count) return this.launcher.swipeToScreen(target);
    }
    await ui.swipeScreen(direction);
  }

  async openFolder(name: string): Promise<void> {
    this.use('com.miui.home');
    if (!(await this.phone.ui.query(targetOf(this.locators, 'launcher.workspace'))))
      await this.launcher.goHome();
    await this.launcher.openFolder(name);
  }

  async background(): Promise<void> {
    const pressed = Date.now();
    await this.launcher.goHome();
    const quiet = await this.evidence.waitQuiet(this.t.quietMs, pressed + this.t.settleTimeoutMs, pressed);
    this.rep.log(
      quiet
        ? `background: capture quiet for ${this.t.quietMs} ms after ${Date.now() - pressed} ms`
        : `background: uploads still arriving after ${this.t.settleTimeoutMs} ms; going on`,
    );
  }

  async startEvidence(): Promise<void> {
    // Let what is already on its way land first, so it falls before the window.
    await this.evidence.waitQuiet(this.t.quietMs, Date.now() + this.t.settleTimeoutMs);
    await this.evidence.settled();
    this.evidence.markWindow();
    this.firstActionAt = undefined;
  }

  // ------------------------------------------------------------------ assertions

  private ctxNow(): CheckContext {
    return {
      ...this.check,
      addressed: [...this.addressed],
      plantedAt: new Map(this.plantedAt),
      scenarioStartedAt: this.evidence.startedAt,
    };
  }

  private verdict(r: { status: 'passed' | 'failed' | 'broken'; message: string }): void {
    this.rep.log(`${r.status}: ${r.message}`);
    if (r.status === 'failed') throw new StepFailed(r.message);
    if (r.status === 'broken') throw new StepBroken(r.message);
  }

  private async settle(): Promise<void> {
    await this.evidence.waitQuiet(this.t.quietMs, Date.now() + this.t.settleTimeoutMs);
  }

  /** The liveness probe, unless one passed and only assertions ran since. */
  private async ensureLive(): Promise<void> {
    await this.settle();
    if (this.live) return;
    await probeLiveness(
      {
        ui: this.phone.ui,
        device: this.phone.device,
        wiring: this.phone.wiring,
        evidence: this.evidence,
        locators: this.locators,
        browserPackage: await this.browserPackage(),
        timeoutMs: this.t.probeTimeoutMs,
        log: (l) => this.rep.log(l),
      },
      ++this.probes,
    );
    this.live = true;
  }

  async positive(step: Step, args: Record<string, unknown>): Promise<void> {
    const a = args as unknown as UploadArgs;
    await this.settle();
    await this.evidence.settled();
    let r = checkUpload(a, this.evidence.window(), this.ctxNow());
    // Apps of the scenario already went around the capture: their channel is not this one.
    if (r.status === 'failed' && this.phone.bypass) await this.bypassProblems();
    if (r.status === 'failed' && this.appLeaks === 0) {
      // Not there yet: the channel may flush late (a persistent queue at the next launch, a long
      // interval). Give it the same chance a negative check gives it before calling it missing, and
      // stop waiting as soon as it shows.
      await this.giveChannelItsChance(
        a,
        undefined,
        () => checkUpload(a, this.evidence.window(), this.ctxNow()).status === 'passed',
      );
      await this.evidence.settled();
      r = checkUpload(a, this.evidence.window(), this.ctxNow());
    }
    // A missing upload may sit in an exchange that could not be analysed: that is no failure.
    const unanalysed = this.evidence.analysisProblem();
    if (r.status === 'failed' && unanalysed)
      r = { ...r, status: 'broken', message: `${r.message}; ${unanalysed}` };
    let final: CheckResult = r;
    if (r.status !== 'passed') {
      // A missing upload with a dead capture says nothing about the phone: probe to tell them apart.
      try {
        await this.ensureLive();
        const around = await this.bypassProblems();
        if (around.length && this.phone.bypass)
          final = { ...r, message: `${r.message}; meanwhile:\n- ${around.join('\n- ')}` };
      } catch (err) {
        final = { status: 'broken', message: messageOf(err) };
      }
    }
    if (a.id !== undefined) {
      const reference =
        a.containing === 'canary' ? this.canaryReference() : (this.firstActionAt ?? this.evidence.startedAt);
      const rec: ControlRecord = {
        id: a.id,
        where: `${this.scenarioFile} ${step.path}`,
        status: final.status,
        message: final.message,
        ...(r.proof ? { proof: r.proof } : {}),
        ...(r.proof && reference !== undefined ? { delayMs: Math.max(0, r.proof.lastAt - reference) } : {}),
      };
      this.controls.set(a.id, rec);
      if (rec.delayMs !== undefined)
        this.rep.log(
          `control ${a.id}: the channel (${r.proof!.hosts.join(', ')}) carried it ${rec.delayMs} ms after it was produced`,
        );
    }
    this.verdict(final);
  }

  /** When the scenario first used a canary (undefined: none yet). */
  private canaryReference(): number | undefined {
    const times = [...this.plantedAt.values()];
    return times.length ? Math.min(...times) : undefined;
  }

  /** The negative verdict: seen, complete, readable, waited, controlled (see the module comment). */
  async negative(step: Step, args: Record<string, unknown>): Promise<void> {
    const isRequest = step.name === 'assertNoRequest';
    const a = args as unknown as UploadArgs & { host?: string };
    const scopeArgs: UploadArgs = isRequest ? { to: 'host', value: String(a.host), containing: 'any' } : a;
    // seen
    await this.ensureLive();
    // controlled (read first: its measured delay sets the trailing window)
    const control = a.control !== undefined ? this.controls.get(a.control) : undefined;
    const controlProblem = a.control !== undefined ? this.controlProblem(a.control, control) : undefined;
    // complete, as far as it is known now: a check that cannot pass need not wait
    const early = controlProblem ? [] : await this.bypassProblems();
    // waited
    if (!controlProblem && early.length === 0) await this.giveChannelItsChance(scopeArgs, control);
    else
      this.rep.log(
        `not waiting for late uploads: this check cannot pass (${controlProblem ?? early[0]!})`.split(
          '. Fix:',
        )[0]!,
      );
    // readable + the records' own verdict
    await this.evidence.settled();
    const ctx = this.ctxNow();
    const records = isRequest
      ? checkNoRequest(String(a.host), this.evidence.window(), ctx)
      : checkNoUpload(a, this.evidence.window(), ctx);
    if (records.status === 'failed') return this.verdict(records);
    const unproven: Unproven[] = [];
    if (records.status === 'broken') unproven.push(records.message.replace(/^cannot prove that [^:]*: /, ''));
    // complete
    unproven.push(...(early.length ? early : await this.bypassProblems()));
    // readable: every exchange captured was analysed
    const unanalysed = this.evidence.analysisProblem();
    if (unanalysed) unproven.push(unanalysed);
    // controlled
    if (controlProblem) unproven.push(controlProblem);
    // waited
    unproven.push(...this.relaunchProblems);
    if (unproven.length) {
      const what = isRequest
        ? `no request to ${String(a.host)}`
        : `${describeDestination(a)} received nothing it must not`;
      return this.verdict({
        status: 'broken',
        message: `cannot prove that ${what}:\n- ${unproven.join('\n- ')}`,
      });
    }
    this.passedNegatives.push({ step, args, windowFrom: this.evidence.windowStart });
    const controlNote = control ? `; control ${control.id} showed the channel (${control.where})` : '';
    this.verdict({ status: 'passed', message: `${records.message}${controlNote}` });
  }

  private controlProblem(id: string, c: ControlRecord | undefined): Unproven | undefined {
    if (!c)
      return (
        `its control ${id} did not run on this phone before it in this run, so nothing shows that this channel can be seen at all. ` +
        `Fix: run the scenario that defines it (an upload check with \`id: ${id}\`) in the same run (phonehome run orders controls first), or put such a check earlier in this scenario`
      );
    if (c.status !== 'passed')
      return `its control ${id} (${c.where}) did not show the channel (${c.status}: ${c.message.split('\n')[0]}), so a silent channel here proves nothing. Fix: make the control pass first (is the capture decrypting this app? does the firmware still use this channel?)`;
    if (c.proof && !c.proof.decodable)
      return `its control ${id} (${c.where}) saw the channel only as undecodable traffic (${c.proof.hosts.join(', ')}), so the absence of the canary here proves nothing. Fix: give the decryption key (--key), or judge by host`;
    return undefined;
  }

  /** Traffic of the scenario's apps that went around the capture since the scenario started. */
  private async bypassProblems(): Promise<Unproven[]> {
    const monitor = this.phone.bypass;
    if (!monitor)
      return [
        'nothing measured the traffic that did not go through the capture (no bypass monitor on this wiring), so an app with its own sockets could have sent anything. Fix: wire the phone with phonehome run / phonehome capture',
      ];
    if (this.bypassStartError)
      return [
        `the per-UID traffic counters could not be read when the scenario started (${this.bypassStartError}), so traffic around the capture cannot be ruled out`,
      ];
    let report: BypassReport;
    try {
      if (!this.bypassStart) throw new Error('no snapshot was taken at the start');
      const now = await monitor.snapshot();
      report = await monitor.compare(this.bypassStart, now);
    } catch (err) {
      return [
        `the per-UID traffic counters could not be read (${messageOf(err)}), so traffic around the capture cannot be ruled out`,
      ];
    }
    return this.judgeBypass(report);
  }

  /** Packages whose traffic outside the capture counts against this scenario's negative checks. */
  private inScopePackages(): Set<string> {
    const pkgs = new Set(this.used);
    if (this.browserPkg) pkgs.add(this.browserPkg);
    for (const p of this.check.catalogue.senderApps()) pkgs.add(p);
    return pkgs;
  }

  /** Relaunches that failed (a negative check cannot claim that the channel had its chance). */
  private readonly relaunchProblems: Unproven[] = [];

  /** Scenario apps that went around the capture, at the last bypass judgement. */
  private appLeaks = 0;

  judgeBypass(report: BypassReport): Unproven[] {
    const how = report.checked.join(' and ') || 'nothing';
    const scope = this.inScopePackages();
    const mine = (pkgs: string[]): boolean => pkgs.length === 0 || pkgs.some((p) => scope.has(p));
    const name = (uid: number, pkgs: string[]): string =>
      pkgs.length ? `${pkgs.join(', ')} (uid ${uid})` : `uid ${uid}`;
    const apps: string[] = [];
    const others: string[] = [];
    for (const l of report.leaks) {
      const line = `${name(l.uid, l.packages)} sent ${l.txBytes} bytes in ${plural(l.txPackets, 'packet')} over ${l.ifaces.join(', ')} without going through the capture (seen by ${how})`;
      (mine(l.packages) ? apps : others).push(line);
    }
    for (const r of report.rejected) {
      const line = `${name(r.uid, r.packages)} tried to send ${r.bytes} bytes (${plural(r.packets, 'packet')}) around the capture; the harness's iptables rule rejected them, so what they held is unknown`;
      (mine(r.packages) ? apps : others).push(line);
    }
    for (const r of report.redirected)
      this.rep.log(
        `${name(r.uid, r.packages)} ignored the proxy: ${plural(r.connections, 'connection')} brought into the capture by the harness's iptables REDIRECT rule (their content is judged like any other upload)`,
      );
    if (others.length)
      this.rep.log(
        `traffic around the capture by apps this scenario does not drive (not judged): ${others.join('; ')}`,
      );
    this.appLeaks = apps.length;
    const out: Unproven[] = report.unavailable.map(
      (u) => `traffic around the capture could not be measured: ${u}`,
    );
    if (apps.length)
      out.push(
        ...apps,
        'Fix: the app ignores the system proxy (its own sockets, native code or a VPN). On a rooted phone phonehome redirects its TCP into the capture with iptables; on an unrooted one it can only count the bytes. Use a rooted phone, or judge its hosts by host',
      );
    return out;
  }

  /**
   * Gives the channels in scope their chance to upload before a negative verdict: relaunches the
   * scenario's apps when a channel keeps a persistent queue (it sends it at the next launch), sends
   * them to the background, and waits until the trailing window has passed (the control's measured
   * delay, else the catalogue's `upload.delayMs` for the trackers in scope).
   */
  private async giveChannelItsChance(
    a: UploadArgs,
    control: ControlRecord | undefined,
    seen?: () => boolean,
  ): Promise<void> {
    const timings = this.timingsInScope(a, control);
    const persistent = timings.some((t) => t.persistentQueue);
    const relaunch = [...this.used].filter((p) => !NOT_RELAUNCHED.has(p));
    // Once per action: a second check right after the first needs no second relaunch (the queue
    // went out at the first), but it does wait for its own window (below).
    if (persistent && relaunch.length && this.relaunchedAtAction !== this.actions && !seen?.()) {
      this.relaunchedAtAction = this.actions;
      for (const pkg of relaunch) {
        this.rep.log(
          `relaunching ${pkg}: a channel in scope keeps its queue across the app's process and sends it at the next start (${timings.find((t) => t.persistentQueue)!.source})`,
        );
        try {
          await this.phone.device.shellOk(['am', 'force-stop', pkg]);
          if (this.browserPkg === pkg) await (await this.browser()).launch();
          else if ((this.locators.apps.settings?.packages ?? []).includes(pkg))
            await this.settings.openMain();
          else await this.startLauncherActivity(pkg);
        } catch (err) {
          if (err instanceof DeviceUnavailableError) throw err;
          // Not the firmware's fault: the check cannot claim the queue had its chance.
          this.relaunchProblems.push(
            `${pkg} could not be relaunched (${messageOf(err)}), so a queue it keeps across its process may not have been sent yet. Fix: make sure the app starts from its launcher activity, or name a positive control`,
          );
        }
      }
      await this.background();
    }
    const reference =
      a.containing === 'canary' ? this.canaryReference() : (this.firstActionAt ?? this.evidence.startedAt);
    let delay: number;
    let why: string;
    if (control?.status === 'passed' && control.delayMs !== undefined) {
      delay = control.delayMs;
      why = `control ${control.id} measured ${control.delayMs} ms`;
    } else {
      delay = Math.max(...timings.map((t) => t.delayMs));
      why = `the catalogue's upload delay for ${describeDestination(a)} (${timings.find((t) => t.delayMs === delay)?.source ?? ''})`;
    }
    const window = Math.min(delay + Math.max(delay / 2, 2000), this.t.maxTrailingMs);
    const until = (reference ?? Date.now()) + window;
    const left = until - Date.now();
    if (left > 0 && !seen?.()) {
      this.rep.log(`waiting up to ${left} ms more for late uploads: ${why}, trailing window ${window} ms`);
      while (Date.now() < until && !seen?.()) await sleep(Math.min(250, until - Date.now()));
    }
    await this.settle();
  }

  /** The upload timings of the channels a check looks at. */
  private timingsInScope(a: UploadArgs, control: ControlRecord | undefined) {
    const cat = this.check.catalogue;
    if (control?.proof?.trackers.length) return control.proof.trackers.map((id) => cat.uploadOf(id));
    if (a.to === 'tracker' && a.value !== undefined) return [cat.uploadOf(a.value)];
    if (a.to === 'host' && a.value !== undefined) {
      const pattern = a.value;
      const entries = cat.entries.filter((e) =>
        e.hosts.some(
          (h) => hostMatches(pattern, h.replace(/^\*\./, '')) || hostMatches(h, pattern.replace(/^\*\./, '')),
        ),
      );
      return entries.length ? entries.map((e) => cat.uploadOf(e.id)) : [cat.defaultUpload];
    }
    if (a.to === 'vendor' && a.value !== undefined) {
      const want = a.value.toLowerCase();
      const entries = cat.entries.filter((e) => e.vendor.toLowerCase().startsWith(want));
      return [cat.defaultUpload, ...entries.map((e) => cat.uploadOf(e.id))];
    }
    return [cat.defaultUpload, ...cat.entries.map((e) => cat.uploadOf(e.id))];
  }

  /**
   * The scenario is over and the phone put back: what arrived since a negative check passed still
   * counts. Returns the verdict change, if any.
   */
  async recheck(): Promise<{ status: 'failed' | 'broken'; message: string } | undefined> {
    await this.evidence.settled();
    const ctx = this.ctxNow();
    for (const p of this.passedNegatives) {
      const records = this.evidence.observed.slice(p.windowFrom);
      const r =
        p.step.name === 'assertNoRequest'
          ? checkNoRequest(String(p.args.host), records, ctx)
          : checkNoUpload(p.args as unknown as UploadArgs, records, ctx);
      if (r.status !== 'passed')
        return {
          status: r.status,
          message: `${p.step.path} (${describeStep(p.step)}) passed, but before the phone was restored more arrived: ${r.message}`,
        };
    }
    if (this.passedNegatives.length) {
      const problems = await this.bypassProblems();
      if (problems.length)
        return {
          status: 'broken',
          message: `${this.passedNegatives[0]!.step.path} passed, but before the phone was restored traffic went around the capture:\n- ${problems.join('\n- ')}`,
        };
    }
    return undefined;
  }

  // ------------------------------------------------------------------ helpers

  /** The browser package the phone has: the first of locators.json apps.browser.packages installed. */
  async browserPackage(): Promise<string> {
    if (this.browserPkg) return this.browserPkg;
    const candidates = this.locators.apps.browser?.packages ?? [];
    for (const p of candidates) {
      if (await installed(this.phone.device, p)) return (this.browserPkg = p);
    }
    throw new StepFailed(
      `no Mi Browser on this phone (none of ${candidates.join(', ')} is installed); add \`when: {app: …}\` to the scenario`,
    );
  }

  private async browser(): Promise<MiBrowser> {
    return new MiBrowser(this.phone.ui, {
      ...this.pageOptions(),
      packageName: await this.browserPackage(),
    });
  }

  /**
   * What every page object of this run gets: the phone's locators, the step log, and waits of at
   * most half the step's time limit (so that a locator miss is reported as one, naming its key and
   * the closest elements, before the step itself runs out of time).
   */
  private pageOptions(): PageOptions {
    return {
      locators: this.locators,
      timeoutMs: Math.min(this.phone.ui.timeoutMs, Math.max(1000, Math.floor(this.t.stepTimeoutMs / 2))),
      log: (line) => {
        if (line.startsWith('locator ')) this.matchedLocators.add(line);
        this.rep.log(line);
      },
      // A dialog in front of a missing target: dismissed by a rule of interstitials.json, or reported.
      interstitials: (ui, log) => clearInterstitial(ui, log),
    };
  }

  async browserInFront(): Promise<MiBrowser> {
    const b = await this.browser();
    this.use(b.packageName);
    const bar = targetOf(this.locators, 'browser.addressBar', { browser: b.packageName });
    if (!(await this.phone.ui.query(bar))) await b.launch();
    return b;
  }

  async pageLoaded(b: MiBrowser): Promise<void> {
    await this.phone.ui.waitGone(targetOf(this.locators, 'browser.loading', { browser: b.packageName }));
  }

  /**
   * What each toggle was before the scenario first changed it: a MIUI toggle's raw settings value
   * (null = unset), the browser switch's state. restoreToggles() puts them back: the phone is borrowed.
   */
  private readonly originals = new Map<ToggleName, { raw: string | null } | { on: boolean }>();

  async setToggle(name: ToggleName, on: boolean): Promise<void> {
    if (name !== 'browser.incognitoDataCollection' && !this.originals.has(name)) {
      const k = MIUI_TOGGLE_KEYS[name];
      this.originals.set(name, { raw: await this.phone.device.getSetting(k.ns, k.key) });
    }
    const was = await setToggle(name, on, {
      browser: () => this.browserInFront(),
      settings: this.settings,
    });
    if (name === 'browser.incognitoDataCollection' && !this.originals.has(name))
      this.originals.set(name, { on: was });
    this.rep.log(`${name}: ${was ? 'on' : 'off'} → ${on ? 'on' : 'off'}`);
    if (name !== 'browser.incognitoDataCollection') {
      const now = await readMiuiToggle(this.phone.device, name);
      if (now.on !== on)
        throw new StepFailed(
          `${name}: the switch was turned ${on ? 'on' : 'off'}, but ${now.source} reads ${now.on ? 'on' : 'off'}`,
        );
    }
  }

  get changedToggles(): number {
    return this.originals.size;
  }

  /** Puts every toggle the scenario changed back as it was found; returns what could not be restored. */
  async restoreToggles(): Promise<string[]> {
    const problems: string[] = [];
    for (const [name, was] of [...this.originals].reverse()) {
      try {
        if ('raw' in was) {
          const k = MIUI_TOGGLE_KEYS[name as keyof typeof MIUI_TOGGLE_KEYS];
          if (was.raw === null) await this.phone.device.deleteSetting(k.ns, k.key);
          else await this.phone.device.putSetting(k.ns, k.key, was.raw);
        } else {
          await setToggle(name, was.on, { browser: () => this.browserInFront(), settings: this.settings });
        }
        this.rep.log(`${name}: put back as found`);
      } catch (err) {
        problems.push(`${name}: ${messageOf(err)}`);
      }
    }
    this.originals.clear();
    return problems;
  }

  async assertToggle(name: ToggleName, on: boolean): Promise<void> {
    const r = await readToggle(name, this.phone.device, () => this.browserInFront());
    if (r.on === undefined) throw new StepFailed(`${name}: ${r.source}`);
    const msg = `${name} is ${r.on ? 'on' : 'off'} (${r.source})`;
    if (r.on !== on) throw new StepFailed(`${msg}; expected ${on ? 'on' : 'off'}`);
    this.rep.log(msg);
  }

  /** A screenshot and the logcat tail of a failing step (best effort, bounded; not for a lost phone). */
  private async failureEvidence(step: Step, err: unknown): Promise<void> {
    if (err instanceof DeviceUnavailableError || this.screenshots >= 3) return;
    this.screenshots++;
    const tag = step.path.replace(/[^\w.-]+/g, '_');
    try {
      this.rep.attach(
        `screenshot ${tag}.png`,
        await this.phone.ui.screenshot({ timeoutMs: 5000 }),
        'image/png',
      );
    } catch (e) {
      this.rep.log(`screenshot failed: ${messageOf(e)}`);
    }
    try {
      // The UI hierarchy beside the screenshot: what `phonehome ui locate` would search (issue 11 §1).
      const xml = await this.phone.ui.source({ timeoutMs: 5000 });
      this.rep.attach(`hierarchy ${tag}.xml`, xml, 'application/xml');
    } catch (e) {
      this.rep.log(`hierarchy failed: ${messageOf(e)}`);
    }
    try {
      const r = await this.phone.device.shell(['logcat', '-d', '-t', '200'], { timeoutMs: 5000 });
      if (r.exitCode === 0) this.rep.attach(`logcat ${tag}.txt`, r.stdout, 'text/plain');
    } catch (e) {
      this.rep.log(`logcat failed: ${messageOf(e)}`);
    }
  }
}

export async function runScenario(
  s: Scenario,
  phone: PhoneSession,
  rep: StepReporter,
  opts: RunScenarioOptions = {},
): Promise<ScenarioOutcome> {
  const canaries = makeCanaries(s.config.canaries, opts.runId);
  const outcome = (
    status: Verdict,
    message: string | undefined,
    run?: Run,
    ev?: Evidence,
  ): ScenarioOutcome => ({
    status,
    ...(message !== undefined ? { message } : {}),
    steps: run?.steps ?? [],
    canaries,
    hosts: ev?.hosts() ?? [],
    trackers: ev?.trackers() ?? [],
    findings: ev?.findings() ?? [],
  });
  let skip: string | undefined;
  try {
    skip = await whenMismatch(s.config.when, phone);
  } catch (err) {
    return outcome('broken', `could not check \`when\` on the phone: ${messageOf(err)}`);
  }
  if (skip) {
    rep.log(`skipped: ${skip}`);
    return outcome('skipped', skip);
  }
  for (const [name, value] of Object.entries(canaries)) rep.log(`canary ${name} = ${value}`);

  const probeToken = `phprobe${randomBytes(6).toString('hex')}`;
  const values = Object.values(canaries);
  // Built here first (a bad canary throws now), then in each analysis worker once.
  const analyser = (opts.analysisPool ?? sharedAnalysisPool()).analyser({
    canaries: [...values, probeToken],
    identifiers: phone.identifiers,
    ...(opts.keys ? { keys: opts.keys } : {}),
  });
  const evidence = new Evidence(phone.capture, analyser, PROBE_HOST, probeToken, new Set(values));
  const check: CheckContext = {
    catalogue: opts.catalogue ?? loadCatalogue(),
    canaries,
    caMethod: phone.wiring.caMethod,
    coverage: phone.wiring.coverage,
    addressed: [],
    plantedAt: new Map(),
  };
  const env = opts.env ?? {};
  evidence.start();
  const locators =
    opts.locators ??
    (opts.locatorOverrides
      ? await phoneLocators(phone.device, phone.fingerprint, opts.locatorOverrides, {
          log: (l) => rep.log(l),
        })
      : undefined);
  const run = new Run(phone, rep, evidence, check, env, opts.controls ?? new Map(), s.file, {
    ...opts,
    ...(locators ? { locators } : {}),
  });
  if (phone.bypass) {
    try {
      run.bypassStart = await phone.bypass.snapshot();
    } catch (err) {
      run.bypassStartError = messageOf(err);
    }
  }
  let status: Verdict = 'passed';
  let message: string | undefined;
  try {
    await run.list(s.steps, { ...s.config.env }, true);
  } catch (err) {
    if (err instanceof Halt) {
      status = err.verdict;
      message = `${err.step.path} (${err.stepName}): ${err.detail}`;
    } else {
      status = 'broken';
      message = messageOf(err);
    }
  } finally {
    const problems = !run.changedToggles
      ? []
      : await rep
          .step('Put the changed toggles back', () => run.restoreToggles())
          .then(
            (p) => p,
            (err: unknown) => [messageOf(err)],
          );
    if (problems.length && status !== 'broken') {
      // The verdict stands, but the phone was not left as found: that is an infrastructure problem.
      status = status === 'failed' ? status : 'broken';
      message = `${message ? `${message}; ` : ''}toggles not restored: ${problems.join('; ')}`;
    }
    // What arrived until the phone was put back still counts against the checks that passed.
    if (status === 'passed' && run.passedNegatives.length) {
      try {
        await evidence.waitQuiet(run.t.quietMs, Date.now() + run.t.settleTimeoutMs);
        const late = await run.recheck();
        if (late) {
          status = late.status;
          message = late.message;
          rep.log(`${late.status}: ${late.message}`);
        }
      } catch (err) {
        status = 'broken';
        message = `the final look at the evidence failed: ${messageOf(err)}`;
      }
    }
    evidence.stop();
    // What arrived before stop() is analysed before anything reads it for the verdict and the report.
    await evidence.settled();
    analyser.release();
  }
  if (evidence.captureError && status === 'passed') {
    status = 'broken';
    message = `the capture failed during the scenario, so its evidence is incomplete: ${evidence.captureError.message}`;
  }
  const unanalysed = evidence.analysisProblem();
  if (unanalysed && status === 'passed') {
    status = 'broken';
    message = unanalysed;
  }
  const result = outcome(status, message, run, evidence);
  try {
    rep.attach('findings.json', JSON.stringify(result.findings, null, 2), 'application/json');
  } catch (err) {
    rep.log(`findings attachment failed: ${messageOf(err)}`);
  }
  // Which candidate of each locator key matched (and which came from an override file), for the report.
  if (run.matchedLocators.size) {
    rep.attach('locators matched.txt', `${[...run.matchedLocators].join('\n')}\n`, 'text/plain');
  }
  rep.log(`${status}${message ? `: ${message}` : ''}`);
  return result;
}
