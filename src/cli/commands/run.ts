/**
 * `phonehome run`: runs scenario suites on the lab's phones (issue 6 §2). Each phone runs its jobs
 * in a worker process with mocha + allure-mocha; the parent schedules (scenario × phone) jobs with
 * p-queue, one job per phone at a time. Exit codes: 0 all passed (skipped ok), 1 a scenario failed,
 * 2 usage or config error, 3 infrastructure (a job broke, a phone is leased or there is none), 130
 * interrupted.
 */
import { Command } from 'commander';
import { caDir } from '../state.ts';
import { UserFacingError } from '../../util/user-facing.ts';
import {
  adbPortFlag,
  adbPortOption,
  caMethodOption,
  jsonFlag,
  parseCaMethod,
  timeoutMsParser,
} from '../options.ts';
import { stateDir } from '../state.ts';
import { runSuites } from '../../runner/run.ts';
import { loadProjectConfig } from '../../config/project.ts';
import { parseKeyOption, parseKeyOptions } from '../../inspect/options.ts';
import { DEFAULT_QUARANTINE_AFTER } from '../../runner/scheduler.ts';
import { DEFAULT_PHONES_PER_WORKER } from '../../runner/fork.ts';
import { parseShard, type ShardSpec } from '../../runner/shard.ts';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
const collectList = (v: string, prev: string[] = []): string[] => [
  ...prev,
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

function countParser(option: string, min: number): (v: string) => number {
  return (v) => {
    const n = /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min) {
      throw new UserFacingError(`${option} must be a whole number ≥ ${min} (got '${v}')`, undefined, 2);
    }
    return n;
  };
}

/** `--screenshots failures|steps` (exit 2 for anything else). */
export function parseScreenshots(v: string): 'failures' | 'steps' {
  if (v === 'failures' || v === 'steps') return v;
  throw new UserFacingError(
    `--screenshots must be failures or steps; not ${JSON.stringify(v)}`,
    undefined,
    2,
  );
}

