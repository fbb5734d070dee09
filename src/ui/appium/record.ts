/**
 * The record of the harness's own background Appium server (`phonehome appium up`, src/cli/commands/
 * appium.ts): `<state dir>/appium.json`, trusted only while its pid still is that process (command
 * line + start time). It lives here, beside the server, so that `phonehome run` (src/runner/run.ts)
 * can reuse a running server without importing the CLI (issue 13: dependencies point one way).
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { inspectProcess } from '../../util/process.ts';

export interface AppiumState {
  pid: number;
  procStartTime?: string;
  port: number;
  url: string;
  startedAt: string;
  log: string;
}

/** Where the record lives in a state dir ($PHONEHOME_HOME or ~/.phonehome). */
export const appiumStatePath = (stateDir: string): string => join(stateDir, 'appium.json');

export function readAppiumState(stateDir: string): AppiumState | undefined {
  try {
    return JSON.parse(readFileSync(appiumStatePath(stateDir), 'utf8')) as AppiumState;
  } catch {
    return undefined;
  }
}

/** True while the recorded pid is still our `appium serve` (not a process that reused the pid). */
export function appiumAlive(s: AppiumState): boolean {
  const p = inspectProcess(s.pid);
  if (!p) return false;
  if (s.procStartTime && p.startTime && p.startTime !== s.procStartTime) return false;
  return !p.argv || (p.argv.includes('appium') && p.argv.includes('serve'));
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
