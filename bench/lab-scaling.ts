/**
 * bench/lab-scaling: the shipped suite (scenarios/) on 1, 8 and 16 virtual phones, with the wall-time
 * ratio against 1 phone and the harness's share of the time. The phones run in their own process
 * (`phonehome lab up`), so CPU splits cleanly: the lab process is the phones; this process (the
 * runner's parent) plus its children (one worker per phone, Appium if used, allure-commandline) is
 * the harness. "Share of wall" is harness CPU seconds per wall second (cores kept busy).
 *
 *   npm run bench:lab-scaling [-- --sizes 1,8,16 --ui adb --tags incognito]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** utime+stime (self) and cutime+cstime (waited-for children) of a pid, in seconds. */
function cpu(pid: number | 'self'): { self: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the comm: field 3 is f[0]; utime=14 → f[11], stime=15 → f[12], cutime=16 → f[13], cstime=17 → f[14].
  return { self: (Number(f[11]) + Number(f[12])) / TICK, children: (Number(f[13]) + Number(f[14])) / TICK };
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
