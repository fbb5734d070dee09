/**
 * Recovery at start: every phonehome command first looks in the wiring journal for phones a dead
 * process left wired (proxy set, reverse rule, CA mounted, iptables bypass rules) and restores them
 * (restorePhone: the journaled rules, and phonehome-tagged leftovers no live wiring owns). A phone that is not
 * connected right now keeps its entry, and the command says so; nothing here ever fails the command.
 */
import { createAdbClient, Device, listPhones } from '../device/index.ts';
import { Journal, type JournalEntry } from './journal.ts';
import { restorePhone, type RestoreReport } from './wiring.ts';

export interface RecoveryOutcome {
  entry: JournalEntry;
  /** null when the phone could not be reached (the entry stays). */
  report: RestoreReport | null;
  note: string;
}

export async function recoverStaleWirings(
  journal: Journal,
  opts: { timeoutMs?: number; log?: (line: string) => void } = {},
): Promise<RecoveryOutcome[]> {
  const log = opts.log ?? (() => undefined);
  const stale = journal
    .list((file, why) =>
      log(
        `phonehome: ignoring unreadable journal entry ${file}: ${why} (delete it once the phone is checked)`,
      ),
    )
    .filter((e) => !journal.isLive(e));
  const out: RecoveryOutcome[] = [];
  for (const entry of stale) {
    const timeoutMs = opts.timeoutMs ?? 8000;
    const where = `adb server ${entry.adb.host}:${entry.adb.port}`;
    let outcome: RecoveryOutcome;
    try {
      const client = createAdbClient({ host: entry.adb.host, port: entry.adb.port });
      const phones = await listPhones(client, { timeoutMs });
      const phone = phones.find((p) => p.serial === entry.serial);
      if (!phone?.available) {
        outcome = {
          entry,
          report: null,
          note:
            `${entry.serial} was left wired by process ${entry.owner.pid} (http_proxy ${entry.proxyValue}) and is ` +
            `not available on ${where} now; connect it and run any phonehome command to restore it`,
        };
      } else {
        const device = new Device(client, entry.serial, { timeoutMs });
        const report = await restorePhone(device, entry, journal);
        outcome = {
          entry,
          report,
          note: report.ok
            ? `${entry.serial}: restored what process ${entry.owner.pid} left wired (${report.steps.join(', ') || 'nothing left to undo'})`
            : `${entry.serial}: restore incomplete: ${report.problems.join('; ')}`,
        };
      }
    } catch (err) {
      outcome = {
        entry,
        report: null,
        note:
          `${entry.serial} was left wired by process ${entry.owner.pid}, and ${where} cannot be reached ` +
          `(${err instanceof Error ? err.message : String(err)}); start it and run any phonehome command to restore the phone`,
      };
    }
    log(`phonehome: ${outcome.note}`);
    out.push(outcome);
  }
  return out;
}
