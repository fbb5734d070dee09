/**
 * Wiring a phone to its capture session (issue 4 §2) and undoing it.
 *
 * - `adb reverse tcp:P tcp:HOSTPORT`, then `settings put global http_proxy 127.0.0.1:P` (the phone's
 *   apps reach the proxy on their own loopback; xiaomi-telemetry.md §4.5).
 * - The lab CA, by the best method the phone allows, recorded in the evidence:
 *   `preinstalled` (already a system CA, e.g. flashed into a lab phone's image); `system-tmpfs`
 *   (root, Android 14+ / the conscrypt APEX: a tmpfs over the system folder with the current CAs and
 *   ours, bind-mounted over the APEX folder in the zygotes' and every app's mount namespace; gone at
 *   reboot); `system-remount` (root, Android ≤ 13: /system remounted read-write and the file copied
 *   in); `user` (root: the user store only, which apps targeting API 24+ ignore); `none` (metadata
 *   only).
 * - Traffic around the capture (issue 10, bypass.ts): every wiring gets a monitor reading Android's
 *   per-UID counters; on rooted phones, iptables rules for the packages in `bypass.packages` redirect
 *   their direct TCP into the capture and reject (`block`) or count (`passthrough`) the rest, all in
 *   one root shell call, after a sweep of rules that dead wirings left (by their comment tag).
 * - Restore, in reverse order and idempotently: the iptables rules (jumps deleted until none is
 *   left, chains flushed and deleted, then checked with `-S`; leftovers of dead wirings too), the CA
 *   (removed, mounts undone; a reboot advised if they would not go), `http_proxy` back to what it
 *   was (`:0` first, then deleted when it was unset, since deleting alone leaves the proxy active
 *   until reboot), and the reverse rule.
 * The plan (the exact iptables rules included) goes into the on-disk journal before the first
 * change, so a crash is recoverable.
 */
import { X509Certificate } from 'node:crypto';
import type { Device } from '../device/index.ts';
import {
  createBypassMonitor,
  installScript as bypassInstallScript,
  leftoverScript,
  listRulesScript,
  packagesByUid,
  phonehomeLines,
  planBypassRules,
  removalScript as bypassRemovalScript,
  splitSections,
  type BypassMonitor,
  type BypassPlan,
} from './bypass.ts';
import type { LabCa } from './ca.ts';
import type { CaptureMode } from './session.ts';
import { currentOwner, Journal, type CaMethod, type JournalEntry } from './journal.ts';
import { UserFacingError } from '../util/user-facing.ts';

export type { CaMethod } from './journal.ts';
export const CA_METHODS: readonly CaMethod[] = [
  'system-remount',
  'system-tmpfs',
  'user',
  'preinstalled',
  'none',
];

export const SYSTEM_CACERTS = '/system/etc/security/cacerts';
export const APEX_CACERTS = '/apex/com.android.conscrypt/cacerts';
export const USER_CACERTS = '/data/misc/user/0/cacerts-added';
const TMP = '/data/local/tmp';

export class WiringError extends UserFacingError {}

/** What each method decrypts, as the evidence states it. */
export function coverageOf(method: CaMethod): string {
  switch (method) {
    case 'preinstalled':
    case 'system-remount':
    case 'system-tmpfs':
      return 'HTTPS of every app that trusts system CAs is decrypted (apps that pin show up as TLS failures)';
    case 'user':
      return 'HTTPS of apps targeting API 24+ not covered (they ignore user CAs); plain HTTP and apps that trust user CAs are decrypted';
    case 'none':
      return 'metadata only: HTTPS is not decrypted (hosts, SNI and TLS failures are recorded); plain HTTP is captured';
  }
}

type RootStyle = 'adbd' | 'su -c' | 'su 0' | 'su root' | null;

/** How to get uid 0 on this phone; null when it cannot. Probed in parallel; the first style that answers uid=0 wins. */
async function rootStyle(device: Device): Promise<RootStyle> {
  const probes: Array<[Exclude<RootStyle, null>, string[]]> = [
    ['adbd', ['id']],
    ['su -c', ['su', '-c', 'id']],
    ['su 0', ['su', '0', 'id']],
    ['su root', ['su', 'root', 'id']],
  ];
  const answers = await Promise.all(
    probes.map(([style, argv]) =>
      device.shell(argv, { timeoutMs: 5000 }).then(
        (r) => (r.exitCode === 0 && r.stdout.includes('uid=0(') ? style : null),
        () => null,
      ),
    ),
  );
  return answers.find((a) => a !== null) ?? null;
}

