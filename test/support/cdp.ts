/**
 * Headless Chromium driven over the DevTools protocol, for the tests that check what an Allure report
 * shows (test/integration/report-allure.test.ts, report-history.test.ts).
 *
 * Why the DevTools protocol and not `--dump-dom`: Allure 2 renders its Suites tree collapsed, so the
 * DOM `--dump-dom` prints holds the suite names but no test names, and the test data sits
 * base64-encoded in scripts. Chromium runs with `--remote-debugging-pipe` (CDP as NUL-separated JSON
 * on fds 3 and 4: no port, no WebSocket client needed), and a test clicks and reads the page the way
 * a user does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CHROMIUM, headlessChromiumArgs } from './chromium.ts';

export interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

/** Headless Chromium driven over `--remote-debugging-pipe`. */
export class Browser {
  private nextId = 0;
  private buf = '';
  private readonly pending = new Map<
    number,
    { resolve: (m: CdpMessage) => void; reject: (e: Error) => void }
  >();
  private readonly listeners = new Set<(m: CdpMessage) => void>();
  readonly log: string[] = [];
  private readonly child: ChildProcess;
  private readonly profile: string;
  private sessionId = '';

  constructor() {
    this.profile = mkdtempSync(join(tmpdir(), 'phonehome-chromium-'));
    this.child = spawn(
      CHROMIUM,
      [...headlessChromiumArgs(this.profile), '--remote-debugging-pipe', 'about:blank'],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true },
    );
    const stderr = this.child.stdio[2] as Readable;
    stderr.setEncoding('utf8');
    stderr.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) {
        if (!line.trim() || /dbus|D-Bus|UPower/i.test(line)) continue;
        this.log.push(line.slice(0, 300));
        if (this.log.length > 20) this.log.shift();
      }
    });
    const out = this.child.stdio[4] as Readable;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => {
      this.buf += chunk;
      let nul: number;
      while ((nul = this.buf.indexOf('\0')) >= 0) {
        const msg = JSON.parse(this.buf.slice(0, nul)) as CdpMessage;
        this.buf = this.buf.slice(nul + 1);
        const waiter = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
        if (waiter) {
          this.pending.delete(msg.id!);
          if (msg.error) waiter.reject(new Error(`CDP: ${msg.error.message}`));
          else waiter.resolve(msg);
        } else {
          for (const l of this.listeners) l(msg);
        }
      }
    });
    this.child.on('exit', () => {
      for (const w of this.pending.values()) w.reject(new Error(`Chromium exited:\n${this.log.join('\n')}`));
      this.pending.clear();
    });
    (this.child.stdio[3] as Writable).on('error', () => {});
  }

  send(method: string, params: Record<string, unknown> = {}, timeoutMs = 20_000): Promise<CdpMessage> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`CDP ${method} got no answer within ${timeoutMs} ms\n${this.log.join('\n')}`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      const msg = {
        id,
        method,
        params,
        ...(this.sessionId && !method.startsWith('Target.') ? { sessionId: this.sessionId } : {}),
      };
      (this.child.stdio[3] as Writable).write(`${JSON.stringify(msg)}\0`);
    });
  }

  /** Attaches to the page target. */
  async attach(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const t = await this.send('Target.getTargets');
      const page = (t.result!.targetInfos as Array<{ type: string; targetId: string }>).find(
        (x) => x.type === 'page',
      );
      if (page) {
        const a = await this.send('Target.attachToTarget', { targetId: page.targetId, flatten: true });
        this.sessionId = a.result!.sessionId as string;
        await this.send('Page.enable');
        return;
      }
      if (Date.now() > deadline) throw new Error(`no page target\n${this.log.join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private loads = 0;

  /**
   * Loads `url` afresh and resolves once the load event fired. A query that changes every time makes
   * it a new document even when only the hash differs (a same-document navigation fires no load event).
   */
  async goto(target: string, timeoutMs = 20_000): Promise<void> {
    const u = new URL(target);
    u.searchParams.set('load', String(++this.loads));
    const url = u.href;
    let listener: ((m: CdpMessage) => void) | undefined;
    const loaded = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${url} did not load within ${timeoutMs} ms`)),
        timeoutMs,
      );
      listener = (m) => {
        if (m.method === 'Page.loadEventFired') {
          clearTimeout(timer);
          resolve();
        }
      };
      this.listeners.add(listener);
    });
    try {
      const nav = await this.send('Page.navigate', { url });
      const errorText = nav.result?.errorText;
      if (typeof errorText === 'string' && errorText)
        throw new Error(`navigation to ${url} failed: ${errorText}`);
      await loaded;
    } finally {
      this.listeners.delete(listener!);
    }
  }

  /** Evaluates an async expression in the page and returns its (JSON) value. */
  async evaluate<T>(expression: string, timeoutMs = 25_000): Promise<T> {
    const r = await this.send(
      'Runtime.evaluate',
      { expression, awaitPromise: true, returnByValue: true },
      timeoutMs,
    );
    const res = r.result as {
      result?: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (res.exceptionDetails) {
      throw new Error(
        `page script failed: ${res.exceptionDetails.exception?.description ?? res.exceptionDetails.text}`,
      );
    }
    return res.result!.value as T;
  }

  kill(): void {
    if (this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null) {
      try {
        process.kill(-this.child.pid, 'SIGKILL'); // the group: the browser and its helpers
      } catch {
        // already gone
      }
    }
    rmSync(this.profile, { recursive: true, force: true });
  }
}

/** In-page helpers: wait for a selector, expand every collapsed tree group, read the rows. */
export const ALLURE_PAGE_HELPERS = `
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const waitFor = async (what, fn, ms = 15000) => {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what + ' on ' + location.href);
    await sleep(50);
  }
};
const expandAll = async () => {
  await waitFor('the tree', () => document.querySelector('allure-tree-view .node'));
  for (let round = 0; round < 10; round++) {
    const closed = [...document.querySelectorAll('.node[data-node-kind=group]:not(.node__expanded) > .node__title')];
    if (!closed.length) return;
    closed.forEach((n) => n.click());
    await sleep(50);
  }
  throw new Error('tree groups did not expand');
};
const rows = () =>
  [...document.querySelectorAll('allure-tree-view a.node__leaf')].map((a) => ({
    name: a.querySelector('.node__name')?.textContent.trim() ?? '',
    status: (/status-icon_status_(\\w+)/.exec(a.querySelector('.status-icon')?.getAttribute('class') ?? '') ?? [])[1] ?? '',
    href: a.getAttribute('href'),
  }));
const groups = () => [...document.querySelectorAll('.node[data-node-kind=group] > .node__title .node__name')].map((n) => n.textContent.trim());
`;
