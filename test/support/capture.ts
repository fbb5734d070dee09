/**
 * Test support for the capture tests (issue 4 §1–2): driving the virtual Mi Browser to a canary URL
 * and a canary search through the real adb CLI, flushing the phone's telemetry, snapshotting what
 * wiring may change on a phone, analysing a session's records with the real decoders and detector,
 * and spawning `phonehome` so a test can signal it mid-capture.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { CaptureRecord, Exchange } from '../../src/capture/exchange.ts';
import { decode } from '../../src/decode/index.ts';
import { createDetector, type Finding, type Identifier } from '../../src/detect/index.ts';
import type { LabCa } from '../../src/capture/ca.ts';
import type { LabPhone } from '../../src/virtual/lab/virtual-lab.ts';
import { SYSTEM_FILE_LABEL } from '../../src/virtual/netstack/trust.ts';
import { BIN, type CliResult } from './cli.ts';
import { allNodes, byId, within, type AdbPhone, type XmlNode } from './xiaomi.ts';

export const SYS_CACERTS = '/system/etc/security/cacerts';
export const APEX_CACERTS = '/apex/com.android.conscrypt/cacerts';
export const USER_CACERTS = '/data/misc/user/0/cacerts-added';
export const BROWSER_ACTIVITY = 'com.android.browser.BrowserActivity';
export const SENSORS_HOST = 'sa.api.intl.miui.com';
export const ADS_URL = 'http://api.ad.intl.xiaomi.com/getSplashScreenAds';

/**
 * Puts the lab CA into a virtual phone's system CA folder as if it were in the phone's image (a lab
 * phone flashed for it): `--ca-method auto` then finds it `preinstalled`, without root.
 */
export function provisionCa(lp: LabPhone, ca: Pick<LabCa, 'fileName' | 'certPem'>): void {
  const fs = lp.phone.fs;
  const path = `${lp.profile.systemCaDir}/${ca.fileName}`;
  fs.provision(() => {
    fs.writeFile(path, ca.certPem, { mode: 0o644 });
    fs.chown(path, 0, 0);
    fs.setLabel(path, SYSTEM_FILE_LABEL);
  });
}

export const token = (): string => randomBytes(5).toString('hex');

export interface Canaries {
  host: string;
  url: string;
  word: string;
}

export function canaries(tok: string): Canaries {
  const host = `canary-${tok}.example.com`;
  return { host, url: `https://${host}/visit/canary-${tok}`, word: `canaryword${tok}` };
}

const bid = (lp: LabPhone, name: string): string => `${lp.profile.browser}:id/${name}`;

/** The page finished loading (a title other than 'Loading'), or the browser's error page. */
function loadedOrFailed(lp: LabPhone) {
  return (root: XmlNode): XmlNode | undefined =>
    allNodes(root).find(
      (n) =>
        n.attrs['resource-id'] === bid(lp, 'reload') ||
        (n.attrs['resource-id'] === bid(lp, 'webview') &&
          n.attrs['content-desc'] !== 'Loading' &&
          n.attrs['content-desc'] !== ''),
    );
}

async function addressBar(phone: AdbPhone, lp: LabPhone, text: string): Promise<void> {
  await phone.tap(await phone.waitNode(byId(bid(lp, 'url')), 'the address bar'));
  await phone.text(text);
  await phone.key('ENTER');
  await phone.waitNode(loadedOrFailed(lp), `'${text}' loaded (or failed)`, 5000);
}

/**
 * Opens the phone's browser (`am start -n`), visits the canary URL and searches for the canary word
 * through the address bar (`input tap`/`input text`/ENTER), goes HOME, then uploads everything the
 * phone's SDKs queued and waits for the uploads in flight (bounded).
 */
export async function browseCanaries(
  phone: AdbPhone,
  lp: LabPhone,
  c: Canaries,
  o: { drain?: boolean } = {},
): Promise<void> {
  await phone.sh(`am start -n ${lp.profile.browser}/${BROWSER_ACTIVITY}`);
  await phone.waitNode(byId(bid(lp, 'url')), 'the address bar');
  await addressBar(phone, lp, c.url);
  await addressBar(phone, lp, c.word);
  await phone.key('HOME');
  // `drain: false` starts the uploads without waiting for every one to be answered.
  if (o.drain === false) lp.phone.telemetry.flush().catch(() => undefined);
  else await flushTelemetry(lp);
}

/** Every queued event is uploaded now and every upload in flight has its answer (bounded, 5 s). */
export async function flushTelemetry(lp: LabPhone): Promise<void> {
  const hub = lp.phone.telemetry;
  await within(
    (async () => {
      await hub.flush();
      await hub.idle();
    })(),
    5000,
    'the telemetry queues drain',
  );
}

