/**
 * The virtual lab: a set of virtual phones in this process, each connected to an adb server with
 * `adb connect`, and a watchdog that keeps them connected (after an adb server restart, after the
 * server gives up on a phone that was away, and promptly after a virtual reboot).
 *
 * Only addPhone() may start an adb server (`adb connect` does when none runs). The watchdog and
 * stop() first check that a server answers on the port and leave it alone when none does: the
 * watchdog reconnects after the server comes back, it does not start it, and stopping must not leave
 * a stray server behind.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { VirtualPhone, type PhoneOptions } from '../phone.ts';
import { Adbd, type AdbdOptions } from '../adbd/adbd.ts';
import { loadProfile, type Profile } from '../profiles/load.ts';
import { adbServerListening, parseDevices, runAdb } from './adb-client.ts';

export interface LabPhone {
  serial: string;
  profile: Profile;
  phone: VirtualPhone;
  adbd: Adbd;
  /**
   * False for a phone started with `managed: false` (`lab up --no-connect`): it is never connected to
   * the lab's adb server, not by the watchdog, not after a reboot, not disconnected by stop(); another
   * host's adb server connects it. (`connect: false` alone only skips the first connect.)
   */
  managed: boolean;
}

export interface LabOptions {
  adbPort: number;
  /** The address every phone's adbd listens on (default 127.0.0.1; `lab up --listen-host`). */
  listenHost?: string;
  /** Options for every phone's adbd (fault timings, payload size). */
  adbd?: AdbdOptions;
  /** Options for every phone (telemetry timings). */
  phone?: Omit<PhoneOptions, 'serialno'>;
  log?: (msg: string) => void;
}

/** A stable per-phone serial number (ro.serialno): 8 hex digits from the profile and the phone's index. */
export function makeSerialNo(profileName: string, index: number): string {
  return createHash('sha1').update(`${profileName}#${index}`).digest('hex').slice(0, 8);
}

export class Lab extends EventEmitter {
  readonly phones: LabPhone[] = [];
  private watchdog: NodeJS.Timeout | undefined;
  /** Reconnects under way, by serial; stop() waits for them so none lands after its disconnect. */
  private reconnecting = new Map<string, Promise<void>>();
  private stopped = false;
  /** The watchdog found no adb server last time (logged once per outage). */
  private serverDown = false;

  constructor(readonly opts: LabOptions) {
    super();
  }

  /**
   * Starts a phone on `port` (0 = any free port) and connects it to the adb server. `profile`: a
   * shipped profile's name, or a profile file (an argument ending in `.json`: a path, relative to the
   * working directory; loadProfile), e.g. profiles/examples/late-flush.json.
   */
  async addPhone(
    profileName: string,
    opts: { port?: number; host?: string; connect?: boolean; managed?: boolean; adbd?: AdbdOptions } = {},
  ): Promise<LabPhone> {
    const profile = loadProfile(profileName);
    const phone = new VirtualPhone(profile, {
      ...this.opts.phone,
      serialno: makeSerialNo(profile.name, this.phones.length),
    });
    const adbd = new Adbd(phone, { log: this.opts.log, ...this.opts.adbd, ...opts.adbd });
    phone.on('log', (msg: string) => this.opts.log?.(`${adbd.serial}: ${msg}`));
    await adbd.listen(opts.port ?? 0, opts.host ?? this.opts.listenHost ?? '127.0.0.1');
    const managed = opts.managed !== false;
    const entry: LabPhone = { serial: adbd.serial, profile, phone, adbd, managed };
    this.phones.push(entry);
    // After a reboot, reconnect at once instead of waiting for adb's 10 s retry.
    if (managed) adbd.on('up', () => void this.reconnect(entry, true));
    if (managed && opts.connect !== false) await this.connect(entry);
    return entry;
  }

