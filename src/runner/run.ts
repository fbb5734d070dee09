/**
 * `phonehome run` end to end: scenarios → phones → leases → (Appium) → scheduled jobs over phone
 * workers → report files → exit code. The CLI command (src/cli/commands/run.ts) only parses options.
 */
import { orderByControls } from './controls.ts';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadScenarios } from '../scenario/parse.ts';
import { runningAppiumUrl } from '../cli/commands/appium.ts';
import { AppiumServer } from '../ui/appium/server.ts';
import { ForkedWorker } from './fork.ts';
import type { PhoneSpec } from './ipc.ts';
import { acquireLeases, type Leases } from './lease.ts';
import { validateDevicesFile } from '../config/devices-schema.ts';
import { loadOverrides, overridesFileFor } from '../ui/pages/overrides.ts';
import { resolvePhones, type AdbServerAddress } from './phones.ts';
import { Progress } from './progress.ts';
import {
  fingerprintEntries,
  generateAllureHtml,
  writeAllureCategories,
  writeAllureEnvironment,
} from '../report/allure.ts';
import { writeJUnit } from '../report/junit.ts';
import { newRunId, runSummary as summaryOf, writeRunFiles } from '../report/summary.ts';
import { exitCodeFor, schedule, type WorkerFactory } from './scheduler.ts';
import type { RunSummary } from './types.ts';
import type { CaMethod } from '../capture/journal.ts';

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
  quarantineAfter?: number;
  stepTimeoutMs?: number;
  adbTimeoutMs?: number;
  stateDir: string;
  caDir: string;
  /** `--ca-method` (default auto: preinstalled, else system-tmpfs with root, else none). */
  caMethod?: CaMethod | 'auto';
  /** Decryption keys for the decoders, hex by name (`mistat`, `sensors`, a host pattern): `--key`. */
  keys?: Record<string, string>;
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
  let leases: Leases | undefined;
  let appium: AppiumServer | undefined;
  const workers = new Set<ForkedWorker>();
  const releaseOnExit = (): void => leases?.release();
  process.on('exit', releaseOnExit);
  const ac = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals > 1) {
      warn('phonehome: second interrupt: exiting now; the next phonehome command restores the phones');
      for (const w of workers) w.kill();
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
    if (phones.some((p) => p.ui === 'appium')) {
      appiumUrl = await runningAppiumUrl();
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
    const progress = new Progress({
      out: progressOut,
      total: scenarios.length * phones.length,
      phones: phones.map((p) => p.serial),
    });
    const startWorker: WorkerFactory = (phone: PhoneSpec) => {
      const w = new ForkedWorker(phone, {
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
      });
      workers.add(w);
      void w.exited.then(() => workers.delete(w));
      return w;
    };
    const outcome = await schedule({
      scenarios,
      phones,
      startWorker,
      retries: o.retries,
      bail: o.bail,
      ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      ...(o.quarantineAfter ? { quarantineAfter: o.quarantineAfter } : {}),
      onEvent: (e) => progress.event(e),
      signal: ac.signal,
    });
    progress.finish();
    const results = outcome.results;
    writeRunFiles(runDir, runId, results);
    writeJUnit(runDir, results);
    writeAllureEnvironment(runDir, { ...fingerprintEntries(results), ...environmentOf(phones) });
    writeAllureCategories(runDir);
    let report = runDir;
    if (!outcome.interrupted) {
      try {
        report = await generateAllureHtml(runDir);
      } catch (err) {
        warn(
          `phonehome: warning: no HTML report (${err instanceof Error ? err.message : String(err)}); ` +
            `summary.json, results.json, junit.xml and allure-results/ are in ${runDir}`,
        );
      }
    }
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