function rootArgv(style: Exclude<RootStyle, null>, script: string): string[] {
  switch (style) {
    case 'adbd':
      return ['sh', '-c', script];
    case 'su -c':
      return ['su', '-c', script];
    case 'su 0':
      return ['su', '0', 'sh', '-c', script];
    case 'su root':
      return ['su', 'root', 'sh', '-c', script];
  }
}

async function asRoot(device: Device, style: RootStyle, script: string, what: string): Promise<string> {
  if (!style) throw new WiringError(`${device.serial}: ${what} needs root, and this phone gives none`);
  const r = await device.shell(rootArgv(style, script), { timeoutMs: 30_000 });
  if (r.exitCode !== 0) {
    const out = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' / ');
    throw new WiringError(`${device.serial}: ${what} failed (exit ${r.exitCode})${out ? `: ${out}` : ''}`);
  }
  return r.stdout;
}

const sameCert = (pem: string, other: string): boolean => {
  try {
    return new X509Certificate(other).raw.equals(new X509Certificate(pem).raw);
  } catch {
    return false;
  }
};

interface Probe {
  sdk: number;
  root: RootStyle;
  apex: boolean;
  preinstalled: boolean;
}

async function probe(device: Device, ca: LabCa): Promise<Probe> {
  const [sdkText, root, apex] = await Promise.all([
    device.getProp('ro.build.version.sdk'),
    rootStyle(device),
    device.shell(['ls', '-d', APEX_CACERTS]).then((r) => r.exitCode === 0),
  ]);
  // What apps see: the APEX folder where there is one, else the system folder (world-readable).
  const seen = await device.shell(['cat', `${apex ? APEX_CACERTS : SYSTEM_CACERTS}/${ca.fileName}`]);
  return {
    sdk: Number(sdkText) || 0,
    root,
    apex,
    preinstalled: seen.exitCode === 0 && sameCert(ca.certPem, seen.stdout),
  };
}

function chooseMethod(p: Probe, wanted: CaMethod | 'auto', serial: string): CaMethod {
  if (wanted === 'auto') {
    if (p.preinstalled) return 'preinstalled';
    if (p.root) return p.apex || p.sdk >= 34 ? 'system-tmpfs' : 'system-remount';
    return 'none';
  }
  const needsRoot = wanted === 'system-remount' || wanted === 'system-tmpfs' || wanted === 'user';
  if (needsRoot && !p.root) {
    throw new WiringError(
      `${serial}: --ca-method ${wanted} needs root, and this phone gives none (no \`su\`, adbd not root)`,
      'use --ca-method auto (metadata only on this phone), or pre-install the lab CA as a system CA and use --ca-method preinstalled',
    );
  }
  if (wanted === 'preinstalled' && !p.preinstalled) {
    throw new WiringError(
      `${serial}: --ca-method preinstalled, but the lab CA is not among the phone's system CAs`,
      'install it into the system image (file name `phonehome ca` prints), or use --ca-method auto',
    );
  }
  if (wanted === 'system-remount' && p.apex) {
    throw new WiringError(
      `${serial}: --ca-method system-remount cannot work here: Android ${p.sdk >= 34 ? '14+' : ''} reads system CAs from the conscrypt APEX`,
      'use --ca-method system-tmpfs (or auto)',
    );
  }
  return wanted;
}

const remountRw = 'mount -o remount,rw /system 2>/dev/null || mount -o remount,rw /';
const remountRo = 'mount -o remount,ro /system 2>/dev/null || mount -o remount,ro /';

