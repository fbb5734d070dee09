/**
 * Which phones a run uses, and on which adb server each one is (multi-host labs: one adb server per
 * lab host, each phone on its own client). Sources, in order: devices.json's phones (their
 * `adbServer: "host:port"`, else their lab record's adb port, else the first `adbServers` entry,
 * else the default server); when the file lists no phones, every available phone on every server in
 * `adbServers` (or on the default server). `--device` filters.
 */
import {
  connectPhones,
  createAdbClient,
  listPhones,
  openDevice,
  type ConnectResult,
  type Fingerprint,
  type PhoneEntry,
} from '../device/index.ts';
import { isLoopbackHost } from '../doctor/probes.ts';
import { parsePort } from '../device/adb-client.ts';
import { uiKindOf, type DevicesFilePhone } from '../config/devices-schema.ts';
import { UserFacingError } from '../util/user-facing.ts';
import type { PhoneSpec } from './ipc.ts';
import { EXIT } from '../report/run-folder.ts';

export interface AdbServerAddress {
  host: string;
  port: number;
}

export interface DevicesFileLike {
  phones: DevicesFilePhone[];
  adbServers?: AdbServerAddress[];
}

export class RunConfigError extends UserFacingError {}

/** An adb server that is not on this host (issue 12 §1): exit 2, with why and the two shapes that work. */
export class RemoteAdbServerError extends UserFacingError {
  constructor(
    readonly server: AdbServerAddress,
    /** Where it was named: "devices.json adbServers[0]", "ANDROID_ADB_SERVER_ADDRESS", … */
    readonly where: string,
    /** The phones on it, when known. */
    phones: readonly string[] = [],
  ) {
    super(
      `${where} names the adb server ${key(server)}, which is on another host: phonehome cannot capture ` +
        `${phones.length ? `its phones (${phones.join(', ')})` : 'its phones'} from here. ` +
        `adb reverse opens each phone's tunnel on the host that runs the adb server (${server.host}), so the ` +
        `phones' uploads would go to ${server.host}, never to this host's capture proxy on 127.0.0.1`,
      remoteAdbServerFix(server.host),
      EXIT.usage,
    );
  }
}

/** The two supported shapes for phones on other hosts (also used by `phonehome doctor`). */
export function remoteAdbServerFix(host: string): string {
  return (
    `use one of the two supported shapes:
` +
    `    (a) a shard per lab host: on each of the N lab hosts (${host} among them), next to its own adb server, ` +
    `run \`phonehome run --shard I/N\` (I = 1…N), then combine the runs with \`phonehome merge RUN_DIR… --out DIR\`;
` +
    `    (b) the phones attached to this host's adb server over TCP (adbd over TCP, as \`adb tcpip\` or ` +
    `DeviceFarmer STF's remote connect gives it): \`adb connect PHONE_HOST:PORT\`, or list each phone in ` +
    `devices.json as {"serial": "PHONE_HOST:PORT", "connect": true} with no "adbServer" on another host ` +
    `(phonehome connects it, and adb reverse then runs back to this host)`
  );
}

/**
 * Refuses (RemoteAdbServerError, exit 2) an adb server on another host: devices.json's `adbServers`,
 * a phone's `adbServer`, or the default server (ANDROID_ADB_SERVER_ADDRESS). Loopback is localhost,
 * 127.0.0.0/8 and ::1. Touches no adb server.
 */
export function refuseRemoteAdbServers(
  file: DevicesFileLike | undefined,
  defaultServer: AdbServerAddress,
  devicesFile = 'devices.json',
): void {
  if (!isLoopbackHost(defaultServer.host)) {
    throw new RemoteAdbServerError(defaultServer, `ANDROID_ADB_SERVER_ADDRESS (${defaultServer.host})`);
  }
  if (!file) return;
  const first = file.adbServers?.[0];
  for (const [i, a] of (file.adbServers ?? []).entries()) {
    if (isLoopbackHost(a.host)) continue;
    const phones = file.phones
      .filter((p) => p.adbServer === key(a) || (p.adbServer === undefined && !p.lab && a === first))
      .map((p) => p.serial);
    throw new RemoteAdbServerError(a, `${devicesFile} adbServers[${i}]`, phones);
  }
  for (const p of file.phones) {
    if (typeof p.adbServer !== 'string') continue;
    const a = parseAdbServer(p.adbServer, `${devicesFile} phone ${p.serial}`);
    if (!isLoopbackHost(a.host))
      throw new RemoteAdbServerError(a, `${devicesFile} phone ${p.serial}'s adbServer`, [p.serial]);
  }
}

