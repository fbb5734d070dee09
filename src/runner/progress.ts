/**
 * Run progress. On a terminal: finished jobs scroll as lines above a live block (one line per phone
 * and a totals line), redrawn in place. In CI (`CI` set, or not a TTY): one plain line per event,
 * nothing redrawn. Never a prompt. With --json the progress goes to stderr and stdout keeps the JSON.
 */
import type { RunEvent } from './scheduler.ts';
import type { JobResult } from '../report/run-folder.ts';

const MARK: Record<JobResult['status'], string> = {
  passed: 'PASS',
  failed: 'FAIL',
  broken: 'BROKEN',
  skipped: 'SKIP',
};

export interface ProgressOptions {
  out: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  /** Live redraw (default: out.isTTY and no CI variable). */
  live?: boolean;
  total: number;
  phones: string[];
}

export function isLiveTerminal(out: { isTTY?: boolean }): boolean {
  return Boolean(out.isTTY) && !process.env.CI;
}

function resultLine(r: JobResult, final: boolean): string {
  const secs = (r.durationMs / 1000).toFixed(1);
  const tries = r.attempts > 1 ? ` (attempt ${r.attempts})` : '';
  const why = r.message && r.status !== 'passed' ? `: ${r.message.split('\n')[0]}` : '';
  return `${final ? '' : '(will retry) '}${MARK[r.status]} ${r.scenario} on ${r.phone} [${r.profile}] ${secs}s${tries}${why}`;
}

export class Progress {
  private readonly live: boolean;
  private readonly busy = new Map<string, string>();
  private readonly counts = { passed: 0, failed: 0, broken: 0, skipped: 0 };
  private drawn = 0;
  private done = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();

  constructor(private readonly opts: ProgressOptions) {
    this.live = opts.live ?? isLiveTerminal(opts.out);
    if (this.live) {
      this.timer = setInterval(() => this.draw([]), 1000);
      this.timer.unref();
    }
  }

  /** A line outside the job events (warnings, the report path). */
  note(line: string): void {
    if (this.live) this.draw([line]);
    else this.opts.out.write(`${line}\n`);
  }

  event(e: RunEvent): void {
    const lines: string[] = [];
    switch (e.type) {
      case 'start':
        this.busy.set(
          e.job.phone,
          `${e.job.scenario.config.name}${e.job.attempt > 1 ? ` (attempt ${e.job.attempt})` : ''}`,
        );
        if (!this.live)
          lines.push(
            `START ${e.job.scenario.config.name} on ${e.job.phone}${e.job.attempt > 1 ? ` (attempt ${e.job.attempt})` : ''}`,
          );
        break;
      case 'end':
        this.busy.delete(e.job.phone);
        if (e.final) {
          this.done++;
          this.counts[e.result.status]++;
        }
        lines.push(resultLine(e.result, e.final));
        break;
      case 'retry':
        lines.push(
          `RETRY ${e.job.scenario.config.name} on ${e.job.phone} (attempt ${e.job.attempt}): ${e.reason.split('\n')[0]}`,
        );
        break;
      case 'moved':
        lines.push(`MOVED ${e.job.scenario.config.name}: ${e.from} → ${e.to} (same fingerprint)`);
        break;
      case 'quarantined':
        lines.push(`QUARANTINED ${e.phone}: ${e.reason.split('\n')[0]}`);
        break;
      case 'bail':
        lines.push(`BAIL after ${e.job.scenario.config.name} on ${e.job.phone}: no new jobs start (--bail)`);
        break;
      case 'interrupted':
        lines.push(
          'INTERRUPTED: stopping the workers and restoring the phones (Ctrl-C again to exit at once)',
        );
        break;
    }
    if (this.live) this.draw(lines);
    else for (const l of lines) this.opts.out.write(`${l}\n`);
  }

  private summary(): string {
    const c = this.counts;
    const secs = Math.round((Date.now() - this.startedAt) / 1000);
    return `${this.done}/${this.opts.total} jobs · ${c.passed} passed · ${c.failed} failed · ${c.broken} broken · ${c.skipped} skipped · ${secs}s`;
  }

  private draw(lines: string[]): void {
    let s = this.drawn > 0 ? `\x1b[${this.drawn}F\x1b[J` : '';
    for (const l of lines) s += `${l}\n`;
    const block = this.opts.phones.map((p) => {
      const what = this.busy.get(p);
      return `  ${what ? '▶' : '·'} ${p}  ${what ?? 'idle'}`;
    });
    block.push(this.summary());
    s += `${block.join('\n')}\n`;
    this.drawn = block.length;
    this.opts.out.write(s);
  }

  /** Ends the live block (leaves the last drawing and the totals) or prints the totals. */
  finish(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.live) this.draw([]);
    else this.opts.out.write(`${this.summary()}\n`);
    this.drawn = 0;
  }
}