function installScript(method: CaMethod, file: string): string {
  const src = `${TMP}/${file}`;
  switch (method) {
    case 'system-remount':
      return [
        'set -e',
        remountRw,
        `cp ${src} ${SYSTEM_CACERTS}/${file}`,
        `chown root:root ${SYSTEM_CACERTS}/${file}`,
        `chmod 644 ${SYSTEM_CACERTS}/${file}`,
        `chcon u:object_r:system_file:s0 ${SYSTEM_CACERTS}/${file}`,
        remountRo,
      ].join('\n');
    case 'system-tmpfs':
      return [
        'set -e',
        `COPY=${TMP}/phonehome-cacerts`,
        'rm -rf $COPY',
        'mkdir -m 700 $COPY',
        `if [ -d ${APEX_CACERTS} ]; then cp ${APEX_CACERTS}/* $COPY/; else cp ${SYSTEM_CACERTS}/* $COPY/; fi`,
        `mount -t tmpfs tmpfs ${SYSTEM_CACERTS}`,
        `mv $COPY/* ${SYSTEM_CACERTS}/`,
        `cp ${src} ${SYSTEM_CACERTS}/${file}`,
        `chown root:root ${SYSTEM_CACERTS} ${SYSTEM_CACERTS}/*`,
        `chmod 644 ${SYSTEM_CACERTS}/*`,
        `chcon u:object_r:system_file:s0 ${SYSTEM_CACERTS} ${SYSTEM_CACERTS}/*`,
        'rm -rf $COPY',
        'set +e',
        `if [ -d ${APEX_CACERTS} ]; then`,
        `  mount --bind ${SYSTEM_CACERTS} ${APEX_CACERTS}`,
        '  ZYGOTES="$(pidof zygote) $(pidof zygote64)"',
        '  for Z in $ZYGOTES; do',
        `    nsenter --mount=/proc/$Z/ns/mnt -- /bin/mount --bind ${SYSTEM_CACERTS} ${APEX_CACERTS}`,
        '  done',
        '  for Z in $ZYGOTES; do for P in $(ps -o PID= -P $Z); do',
        `    nsenter --mount=/proc/$P/ns/mnt -- /bin/mount --bind ${SYSTEM_CACERTS} ${APEX_CACERTS}`,
        '  done; done',
        'fi',
        'true',
      ].join('\n');
    case 'user':
      return [
        'set -e',
        `mkdir -p ${USER_CACERTS}`,
        `cp ${src} ${USER_CACERTS}/${file}`,
        `chown system:system ${USER_CACERTS}/${file}`,
        `chmod 644 ${USER_CACERTS}/${file}`,
      ].join('\n');
    case 'preinstalled':
    case 'none':
      return 'true';
  }
}

function removeScript(method: CaMethod, file: string): string | null {
  switch (method) {
    case 'system-remount':
      return [
        `if [ -e ${SYSTEM_CACERTS}/${file} ]; then`,
        `  ${remountRw}`,
        `  rm -f ${SYSTEM_CACERTS}/${file}`,
        `  ${remountRo}`,
        'fi',
        `rm -f ${TMP}/${file}`,
        `[ ! -e ${SYSTEM_CACERTS}/${file} ]`,
      ].join('\n');
    case 'system-tmpfs':
      // Undo the bind mounts in every namespace that got one, then the tmpfs; the check at the end
      // is what apps will see.
      return [
        `if [ -d ${APEX_CACERTS} ]; then`,
        '  ZYGOTES="$(pidof zygote) $(pidof zygote64)"',
        '  for Z in $ZYGOTES; do for P in $(ps -o PID= -P $Z); do',
        `    nsenter --mount=/proc/$P/ns/mnt -- /bin/umount ${APEX_CACERTS} 2>/dev/null`,
        '  done; done',
        '  for Z in $ZYGOTES; do',
        `    nsenter --mount=/proc/$Z/ns/mnt -- /bin/umount ${APEX_CACERTS} 2>/dev/null`,
        '  done',
        `  umount ${APEX_CACERTS} 2>/dev/null`,
        'fi',
        `if [ -e ${SYSTEM_CACERTS}/${file} ]; then umount ${SYSTEM_CACERTS} 2>/dev/null; fi`,
        `rm -rf ${TMP}/${file} ${TMP}/phonehome-cacerts`,
        `[ ! -e ${SYSTEM_CACERTS}/${file} ] && { [ ! -d ${APEX_CACERTS} ] || [ ! -e ${APEX_CACERTS}/${file} ]; }`,
      ].join('\n');
    case 'user':
      return [`rm -f ${USER_CACERTS}/${file} ${TMP}/${file}`, `[ ! -e ${USER_CACERTS}/${file} ]`].join('\n');
    case 'preinstalled':
    case 'none':
      return null;
  }
}

/**
 * Whether anything of the CA install is on the phone. The system stores are world-readable, so this
 * needs no root: a rollback on a phone whose root went away still clears its journal entry when the
 * CA never got there. The user store is not readable without root: assume present.
 */
async function caPresent(device: Device, method: CaMethod, file: string): Promise<boolean> {
  if (method !== 'system-remount' && method !== 'system-tmpfs') return method === 'user';
  const [sys, apex, mounts] = await Promise.all([
    device.shell(['ls', `${SYSTEM_CACERTS}/${file}`]),
    device.shell(['ls', `${APEX_CACERTS}/${file}`]),
    device.shell(['cat', '/proc/mounts']),
  ]);
  return (
    sys.exitCode === 0 ||
    apex.exitCode === 0 ||
    (method === 'system-tmpfs' && mounts.stdout.split('\n').some((l) => l.split(' ')[1] === SYSTEM_CACERTS))
  );
}

