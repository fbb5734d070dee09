/**
 * `phonehome lab …`: virtual phones in a background process, connected to an adb server.
 *
 * `lab up` spawns `lab serve` detached, waits until it reports ready in its state file, and prints
 * the phones. `lab serve` owns the phones: it keeps them connected (watchdog), and on SIGTERM or
 * SIGINT disconnects them, removes their devices.json entries and its state file.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { Lab } from '../../virtual/lab/virtual-lab.ts';
import {
  isProfilePath,
  listExampleProfiles,
  listProfiles,
  loadProfileFile,
  PROFILE_DIR,
  ProfileError,
} from '../../virtual/profiles/load.ts';
import { adbServerListening, parseDevices, runAdb } from '../../virtual/lab/adb-client.ts';
import { UserFacingError } from '../../util/user-facing.ts';
import { stateDir } from '../state.ts';
import { readDevicesFile, recordLabPhones, writeDevicesFile } from '../../config/devices-file.ts';
import {
  adbPortFlag,
  adbPortOption,
  checkPhonePorts,
  jsonFlag,
  parseBasePort,
  parsePhoneCount,
  timeoutFlag,
} from '../options.ts';
import { inspectProcess, type ProcessInfo } from '../../util/process.ts';
import {
  daemonStatus,
  type DaemonStatus,
  ownStartTime,
  readDaemonRecord,
  spawnDaemon,
  stopDaemon,
  writeDaemonRecord,
} from '../../util/daemon.ts';
import { allocateSystemPort, appiumCapabilities } from '../../ui/appium/capabilities.ts';
import { runningAppiumUrl } from './appium.ts';
export { parseProcStat, inspectProcess, type ProcessInfo } from '../../util/process.ts';

export interface LabState {
  pid: number;
  /**
   * The lab process's start time (field 22 of /proc/PID/stat, clock ticks since boot; Linux only):
   * with the command line it tells the lab from an unrelated process that got the pid after a crash
   * or a reboot.
   */
  procStartTime?: string;
  adbPort: number;
  status: 'starting' | 'ready' | 'failed';
  error?: string;
  /** The fix for `error`, when the error had one. */
  hint?: string;
  startedAt: string;
  devicesFile: string;
  log: string;
  /** `lab up --listen-host`: the address the phones' adbd listens on (default 127.0.0.1). */
  listenHost?: string;
  /** `lab up --no-connect`: the phones are connected to no adb server (another host connects them). */
  noConnect?: boolean;
  phones: Array<{ serial: string; profile: string; port: number; serialno: string; model: string }>;
}

const BIN = fileURLToPath(new URL('../../../bin/phonehome.js', import.meta.url));

export function labStatePath(adbPort: number): string {
  return join(stateDir(), `lab-${adbPort}.json`);
}

export function readLabState(adbPort: number): LabState | undefined {
  return readDaemonRecord<LabState>(labStatePath(adbPort));
}

function writeLabState(state: LabState): void {
  writeDaemonRecord(labStatePath(state.adbPort), state);
}

/** True when `argv` is a `phonehome lab serve` for `adbPort` (what `lab up` spawns). */
export function isLabServeArgv(argv: readonly string[], adbPort: number): boolean {
  const lab = argv.indexOf('lab');
  if (lab < 0 || argv[lab + 1] !== 'serve') return false;
  const port = String(adbPort);
  return argv.some((a, i) => (a === '--adb-port' && argv[i + 1] === port) || a === `--adb-port=${port}`);
}

/**
 * Whether the process a lab record names is that lab: `running` (alive, `lab serve --adb-port N`,
 * same start time), `gone` (no such process), or `foreign` (the pid now belongs to another process,
 * after a crash or a reboot). Only a `running` lab may be reported as running or be signalled.
 */
export type LabProcessStatus = DaemonStatus;

export function labProcessStatus(
  state: Pick<LabState, 'pid' | 'adbPort' | 'procStartTime'>,
  inspect: (pid: number) => ProcessInfo | undefined = inspectProcess,
): LabProcessStatus {
  // A command line the OS does not show cannot be proved to be the lab: not signalled.
  return daemonStatus(state, (argv) => !!argv && isLabServeArgv(argv, state.adbPort), inspect);
}

