/**
 * bench/lab-scaling: the shipped suite (scenarios/) on 1, 8 and 16 virtual phones: wall time against
 * 1 phone, and the harness's CPU per scenario job, the cores it keeps busy per phone and the phones
 * per core that follows (issue 14; goals: ≤ 0.02 cores per phone at 16 phones, 16 phones' wall time
 * ≤ 1.3× one phone's).
 *
 * The phones run in their own process (`phonehome lab up`, detached, so not a descendant of this
 * one), so CPU splits cleanly. The harness is this process (the runner's parent) and its descendants:
 * the phone workers (which hold the captures), allure-commandline (sh + Java). Its CPU comes from
 * /proc: this process's utime+stime, plus cutime+cstime (what its reaped children, and their reaped
 * children, used), plus the descendants still alive at the end (cutime misses those), read by a
 * sampler that also follows Appium (`--ui appium`): Appium is not the harness, so what its processes
 * used is subtracted (last sample, every 250 ms, so its final < 250 ms may be counted). Descendants
 * that were already alive before the run (none, normally) are left out, and so is the sampler's own
 * CPU (measured with process.cpuUsage around each scan).
 *
 *   npm run bench:lab-scaling [-- --sizes 1,8,16 --ui adb --tags incognito]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { runSuites } from '../src/runner/run.ts';
import { startAdbServer } from '../test/support/lab.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const BIN = join(REPO, 'bin', 'phonehome.js');
const PROFILES = [
  'redmi-note-8-leaky-rooted',
  'redmi-note-8-fixed-rooted',
  'xiaomi-13-hyperos-rooted',
  'redmi-note-11-china',
];

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1,8,16' },
    ui: { type: 'string', default: 'adb' },
    tags: { type: 'string' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

interface ProcStat {
  ppid: number;
  /** utime+stime, seconds. */
  self: number;
  /** cutime+cstime (reaped children), seconds. */
  children: number;
}

function readStat(pid: number | 'self'): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone
  }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the comm: state is f[0], ppid f[1]; utime(14) f[11], stime(15) f[12], cutime(16) f[13], cstime(17) f[14].
  return {
    ppid: Number(f[1]),
    self: (Number(f[11]) + Number(f[12])) / TICK,
    children: (Number(f[13]) + Number(f[14])) / TICK,
  };
}

function cpu(pid: number | 'self'): { self: number; children: number } {
  const s = readStat(pid);
  if (!s) throw new Error(`bench/lab-scaling: process ${pid} is gone`);
  return s;
}

/**
 * Follows this process's descendants during a run: which are Appium (excluded from the harness),
 * what each used at its last sample, which were alive before the run.
 */
class TreeSampler {
  private readonly before: Set<number>;
  private readonly seen = new Map<number, { appium: boolean; cpu: number; alive: boolean }>();
  private timer: NodeJS.Timeout | undefined;
  /** The sampler's own CPU (µs), to take out of this process's share. */
  ownCpuUs = 0;

  constructor() {
    this.before = new Set(this.descendants().keys());
  }

  private descendants(): Map<number, ProcStat> {
    const all = new Map<number, ProcStat>();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const s = readStat(Number(name));
      if (s) all.set(Number(name), s);
    }
    const out = new Map<number, ProcStat>();
    const mine = (pid: number): boolean => {
      for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
        if (p === process.pid) return true;
        const s = all.get(p);
        if (!s) return false;
        p = s.ppid;
      }
      return false;
    };
    for (const [pid, s] of all) if (pid !== process.pid && mine(pid)) out.set(pid, s);
    return out;
  }

  private isAppium(pid: number, ppid: number): boolean {
    if (this.seen.get(ppid)?.appium) return true; // Appium's own children (adb, …) are Appium's
    try {
      return /appium/i.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      return false;
    }
  }

  scan(): void {
    const t = process.cpuUsage();
    const now = this.descendants();
    for (const v of this.seen.values()) v.alive = false;
    // Parents before children, so a child of Appium inherits its flag.
    const order = [...now.keys()].sort((a, b) => a - b);
    for (const pid of order) {
      if (this.before.has(pid)) continue;
      const s = now.get(pid)!;
      const known = this.seen.get(pid);
      const appium = known?.appium ?? this.isAppium(pid, s.ppid);
      this.seen.set(pid, { appium, cpu: s.self + s.children, alive: true });
    }
    const d = process.cpuUsage(t);
    this.ownCpuUs += d.user + d.system;
  }

  start(): void {
    this.scan();
    this.timer = setInterval(() => this.scan(), 250);
  }

  /**
   * What to add to this process's self+children delta: the CPU of harness descendants still alive
   * (not yet in any cutime we read), minus the Appium processes that ended during the run (their CPU
   * went up into a harness process's cutime). Appium processes still alive were never counted.
   */
  finish(): { aliveHarnessS: number; appiumEndedS: number; appiumS: number } {
    clearInterval(this.timer);
    this.scan();
    let aliveHarnessS = 0;
    let appiumEndedS = 0;
    let appiumS = 0;
    for (const v of this.seen.values()) {
      if (v.appium) {
        appiumS += v.cpu;
        if (!v.alive) appiumEndedS += v.cpu;
      } else if (v.alive) aliveHarnessS += v.cpu;
    }
    return { aliveHarnessS, appiumEndedS, appiumS };
  }
}

