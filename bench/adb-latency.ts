/**
 * bench/adb-latency: median round trip of `echo hi` on one virtual phone, three ways, in one run:
 *   1. the device layer (Device.shell: shell v2 service, exit code and stderr, timeout),
 *   2. raw adbkit (DeviceClient.shell + read to end: legacy shell, no exit code),
 *   3. spawning `adb -s S shell echo hi` per call (what appium-adb does).
 * The phone runs in its own process (`phonehome lab serve`) on a private adb server, as a phone
 * would be on its own hardware. Calls interleave the methods one by one, rotating the order, so
 * drift and the previous call's teardown hit all three alike.
 *
 *   npm run bench:adb-latency [-- --calls 1500 --spawn-every 5]
 */
import { buffer } from 'node:stream/consumers';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAdbClient } from '../src/device/adb-client.ts';
import { Device } from '../src/device/device.ts';
import { startAdbServer } from '../test/support/lab.ts';
import { runAdb } from '../src/virtual/lab/adb-client.ts';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '1500' },
    'spawn-every': { type: 'string', default: '5' },
    profile: { type: 'string', default: 'redmi-note-8-leaky' },
  },
});
const calls = Number(values.calls);
const spawnEvery = Number(values['spawn-every']);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function spawnEcho(adbPort: number, serial: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('adb', ['-P', String(adbPort), '-s', serial, 'shell', 'echo', 'hi'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.on('error', reject);
    child.on('close', () => resolve(Buffer.concat(out).toString()));
  });
}

async function timeOne(fn: () => Promise<string>, into?: number[]): Promise<void> {
  const t0 = process.hrtime.bigint();
  const out = await fn();
  into?.push(Number(process.hrtime.bigint() - t0) / 1e6);
  if (out !== 'hi\n') throw new Error(`unexpected output ${JSON.stringify(out)}`);
}

const adb = await startAdbServer();
const home = mkdtempSync(join(tmpdir(), 'phonehome-bench-'));
const bin = new URL('../bin/phonehome.js', import.meta.url).pathname;
const labProc = spawn(
  process.execPath,
  [
    bin,
    'lab',
    'serve',
    '--adb-port',
    String(adb.port),
    '--profile',
    values.profile,
    '--devices',
    join(home, 'devices.json'),
  ],
  { env: { ...process.env, PHONEHOME_HOME: home }, stdio: 'ignore' },
);
try {
  const statePath = join(home, `lab-${adb.port}.json`);
  const deadline = Date.now() + 30000;
  let serial = '';
  while (!serial) {
    if (Date.now() > deadline) throw new Error('the virtual phone did not start');
    if (existsSync(statePath)) {
      const st = JSON.parse(readFileSync(statePath, 'utf8')) as {
        status: string;
        phones: Array<{ serial: string }>;
      };
      if (st.status === 'ready') serial = st.phones[0]!.serial;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const client = createAdbClient({ port: adb.port });
  const device = new Device(client, serial, { timeoutMs: 10000 });
  const raw = client.getDevice(serial);
  const layer = async () => (await device.shell('echo hi')).stdout;
  const adbkit = async () => (await buffer(await raw.shell('echo hi'))).toString();
  const cli = () => spawnEcho(adb.port, serial);

  // Warm-up: feature cache, JIT, the adb server's transport.
  for (let i = 0; i < 20; i++) {
    await timeOne(layer);
    await timeOne(adbkit);
  }
  await timeOne(cli);

  const results = { layer: [] as number[], adbkit: [] as number[], cli: [] as number[] };
  for (let i = 0; i < calls; i++) {
    const order: Array<[() => Promise<string>, number[]]> = [
      [layer, results.layer],
      [adbkit, results.adbkit],
    ];
    if (i % spawnEvery === 0) order.push([cli, results.cli]);
    for (let j = 0; j < order.length; j++) {
      const [fn, into] = order[(i + j) % order.length]!;
      await timeOne(fn, into);
    }
  }
  const { stdout: version } = await runAdb(adb.port, ['version']);
  const row = (name: string, xs: number[]) =>
    `${name.padEnd(34)} ${median(xs).toFixed(3).padStart(8)} ${pct(xs, 90).toFixed(3).padStart(8)} ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(3).padStart(8)} ${String(xs.length).padStart(6)}`;
  const mLayer = median(results.layer);
  const mAdbkit = median(results.adbkit);
  const mCli = median(results.cli);
  const ratioLayer = mLayer / mAdbkit;
  const ratioCli = mCli / mLayer;
  console.log(
    `adb-latency: \`echo hi\` round trips on one virtual phone (${values.profile}) in its own process, calls interleaved`,
  );
  console.log(`adb: ${version.split('\n')[1] ?? version.trim()}; node ${process.version}`);
  console.log(
    `${'method'.padEnd(34)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'mean'.padStart(8)} ${'calls'.padStart(6)}   (ms)`,
  );
  console.log(row('device layer (Device.shell, v2)', results.layer));
  console.log(row('raw adbkit (shell + read to end)', results.adbkit));
  console.log(row('spawn `adb -s S shell echo hi`', results.cli));
  // The headline (device layer against raw adbkit) is the last line, as every bench's is.
  console.log(
    `ratio adb-latency-spawn-vs-device-layer: ${ratioCli.toFixed(2)} (goal ≥ 8: ${ratioCli >= 8 ? 'met' : 'not met'})`,
  );
  console.log(
    `ratio adb-latency-device-layer-vs-adbkit: ${ratioLayer.toFixed(2)} (goal ≤ 1.10: ${ratioLayer <= 1.1 ? 'met' : 'not met'})`,
  );
} finally {
  labProc.kill('SIGTERM');
  await new Promise((r) => labProc.once('exit', r));
  await adb.stop();
}
