/**
 * Helpers for the app tests: a real VirtualPhone with installApps(), a collecting TelemetrySink, a
 * fake HttpClient, shell commands through phone.exec, and checks of what is on screen.
 */
import assert from 'node:assert/strict';
import { VirtualPhone } from '../../../../src/virtual/phone.ts';
import { loadProfile } from '../../../../src/virtual/profiles/load.ts';
import { installApps, type InstalledApps } from '../../../../src/virtual/apps/index.ts';
import type { AppEvent, AppEventContext, TelemetrySink } from '../../../../src/virtual/apps/events.ts';
import type { UiNode } from '../../../../src/virtual/display/node.ts';
import { centre, findAll, hitTest, walk } from '../../../../src/virtual/display/node.ts';

import { FakeHttp, T0 } from '../fakes.ts';
import { sh as runSh } from '../os/helpers.ts';

export { FakeHttp, T0 };

export class CollectingSink implements TelemetrySink {
  readonly events: Array<{ event: AppEvent; context: AppEventContext }> = [];
  readonly backgrounded: string[] = [];

  track(event: AppEvent, context: AppEventContext): void {
    this.events.push({ event, context });
  }

  appBackgrounded(pkg: string): void {
    this.backgrounded.push(pkg);
  }

  names(): string[] {
    return this.events.map((e) => e.event.name);
  }

  clear(): void {
    this.events.length = 0;
    this.backgrounded.length = 0;
  }
}

export interface Rig {
  phone: VirtualPhone;
  apps: InstalledApps;
  sink: CollectingSink;
  http: FakeHttp;
}

export function rig(profile = 'redmi-note-8-leaky'): Rig {
  const phone = new VirtualPhone(loadProfile(profile), { serialno: 'apps0001' });
  const sink = new CollectingSink();
  const http = new FakeHttp(1);
  let t = T0;
  const apps = installApps(phone, { telemetry: sink, http, clock: () => t++ });
  return { phone, apps, sink, http };
}

/** Runs a shell command on the phone; fails the test on a non-zero exit. */
export async function sh(phone: VirtualPhone, script: string, uid?: number): Promise<string> {
  const r = await runSh(phone, script, uid);
  assert.equal(r.status, 0, `${script}: ${r.stderr}`);
  return r.stdout;
}

export function nodes(phone: VirtualPhone, pred: (n: UiNode) => boolean): UiNode[] {
  return findAll(phone.screen.root(), pred);
}

export function one(phone: VirtualPhone, pred: (n: UiNode) => boolean, what: string): UiNode {
  const found = nodes(phone, pred);
  assert.equal(found.length, 1, `exactly one ${what} on screen, found ${found.length}`);
  return found[0]!;
}

export const byId = (id: string) => (n: UiNode) => n.resourceId === id;
export const byText = (text: string) => (n: UiNode) => n.text === text;

/** The clickable row holding a title text (preference rows). */
export function rowWithTitle(phone: VirtualPhone, title: string): UiNode {
  return one(phone, (n) => n.clickable && n.children.some((c) => c.text === title), `row '${title}'`);
}

/** `input tap` at a node's centre. */
export async function tap(phone: VirtualPhone, n: UiNode): Promise<void> {
  const c = centre(n.bounds);
  await sh(phone, `input tap ${c.x} ${c.y}`);
}

/**
 * What every screen must satisfy: each clickable node's centre hits that very node, every node lies
 * inside the display, the `uiautomator dump` XML is well-formed and `screencap` renders.
 */
export async function checkScreen(phone: VirtualPhone, label: string): Promise<void> {
  const s = phone.screen;
  const root = s.root();
  const clickables = findAll(root, (n) => n.clickable);
  assert.ok(clickables.length > 0, `${label}: something clickable`);
  for (const n of clickables) {
    const c = centre(n.bounds);
    assert.equal(
      hitTest(root, c.x, c.y),
      n,
      `${label}: centre of ${n.resourceId || n.className} '${n.text || n.contentDesc}' hits it`,
    );
  }
  walk(root, (n) => {
    const b = n.bounds;
    assert.ok(
      b.left >= 0 && b.top >= 0 && b.right <= s.width && b.bottom <= s.height,
      `${label}: ${n.resourceId || n.className} inside the display: ${JSON.stringify(b)}`,
    );
  });
  const xml = await sh(phone, 'uiautomator dump /dev/tty');
  checkXml(xml.replace(/UI hierchary dumped to: .*\n$/, ''), label);
  const png = phone.screen.renderPng();
  assert.deepEqual(
    [...png.subarray(0, 8)],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    `${label}: PNG`,
  );
}

/** A strict little well-formedness check of the dump (declaration, balanced tags, quoted attributes). */
export function checkXml(xml: string, label: string): void {
  const decl = "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>";
  assert.ok(xml.startsWith(decl), `${label}: XML declaration`);
  const tagRe = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[\w-]+="[^"<]*")*)\s*(\/?)>/y;
  const stack: string[] = [];
  let pos = decl.length;
  let roots = 0;
  while (pos < xml.length) {
    tagRe.lastIndex = pos;
    const m = tagRe.exec(xml);
    assert.ok(m, `${label}: malformed XML at ${pos}: ${xml.slice(pos, pos + 60)}`);
    pos = tagRe.lastIndex;
    const [, close, name, attrs, self] = m;
    for (const a of attrs!.matchAll(/="([^"]*)"/g))
      assert.doesNotMatch(a[1]!, /&(?!(amp|lt|gt|quot|apos|#\d+);)/);
    if (close) assert.equal(stack.pop(), name, `${label}: balanced tags`);
    else {
      if (!stack.length) roots++;
      if (!self) stack.push(name!);
    }
  }
  assert.equal(stack.length, 0, `${label}: all closed`);
  assert.equal(roots, 1, `${label}: one root`);
}
