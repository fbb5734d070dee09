/**
 * What a step's runner (the `run` of its row in steps.ts) may use while a scenario runs on a phone.
 * The executor (executor.ts) implements it; the step table only calls it, so adding a step is one row.
 */
import type { UiDriver } from '../ui/driver.ts';
import type { Launcher, LocatorData, MiBrowser, MiuiSettings, StatusBar } from '../ui/pages/index.ts';
import type { Device } from '../device/index.ts';
import type { Step, ToggleName } from './types.ts';

export interface StepTimings {
  /** Each step's own time limit, before the extra time a row may add. */
  stepTimeoutMs: number;
  /** background / before a negative check: how long the capture must be quiet. */
  quietMs: number;
  /** …and the most to wait for that. */
  settleTimeoutMs: number;
  /** How long the liveness probe waits for its request. */
  probeTimeoutMs: number;
  /** The most a negative check waits for a channel's late upload (trailing window cap). */
  maxTrailingMs: number;
}

export interface StepRuntime {
  readonly ui: UiDriver;
  readonly device: Device;
  readonly locators: LocatorData;
  readonly launcher: Launcher;
  readonly settings: MiuiSettings;
  readonly statusBar: StatusBar;
  log(line: string): void;
  sleep(ms: number): Promise<void>;

  /** The scenario drives this app (its traffic outside the capture counts; it may be relaunched). */
  use(pkg: string): void;
  /** The scenario addresses this host itself (it is not a third party for canary checks). */
  address(hostPattern: string): void;

  /** The phone's Mi Browser package (the first of the locators' candidates installed). */
  browserPackage(): Promise<string>;
  /** The browser, started (not restarted) when its address bar is not on screen. */
  browserInFront(): Promise<MiBrowser>;
  /** Waits until the shown page stopped loading. */
  pageLoaded(b: MiBrowser): Promise<void>;
  launchApp(app: string): Promise<void>;
  swipe(direction: 'left' | 'right' | 'up' | 'down'): Promise<void>;
  openFolder(name: string): Promise<void>;
  setToggle(name: ToggleName, on: boolean): Promise<void>;
  assertToggle(name: ToggleName, on: boolean): Promise<void>;
  /** HOME, then until the capture is quiet. */
  background(): Promise<void>;
  /** Later assertions look only at what arrives from here on. */
  startEvidence(): Promise<void>;

  /** assertNoUpload / assertNoRequest: the whole negative verdict (probe, wait, bypass, control). */
  negative(step: Step, args: Record<string, unknown>): Promise<void>;
  /** assertUpload: the positive control. */
  positive(step: Step, args: Record<string, unknown>): Promise<void>;

  /** Runs nested steps (repeat, retry, runFlow) with these `${NAME}` values. */
  list(steps: readonly Step[], vars: Record<string, string>): Promise<void>;
  /** A named sub-step in the report. */
  reportStep<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Whether a failed attempt of retry may be tried again (not for a lost phone). */
  retryable(err: unknown): boolean;
}
