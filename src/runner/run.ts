/**
 * `phonehome run` end to end: scenarios → phones → leases → (Appium) → scheduled jobs over phone
 * workers → report files → exit code. The CLI command (src/cli/commands/run.ts) only parses options.
 */
import { orderByControls } from './controls.ts';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadScenarios } from '../scenario/parse.ts';
import { AppiumServer } from '../ui/appium/server.ts';
import { runningAppiumUrl } from '../ui/appium/record.ts';
import { WorkerPool } from './fork.ts';
import type { PhoneSpec } from './ipc.ts';
import { acquireLeases, type Leases } from './lease.ts';
import { validateDevicesFile } from '../config/devices-schema.ts';
import { loadOverrides, overridesFileFor } from '../ui/pages/overrides.ts';
import { resolvePhones, type AdbServerAddress } from './phones.ts';
import { Progress } from './progress.ts';
import { fingerprintEntries } from '../report/allure.ts';
import { finishReport } from '../report/finish.ts';
import { writeJUnit } from '../report/junit.ts';
import type { ProjectConfig } from '../config/project.ts';
import { checkScenarioLinks } from '../scenario/links.ts';
import { profileSlots } from '../report/allure-labels.ts';
import { newRunId, runSummary as summaryOf, writeRunFiles } from '../report/summary.ts';
import { schedule, type WorkerFactory } from './scheduler.ts';
import { exitCodeFor, type RunSummary } from '../report/run-folder.ts';
import type { CaMethod } from '../capture/journal.ts';
import { hostname } from 'node:os';
import { formatShard, planShard, type ShardSpec } from './shard.ts';
import { writeRunMeta } from '../report/run-meta.ts';
import { phonehomeVersion } from '../report/allure.ts';

export const EXIT_INTERRUPTED = 130;

export interface RunOptions {
  paths: string[];
  devicesFile?: string;
  serials?: string[];
  tags?: string[];
  retries: number;
  bail: boolean;
  json: boolean;
  /** Where run folders go (default reports/). */
  out: string;
  defaultServer: AdbServerAddress;
  concurrency?: number;
  /** `--phones-per-worker`: phones served by one worker process (default 16; 1 = a process per phone). */
  phonesPerWorker?: number;
  quarantineAfter?: number;
  stepTimeoutMs?: number;
  adbTimeoutMs?: number;
  stateDir: string;
  caDir: string;
  /** `--ca-method` (default auto: preinstalled, else system-tmpfs with root, else none). */
  caMethod?: CaMethod | 'auto';
  /** Decryption keys for the decoders, hex by name (`mistat`, `sensors`, a host pattern): `--key`. */
  keys?: Record<string, string>;
  /** `--shard I/N`: run only this host's slice of the scenario × fingerprint jobs (runner/shard.ts). */
  shard?: ShardSpec;
  /** `--history DIR`: the lab's Allure history between runs (default `<out>/history`). */
  historyDir?: string;
  /** `--screenshots`: `failures` (default) or `steps` (one after every scenario step: a filmstrip). */
  screenshots?: 'failures' | 'steps';
  /** The project config (phonehome.json or `--config`): link templates and user categories. */
  project?: ProjectConfig;
}

export interface RunOutcome {
  exitCode: number;
  runDir: string;
  summary: RunSummary;
}

