/**
 * Test support: a private adb server on its own port (tests never touch the developer's server on
 * 5037 or whatever ANDROID_ADB_SERVER_PORT names) and virtual phones connected to it.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Lab, type LabOptions, type LabPhone } from '../../src/virtual/lab/virtual-lab.ts';
import { runAdb } from '../../src/virtual/lab/adb-client.ts';
import type { AdbdOptions } from '../../src/virtual/adbd/adbd.ts';

export type { LabPhone };

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (port < 5555 || port > 5585) return port;
  }
}

export interface TestAdbServer {
  port: number;
  stop(): Promise<void>;
}

/** Starts a private adb server. `stop()` kills only that server. */
export async function startAdbServer(): Promise<TestAdbServer> {
  const port = await freePort();
  await runAdb(port, ['start-server'], { timeoutMs: 20000 });
  return {
    port,
    stop: async () => {
      await runAdb(port, ['kill-server'], { timeoutMs: 10000 }).catch(() => undefined);
    },
  };
}

export interface TestLab {
  adb: TestAdbServer;
  lab: Lab;
  phones: LabPhone[];
  stop(): Promise<void>;
}

/**
 * A private adb server plus one connected virtual phone per profile: a shipped profile's name or a
 * profile file's path (ending in `.json`; relative paths are relative to the working directory, so
 * prefer absolute ones, e.g. `join(EXAMPLE_DIR, 'late-flush.json')`).
 */
export async function startLab(
  profiles: string[],
  adbd: AdbdOptions = {},
  phone: LabOptions['phone'] = {},
): Promise<TestLab> {
  const adb = await startAdbServer();
  const lab = new Lab({
    adbPort: adb.port,
    adbd: { rebootDownMs: 300, bootCompleteMs: 200, ...adbd },
    phone,
  });
  const phones: LabPhone[] = [];
  try {
    for (const p of profiles) phones.push(await lab.addPhone(p));
  } catch (err) {
    await lab.stop();
    await adb.stop();
    throw err;
  }
  return {
    adb,
    lab,
    phones,
    stop: async () => {
      await lab.stop();
      await adb.stop();
    },
  };
}

/** Runs the real adb CLI against the test server: resolves stdout, stderr and the exit code. */
export async function adbRun(
  port: number,
  args: string[],
  opts: { input?: Buffer | string; timeoutMs?: number } = {},
): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn('adb', ['-P', String(port), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20000);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    // 'close', not 'exit': 'exit' can fire before stdout is drained (facts §11 item 8).
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), code });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/**
 * The environment the CLI tests run `phonehome` in: a private $PHONEHOME_HOME and lab CA under the
 * test's temp dir, the test's own adb server, and CI=1 (no TTY progress). `extra` adds or, with
 * `undefined`, removes variables (runCli drops undefined ones).
 */
export function cliEnv(
  tmp: string,
  adbPort: number,
  extra: Record<string, string | undefined> = {},
): Record<string, string> {
  return {
    PHONEHOME_HOME: join(tmp, 'home'),
    PHONEHOME_CA_DIR: join(tmp, 'ca'),
    ANDROID_ADB_SERVER_PORT: String(adbPort),
    CI: '1',
    ...extra,
  };
}

/** A lab phone as devices.json lists it for an ADB-only run: where `lab` can find it again. */
export interface LabDevice {
  serial: string;
  profile: string;
  adbPort: number;
}

/**
 * Writes a devices.json of lab phones driven ADB-only (`ui: "adb"`, no Appium), each with its `lab`
 * entry so that the runner can re-create a phone it lost. `pinServers` also lists every phone's adb
 * server (`adbServers` and each phone's `adbServer`), for runs over more than one server.
 */
export function labDevicesFile(
  file: string,
  phones: LabDevice[],
  opts: { pinServers?: boolean } = {},
): string {
  const server = (p: LabDevice) => (opts.pinServers ? { adbServer: `127.0.0.1:${p.adbPort}` } : {});
  const adbServers = [...new Set(phones.map((p) => p.adbPort))].map((port) => ({ host: '127.0.0.1', port }));
  writeFileSync(
    file,
    JSON.stringify({
      ...(opts.pinServers ? { adbServers } : {}),
      phones: phones.map((p) => ({
        serial: p.serial,
        ui: 'adb',
        ...server(p),
        lab: { profile: p.profile, port: Number(p.serial.split(':')[1]), adbPort: p.adbPort },
      })),
    }),
  );
  return file;
}

/** `LabDevice`s for the phones of one lab (one adb server). */
export const labDevices = (phones: LabPhone[], adbPort: number): LabDevice[] =>
  phones.map((p) => ({ serial: p.serial, profile: p.profile.name, adbPort }));