/**
 * `host:port` → address (usage error on anything else). An IPv6 literal is written in brackets
 * (`[::1]:5037`) and given back without them (`::1`): adbkit passes the host to net.connect as is.
 */
export function parseAdbServer(value: string, where: string): AdbServerAddress {
  const m = /^(.+):(\d+)$/.exec(value.trim());
  const port = m ? parsePort(m[2]!) : undefined;
  if (!m || port === undefined) {
    throw new RunConfigError(
      `${where}: adb server must be "host:port", got ${JSON.stringify(value)}`,
      undefined,
      EXIT.usage,
    );
  }
  const host = /^\[(.+)\]$/.exec(m[1]!)?.[1] ?? m[1]!;
  return { host, port };
}

/** Reads and validates devices.json (src/config/devices-schema.ts: errors with file:line:col, exit 2). */
export type DevicesFileReader = (path: string) => DevicesFileLike;

export interface ResolveOptions {
  devicesFile?: string;
  /** --device (repeatable). */
  serials?: string[];
  /** The default adb server (--adb-port, ANDROID_ADB_SERVER_PORT, 5037). */
  defaultServer: AdbServerAddress;
  readDevicesFile: DevicesFileReader;
  timeoutMs?: number;
  warn: (line: string) => void;
}

interface Candidate {
  serial: string;
  adb: AdbServerAddress;
  ui: 'appium' | 'adb';
  labProfile?: string;
  /** A virtual phone's profile: part of its fingerprint key (a real phone's label is not). */
  keyProfile?: string;
  connect?: boolean;
}

const key = (a: AdbServerAddress): string => `${a.host}:${a.port}`;

/**
 * `adb connect`s the devices.json phones with `connect: true` (each on its adb server), in parallel.
 * Those the adb server cannot reach come back with their problem; nothing throws for a phone.
 */
export async function connectListedPhones(
  phones: ReadonlyArray<{ serial: string; adb: AdbServerAddress }>,
  timeoutMs = 10_000,
): Promise<ConnectResult[]> {
  const byServer = new Map<string, { adb: AdbServerAddress; serials: string[] }>();
  for (const p of phones) {
    const g = byServer.get(key(p.adb)) ?? { adb: p.adb, serials: [] };
    g.serials.push(p.serial);
    byServer.set(key(p.adb), g);
  }
  const results = await Promise.all(
    [...byServer.values()].map(async (g) => {
      try {
        return await connectPhones(createAdbClient(g.adb), g.serials, { timeoutMs });
      } catch (err) {
        const problem = err instanceof Error ? err.message : String(err);
        return g.serials.map((serial): ConnectResult => ({ serial, ok: false, state: 'absent', problem }));
      }
    }),
  );
  return results.flat();
}

