/**
 * Runs one Scenario on one phone (issue 6 §1): fresh canaries, the steps through the page objects
 * (src/ui/pages; never screen coordinates), every capture record since the scenario's start analysed
 * (decode + detect), the assertions over them, and the liveness probe before negative ones.
 *
 * Verdicts:
 * - `skipped`: `when` does not match the phone (profile, OS, region, root, an installed app); the
 *   message says which;
 * - `failed`: an assertion did not hold, or a step could not do what it asked for a reason that is the
 *   phone's or the scenario's (a UiError that is not a timeout, e.g. a switch this browser lacks);
 * - `broken`: the harness cannot tell: the liveness probe was not captured, the evidence could not be
 *   decrypted (TLS failures where a canary/identifier must be proved absent), adb or the phone failed
 *   (DeviceError, a lost phone), a UI wait timed out, a step ran past its time limit, the capture
 *   failed, or anything unexpected;
 * - `passed` otherwise. An `optional` step's failure is recorded (its own status) and the scenario goes
 *   on; any other failure ends the scenario (the steps left are recorded as skipped).
 *
 * Steps: launchApp (force-stop, then start: "from scratch"), openUrl / search / incognito (Mi Browser,
 * started first when it is not in front), setToggle / assertToggle (toggles.ts), tapOn, inputText,
 * swipe (on the home screen: to the next page, waiting for the indicator), openFolder, statusBar,
 * openSettings, wait, background (HOME, then until the capture is quiet for `quietMs` or
 * `settleTimeoutMs` passed: the SDKs flush their queues when their app leaves the foreground), repeat,
 * retry (all commands again, up to maxRetries more times), runFlow (children inlined by the parser;
 * their `${NAME}` resolved with the runFlow's env over the scenario's). Every leaf step runs under a
 * time limit (`stepTimeoutMs`, plus the step's own wait where it has one).
 *
 * Evidence attached through the reporter: a screenshot and the logcat tail on a failing step, the
 * findings (the exchanges with findings, probe excluded) at the end.
 */
import { randomBytes } from 'node:crypto';
import type { CaptureSession } from '../capture/session.ts';
import type { Wiring } from '../capture/wiring.ts';
import { createDetector, loadCatalogue, type Catalogue, type Identifier } from '../detect/index.ts';
import { DeviceUnavailableError, type Device, type Fingerprint } from '../device/index.ts';
import type { InspectedExchange } from '../inspect/analyse.ts';
import type { StepResult } from '../runner/types.ts';
import type { Locator, UiDriver } from '../ui/driver.ts';
import {
  Launcher,
  loadLocators,
  MiBrowser,
  MiuiSettings,
  StatusBar,
  targetOf,
  type LocatorData,
} from '../ui/pages/index.ts';
import {
  checkNoRequest,
  checkNoUpload,
  checkUpload,
  type CheckContext,
  type UploadArgs,
} from './assertions.ts';
import { makeCanaries, resolveArgs, type RefScope } from './canaries.ts';
import { messageOf, StepFailed, StepBroken, verdictOf, withTimeout } from './errors.ts';
import { Evidence } from './evidence.ts';
import { PROBE_HOST, probeLiveness } from './liveness.ts';
import { MIUI_TOGGLE_KEYS, readMiuiToggle, readToggle, setToggle } from './toggles.ts';
import type { Scenario, ScenarioConfig, Step, ToggleName, Verdict } from './types.ts';

export { PROBE_HOST } from './liveness.ts';

export interface PhoneSession {
  serial: string;
  device: Device;
  ui: UiDriver;
  profile: string;
  fingerprint: Fingerprint;
  /** readIdentifiers(device). */
  identifiers: Identifier[];
  /** Already wired; the runner restores it. */
  capture: CaptureSession;
  wiring: Wiring;
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
  /** Tracker catalogue (default: the shipped one). */
  catalogue?: Catalogue;
}

