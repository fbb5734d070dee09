/**
 * Issue 10's acceptance, as a user meets it: `phonehome run` (the real CLI in a child process: mocha
 * workers, mockttp captures, adb reverse, the real adb server) runs the SHIPPED incognito and UEP
 * suites on virtual phones of the hostile example profiles (profiles/examples/) and of an honest
 * firmware. Hidden uploads never give `passed`: `failed` where the leak can be seen (an unlisted
 * host, an encoding chain in a header, a late flush, a bypass brought into the capture by iptables on
 * a rooted phone, encrypted Sensors with its key), `broken` where it cannot (encrypted without the
 * key, a bypass on a phone without root), each with what could not be proven and what to do. The
 * honest firmware keeps its verdicts. Bypass is seen through Android's own counters and iptables as
 * the virtual phone exposes them (dumpsys, iptables), never through the lab's log.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LabCa } from '../../src/capture/ca.ts';
import type { JobResult } from '../../src/report/run-folder.ts';
import { provisionCa } from '../support/capture.ts';
import { runCli, show } from '../support/cli.ts';
import { cliEnv, startLab, type LabPhone, type TestLab } from '../support/lab.ts';

const EXAMPLES = resolve('profiles/examples');
const ex = (name: string): string => join(EXAMPLES, `${name}.json`);
/** The key printed in profiles/examples/README.md for encrypted-sensors.json. */
const exampleKey = (): string => {
  const p = JSON.parse(readFileSync(ex('encrypted-sensors'), 'utf8')) as {
    telemetry: { emitters: { sensors: { encrypt: { key: string } } } };
  };
  return p.telemetry.emitters.sensors.encrypt.key;
};

/**
 * The shipped suites this issue is about: incognito (with their control) and UEP (with its control).
 * firmware-regression.yaml repeats two of these checks in one scenario; it is left out for time.
 */
const TAGS = 'incognito,uep';
const NEGATIVE = new Set([
  'Incognito browsing is not reported',
  'Incognito DuckDuckGo search is not reported',
  'Incognito Google search is not reported',
  'User Experience Program off silences system UI analytics',
]);
const INCOGNITO = [
  'Incognito browsing is not reported',
  'Incognito DuckDuckGo search is not reported',
  'Incognito Google search is not reported',
];