  /** `adb connect` and wait until the adb server lists the phone as `device`. */
  async connect(entry: LabPhone, timeoutMs = 10000): Promise<void> {
    await runAdb(this.opts.adbPort, ['connect', entry.serial], { timeoutMs });
    await this.waitForState(entry.serial, 'device', timeoutMs);
  }

  async waitForState(serial: string, state: string, timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'absent';
    while (Date.now() < deadline) {
      const { stdout } = await runAdb(this.opts.adbPort, ['devices'], { timeoutMs: 5000 });
      last = parseDevices(stdout).get(serial) ?? 'absent';
      if (last === state) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${serial} did not become '${state}' within ${timeoutMs} ms (it is '${last}')`);
  }

  /**
   * Keeps every phone connected: every `intervalMs` it lists devices and re-runs `adb connect` for
   * phones the server no longer knows (adb server restarted, or it gave up after 60 s).
   */
  startWatchdog(intervalMs = 2000): void {
    if (this.watchdog) return;
    this.watchdog = setInterval(() => void this.checkConnections(), intervalMs);
    this.watchdog.unref();
  }

  async checkConnections(): Promise<void> {
    if (this.stopped || !this.phones.some((p) => p.managed)) return;
    if (!(await adbServerListening(this.opts.adbPort))) {
      if (!this.serverDown) {
        this.opts.log?.(
          `watchdog: no adb server on port ${this.opts.adbPort}; the phones are reconnected when it is back`,
        );
      }
      this.serverDown = true;
      return;
    }
    if (this.serverDown) this.opts.log?.(`watchdog: the adb server on port ${this.opts.adbPort} is back`);
    this.serverDown = false;
    if (this.stopped) return;
    let listed: Map<string, string>;
    try {
      listed = parseDevices((await runAdb(this.opts.adbPort, ['devices'], { timeoutMs: 5000 })).stdout);
    } catch (err) {
      this.opts.log?.(`watchdog: ${(err as Error).message}`);
      return;
    }
    for (const entry of this.phones) {
      // A phone it was told not to connect stays unconnected (another host's adb server owns it).
      if (entry.managed && !listed.has(entry.serial)) void this.reconnect(entry, false);
    }
  }

  private reconnect(entry: LabPhone, disconnectFirst: boolean): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const running = this.reconnecting.get(entry.serial);
    if (running) return running;
    const attempt = this.reconnectOnce(entry, disconnectFirst).finally(() =>
      this.reconnecting.delete(entry.serial),
    );
    this.reconnecting.set(entry.serial, attempt);
    return attempt;
  }

  private async reconnectOnce(entry: LabPhone, disconnectFirst: boolean): Promise<void> {
    try {
      if (!(await adbServerListening(this.opts.adbPort))) {
        this.opts.log?.(
          `reconnect ${entry.serial}: no adb server on port ${this.opts.adbPort}; the watchdog reconnects when it is back`,
        );
        return;
      }
      if (this.stopped) return;
      if (disconnectFirst)
        await runAdb(this.opts.adbPort, ['disconnect', entry.serial]).catch(() => undefined);
      await runAdb(this.opts.adbPort, ['connect', entry.serial]);
      this.opts.log?.(`reconnected ${entry.serial}`);
      this.emit('reconnected', entry);
    } catch (err) {
      this.opts.log?.(`reconnect ${entry.serial}: ${(err as Error).message}`);
    }
  }

  /**
   * Disconnects every phone from the adb server (when one runs: `adb disconnect` would start one)
   * and stops them.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.watchdog) clearInterval(this.watchdog);
    await Promise.allSettled([...this.reconnecting.values()]);
    const serverUp = this.phones.some((p) => p.managed) && (await adbServerListening(this.opts.adbPort));
    await Promise.all(
      this.phones.map(async (p) => {
        if (serverUp && p.managed) {
          await runAdb(this.opts.adbPort, ['disconnect', p.serial], { timeoutMs: 5000 }).catch(
            () => undefined,
          );
        }
        await p.adbd.close();
        p.phone.close();
      }),
    );
  }
}