const DEFAULTS = { stepTimeoutMs: 120_000, quietMs: 1500, settleTimeoutMs: 15_000, probeTimeoutMs: 15_000 };

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

/** A step's report name: its label, else the step and its arguments in one line. */
export function describeStep(step: Step): string {
  if (step.label) return step.label;
  const a = step.args;
  const fmt = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
  switch (step.name) {
    case 'repeat':
      return `repeat ${fmt(a.times)} times`;
    case 'retry':
      return `retry (up to ${fmt(a.maxRetries)} more times)`;
    case 'runFlow':
      return `runFlow ${fmt(a.file)}`;
    default: {
      const entries = Object.entries(a).filter(([k]) => k !== 'commands');
      if (entries.length === 0) return step.name;
      if (entries.length === 1) return `${step.name} ${fmt(entries[0]![1])}`;
      return `${step.name} ${entries.map(([k, v]) => `${k}: ${fmt(v)}`).join(', ')}`;
    }
  }
}

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

class Run {
  readonly steps: StepResult[] = [];
  private readonly locators: LocatorData = loadLocators();
  private readonly settings: MiuiSettings;
  private readonly launcher: Launcher;
  private readonly statusBar: StatusBar;
  private browserPkg: string | undefined;
  private probes = 0;
  /** A probe succeeded and no action step ran since. */
  private live = false;
  private screenshots = 0;
  private readonly o: typeof DEFAULTS;

  constructor(
    private readonly phone: PhoneSession,
    private readonly rep: StepReporter,
    private readonly evidence: Evidence,
    private readonly check: CheckContext,
    private readonly env: Readonly<Record<string, string | undefined>>,
    opts: RunScenarioOptions,
  ) {
    this.settings = new MiuiSettings(phone.ui, { locators: this.locators });
    this.launcher = new Launcher(phone.ui, { locators: this.locators });
    this.statusBar = new StatusBar(phone.ui, { locators: this.locators });
    this.o = {
      stepTimeoutMs: opts.stepTimeoutMs ?? DEFAULTS.stepTimeoutMs,
      quietMs: opts.quietMs ?? DEFAULTS.quietMs,
      settleTimeoutMs: opts.settleTimeoutMs ?? DEFAULTS.settleTimeoutMs,
      probeTimeoutMs: opts.probeTimeoutMs ?? DEFAULTS.probeTimeoutMs,
    };
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
    switch (step.name) {
      case 'repeat': {
        const times = Number(args.times);
        for (let i = 1; i <= times; i++)
          await this.rep.step(`${i}/${times}`, () => this.list(step.children ?? [], vars));
        return;
      }
      case 'retry': {
        const max = Number(args.maxRetries);
        for (let attempt = 0; ; attempt++) {
          try {
            await this.rep.step(`attempt ${attempt + 1}/${max + 1}`, () =>
              this.list(step.children ?? [], vars),
            );
            if (attempt > 0) this.rep.log(`${step.path}: passed on attempt ${attempt + 1}`);
            return;
          } catch (err) {
            const lost = err instanceof Halt && err.cause instanceof DeviceUnavailableError;
            if (attempt >= max || lost) throw err;
            this.rep.log(
              `${step.path}: attempt ${attempt + 1} ${err instanceof Halt ? err.verdict : 'broken'}, retrying`,
            );
          }
        }
      }
      case 'runFlow': {
        const env = (args.env ?? {}) as Record<string, string>;
        await this.list(step.children ?? [], { ...vars, ...env });
        return;
      }
      default:
        await withTimeout(name, this.limit(step, args), () => this.leaf(step, args));
    }
  }

  private limit(step: Step, args: Record<string, unknown>): number {
    const base = this.o.stepTimeoutMs;
    if (step.name === 'wait') return base + Number(args.ms);
    if (step.name === 'background') return base + this.o.settleTimeoutMs;
    if (step.name.startsWith('assert')) return base + this.o.settleTimeoutMs + this.o.probeTimeoutMs;
    return base;
  }

