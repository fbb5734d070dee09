/**
 * `phonehome lab` without an adb server: whom `lab down` may signal, what `lab status` reports for a
 * stale record, that nothing starts an adb server where none runs, and how profiles are chosen.
 * The adb client is a fake that records its calls; the "lab processes" are plain node processes.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { UserFacingError } from '../../../src/util/user-facing.ts';
import {
  chooseProfiles,
  inspectProcess,
  isLabServeArgv,
  labProcessStatus,
  parseListenHost,
  parseProcStat,
  type LabState,
} from '../../../src/cli/commands/lab.ts';
import { Lab } from '../../../src/virtual/lab/virtual-lab.ts';
import { EXAMPLE_DIR, listExampleProfiles, PROFILE_DIR } from '../../../src/virtual/profiles/load.ts';
import { freePort } from '../../support/lab.ts';
import { fakeAdb, runMain } from './run-main.ts';

const LINUX = existsSync('/proc/self/stat');

/** A long-running node process whose command line is `node -e … ARGS`; exits 0 on SIGTERM. */
async function startProcess(args: string[]): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      'process.on("SIGTERM", () => process.exit(0)); setInterval(() => {}, 1000); console.log("ready");',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  await once(child.stdout, 'data'); // its SIGTERM handler is installed
  return child;
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null && inspectProcess(child.pid!) !== undefined;
}

