/**
 * The wiring journal: the plan of what the harness changes on a phone, written to disk BEFORE the
 * first change and removed once everything is restored (restoring is idempotent, so the plan is
 * enough whatever part of it was done). If the process dies (SIGKILL, power cut), the next phonehome
 * command finds the entry, sees that its owner is gone, and restores the phone from it.
 * One file per (phone, device port) under `<state dir>/journal/`, replaced atomically.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../util/atomic.ts';
import { inspectProcess } from '../util/process.ts';
import type { BypassPlan } from './bypass.ts';

export type CaMethod = 'system-remount' | 'system-tmpfs' | 'user' | 'preinstalled' | 'none';

export interface JournalEntry {
  version: 1;
  serial: string;
  /** The adb server the phone was reached through. */
  adb: { host: string; port: number };
  owner: { pid: number; startTime?: string };
  startedAt: string;
  devicePort: number;
  hostPort: number;
  /**
   * The host port the reverse rule pointed to before a move (Wiring.moveHostPort), while the move is
   * under way: restore removes a rule pointing to either, since a crash may fall between the two.
   */
  movedFrom?: number;
  /**
   * Host ports of earlier moves whose `adb reverse` failed where the phone could not say where the rule
   * points: restore removes a rule pointing to any of them too. (A key of its own, so that a phonehome
   * from before it still reads `movedFrom` as a number.)
   */
  unsureHostPorts?: number[];
  /** `settings get global http_proxy` before we touched it; null = unset. */
  previousProxy: string | null;
  /** The value we put, so restore never clobbers someone else's later change. */
  proxyValue: string;
  ca: {
    method: CaMethod;
    /** `<subject_hash_old>.0` */
    file: string;
  } | null;
  /**
   * The iptables rules planned for apps that bypass the proxy (rooted phones), exactly as they
   * are added: restore removes them (and their chains) whatever part was done. Absent in entries
   * written before issue 10, and when no rules were planned.
   */
  bypass?: BypassPlan | null;
}

/**
 * The entries that live wirings of THIS process hold, by file. A process may serve several phones (a
 * runner worker) and set a phone up again after a restore that left its entry: that entry's owner
 * pid is alive (it is this process) but no wiring holds it, so it is stale and must be restored.
 */
const heldHere = new Set<string>();

export class Journal {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'journal');
  }

  private path(serial: string, devicePort: number): string {
    return join(this.dir, `${serial.replace(/[^A-Za-z0-9._-]/g, '_')}-${devicePort}.json`);
  }

  write(entry: JournalEntry): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = this.path(entry.serial, entry.devicePort);
    writeJsonAtomic(path, entry, { mode: 0o600 });
    if (entry.owner.pid === process.pid) heldHere.add(path);
  }

  remove(entry: Pick<JournalEntry, 'serial' | 'devicePort'>): void {
    const path = this.path(entry.serial, entry.devicePort);
    rmSync(path, { force: true });
    heldHere.delete(path);
  }

  /** The entry stays on disk for a later restore, but no wiring of this process holds it any more. */
  release(entry: Pick<JournalEntry, 'serial' | 'devicePort'>): void {
    heldHere.delete(this.path(entry.serial, entry.devicePort));
  }

  /**
   * True while a wiring holds `e`: in another process, while that process runs (same pid and start
   * time); in this one, while the entry is held here (written by a wiring and not yet restored).
   */
  isLive(e: JournalEntry): boolean {
    if (e.owner.pid === process.pid) return heldHere.has(this.path(e.serial, e.devicePort));
    return Journal.ownerAlive(e);
  }

  /** Every readable entry; unreadable files are reported through `onBad` and left for a person. */
  list(onBad: (file: string, why: string) => void = () => undefined): JournalEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith('.json'));
    } catch {
      return [];
    }
    const out: JournalEntry[] = [];
    for (const name of names.sort()) {
      const file = join(this.dir, name);
      try {
        const e = JSON.parse(readFileSync(file, 'utf8')) as JournalEntry;
        if (e?.version !== 1 || typeof e.serial !== 'string' || typeof e.devicePort !== 'number') {
          throw new Error('not a phonehome journal entry (version 1)');
        }
        out.push(e);
      } catch (err) {
        onBad(file, err instanceof Error ? err.message : String(err));
      }
    }
    return out;
  }

  /** True while the process that wrote `e` is still running (same pid and start time). */
  static ownerAlive(e: JournalEntry): boolean {
    if (e.owner.pid === process.pid) return true;
    const info = inspectProcess(e.owner.pid);
    if (!info) return false;
    return (
      e.owner.startTime === undefined || info.startTime === undefined || info.startTime === e.owner.startTime
    );
  }
}

export function currentOwner(): JournalEntry['owner'] {
  const startTime = inspectProcess(process.pid)?.startTime;
  return { pid: process.pid, ...(startTime ? { startTime } : {}) };
}

/** Every host port a journal entry's reverse rule may point to. */
export function hostPortsOf(
  entry: Pick<JournalEntry, 'hostPort' | 'movedFrom' | 'unsureHostPorts'>,
): number[] {
  const others = [entry.movedFrom ?? [], entry.unsureHostPorts ?? []].flat();
  return [...new Set([entry.hostPort, ...others])];
}
