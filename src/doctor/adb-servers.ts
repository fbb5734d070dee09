/**
 * The adb servers devices.json names (issue 6 §2 `adbServers` / a phone's `adbServer`), for
 * `phonehome doctor`: loopback ones are checked like the default server; one on another host is a
 * problem, because the capture cannot reach its phones: `adb reverse` opens the phone's tunnel on the
 * host that runs the adb server (xiaomi-telemetry.md §4.5), so the phone's proxy port would lead to
 * that host, not to this one's capture proxy (`phonehome run` refuses it, src/runner/phones.ts). The
 * phones listed with `"connect": true` (adbd over TCP) are `adb connect`ed to their local adb server
 * to see that they are reachable (that adds them to the adb server; the phones are not changed).
 */
import { existsSync } from 'node:fs';
import { validateDevicesFile, type DevicesFileError } from '../config/devices-schema.ts';
import { connectPhone, createAdbClient } from '../device/index.ts';
import { remoteAdbServerFix } from '../runner/phones.ts';
import { isLoopbackHost } from './probes.ts';
import type { Check } from './phone.ts';

export interface DevicesServers {
  /** Loopback adb server ports devices.json names (to check besides the default one). */
  localPorts: number[];
  checks: Check[];
  /** devices.json phones with `connect: true` on a loopback adb server (undefined: the default one). */
  connectPhones: Array<{ serial: string; adb?: { host: string; port: number } }>;
}

/** `host:port` → parts (the host may be a bracketed IPv6 address). */
function splitHostPort(s: string): { host: string; port: number } | null {
  const m = /^(.*):(\d+)$/.exec(s.trim());
  return m ? { host: m[1]!, port: Number(m[2]) } : null;
}

/** Reads devices.json (when there is one) and sorts its adb servers into local ones and problems. */
export function devicesFileServers(path: string | undefined): DevicesServers {
  const out: DevicesServers = { localPorts: [], checks: [], connectPhones: [] };
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
        `on another host (phonehome run refuses it): the capture cannot reach ` +
        `${phones.length ? `its phones (${phones.join(', ')})` : 'its phones'}: adb reverse opens each ` +
        `phone's tunnel on the host that runs the adb server (${s.host}), not on this one`,
      fix: remoteAdbServerFix(s.host),
    });
  }
  const first = file.adbServers?.[0];
  for (const p of file.phones) {
    if (p.connect !== true) continue;
    const adb = p.adbServer
      ? (splitHostPort(p.adbServer) ?? undefined)
      : p.lab
        ? { host: '127.0.0.1', port: p.lab.adbPort }
        : first;
    if (adb && !isLoopbackHost(adb.host)) continue; // its server already FAILs above
    out.connectPhones.push({ serial: p.serial, ...(adb ? { adb: { host: adb.host, port: adb.port } } : {}) });
  }
  return out;
}

/**
 * One row per `connect` phone: `adb connect` on its adb server (`defaultPort`: the doctor's own when
 * devices.json names none), FAIL with the adb server's answer when it is unreachable.
 */
export async function checkConnectPhones(
  phones: DevicesServers['connectPhones'],
  defaultPort: number,
  timeoutMs: number,
): Promise<Check[]> {
  return Promise.all(
    phones.map(async (p): Promise<Check> => {
      const adb = p.adb ?? { host: '127.0.0.1', port: defaultPort };
      const name = `${p.serial} adb connect`;
      try {
        const r = await connectPhone(createAdbClient(adb), p.serial, { timeoutMs });
        return r.ok
          ? {
              name,
              status: 'ok',
              detail: `reachable: connected to the adb server ${adb.host}:${adb.port} (device)`,
            }
          : {
              name,
              status: 'fail',
              detail: `unreachable from the adb server ${adb.host}:${adb.port}: ${r.problem ?? r.state}`,
              fix:
                `check that the phone's adbd listens on ${p.serial} (\`adb tcpip PORT\` on the phone's host, or the ` +
                'remote-connect service, e.g. DeviceFarmer STF, shows it) and that this host can reach that address',
            };
      } catch (err) {
        return { name, status: 'fail', detail: (err as Error).message };
      }
    }),
  );
}
