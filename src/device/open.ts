/**
 * One way to open a Device from an adb address: a sealed adbkit client (no stray `adb start-server`,
 * connection errors swallowed) for the server at `address`, talking to `serial`. Callers that also
 * list or connect phones on the same server keep their own client and construct the Device from it.
 */
import { createAdbClient, type AdbClientOptions } from './adb-client.ts';
import { Device, type DeviceOptions } from './device.ts';

export function openDevice(address: AdbClientOptions, serial: string, opts: DeviceOptions = {}): Device {
  return new Device(createAdbClient(address), serial, opts);
}