/** `--listen-host`: an IPv4 or IPv6 address of this host (a name would hide which network it exposes). */
export function parseListenHost(value: string): string {
  const v = value.trim().replace(/^\[(.*)\]$/, '$1');
  if (isIP(v) === 0) {
    throw new UserFacingError(
      `--listen-host must be an IP address of this host, got ${JSON.stringify(value)}`,
      'e.g. --listen-host 10.200.1.2 (an address of a test network namespace)',
      2,
    );
  }
  return v;
}

function staleReason(status: LabProcessStatus): string {
  return status === 'gone' ? 'that process has exited' : 'that pid now belongs to another process';
}

/**
 * The profiles for N phones: the given ones cycled, or all profiles in `dir` cycled. A requested
 * profile whose file is broken fails with what is wrong with the file (not "unknown profile"), and
 * so does any broken file when no profile is requested. A requested profile ending in `.json` is a
 * profile file (relative to the working directory; it may `extend` a profile of `dir`): it is
 * validated now and returned as an absolute path, which is what `lab serve` and Lab.addPhone take.
 */
export function chooseProfiles(requested: string[], count: number | undefined, dir = PROFILE_DIR): string[] {
  const all = listProfiles(dir);
  const usable = all.filter((p) => p.error === undefined).map((p) => p.name);
  const broken = (p: { name: string; error?: string }, alternative: string) =>
    new UserFacingError(
      p.error ?? '',
      `fix ${join(dir, `${p.name}.json`)} (profiles/README.md describes each field)${alternative}`,
    );
  const chosen: string[] = [];
  for (const name of requested) {
    if (isProfilePath(name)) {
      const file = resolve(name);
      try {
        loadProfileFile(file, dir);
      } catch (err) {
        if (!(err instanceof ProfileError)) throw err;
        throw new UserFacingError(
          err.message,
          existsSync(file)
            ? `fix ${file} (profiles/README.md describes each field)`
            : `no such file: ${file} (a profile file's path is relative to the working directory)`,
        );
      }
      chosen.push(file);
      continue;
    }
    const entry = all.find((p) => p.name === name);
    if (!entry) {
      throw new UserFacingError(
        `unknown profile '${name}'`,
        `choose one of: ${usable.join(', ')} (see \`phonehome lab profiles\`)`,
      );
    }
    if (entry.error !== undefined) throw broken(entry, '');
    chosen.push(name);
  }
  if (requested.length === 0) {
    const bad = all.find((p) => p.error !== undefined);
    if (bad) throw broken(bad, ', or name the profiles to use with --profile');
  }
  const pool = requested.length ? chosen : usable;
  if (pool.length === 0)
    throw new UserFacingError(`no firmware profiles in ${dir}`, 'restore profiles/ from the checkout');
  const n = count ?? pool.length;
  return Array.from({ length: n }, (_, i) => pool[i % pool.length]!);
}

