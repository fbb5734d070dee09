/**
 * The scenario executor with fakes (fake-phone.ts): a permissive fake UiDriver whose openUrl / key
 * presses make a fake phone "upload" through a fake capture session, a fake Device and Wiring. Checks
 * the verdict rules, canaries and `${…}`, the liveness probe, TLS-failure semantics, optional, retry
 * and repeat, time limits and `when`. The negative verdict's proofs (bypass, controls, waiting,
 * relaunch, the final recheck) are in executor-verdicts.test.ts.
 */
import assert from 'node:assert/strict';
import { getStatusFromError } from 'allure-js-commons/sdk';
import { DeviceError } from '../../../src/device/index.ts';
import type { AnalysedRecord } from '../../../src/detect/pipeline.ts';
import { AnalysisPool, type AnalyserConfig } from '../../../src/detect/pool.ts';
import {
  makeCanaries,
  resolveArgs,
  resolveString,
  ScenarioReferenceError,
} from '../../../src/scenario/canaries.ts';
import { describeStep, PROBE_HOST, runScenario } from '../../../src/scenario/executor.ts';
import type { ScenarioConfig, Step } from '../../../src/scenario/types.ts';
import { UiError } from '../../../src/ui/driver.ts';
import { exchange, FakePhone, leaky, OPTS, rep, scenario, step, tlsFailure, visit } from './fake-phone.ts';

// ------------------------------------------------------------------------------------ tests

describe('scenario canaries and references', () => {
  it('makes fresh, unique, lowercase alphanumeric canaries per run', () => {
    const a = makeCanaries(['url', 'search_word'], 'run-2024-11-AB');
    const b = makeCanaries(['url', 'search_word'], 'run-2024-11-AB');
    for (const v of [...Object.values(a), ...Object.values(b)]) assert.match(v, /^ph[a-z0-9]+$/);
    assert.match(a.url!, /^ph2411aburl[0-9a-f]{10}$/);
    assert.match(a.search_word!, /searchword/);
    assert.notEqual(a.url, b.url);
    assert.equal(encodeURIComponent(a.url!), a.url);
  });

  it('resolves ${NAME}, ${env.NAME} and ${canary.NAME}; unknown ones are errors', () => {
    const scope = { vars: { HOST: 'news.example.com' }, env: { TOKEN: 't0k' }, canaries: { url: 'phxyz' } };
    assert.equal(
      resolveString('https://${HOST}/${canary.url}?k=${env.TOKEN}', scope),
      'https://news.example.com/phxyz?k=t0k',
    );
    assert.deepEqual(resolveArgs({ a: ['${HOST}'], commands: ['${HOST}'], n: 3 }, scope), {
      a: ['news.example.com'],
      commands: ['${HOST}'],
      n: 3,
    });
    assert.throws(() => resolveString('${canary.nope}', scope), ScenarioReferenceError);
    assert.throws(() => resolveString('${env.NOPE}', scope), /not set/);
    assert.throws(() => resolveString('${NOPE}', scope), /not defined/);
  });

  it('describes steps by label or arguments', () => {
    assert.equal(describeStep(step('openUrl', { url: 'https://x/' })), 'openUrl https://x/');
    assert.equal(describeStep(step('background')), 'background');
    assert.equal(describeStep(step('wait', { ms: 5 }, { label: 'pause' })), 'pause');
    assert.equal(
      describeStep(step('assertNoUpload', { to: 'tracker', containing: 'canary' })),
      'assertNoUpload to tracker containing canary',
    );
    assert.equal(
      describeStep(step('assertNoUpload', { containing: 'canary', control: 'c1' })),
      'assertNoUpload to any third party containing canary (control c1)',
    );
    assert.equal(describeStep(step('assertNoRequest', { host: '*.miui.com' })), 'assertNoRequest *.miui.com');
  });
});

