/**
 * `phonehome appium up|down`: the harness's own Appium server (Appium 3.8 with the UiAutomator2
 * driver from the project's `.appium`), in a background process that outlives the command, on
 * 127.0.0.1. `up` prints its URL (`--json`: `{"url": …}`) for webdriverio's `remote()`; `lab status
 * --json` gives the capabilities per phone. The record lives in `$PHONEHOME_HOME/appium.json`;
 * like the lab's, it is trusted only while its pid still is that process (command line + start time).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { AppiumServer } from '../../ui/appium/server.ts';
import { inspectProcess } from '../../util/process.ts';
import { UserError } from '../errors.ts';
import { portParser, timeoutMsParser } from '../options.ts';
import { stateDir } from '../state.ts';

const BIN = fileURLToPath(new URL('../../../bin/phonehome.js', import.meta.url));
export const DEFAULT_APPIUM_PORT = 4723;

export interface AppiumState {
  pid: number;
  procStartTime?: string;
  port: number;
  url: string;
  startedAt: string;
  log: string;
}

const statePath = (): string => join(stateDir(), 'appium.json');
const logPath = (): string => join(stateDir(), 'appium.log');

export function readAppiumState(): AppiumState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(), 'utf8')) as AppiumState;
  } catch {
    return undefined;
  }
}

/** True while the recorded pid is still our `appium serve` (not a process that reused the pid). */
function alive(s: AppiumState): boolean {
  const p = inspectProcess(s.pid);
  if (!p) return false;
  if (s.procStartTime && p.startTime && p.startTime !== s.procStartTime) return false;
  return !p.argv || (p.argv.includes('appium') && p.argv.includes('serve'));
}

async function ready(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}status`, { signal: AbortSignal.timeout(2000) });
    return r.ok;
  } catch {
    return false;
  }
}

/** The running server's URL, or undefined (a stale record is removed). */
export async function runningAppiumUrl(): Promise<string | undefined> {
  const s = readAppiumState();
  if (!s) return undefined;
  if (!alive(s)) {
    rmSync(statePath(), { force: true });
    return undefined;
  }
  return (await ready(s.url)) ? s.url : undefined;
}

function print(url: string, json: boolean | undefined, note: string): void {
  process.stdout.write(json ? `${JSON.stringify({ url })}\n` : `${note}: ${url}\n`);
}

export function registerAppiumCommand(program: Command): void {
  const appium = program
    .command('appium')
    .description("start and stop phonehome's Appium server (UiAutomator2 driver, 127.0.0.1)");

  appium
    .command('up')
    .description('start the Appium server in the background (nothing happens if it runs already)')
    .option('--port <port>', 'port to listen on', portParser('--port'), DEFAULT_APPIUM_PORT)
    .option('--json', 'print {"url": "http://127.0.0.1:PORT/"}')
    .option('--timeout <ms>', 'how long to wait for it to be ready', timeoutMsParser('--timeout'), 90_000)
    .action(async (o: { port: number; json?: boolean; timeout: number }) => {
      const existing = await runningAppiumUrl();
      if (existing) return print(existing, o.json, 'Appium already running');
      const log = logPath();
      const fd = openSync(log, 'a');
      const child = spawn(process.execPath, [BIN, 'appium', 'serve', '--port', String(o.port)], {
        detached: true,
        stdio: ['ignore', fd, fd],
        env: process.env,
      });
      closeSync(fd);
      let exited: number | null | undefined;
      child.once('exit', (code) => (exited = code));
      child.unref();
      const deadline = Date.now() + o.timeout;
      for (;;) {
        const s = readAppiumState();
        if (s && s.pid === child.pid && (await ready(s.url))) return print(s.url, o.json, 'Appium running');
        if (exited !== undefined) {
          const tail = existsSync(log)
            ? readFileSync(log, 'utf8').trim().split('\n').slice(-8).join('\n')
            : '';
          throw new UserError(`the Appium server did not start (exit ${exited}):\n${tail}`, `see ${log}`);
        }
        if (Date.now() > deadline) {
          process.kill(child.pid!, 'SIGTERM');
          throw new UserError(`the Appium server was not ready within ${o.timeout} ms`, `see ${log}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    });

  appium
    .command('down')
    .description('stop the Appium server that `appium up` started')
    .option('--timeout <ms>', 'how long to wait for a clean stop', timeoutMsParser('--timeout'), 15_000)
    .action(async (o: { timeout: number }) => {
      const s = readAppiumState();
      if (!s || !alive(s)) {
        rmSync(statePath(), { force: true });
        process.stdout.write('no Appium server is running\n');
        return;
      }
      process.kill(s.pid, 'SIGTERM');
      const deadline = Date.now() + o.timeout;
      while (alive(s) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (alive(s)) {
        process.kill(s.pid, 'SIGKILL');
        process.stdout.write(`the Appium server (pid ${s.pid}) did not stop in time; killed it\n`);
      } else {
        process.stdout.write(`stopped the Appium server on ${s.url}\n`);
      }
      rmSync(statePath(), { force: true });
    });

  // The background process itself (what `up` spawns): owns the Appium child and the record.
  appium.addCommand(
    new Command('serve')
      .option('--port <port>', 'port', portParser('--port'), DEFAULT_APPIUM_PORT)
      .action(async (o: { port: number }) => {
        const server = await AppiumServer.start({ port: o.port, stateDir: stateDir() });
        const startTime = inspectProcess(process.pid)?.startTime;
        const state: AppiumState = {
          pid: process.pid,
          ...(startTime ? { procStartTime: startTime } : {}),
          port: server.port,
          url: server.url,
          startedAt: new Date().toISOString(),
          log: logPath(),
        };
        writeFileSync(`${statePath()}.tmp`, JSON.stringify(state, null, 2));
        renameSync(`${statePath()}.tmp`, statePath());
        process.stdout.write(`appium serve: ${server.url} (pid ${server.pid ?? '?'})\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGTERM', () => resolve());
          process.once('SIGINT', () => resolve());
        });
        await server.stop();
        const now = readAppiumState();
        if (now?.pid === process.pid) rmSync(statePath(), { force: true });
      }),
    { hidden: true },
  );
}
