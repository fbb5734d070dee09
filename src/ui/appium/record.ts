/**
 * The record of the harness's own background Appium server (`phonehome appium up`, src/cli/commands/
 * appium.ts): `<state dir>/appium.json`, trusted only while its pid still is that process (command
 * line + start time). It lives here, beside the server, so that `phonehome run` (src/runner/run.ts)
 * can reuse a running server without importing the CLI (issue 13: dependencies point one way).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { daemonStatus, readDaemonRecord, type DaemonRecord } from '../../util/daemon.ts';

export interface AppiumState extends DaemonRecord {
  port: number;
  url: string;
  startedAt: string;
  log: string;
}

/** Where the record lives in a state dir ($PHONEHOME_HOME or ~/.phonehome). */
export const appiumStatePath = (stateDir: string): string => join(stateDir, 'appium.json');

export function readAppiumState(stateDir: string): AppiumState | undefined {
  return readDaemonRecord<AppiumState>(appiumStatePath(stateDir));
}

/**
 * True while the recorded pid is still our `appium serve` (not a process that reused the pid). Where
 * the OS does not show the command line, the start time alone decides.
 */
export function appiumAlive(s: AppiumState): boolean {
  const isAppium = (argv: readonly string[] | undefined): boolean =>
    !argv || (argv.includes('appium') && argv.includes('serve'));
  return daemonStatus(s, isAppium) === 'running';
}

export async function appiumReady(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}status`, { signal: AbortSignal.timeout(2000) });
    return r.ok;
  } catch {
    return false;
  }
}

/** The running server's URL, or undefined (a stale record is removed). */
export async function runningAppiumUrl(stateDir: string): Promise<string | undefined> {
  const s = readAppiumState(stateDir);
  if (!s) return undefined;
  if (!appiumAlive(s)) {
    rmSync(appiumStatePath(stateDir), { force: true });
    return undefined;
  }
  return (await appiumReady(s.url)) ? s.url : undefined;
}
