/**
 * `phonehome capture`: wires phones to a capture session each (mockttp on 127.0.0.1, `adb reverse`,
 * `http_proxy`, the lab CA by the best method the phone allows) and records everything they send
 * until Ctrl-C, SIGTERM or `--duration`. The phones are restored in `finally`, on the signals, and
 * (if this process is killed) by the next phonehome command from the on-disk journal.
 */
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { createAdbClient, Device, listPhones } from '../../device/index.ts';
import { LabCa } from '../../capture/ca.ts';
import { Journal } from '../../capture/journal.ts';
import { PhoneCapture } from '../../capture/phone-capture.ts';
import type { CaptureMode, CaptureSession, HostRule } from '../../capture/session.ts';
import type { RestoreReport } from '../../capture/wiring.ts';
import { matchTracker } from '../../detect/index.ts';
import type { BypassReport, TrafficSnapshot } from '../../capture/bypass.ts';
import { appsUnderTest } from '../../runner/packages.ts';
import { refuseRemoteAdbServers } from '../../runner/phones.ts';
import { UserFacingError } from '../../util/user-facing.ts';
import {
  adbPortFlag,
  adbPortOption,
  caMethodOption,
  jsonFlag,
  parseCaMethod,
  timeoutFlag,
} from '../options.ts';
import { caDir, stateDir } from '../state.ts';

const DEFAULT_TIMEOUT_MS = 20_000;

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function parseMode(v: string): CaptureMode {
  if (v !== 'block' && v !== 'passthrough') {
    throw new UserFacingError(`--mode must be block or passthrough, not ${JSON.stringify(v)}`, undefined, 2);
  }
  return v;
}

function parseDuration(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    throw new UserFacingError(
      `--duration must be a positive number of milliseconds, not ${JSON.stringify(v)}`,
      undefined,
      2,
    );
  }
  return n;
}

interface CaptureOpts {
  device?: string[];
  all?: boolean;
  out?: string;
  mode: string;
  passthrough?: string[];
  block?: string[];
  caMethod: string;
  caDir?: string;
  duration?: number;
  adbPort?: string;
  timeout: number;
  json?: boolean;
}

interface Captured {
  serial: string;
  dir: string;
  pc: PhoneCapture;
  /** Per-UID counters when the capture started, and what went around it by the end. */
  trafficStart?: TrafficSnapshot;
  bypass?: BypassReport;
}