  // ------------------------------------------------------------------ leaf steps

  private async leaf(step: Step, a: Record<string, unknown>): Promise<void> {
    const ui = this.phone.ui;
    const s = (k: string): string => String(a[k]);
    if (!step.name.startsWith('assert')) this.live = false;
    switch (step.name) {
      case 'launchApp':
        return this.launchApp(s('app'));
      case 'openUrl': {
        const b = await this.browserInFront();
        await b.openUrl(s('url'));
        await this.pageLoaded(b);
        return;
      }
      case 'search': {
        const b = await this.browserInFront();
        await b.search(s('query'), a.engine === undefined ? {} : { engine: s('engine') });
        await this.pageLoaded(b);
        return;
      }
      case 'incognito':
        await (await this.browserInFront()).setIncognito(a.on === true);
        return;
      case 'setToggle':
        return this.setToggle(s('name') as ToggleName, a.on === true);
      case 'tapOn': {
        const loc: Locator = {
          ...(a.text !== undefined ? { text: s('text') } : {}),
          ...(a.id !== undefined ? { id: s('id') } : {}),
          ...(a.desc !== undefined ? { desc: s('desc') } : {}),
        };
        if (a.index !== undefined && Number(a.index) > 0)
          throw new StepBroken(
            `tapOn index ${Number(a.index)}: the UI driver finds the first match only; make the target unique (id, desc or exact text)`,
          );
        await ui.tap(await ui.find(loc));
        return;
      }
      case 'inputText': {
        // The driver seam has no "focused" criterion: the first edit field on screen takes the text.
        const field = await ui.find({ class: 'android.widget.EditText' });
        await ui.type(field, s('text'));
        return;
      }
      case 'swipe':
        return this.swipe(s('direction') as 'left' | 'right' | 'up' | 'down');
      case 'openFolder':
        if (!(await ui.query(targetOf(this.locators, 'launcher.workspace')))) await this.launcher.goHome();
        await this.launcher.openFolder(s('name'));
        return;
      case 'statusBar':
        if (s('action') === 'down') await this.statusBar.pullDown();
        else await this.statusBar.putBack();
        return;
      case 'openSettings':
        await this.settings.openPage(s('page'));
        return;
      case 'wait':
        await sleep(Number(a.ms));
        return;
      case 'startEvidence': {
        // Let what is already on its way land first, so it falls before the window.
        await this.evidence.waitQuiet(this.o.quietMs, Date.now() + this.o.settleTimeoutMs);
        this.evidence.markWindow();
        return;
      }
      case 'background': {
        const pressed = Date.now();
        await this.launcher.goHome();
        const quiet = await this.evidence.waitQuiet(
          this.o.quietMs,
          pressed + this.o.settleTimeoutMs,
          pressed,
        );
        this.rep.log(
          quiet
            ? `background: capture quiet for ${this.o.quietMs} ms after ${Date.now() - pressed} ms`
            : `background: uploads still arriving after ${this.o.settleTimeoutMs} ms; going on`,
        );
        return;
      }
      case 'assertNoUpload':
      case 'assertNoRequest': {
        await this.ensureLive();
        const r =
          step.name === 'assertNoRequest'
            ? checkNoRequest(s('host'), this.evidence.window(), this.check)
            : checkNoUpload(a as unknown as UploadArgs, this.evidence.window(), this.check);
        return this.verdict(r);
      }
      case 'assertUpload': {
        await this.settle();
        const r = checkUpload(a as unknown as UploadArgs, this.evidence.window(), this.check);
        // A missing upload with a dead capture says nothing about the phone: probe to tell them apart.
        if (r.status === 'failed') await this.ensureLive();
        return this.verdict(r);
      }
      case 'assertToggle':
        return this.assertToggle(s('name') as ToggleName, a.on === true);
      default:
        throw new StepBroken(`${step.name} cannot run here (the parser should have inlined it)`);
    }
  }

