/** The device layer: the only code in phonehome that talks to adb (through adbkit). */
export {
  createAdbClient,
  resolveAdbPort,
  DEFAULT_ADB_PORT,
  type AdbClient,
  type AdbClientOptions,
  type PhonehomeAdbClient,
} from './adb-client.ts';
export { shQuote, shJoin } from './quote.ts';
export {
  DeviceError,
  DeviceUnavailableError,
  AdbServerError,
  fixForState,
  hintForDeviceOutput,
  type DeviceErrorInit,
  type UnavailableState,
} from './errors.ts';
export {
  fingerprintFromProps,
  parseGetprop,
  type Fingerprint,
  type OsName,
  type Region,
} from './fingerprint.ts';
export {
  Device,
  LogcatSession,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_TRANSFER_MS_PER_MIB,
  type DeviceOptions,
  type ShellOptions,
  type ShellResult,
  type ShellBufferResult,
  type SettingsNamespace,
  type RemoteStat,
  type ReverseRule,
  type ForwardRule,
  type LogcatEntry,
} from './device.ts';
export {
  listPhones,
  getDevice,
  trackPhones,
  parseDeviceList,
  type PhoneEntry,
  type PhoneTracker,
  type TrackOptions,
} from './discovery.ts';
export {
  connectPhone,
  connectPhones,
  splitNetworkSerial,
  DEFAULT_CONNECT_TIMEOUT_MS,
  type ConnectResult,
} from './connect.ts';
export { openDevice } from './open.ts';