async function listen(port: number): Promise<Server> {
  const server = createServer((s) => s.destroy());
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

describe('lab process records', () => {
  it('reads the state and the start time (field 22) from /proc/PID/stat, whatever the command name', () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    // cutime cstime priority nice threads itrealvalue starttime …
    const rest = 'S 1 2 3 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 7 0 987654 1000 50';
    assert.deepEqual(parseProcStat(`4242 (node) ${rest}`), { state: 'S', startTime: '987654' });
    assert.deepEqual(parseProcStat(`4242 (a) b (c) ${rest}`), { state: 'S', startTime: '987654' });
    assert.equal(parseProcStat('garbage'), undefined);
    if (LINUX) {
      const self = parseProcStat(readFileSync('/proc/self/stat', 'utf8'));
      assert.ok(self && /^\d+$/.test(self.startTime));
      assert.equal(inspectProcess(process.pid)?.startTime, self.startTime);
    }
  });

  it('recognises the command line of `lab serve --adb-port N`', () => {
    const argv = [
      '/usr/bin/node',
      '/x/bin/phonehome.js',
      'lab',
      'serve',
      '--adb-port',
      '15037',
      '--devices',
      'd',
    ];
    assert.ok(isLabServeArgv(argv, 15037));
    assert.ok(!isLabServeArgv(argv, 15038));
    assert.ok(!isLabServeArgv(['node', 'phonehome.js', 'lab', 'up', '--adb-port', '15037'], 15037));
    assert.ok(!isLabServeArgv(['sleep', '300'], 15037));
    assert.ok(!isLabServeArgv([], 15037));
  });

  it('only a live `lab serve --adb-port N` with the recorded start time counts as the lab', async function () {
    if (!LINUX) this.skip();
    const ours = await startProcess(['lab', 'serve', '--adb-port', '15037']);
    const other = await startProcess(['something', 'else']);
    try {
      const startTime = inspectProcess(ours.pid!)?.startTime;
      assert.ok(startTime);
      const record = { pid: ours.pid!, adbPort: 15037, procStartTime: startTime };
      assert.equal(labProcessStatus(record), 'running');
      // An old record without a start time: the command line decides.
      assert.equal(labProcessStatus({ pid: ours.pid!, adbPort: 15037 }), 'running');
      // Same pid, another start time: the pid was reused by a later `lab serve`.
      assert.equal(labProcessStatus({ ...record, procStartTime: String(Number(startTime) - 1) }), 'foreign');
      // A lab for another adb port, and a process that is no lab at all.
      assert.equal(labProcessStatus({ ...record, adbPort: 15038 }), 'foreign');
      assert.equal(labProcessStatus({ pid: other.pid!, adbPort: 15037 }), 'foreign');
      // Unreadable command line (another user's process): not trusted.
      assert.equal(
        labProcessStatus(record, () => ({ argv: undefined, startTime })),
        'foreign',
      );
    } finally {
      await stopProcess(ours);
      await stopProcess(other);
    }
    assert.equal(labProcessStatus({ pid: ours.pid!, adbPort: 15037 }), 'gone');
    // Nonsense pids are never "running" (and so never signalled: kill(-1) would hit every process).
    for (const pid of [0, -1, 1.5, Number.NaN])
      assert.equal(labProcessStatus({ pid, adbPort: 15037 }), 'gone');
  });

  it('a killed but not yet reaped lab (zombie) is gone', async function () {
    if (!LINUX) this.skip();
    // `sleep 0` exits; its parent, exec'd into `sleep 30`, never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const [chunk] = (await once(parent.stdout, 'data')) as [Buffer];
      const zombie = Number(chunk.toString().trim());
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        const stat = parseProcStat(readFileSync(`/proc/${zombie}/stat`, 'utf8'));
        if (stat?.state === 'Z') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(inspectProcess(zombie), undefined);
      assert.equal(labProcessStatus({ pid: zombie, adbPort: 15037 }), 'gone');
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

describe('lab status / lab down with a lab record', () => {
  let home: string;
  let adb: ReturnType<typeof fakeAdb>;
  let P: number;
  let devicesFile: string;
  let child: ChildProcess | undefined;
  let adbServer: Server | undefined;
  const USER_PHONE = { serial: 'R58M1234ABC', label: 'my phone' };
  const PHONES = [
    {
      serial: '127.0.0.1:31001',
      profile: 'redmi-note-8-leaky',
      port: 31001,
      serialno: 'a',
      model: 'Redmi Note 8',
    },
    {
      serial: '127.0.0.1:31002',
      profile: 'redmi-note-8-leaky',
      port: 31002,
      serialno: 'b',
      model: 'Redmi Note 8',
    },
  ];

  beforeEach(async () => {
    home = mkdtempSync(join(tmpdir(), 'phonehome-cli-lab-'));
    adb = fakeAdb(home);
    P = await freePort();
    devicesFile = join(home, 'devices.json');
    writeFileSync(
      devicesFile,
      JSON.stringify({
        phones: [
          USER_PHONE,
          ...PHONES.map((p) => ({ serial: p.serial, lab: { profile: p.profile, port: p.port, adbPort: P } })),
        ],
      }),
    );
  });
  afterEach(async () => {
    await stopProcess(child);
    child = undefined;
    await new Promise((r) => (adbServer ? adbServer.close(r) : r(undefined)));
    adbServer = undefined;
    rmSync(home, { recursive: true, force: true });
  });

  const statePath = () => join(home, `lab-${P}.json`);
  const writeState = (pid: number, extra: Partial<LabState> = {}) =>
    writeFileSync(
      statePath(),
      JSON.stringify({
        pid,
        adbPort: P,
        status: 'ready',
        startedAt: '2026-01-01T00:00:00.000Z',
        devicesFile,
        log: join(home, `lab-${P}.log`),
        phones: PHONES,
        ...extra,
      }),
    );
  const run = (...args: string[]) =>
    runMain(args, { ADB: adb.path, PHONEHOME_HOME: home, ANDROID_ADB_SERVER_PORT: undefined });
  const devices = () => (JSON.parse(readFileSync(devicesFile, 'utf8')) as { phones: unknown[] }).phones;

  for (const kind of ['an unrelated process', 'a later lab process (other start time)'] as const) {
    it(`the recorded pid is now ${kind}: status says stale, down signals nothing and cleans up`, async function () {
      if (!LINUX && kind !== 'an unrelated process') this.skip();
      child =
        kind === 'an unrelated process'
          ? await startProcess(['not', 'a', 'lab'])
          : await startProcess(['lab', 'serve', '--adb-port', String(P)]);
      writeState(
        child.pid!,
        LINUX ? { procStartTime: kind === 'an unrelated process' ? undefined : '1' } : {},
      );

      const status = await run('lab', 'status', '--adb-port', String(P), '--json');
      assert.equal(status.code, 0, status.stderr);
      assert.deepEqual(JSON.parse(status.stdout), {
        running: false,
        adbPort: P,
        pid: null,
        appium: null,
        phones: [],
        stale: true,
      });
      const human = await run('lab', 'status', '--adb-port', String(P));
      assert.match(
        human.stdout,
        new RegExp(
          `^no lab is running for adb port ${P} \\(the record of lab pid ${child.pid} is stale: that pid now ` +
            `belongs to another process; \`phonehome lab down --adb-port ${P}\` removes it\\)\\n$`,
        ),
      );

      const down = await run('lab', 'down', '--adb-port', String(P), '--timeout', '2000');
      assert.equal(down.code, 0, down.stderr);
      assert.equal(down.stderr, '');
      assert.match(
        down.stdout,
        /^no lab was running for adb port \d+ \(the record of lab pid \d+ was stale: /,
      );
      assert.ok(running(child), 'lab down signalled a process that is not the lab');
      assert.ok(!existsSync(statePath()), 'stale record left behind');
      assert.deepEqual(devices(), [USER_PHONE]);
      // No adb server on P: nothing ran `adb disconnect` (it would have started one).
      assert.deepEqual(adb.calls(), []);
    });
  }

  it('the recorded lab has exited: status says stale, down cleans up and disconnects through a running server', async () => {
    const gone = await startProcess(['lab', 'serve', '--adb-port', String(P)]);
    const pid = gone.pid!;
    await stopProcess(gone);
    writeState(pid);
    adbServer = await listen(P); // something answers on P: the adb server is up
    const status = await run('lab', 'status', '--adb-port', String(P));
    assert.match(status.stdout, /is stale: that process has exited;/);
    const down = await run('lab', 'down', '--adb-port', String(P));
    assert.equal(down.code, 0, down.stderr);
    assert.ok(!existsSync(statePath()));
    assert.deepEqual(devices(), [USER_PHONE]);
    assert.deepEqual(adb.calls().sort(), PHONES.map((p) => `-P ${P} disconnect ${p.serial}`).sort());
  });

  it('the recorded lab runs: down stops it with SIGTERM and cleans up what it left', async function () {
    if (!LINUX) this.skip();
    child = await startProcess(['lab', 'serve', '--adb-port', String(P)]);
    writeState(child.pid!, { procStartTime: inspectProcess(child.pid!)?.startTime });
    const status = await run('lab', 'status', '--adb-port', String(P), '--json');
    assert.equal((JSON.parse(status.stdout) as { running: boolean }).running, true, status.stdout);
    assert.deepEqual(adb.calls(), [], 'lab status ran adb although no adb server runs');

    const exited = once(child, 'exit');
    const down = await run('lab', 'down', '--adb-port', String(P), '--timeout', '5000');
    assert.equal(down.code, 0, down.stderr);
    assert.equal(down.stdout, 'stopped 2 virtual phones\n');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, 'not stopped by SIGTERM');
    assert.ok(!existsSync(statePath()));
    assert.deepEqual(devices(), [USER_PHONE]);
    assert.deepEqual(adb.calls(), []);
  });

  it('lab up refuses while the recorded lab runs, naming its --adb-port in the fix', async function () {
    if (!LINUX) this.skip();
    child = await startProcess(['lab', 'serve', '--adb-port', String(P)]);
    writeState(child.pid!, { procStartTime: inspectProcess(child.pid!)?.startTime });
    const r = await run('lab', 'up', '--adb-port', String(P), '--phones', '1', '--devices', devicesFile);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `phonehome: a lab is already running for adb port ${P} (pid ${child.pid}, 2 phones)\n` +
        `  fix: run \`phonehome lab down --adb-port ${P}\` first, or use another --adb-port\n`,
    );
    assert.deepEqual(adb.calls(), []);
  });
});

describe('the Lab starts no adb server', () => {
  let dir: string;
  let adb: ReturnType<typeof fakeAdb>;
  let savedAdb: string | undefined;
  let P: number;
  let lab: Lab | undefined;
  let server: Server | undefined;
  let logs: string[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phonehome-lab-noserver-'));
    adb = fakeAdb(dir);
    savedAdb = process.env['ADB'];
    process.env['ADB'] = adb.path;
    P = await freePort();
    logs = [];
    lab = new Lab({ adbPort: P, log: (m) => logs.push(m) });
  });
  afterEach(async () => {
    await lab?.stop();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = undefined;
    if (savedAdb === undefined) delete process.env['ADB'];
    else process.env['ADB'] = savedAdb;
    rmSync(dir, { recursive: true, force: true });
  });

  const waitForLog = async (re: RegExp) => {
    const deadline = Date.now() + 5000;
    while (!logs.some((l) => re.test(l))) {
      if (Date.now() > deadline) assert.fail(`no log line ${re}: ${JSON.stringify(logs)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('stop() runs no `adb disconnect` when no adb server answers', async () => {
    const phone = await lab!.addPhone('redmi-note-8-leaky', { connect: false });
    await lab!.stop();
    assert.deepEqual(adb.calls(), []);
    // The phone is stopped all the same.
    const probe = createServer();
    probe.listen(phone.adbd.port, '127.0.0.1');
    await once(probe, 'listening');
    await new Promise((r) => probe.close(r));
  });

  it('stop() disconnects the phones when the adb server is up', async () => {
    const phone = await lab!.addPhone('redmi-note-8-leaky', { connect: false });
    server = await listen(P);
    await lab!.stop();
    assert.deepEqual(adb.calls(), [`-P ${P} disconnect ${phone.serial}`]);
  });

  it('a phone started with managed: false (lab up --no-connect) is never connected, reconnected or disconnected', async () => {
    const phone = await lab!.addPhone('redmi-note-8-leaky', {
      connect: false,
      managed: false,
      host: '127.0.0.2',
    });
    assert.equal(phone.serial, `127.0.0.2:${phone.adbd.port}`);
    server = await listen(P);
    await lab!.checkConnections();
    phone.adbd.emit('up'); // a virtual reboot
    await new Promise((r) => setTimeout(r, 50));
    await lab!.stop();
    assert.deepEqual(adb.calls(), []);
  });

  it('the watchdog waits for the adb server instead of starting it, and reconnects once it is back', async () => {
    const phone = await lab!.addPhone('redmi-note-8-leaky', { connect: false });
    await lab!.checkConnections();
    await lab!.checkConnections();
    assert.deepEqual(adb.calls(), []);
    assert.equal(logs.filter((l) => /^watchdog: no adb server on port \d+/.test(l)).length, 1, 'logged once');

    // A virtual reboot asks for a reconnect at once: not without a server either.
    phone.adbd.emit('up');
    await waitForLog(new RegExp(`^reconnect ${phone.serial}: no adb server on port ${P}`));
    assert.deepEqual(adb.calls(), []);

    server = await listen(P);
    const reconnected = once(lab!, 'reconnected');
    await lab!.checkConnections();
    await reconnected;
    assert.deepEqual(adb.calls(), [`-P ${P} devices`, `-P ${P} connect ${phone.serial}`]);
  });
});

describe('choosing profiles', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'phonehome-cli-profiles-'));
    for (const name of ['redmi-note-8-leaky', 'xiaomi-13-hyperos-rooted'])
      copyFileSync(join(PROFILE_DIR, `${name}.json`), join(dir, `${name}.json`));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const breakProfile = () => {
    const json = JSON.parse(readFileSync(join(PROFILE_DIR, 'redmi-note-8-leaky.json'), 'utf8')) as {
      name: string;
      rooted: unknown;
    };
    json.name = 'broken-one';
    json.rooted = 'yes';
    writeFileSync(join(dir, 'broken-one.json'), JSON.stringify(json));
  };

  it('cycles the requested profiles, or all of them', () => {
    assert.deepEqual(chooseProfiles(['xiaomi-13-hyperos-rooted'], 2, dir), [
      'xiaomi-13-hyperos-rooted',
      'xiaomi-13-hyperos-rooted',
    ]);
    assert.deepEqual(chooseProfiles([], 3, dir), [
      'redmi-note-8-leaky',
      'xiaomi-13-hyperos-rooted',
      'redmi-note-8-leaky',
    ]);
  });

  it('a requested profile whose file is broken: what is wrong with the file, not "unknown profile"', () => {
    breakProfile();
    assert.throws(
      () => chooseProfiles(['broken-one'], undefined, dir),
      (err: unknown) =>
        err instanceof UserFacingError &&
        err.message === 'profiles/broken-one.json: field "rooted" must be true or false' &&
        err.hint === `fix ${join(dir, 'broken-one.json')} (profiles/README.md describes each field)`,
    );
    // Asking for working profiles still works; all of them names the broken file.
    assert.deepEqual(chooseProfiles(['redmi-note-8-leaky'], 1, dir), ['redmi-note-8-leaky']);
    assert.throws(() => chooseProfiles([], 2, dir), /profiles\/broken-one\.json: field "rooted"/);
    // An unknown one lists the working profiles only.
    assert.throws(
      () => chooseProfiles(['nope'], undefined, dir),
      (err: unknown) =>
        err instanceof UserFacingError &&
        err.message === "unknown profile 'nope'" &&
        err.hint ===
          'choose one of: redmi-note-8-leaky, xiaomi-13-hyperos-rooted (see `phonehome lab profiles`)',
    );
  });

  it('a profile file (ending in .json): validated, returned as an absolute path, cycled with names', () => {
    mkdirSync(join(dir, 'files'));
    const file = join(dir, 'files', 'mine.json');
    writeFileSync(file, JSON.stringify({ extends: 'redmi-note-8-leaky', name: 'mine', rooted: true }));
    const rel = relative(process.cwd(), file);
    assert.deepEqual(chooseProfiles([rel, 'xiaomi-13-hyperos-rooted'], 3, dir), [
      file,
      'xiaomi-13-hyperos-rooted',
      file,
    ]);
    const example = join(EXAMPLE_DIR, 'late-flush.json');
    assert.deepEqual(chooseProfiles([relative(process.cwd(), example)], undefined), [example]);
  });

  it('a broken or missing profile file: its error, with the fix', () => {
    const files = join(dir, 'files');
    mkdirSync(files);
    const file = join(files, 'bad.json');
    writeFileSync(file, JSON.stringify({ extends: 'redmi-note-8-leaky', name: 'bad', rooted: 'yes' }));
    assert.throws(
      () => chooseProfiles([file], undefined, dir),
      (err: unknown) =>
        err instanceof UserFacingError &&
        err.message === `${file}: field "rooted" must be true or false` &&
        err.hint === `fix ${file} (profiles/README.md describes each field)`,
    );
    const unknownBase = join(files, 'u.json');
    writeFileSync(unknownBase, JSON.stringify({ extends: 'nope', name: 'u' }));
    assert.throws(
      () => chooseProfiles([unknownBase], undefined, dir),
      /field "extends" names unknown profile 'nope'; known: redmi-note-8-leaky, xiaomi-13-hyperos-rooted/,
    );
    const missing = join(files, 'missing.json');
    assert.throws(
      () => chooseProfiles([missing], undefined, dir),
      (err: unknown) =>
        err instanceof UserFacingError &&
        err.message === `no profile file ${missing}` &&
        err.hint === `no such file: ${missing} (a profile file's path is relative to the working directory)`,
    );
  });

  it('`lab profiles` lists the examples after the shipped profiles', async () => {
    const text = await runMain(['lab', 'profiles']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^redmi-note-11-china {2}/m);
    assert.match(text.stdout, /\nexamples: hostile firmware/);
    assert.match(text.stdout, /^profiles\/examples\/late-flush\.json +Redmi Note 8/m);
    const json = await runMain(['lab', 'profiles', '--json']);
    const list = JSON.parse(json.stdout) as Array<{ name: string; example?: boolean; path?: string }>;
    assert.deepEqual(
      list.filter((p) => p.example).map((p) => p.path),
      listExampleProfiles().map((p) => p.path),
    );
    assert.ok(list.some((p) => p.name === 'redmi-note-8-leaky' && p.example === undefined));
  });

  it('no profiles at all', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    assert.throws(() => chooseProfiles([], 1, empty), /no firmware profiles in/);
  });
});

describe('lab up --listen-host', () => {
  it('takes an IP address (brackets allowed for IPv6), and refuses names with exit 2', () => {
    assert.equal(parseListenHost('10.231.5.2'), '10.231.5.2');
    assert.equal(parseListenHost('[fd00::2]'), 'fd00::2');
    for (const bad of ['lab-2.local', '', '10.0.0', '0x0a000001']) {
      assert.throws(
        () => parseListenHost(bad),
        (err: unknown) =>
          err instanceof UserFacingError &&
          err.exitCode === 2 &&
          /--listen-host must be an IP address/.test(err.message),
        bad,
      );
    }
  });
});