/** Resolves when the first of SIGINT, SIGTERM or the duration arrives. */
function untilStopped(durationMs: number | undefined, onSecond: () => void): Promise<string> {
  return new Promise((resolveStop) => {
    let stopping = false;
    const handler = (sig: NodeJS.Signals): void => {
      if (stopping) return onSecond();
      stopping = true;
      resolveStop(sig);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    if (durationMs !== undefined) setTimeout(() => handler('SIGALRM'), durationMs).unref();
  });
}

export function registerCaptureCommand(program: Command): void {
  program
    .command('capture')
    .description(
      'record everything phones upload: a capture proxy per phone (127.0.0.1), wired over adb reverse and ' +
        'http_proxy with the lab CA; Ctrl-C stops and restores the phones',
    )
    .option('--device <serial>', 'phone to capture (repeatable; default: the only phone connected)', collect)
    .option('--all', 'capture every available phone')
    .option('--out <dir>', 'where captures go, one folder per phone (default: captures/<time>)')
    .option(
      '--mode <mode>',
      'block: answer uploads locally as collectors do (nothing leaves); passthrough: forward upstream',
      'block',
    )
    .option(
      '--passthrough <host>',
      'forward this host upstream even in block mode (repeatable; *.suffix allowed)',
      collect,
    )
    .option(
      '--block <host>',
      'answer this host locally even in passthrough mode (repeatable; *.suffix allowed)',
      collect,
    )
    .addOption(caMethodOption())
    .option(
      '--ca-dir <dir>',
      'where the lab CA lives, outside the repo (default: $PHONEHOME_CA_DIR or $PHONEHOME_HOME/ca)',
    )
    .option('--duration <ms>', 'stop by itself after this long', parseDuration)
    .addOption(adbPortFlag())
    .addOption(timeoutFlag('adb timeout per phone call, in ms', DEFAULT_TIMEOUT_MS))
    .addOption(jsonFlag('print a JSON summary at the end (progress lines go to stderr)'))
    .addHelpText(
      'after',
      '\nExamples:\n  phonehome capture --duration 60000\n  phonehome capture --device 127.0.0.1:41001 --out captures/leaky\n' +
        '  phonehome inspect captures/leaky/127.0.0.1_41001 --canary my-search-term\n\n' +
        'Captures hold personal data (identifiers, visited URLs, searches): keep them private.',
    )
    .action(async (o: CaptureOpts) => {
      const mode = parseMode(o.mode);
      const caMethod = parseCaMethod(o.caMethod);
      const rules: HostRule[] = [
        ...(o.passthrough ?? []).map((host) => ({ host, mode: 'passthrough' as const })),
        ...(o.block ?? []).map((host) => ({ host, mode: 'block' as const })),
      ];
      const adbPort = adbPortOption(o.adbPort);
      // An adb server on another host (ANDROID_ADB_SERVER_ADDRESS) cannot work: refused before any phone.
      refuseRemoteAdbServers(undefined, {
        host: process.env.ANDROID_ADB_SERVER_ADDRESS?.trim() || '127.0.0.1',
        port: adbPort,
      });
      const client = createAdbClient({ port: adbPort });
      const say = (line: string): void => void (o.json ? process.stderr : process.stdout).write(`${line}\n`);

      const phones = (await listPhones(client, { timeoutMs: o.timeout })).filter((p) => p.available);
      let serials: string[];
      if (o.device?.length) {
        const known = new Set(phones.map((p) => p.serial));
        const missing = o.device.filter((s) => !known.has(s));
        if (missing.length) {
          throw new UserFacingError(
            `no available phone ${missing.join(', ')} on the adb server on port ${adbPort}`,
            `run phonehome devices to see the phones${phones.length ? ` (available: ${[...known].join(', ')})` : ''}`,
          );
        }
        serials = o.device;
      } else if (o.all || phones.length === 1) {
        serials = phones.map((p) => p.serial);
      } else {
        throw new UserFacingError(
          phones.length === 0
            ? `no available phone on the adb server on port ${adbPort}`
            : `${phones.length} phones are connected; say which with --device SERIAL (repeatable) or --all`,
          'run phonehome devices to see the phones',
        );
      }
      if (serials.length === 0)
        throw new UserFacingError(`no available phone on the adb server on port ${adbPort}`);

      const ca = await LabCa.load(caDir(o.caDir));
      const journal = new Journal(stateDir());
      const out = resolve(o.out ?? join('captures', new Date().toISOString().replace(/[:.]/g, '-')));
      const captures: Captured[] = [];
      const sessions = new Map<string, CaptureSession>();
      let abandon = false;
      const stopped = untilStopped(o.duration, () => {
        abandon = true;
        say(
          'phonehome: second signal: exiting now; the next phonehome command restores the phones from the journal',
        );
        process.exit(130);
      });
      const reports: RestoreReport[] = [];
      // A first Ctrl-C while phones are still being wired: wire no further phone (each may wait
      // 15 s for a root grant); the ones wired so far are restored in finally.
      let stopRequested = false;
      void stopped.then(() => (stopRequested = true));
      try {
        for (const serial of serials) {
          if (stopRequested) break;
          const dir = join(out, serial.replace(/[^A-Za-z0-9._-]/g, '_'));
          const device = new Device(client, serial, { timeoutMs: o.timeout });
          const c: Captured = {
            serial,
            dir,
            pc: new PhoneCapture({
              device,
              ca,
              journal,
              adb: { host: client.host, port: client.port },
              caMethod,
              mode,
              rules,
              packages: appsUnderTest(),
              log: (l) => say(`phonehome: ${l}`),
              onSession: (session) => {
                sessions.set(serial, session);
                session.on('record', (r) => {
                  if (r.type === 'tls-failure') {
                    say(`${serial}  TLS ${r.cause.padEnd(13)} ${r.host}`);
                    return;
                  }
                  let path = '/';
                  try {
                    path = new URL(r.url).pathname;
                  } catch {
                    /* keep / */
                  }
                  const t = matchTracker(r.host, path);
                  say(`${serial}  ${r.method.padEnd(6)} ${r.url.slice(0, 100)}${t ? `  [${t.vendor}]` : ''}`);
                });
                session.on('error', (e) => say(`phonehome: ${serial}: ${e.message}`));
              },
            }),
          };
          captures.push(c);
          const wiring = await c.pc.open({ sessionDir: dir });
          try {
            c.trafficStart = await wiring.bypass.snapshot();
          } catch (err) {
            say(`phonehome: ${serial}: per-UID traffic counters unreadable (${(err as Error).message})`);
          }
          say(
            `phonehome: capturing ${serial} on 127.0.0.1:${wiring.hostPort} into ${dir}\n` +
              `  CA: ${wiring.caMethod}: ${wiring.coverage}`,
          );
        }
        say(
          o.duration
            ? `phonehome: capturing for ${o.duration} ms (Ctrl-C stops sooner)`
            : 'phonehome: capturing; press Ctrl-C to stop and restore the phones',
        );
        if (stopRequested) say('phonehome: stopped while wiring the phones');
        const why = await stopped;
        say(`phonehome: stopping (${why === 'SIGALRM' ? 'duration reached' : why})`);
      } finally {
        for (const c of captures.reverse()) {
          if (abandon) break;
          const wiring = c.pc.wiring;
          if (wiring && c.trafficStart) {
            // What went around the capture while it ran (Android's own counters; iptables on root).
            try {
              const report = await wiring.bypass.compare(c.trafficStart, await wiring.bypass.snapshot());
              c.bypass = report;
              for (const l of report.leaks)
                say(
                  `phonehome: ${c.serial}: ${l.packages.join(', ') || `uid ${l.uid}`} sent ${l.txBytes} bytes over ${l.ifaces.join(', ')} around the capture (${report.checked.join(' and ')})`,
                );
              for (const r of report.redirected)
                say(
                  `phonehome: ${c.serial}: ${r.packages.join(', ') || `uid ${r.uid}`} ignored the proxy: ${r.connections} connection(s) redirected into the capture`,
                );
              for (const u of report.unavailable) say(`phonehome: ${c.serial}: not measured: ${u}`);
            } catch (err) {
              say(
                `phonehome: ${c.serial}: traffic around the capture not measured (${(err as Error).message})`,
              );
            }
          }
          const report = await c.pc.close();
          if (report) {
            reports.push(report);
            say(
              report.ok
                ? `phonehome: ${c.serial} restored: ${report.steps.join(', ') || 'nothing to undo'}`
                : `phonehome: ${c.serial}: restore incomplete: ${report.problems.join('; ')}`,
            );
          }
        }
        process.removeAllListeners('SIGINT');
        process.removeAllListeners('SIGTERM');
      }
      const summary = captures.reverse().map((c) => ({
        serial: c.serial,
        dir: c.dir,
        caMethod: c.pc.wiring?.caMethod ?? null,
        coverage: c.pc.wiring?.coverage ?? null,
        caVerified: c.pc.wiring?.caVerified ?? [],
        ...(sessions.get(c.serial)?.counts ?? { exchanges: 0, tlsFailures: 0 }),
        restored: reports.find((r) => r.serial === c.serial)?.ok ?? false,
        aroundCapture: c.bypass
          ? {
              checked: c.bypass.checked,
              unavailable: c.bypass.unavailable,
              leaks: c.bypass.leaks,
              redirected: c.bypass.redirected,
            }
          : null,
      }));
      if (o.json) process.stdout.write(`${JSON.stringify({ captures: summary }, null, 2)}\n`);
      else {
        for (const s of summary) {
          say(`phonehome: ${s.serial}: ${s.exchanges} exchanges, ${s.tlsFailures} TLS failures → ${s.dir}`);
        }
        say(`phonehome: read them with: phonehome inspect <dir> [--canary X]; captures hold personal data`);
      }
      if (reports.some((r) => !r.ok)) process.exitCode = 3;
    });
}
