/**
 * `phonehome appium up|down`: the harness's own Appium server (Appium 3.8 with the UiAutomator2
 * driver from the project's `.appium`), in a background process that outlives the command, on
 * 127.0.0.1. `up` prints its URL (`--json`: `{"url": …}`) for webdriverio's `remote()`; `lab status
 * --json` gives the capabilities per phone. The record lives in `$PHONEHOME_HOME/appium.json`;
 * like the lab's, it is trusted only while its pid still is that process (command line + start time).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { AppiumServer } from '../../ui/appium/server.ts';
import {
  appiumAlive,
  appiumReady,
  appiumStatePath,
  readAppiumState as readAppiumStateIn,
  runningAppiumUrl as runningAppiumUrlIn,
  type AppiumState,
} from '../../ui/appium/record.ts';
import { ownStartTime, spawnDaemon, stopDaemon, writeDaemonRecord } from '../../util/daemon.ts';
import { UserFacingError } from '../../util/user-facing.ts';
import { jsonFlag, portParser, timeoutFlag } from '../options.ts';
import { stateDir } from '../state.ts';

const BIN = fileURLToPath(new URL('../../../bin/phonehome.js', import.meta.url));
export const DEFAULT_APPIUM_PORT = 4723;

// The record (appium.json) and its liveness checks live beside the server, in src/ui/appium/record.ts.
const statePath = (): string => appiumStatePath(stateDir());
const logPath = (): string => join(stateDir(), 'appium.log');
const readAppiumState = (): AppiumState | undefined => readAppiumStateIn(stateDir());
const alive = appiumAlive;
const ready = appiumReady;
/** The running server's URL, or undefined (a stale record is removed). */
export const runningAppiumUrl = (): Promise<string | undefined> => runningAppiumUrlIn(stateDir());

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
    .addOption(jsonFlag('print {"url": "http://127.0.0.1:PORT/"}'))
    .addOption(timeoutFlag('how long to wait for it to be ready', 90_000))
    .action(async (o: { port: number; json?: boolean; timeout: number }) => {
      const existing = await runningAppiumUrl();
      if (existing) return print(existing, o.json, 'Appium already running');
      const log = logPath();
      const child = spawnDaemon([BIN, 'appium', 'serve', '--port', String(o.port)], log);
      let exited: number | null | undefined;
      child.once('exit', (code) => (exited = code));
      const deadline = Date.now() + o.timeout;
      for (;;) {
        const s = readAppiumState();
        if (s && s.pid === child.pid && (await ready(s.url))) return print(s.url, o.json, 'Appium running');
        if (exited !== undefined) {
          const tail = existsSync(log)
            ? readFileSync(log, 'utf8').trim().split('\n').slice(-8).join('\n')
            : '';
          throw new UserFacingError(
            `the Appium server did not start (exit ${exited}):\n${tail}`,
            `see ${log}`,
          );
        }
        if (Date.now() > deadline) {
          process.kill(child.pid!, 'SIGTERM');
          throw new UserFacingError(`the Appium server was not ready within ${o.timeout} ms`, `see ${log}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    });

  appium
    .command('down')
    .description('stop the Appium server that `appium up` started')
    .addOption(timeoutFlag('how long to wait for a clean stop', 15_000))
    .action(async (o: { timeout: number }) => {
      const s = readAppiumState();
      if (!s || !alive(s)) {
        rmSync(statePath(), { force: true });
        process.stdout.write('no Appium server is running\n');
        return;
      }
      if ((await stopDaemon(s.pid, () => alive(s), o.timeout)) === 'killed') {
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
        const state: AppiumState = {
          pid: process.pid,
          ...ownStartTime(),
          port: server.port,
          url: server.url,
          startedAt: new Date().toISOString(),
          log: logPath(),
        };
        writeDaemonRecord(statePath(), state);
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
