/**
 * The liveness probe (issue 6 §1): "Before any negative assertion the harness proves that the phone's
 * traffic reaches the capture through the phone's own network path. If it cannot, the verdict is
 * `broken`, never `passed`."
 *
 * How: a VIEW intent (UiDriver.openUrl, i.e. `am start -a android.intent.action.VIEW -d URL -p BROWSER`)
 * makes the phone's browser fetch `http://phonehome-liveness.invalid/<token>/<n>` the way every app
 * fetches: through the system proxy setting (`global http_proxy`), `adb reverse`, into the capture
 * session. Plain HTTP, so it is captured whatever the CA method; the `.invalid` name (RFC 6761) never
 * resolves, so without the proxy the request cannot go anywhere else. The executor then waits (bounded)
 * for a record with the token. Not seen: `broken`, with what the phone's proxy setting and reverse
 * rules say, and the fix.
 *
 * Keeping the evidence clean:
 * - the intent goes to the browser in whatever mode it is (an incognito browser opens the probe in a
 *   new incognito tab), so the probe does not switch incognito off, discard incognito tabs or touch a
 *   setting;
 * - afterwards the phone goes back to what was in front: nothing to do when it was the browser (the
 *   probe tab stays, the scenario goes on in the same mode), HOME when it was the launcher, BACK
 *   otherwise;
 * - the probe's own request (probe host) and whatever carries its token without a canary of the run
 *   (the browser reporting the probe page in its statistics) are the probe's: left out of every
 *   assertion, the findings, hosts and trackers (evidence.ts). A canary can never come from the probe,
 *   so canary assertions are unaffected. Residual: when another app was in front, the browser coming
 *   to the foreground can make the launcher report an `app_open` (no token, so it counts); messages
 *   mark records that arrived while a probe ran.
 */
import type { Wiring } from '../capture/wiring.ts';
import type { CaptureRecord } from '../capture/exchange.ts';
import type { Device } from '../device/index.ts';
import { KEYCODE, type UiDriver } from '../ui/driver.ts';
import { targetOf, type LocatorData } from '../ui/pages/index.ts';
import { StepBroken, messageOf } from './errors.ts';
import type { Evidence } from './evidence.ts';

export const PROBE_HOST = 'phonehome-liveness.invalid';

export interface ProbeDeps {
  ui: UiDriver;
  device: Pick<Device, 'getSetting' | 'listReverses'>;
  wiring: Pick<Wiring, 'devicePort' | 'hostPort' | 'serial'>;
  evidence: Evidence;
  locators: LocatorData;
  browserPackage: string;
  /** How long to wait for the probe request. */
  timeoutMs: number;
  log(line: string): void;
}

type Front = 'browser' | 'launcher' | 'other';

async function front(d: ProbeDeps): Promise<Front> {
  const look = { timeoutMs: Math.min(5000, d.ui.timeoutMs) };
  const bar = targetOf(d.locators, 'browser.addressBar', { browser: d.browserPackage });
  if (await d.ui.query(bar, look)) return 'browser';
  if (await d.ui.query(targetOf(d.locators, 'launcher.workspace'), look)) return 'launcher';
  return 'other';
}

/** What the phone's wiring looks like, for the failure message. */
async function diagnose(d: ProbeDeps): Promise<string> {
  const expected = `127.0.0.1:${d.wiring.devicePort}`;
  const notes: string[] = [];
  try {
    const proxy = await d.device.getSetting('global', 'http_proxy');
    notes.push(
      proxy === expected
        ? `http_proxy is ${proxy} as wired`
        : `http_proxy is ${proxy ?? 'unset'}, not ${expected}: the proxy is not applied`,
    );
  } catch (err) {
    notes.push(`http_proxy could not be read (${messageOf(err)})`);
  }
  try {
    const rules = await d.device.listReverses();
    const ok = rules.some(
      (r) => r.remote === `tcp:${d.wiring.devicePort}` && r.local === `tcp:${d.wiring.hostPort}`,
    );
    notes.push(
      ok
        ? `adb reverse tcp:${d.wiring.devicePort} → tcp:${d.wiring.hostPort} is in place`
        : `adb reverse tcp:${d.wiring.devicePort} → tcp:${d.wiring.hostPort} is missing`,
    );
  } catch (err) {
    notes.push(`the reverse rules could not be read (${messageOf(err)})`);
  }
  return notes.join('; ');
}

/** Runs probe number `n`; resolves with how long it took, or throws StepBroken. */
export async function probeLiveness(d: ProbeDeps, n: number): Promise<number> {
  const started = Date.now();
  const url = `http://${PROBE_HOST}/${d.evidence.probeToken}/${n}`;
  // What arrived, analysed or not: the probe asks whether the capture sees the phone's traffic.
  const from = d.evidence.arrived.length;
  let before: Front = 'other';
  let seen: CaptureRecord | null;
  d.evidence.probing = true;
  try {
    before = await front(d);
    await d.ui.openUrl(url, { packageName: d.browserPackage });
    seen = await d.evidence.waitForRecord(
      (r) =>
        r.host === PROBE_HOST && r.type === 'exchange' && r.url.includes(`/${d.evidence.probeToken}/${n}`),
      Date.now() + d.timeoutMs,
      from,
    );
  } catch (err) {
    throw new StepBroken(`the liveness probe could not open ${url} on the phone: ${messageOf(err)}`);
  } finally {
    try {
      if (before === 'launcher') await d.ui.pressKey(KEYCODE.HOME);
      else if (before === 'other') await d.ui.back();
    } catch (err) {
      d.log(`liveness probe: could not return to the previous screen (${messageOf(err)})`);
    }
    d.evidence.probing = false;
  }
  if (!seen) {
    const state = await diagnose(d);
    throw new StepBroken(
      `liveness probe: the phone's browser opened ${url}, but the capture (port ${d.wiring.hostPort}) saw no request within ${d.timeoutMs} ms. ` +
        `The capture is not receiving this phone's traffic, so no negative result can be trusted (${state}). ` +
        `Fix: re-wire the phone (phonehome capture / run wires it: adb reverse tcp:${d.wiring.devicePort} tcp:${d.wiring.hostPort} and ` +
        `adb -s ${d.wiring.serial} shell settings put global http_proxy 127.0.0.1:${d.wiring.devicePort}); if both are in place, the app bypasses the system proxy (its own sockets, a VPN or Private DNS), which this capture cannot see`,
    );
  }
  const ms = Date.now() - started;
  d.log(`liveness probe ${n}: ${url} captured as #${seen.index} after ${ms} ms (phone was on the ${before})`);
  return ms;
}