  private verdict(r: { status: 'passed' | 'failed' | 'broken'; message: string }): void {
    this.rep.log(`${r.status}: ${r.message}`);
    if (r.status === 'failed') throw new StepFailed(r.message);
    if (r.status === 'broken') throw new StepBroken(r.message);
  }

  private async settle(): Promise<void> {
    await this.evidence.waitQuiet(this.o.quietMs, Date.now() + this.o.settleTimeoutMs);
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
        timeoutMs: this.o.probeTimeoutMs,
        log: (l) => this.rep.log(l),
      },
      ++this.probes,
    );
    this.live = true;
  }

  // ------------------------------------------------------------------ helpers

  /** The browser package the phone has: the first of locators.json apps.browser.packages installed. */
  private async browserPackage(): Promise<string> {
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
      locators: this.locators,
      packageName: await this.browserPackage(),
    });
  }

  /** The browser, started (not restarted) when its address bar is not on screen. */
  private async browserInFront(): Promise<MiBrowser> {
    const b = await this.browser();
    const bar = targetOf(this.locators, 'browser.addressBar', { browser: b.packageName });
    if (!(await this.phone.ui.query(bar))) await b.launch();
    return b;
  }

  /** Waits until the shown page stopped loading. */
  private async pageLoaded(b: MiBrowser): Promise<void> {
    await this.phone.ui.waitGone(targetOf(this.locators, 'browser.loading', { browser: b.packageName }));
  }

  private async launchApp(app: string): Promise<void> {
    const pkg =
      app === 'browser'
        ? await this.browserPackage()
        : app === 'settings'
          ? (this.locators.apps.settings?.packages[0] ?? 'com.android.settings')
          : app;
    await this.phone.device.shellOk(['am', 'force-stop', pkg]);
    if (app === 'browser') return (await this.browser()).launch();
    if (app === 'settings') return this.settings.openMain();
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

  private async swipe(direction: 'left' | 'right' | 'up' | 'down'): Promise<void> {
    const ui = this.phone.ui;
    const onHome =
      (direction === 'left' || direction === 'right') &&
      (await ui.query(targetOf(this.locators, 'launcher.pageIndicator'))) !== null;
    if (onHome) {
      const cur = await this.launcher.currentScreen();
      const target = cur.index + (direction === 'left' ? 1 : -1);
      if (target >= 0 && target < cur.count) return this.launcher.swipeToScreen(target);
    }
    await ui.swipeScreen(direction);
  }

  /**
   * What each toggle was before the scenario first changed it: a MIUI toggle's raw settings value
   * (null = unset), the browser switch's state. restoreToggles() puts them back: the phone is borrowed.
   */
  private readonly originals = new Map<ToggleName, { raw: string | null } | { on: boolean }>();

  private async setToggle(name: ToggleName, on: boolean): Promise<void> {
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

  private async assertToggle(name: ToggleName, on: boolean): Promise<void> {
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
  const detector = createDetector({ canaries: [...values, probeToken], identifiers: phone.identifiers });
  const evidence = new Evidence(phone.capture, detector, PROBE_HOST, probeToken, new Set(values));
  const check: CheckContext = {
    catalogue: opts.catalogue ?? loadCatalogue(),
    canaries,
    caMethod: phone.wiring.caMethod,
    coverage: phone.wiring.coverage,
  };
  const env = opts.env ?? {};
  evidence.start();
  const run = new Run(phone, rep, evidence, check, env, opts);
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
    evidence.stop();
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
  }
  if (evidence.captureError && status === 'passed') {
    status = 'broken';
    message = `the capture failed during the scenario, so its evidence is incomplete: ${evidence.captureError.message}`;
  }
  const result = outcome(status, message, run, evidence);
  try {
    rep.attach('findings.json', JSON.stringify(result.findings, null, 2), 'application/json');
  } catch (err) {
    rep.log(`findings attachment failed: ${messageOf(err)}`);
  }
  rep.log(`${status}${message ? `: ${message}` : ''}`);
  return result;
}
