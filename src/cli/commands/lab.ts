/**
 * `phonehome lab …`: virtual phones in a background process, connected to an adb server.
 *
 * `lab up` spawns `lab serve` detached, waits until it reports ready in its state file, and prints
 * the phones. `lab serve` owns the phones: it keeps them connected (watchdog), and on SIGTERM or
 * SIGINT disconnects them, removes their devices.json entries and its state file.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { Lab } from '../../virtual/lab.ts';
import { listProfiles } from '../../virtual/profiles.ts';
import { parseDevices, runAdb } from '../../virtual/adb-cli.ts';
import { UserError } from '../errors.ts';
import { resolveAdbPortOption, stateDir } from '../state.ts';
import { readDevicesFile, recordLabPhones, writeDevicesFile } from '../devices-file.ts';

export interface LabState {
  pid: number;
  adbPort: number;
  status: 'starting' | 'ready' | 'failed';
  error?: string;
  startedAt: string;
  devicesFile: string;
  log: string;
  phones: Array<{ serial: string; profile: string; port: number; serialno: string; model: string }>;
}

const BIN = fileURLToPath(new URL('../../../bin/phonehome.js', import.meta.url));

export function labStatePath(adbPort: number): string {
  return join(stateDir(), `lab-${adbPort}.json`);
}

export function readLabState(adbPort: number): LabState | undefined {
  const path = labStatePath(adbPort);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

function writeLabState(state: LabState): void {
  const path = labStatePath(state.adbPort);
  writeFileSync(`${path}.tmp`, JSON.stringify(state, null, 2));
  renameSync(`${path}.tmp`, path);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The profiles for N phones: the given ones cycled, or all shipped profiles cycled. */
export function chooseProfiles(requested: string[], count: number | undefined): string[] {
  const known = listProfiles().map((p) => p.name);
  for (const name of requested) {
    if (!known.includes(name)) {
      throw new UserError(
        `unknown profile '${name}'`,
        `choose one of: ${known.join(', ')} (see \`phonehome lab profiles\`)`,
      );
    }
  }
  const pool = requested.length ? requested : known;
  const n = count ?? pool.length;
  return Array.from({ length: n }, (_, i) => pool[i % pool.length]!);
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new UserError(`--phones must be a whole number from 1 to 64 (got '${value}')`);
  }
  return n;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1024 || n > 65000 || (n >= 5555 && n <= 5585)) {
    throw new UserError(
      `--base-port must be 1024–65000 and outside 5555–5585 (got '${value}')`,
      'the adb server treats 5555–5585 as emulator ports',
    );
  }
  return n;
}

