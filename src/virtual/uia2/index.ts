/**
 * UiAutomator2 on the virtual phone (issue 5 §1; appium-uia2.md).
 *
 * - The server APK (`io.appium.uiautomator2.server`) and its test APK
 *   (`io.appium.uiautomator2.server.test`, instrumentation `androidx.test.runner.AndroidJUnitRunner`
 *   targeting the server) are not on a fresh phone: the driver installs them (streamed
 *   `exec:cmd package 'install' -r -g -S <size>`; the package manager reads the real APKs'
 *   manifests), or a lab preinstalls them with {@link preinstallUia2} (PhoneOptions.uia2Preinstalled)
 *   for sessions with `skipServerInstallation`.
 * - `am instrument -w … io.appium.uiautomator2.server.test/androidx.test.runner.AndroidJUnitRunner`
 *   fails like Android while the test package is missing; once installed it runs the emulated
 *   server (server.ts) until DELETE /session or a force-stop.
 * - io.appium.settings' launcher activity closes itself as soon as it starts, as the real one does.
 */
import type { VirtualPhone } from '../phone.ts';
import type { ActivityRecord } from '../display/screen.ts';
import { placeholderApk, type PackageInfo } from '../os/packages.ts';
import { INSTRUMENTATION, SERVER_PACKAGE, SERVER_VERSION, TEST_PACKAGE, Uia2Server } from './server.ts';

export {
  Uia2Server,
  INSTRUMENTATION,
  SERVER_PACKAGE,
  TEST_PACKAGE,
  SERVER_PORT,
  SERVER_VERSION,
} from './server.ts';

export const SETTINGS_PACKAGE = 'io.appium.settings';

/** Registers the server as the handler of the UIA2 instrumentation (installed or not). */
export function installUia2(phone: VirtualPhone, opts: { preinstalled?: boolean } = {}): Uia2Server {
  const server = new Uia2Server(phone, { log: (line) => phone.emit('log', line) });
  phone.packages.setInstrumentationHandler(INSTRUMENTATION, server.instrument);
  if (opts.preinstalled) preinstallUia2(phone);
  // Of Appium Settings' services only ForegroundService runs (started with the app); the driver
  // polls for RecorderService to stop at deleteSession, so it must not look running.
  phone.packages.on('installed', (info: PackageInfo) => {
    if (info.name === SETTINGS_PACKAGE)
      info.services = info.services.filter((s) => s.endsWith('.ForegroundService'));
  });
  phone.screen.on('activity-start', (r: ActivityRecord) => {
    if (r.packageName !== SETTINGS_PACKAGE) return;
    setImmediate(() => phone.screen.finish(r));
  });
  return server;
}

/**
 * Installs the server and test packages as if a driver had installed them before (same package
 * names and server version as appium-uiautomator2-server 10.6.6), so that `pm list instrumentation`
 * lists the runner and `am instrument` starts the server.
 */
export function preinstallUia2(phone: VirtualPhone): void {
  const apks = [
    placeholderApk({
      name: SERVER_PACKAGE,
      versionName: SERVER_VERSION.version,
      versionCode: SERVER_VERSION.versionCode,
    }),
    Buffer.concat([
      placeholderApk({ name: TEST_PACKAGE, versionName: '1.0', versionCode: 1 }),
      Buffer.from(`phonehome-instrumentation:${INSTRUMENTATION}=${SERVER_PACKAGE}\n`, 'latin1'),
    ]),
  ];
  for (const bytes of apks) {
    const info = phone.packages.install('/data/local/tmp/preinstalled.apk', bytes);
    try {
      phone.fs.writeFile(info.path, bytes, { mode: 0o644, uid: 1000, gid: 1000, mkdirs: true });
    } catch {
      // the registry is what counts
    }
  }
}
