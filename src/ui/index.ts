/**
 * The UI layer: the UiDriver seam and its two implementations, chosen per phone by devices.json's
 * `ui` field ("appium", the default, or "adb").
 */
import type { Device } from '../device/device.ts';
import { AdbUiDriver, type AdbUiDriverOptions } from './adb/driver.ts';
import { AppiumUiDriver } from './appium/driver.ts';
import { forgetServerApks, serverInstallNeeded } from './appium/server-apks.ts';
import { UiError, type UiDriver } from './driver.ts';

export * from './driver.ts';
export { AdbUiDriver, type AdbUiDriverOptions } from './adb/driver.ts';
export { AppiumUiDriver, type AppiumUiDriverOptions } from './appium/driver.ts';
export {
  appiumCapabilities,
  allocateSystemPort,
  releaseSystemPort,
  type Capabilities,
  type CapabilityOptions,
  type SessionTarget,
} from './appium/capabilities.ts';
export {
  AppiumServer,
  AppiumServerError,
  checkAppiumInstalled,
  resolveAndroidHome,
  type AppiumServerOptions,
  type AndroidHome,
} from './appium/server.ts';
export { parseHierarchy, extractXml, findNode, matches, allNodes, UiXmlError, type XmlNode } from './xml.ts';

export interface OpenUiDriverOptions {
  kind: 'appium' | 'adb';
  device: Device;
  /** The adb server port the Device's client uses (for Appium's `appium:adbPort`). */
  adbPort: number;
  /** The adb server's host (Appium's `appium:remoteAdbHost` when it is not loopback). */
  adbHost?: string;
  /** Required for kind "appium": the Appium server URL. */
  appiumUrl?: string;
  systemPort?: number;
  timeoutMs?: number;
  /**
   * Appium: let the driver install its server APKs when the phone lacks them (a phone's first
   * session). phonehome checks the phone first, once per process (appium/server-apks.ts): when both
   * APKs are at the version the driver bundles, the session skips the driver's install step.
   */
  installServer?: boolean;
  adb?: AdbUiDriverOptions;
}

/** A UiDriver of the kind devices.json chose for the phone. */
export async function openUiDriver(opts: OpenUiDriverOptions): Promise<UiDriver> {
  const timeoutMs = opts.timeoutMs ?? opts.device.timeoutMs;
  if (opts.kind === 'adb') return new AdbUiDriver(opts.device, { timeoutMs, ...opts.adb });
  if (!opts.appiumUrl) {
    throw new UiError({
      serial: opts.device.serial,
      operation: 'open the Appium UI driver',
      problem: 'failed: no Appium server URL',
      hint: 'Start one with `phonehome appium up`, or set "ui": "adb" for this phone in devices.json',
    });
  }
  const install = opts.installServer ? await serverInstallNeeded(opts.device) : false;
  const driver = await AppiumUiDriver.open({
    serverUrl: opts.appiumUrl,
    serial: opts.device.serial,
    adbPort: opts.adbPort,
    ...(opts.adbHost !== undefined ? { adbHost: opts.adbHost } : {}),
    timeoutMs,
    ...(opts.systemPort !== undefined ? { systemPort: opts.systemPort } : {}),
    ...(install ? { installServer: true } : {}),
  });
  // The driver checked (and maybe installed) its server: read the phone again next time.
  if (install) forgetServerApks(opts.device.serial);
  return driver;
}