/** The options `lab up` takes for its phones and hands on to `lab serve`. */
interface LabPhonesOptions {
  profile: string[];
  adbPort?: string;
  devices: string;
  basePort?: number;
  listenHost?: string;
  connect: boolean;
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
      parsePhoneCount,
    )
    .option(
      '--profile <name|file.json>',
      'firmware profile: a name (`lab profiles`) or a profile file ending in .json, e.g. ' +
        'profiles/examples/late-flush.json (repeatable; cycled over the phones)',
      (v, acc: string[]) => [...acc, v],
      [],
    )
    .addOption(adbPortFlag())
    .option('--devices <file>', 'devices file to record the phones in', 'devices.json')
    .option('--base-port <port>', 'first TCP port for the phones (default: any free ports)', parseBasePort)
    .option(
      '--listen-host <addr>',
      "address the phones' adbd listens on (default 127.0.0.1); another address EXPOSES the virtual phones " +
        'to everyone on that network (no adb auth): meant for test network namespaces; serials become ADDR:PORT',
      parseListenHost,
    )
    .option(
      '--no-connect',
      'start the phones without connecting them to any adb server (no watchdog either): an adb server on ' +
        'another host `adb connect`s them; devices.json records them with "connect": true',
    )
    .addOption(jsonFlag('print the phones as JSON'))
    .addOption(timeoutFlag('how long to wait for the phones', 60000))
    .action(async (opts: LabPhonesOptions & { phones?: number; json?: boolean; timeout: number }) => {
      const adbPort = adbPortOption(opts.adbPort);
      const profiles = chooseProfiles(opts.profile, opts.phones);
      if (opts.basePort !== undefined) checkPhonePorts(opts.basePort, profiles.length);
      const existing = readLabState(adbPort);
      if (existing && labProcessStatus(existing) === 'running') {
        throw new UserFacingError(
          `a lab is already running for adb port ${adbPort} (pid ${existing.pid}, ${existing.phones.length} phones)`,
          `run \`phonehome lab down --adb-port ${adbPort}\` first, or use another --adb-port`,
        );
      }
      // A record whose process is gone or is not the lab is stale: the new lab replaces it.
      const statePath = labStatePath(adbPort);
      rmSync(statePath, { force: true });
      const logPath = join(stateDir(), `lab-${adbPort}.log`);
      const devicesFile = resolve(opts.devices);
      readDevicesFile(devicesFile); // fail now, not in the background, if it is broken
      // Likewise a missing adb client (`adb version` talks to no server, so it starts none).
      if (opts.connect) await runAdb(adbPort, ['version'], { timeoutMs: 10000 });
      const args = [BIN, 'lab', 'serve', '--adb-port', String(adbPort), '--devices', devicesFile];
      for (const p of profiles) args.push('--profile', p);
      if (opts.basePort !== undefined) args.push('--base-port', String(opts.basePort));
      if (opts.listenHost !== undefined) args.push('--listen-host', opts.listenHost);
      if (!opts.connect) args.push('--no-connect');
      if (!opts.json)
        process.stderr.write(`starting ${profiles.length} virtual phones (adb server port ${adbPort})…\n`);
      const child = spawnDaemon(args, logPath);
      const state = await waitForReady(adbPort, child, opts.timeout, logPath);
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({ adbPort, pid: state.pid, phones: state.phones }, null, 2)}\n`,
        );
        return;
      }
      printPhones(state.phones.map((p) => ({ ...p, state: state.noConnect ? 'listening' : 'device' })));
      process.stdout.write(
        `\nlab running as pid ${state.pid}; recorded in ${devicesFile}; log: ${logPath}\n`,
      );
      process.stdout.write(`stop it with: phonehome lab down --adb-port ${adbPort}\n`);
    });

  lab
    .command('serve', { hidden: true })
    .description('run the virtual phones in the foreground (what `lab up` starts in the background)')
    .option(
      '--profile <name|file.json>',
      'firmware profile name, or profile file (absolute path; repeatable)',
      (v, acc: string[]) => [...acc, v],
      [],
    )
    .addOption(adbPortFlag('adb server port'))
    .option('--devices <file>', 'devices file', 'devices.json')
    .option('--base-port <port>', 'first TCP port', parseBasePort)
    .option('--listen-host <addr>', "address the phones' adbd listens on", parseListenHost)
    .option('--no-connect', 'connect the phones to no adb server')
    .action(async (opts: LabPhonesOptions) => {
      const profiles = chooseProfiles(opts.profile, undefined);
      if (opts.basePort !== undefined) checkPhonePorts(opts.basePort, profiles.length);
      await serve(adbPortOption(opts.adbPort), profiles, resolve(opts.devices), opts.basePort, {
        ...(opts.listenHost !== undefined ? { listenHost: opts.listenHost } : {}),
        noConnect: !opts.connect,
      });
    });

  lab
    .command('status')
    .description('list the virtual phones of the running lab')
    .addOption(adbPortFlag())
    .addOption(jsonFlag('print JSON'))
    .action(async (opts: { adbPort?: string; json?: boolean }) => {
      const adbPort = adbPortOption(opts.adbPort);
      const state = readLabState(adbPort);
      const proc = state ? labProcessStatus(state) : undefined;
      const running = !!state && state.status === 'ready' && proc === 'running';
      /** A record whose process is not the lab (it crashed, or the host rebooted). */
      const stale = !!state && proc !== 'running';
      let states = new Map<string, string>();
      // `adb devices` would start an adb server where none runs: ask only one that is up (when it is
      // down, the lab's watchdog reconnects the phones once it is back).
      if (running && (await adbServerListening(adbPort))) {
        try {
          states = parseDevices((await runAdb(adbPort, ['devices'], { timeoutMs: 10000 })).stdout);
        } catch {
          // It went away meanwhile: the phones show as absent.
        }
      }
      const phones = running
        ? state.phones.map((p) => ({
            ...p,
            // --no-connect phones belong to another host's adb server: this one does not list them.
            state: states.get(p.serial) ?? (state.noConnect ? 'listening' : 'absent'),
          }))
        : [];
      if (opts.json) {
        // For each phone, the W3C capabilities a plain webdriverio remote() needs to open a session on
        // it through phonehome's Appium server (`phonehome appium up`), each with its own free systemPort;
        // the driver installs its server APKs on a phone that lacks them (installServer).
        const withCaps = [];
        for (const p of phones) {
          const systemPort = await allocateSystemPort();
          withCaps.push({
            ...p,
            capabilities: appiumCapabilities(
              { serial: p.serial, adbPort, systemPort },
              { installServer: true },
            ),
          });
        }
        const url = await runningAppiumUrl();
        process.stdout.write(
          `${JSON.stringify(
            {
              running,
              adbPort,
              pid: running ? state.pid : null,
              appium: url ? { url } : null,
              phones: withCaps,
              ...(stale ? { stale: true } : {}),
            },
            null,
            2,
          )}\n`,
        );
        return;
      }
      if (!running) {
        const why =
          stale && proc
            ? ` (the record of lab pid ${state.pid} is stale: ${staleReason(proc)}; ` +
              `\`phonehome lab down --adb-port ${adbPort}\` removes it)`
            : ' (start one with `phonehome lab up`)';
        process.stdout.write(`no lab is running for adb port ${adbPort}${why}\n`);
        return;
      }
      printPhones(phones);
      process.stdout.write(`\nlab pid ${state.pid}, adb server port ${adbPort}, since ${state.startedAt}\n`);
    });

  lab
    .command('down')
    .description('disconnect and stop the virtual phones')
    .addOption(adbPortFlag())
    .addOption(timeoutFlag('how long to wait for a clean stop', 15000))
    .action(async (opts: { adbPort?: string; timeout: number }) => {
      const adbPort = adbPortOption(opts.adbPort);
      const state = readLabState(adbPort);
      if (!state) {
        process.stdout.write(`no lab is running for adb port ${adbPort}\n`);
        return;
      }
      // Signal only a process that is this lab: after a crash or a reboot the pid may be another's.
      const proc = labProcessStatus(state);
      if (proc === 'running') {
        const how = await stopDaemon(state.pid, () => labProcessStatus(state) === 'running', opts.timeout);
        if (how === 'killed')
          process.stderr.write(`lab pid ${state.pid} did not stop within ${opts.timeout} ms; killed it\n`);
      }
      // Whatever the lab did not clean up itself (it was killed, or crashed), clean up here.
      if (existsSync(labStatePath(adbPort))) {
        // `adb disconnect` would start an adb server where none runs; none running knows no phones.
        // --no-connect phones were never connected here (another host's adb server may hold them).
        if (!state.noConnect && state.phones.length > 0 && (await adbServerListening(adbPort))) {
          await Promise.all(
            state.phones.map((p) =>
              runAdb(adbPort, ['disconnect', p.serial], { timeoutMs: 5000 }).catch(() => undefined),
            ),
          );
        }
        removeLabEntries(state.devicesFile, adbPort);
        rmSync(labStatePath(adbPort), { force: true });
      }
      if (proc === 'running') {
        process.stdout.write(`stopped ${state.phones.length} virtual phones\n`);
      } else {
        process.stdout.write(
          `no lab was running for adb port ${adbPort} (the record of lab pid ${state.pid} was stale: ` +
            `${staleReason(proc)}); removed the record and its ${state.phones.length} ` +
            `phone${state.phones.length === 1 ? '' : 's'}\n`,
        );
      }
    });

  lab
    .command('profiles')
    .description('list the firmware profiles virtual phones can run, and the example profile files')
    .addOption(jsonFlag('print JSON (examples have "example": true and their "path")'))
    .action((opts: { json?: boolean }) => {
      const profiles = listProfiles();
      const examples = listExampleProfiles();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify([...profiles, ...examples], null, 2)}\n`);
        return;
      }
      const line = (label: string, p: { description: string; error?: string }, width: number) =>
        process.stdout.write(
          `${label.padEnd(width)}  ${p.error === undefined ? p.description : `BROKEN: ${p.error}`}\n`,
        );
      const width = Math.max(...profiles.map((p) => p.name.length));
      for (const p of profiles) line(p.name, p, width);
      if (examples.length) {
        process.stdout.write(
          '\nexamples: hostile firmware, not started unless asked for (--profile FILE; profiles/examples/README.md):\n',
        );
        const w = Math.max(...examples.map((p) => (p.path ?? p.name).length));
        for (const p of examples) line(p.path ?? p.name, p, w);
      }
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

/** Waits until the lab process `child` reports ready in its state file. */
async function waitForReady(
  adbPort: number,
  child: ChildProcess,
  timeoutMs: number,
  logPath: string,
): Promise<LabState> {
  // The child's own handle, not its pid: it says when the process exits (and is reaped), and a
  // stray signal can never reach another process.
  let exited = child.exitCode !== null || child.signalCode !== null;
  child.once('exit', () => (exited = true));
  child.once('error', () => (exited = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const state = readLabState(adbPort);
    if (state && state.pid === child.pid) {
      if (state.status === 'ready') return state;
      if (state.status === 'failed') {
        throw new UserFacingError(
          `the lab failed to start: ${state.error ?? 'unknown error'}`,
          state.hint ? `${state.hint} (log: ${logPath})` : `see ${logPath}`,
        );
      }
    }
    if (exited) throw new UserFacingError('the lab process exited before it was ready', `see ${logPath}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!exited) child.kill('SIGTERM');
  throw new UserFacingError(
    `the lab was not ready within ${timeoutMs} ms`,
    `see ${logPath}; raise --timeout`,
  );
}