export async function runSuites(o: RunOptions): Promise<RunOutcome> {
  const progressOut = o.json ? process.stderr : process.stdout;
  const say = (line: string): void => void progressOut.write(`${line}\n`);
  const warn = (line: string): void => void process.stderr.write(`${line}\n`);

  const loaded = loadScenarios(o.paths, { ...(o.tags?.length ? { tags: o.tags } : {}) });
  // Scenarios that define positive controls run before the ones that name them (on each phone).
  const { ordered: scenarios, warnings } = orderByControls(loaded);
  // An issue/tms link without a URL template stops the run here (exit 2, link and config named).
  checkScenarioLinks(scenarios, o.project ?? { links: {}, categories: [] });
  for (const w of warnings) process.stderr.write(`phonehome: warning: ${w}\n`);
  const devicesFile = o.devicesFile ?? (existsSync('devices.json') ? 'devices.json' : undefined);
  // A broken override file stops the run before any phone is touched (exit 2, file and field named).
  const locatorOverrides = overridesFileFor(devicesFile);
  if (locatorOverrides) loadOverrides(locatorOverrides);
  const phones = await resolvePhones({
    ...(devicesFile ? { devicesFile } : {}),
    ...(o.serials ? { serials: o.serials } : {}),
    defaultServer: o.defaultServer,
    readDevicesFile: validateDevicesFile,
    warn,
  });
  const runId = newRunId();
  const runDir = resolve(o.out, runId);
  const started = new Date().toISOString();
  const shard = o.shard && o.shard.count > 1 ? o.shard : undefined;
  const plan = planShard(scenarios, phones, shard);
  let leases: Leases | undefined;
  let appium: AppiumServer | undefined;
  let pool: WorkerPool | undefined;
  const releaseOnExit = (): void => leases?.release();
  process.on('exit', releaseOnExit);
  const ac = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals > 1) {
      warn('phonehome: second interrupt: exiting now; the next phonehome command restores the phones');
      pool?.killAll();
      process.exit(EXIT_INTERRUPTED);
    }
    ac.abort();
  };
  try {
    leases = acquireLeases(
      o.stateDir,
      phones.map((p) => p.serial),
      runId,
    );
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let appiumUrl: string | undefined;
    if (phones.some((p) => p.ui === 'appium' && scenarios.some((s) => plan.include(s, p)))) {
      appiumUrl = await runningAppiumUrl(o.stateDir);
      if (!appiumUrl) {
        say('phonehome: starting an Appium server for this run');
        appium = await AppiumServer.start({
          stateDir: o.stateDir,
          logFile: join(o.stateDir, 'appium-run.log'),
        });
        appiumUrl = appium.url;
      }
    }
    say(`phonehome: run ${runId}: ${scenarios.length} scenario(s) × ${phones.length} phone(s) → ${runDir}`);
    if (shard) {
      const mine = plan.jobs.filter((j) => j.shard === shard.index).length;
      say(
        `phonehome: shard ${formatShard(shard)}: ${mine} of ${plan.jobs.length} scenario × fingerprint job(s), ` +
          `${plan.pairs} scenario × phone run(s) on this host` +
          (plan.pairs === 0 ? ' (none here: an empty run; merge it with the other shards)' : ''),
      );
    }
    const progress = new Progress({
      out: progressOut,
      total: plan.pairs,
      phones: phones.filter((p) => scenarios.some((s) => plan.include(s, p))).map((p) => p.serial),
    });
    // A further phone of the same profile gets its own Allure history entry (report/allure-labels.ts).
    const extraSlots = [...profileSlots(phones)].filter(([, slot]) => slot > 1);
    const workerPool = new WorkerPool(
      {
        runDir,
        runId,
        caDir: o.caDir,
        stateDir: o.stateDir,
        ...(o.caMethod ? { caMethod: o.caMethod } : {}),
        ...(appiumUrl ? { appiumUrl } : {}),
        ...(o.stepTimeoutMs ? { stepTimeoutMs: o.stepTimeoutMs } : {}),
        ...(locatorOverrides ? { locatorOverrides: resolve(locatorOverrides) } : {}),
        ...(o.adbTimeoutMs ? { adbTimeoutMs: o.adbTimeoutMs } : {}),
        ...(o.keys && Object.keys(o.keys).length ? { keys: o.keys } : {}),
        ...(o.project && Object.keys(o.project.links).length ? { links: o.project.links } : {}),
        ...(extraSlots.length ? { profileSlots: Object.fromEntries(extraSlots) } : {}),
        ...(o.screenshots === 'steps' ? { screenshots: 'steps' as const } : {}),
      },
      o.phonesPerWorker,
    );
    pool = workerPool;
    const startWorker: WorkerFactory = (phone: PhoneSpec) => workerPool.start(phone);
    const outcome = await schedule({
      scenarios,
      phones,
      ...(shard ? { include: plan.include } : {}),
      startWorker,
      retries: o.retries,
      bail: o.bail,
      ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      ...(o.quarantineAfter ? { quarantineAfter: o.quarantineAfter } : {}),
      onEvent: (e) => progress.event(e),
      signal: ac.signal,
    });
    progress.finish();
    // Every phone has ended; the processes were told to exit (or killed after a grace).
    await workerPool.closed();
    const host = hostname();
    const keyOf = new Map(phones.map((p) => [p.serial, p.fingerprintKey]));
    const results = outcome.results.map((r) => {
      const fingerprintKey = keyOf.get(r.phone);
      return { ...r, host, ...(fingerprintKey !== undefined ? { fingerprintKey } : {}) };
    });
    writeRunMeta(runDir, {
      run: runId,
      host,
      started,
      finished: new Date().toISOString(),
      phonehome: phonehomeVersion(),
      ...(shard ? { shard } : {}),
      jobs: plan.jobs,
    });
    writeRunFiles(runDir, runId, results);
    writeJUnit(runDir, results);
    // Allure files, the HTML report and the lab's Allure history (report/finish.ts; never throws for
    // a failed HTML generation). An interrupted run gets no HTML and leaves the lab history alone.
    const report = await finishReport(runDir, {
      results,
      environment: { ...fingerprintEntries(results), ...environmentOf(phones) },
      ...(o.historyDir ? { historyDir: o.historyDir } : {}),
      ...(o.project?.categories.length ? { categories: o.project.categories } : {}),
      html: !outcome.interrupted,
      warn,
    });
    const summary: RunSummary = summaryOf(runId, results);
    if (outcome.quarantined.length) say(`phonehome: quarantined: ${outcome.quarantined.join(', ')}`);
    say(`phonehome: report: ${report}`);
    if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return { exitCode: outcome.interrupted ? EXIT_INTERRUPTED : exitCodeFor(results), runDir, summary };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await appium?.stop().catch(() => undefined);
    leases?.release();
    process.off('exit', releaseOnExit);
  }
}

/** Allure's environment beyond the fingerprints: the adb servers of the run. */
export function environmentOf(phones: PhoneSpec[]): Record<string, string> {
  return { 'adb.servers': [...new Set(phones.map((p) => `${p.adb.host}:${p.adb.port}`))].join(', ') };
}
