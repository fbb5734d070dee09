/**
 * One phone's capture lifecycle (issue 11 §2), used by `phonehome capture` and by `phonehome run`'s
 * phone workers alike:
 *
 * - `open()`: restores what a dead process of this phone left (from the journal), starts the capture
 *   session when asked for one, and wires the phone to it (wirePhone: journal entry first, then adb
 *   reverse, http_proxy, the lab CA installed and checked in the apps' namespaces, iptables rules).
 * - `startSession()` / `stopSession()`: the runner's one session per job on the same host port,
 *   while the wiring stays.
 * - `close()`: restores the phone and stops the session; idempotent, and safe while `open()` is
 *   still under way (a stop during set-up waits for the wiring, which rolls itself back on failure,
 *   then restores it).
 */
import type { Device } from '../device/index.ts';
import type { LabCa } from './ca.ts';
import { Journal, type JournalEntry } from './journal.ts';
import { CaptureSession, type CaptureMode, type HostRule } from './session.ts';
import {
  restorePhone,
  wirePhone,
  WiringError,
  type CaMethod,
  type RestoreReport,
  type Wiring,
} from './wiring.ts';

export interface PhoneCaptureOptions {
  device: Device;
  ca: LabCa;
  journal: Journal;
  /** The adb server the Device talks to (journaled, for recovery by a later process). */
  adb: { host: string; port: number };
  caMethod?: CaMethod | 'auto';
  /** The capture's mode (default block). */
  mode?: CaptureMode;
  rules?: readonly HostRule[];
  /** The apps under test: iptables rules on rooted phones, and the CA checked in their namespaces. */
  packages: readonly string[];
  log?: (line: string) => void;
  /** How long the first root use waits for the grant prompt (wiring.ts default). */
  rootWaitMs?: number;
  /** Called with each new capture session before any traffic can reach it (listeners go here). */
  onSession?: (session: CaptureSession) => void;
}

export class PhoneCapture {
  readonly serial: string;
  wiring: Wiring | undefined;
  session: CaptureSession | undefined;
  private opening: Promise<Wiring> | undefined;
  private closed = false;
  private closing: Promise<RestoreReport | null> | undefined;
  private hostPort: number | undefined;
  /** A startSession() under way: close() waits for it, so that a move never follows a restore. */
  private starting: Promise<CaptureSession> | undefined;
  private readonly log: (line: string) => void;

  constructor(private readonly o: PhoneCaptureOptions) {
    this.serial = o.device.serial;
    this.log = o.log ?? (() => undefined);
  }

  /**
   * Wires the phone: to a new session in `sessionDir`, or to `hostPort` where sessions come later
   * (startSession). On failure nothing stays changed (wirePhone rolls back; the session stops).
   */
  async open(at: { sessionDir: string } | { hostPort: number }): Promise<Wiring> {
    if (this.opening) return this.opening;
    // After close() nothing may be wired any more: its restore has run (or is running) already.
    if (this.closed) throw new WiringError(`${this.serial}: the capture was stopped before it was wired`);
    this.opening = (async () => {
      await this.restoreStale();
      if ('sessionDir' in at) {
        this.session = await this.newSession(at.sessionDir);
        this.hostPort = this.session.port;
      } else this.hostPort = at.hostPort;
      try {
        this.wiring = await wirePhone(this.o.device, {
          ca: this.o.ca,
          hostPort: this.hostPort,
          ...(this.o.caMethod ? { caMethod: this.o.caMethod } : {}),
          journal: this.o.journal,
          adb: this.o.adb,
          log: this.log,
          bypass: { packages: [...this.o.packages] },
          mode: this.o.mode ?? 'block',
          ...(this.o.rootWaitMs ? { rootWaitMs: this.o.rootWaitMs } : {}),
        });
      } catch (err) {
        await this.stopSession();
        throw err;
      }
      return this.wiring;
    })();
    return this.opening;
  }

  /** The wiring once open() has settled (undefined when it failed or never ran). */
  async settled(): Promise<Wiring | undefined> {
    return this.opening?.catch(() => undefined);
  }

  /**
   * A capture session on the wiring's host port, writing into `dir` (one per runner job). Between two
   * jobs that port is free, and another program may take it (any outgoing connection can get it as
   * its ephemeral port): then the session starts on a free port and the reverse rule follows it.
   */
  async startSession(dir: string): Promise<CaptureSession> {
    if (this.closed) throw new WiringError(`${this.serial}: the capture is stopped; no new session`);
    const starting = this.startSessionNow(dir);
    this.starting = starting;
    try {
      return await starting;
    } finally {
      if (this.starting === starting) this.starting = undefined;
    }
  }

