/**
 * The W3C capabilities phonehome opens UiAutomator2 sessions with: the ONE place they are built, for
 * the Appium driver, for `phonehome lab status --json` and for the tests.
 *
 * The minimal set of facts appium-uia2.md §1a: it skips every step that installs, waits or restarts
 * (server APK install, settings app, unlock, logcat, mock location, hidden-API policy failures), so a
 * session starts in about half a second and never runs `adb kill-server` on the harness's adb server
 * (`suppressKillServer`: kill-server would drop every `adb connect`ed phone). Each phone gets its own
 * `systemPort` (the local end of `adb forward tcp:PORT tcp:6790`), so two sessions through one Appium
 * server never share a forward.
 *
 * Real Xiaomi phones need "USB debugging (Security settings)" and "Install via USB" for the server
 * APKs to be installed and driven; `skipServerInstallation` assumes they are already installed (a
 * first session without it installs them: pass `{ installServer: true }`). The harness decides that
 * per phone, once per process (server-apks.ts serverInstallNeeded(), used by openUiDriver): a phone
 * whose two APKs are at the version the driver bundles keeps `skipServerInstallation: true`, so the
 * driver neither re-checks nor raises MIUI's install confirmation at every job.
 */
import { createServer } from 'node:net';
import { isLoopbackHost } from '../../util/hosts.ts';

export interface SessionTarget {
  /** The phone's adb serial (`appium:udid`). */
  serial: string;
  /** The harness's adb server port (`appium:adbPort`). */
  adbPort: number;
  /**
   * The host of the adb server that holds the phone (default 127.0.0.1). A host that is not loopback
   * becomes `appium:remoteAdbHost`: appium-adb then runs `adb -H HOST -P PORT` (appium-adb
   * build/lib/adb.js), and the UiAutomator2 driver reaches its server's systemPort forward on that
   * host (appium-uiautomator2-driver build/lib/uiautomator2-server/session.js: `host: remoteAdbHost ||
   * 127.0.0.1`), since `adb forward` binds on the adb server's host.
   *
   * A loopback host (localhost, 127.0.0.0/8, ::1) never becomes `remoteAdbHost`: adb forward listens
   * on 127.0.0.1 whatever loopback address the server was reached on (127.0.0.2 would miss it), and
   * the driver writes the host into a URL without brackets (`http://::1:PORT` is no URL).
   */
  adbHost?: string;
  /** Local port for the UiAutomator2 server forward; unique per phone (allocateSystemPort()). */
  systemPort: number;
}

export interface CapabilityOptions {
  /** Let the driver check and install the UiAutomator2 server APKs (slower; first run on a phone). */
  installServer?: boolean;
  /** UiAutomator2 server launch timeout per attempt (ms). Default 30000 (the driver's). */
  serverLaunchTimeoutMs?: number;
}

export type Capabilities = Record<string, string | number | boolean>;

/** The capabilities for one phone. */
export function appiumCapabilities(t: SessionTarget, opts: CapabilityOptions = {}): Capabilities {
  if (!t.serial) throw new TypeError('appium capabilities need the phone serial');
  checkPort(t.adbPort, 'adbPort');
  checkPort(t.systemPort, 'systemPort');
  const caps: Capabilities = {
    platformName: 'Android',
    'appium:automationName': 'UiAutomator2',
    'appium:udid': t.serial,
    'appium:adbPort': t.adbPort,
    // Only for an adb server on another host, which `phonehome run` refuses today (runner/phones.ts
    // refuseRemoteAdbServers): this exists for a future shape that drives such a server.
    ...(t.adbHost && !isLoopbackHost(t.adbHost) ? { 'appium:remoteAdbHost': t.adbHost } : {}),
    'appium:suppressKillServer': true,
    'appium:skipServerInstallation': !opts.installServer,
    'appium:skipDeviceInitialization': true,
    'appium:skipUnlock': true,
    'appium:skipLogcatCapture': true,
    'appium:mockLocationApp': '',
    'appium:ignoreHiddenApiPolicyError': true,
    'appium:systemPort': t.systemPort,
    'appium:autoLaunch': false,
    // A new command timeout longer than any scenario step; the session is always deleted explicitly.
    'appium:newCommandTimeout': 600,
  };
  if (opts.serverLaunchTimeoutMs !== undefined) {
    caps['appium:uiautomator2ServerLaunchTimeout'] = opts.serverLaunchTimeoutMs;
  }
  return caps;
}

function checkPort(p: number, what: string): void {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new TypeError(`${what} must be a TCP port, got ${p}`);
}

/** Ports handed out by allocateSystemPort() in this process (a port is free until the forward binds it). */
const handedOut = new Set<number>();

/**
 * A free local port for a phone's systemPort: one the OS calls free, not in adb's emulator scan range
 * 5555-5585 (facts §4), not handed out before by this process. Release it with releaseSystemPort().
 */
export async function allocateSystemPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if ((port >= 5555 && port <= 5585) || handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no free local port for the UiAutomator2 forward after 50 tries');
}

export function releaseSystemPort(port: number): void {
  handedOut.delete(port);
}