interface Row {
  phones: number;
  jobs: number;
  wallS: number;
  harnessCpuS: number;
  labCpuS: number;
  verdicts: string;
}

const rows: Row[] = [];
for (const n of sizes) {
  const adb = await startAdbServer();
  const home = mkdtempSync(join(tmpdir(), 'phonehome-scaling-'));
  const env = {
    ...process.env,
    PHONEHOME_HOME: home,
    PHONEHOME_CA_DIR: join(home, 'ca'),
    ANDROID_ADB_SERVER_PORT: String(adb.port),
  };
  const profileArgs = Array.from({ length: n }, (_, i) => [
    '--profile',
    PROFILES[i % PROFILES.length]!,
  ]).flat();
  try {
    execFileSync(
      process.execPath,
      [
        BIN,
        'lab',
        'up',
        '--adb-port',
        String(adb.port),
        '--devices',
        join(home, 'lab-devices.json'),
        ...profileArgs,
      ],
      { env, stdio: ['ignore', 'ignore', 'inherit'], cwd: home },
    );
    const lab = JSON.parse(readFileSync(join(home, `lab-${adb.port}.json`), 'utf8')) as {
      pid: number;
      phones: Array<{ serial: string; profile: string }>;
    };
    const devicesFile = join(home, 'devices.json');
    writeFileSync(
      devicesFile,
      JSON.stringify({
        phones: lab.phones.map((p) => ({ serial: p.serial, label: p.profile, ui: values.ui })),
      }),
    );
    Object.assign(process.env, { PHONEHOME_HOME: home, PHONEHOME_CA_DIR: join(home, 'ca'), CI: 'true' });
    const lab0 = cpu(lab.pid);
    const me0 = cpu('self');
    const t0 = process.hrtime.bigint();
    const outcome = await runSuites({
      paths: [join(REPO, 'scenarios')],
      devicesFile,
      ...(values.tags ? { tags: values.tags.split(',') } : {}),
      retries: 0,
      bail: false,
      json: true,
      out: join(home, 'reports'),
      defaultServer: { host: '127.0.0.1', port: adb.port },
      stateDir: home,
      caDir: join(home, 'ca'),
    });
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    const lab1 = cpu(lab.pid);
    const me1 = cpu('self');
    const counts = new Map<string, number>();
    for (const r of outcome.summary.results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    rows.push({
      phones: n,
      jobs: outcome.summary.results.length,
      wallS,
      harnessCpuS: me1.self - me0.self + (me1.children - me0.children),
      labCpuS: lab1.self - lab0.self,
      verdicts: [...counts].map(([k, v]) => `${v} ${k}`).join(', '),
    });
    process.stderr.write(`bench/lab-scaling: ${n} phone(s) done in ${wallS.toFixed(1)} s\n`);
  } finally {
    try {
      execFileSync(process.execPath, [BIN, 'lab', 'down', '--adb-port', String(adb.port)], {
        env,
        stdio: 'ignore',
        cwd: home,
      });
    } catch {
      /* reported by lab down itself */
    }
    await adb.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

const base = rows[0]!;
console.log(
  `\nbench/lab-scaling: shipped suite, UI ${values.ui}, ${rows.map((r) => r.phones).join('/')} phones (2-core host)\n`,
);
console.log(
  [
    'phones',
    'jobs',
    'wall s',
    'wall ×1',
    'per job ×1',
    'harness CPU s',
    'phones CPU s',
    'harness CPU share',
    'harness cores busy',
    'verdicts',
  ].join(' | '),
);
for (const r of rows) {
  const perJob = r.wallS / r.jobs / (base.wallS / base.jobs);
  const share = r.harnessCpuS / (r.harnessCpuS + r.labCpuS);
  console.log(
    [
      r.phones,
      r.jobs,
      r.wallS.toFixed(1),
      (r.wallS / base.wallS).toFixed(2),
      perJob.toFixed(2),
      r.harnessCpuS.toFixed(1),
      r.labCpuS.toFixed(1),
      `${(share * 100).toFixed(0)}%`,
      (r.harnessCpuS / r.wallS).toFixed(2),
      r.verdicts,
    ].join(' | '),
  );
}