export interface WireOptions {
  ca: LabCa;
  /** The capture session's port on this host. */
  hostPort: number;
  /** The port apps use on the phone (default: the host port). */
  devicePort?: number;
  caMethod?: CaMethod | 'auto';
  journal: Journal;
  /** The adb server the Device talks to, for recovery by a later process. */
  adb: { host: string; port: number };
  log?: (line: string) => void;
  /**
   * Apps whose traffic around the proxy is to be caught: on rooted phones their direct TCP is
   * redirected into the capture by iptables rules (their uids, resolved on the phone). Every
   * wiring measures per-UID traffic whatever this says.
   */
  bypass?: { packages: string[] };
  /** The capture's mode: `block` rejects the covered apps' other direct traffic, `passthrough` counts it. */
  mode?: CaptureMode;
}

export interface RestoreReport {
  serial: string;
  ok: boolean;
  /** What was undone, in order. */
  steps: string[];
  /** What could not be undone, each with what to do. */
  problems: string[];
  rebootAdvised: boolean;
}

export interface Wiring {
  serial: string;
  devicePort: number;
  hostPort: number;
  caMethod: CaMethod;
  coverage: string;
  /** http_proxy as it was found (null = unset). */
  previousProxy: string | null;
  /** Traffic that did not go through the capture: snapshot before, snapshot after, compare. */
  bypass: BypassMonitor;
  restore(): Promise<RestoreReport>;
}

/** Tags of bypass rules that live wirings own (their rules are not leftovers). */
function liveTags(journal: Journal, except?: JournalEntry): Set<string> {
  const keep = new Set<string>();
  for (const e of journal.list()) {
    if (except && e.serial === except.serial && e.devicePort === except.devicePort) continue;
    if (e.bypass && Journal.ownerAlive(e)) keep.add(e.bypass.tag);
  }
  return keep;
}

/** Removes phonehome rules that no live wiring owns; returns what it found. */
async function sweepLeftovers(device: Device, root: RootStyle, keep: ReadonlySet<string>): Promise<string[]> {
  const listing = await asRoot(device, root, listRulesScript(), 'listing the iptables rules');
  const { script, found } = leftoverScript(splitSections(listing), keep);
  if (found.length) await asRoot(device, root, script, 'removing leftover iptables rules');
  return found;
}

/** Resolves the packages to uids on the phone and plans the rules. */
async function planBypass(
  device: Device,
  packages: readonly string[],
  devicePort: number,
  mode: CaptureMode,
): Promise<{ plan: BypassPlan | null; uidPackages: Map<number, string[]>; missing: string[] }> {
  const uidPackages = await packagesByUid(device);
  const uids = new Map<number, string[]>();
  const missing: string[] = [];
  for (const pkg of packages) {
    const hit = [...uidPackages].find(([, names]) => names.includes(pkg));
    if (!hit) missing.push(pkg);
    // Only app uids: an owner rule on a system uid (1000: Settings, system_server) would redirect
    // the platform's own traffic into the capture.
    else if (hit[0] % 100000 >= 10000) uids.set(hit[0], hit[1]);
  }
  const list = [...uids].sort((a, b) => a[0] - b[0]).map(([uid, pkgs]) => ({ uid, packages: pkgs }));
  return {
    plan: list.length ? planBypassRules({ devicePort, mode, uids: list }) : null,
    uidPackages,
    missing,
  };
}