  private async startSessionNow(dir: string): Promise<CaptureSession> {
    await this.stopSession();
    let session: CaptureSession;
    try {
      session = await this.newSession(dir);
    } catch (err) {
      const wiring = this.wiring;
      if (!wiring || !addressInUse(err)) throw err;
      const taken = this.hostPort;
      this.hostPort = undefined;
      try {
        session = await this.newSession(dir);
        await wiring.moveHostPort(session.port).catch(async (moveErr: unknown) => {
          await session.stop().catch(() => undefined);
          throw moveErr;
        });
      } finally {
        // The port the reverse rule points to, moved or not (a failed move leaves it where it was).
        this.hostPort = wiring.hostPort;
      }
      this.log(
        `${this.serial}: host port ${taken} was taken by another program between sessions; ` +
          `the capture moved to ${session.port}`,
      );
    }
    if (this.closed) {
      // close() ran meanwhile (it waits for this start before restoring): nothing may stay open.
      await session.stop().catch(() => undefined);
      throw new WiringError(`${this.serial}: the capture was stopped while a session started`);
    }
    this.session = session;
    return session;
  }

  async stopSession(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await s?.stop().catch((err: unknown) => this.log(`${this.serial}: capture session: ${String(err)}`));
  }

  /**
   * This process's journal entry for the phone when no wiring stands for it: open() failed and its
   * rollback could not finish (the phone dropped off mid-install, say). close() restores from it.
   */
  unrestored(): JournalEntry | undefined {
    if (this.wiring) return undefined;
    return this.o.journal
      .list()
      .find((e) => e.serial === this.serial && e.owner.pid === process.pid && !this.o.journal.isLive(e));
  }

  /** Restores the phone and stops the session; once, however often it is called. Never throws. */
  close(): Promise<RestoreReport | null> {
    this.closed = true;
    this.closing ??= (async () => {
      await this.starting?.catch(() => undefined);
      const wiring = this.wiring ?? (await this.settled());
      let report: RestoreReport | null = null;
      const left = wiring ? undefined : this.unrestored();
      if (left) {
        report = await restorePhone(this.o.device, left, this.o.journal, undefined, this.log).catch(
          (err: unknown) => ({
            serial: this.serial,
            ok: false,
            steps: [],
            problems: [err instanceof Error ? err.message : String(err)],
            rebootAdvised: false,
          }),
        );
      }
      if (wiring) {
        report = await wiring.restore().catch((err: unknown) => ({
          serial: this.serial,
          ok: false,
          steps: [],
          problems: [err instanceof Error ? err.message : String(err)],
          rebootAdvised: false,
        }));
      }
      await this.stopSession();
      return report;
    })();
    return this.closing;
  }

  private async newSession(dir: string): Promise<CaptureSession> {
    const session = await CaptureSession.start({
      dir,
      ca: this.o.ca,
      ...(this.o.mode ? { mode: this.o.mode } : {}),
      ...(this.o.rules ? { rules: this.o.rules } : {}),
      ...(this.hostPort !== undefined ? { port: this.hostPort } : {}),
    });
    this.o.onSession?.(session);
    return session;
  }

  /** What a dead process of this phone left wired, undone before reading the phone's state. */
  private async restoreStale(): Promise<void> {
    const stale = this.o.journal.list().filter((e) => e.serial === this.serial && !this.o.journal.isLive(e));
    for (const e of stale) {
      const report = await restorePhone(this.o.device, e, this.o.journal, undefined, this.log);
      this.log(
        `${this.serial}: restored what process ${e.owner.pid} left wired (${report.ok ? 'ok' : report.problems.join('; ')})`,
      );
      // Wiring over what could not be undone would read the leftovers as the phone's own state.
      if (!report.ok) {
        throw new WiringError(
          `${this.serial}: what process ${e.owner.pid} left wired could not be undone: ${report.problems.join('; ')}`,
          report.rebootAdvised
            ? `reboot the phone, then run again: adb -s ${this.serial} reboot`
            : 'fix the problems above, then run again',
        );
      }
    }
  }
}

function addressInUse(err: unknown): boolean {
  return (
    (err as { code?: unknown } | null)?.code === 'EADDRINUSE' ||
    /EADDRINUSE|address already in use/i.test(err instanceof Error ? err.message : String(err))
  );
}
