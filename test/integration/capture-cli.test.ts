/**
 * `phonehome capture` as a user runs it (issue 4 §1–2 and the SIGKILL acceptance item): the real
 * CLI in a child process against a private adb server and virtual phones in this process; the phone
 * is driven meanwhile through the adb CLI. Then `phonehome inspect` on what it wrote.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabCa } from '../../src/capture/ca.ts';
import type { CaptureRecord } from '../../src/capture/exchange.ts';
import { readCaptureFile } from '../../src/inspect/read.ts';
import { Journal } from '../../src/capture/journal.ts';
import type { LabPhone } from '../../src/virtual/lab/virtual-lab.ts';
import {
  APEX_CACERTS,
  browseCanaries,
  canaries,
  SENSORS_HOST,
  snapshot,
  spawnCli,
  SYS_CACERTS,
  token,
  type Canaries,
} from '../support/capture.ts';
import { assertCleanFailure, parseJson, runCli, show } from '../support/cli.ts';
import { startLab, type TestLab } from '../support/lab.ts';
import { AdbPhone, FAST_TIMINGS } from '../support/xiaomi.ts';

interface Summary {
  captures: Array<{
    serial: string;
    dir: string;
    caMethod: string | null;
    coverage: string | null;
    exchanges: number;
    tlsFailures: number;
    restored: boolean;
  }>;
}

interface InspectJson {
  exchanges: Array<{
    index: number;
    method: string;
    url: string;
    host: string;
    findings: Array<{ kind: string; value: string; path: string; encoding: string }>;
  }>;
}

describe('phonehome capture (CLI) on virtual phones', function () {
  this.timeout(30_000);
  let lab: TestLab;
  let tmp: string;
  let env: Record<string, string>;
  let journal: Journal;
  /** The capture directory of the --duration test and its canaries, for the inspect test. */
  let captured: { dir: string; can: Canaries } | undefined;

  const phone = (i: number): { lp: LabPhone; adb: AdbPhone } => {
    const lp = lab.phones[i];
    assert.ok(lp);
    return { lp, adb: new AdbPhone(lab.adb.port, lp.serial) };
  };
  const cli = (args: string[], timeoutMs?: number) =>
    runCli(args, { env, cwd: tmp, ...(timeoutMs ? { timeoutMs } : {}) });
  const journalFiles = (): string[] => {
    try {
      return readdirSync(journal.dir).filter((n) => n.endsWith('.json'));
    } catch {
      return [];
    }
  };

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-capture-cli-'));
    mkdirSync(join(tmp, 'home'));
    env = {
      PHONEHOME_HOME: join(tmp, 'home'),
      PHONEHOME_CA_DIR: join(tmp, 'ca'),
      ANDROID_ADB_SERVER_PORT: '',
    };
    journal = new Journal(join(tmp, 'home'));
    lab = await startLab(
      ['redmi-note-8-leaky-rooted', 'xiaomi-13-hyperos-rooted'],
      {},
      {
        telemetryTimings: FAST_TIMINGS,
      },
    );
    env.ANDROID_ADB_SERVER_PORT = String(lab.adb.port);
  });
  after(async () => {
    await lab?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('bad --mode and bad --ca-method exit 2 with a one-line message', async () => {
    const mode = assertCleanFailure(await cli(['capture', '--mode', 'sideways']), 2);
    assert.match(mode.message, /--mode must be block or passthrough/);
    const method = assertCleanFailure(await cli(['capture', '--ca-method', 'magic']), 2);
    assert.match(method.message, /--ca-method must be one of auto, system-remount/);
    assert.deepEqual(journalFiles(), [], 'nothing wired');
  });

  it('several phones and no --device: exit 1 with the hint', async () => {
    const r = assertCleanFailure(await cli(['capture', '--duration', '1000']), 1);
    assert.match(r.message, /2 phones are connected; say which with --device SERIAL/);
    assert.match(r.hint, /phonehome devices/);
    for (const i of [0, 1])
      assert.equal((await phone(i).adb.sh('settings get global http_proxy')).trim(), 'null', 'untouched');
  });

  it('--device S --duration N --json wires, captures, restores and prints the summary', async () => {
    const { lp, adb } = phone(0);
    const before = await snapshot(adb, { rooted: true });
    const out = join(tmp, 'out');
    const run = spawnCli(['capture', '--device', lp.serial, '--duration', '6000', '--json', '--out', out], {
      env,
      cwd: tmp,
    });
    await run.waitFor('stderr', /phonehome: capturing for 6000 ms/);
    assert.match((await adb.sh('settings get global http_proxy')).trim(), /^127\.0\.0\.1:\d+$/, 'wired');
    const can = canaries(token());
    await browseCanaries(adb, lp, can);
    const r = await run.done;
    assert.equal(r.code, 0, show(r));
    const summary = parseJson<Summary>(r);
    assert.equal(summary.captures.length, 1, show(r));
    const s = summary.captures[0]!;
    const dir = join(out, lp.serial.replace(/[^A-Za-z0-9._-]/g, '_'));
    assert.equal(s.serial, lp.serial);
    assert.equal(s.dir, dir);
    assert.equal(s.caMethod, 'system-tmpfs', 'auto never remounts /system (issue 11 §2)');
    assert.match(s.coverage ?? '', /decrypted/);
    assert.equal(s.restored, true);
    // Since issue 14 the HAR is the capture's one file: JSON.parse (no repair) proves it closed.
    assert.equal(existsSync(join(dir, 'exchanges.ndjson')), false, 'no NDJSON beside the HAR');
    const har = JSON.parse(readFileSync(join(dir, 'capture.har'), 'utf8')) as {
      log: { entries: Array<{ _tlsFailure?: unknown }> };
    };
    const lines: CaptureRecord[] = [];
    for await (const rec of readCaptureFile(join(dir, 'capture.har'))) lines.push(rec);
    assert.equal(har.log.entries.length, lines.length, 'the HAR is closed and holds every record');
    assert.equal(s.exchanges, lines.filter((l) => l.type === 'exchange').length, 'exchanges as written');
    assert.equal(
      s.tlsFailures,
      lines.filter((l) => l.type === 'tls-failure').length,
      'TLS failures as written',
    );
    assert.ok(
      lines.some((l) => l.host === SENSORS_HOST),
      'the Sensors upload was captured',
    );
    assert.deepEqual(await snapshot(adb, { rooted: true }), before, 'the phone is as it was');
    assert.deepEqual(journalFiles(), [], 'the journal is empty');
    captured = { dir, can };
  });

  it('phonehome inspect on the capture directory finds the canaries in the Sensors upload', async function () {
    if (!captured) this.skip();
    const { dir, can } = captured;
    const r = await cli(['inspect', dir, '--canary', can.url, '--canary', can.word, '--json']);
    assert.equal(r.code, 0, show(r));
    const doc = parseJson<InspectJson>(r);
    const sensors = doc.exchanges.filter((e) => e.host === SENSORS_HOST);
    assert.ok(sensors.length > 0, show(r));
    const found = sensors.flatMap((e) => e.findings.filter((f) => f.kind === 'canary'));
    assert.ok(
      found.some((f) => f.value === can.url && /json\[\d+\]\.properties\.url$/.test(f.path)),
      JSON.stringify(found),
    );
    assert.ok(
      found.some((f) => f.value === can.word && /json\[\d+\]\.properties\.search_word$/.test(f.path)),
      JSON.stringify(found),
    );
  });

  it('SIGINT mid-capture restores the phone and exits 0', async () => {
    const { lp, adb } = phone(0);
    const before = await snapshot(adb, { rooted: true });
    const run = spawnCli(['capture', '--device', lp.serial, '--out', join(tmp, 'sigint')], { env, cwd: tmp });
    await run.waitFor('stdout', /phonehome: capturing; press Ctrl-C/);
    assert.match((await adb.sh('settings get global http_proxy')).trim(), /^127\.0\.0\.1:\d+$/, 'wired');
    assert.equal(journalFiles().length, 1, 'the plan is in the journal');
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /stopping \(SIGINT\)/, show(r));
    assert.match(r.stdout, new RegExp(`${lp.serial.replace(/\./g, '\\.')} restored`), show(r));
    assert.deepEqual(await snapshot(adb, { rooted: true }), before, 'the phone is as it was');
    assert.deepEqual(journalFiles(), []);
  });

  it('SIGKILL mid-capture leaves the proxy set; the next phonehome command (devices) restores the phone', async () => {
    const { lp, adb } = phone(1);
    const before = await snapshot(adb, { rooted: true });
    const run = spawnCli(['capture', '--device', lp.serial, '--out', join(tmp, 'sigkill')], {
      env,
      cwd: tmp,
    });
    await run.waitFor('stdout', /phonehome: capturing; press Ctrl-C/);
    const pid = run.child.pid;
    run.child.kill('SIGKILL');
    const killed = await run.done;
    assert.equal(killed.signal, 'SIGKILL', show(killed));
    const proxy = (await adb.sh('settings get global http_proxy')).trim();
    assert.match(proxy, /^127\.0\.0\.1:\d+$/, 'left wired by the dead process');
    const ca = await LabCa.load(env.PHONEHOME_CA_DIR!);
    assert.ok((await adb.sh(`ls ${APEX_CACERTS}`)).includes(ca.fileName), 'the lab CA still mounted');
    assert.equal(journalFiles().length, 1, 'its journal entry is on disk');

    const r = await cli(['devices']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stderr, new RegExp(`restored what process ${pid} left wired`), show(r));
    assert.deepEqual(await snapshot(adb, { rooted: true }), before, 'the phone is as it was');
    assert.doesNotMatch(await adb.sh('settings list global'), /^http_proxy=/m);
    assert.deepEqual(journalFiles(), [], 'the entry is gone');
    const again = await cli(['devices']);
    assert.doesNotMatch(again.stderr, /restored/, 'nothing left to restore');
    assert.ok(!(await adb.sh(`ls ${APEX_CACERTS}`)).includes(ca.fileName), 'the lab CA unmounted');
    assert.ok(!(await adb.sh(`ls ${SYS_CACERTS}`)).includes(ca.fileName));
  });
});
