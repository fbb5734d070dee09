/**
 * The scenario language's shared shapes (issue 6 §1), used by the parser (parse.ts), the executor
 * (executor.ts), the runner (src/runner) and the reports (src/report). A scenario file is two YAML
 * documents in Maestro's style: a config header, `---`, then a list of steps; each step is a bare
 * string (`- background`) or a one-key map (`- openUrl: https://…`), with the scalar shorthand
 * expanded before validation.
 */

/** Where a node came from, for errors and reports: 1-based line and column. */
export interface SourcePos {
  file: string;
  line: number;
  col: number;
}

/** Every step the language has; the registry (steps.ts) gives each its argument schema and docs. */
export const STEP_NAMES = [
  // UI and app steps
  'launchApp',
  'openUrl',
  'search',
  'incognito',
  'setToggle',
  'tapOn',
  'inputText',
  'swipe',
  'openFolder',
  'statusBar',
  'openSettings',
  'wait',
  'background',
  'startEvidence',
  // assertions
  'assertNoUpload',
  'assertUpload',
  'assertNoRequest',
  'assertToggle',
  // flow control
  'runFlow',
  'repeat',
  'retry',
] as const;
export type StepName = (typeof STEP_NAMES)[number];

/** The privacy switches `setToggle` / `assertToggle` know. */
export const TOGGLE_NAMES = [
  'browser.incognitoDataCollection',
  'miui.userExperienceProgram',
  'miui.diagnosticData',
  'miui.personalisedAds',
] as const;
export type ToggleName = (typeof TOGGLE_NAMES)[number];

export interface Step {
  name: StepName;
  /**
   * Validated arguments, shorthand expanded (e.g. `openUrl: X` → `{url: X}`). Strings may still hold
   * `${VAR}` references; the executor resolves them (env, then the run's canaries) when it runs.
   */
  args: Record<string, unknown>;
  /** Report name (`label:`), else a description made from the step. */
  label?: string;
  /** A failure of this step is reported and the scenario goes on. */
  optional?: boolean;
  pos: SourcePos;
  /** Where it sits, e.g. `steps[3]` or `steps[3].retry.commands[1]` (for errors and reports). */
  path: string;
  /** repeat / retry: their commands; runFlow: the included file's steps (resolved at parse time). */
  children?: Step[];
}

export interface ScenarioConfig {
  /** Shown in reports; default: the file name without extension. */
  name: string;
  description?: string;
  tags: string[];
  /** `${VAR}` values; the process environment and `--env` override nothing here unless the file says `${env.X}`. */
  env: Record<string, string>;
  /**
   * Names of the canaries this scenario plants, each a fresh unique string per run, referenced as
   * `${canary.NAME}` (e.g. `canary: [url, search]` → `${canary.url}`).
   */
  canaries: string[];
  /** Run only on phones matching all given fields (profile names, OS, region, app present…). */
  when?: {
    profiles?: string[];
    os?: Array<'MIUI' | 'HyperOS'>;
    region?: string[];
    rooted?: boolean;
    /** A package that must be installed, e.g. com.mi.globalbrowser.mini. */
    app?: string;
  };
  /** Jobs of this scenario may move to another phone with the same fingerprint if theirs is lost. */
  portable?: boolean;
  /** Allure's behaviour labels (Behaviors tab): one value or several each. */
  epic?: string[];
  feature?: string[];
  story?: string[];
  /** Allure's severity label. */
  severity?: Severity;
  /** Allure's owner label: who to ask about this scenario. */
  owner?: string;
  /** Allure links: issue / tms ids (expanded with phonehome.json's URL templates) and plain links. */
  links?: ScenarioLink[];
}

/** Allure's severities, most severe first. */
export const SEVERITIES = ['blocker', 'critical', 'normal', 'minor', 'trivial'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Link types whose ids phonehome.json's `report.links` templates expand. */
export const LINK_TYPES = ['issue', 'tms'] as const;
export type LinkType = (typeof LINK_TYPES)[number];

/**
 * A scenario header link: `{issue: PRIV-12}` / `{tms: TC-3}` (an id, expanded with the project
 * config's URL template for its type when the run starts) or `{url: https://…, name: …}`.
 * `pos` is where it is written, for the error when no template exists for its type.
 */
export type ScenarioLink =
  | { type: LinkType; id: string; name?: string; pos: SourcePos }
  | { type: 'link'; url: string; name?: string; pos: SourcePos };

export interface Scenario {
  file: string;
  config: ScenarioConfig;
  steps: Step[];
}

export type Verdict = 'passed' | 'failed' | 'broken' | 'skipped';