export type ExchangeRecord = { type: 'exchange' } & Exchange;

export const exchanges = (records: readonly CaptureRecord[]): ExchangeRecord[] =>
  records.filter((r): r is ExchangeRecord => r.type === 'exchange');

export interface Analysed {
  record: ExchangeRecord;
  findings: Finding[];
}

/** Each exchange decoded (src/decode) and run through a detector for the canaries and identifiers. */
export function analyse(
  records: readonly CaptureRecord[],
  needles: { canaries?: string[]; identifiers?: Identifier[] },
): Analysed[] {
  const detector = createDetector(needles);
  return exchanges(records).map((record) => {
    const decoded = decode({
      body: record.request.body,
      contentType: record.request.headers['content-type'],
      url: record.url,
      headers: record.request.headers,
    });
    return { record, findings: detector.run(record, decoded).findings };
  });
}

/** Findings of `kind` whose value is `value`, as "path (encoding)" strings. */
export function where(a: Analysed[], kind: 'canary' | 'identifier', value: string): string[] {
  return a.flatMap((x) =>
    x.findings.filter((f) => f.kind === kind && f.value === value).map((f) => `${x.record.host} ${f.path}`),
  );
}

/** Polls `cond` every 25 ms for at most `ms`; resolves to whether it became true. */
export async function eventually(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

// ----------------------------------------------------------------------------- phone snapshots

export interface SnapshotOptions {
  rooted: boolean;
  /** An app process whose mount namespace is listed too (root only). */
  appPid?: number;
}

/**
 * Everything wiring may touch, as the phone reports it: the three settings tables, the reverse
 * rules, the mount table (shell and root), the system and APEX CA folders (in the shell's, root's and
 * an app's mount namespace), the user CA store and /data/local/tmp.
 */
export async function snapshot(phone: AdbPhone, o: SnapshotOptions): Promise<Record<string, string>> {
  const s: Record<string, string> = {};
  for (const ns of ['global', 'secure', 'system'])
    s[`settings list ${ns}`] = await phone.sh(`settings list ${ns}`);
  const rev = await phone.adb(['reverse', '--list']);
  assert.equal(rev.code, 0, rev.stderr);
  s['adb reverse --list'] = rev.stdout.toString('utf8');
  s.mount = await phone.sh('mount');
  s[`ls -ln ${SYS_CACERTS}`] = await phone.sh(`ls -ln ${SYS_CACERTS}`);
  const apex = (await phone.adb(['shell', `ls -d ${APEX_CACERTS}`])).code === 0;
  if (apex) s[`ls -ln ${APEX_CACERTS}`] = await phone.sh(`ls -ln ${APEX_CACERTS}`);
  s['ls -a /data/local/tmp'] = await phone.sh('ls -a /data/local/tmp');
  if (o.rooted) {
    s['su: mount'] = await phone.su('mount');
    s['su: ls user store'] = await phone.su(`ls -a /data/misc/user/0; ls -ln ${USER_CACERTS} 2>&1; true`);
    if (o.appPid !== undefined) {
      const dir = apex ? APEX_CACERTS : SYS_CACERTS;
      s[`app ${o.appPid}: ls ${dir}`] = await phone.su(
        `nsenter --mount=/proc/${o.appPid}/ns/mnt -- ls ${dir}`,
      );
    }
  }
  return s;
}

// ----------------------------------------------------------------------------- the CLI, spawned

export interface SpawnedCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once `re` matches the stream (bounded); fails with both streams otherwise. */
  waitFor(stream: 'stdout' | 'stderr', re: RegExp, ms?: number): Promise<RegExpExecArray>;
  done: Promise<CliResult>;
}

/** `node bin/phonehome.js ...args` as a child the test can signal; `done` resolves on 'close'. */
export function spawnCli(args: string[], opts: { env: Record<string, string>; cwd: string }): SpawnedCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let closed = false;
  const waiters = new Set<() => void>();
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8');
    for (const w of [...waiters]) w();
  });
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString('utf8');
    for (const w of [...waiters]) w();
  });
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      closed = true;
      for (const w of [...waiters]) w();
      resolve({ code, signal, stdout: out, stderr: err });
    });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    done,
    waitFor: (stream, re, ms = 15_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(stream === 'stdout' ? out : err);
          if (m) {
            cleanup();
            resolve(m);
          } else if (closed) {
            cleanup();
            reject(
              new Error(`phonehome exited before ${re} on ${stream}\n--- stdout\n${out}--- stderr\n${err}`),
            );
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${re} not on ${stream} within ${ms} ms\n--- stdout\n${out}--- stderr\n${err}`));
        }, ms);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
  };
}
