/**
 * Which phones a run uses, and on which adb server each one is (multi-host labs: one adb server per
 * lab host, each phone on its own client). Sources, in order: devices.json's phones (their
 * `adbServer: "host:port"`, else their lab record's adb port, else the first `adbServers` entry,
 * else the default server); when the file lists no phones, every available phone on every server in
 * `adbServers` (or on the default server). `--device` filters.
 */
import { createAdbClient, Device, listPhones, type Fingerprint, type PhoneEntry } from '../device/index.ts';
import { parsePort } from '../device/adb-client.ts';
import { uiKindOf, type DevicesFilePhone } from '../cli/devices-file.ts';
import { UserFacingError } from '../util/user-facing.ts';
import type { PhoneSpec } from './ipc.ts';
import { EXIT } from './types.ts';

export interface AdbServerAddress {
  host: string;
  port: number;
}

export interface DevicesFileLike {
  phones: DevicesFilePhone[];
  adbServers?: AdbServerAddress[];
}

export class RunConfigError extends UserFacingError {}

/** `host:port` → address (usage error on anything else). */
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
  return { host: m[1]!, port };
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
}

const key = (a: AdbServerAddress): string => `${a.host}:${a.port}`;

/** The phones to run on, fingerprinted. Throws (exit 3) when none is usable or a named one is missing. */
export async function resolvePhones(o: ResolveOptions): Promise<PhoneSpec[]> {
  const file = o.devicesFile ? o.readDevicesFile(o.devicesFile) : undefined;
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
      // JobResult.profile: the lab profile, else the phone's label in devices.json, else its model.
      ...(p.lab
        ? { labProfile: p.lab.profile }
        : typeof p.label === 'string' && p.label
          ? { labProfile: p.label }
          : {}),
    }));
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
    const why =
      phones instanceof Error
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
        const device = new Device(createAdbClient(c.adb), c.serial, { timeoutMs: o.timeoutMs ?? 10_000 });
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
    profile,
    fingerprintKey: [f.model, os, f.android.release, f.incremental, profile].join('|'),
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
