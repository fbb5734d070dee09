/**
 * The Allure side of a run folder (issue 6 §3): `environment.properties` and `categories.json` next to
 * the results allure-mocha wrote in the workers, and the HTML report generated from them by
 * allure-commandline 2 (a Java program wrapped by npm; it needs a JRE).
 *
 * The report is generated with `--single-file`: one self-contained `html/index.html` (data, scripts and
 * attachments inlined). Allure 2's multi-file report loads `data/*.json` with XHR, which browsers block
 * for `file://` pages, so it only opens from an HTTP server ("Loading…" forever when double-clicked);
 * the single file opens both from disk (`phonehome report --open`, a CI artefact download) and from a
 * loopback HTTP server (the acceptance test). The price is size: attachments are inlined as base64.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import type { AllureCategory } from '../config/project.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.ts';
import { UserFacingError } from '../util/user-facing.ts';
import { EXIT, type JobResult } from './run-folder.ts';

/** How long allure-commandline may take before it is killed (it takes ~1-2 s for a small run). */
export const ALLURE_TIMEOUT_MS = 120_000;

/** What `environment.properties` says about the capture files. */
export const PERSONAL_DATA_LINE =
  'evidence/ holds captured uploads (HAR, bodies, logcat, screenshots) that contain personal data: ' +
  'share the run folder only with people allowed to see it';

export const JAVA_FIX =
  'install a Java runtime: apt-get install -y default-jre-headless (Debian/Ubuntu), or set JAVA_HOME to a JRE 8 or newer';

/** A report that cannot be generated: a missing tool, a folder that is not a run. */
export class ReportError extends UserFacingError {}

const require = createRequire(import.meta.url);

/** phonehome's own version (package.json). */
export function phonehomeVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The allure-commandline launcher script (dist/bin/allure) installed with phonehome. */
export function allureBinary(): string {
  const pkgJson = require.resolve('allure-commandline/package.json');
  return join(dirname(pkgJson), 'dist', 'bin', process.platform === 'win32' ? 'allure.bat' : 'allure');
}

function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The java the allure launcher will use, as its script finds it: `$JAVA_HOME/bin/java` when JAVA_HOME
 * is set (an invalid JAVA_HOME is an error there too), else `java` on PATH. undefined when there is none.
 */
export function findJava(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const exe = process.platform === 'win32' ? 'java.exe' : 'java';
  if (env.JAVA_HOME) {
    return [join(env.JAVA_HOME, 'jre', 'sh', exe), join(env.JAVA_HOME, 'bin', exe)].find(isExecutable);
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const j = join(dir, exe);
    if (isExecutable(j)) return j;
  }
  return undefined;
}

export interface GenerateOptions {
  /** Kill allure-commandline after this long; default ALLURE_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Progress lines; default: stderr. */
  log?: (line: string) => void;
  /** The launcher to run (tests); default: allureBinary(). */
  allureBin?: string;
  /** The environment allure runs with (tests); default: process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * Generate Allure's multi-file report into this folder instead of the single file in html/ (its
   * `history/` folder is what finish.ts falls back on when the single file embeds no history).
   */
  multiFileTo?: string;
}

/**
 * Runs `allure generate <runDir>/allure-results -o <runDir>/html --clean --single-file` and resolves
 * the path of `html/index.html`. Rejects with a ReportError (exit 2) when the folder has no
 * allure-results, and (exit 3) when Java is missing, allure fails or takes longer than the timeout.
 */