export function registerLabCommand(program: Command): void {
  const lab = program
    .command('lab')
    .description('virtual Xiaomi phones that the real adb server, adbkit and Appium drive like phones');

  lab
    .command('up')
    .description('start virtual phones in the background and connect them to the adb server')
    .option(
      '--phones <n>',
      'how many phones (default: one per profile given, or one of each profile)',
      parseCount,
    )
    .option(
      '--profile <name>',
      'firmware profile (repeatable; cycled over the phones)',
      (v, acc: string[]) => [...acc, v],
      [],
    )
    .option('--adb-port <port>', 'adb server port (default: $ANDROID_ADB_SERVER_PORT or 5037)')
    .option('--devices <file>', 'devices file to record the phones in', 'devices.json')
    .option('--base-port <port>', 'first TCP port for the phones (default: any free ports)', parsePort)
    .option('--json', 'print the phones as JSON')
    .addOption(
      new Option('--timeout <ms>', 'how long to wait for the phones').default(60000).argParser(Number),
    )
    .action(
      async (opts: {
        phones?: number;
        profile: string[];
        adbPort?: string;
        devices: string;
        basePort?: number;
        json?: boolean;
        timeout: number;
      }) => {
        const adbPort = resolveAdbPortOption(opts.adbPort);
        const profiles = chooseProfiles(opts.profile, opts.phones);
        const existing = readLabState(adbPort);
        if (existing && isAlive(existing.pid)) {
          throw new UserError(
            `a lab is already running for adb port ${adbPort} (pid ${existing.pid}, ${existing.phones.length} phones)`,
            'run `phonehome lab down` first, or use another --adb-port',
          );
        }
        const statePath = labStatePath(adbPort);
        rmSync(statePath, { force: true });
        const logPath = join(stateDir(), `lab-${adbPort}.log`);
        const devicesFile = resolve(opts.devices);
        readDevicesFile(devicesFile); // fail now, not in the background, if it is broken
        const args = [BIN, 'lab', 'serve', '--adb-port', String(adbPort), '--devices', devicesFile];
        for (const p of profiles) args.push('--profile', p);
        if (opts.basePort) args.push('--base-port', String(opts.basePort));
        if (!opts.json)
          process.stderr.write(`starting ${profiles.length} virtual phones (adb server port ${adbPort})…\n`);
        const out = openSync(logPath, 'a');
        const child = spawn(process.execPath, args, {
          detached: true,
          stdio: ['ignore', out, out],
          env: process.env,
        });
        child.unref();
        const state = await waitForReady(adbPort, child.pid ?? -1, opts.timeout, logPath);
        if (opts.json) {
          process.stdout.write(
            `${JSON.stringify({ adbPort, pid: state.pid, phones: state.phones }, null, 2)}\n`,
          );
          return;
        }
        printPhones(state.phones.map((p) => ({ ...p, state: 'device' })));
        process.stdout.write(
          `\nlab running as pid ${state.pid}; recorded in ${devicesFile}; log: ${logPath}\n`,
        );
        process.stdout.write(
          `stop it with: phonehome lab down${adbPort !== 5037 ? ` --adb-port ${adbPort}` : ''}\n`,
        );
      },
    );

  lab
    .command('serve', { hidden: true })
    .description('run the virtual phones in the foreground (what `lab up` starts in the background)')
    .option('--profile <name>', 'firmware profile (repeatable)', (v, acc: string[]) => [...acc, v], [])
    .option('--adb-port <port>', 'adb server port')
    .option('--devices <file>', 'devices file', 'devices.json')
    .option('--base-port <port>', 'first TCP port', parsePort)
    .action(async (opts: { profile: string[]; adbPort?: string; devices: string; basePort?: number }) => {
      await serve(
        resolveAdbPortOption(opts.adbPort),
        chooseProfiles(opts.profile, undefined),
        resolve(opts.devices),
        opts.basePort,
      );
    });

  lab
    .command('status')
    .description('list the virtual phones of the running lab')
    .option('--adb-port <port>', 'adb server port (default: $ANDROID_ADB_SERVER_PORT or 5037)')
    .option('--json', 'print JSON')
    .action(async (opts: { adbPort?: string; json?: boolean }) => {
      const adbPort = resolveAdbPortOption(opts.adbPort);
      const state = readLabState(adbPort);
      const running = !!state && state.status === 'ready' && isAlive(state.pid);
      let states = new Map<string, string>();
      if (running) {
        try {
          states = parseDevices((await runAdb(adbPort, ['devices'], { timeoutMs: 10000 })).stdout);
        } catch {
          // The adb server is down; the watchdog will reconnect when it is back.
        }
      }
      const phones = running
        ? state.phones.map((p) => ({ ...p, state: states.get(p.serial) ?? 'absent' }))
        : [];
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({ running, adbPort, pid: running ? state.pid : null, phones }, null, 2)}\n`,
        );
        return;
      }
      if (!running) {
        process.stdout.write(
          `no lab is running for adb port ${adbPort} (start one with \`phonehome lab up\`)\n`,
        );
        return;
      }
      printPhones(phones);
      process.stdout.write(`\nlab pid ${state.pid}, adb server port ${adbPort}, since ${state.startedAt}\n`);
    });

  lab
    .command('down')
    .description('disconnect and stop the virtual phones')
    .option('--adb-port <port>', 'adb server port (default: $ANDROID_ADB_SERVER_PORT or 5037)')
    .addOption(
      new Option('--timeout <ms>', 'how long to wait for a clean stop').default(15000).argParser(Number),
    )
    .action(async (opts: { adbPort?: string; timeout: number }) => {
      const adbPort = resolveAdbPortOption(opts.adbPort);
      const state = readLabState(adbPort);
      if (!state) {
        process.stdout.write(`no lab is running for adb port ${adbPort}\n`);
        return;
      }
      if (isAlive(state.pid)) {
        process.kill(state.pid, 'SIGTERM');
        const deadline = Date.now() + opts.timeout;
        while (isAlive(state.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        if (isAlive(state.pid)) {
          process.kill(state.pid, 'SIGKILL');
          process.stderr.write(`lab pid ${state.pid} did not stop within ${opts.timeout} ms; killed it\n`);
        }
      }
      // Whatever the lab did not clean up itself (it was killed, or crashed), clean up here.
      if (existsSync(labStatePath(adbPort))) {
        await Promise.all(
          state.phones.map((p) =>
            runAdb(adbPort, ['disconnect', p.serial], { timeoutMs: 5000 }).catch(() => undefined),
          ),
        );
        removeLabEntries(state.devicesFile, adbPort);
        rmSync(labStatePath(adbPort), { force: true });
      }
      process.stdout.write(`stopped ${state.phones.length} virtual phones\n`);
    });

  lab
    .command('profiles')
    .description('list the firmware profiles virtual phones can run')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const profiles = listProfiles();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(profiles, null, 2)}\n`);
        return;
      }
      const width = Math.max(...profiles.map((p) => p.name.length));
      for (const p of profiles) process.stdout.write(`${p.name.padEnd(width)}  ${p.description}\n`);
    });
}

function removeLabEntries(devicesFile: string, adbPort: number): void {
  try {
    const file = readDevicesFile(devicesFile);
    file.phones = file.phones.filter((p) => p.lab?.adbPort !== adbPort);
    writeDevicesFile(devicesFile, file);
  } catch {
    // A devices file the user broke meanwhile is theirs to fix; the lab is stopped either way.
  }
}

function printPhones(phones: Array<{ serial: string; profile: string; model: string; state: string }>): void {
  const rows = [
    ['SERIAL', 'STATE', 'PROFILE', 'MODEL'],
    ...phones.map((p) => [p.serial, p.state, p.profile, p.model]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    process.stdout.write(
      `${r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
}

async function waitForReady(
  adbPort: number,
  pid: number,
  timeoutMs: number,
  logPath: string,
): Promise<LabState> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const state = readLabState(adbPort);
    if (state?.status === 'ready') return state;
    if (state?.status === 'failed') {
      throw new UserError(`the lab failed to start: ${state.error ?? 'unknown error'}`, `see ${logPath}`);
    }
    if (pid > 0 && !isAlive(pid)) {
      throw new UserError('the lab process exited before it was ready', `see ${logPath}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (pid > 0 && isAlive(pid)) process.kill(pid, 'SIGTERM');
  throw new UserError(`the lab was not ready within ${timeoutMs} ms`, `see ${logPath}; raise --timeout`);
}

async function serve(
  adbPort: number,
  profiles: string[],
  devicesFile: string,
  basePort?: number,
): Promise<void> {
  const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
  const state: LabState = {
    pid: process.pid,
    adbPort,
    status: 'starting',
    startedAt: new Date().toISOString(),
    devicesFile,
    log: join(stateDir(), `lab-${adbPort}.log`),
    phones: [],
  };
  writeLabState(state);
  const lab = new Lab({ adbPort, log });
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${why})`);
    const hard = setTimeout(() => process.exit(1), 10000);
    await lab.stop().catch((err: unknown) => log(`stop: ${String(err)}`));
    removeLabEntries(devicesFile, adbPort);
    rmSync(labStatePath(adbPort), { force: true });
    clearTimeout(hard);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  try {
    for (const [i, profile] of profiles.entries()) {
      const entry = await lab.addPhone(profile, { port: basePort ? basePort + i : 0 });
      log(`${entry.serial} up: ${profile} (${entry.phone.props.get('ro.product.model')})`);
      state.phones.push({
        serial: entry.serial,
        profile,
        port: entry.adbd.port,
        serialno: entry.phone.serialno,
        model: entry.phone.props.get('ro.product.marketname') || entry.phone.props.get('ro.product.model'),
      });
    }
    recordLabPhones(
      devicesFile,
      adbPort,
      state.phones.map((p) => ({
        serial: p.serial,
        label: `virtual ${p.model} (${p.profile})`,
        lab: { profile: p.profile, port: p.port, adbPort },
      })),
    );
    lab.startWatchdog();
    state.status = 'ready';
    writeLabState(state);
  } catch (err) {
    state.status = 'failed';
    state.error = (err as Error).message;
    writeLabState(state);
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    await lab.stop().catch(() => undefined);
    process.exit(1);
  }
}
