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
import {
  APEX_CACERTS,
  DEVICE_TMP,
  INSTALLED_MARKER,
  installScript,
  parseVerification,
  REMOVED_MARKER,
  removeScript,
  runRootScript,
  SYSTEM_CACERTS,
  TMPFS_SOURCE,
  VERIFIED_MARKER,
  verifyScript,
  type NamespaceCheck,
} from './ca-install.ts';
import type { CaptureMode } from './session.ts';
import { currentOwner, hostPortsOf, Journal, type CaMethod, type JournalEntry } from './journal.ts';
import {
  confirmRoot,
  describeRoot,
  probeRoot,
  rootArgv,
  rootRefusal,
  ROOT_SCRIPT_MS,
  WiringError,
  type Root,
} from './root.ts';

export type { CaMethod } from './journal.ts';
export { WiringError } from './root.ts';
export { APEX_CACERTS, SYSTEM_CACERTS, USER_CACERTS } from './ca-install.ts';
export const CA_METHODS: readonly CaMethod[] = [
  'system-remount',
  'system-tmpfs',
  'user',
  'preinstalled',
  'none',
];

const TMP = DEVICE_TMP;

/** What each method decrypts, as the evidence states it. */
export function coverageOf(method: CaMethod): string {
  switch (method) {
    case 'preinstalled':
      return 'HTTPS of every app that trusts system CAs is decrypted (the lab CA is in the phone image; apps that pin show up as TLS failures)';
    case 'system-remount':
      return 'HTTPS of every app that trusts system CAs is decrypted (the lab CA written into /system; apps that pin show up as TLS failures)';
    case 'system-tmpfs':
      return "HTTPS of every app that trusts system CAs is decrypted (the lab CA in a tmpfs over the system CA folder, bind-mounted over the conscrypt APEX folder where there is one, checked from the zygotes' and apps' own mount namespaces; apps that pin show up as TLS failures; gone at reboot)";
    case 'user':
      return 'HTTPS of apps targeting API 24+ not covered (they ignore user CAs); plain HTTP and apps that trust user CAs are decrypted';
    case 'none':
      return 'metadata only: HTTPS is not decrypted (hosts, SNI and TLS failures are recorded); plain HTTP is captured';
  }
}

/** Runs a root command line (iptables scripts and listings); throws a WiringError naming `what`. */
async function asRoot(device: Device, root: Root | null, script: string, what: string): Promise<string> {
  if (!root) throw new WiringError(`${device.serial}: ${what} needs root, and this phone gives none`);
  const r = await device.shell(rootArgv(root, script), { timeoutMs: ROOT_SCRIPT_MS });
  const refused = rootRefusal(device.serial, r, `${what}: getting root (su)`);
  if (refused) throw refused;
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

export interface Probe {
  sdk: number;
  /** How the phone might give root (not yet asked: no prompt so far); null = none. */
  root: Root | null;
  /** /apex/com.android.conscrypt/cacerts exists (Android 14+, or an updated conscrypt module). */
  apex: boolean;
  preinstalled: boolean;
}

async function probe(device: Device, ca: LabCa): Promise<Probe> {
  const [sdkText, root, apexList] = await Promise.all([
    device.getProp('ro.build.version.sdk'),
    probeRoot(device),
    device.shell(['ls', APEX_CACERTS]),
  ]);
  const apex = apexList.exitCode === 0;
  // A lab CA tmpfs or bind still mounted is an earlier run's leftover, never a preinstalled CA: its
  // binds may be missing in some namespaces, and nothing would check them.
  const mounts = await device.shell(['cat', '/proc/mounts']);
  const leftover = mounts.stdout.split('\n').find((l) => l.split(' ')[0] === TMPFS_SOURCE);
  if (leftover) {
    throw new WiringError(
      `${device.serial}: a lab CA mount from an earlier run is still on the phone (${leftover.split(' ').slice(0, 3).join(' ')}), ` +
        'and no journal entry could undo it',
      `reboot the phone (the mounts do not survive it): adb -s ${device.serial} reboot`,
    );
  }
  // What apps see: the APEX folder where it is there and non-empty, else the system folder (world-readable).
  const dir = apex && apexList.stdout.trim() ? APEX_CACERTS : SYSTEM_CACERTS;
  const seen = await device.shell(['cat', `${dir}/${ca.fileName}`]);
  return {
    sdk: Number(sdkText) || 0,
    root,
    apex,
    preinstalled: seen.exitCode === 0 && sameCert(ca.certPem, seen.stdout),
  };
}

/** The methods that change the phone's CA stores, and so need root. */
export const needsRoot = (m: CaMethod): boolean =>
  m === 'system-remount' || m === 'system-tmpfs' || m === 'user';

export const REMOUNT_WARNING =
  '--ca-method system-remount writes into /system: on many phones it is not writable (EXT4 shared-blocks ' +
  'images; Magisk issue 1729), and a write under dm-verity can stop the phone booting. --ca-method auto ' +
  '(system-tmpfs) changes nothing on disk';

/**
 * The CA method for this phone. `auto` never remounts /system: `preinstalled` when the lab CA is
 * already a system CA, else `system-tmpfs` when the phone may give root (every Android version),
 * else `none`. A named method is checked against the phone.
 */
export function chooseMethod(
  p: Pick<Probe, 'root' | 'apex' | 'preinstalled' | 'sdk'>,
  wanted: CaMethod | 'auto',
  serial: string,
): CaMethod {
  if (wanted === 'auto') {
    if (p.preinstalled) return 'preinstalled';
    if (p.root) return 'system-tmpfs';
    return 'none';
  }
  if (needsRoot(wanted) && !p.root) {
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
      `${serial}: --ca-method system-remount cannot work here: Android ${p.sdk >= 34 ? '14+ ' : ''}reads system CAs from the conscrypt APEX`,
      'use --ca-method system-tmpfs (or auto)',
    );
  }
  return wanted;
}