export async function generateAllureHtml(runDir: string, opts: GenerateOptions = {}): Promise<string> {
  const dir = resolve(runDir);
  const results = join(dir, 'allure-results');
  const html = opts.multiFileTo ? resolve(opts.multiFileTo) : join(dir, 'html');
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((l: string) => void process.stderr.write(`${l}\n`));
  const timeoutMs = opts.timeoutMs ?? ALLURE_TIMEOUT_MS;
  if (!existsSync(results) || !statSync(results).isDirectory()) {
    throw new ReportError(
      `${dir} has no allure-results/ folder, so there is nothing to make a report from`,
      'give a run folder written by `phonehome run` (reports/<run-id>), or run the suites again',
      EXIT.usage,
    );
  }
  if (!findJava(env)) {
    throw new ReportError(
      env.JAVA_HOME
        ? `allure-commandline needs Java, and JAVA_HOME (${env.JAVA_HOME}) has no bin/java`
        : 'allure-commandline needs Java, and there is no java on PATH (nor a JAVA_HOME)',
      JAVA_FIX,
      EXIT.infrastructure,
    );
  }
  const bin = opts.allureBin ?? allureBinary();
  const jvmEnv = withLeanJvm(env);
  const args = ['generate', results, '-o', html, '--clean', ...(opts.multiFileTo ? [] : ['--single-file'])];
  log(
    `phonehome: generating the Allure report of ${basename(dir)} (allure-commandline, ${opts.multiFileTo ? 'multi-file, for its history' : 'single file'})…`,
  );
  const started = Date.now();
  const { code, signal, output, timedOut } = await runBounded(bin, args, jvmEnv, timeoutMs);
  const tail = output.trim().split('\n').slice(-8).join('\n');
  if (timedOut) {
    throw new ReportError(
      `allure-commandline did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped`,
      `try again; if it keeps happening run it by hand to see why: ${bin} ${args.join(' ')}`,
      EXIT.infrastructure,
    );
  }
  if (/JAVA_HOME|no 'java' command/i.test(output) && code !== 0) {
    throw new ReportError(`allure-commandline could not start Java: ${tail}`, JAVA_FIX, EXIT.infrastructure);
  }
  const index = join(html, 'index.html');
  if (code !== 0 || !existsSync(index)) {
    throw new ReportError(
      `allure-commandline failed (${signal ? `signal ${signal}` : `exit code ${String(code)}`})${tail ? `:\n${tail}` : ''}`,
      `the results are kept in ${results}; regenerate with \`phonehome report ${dir}\``,
      EXIT.infrastructure,
    );
  }
  log(`phonehome: Allure report: ${index} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return index;
}

/**
 * JVM options for allure-commandline, a JVM that lives for seconds: the C1 compiler only and the
 * serial collector. On a 16-phone run's results (1,343 files), 3.1–3.2 s of CPU against 5.6–5.7 s
 * with the JVM's defaults, and 2.3–2.4 s of wall against 3.1–3.2 s (issue 14, harness CPU per
 * phone; bench/README.md). Left out when the user sets JAVA_OPTS or ALLURE_OPTS (the launcher reads
 * both; theirs win).
 */
export const LEAN_JVM_OPTS = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC';

export function withLeanJvm(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.JAVA_OPTS?.trim() || env.ALLURE_OPTS?.trim()) return env;
  return { ...env, ALLURE_OPTS: LEAN_JVM_OPTS };
}

interface Bounded {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  timedOut: boolean;
}

/** Runs a command in its own process group, collecting its output, killing the group after `timeoutMs`. */
function runBounded(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<Bounded> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    const keep = (c: Buffer) => {
      output = (output + c.toString('utf8')).slice(-16_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(
        new ReportError(
          `could not start allure-commandline (${bin}): ${err.message}`,
          'reinstall the dependencies: npm ci',
          EXIT.infrastructure,
        ),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, output, timedOut });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// environment.properties

/** Escapes a string for a Java .properties file (key or value); everything beyond ASCII as \uXXXX. */
export function escapeProperty(s: string, isKey: boolean): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const c = s.charCodeAt(i);
    if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\f') out += '\\f';
    else if (ch === ' ' && (isKey || i === 0)) out += '\\ ';
    else if ('=:#!'.includes(ch)) out += `\\${ch}`;
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out;
}

/** The contents of environment.properties for these entries (in their order). */
export function environmentProperties(entries: Record<string, string>): string {
  return (
    Object.entries(entries)
      .map(([k, v]) => `${escapeProperty(k, true)}=${escapeProperty(v, false)}`)
      .join('\n') + '\n'
  );
}

/**
 * Firmware and app versions per phone, from the fingerprints in the results:
 * `<serial>.<field>` = value (e.g. `emulator-5554.os` = `MIUI 12.0.3`), `<serial>.profile`.
 */
export function fingerprintEntries(results: readonly JobResult[]): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const r of results) {
    if (seen.has(r.phone)) continue;
    seen.add(r.phone);
    out[`${r.phone}.profile`] = r.profile;
    for (const [k, v] of Object.entries(r.fingerprint ?? {})) out[`${r.phone}.${k}`] = String(v);
  }
  return out;
}

/**
 * Writes `allure-results/environment.properties` (Allure's Environment widget): the given entries
 * (firmware and app versions, the CA method, adb servers…) plus `phonehome.version` and
 * `captures.personalData` (the warning that the evidence holds personal data) unless given.
 */
export function writeAllureEnvironment(runDir: string, entries: Record<string, string>): string {
  const all: Record<string, string> = {
    'phonehome.version': phonehomeVersion(),
    ...entries,
  };
  all['captures.personalData'] ??= PERSONAL_DATA_LINE;
  const file = join(runDir, 'allure-results', 'environment.properties');
  writeFileAtomic(file, environmentProperties(all));
  return file;
}

// ---------------------------------------------------------------------------------------------
// categories.json

/** Words that upload and request assertions use when they fail. */
const LEAK_WORDS = '(upload|uploaded|uploads|leak|leaked|leaks|sent|request to|reached)';

/**
 * Allure's Categories tab for phonehome runs. Allure puts a result in every category it matches, so
 * the second failed category excludes the first one's messages.
 */
export const ALLURE_CATEGORIES: AllureCategory[] = [
  {
    name: 'Upload leaked in private mode',
    description: 'An assertNoUpload / assertNoRequest saw data leave the phone that must not have.',
    matchedStatuses: ['failed'],
    messageRegex: `(?is).*\\b${LEAK_WORDS}\\b.*`,
  },
  {
    name: 'Other failed assertions',
    description: 'A scenario assertion failed for another reason (a toggle, a positive control…).',
    matchedStatuses: ['failed'],
    messageRegex: `(?is)(?!.*\\b${LEAK_WORDS}\\b).*`,
  },
  {
    name: 'Infrastructure (broken)',
    description:
      'The harness could not reach a verdict: a phone lost, no capture liveness, a tool failure. Never a pass.',
    matchedStatuses: ['broken'],
  },
  {
    name: 'Skipped',
    matchedStatuses: ['skipped'],
  },
];

/** Writes `allure-results/categories.json`. */
export function writeAllureCategories(
  runDir: string,
  categories: AllureCategory[] = ALLURE_CATEGORIES,
): string {
  const file = join(runDir, 'allure-results', 'categories.json');
  writeJsonAtomic(file, categories);
  return file;
}
