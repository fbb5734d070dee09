/**
 * Phone leases: one run at a time per phone. A lease is `<state dir>/leases/<serial>.json` holding
 * the run's pid and start time, created with O_EXCL. A lease whose process is gone (or whose pid now
 * belongs to another process: the start time differs) is stale and taken over; a live one makes
 * the second run fail fast with the holder's pid (exit 3).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspectProcess } from '../util/process.ts';
import { UserFacingError } from '../util/user-facing.ts';
import { EXIT, slug } from '../report/run-folder.ts';

export interface LeaseRecord {
  serial: string;
  pid: number;
  /** /proc start time of `pid` (Linux), so a reused pid is not mistaken for the holder. */
  startTime?: string;
  since: string;
  run?: string;
}

export class LeaseHeldError extends UserFacingError {
  constructor(
    readonly serial: string,
    readonly holder: LeaseRecord,
  ) {
    super(
      `phone ${serial} is leased by another run (pid ${holder.pid}, since ${holder.since}${holder.run ? `, run ${holder.run}` : ''})`,
      `wait for that run to finish, or leave the phone out with --device; a phone runs one suite at a time`,
      EXIT.infrastructure,
    );
  }
}

export function leaseDir(stateDir: string): string {
  return join(stateDir, 'leases');
}

function leasePath(stateDir: string, serial: string): string {
  return join(leaseDir(stateDir), `${slug(serial)}.json`);
}

/** True while the process that wrote `r` still runs (same pid and, where known, start time). */
export function holderAlive(r: LeaseRecord): boolean {
  const info = inspectProcess(r.pid);
  if (!info) return false;
  return r.startTime === undefined || info.startTime === undefined || info.startTime === r.startTime;
}

function readLease(path: string): LeaseRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as LeaseRecord;
    return typeof r?.pid === 'number' ? r : undefined;
  } catch {
    return undefined;
  }
}

export interface Leases {
  serials: string[];
  /** Removes the lease files this process holds. Idempotent. */
  release(): void;
}

/**
 * Leases every phone in `serials` for this process, or none: on a conflict the leases taken so far
 * are released and a LeaseHeldError names the holder.
 */
export function acquireLeases(stateDir: string, serials: string[], run?: string): Leases {
  mkdirSync(leaseDir(stateDir), { recursive: true, mode: 0o700 });
  const startTime = inspectProcess(process.pid)?.startTime;
  const taken: string[] = [];
  const release = (): void => {
    for (const serial of taken.splice(0)) {
      const path = leasePath(stateDir, serial);
      if (readLease(path)?.pid === process.pid) rmSync(path, { force: true });
    }
  };
  try {
    for (const serial of serials) {
      const path = leasePath(stateDir, serial);
      const record: LeaseRecord = {
        serial,
        pid: process.pid,
        ...(startTime ? { startTime } : {}),
        since: new Date().toISOString(),
        ...(run ? { run } : {}),
      };
      for (let tries = 0; ; tries++) {
        try {
          writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
          taken.push(serial);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || tries >= 3) throw err;
          const holder = readLease(path);
          if (holder && holder.pid !== process.pid && holderAlive(holder)) {
            throw new LeaseHeldError(serial, holder);
          }
          // Stale (dead holder), unreadable, or our own: take it over.
          rmSync(path, { force: true });
        }
      }
    }
  } catch (err) {
    release();
    throw err;
  }
  return { serials: [...taken], release };
}