async function serve(
  adbPort: number,
  profiles: string[],
  devicesFile: string,
  basePort?: number,
  net: { listenHost?: string; noConnect?: boolean } = {},
): Promise<void> {
  const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
  const state: LabState = {
    pid: process.pid,
    ...ownStartTime(),
    adbPort,
    status: 'starting',
    startedAt: new Date().toISOString(),
    devicesFile,
    log: join(stateDir(), `lab-${adbPort}.log`),
    ...(net.listenHost !== undefined ? { listenHost: net.listenHost } : {}),
    ...(net.noConnect ? { noConnect: true } : {}),
    phones: [],
  };
  writeLabState(state);
  const lab = new Lab({
    adbPort,
    log,
    ...(net.listenHost !== undefined ? { listenHost: net.listenHost } : {}),
  });
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
      const entry = await lab.addPhone(profile, {
        port: basePort !== undefined ? basePort + i : 0,
        // --no-connect: connected to no adb server here, now or later (the watchdog leaves it alone).
        ...(net.noConnect ? { connect: false, managed: false } : {}),
      });
      log(`${entry.serial} up: ${profile} (${entry.phone.props.get('ro.product.model')})`);
      state.phones.push({
        serial: entry.serial,
        // The profile's name (a profile file's own name, not its path).
        profile: entry.profile.name,
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
        // adbd over TCP that `phonehome run` `adb connect`s to its adb server (127.0.0.1:adbPort).
        ...(net.noConnect ? { connect: true } : {}),
      })),
    );
    if (!net.noConnect) lab.startWatchdog();
    state.status = 'ready';
    writeLabState(state);
  } catch (err) {
    state.status = 'failed';
    state.error = (err as Error).message;
    const hint = (err as { hint?: unknown }).hint;
    if (typeof hint === 'string') state.hint = hint;
    writeLabState(state);
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    await lab.stop().catch(() => undefined);
    process.exit(1);
  }
}