const INSTALL_FIX =
  'reboot the phone (a tmpfs and bind mounts do not survive it) and run again; ' +
  'or capture without decryption: --ca-method none';
const VERIFY_FIX =
  'reboot the phone and run again; if it fails again, set Magisk › Settings › Mount namespace mode to ' +
  'Global (or Inherit) and check that nothing else mounts over the CA folders';

/**
 * Checks from inside each zygote's and each running app's own mount namespace that our CA is in the
 * folder that namespace's apps read. Throws a WiringError naming the namespace and the fix.
 */
async function verifyCa(
  device: Device,
  root: Root,
  ca: LabCa,
  packages: readonly string[],
): Promise<Array<{ pid: number; name: string; dir: string }>> {
  const run = await runRootScript(device, root, {
    name: 'verify',
    script: verifyScript({ file: ca.fileName, packages }),
    marker: VERIFIED_MARKER,
    file: ca.fileName,
    what: "checking the lab CA in the apps' mount namespaces",
    fix: VERIFY_FIX,
  });
  const checks = parseVerification(run.stdout, ca.certPem);
  const bad = checks.filter((c) => c.status === 'missing' || c.status === 'differs');
  if (bad.length) {
    const b = bad[0]!;
    const what = (c: NamespaceCheck): string =>
      `${c.name} (pid ${c.pid}): ${c.status === 'missing' ? `no ${ca.fileName}` : `${ca.fileName} is not the lab CA`} in ${c.dir}`;
    throw new WiringError(
      `${device.serial}: the lab CA is not visible in the mount namespace of ${b.name} (pid ${b.pid}), ` +
        `which reads ${b.dir}: ${bad.map(what).join('; ')}`,
      VERIFY_FIX,
    );
  }
  const ok = checks.filter((c) => c.status === 'ok');
  if (!ok.some((c) => c.name !== 'shell')) {
    throw new WiringError(
      `${device.serial}: checking the lab CA: no zygote or app process found to check from (pidof zygote zygote64)`,
      VERIFY_FIX,
    );
  }
  return ok.map(({ pid, name, dir }) => ({ pid, name, dir }));
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
  /** How long the first root use waits for the grant prompt (default ROOT_PROMPT_WAIT_MS, 15 s). */
  rootWaitMs?: number;
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
  /**
   * The namespaces the lab CA was checked in after the install (system-tmpfs and system-remount):
   * each zygote's and each running app's under test, with the folder its apps read. Empty for the
   * other methods.
   */
  caVerified: Array<{ pid: number; name: string; dir: string }>;
  /** How root was had (`describeRoot`), or `no root`. */
  root: string;
  /** Traffic that did not go through the capture: snapshot before, snapshot after, compare. */
  bypass: BypassMonitor;
  restore(): Promise<RestoreReport>;
  /**
   * Points the reverse rule at a new host port (the device port, http_proxy and iptables rules stay):
   * for a runner whose host port was taken by another program between two jobs' sessions.
   */
  moveHostPort(port: number): Promise<void>;
}

/** Tags of bypass rules that live wirings own (their rules are not leftovers). */
function liveTags(journal: Journal, except?: JournalEntry): Set<string> {
  const keep = new Set<string>();
  for (const e of journal.list()) {
    if (except && e.serial === except.serial && e.devicePort === except.devicePort) continue;
    if (e.bypass && journal.isLive(e)) keep.add(e.bypass.tag);
  }
  return keep;
}

