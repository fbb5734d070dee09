/**
 * Dialogs handled by data, end to end (issue 11 acceptance): virtual phones from two test profiles
 * (test/fixtures/profiles/) whose browser shows a synthetic first-launch dialog, the real adb server,
 * the ADB-only driver and the scenario executor.
 * - first-launch-dialog: a shipped rule (src/ui/pages/interstitials.json, marked synthetic) dismisses
 *   it, the step log says so and the step passes; the toggle step opens Settings by its exported
 *   action and logs the switch and the stored setting;
 * - unknown-dialog: no rule knows it, so the step stops with the dialog's texts and buttons, untapped.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LabCa } from '../../src/capture/ca.ts';
import { Journal } from '../../src/capture/journal.ts';
import { CaptureSession } from '../../src/capture/session.ts';
import { wirePhone, type Wiring } from '../../src/capture/wiring.ts';
import { readIdentifiers } from '../../src/detect/index.ts';
import { openDevice } from '../../src/device/index.ts';
import { runScenario, type PhoneSession, type StepReporter } from '../../src/scenario/executor.ts';
import type { Scenario, Step, StepName } from '../../src/scenario/types.ts';
import { AdbUiDriver } from '../../src/ui/adb/driver.ts';
import type { LabPhone } from '../../src/virtual/lab/virtual-lab.ts';
import { startLab, type TestLab } from '../support/lab.ts';

const FIXTURES = resolve('test/fixtures/profiles');

let n = 0;
function step(name: StepName, args: Record<string, unknown> = {}): Step {
  return { name, args, pos: { file: 'test.yaml', line: ++n, col: 3 }, path: `steps[${n}]` };
}

function scenario(name: string, steps: Step[]): Scenario {
  steps.forEach((s, i) => (s.path = `steps[${i}]`));
  return { file: `${name}.yaml`, config: { name, tags: [], env: {}, canaries: [] }, steps };
}

describe('interstitials: a dialog in front of a step, on virtual phones', function () {
  this.timeout(90_000);
  let lab: TestLab;
  let tmp: string;
  const cleanup: Array<() => Promise<unknown>> = [];
  const savedCaDir = process.env.PHONEHOME_CA_DIR;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-interstitials-'));
    process.env.PHONEHOME_CA_DIR = join(tmp, 'ca');
    lab = await startLab([join(FIXTURES, 'first-launch-dialog.json'), join(FIXTURES, 'unknown-dialog.json')]);
  });

  after(async () => {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    await lab?.stop();
    if (savedCaDir === undefined) delete process.env.PHONEHOME_CA_DIR;
    else process.env.PHONEHOME_CA_DIR = savedCaDir;
    rmSync(tmp, { recursive: true, force: true });
  });

  async function session(lp: LabPhone): Promise<PhoneSession> {
    const ca = await LabCa.load(process.env.PHONEHOME_CA_DIR!);
    const device = openDevice({ port: lab.adb.port }, lp.serial, { timeoutMs: 15_000 });
    const capture = await CaptureSession.start({ dir: join(tmp, `cap-${lp.serial}`), ca });
    const wiring: Wiring = await wirePhone(device, {
      ca,
      hostPort: capture.port,
      journal: new Journal(join(tmp, 'state')),
      adb: { host: '127.0.0.1', port: lab.adb.port },
    });
    const ui = new AdbUiDriver(device, { timeoutMs: 4000, pollMs: 50 });
    cleanup.push(
      () => ui.close(),
      () => capture.stop(),
      () => wiring.restore(),
    );
    return {
      serial: lp.serial,
      device,
      ui,
      profile: lp.profile.name,
      fingerprint: await device.fingerprint(),
      identifiers: await readIdentifiers(device),
      capture,
      wiring,
      bypass: wiring.bypass,
    };
  }

  function reporter(): StepReporter & { lines: string[] } {
    const lines: string[] = [];
    return { lines, step: async (_n, fn) => fn(), attach: () => undefined, log: (l) => void lines.push(l) };
  }

  const opts = {
    runId: 'it',
    quietMs: 300,
    settleTimeoutMs: 4000,
    probeTimeoutMs: 4000,
    stepTimeoutMs: 40_000,
    maxTrailingMs: 1000,
  };

  it('a rule dismisses the synthetic first-launch dialog, logged; a toggle is read back from its setting', async () => {
    const lp = lab.phones[0]!;
    const phone = await session(lp);
    const before = (await phone.device.shell(['settings', 'get', 'secure', 'upload_log_pref'])).stdout.trim();
    const rep = reporter();
    const out = await runScenario(
      scenario('dialog-known', [
        step('launchApp', { app: 'browser' }),
        step('setToggle', { name: 'miui.userExperienceProgram', on: true }),
      ]),
      phone,
      rep,
      opts,
    );
    const log = rep.lines.join('\n');
    assert.equal(out.status, 'passed', `${out.message}\n${log}`);
    assert.match(
      log,
      /dismissed dialog phonehome-synthetic-first-launch \(virtual lab only \(test of the mechanism\)/,
    );
    assert.match(
      log,
      /Settings privacy: opened by action android\.settings\.PRIVACY_SETTINGS → com\.android\.settings\/\.Settings\$PrivacyDashboardActivity/,
    );
    assert.match(log, /User Experience Program: switch on, stored upload_log_pref=1 \(secure\)/);
    assert.equal(
      (await phone.device.shell(['settings', 'get', 'secure', 'upload_log_pref'])).stdout.trim(),
      before,
      'the toggle was put back',
    );
  });

  it('an unknown dialog stops the step with its texts and buttons, and is left untouched', async () => {
    const lp = lab.phones[1]!;
    const phone = await session(lp);
    const rep = reporter();
    const out = await runScenario(
      scenario('dialog-unknown', [step('launchApp', { app: 'browser' })]),
      phone,
      rep,
      opts,
    );
    assert.notEqual(out.status, 'passed');
    const failed = out.steps.find((s) => s.path === 'steps[0]')!;
    assert.equal(failed.status, 'failed', JSON.stringify(failed));
    assert.match(
      failed.message!,
      /unknown dialog of com\.mi\.globalbrowser is in front \(texts: "Welcome to a made-up screen", "Virtual lab only: no rule matches this dialog\."; buttons: "Agree", "Disagree"\)/,
    );
    assert.match(failed.message!, /add a rule to src\/ui\/pages\/interstitials\.json/);
    assert.ok(lp.phone.screen.frontDialog(), 'the dialog is still there: nothing was tapped');
  });
});
