import assert from 'node:assert/strict';
import { parseCatalogue } from '../../../src/detect/index.ts';
import { PROBE_HOST, runScenario } from '../../../src/scenario/executor.ts';
import { exchange, FakePhone, OPTS, rep, scenario, step, visit } from './fake-phone.ts';

/** Regressions: a false `passed` when one check's wait was taken for another's (found in review). */
describe('runScenario: each negative check gets its own trailing window', () => {
  it('a second negative check right after another waits for its own, longer trailing window', async () => {
    const catalogue = parseCatalogue(
      {
        defaults: {
          upload: { delayMs: 1500, persistentQueue: false, flushOnBackground: true, source: 'default' },
        },
        trackers: [
          {
            id: 'fast',
            vendor: 'V',
            category: 'analytics',
            decoder: null,
            hosts: ['fast.example.org'],
            source: 's',
            upload: { delayMs: 0, persistentQueue: false, flushOnBackground: true, source: 'fast' },
          },
        ],
      },
      'mem.json',
    );
    const p = new FakePhone();
    p.onUrl = (url) => {
      p.send(exchange(url));
      if (!url.includes(PROBE_HOST))
        setTimeout(
          () => p.send(exchange('https://t.browser.miui.com/v1/stat', JSON.stringify({ url }))),
          2600,
        );
    };
    const r = rep();
    const out = await runScenario(
      scenario([
        ...visit,
        step('assertNoUpload', { to: 'tracker', value: 'fast', containing: 'canary' }),
        step('assertNoUpload', { containing: 'canary' }), // window: 1500 + 2000 = 3500 ms from the canary
      ]),
      p.session(),
      r,
      { ...OPTS, maxTrailingMs: 10_000, catalogue },
    );
    console.log(r.lines.filter((l) => l.startsWith('waiting')).join('\n'));
    assert.equal(out.status, 'failed', `${out.status}: ${out.message}`);
  });

  it('a positive check that saw its upload early does not spare the next negative check its relaunch and window', async () => {
    const BROWSER = 'com.mi.globalbrowser';
    const p = new FakePhone();
    const queued: string[] = [];
    let stopped = false;
    p.onUrl = (url) => {
      p.send(exchange(url));
      if (url.includes(PROBE_HOST)) return;
      queued.push(url);
      // A second channel, to an unlisted Xiaomi host, flushes by itself 1500 ms later.
      setTimeout(() => p.send(exchange('https://t.browser.miui.com/v1/stat', JSON.stringify({ url }))), 1500);
    };
    p.onShell = (argv) => {
      if (argv.join(' ') === `am force-stop ${BROWSER}`) stopped = true;
    };
    p.onStart = (c) => {
      if (stopped && c.startsWith(`${BROWSER}/`))
        for (const url of queued.splice(0))
          p.send(
            exchange('https://sa.api.intl.miui.com/sa?project=x', JSON.stringify({ properties: { url } })),
          );
    };
    const r = rep();
    const out = await runScenario(
      scenario([
        ...visit,
        step('assertUpload', { to: 'tracker', value: 'miui-sensors', containing: 'canary', id: 'q' }),
        // default upload timing (15 s) → window capped at maxTrailingMs = 3000 ms from the canary
        step('assertNoUpload', { to: 'host', value: 't.browser.miui.com', containing: 'canary' }),
      ]),
      p.session(),
      r,
      { ...OPTS, maxTrailingMs: 3000 },
    );
    console.log(r.lines.filter((l) => /^(waiting|relaunching|passed|failed)/.test(l)).join('\n'));
    assert.equal(out.status, 'failed', `${out.status}: ${out.message}`);
  });
});