describe('runScenario with fakes', () => {
  it('a canary uploaded to a tracker fails assertNoUpload, naming exchange, host, path and encoding', async () => {
    const p = new FakePhone();
    leaky(p);
    const r = rep();
    const out = await runScenario(
      scenario([...visit, step('assertNoUpload', { to: 'tracker', containing: 'canary' })]),
      p.session(),
      r,
      OPTS,
    );
    assert.equal(out.status, 'failed', out.message);
    const canary = out.canaries.url!;
    assert.match(
      out.message!,
      /^steps\[2\] \(assertNoUpload to tracker containing canary\): any tracker received/,
    );
    assert.match(
      out.message!,
      /POST https:\/\/sa\.api\.intl\.miui\.com\/sa\?project=x \(host sa\.api\.intl\.miui\.com, path \/sa\) \[miui-sensors\]/,
    );
    assert.ok(out.message!.includes(`canary url=${canary} at body`), out.message);
    assert.match(out.message!, /\(plain\)/);
    assert.deepEqual(
      out.steps.map((s) => s.status),
      ['passed', 'passed', 'failed'],
    );
    // Allure's classification of what the reporter saw thrown.
    assert.equal(getStatusFromError(r.thrown.at(-1)!.error as Error), 'failed');
    // The probe ran (a VIEW intent to the browser) and is not evidence.
    assert.ok(
      p.calls.some((c) => c.startsWith(`open http://${PROBE_HOST}/`)),
      p.calls.join('\n'),
    );
    assert.ok(!out.hosts.includes(PROBE_HOST));
    assert.deepEqual(out.hosts, ['news.example.com', 'sa.api.intl.miui.com']);
    assert.deepEqual(out.trackers, ['miui-sensors']);
    assert.equal(out.findings.length, 2); // the page request (canary in its URL) and the upload
    assert.ok(r.attached.includes('findings.json'));
    assert.ok(
      r.attached.some((a) => a.startsWith('screenshot')),
      r.attached.join(','),
    );
    assert.ok(
      r.attached.some((a) => a.startsWith('logcat')),
      r.attached.join(','),
    );
  });

  it('startEvidence: assertions ignore what was captured before it, but the results keep it', async () => {
    const p = new FakePhone();
    leaky(p);
    const out = await runScenario(
      scenario([
        ...visit,
        step('startEvidence'),
        step('wait', { ms: 50 }),
        step('assertNoUpload', { to: 'tracker', containing: 'canary' }),
      ]),
      p.session(),
      rep(),
      OPTS,
    );
    assert.equal(out.status, 'passed', out.message);
    assert.deepEqual(out.trackers, ['miui-sensors'], 'the leak before the window is still evidence');
    const again = await runScenario(
      scenario([
        step('startEvidence'),
        ...visit,
        step('assertNoUpload', { to: 'tracker', containing: 'canary' }),
      ]),
      p.session(),
      rep(),
      OPTS,
    );
    assert.equal(again.status, 'failed', 'a leak after the window counts');
  });

  it('passes when nothing carries a canary, after a captured probe; the positive control fails', async () => {
    const p = new FakePhone();
    const out = await runScenario(
      scenario([
        ...visit,
        step('assertNoUpload', { to: 'tracker', containing: 'canary' }),
        step('assertNoRequest', { host: '*.miui.com' }),
        step('assertUpload', { to: 'tracker', containing: 'canary' }),
      ]),
      p.session(),
      rep(),
      OPTS,
    );
    assert.equal(out.status, 'failed');
    assert.deepEqual(
      out.steps.map((s) => s.status),
      ['passed', 'passed', 'passed', 'passed', 'failed'],
    );
    assert.match(out.message!, /no upload to any tracker carried a canary of this run/);
    assert.equal(p.calls.filter((c) => c.includes(PROBE_HOST)).length, 1, 'one probe for consecutive checks');
  });

  it('broken when the liveness probe is not captured (proxy gone), never passed', async () => {
    const p = new FakePhone();
    const r = rep();
    const out = await runScenario(
      scenario([
        step('openUrl', { url: 'https://news.example.com/' }),
        step('assertNoUpload', { to: 'tracker', containing: 'any' }),
      ]),
      p.session(),
      {
        ...r,
        step: async (name, fn) => ((p.proxied = !name.startsWith('assertNoUpload')), r.step(name, fn)),
      },
      OPTS,
    );
    assert.equal(out.status, 'broken');
    assert.match(out.message!, /liveness probe: .* saw no request within 300 ms/);
    assert.match(out.message!, /http_proxy is unset, not 127\.0\.0\.1:8080: the proxy is not applied/);
    assert.match(out.message!, /adb reverse tcp:8080 → tcp:9090 is in place/);
    assert.equal(getStatusFromError(r.thrown.at(-1)!.error as Error), 'broken');
  });

  it('TLS failures to a tracker: canary → broken (cannot prove), any → failed, positive any → passed', async () => {
    const run = async (steps: Step[], caMethod = 'none') => {
      const p = new FakePhone();
      p.onHome = () => p.send(tlsFailure('sa.api.intl.miui.com'));
      return runScenario(scenario([...visit, ...steps]), p.session({}, caMethod), rep(), OPTS);
    };
    const canary = await run([step('assertNoUpload', { to: 'tracker', containing: 'canary' })]);
    assert.equal(canary.status, 'broken');
    assert.match(canary.message!, /cannot prove that any tracker received nothing it must not:\n- /);
    // HOME is pressed twice (background, and again after the browser's relaunch before the verdict).
    assert.match(
      canary.message!,
      /\d HTTPS connection\(s\) to sa\.api\.intl\.miui\.com could not be decrypted/,
    );
    assert.match(canary.message!, /CA method is none/);
    assert.doesNotMatch(canary.message!.split(': ').slice(1).join(': '), /assert/i);
    const pinned = await run(
      [step('assertNoUpload', { to: 'vendor', value: 'xiaomi', containing: 'identifier' })],
      'system-tmpfs',
    );
    assert.equal(pinned.status, 'broken');
    assert.match(pinned.message!, /rejected the lab CA \(certificate pinning/);
    const any = await run([
      step('assertNoUpload', { to: 'tracker', value: 'miui-sensors', containing: 'any' }),
    ]);
    assert.equal(any.status, 'failed');
    assert.match(any.message!, /TLS failure to sa\.api\.intl\.miui\.com \(cert-rejected\)/);
    const control = await run([step('assertUpload', { to: 'host', value: '*.miui.com', containing: 'any' })]);
    assert.equal(control.status, 'passed', control.message);
    const request = await run([step('assertNoRequest', { host: 'sa.api.intl.miui.com' })]);
    assert.equal(request.status, 'failed');
  });

  it("the probe's own uploads (its token, no canary) are not evidence", async () => {
    const p = new FakePhone();
    p.onUrl = (url) => {
      p.send(exchange(url));
      // The browser reports every page, the probe page included.
      p.send(exchange('https://sa.api.intl.miui.com/sa', JSON.stringify({ properties: { url } })));
    };
    const out = await runScenario(
      scenario([step('assertNoUpload', { to: 'tracker', containing: 'any' })], { canaries: [] }),
      p.session(),
      rep(),
      OPTS,
    );
    assert.equal(out.status, 'passed', out.message);
    assert.deepEqual(out.hosts, []);
    assert.deepEqual(out.findings, []);
  });

  it('an exchange whose analysis failed makes a negative check broken, naming it, never passed', async () => {
    const p = new FakePhone();
    p.onUrl = (url) => p.send(exchange(url));
    // A pool whose worker lost every exchange but the probe's (the probe must still be seen).
    const inline = new AnalysisPool({ size: 0 });
    const analysisPool = {
      analyser: (config: AnalyserConfig) => {
        const a = inline.analyser(config);
        return {
          analyse: (r: AnalysedRecord) =>
            r.host === PROBE_HOST
              ? a.analyse(r)
              : Promise.reject(
                  new Error(`exchange #${r.index} was not analysed: the analysis worker crashed (boom)`),
                ),
          release: () => a.release(),
        };
      },
    } as unknown as AnalysisPool;
    const out = await runScenario(
      scenario([...visit, step('assertNoUpload', { containing: 'canary' })]),
      p.session(),
      rep(),
      { ...OPTS, analysisPool },
    );
    assert.equal(out.status, 'broken', out.message);
    assert.match(
      out.message ?? '',
      /could not be analysed.*exchange #\d+ was not analysed: the analysis worker crashed/s,
    );
  });

  it('optional failures are recorded and the scenario goes on; a required one stops it', async () => {
    const p = new FakePhone();
    p.findError = (l) =>
      l.text === 'Missing'
        ? new UiError({
            serial: 'fake1',
            operation: 'find [text="Missing"]',
            problem: 'found nothing within 1000 ms',
          })
        : l.text === 'Gone'
          ? new UiError({ serial: 'fake1', operation: 'choose engine', problem: 'failed: unknown engine' })
          : undefined;
    const out = await runScenario(
      scenario([
        step('tapOn', { text: 'Missing' }, { optional: true }),
        step('tapOn', { text: 'Gone' }, { optional: true }),
        step('tapOn', { text: 'Ok' }),
        step('tapOn', { text: 'Missing' }),
        step('tapOn', { text: 'Never' }),
      ]),
      p.session(),
      rep(),
      OPTS,
    );
    assert.deepEqual(
      out.steps.map((s) => s.status),
      ['broken', 'failed', 'passed', 'broken', 'skipped'],
    );
    assert.equal(out.status, 'broken', 'a UI wait that timed out is broken');
    assert.match(out.message!, /^steps\[3\] \(tapOn Missing\): phone fake1: find/);
    assert.match(out.steps[4]!.message!, /not run/);
    assert.deepEqual(
      p.calls.filter((c) => c.startsWith('tap')),
      ['tap Ok'],
    );
  });

  it('retry runs the commands again until they pass; repeat runs them N times', async () => {
    const p = new FakePhone();
    let misses = 2;
    p.findError = (l) =>
      l.text === 'Flaky' && misses-- > 0
        ? new UiError({ serial: 'fake1', operation: 'find', problem: 'found nothing within 10 ms' })
        : undefined;
    const r = rep();
    const out = await runScenario(
      scenario([
        step('retry', { maxRetries: 2 }, { children: [step('tapOn', { text: 'Flaky' })] }),
        step('repeat', { times: 3 }, { children: [step('swipe', { direction: 'up' })] }),
        step(
          'runFlow',
          { file: '_sub.yaml', env: { WORD: 'hello' } },
          { children: [step('inputText', { text: '${WORD} ${canary.url}' })] },
        ),
      ]),
      p.session(),
      r,
      OPTS,
    );
    assert.equal(out.status, 'passed', out.message);
    assert.equal(p.calls.filter((c) => c === 'tap Flaky').length, 1);
    assert.equal(p.calls.filter((c) => c === 'swipe up').length, 3);
    assert.deepEqual(p.typed, [`hello ${out.canaries.url}`]);
    assert.ok(
      r.lines.some((l) => /passed on attempt 3/.test(l)),
      r.lines.join('\n'),
    );
    // The failed attempts are in the step list; the retry step itself passed.
    assert.deepEqual(
      out.steps.map((s) => s.status),
      ['passed', 'broken', 'broken', 'passed', 'passed', 'passed', 'passed', 'passed', 'passed', 'passed'],
    );

    const q = new FakePhone();
    q.findError = () => new UiError({ serial: 'fake1', operation: 'find', problem: 'failed: no' });
    const gaveUp = await runScenario(
      scenario([step('retry', { maxRetries: 1 }, { children: [step('tapOn', { text: 'X' })] })]),
      q.session(),
      rep(),
      OPTS,
    );
    assert.equal(gaveUp.status, 'failed');
    assert.match(gaveUp.message!, /^steps\[\d+\] \(tapOn X\): phone fake1: find failed: no/);
  });

  it('infrastructure errors and step time limits are broken', async () => {
    const p = new FakePhone();
    p.findError = (l) =>
      l.text === 'Adb'
        ? new DeviceError({ serial: 'fake1', operation: 'shell', problem: 'the phone went away' })
        : l.text === 'Hang'
          ? 'hang'
          : undefined;
    const adb = await runScenario(scenario([step('tapOn', { text: 'Adb' })]), p.session(), rep(), OPTS);
    assert.equal(adb.status, 'broken');
    const hang = await runScenario(scenario([step('tapOn', { text: 'Hang' })]), p.session(), rep(), {
      ...OPTS,
      stepTimeoutMs: 100,
    });
    assert.equal(hang.status, 'broken');
    assert.match(hang.message!, /did not finish within 100 ms/);
    const ref = await runScenario(
      scenario([step('openUrl', { url: 'https://${NOPE}/' })]),
      p.session(),
      rep(),
      OPTS,
    );
    assert.equal(ref.status, 'broken');
    assert.match(ref.message!, /NOPE is not defined/);
  });

  it('background waits until the capture is quiet (or its deadline), not a fixed time', async () => {
    const p = new FakePhone();
    let sent = 0;
    p.onHome = () => {
      const timer = setInterval(() => {
        p.send(exchange(`http://api.ad.intl.xiaomi.com/getSplashScreenAds?n=${sent}`));
        if (++sent === 4) clearInterval(timer);
      }, 20);
    };
    const t0 = Date.now();
    const out = await runScenario(scenario([step('background')]), p.session(), rep(), {
      ...OPTS,
      quietMs: 150,
    });
    assert.equal(out.status, 'passed');
    assert.equal(sent, 4, 'all uploads landed before the step ended');
    assert.equal(out.hosts.length, 1);
    assert.ok(Date.now() - t0 < 1000);
  });

  it('skips when `when` does not match the phone, with the reason', async () => {
    const p = new FakePhone();
    const run = (when: ScenarioConfig['when']) =>
      runScenario(scenario([step('background')], { when }), p.session(), rep(), OPTS);
    assert.deepEqual(
      [
        (await run({ profiles: ['xiaomi-13-hyperos-rooted'] })).message,
        (await run({ os: ['HyperOS'] })).message,
        (await run({ rooted: true })).message,
        (await run({ region: ['china'] })).message,
        (await run({ app: 'com.android.browser' })).message,
      ],
      [
        'runs only on profiles xiaomi-13-hyperos-rooted; this phone is redmi-note-8-leaky',
        'runs only on HyperOS; this phone runs MIUI',
        'runs only on rooted phones; this one is not rooted',
        'runs only in region china; this phone is global',
        'needs com.android.browser, which is not installed on this phone',
      ],
    );
    const ok = await run({ app: 'com.mi.globalbrowser', os: ['MIUI'], region: ['global'] });
    assert.equal(ok.status, 'passed');
    assert.equal((await run({ rooted: true })).status, 'skipped');
  });

  it('assertToggle reads MIUI toggles from their settings keys (§4.3)', async () => {
    const p = new FakePhone();
    p.settings = { upload_log_pref: '0', personalized_ad_enabled: '3' };
    const out = await runScenario(
      scenario([
        step('assertToggle', { name: 'miui.userExperienceProgram', on: false }),
        step('assertToggle', { name: 'miui.diagnosticData', on: false }), // unset: follows UEP
        step('assertToggle', { name: 'miui.personalisedAds', on: false }),
      ]),
      p.session(),
      rep(),
      OPTS,
    );
    assert.equal(out.status, 'failed');
    assert.match(
      out.message!,
      /miui\.personalisedAds is on \(global personalized_ad_enabled=3 \(bit0\)\); expected off/,
    );
    assert.deepEqual(
      out.steps.map((s) => s.status),
      ['passed', 'passed', 'failed'],
    );
  });
});
