/**
 * The adb servers devices.json names (issue 6 §2 `adbServers` / a phone's `adbServer`), for
 * `phonehome doctor`: loopback ones are checked like the default server; one on another host is a
 * problem, because the capture cannot reach its phones: `adb reverse` opens the phone's tunnel on the
 * host that runs the adb server (xiaomi-telemetry.md §4.5), so the phone's proxy port would lead to
 * that host, not to this one's capture proxy.
 */
import { existsSync } from 'node:fs';
import { validateDevicesFile, type DevicesFileError } from '../config/devices-schema.ts';
import { isLoopbackHost } from './probes.ts';
import type { Check } from './phone.ts';

export interface DevicesServers {
  /** Loopback adb server ports devices.json names (to check besides the default one). */
  localPorts: number[];
  checks: Check[];
}

/** `host:port` → parts (the host may be a bracketed IPv6 address). */
function splitHostPort(s: string): { host: string; port: number } | null {
  const m = /^(.*):(\d+)$/.exec(s.trim());
  return m ? { host: m[1]!, port: Number(m[2]) } : null;
}

/** Reads devices.json (when there is one) and sorts its adb servers into local ones and problems. */
export function devicesFileServers(path: string | undefined): DevicesServers {
  const out: DevicesServers = { localPorts: [], checks: [] };
  if (!path) return out;
  if (!existsSync(path)) {
    out.checks.push({
      name: `devices file ${path}`,
      status: 'fail',
      detail: 'no such file',
      fix: 'pass an existing file with --devices, or run phonehome lab up to write devices.json',
    });
    return out;
  }
  let file: ReturnType<typeof validateDevicesFile>;
  try {
    file = validateDevicesFile(path);
  } catch (err) {
    out.checks.push({
      name: `devices file ${path}`,
      status: 'fail',
      detail: (err as DevicesFileError).message,
      fix: 'fix the file as the message says (phonehome schema devices prints its JSON Schema)',
    });
    return out;
  }
  const servers = new Map<string, { host: string; port: number }>();
  for (const s of file.adbServers ?? []) servers.set(`${s.host}:${s.port}`, s);
  for (const p of file.phones) {
    const hp = p.adbServer ? splitHostPort(p.adbServer) : null;
    if (hp) servers.set(`${hp.host}:${hp.port}`, hp);
  }
  for (const [key, s] of servers) {
    if (isLoopbackHost(s.host)) {
      if (!out.localPorts.includes(s.port)) out.localPorts.push(s.port);
      continue;
    }
    const phones = file.phones
      .filter(
        (p) =>
          p.adbServer === key ||
          (!p.adbServer &&
            file.adbServers?.[0] &&
            `${file.adbServers[0].host}:${file.adbServers[0].port}` === key),
      )
      .map((p) => p.serial);
    out.checks.push({
      name: `adb server ${key} (${path})`,
      status: 'fail',
      detail:
        `on another host: not supported yet (see the multi-host issue). The capture cannot reach ` +
        `${phones.length ? `its phones (${phones.join(', ')})` : 'its phones'}: adb reverse opens each ` +
        `phone's tunnel on the host that runs the adb server (${s.host}), not on this one`,
      fix:
        'two shapes are being built (multi-host issue): a shard run on that host (run phonehome on ' +
        `${s.host} for its phones), or each phone \`adb connect\`ed to this host's adb server (then list ` +
        'it without "adbServer"); until then, remove this server from devices.json',
    });
  }
  return out;
}