/** Removes phonehome rules that no live wiring owns; returns what it found. */
async function sweepLeftovers(
  device: Device,
  root: Root | null,
  keep: ReadonlySet<string>,
): Promise<string[]> {
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
  const busy = opts.journal.list().find((e) => e.serial === serial && opts.journal.isLive(e));
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
  if (method === 'system-remount') log(`${serial}: warning: ${REMOUNT_WARNING}`);
  // The first root use (a Magisk grant prompt may show): refused root fails a method that needs it,
  // and otherwise only takes the iptables rules away.
  let root: Root | null = null;
  if (p.root) {
    try {
      root = await confirmRoot(device, p.root, log, opts.rootWaitMs);
      log(`${serial}: root: ${describeRoot(root)}`);
    } catch (err) {
      if (needsRoot(method)) throw err;
      log(
        `${serial}: no root (${err instanceof Error ? err.message : String(err)}); per-UID accounting only`,
      );
    }
  }
  const mode = opts.mode ?? 'block';
  const wanted = [...new Set(opts.bypass?.packages ?? [])];
  let uidPackages = new Map<number, string[]>();
  let plan: BypassPlan | null = null;
  let rulesProblem: string | undefined;
  try {
    const planned = await planBypass(device, root ? wanted : [], devicePort, mode);
    uidPackages = planned.uidPackages;
    plan = planned.plan;
    if (planned.missing.length)
      log(`${serial}: not installed, not covered by bypass rules: ${planned.missing.join(', ')}`);
  } catch (err) {
    rulesProblem = err instanceof Error ? err.message : String(err);
    log(`${serial}: ${rulesProblem}`);
  }
  if (!root && wanted.length) rulesProblem = 'the phone gives no root: per-UID accounting only';
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
  let restoring = false;
  const restore = (): Promise<RestoreReport> => {
    restoring = true;
    return restorePhone(device, entry, opts.journal, root);
  };
  let caVerified: Wiring['caVerified'] = [];
  try {
    await device.reverse(`tcp:${devicePort}`, `tcp:${opts.hostPort}`);
    log(`${serial}: adb reverse tcp:${devicePort} → tcp:${opts.hostPort}`);
    await device.putSetting('global', 'http_proxy', entry.proxyValue);
    log(`${serial}: http_proxy ${entry.proxyValue} (was ${previousProxy ?? 'unset'})`);
    if (entry.ca && root) {
      await device.push(Buffer.from(opts.ca.certPem), `${TMP}/${opts.ca.fileName}`, 0o644);
      const script = installScript(method, { file: opts.ca.fileName });
      if (script) {
        const run = await runRootScript(device, root, {
          name: 'install',
          script,
          marker: INSTALLED_MARKER,
          file: opts.ca.fileName,
          what: `installing the lab CA (${method})`,
          fix: INSTALL_FIX,
        });
        log(`${serial}: lab CA installed (${method}; steps: ${run.steps.join(', ')})`);
      }
      if (method === 'system-tmpfs' || method === 'system-remount') {
        caVerified = await verifyCa(device, root, opts.ca, wanted);
        log(
          `${serial}: lab CA checked in ${caVerified.map((v) => `${v.name} (pid ${v.pid}) ${v.dir}`).join('; ')}`,
        );
      }
    }
    if (root) {
      try {
        const found = await sweepLeftovers(device, root, liveTags(opts.journal, entry));
        if (found.length) log(`${serial}: removed iptables rules a dead wiring left: ${found.join('; ')}`);
      } catch (err) {
        log(
          `${serial}: leftover iptables rules not checked: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    if (plan) {
      try {
        await asRoot(device, root, bypassInstallScript(plan), 'installing the iptables bypass rules');
        log(
          `${serial}: iptables rules for ${plan.uids.map((u) => `${u.packages.join(',')} (uid ${u.uid})`).join('; ')}: TCP off loopback → tcp:${devicePort}, the rest ${mode === 'block' ? 'rejected' : 'counted'}`,
        );
      } catch (err) {
        // Whatever part went in comes out; the per-UID accounting still measures.
        rulesProblem = err instanceof Error ? err.message : String(err);
        await asRoot(device, root, bypassRemovalScript(plan), 'removing the iptables bypass rules').catch(
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
  const bypass = createBypassMonitor({
    device,
    sdk: p.sdk,
    packages: wanted,
    plan,
    ...(rulesProblem ? { rulesProblem } : {}),
    ...(root ? { root: (script: string, what: string) => asRoot(device, root, script, what) } : {}),
    uidPackages,
  });
  const wiring: Wiring = {
    serial,
    devicePort,
    hostPort: opts.hostPort,
    caMethod: method,
    coverage: coverageOf(method),
    previousProxy,
    caVerified,
    root: describeRoot(root),
    bypass,
    restore,
    async moveHostPort(port: number): Promise<void> {
      if (restoring) throw new WiringError(`${serial}: the phone is restored; the capture is not moved`);
      // From the port the rule points to as far as this process knows (a failed move left it there).
      const from = wiring.hostPort;
      if (port === from) return;
      // Journal first, naming every port the rule may point to (this move's two, and those of
      // earlier failed moves whose outcome the phone could not tell): a crash before or after
      // `adb reverse` still leaves a rule that restore recognises as ours.
      const unsure = hostPortsOf(entry).filter((p) => p !== port && p !== from);
      entry.movedFrom = from;
      if (unsure.length) entry.unsureHostPorts = unsure;
      entry.hostPort = port;
      opts.journal.write(entry);
      try {
        await device.reverse(`tcp:${devicePort}`, `tcp:${port}`);
      } catch (err) {
        // Where does the rule point now? At a port we know: the journal names that one alone again.
        // Unknown: the entry keeps every port, and restore removes the rule on any of them.
        const now = await device
          .listReverses()
          .then((rules) => rules.find((r) => r.remote === `tcp:${devicePort}`)?.local)
          .catch(() => undefined);
        if (now !== `tcp:${port}`) {
          const known = hostPortsOf(entry).find((p) => now === `tcp:${p}`);
          if (known !== undefined) {
            entry.hostPort = known;
            delete entry.movedFrom;
            delete entry.unsureHostPorts;
            opts.journal.write(entry);
            wiring.hostPort = known;
          }
          throw err;
        }
      }
      delete entry.movedFrom;
      delete entry.unsureHostPorts;
      opts.journal.write(entry);
      wiring.hostPort = port;
      log(`${serial}: adb reverse tcp:${devicePort} → tcp:${port} (moved from tcp:${from})`);
    },
  };
  return wiring;
}

/** Removes the entry's iptables rules and checks with `-S` that none is left; leftovers too. */
async function removeBypassRules(
  device: Device,
  entry: JournalEntry,
  journal: Journal,
  root: Root | null,
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
 * everything is back (and otherwise leaves it, owned by no live wiring: Journal.release). Never throws for the phone's sake: problems are reported with their fix.
 */
export async function restorePhone(
  device: Device,
  entry: JournalEntry,
  journal: Journal,
  knownRoot?: Root | null,
  log: (line: string) => void = () => undefined,
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
  let root: Root | null | undefined = knownRoot;
  const getRoot = async (): Promise<Root | null> => {
    if (root !== undefined) return root;
    const candidate = await probeRoot(device);
    root = candidate ? await confirmRoot(device, candidate, log) : null;
    return root;
  };
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
      const script = (await caPresent(device, method, file)) ? removeScript(method, { file }) : null;
      if (script === null) {
        // An install that stopped early still left what it pushed (the CA, owned by shell) and
        // maybe its copy folder (root's): both go.
        await device.shell(['rm', '-f', `${TMP}/${file}`], { timeoutMs: 10_000 });
        const copy = await device.shell(['ls', '-d', `${TMP}/phonehome-cacerts`], { timeoutMs: 10_000 });
        if (copy.exitCode === 0) {
          await asRoot(
            device,
            await getRoot(),
            `rm -rf ${TMP}/phonehome-cacerts`,
            'removing the CA copy folder',
          );
        }
        report.steps.push('no lab CA to remove');
      } else {
        const r = await getRoot();
        if (!r)
          throw new WiringError(
            `${entry.serial}: removing the lab CA needs root, and this phone gives none now`,
          );
        await runRootScript(device, r, {
          name: 'remove',
          script,
          marker: REMOVED_MARKER,
          file,
          what: `removing the lab CA (${method})`,
          fix:
            method === 'system-tmpfs'
              ? `reboot the phone: adb -s ${entry.serial} reboot`
              : `remove ${file} by hand`,
        });
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
    const ours = new Set(hostPortsOf(entry).map((p) => `tcp:${p}`));
    if (rules.some((r) => r.remote === `tcp:${entry.devicePort}` && ours.has(r.local))) {
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
  // Restored or not, no wiring of this process holds the entry any more: a later set-up of the phone
  // in this process (a runner worker serves several phones) restores what is left of it.
  else journal.release(entry);
  return report;
}