/** Wires `device` to the capture proxy on `hostPort`. On failure, whatever was done is undone. */
export async function wirePhone(device: Device, opts: WireOptions): Promise<Wiring> {
  const serial = device.serial;
  const devicePort = opts.devicePort ?? opts.hostPort;
  const log = opts.log ?? (() => undefined);
  const busy = opts.journal.list().find((e) => e.serial === serial && Journal.ownerAlive(e));
  if (busy) {
    throw new WiringError(
      `${serial} is already wired to a capture by process ${busy.owner.pid} (since ${busy.startedAt})`,
      'stop that capture first; a phone is captured by one session at a time',
    );
  }
  const [previousProxy, reverses, p] = await Promise.all([
    device.getSetting('global', 'http_proxy'),
    device.listReverses(),
    probe(device, opts.ca),
  ]);
  const taken = reverses.find((r) => r.remote === `tcp:${devicePort}`);
  if (taken) {
    throw new WiringError(
      `${serial}: device port tcp:${devicePort} is already reversed to ${taken.local}`,
      `pick another port with --device-port, or remove that rule: adb -s ${serial} reverse --remove tcp:${devicePort}`,
    );
  }
  const method = chooseMethod(p, opts.caMethod ?? 'auto', serial);
  const mode = opts.mode ?? 'block';
  const wanted = [...new Set(opts.bypass?.packages ?? [])];
  let uidPackages = new Map<number, string[]>();
  let plan: BypassPlan | null = null;
  let rulesProblem: string | undefined;
  try {
    const planned = await planBypass(device, p.root ? wanted : [], devicePort, mode);
    uidPackages = planned.uidPackages;
    plan = planned.plan;
    if (planned.missing.length)
      log(`${serial}: not installed, not covered by bypass rules: ${planned.missing.join(', ')}`);
  } catch (err) {
    rulesProblem = err instanceof Error ? err.message : String(err);
    log(`${serial}: ${rulesProblem}`);
  }
  if (!p.root && wanted.length) rulesProblem = 'the phone gives no root: per-UID accounting only';
  const entry: JournalEntry = {
    version: 1,
    serial,
    adb: opts.adb,
    owner: currentOwner(),
    startedAt: new Date().toISOString(),
    devicePort,
    hostPort: opts.hostPort,
    previousProxy,
    proxyValue: `127.0.0.1:${devicePort}`,
    ca: method === 'none' || method === 'preinstalled' ? null : { method, file: opts.ca.fileName },
    bypass: plan,
  };
  opts.journal.write(entry);
  const restore = (): Promise<RestoreReport> => restorePhone(device, entry, opts.journal, p.root);
  try {
    await device.reverse(`tcp:${devicePort}`, `tcp:${opts.hostPort}`);
    log(`${serial}: adb reverse tcp:${devicePort} → tcp:${opts.hostPort}`);
    await device.putSetting('global', 'http_proxy', entry.proxyValue);
    log(`${serial}: http_proxy ${entry.proxyValue} (was ${previousProxy ?? 'unset'})`);
    if (entry.ca) {
      await device.push(Buffer.from(opts.ca.certPem), `${TMP}/${opts.ca.fileName}`, 0o644);
      await asRoot(
        device,
        p.root,
        installScript(method, opts.ca.fileName),
        `installing the lab CA (${method})`,
      );
      log(`${serial}: lab CA installed (${method})`);
    }
    if (p.root) {
      try {
        const found = await sweepLeftovers(device, p.root, liveTags(opts.journal, entry));
        if (found.length) log(`${serial}: removed iptables rules a dead wiring left: ${found.join('; ')}`);
      } catch (err) {
        log(
          `${serial}: leftover iptables rules not checked: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    if (plan) {
      try {
        await asRoot(device, p.root, bypassInstallScript(plan), 'installing the iptables bypass rules');
        log(
          `${serial}: iptables rules for ${plan.uids.map((u) => `${u.packages.join(',')} (uid ${u.uid})`).join('; ')}: TCP off loopback → tcp:${devicePort}, the rest ${mode === 'block' ? 'rejected' : 'counted'}`,
        );
      } catch (err) {
        // Whatever part went in comes out; the per-UID accounting still measures.
        rulesProblem = err instanceof Error ? err.message : String(err);
        await asRoot(device, p.root, bypassRemovalScript(plan), 'removing the iptables bypass rules').catch(
          () => undefined,
        );
        log(`${serial}: ${rulesProblem}`);
        plan = null;
      }
    }
  } catch (err) {
    const report = await restore();
    if (!report.ok) log(`${serial}: rollback incomplete: ${report.problems.join('; ')}`);
    throw err;
  }
  const root = p.root;
  const bypass = createBypassMonitor({
    device,
    sdk: p.sdk,
    packages: wanted,
    plan,
    ...(rulesProblem ? { rulesProblem } : {}),
    ...(root ? { root: (script: string, what: string) => asRoot(device, root, script, what) } : {}),
    uidPackages,
  });
  return {
    serial,
    devicePort,
    hostPort: opts.hostPort,
    caMethod: method,
    coverage: coverageOf(method),
    previousProxy,
    bypass,
    restore,
  };
}

/** Removes the entry's iptables rules and checks with `-S` that none is left; leftovers too. */
async function removeBypassRules(
  device: Device,
  entry: JournalEntry,
  journal: Journal,
  root: RootStyle,
  report: RestoreReport,
): Promise<void> {
  const plan = entry.bypass as BypassPlan;
  await asRoot(device, root, bypassRemovalScript(plan), 'removing the iptables bypass rules');
  const listing = splitSections(await asRoot(device, root, listRulesScript(), 'listing the iptables rules'));
  const left: string[] = [];
  for (const [section, text] of listing) {
    const { rules, chains } = phonehomeLines(text);
    for (const r of rules) if (r.includes(plan.tag)) left.push(`${section}: ${r}`);
    for (const c of chains) if (c === plan.chain) left.push(`${section}: chain ${c}`);
  }
  if (left.length) throw new Error(`still there after removal: ${left.join('; ')}`);
  report.steps.push(`iptables bypass rules removed (${plan.chain})`);
  const { script, found } = leftoverScript(listing, liveTags(journal, entry));
  if (found.length) {
    await asRoot(device, root, script, 'removing leftover iptables rules');
    report.steps.push(`leftover iptables rules removed: ${found.join('; ')}`);
  }
}

/**
 * Undoes what `entry` planned, whatever part of it was done; removes the journal entry when
 * everything is back. Never throws for the phone's sake: problems are reported with their fix.
 */
export async function restorePhone(
  device: Device,
  entry: JournalEntry,
  journal: Journal,
  knownRoot?: RootStyle,
): Promise<RestoreReport> {
  const report: RestoreReport = {
    serial: entry.serial,
    ok: true,
    steps: [],
    problems: [],
    rebootAdvised: false,
  };
  const problem = (what: string, err: unknown, fix: string): void => {
    report.ok = false;
    report.problems.push(`${what}: ${err instanceof Error ? err.message : String(err)} (${fix})`);
  };
  let root: RootStyle | undefined = knownRoot;
  const getRoot = async (): Promise<RootStyle> =>
    root === undefined ? (root = await rootStyle(device)) : root;
  if (entry.bypass) {
    try {
      await removeBypassRules(device, entry, journal, await getRoot(), report);
    } catch (err) {
      problem(
        'the iptables bypass rules could not be removed',
        err,
        `reboot the phone (iptables rules do not survive it): adb -s ${entry.serial} reboot`,
      );
      report.rebootAdvised = true;
    }
  }
  if (entry.ca) {
    const { method, file } = entry.ca;
    try {
      const script = (await caPresent(device, method, file)) ? removeScript(method, file) : null;
      if (script === null) report.steps.push('no lab CA to remove');
      else {
        await asRoot(device, await getRoot(), script, `removing the lab CA (${method})`);
        report.steps.push(`lab CA removed (${method})`);
      }
    } catch (err) {
      report.rebootAdvised = method === 'system-tmpfs';
      problem(
        'the lab CA could not be removed',
        err,
        method === 'system-tmpfs'
          ? `reboot the phone: adb -s ${entry.serial} reboot (the mounts do not survive it)`
          : `remove ${file} from the phone's CA store by hand`,
      );
    }
  }
  try {
    const now = await device.getSetting('global', 'http_proxy');
    if (now === entry.proxyValue) {
      if (entry.previousProxy === null || entry.previousProxy === '') {
        await device.putSetting('global', 'http_proxy', ':0');
        await device.deleteSetting('global', 'http_proxy');
      } else {
        await device.putSetting('global', 'http_proxy', entry.previousProxy);
      }
      report.steps.push(`http_proxy back to ${entry.previousProxy ?? 'unset'}`);
    } else if (now !== entry.previousProxy) {
      report.steps.push(`http_proxy left as ${now ?? 'unset'} (changed by someone else since)`);
    }
  } catch (err) {
    problem(
      'http_proxy could not be restored',
      err,
      `run: adb -s ${entry.serial} shell settings put global http_proxy ${entry.previousProxy ?? ':0'}`,
    );
  }
  try {
    const rules = await device.listReverses();
    if (rules.some((r) => r.remote === `tcp:${entry.devicePort}` && r.local === `tcp:${entry.hostPort}`)) {
      await device.removeReverse(`tcp:${entry.devicePort}`);
      report.steps.push(`reverse tcp:${entry.devicePort} removed`);
    }
  } catch (err) {
    problem(
      'the reverse rule could not be removed',
      err,
      `run: adb -s ${entry.serial} reverse --remove tcp:${entry.devicePort}`,
    );
  }
  if (report.ok) journal.remove(entry);
  return report;
}