describe('hostile firmware: the shipped suites never say passed when an upload is hidden', function () {
  this.timeout(900_000);
  let lab: TestLab;
  let tmp: string;
  let env: Record<string, string>;
  const names = [
    'unlisted-host',
    'header-chain',
    'late-flush',
    'bypass-proxy-rooted',
    'bypass-proxy',
    'encrypted-sensors',
  ];
  let results: JobResult[] = [];
  const profileOf = (serial: string): string => lab.phones.find((p) => p.serial === serial)!.profile.name;

  const devices = (file: string, phones: LabPhone[]): string => {
    const path = join(tmp, file);
    writeFileSync(
      path,
      JSON.stringify({ phones: phones.map((p) => ({ serial: p.serial, ui: 'adb', label: p.profile.name })) }),
    );
    return path;
  };
  const run = async (devicesFile: string, extra: string[] = [], tags = TAGS): Promise<JobResult[]> => {
    const r = await runCli(
      [
        'run',
        resolve('scenarios'),
        '--tags',
        tags,
        '--devices',
        devicesFile,
        '--json',
        '--out',
        'reports',
        ...extra,
      ],
      { env, cwd: tmp, timeoutMs: 600_000 },
    );
    assert.ok(r.code === 1 || r.code === 3, `exit 1 (failed) or 3 (broken) expected\n${show(r)}`);
    const summary = JSON.parse(r.stdout) as { run: string };
    return JSON.parse(readFileSync(join(tmp, 'reports', summary.run, 'results.json'), 'utf8')) as JobResult[];
  };
  const verdicts = (profile: string): Record<string, JobResult> =>
    Object.fromEntries(results.filter((x) => profileOf(x.phone) === profile).map((x) => [x.scenario, x]));

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-hostile-'));
    mkdirSync(join(tmp, 'home'));
    lab = await startLab(['redmi-note-8-fixed-rooted', ...names.map(ex)]);
    env = cliEnv(tmp, lab.adb.port);
    // The unrooted bypass phone carries the lab CA in its image (as a lab phone flashed for it
    // would): HTTPS through the proxy is decrypted, so only the bypass is left to prove.
    const ca = await LabCa.load(join(tmp, 'ca'));
    provisionCa(
      lab.phones.find((p) => p.profile.name === 'bypass-proxy')!,
      ca,
    );
    results = await run(devices('all.json', lab.phones));
  });
  after(async () => {
    await lab?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const msg = (x: JobResult | undefined): string => `${x?.status}: ${x?.message ?? ''}`;

  it('no hostile profile gets passed for a negative incognito or UEP check', () => {
    for (const name of names) {
      const v = verdicts(name);
      for (const scenario of NEGATIVE) {
        const x = v[scenario];
        assert.ok(x, `${name}: ${scenario} ran`);
        assert.notEqual(x.status, 'passed', `${name}: ${scenario}: ${msg(x)}`);
        assert.notEqual(x.status, 'skipped', `${name}: ${scenario}: ${msg(x)}`);
      }
    }
  });

  it('the honest firmware keeps its verdicts: the negatives and their controls pass', () => {
    const v = verdicts('redmi-note-8-fixed-rooted');
    for (const [scenario, x] of Object.entries(v)) assert.equal(x.status, 'passed', `${scenario}: ${msg(x)}`);
    assert.equal(Object.keys(v).length, 6, Object.keys(v).join(', '));
  });

  it('an unlisted Xiaomi host: failed, naming the host', () => {
    for (const s of INCOGNITO) {
      const x = verdicts('unlisted-host')[s];
      assert.equal(x?.status, 'failed', msg(x));
      // Named by its host; no catalogue host entry covers it (the Sensors format may still be
      // recognised on any host by the catalogue's layer entry).
      assert.match(x.message!, /\(host t\.browser\.miui\.com, path \/v1\/events\)/);
      assert.doesNotMatch(x.message!, /\[miui-sensors\]/);
    }
  });

  it('a canary in an encoding chain carried in a header: failed, the path naming the header and each layer', () => {
    for (const s of INCOGNITO) {
      const x = verdicts('header-chain')[s];
      assert.equal(x?.status, 'failed', msg(x));
      assert.match(x.message!, /header\.X-MI-Ctx › /i);
    }
  });

  it('a late, persisted flush: failed (the relaunch and the trailing window catch it)', () => {
    for (const s of INCOGNITO)
      assert.equal(verdicts('late-flush')[s]?.status, 'failed', msg(verdicts('late-flush')[s]));
  });

  it('a proxy bypass on a rooted phone is redirected into the capture: failed', () => {
    for (const s of INCOGNITO) {
      const x = verdicts('bypass-proxy-rooted')[s];
      assert.equal(x?.status, 'failed', msg(x));
    }
  });

  it('a proxy bypass on a phone without root: broken, naming the package, the bytes and how they were seen', () => {
    for (const s of INCOGNITO) {
      const x = verdicts('bypass-proxy')[s];
      assert.equal(x?.status, 'broken', msg(x));
      assert.match(x.message!, /com\.mi\.globalbrowser \(uid \d+\) sent \d+ bytes/);
      assert.match(x.message!, /dumpsys netd trafficcontroller/);
      assert.match(x.message!, /Fix: /);
    }
  });

  it('encrypted Sensors uploads without the key: broken, saying which key would open them', () => {
    for (const s of INCOGNITO) {
      const x = verdicts('encrypted-sensors')[s];
      assert.equal(x?.status, 'broken', msg(x));
      assert.match(x.message!, /could not be decoded to the end/);
      assert.match(x.message!, /--key sensors=HEX/);
    }
  });

  it('encrypted Sensors uploads with --key sensors=HEX: failed, the canary found inside', async () => {
    const phone = lab.phones.find((p) => p.profile.name === 'encrypted-sensors')!;
    // MiStat stays opaque (its session key is the phone's own), but a visible canary is enough.
    // Only the incognito suites and their control this time: the UEP pair does not change with the key.
    const again = await run(
      devices('encrypted.json', [phone]),
      ['--key', `sensors=${exampleKey()}`],
      'incognito',
    );
    for (const s of INCOGNITO) {
      const x = again.find((r) => r.scenario === s);
      assert.equal(x?.status, 'failed', msg(x));
      assert.match(
        x.message!,
        /canary (url|search)=ph\w+ at body › form\.data_list › json\[0\]\.payloads\[\d+\] › base64 › aes › gzip › json\.properties\./,
      );
    }
  });
});