/** The phones to run on, fingerprinted. Throws (exit 3) when none is usable or a named one is missing. */
export async function resolvePhones(o: ResolveOptions): Promise<PhoneSpec[]> {
  const file = o.devicesFile ? o.readDevicesFile(o.devicesFile) : undefined;
  // Before any adb server is asked anything: one on another host cannot work (exit 2, why, the fix).
  refuseRemoteAdbServers(file, o.defaultServer, o.devicesFile);
  const servers = (file?.adbServers ?? []).map((s) => ({ host: s.host, port: s.port }));
  const fallback = servers[0] ?? o.defaultServer;
  let candidates: Candidate[] | undefined;
  if (file && file.phones.length > 0) {
    candidates = file.phones.map((p) => ({
      serial: p.serial,
      adb:
        typeof p.adbServer === 'string'
          ? parseAdbServer(p.adbServer, `${o.devicesFile} phone ${p.serial}`)
          : p.lab
            ? { host: '127.0.0.1', port: p.lab.adbPort }
            : fallback,
      ui: uiKindOf(p),
      ...(p.connect === true ? { connect: true } : {}),
      // JobResult.profile: the lab profile, else the phone's label in devices.json, else its model.
      ...(p.lab
        ? { labProfile: p.lab.profile, keyProfile: p.lab.profile }
        : typeof p.label === 'string' && p.label
          ? { labProfile: p.label }
          : {}),
    }));
  }
  // Phones reached over adb's TCP transport: connected to their (local) adb server before listing.
  // Unreachable ones are left out below like any missing phone (an error when asked for by --device).
  const unreachable = new Map<string, string>();
  const toConnect = (candidates ?? []).filter(
    (c) => c.connect && (!o.serials?.length || o.serials.includes(c.serial)),
  );
  if (toConnect.length) {
    for (const r of await connectListedPhones(toConnect, o.timeoutMs ?? 10_000)) {
      if (!r.ok) unreachable.set(r.serial, r.problem ?? `is ${r.state}`);
    }
  }
  // What every adb server involved lists, once per server.
  const listed = new Map<string, PhoneEntry[] | Error>();
  const list = async (a: AdbServerAddress): Promise<PhoneEntry[] | Error> => {
    const k = key(a);
    if (!listed.has(k)) {
      try {
        listed.set(k, await listPhones(createAdbClient(a), { timeoutMs: o.timeoutMs ?? 10_000 }));
      } catch (err) {
        listed.set(k, err instanceof Error ? err : new Error(String(err)));
      }
    }
    return listed.get(k)!;
  };
  if (!candidates) {
    candidates = [];
    for (const a of servers.length ? servers : [o.defaultServer]) {
      const phones = await list(a);
      if (phones instanceof Error) {
        o.warn(`phonehome: adb server ${key(a)}: ${phones.message}`);
        continue;
      }
      for (const p of phones) if (p.available) candidates.push({ serial: p.serial, adb: a, ui: 'appium' });
    }
  }
  if (o.serials?.length) {
    const known = new Set(candidates.map((c) => c.serial));
    const missing = o.serials.filter((s) => !known.has(s));
    if (missing.length) {
      throw new RunConfigError(
        `no phone ${missing.join(', ')} ${file?.phones.length ? `in ${o.devicesFile}` : 'on the adb server'}`,
        `run phonehome devices to see the phones${known.size ? ` (known: ${[...known].join(', ')})` : ''}`,
        EXIT.infrastructure,
      );
    }
    const wanted = new Set(o.serials);
    candidates = candidates.filter((c) => wanted.has(c.serial));
  }
  const usable: Candidate[] = [];
  for (const c of candidates) {
    const phones = await list(c.adb);
    const entry = phones instanceof Error ? undefined : phones.find((p) => p.serial === c.serial);
    if (entry?.available) {
      usable.push(c);
      continue;
    }
    const why = unreachable.has(c.serial)
      ? `is unreachable (${unreachable.get(c.serial)})`
      : phones instanceof Error
        ? phones.message
        : entry
          ? `is ${entry.state}${entry.problem ? ` (${entry.problem})` : ''}`
          : `is not connected to the adb server at ${key(c.adb)}`;
    if (o.serials?.includes(c.serial)) {
      throw new RunConfigError(
        `phone ${c.serial} ${why}`,
        'run phonehome devices to check it',
        EXIT.infrastructure,
      );
    }
    o.warn(`phonehome: leaving out ${c.serial}: ${why}`);
  }
  const specs = await Promise.all(
    usable.map(async (c): Promise<PhoneSpec | undefined> => {
      try {
        const device = openDevice(c.adb, c.serial, { timeoutMs: o.timeoutMs ?? 10_000 });
        const f = await device.fingerprint();
        return phoneSpec(c, f);
      } catch (err) {
        o.warn(`phonehome: leaving out ${c.serial}: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      }
    }),
  );
  const phones = specs.filter((s): s is PhoneSpec => s !== undefined);
  if (phones.length === 0) {
    throw new RunConfigError(
      'no phone to run on',
      'connect a phone (phonehome devices) or start the virtual lab (phonehome lab up)',
      EXIT.infrastructure,
    );
  }
  return phones;
}

export function phoneSpec(c: Candidate, f: Fingerprint): PhoneSpec {
  const profile = c.labProfile ?? f.model;
  const os = `${f.os.name}${f.os.version ? ` ${f.os.version}` : ''}`;
  return {
    serial: c.serial,
    adb: c.adb,
    ui: c.ui,
    ...(c.connect ? { connect: true } : {}),
    profile,
    // The firmware, and the profile of a virtual phone (its behaviour); never a devices.json label,
    // which is free text: twin lab hosts that label their phones differently must cut a suite the
    // same way (runner/shard.ts) and their phones stay twins for a quarantine move.
    fingerprintKey: [f.model, os, f.android.release, f.incremental, c.keyProfile ?? f.model].join('|'),
    fingerprint: {
      model: f.model,
      ...(f.marketName ? { marketName: f.marketName } : {}),
      os,
      android: f.android.release,
      build: f.incremental,
      region: f.region,
      rooted: String(f.rooted),
      profile,
    },
  };
}