interface RunCliOptions {
  devices?: string;
  device?: string[];
  tags?: string[];
  retries: number;
  bail?: boolean;
  json?: boolean;
  out: string;
  adbPort?: string;
  concurrency?: number;
  phonesPerWorker: number;
  quarantineAfter: number;
  stepTimeout?: number;
  key?: string[];
  caMethod: string;
  history?: string;
  screenshots: 'failures' | 'steps';
  shard?: ShardSpec;
  config?: string;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description(
      'run scenario suites on the phones: one mocha + Allure per phone in worker processes of up to 16 phones, one job per phone at a time; ' +
        'writes reports/<run-id>/ (summary.json, results.json, junit.xml, allure-results/, html/)',
    )
    .argument('[paths...]', 'scenario files or folders', ['scenarios/'])
    .option(
      '--devices <file>',
      'devices file (default: devices.json if present, else every phone on the adb server)',
    )
    .option('--device <serial>', 'run only on this phone (repeatable)', collect)
    .option(
      '--tags <tags>',
      'run scenarios with one of these tags (comma-separated, repeatable)',
      collectList,
    )
    .option(
      '--retries <n>',
      'run failed or broken jobs again, up to N more times',
      countParser('--retries', 0),
      0,
    )
    .option('--bail', 'start no new job after the first failed or broken one')
    .addOption(jsonFlag('print the run summary as JSON on stdout (progress goes to stderr)'))
    .option('--out <dir>', 'where run folders go', 'reports')
    .addOption(adbPortFlag('default adb server port (default: $ANDROID_ADB_SERVER_PORT or 5037)'))
    .option(
      '--concurrency <n>',
      'jobs at once over all phones (default: one per phone)',
      countParser('--concurrency', 1),
    )
    .option(
      '--phones-per-worker <n>',
      'phones served by one worker process (one mocha per phone; a process start-up costs ~2 s of CPU); ' +
        '1 isolates every phone in its own process',
      countParser('--phones-per-worker', 1),
      DEFAULT_PHONES_PER_WORKER,
    )
    .option(
      '--quarantine-after <n>',
      'infrastructure failures in a row before a phone is quarantined',
      countParser('--quarantine-after', 1),
      DEFAULT_QUARANTINE_AFTER,
    )
    .option(
      '--shard <I/N>',
      'run only slice I of N of the scenario × phone-fingerprint jobs (one slice per lab host; the same on every host), then `phonehome merge` the run folders',
      parseShard,
    )
    .option('--step-timeout <ms>', 'timeout of one scenario step', timeoutMsParser('--step-timeout'))
    .option(
      '--history <dir>',
      "the lab's Allure history, read before and updated after the report (Trend, per-test history); " +
        'default: <out>/history',
    )
    .option(
      '--screenshots <when>',
      'failures: a screenshot when a job fails or breaks; steps: also one after every scenario step (a filmstrip in the report)',
      parseScreenshots,
      'failures',
    )
    .option(
      '--config <file>',
      "project config: link templates for the scenario headers' issue/tms links and report categories (default: phonehome.json if present)",
    )
    .addOption(caMethodOption())
    .option(
      '--key <name=hex>',
      'a decryption key for the decoders (repeatable), as `phonehome inspect --key`: mistat, sensors, a host or *.suffix; ' +
        'uploads in scope that stay encrypted make canary and identifier checks broken',
      (arg: string, prev: string[] = []) => {
        parseKeyOption(arg); // a bad key fails at once, with its own message (exit 2)
        return [...prev, arg];
      },
    )
    .addHelpText(
      'after',
      '\nExamples:\n  phonehome run\n  phonehome run scenarios/incognito-browsing.yaml --device 127.0.0.1:41001\n' +
        '  phonehome run --tags incognito --retries 1 --json > summary.json\n' +
        '  phonehome run --key sensors=6d692d6c61622d73656e736f72732121   # decrypt Sensors gzip=9 payloads\n' +
        '  phonehome run --screenshots steps --history /var/cache/phonehome/history\n\n' +
        "The Allure history (Trend, each test's History) is read from and saved to <out>/history or --history;\n" +
        'executor.json comes from GitLab CI, Jenkins or GitHub Actions variables; PHONEHOME_REPORT_URL\n' +
        '(`{run}` = the run id) is where the report will be published.\n\n' +
        'Exit codes: 0 all passed, 1 a scenario failed, 2 usage or config error, 3 infrastructure ' +
        '(a phone was lost, leased by another run, or missing), 130 interrupted.',
    )
    .action(async (paths: string[], o: RunCliOptions) => {
      let port: number;
      try {
        port = adbPortOption(o.adbPort);
      } catch (err) {
        throw new UserFacingError((err as Error).message, undefined, 2);
      }
      const caMethod = parseCaMethod(o.caMethod);
      // A bad phonehome.json stops the run before any phone is touched (exit 2, file:line:col).
      const project = loadProjectConfig(o.config);
      const outcome = await runSuites({
        paths,
        caMethod,
        project,
        ...(o.devices ? { devicesFile: o.devices } : {}),
        ...(o.device?.length ? { serials: o.device } : {}),
        ...(o.tags?.length ? { tags: o.tags } : {}),
        retries: o.retries,
        bail: Boolean(o.bail),
        json: Boolean(o.json),
        out: o.out,
        defaultServer: { host: process.env.ANDROID_ADB_SERVER_ADDRESS?.trim() || '127.0.0.1', port },
        ...(o.concurrency ? { concurrency: o.concurrency } : {}),
        phonesPerWorker: o.phonesPerWorker,
        quarantineAfter: o.quarantineAfter,
        ...(o.shard ? { shard: o.shard } : {}),
        ...(o.stepTimeout ? { stepTimeoutMs: o.stepTimeout } : {}),
        ...(o.history ? { historyDir: o.history } : {}),
        screenshots: o.screenshots,
        ...(o.key?.length
          ? {
              keys: Object.fromEntries(
                Object.entries(parseKeyOptions(o.key)).map(([name, key]) => [name, key.toString('hex')]),
              ),
            }
          : {}),
        stateDir: stateDir(),
        caDir: caDir(),
      });
      process.exitCode = outcome.exitCode;
    });
}
