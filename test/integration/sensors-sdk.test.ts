/**
 * The decoders against real clients (issue 4, Acceptance): the Sensors Analytics web SDK
 * (sa-sdk-javascript@1.26.17, its npm browser build, in Debian's headless Chromium) and the Node SDK
 * (sa-sdk-node@1.2.6, in this process) send through a block-mode `CaptureSession`, in every HTTP
 * send mode they have, and every planted value is found by the product's decode → detect path at
 * the provenance path it should have. Transport details are checked against
 * sensorsdata-format.md §2–4 (methods, endpoints, Content-Type, Dry-Run, crc).
 *
 * - Web: one Chromium per mode (image, ajax, beacon, batch_send, debug_mode with and without
 *   debug_mode_upload, and the AES plugin), proxied to the session over HTTPS to Xiaomi's collector
 *   name. Each lands on the shop page from a search results page, so the search term reaches the SDK
 *   through the referrer as on a real visit.
 * - Node: submitTo with and without gzip, buffered by count, time and both, the debug and dryRun
 *   modes, and NWConsumer live and replayed from its nedb cache. Its HTTP client (node-fetch@1) has
 *   no proxy option, so `http.globalAgent` sends through the session as an HTTP proxy.
 *
 * Not HTTP, so not here: the web SDK's app bridges (`app_js_bridge`, the jsapp sender) hand events to
 * a native app; the Node SDK's LoggingConsumer writes log files for LogAgent.
 */
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM } from '../support/chromium.ts';
import {
  canary,
  chromiumAvailable,
  describeMissing,
  HttpProxyAgent,
  startRefusingPort,
  launchChromium,
  loadNodeSdk,
  plantStatus,
  pollUntil,
  resetSubmitToGuard,
  startPages,
  startRig,
  useGlobalAgent,
  type Analysed,
  type Browser,
  type Pages,
  type Plant,
  type Rig,
  type SaSubmitter,
  type SensorsAnalyticsNode,
  type SubmitOptions,
} from '../support/sensors-sdk.ts';

const COLLECTOR = 'sa.api.intl.miui.com';
/** How long the clients get to deliver everything; only a failure message depends on it. */
const DEADLINE_MS = 60_000;

const SEARCH_HOST = 'www.sogou.com';
const SHOP_HOST = 'shop.phonehome.test';

interface Status {
  analysed: Analysed[];
}

function statusOf(rig: Rig, plants: Plant[]): Status {
  return {
    analysed: rig.analyse(
      COLLECTOR,
      plants.map((p) => p.value),
    ),
  };
}

/** The exchanges that carried any of `plants` (in any encoding), in arrival order. */
function carriers(status: Status, plants: Plant[]): Analysed[] {
  const set = new Set<Analysed>();
  for (const p of plants) for (const a of plantStatus(p, status.analysed).exchanges) set.add(a);
  return [...set].sort((a, b) => a.exchange.index - b.exchange.index);
}

function assertAllFound(status: Status, plants: Plant[], where: string): void {
  const statuses = plants.map((p) => plantStatus(p, status.analysed));
  const missing = describeMissing(statuses);
  if (missing) assert.fail(`${where}: planted values not found where expected:\n${missing}`);
}

/** Recognised as a Sensors collector, and decoded without limits hit, errors or opaque parts. */
function assertDecodedCleanly(list: Analysed[]): void {
  for (const a of list) {
    const what = `${a.exchange.method} ${a.exchange.url.slice(0, 80)}`;
    assert.equal(a.tracker?.decoder, 'sensors', `${what}: tracker ${JSON.stringify(a.tracker)}`);
    const trouble = a.findings.filter((f) => f.kind === 'limit' || f.kind === 'opaque');
    assert.deepEqual(trouble, [], `${what}: decoder findings`);
  }
}

const urlOf = (a: Analysed): URL => new URL(a.exchange.url);
const header = (a: Analysed, name: string): string | undefined => a.exchange.request.headers[name];

describe('Sensors Analytics SDKs through a capture session (decode → detect)', function () {
  let rig: Rig;

  before(async function () {
    rig = await startRig();
  });

  after(async function () {
    await rig?.stop();
  });

  // -------------------------------------------------------------------------------------------
  describe('web SDK sa-sdk-javascript@1.26.17 in headless Chromium', function () {
    const SERVER_URL = `https://${COLLECTOR}/sa?project=phonehome`;

    interface WebMode {
      name: string;
      /** SDK init options on top of server_url. */
      init: Record<string, unknown>;
      /** Provenance of one event's JSON in this transport. */
      event: string;
      /** Planted values and where they must be found. */
      plants: Plant[];
      /** Planted values that must not be found (encrypted by a plugin, no key given). */
      hidden: Plant[];
      /** A plugin to load and `use` before init. */
      plugin?: { name: string; src: string; options: Record<string, unknown> };
    }

    const mode = (name: string, init: Record<string, unknown>, event: string): WebMode => ({
      name,
      init,
      event,
      plants: [],
      hidden: [],
    });
    const modes: WebMode[] = [
      mode('image', {}, 'query.data › base64 › json'),
      mode('ajax', { send_type: 'ajax' }, 'body › form.data › base64 › json'),
      mode('beacon', { send_type: 'beacon' }, 'body › form.data › base64 › json'),
      mode('batch_send', { batch_send: { send_interval: 1000 } }, 'body › form.data_list › base64 › json[*]'),
      mode('debug_mode', { debug_mode: true }, 'query.data › base64 › json'),
      mode('debug_mode_upload', { debug_mode: true, debug_mode_upload: true }, 'query.data › base64 › json'),
      // The AES plugin (dist/web/plugin/aes-encryption): data = URL-encoded cleartext JSON envelope
      // {key_id, key_hash, nc, payload} with gzip=9; the events are inside `payload` (§3.6).
      mode('aes_encryption', {}, 'query.data › json'),
    ];
    const byName = (n: string): WebMode => modes.find((m) => m.name === n)!;
    /** Events the page sends: $pageview, profile_set_once, product_view, profile_set, $SignUp, $BindID, checkout. */
    const PAGE_EVENTS = 7;

    let pages: Pages | undefined;
    const browsers: Browser[] = [];
    let status: Status = { analysed: [] };

    before(async function () {
      if (!chromiumAvailable()) {
        // CI installs Debian's chromium; only a machine without it skips.
        console.log(`      (skipped: ${CHROMIUM} is not installed)`);
        this.skip();
      }
      this.timeout(DEADLINE_MS + 30_000);
      pages = await startPages();
      const port = pages.port;
      for (const m of modes) {
        const [search, visit, key, value, profile, login, email] = Array.from({ length: 7 }, canary);
        const e = m.event;
        const plants: Plant[] = [
          {
            label: `[${m.name}] search term`,
            value: search!,
            paths: [
              `${e}.properties.$latest_search_keyword`,
              `${e}.properties.$referrer › query.query`,
              `${e}.properties.$first_search_keyword`,
            ],
          },
          { label: `[${m.name}] visited URL`, value: visit!, paths: [`${e}.properties.$url › query.visit`] },
          { label: `[${m.name}] property value`, value: value!, paths: [`${e}.properties.product`] },
          { label: `[${m.name}] property key`, value: key!, paths: [`${e}.properties.${key}`] },
          { label: `[${m.name}] profile (setProfile)`, value: profile!, paths: [`${e}.properties.email`] },
          {
            label: `[${m.name}] login id (login)`,
            value: login!,
            paths: [`${e}.login_id`, `${e}.distinct_id`, `${e}.identities.$identity_login_id`],
          },
          { label: `[${m.name}] email (bind)`, value: email!, paths: [`${e}.identities.$identity_email`] },
        ];
        if (m.name === 'aes_encryption') {
          const khash = canary();
          m.plugin = {
            name: 'AesEncryption',
            src: '/plugin/aes-encryption.js',
            options: { k: randomBytes(16).toString('base64'), kid: 7, khash },
          };
          m.hidden = plants;
          m.plants = [
            { label: `[${m.name}] key hash (cleartext envelope)`, value: khash, paths: [`${e}.key_hash`] },
          ];
        } else m.plants = plants;
        pages.plans.set(m.name, {
          init: { server_url: SERVER_URL, show_log: false, ...m.init },
          ...(m.plugin ? { plugin: m.plugin } : {}),
          value,
          key,
          profile,
          login,
          email,
        });
        const shop = `http://${SHOP_HOST}:${port}/shop?mode=${m.name}&visit=${visit}`;
        const url = `http://${SEARCH_HOST}:${port}/web?query=${search}&next=${encodeURIComponent(shop)}`;
        browsers.push(
          launchChromium({
            url,
            proxyPort: rig.session.port,
            spkiFingerprint: rig.ca.spkiFingerprint,
            localHosts: [SEARCH_HOST, SHOP_HOST],
          }),
        );
      }
      const plants = modes.flatMap((m) => [...m.plants, ...m.hidden]);
      const aes = byName('aes_encryption').plants[0]!;
      const complete = (): boolean => {
        status = statusOf(rig, plants);
        return (
          modes.every((m) => m.plants.every((p) => plantStatus(p, status.analysed).missing.length === 0)) &&
          plantStatus(aes, status.analysed).exchanges.length >= PAGE_EVENTS &&
          // A debug-mode CORS preflight carries the same query as its GET and arrives first: wait
          // for the GET itself too.
          (['debug_mode', 'debug_mode_upload'] as const).every((n) =>
            carriers(status, byName(n).plants).some((a) => a.exchange.method === 'GET'),
          )
        );
      };
      const done = await pollUntil(complete, DEADLINE_MS, 250);
      if (!done) {
        // Each mode's test reports what it is missing; this adds what the browsers said.
        for (const [i, b] of browsers.entries())
          if (b.log.length)
            console.log(`      chromium (${modes[i]!.name}):\n        ${b.log.join('\n        ')}`);
        console.log(`      pages served:\n        ${pages.served.join('\n        ')}`);
      }
    });

    after(async function () {
      for (const b of browsers) b.kill();
      await pages?.close();
    });

    it('image (default send_type): GET /sa.gif?project=…&data=…&ext=crc%3D…, crc valid', function () {
      const m = byName('image');
      assertAllFound(status, m.plants, m.name);
      const list = carriers(status, m.plants);
      for (const a of list) {
        assert.equal(a.exchange.method, 'GET');
        assert.equal(urlOf(a).pathname, '/sa.gif');
        assert.equal(urlOf(a).searchParams.get('project'), 'phonehome');
        assert.match(urlOf(a).searchParams.get('ext') ?? '', /^crc=-?\d+$/);
        assert.equal(a.exchange.request.body.length, 0);
        assert.deepEqual(
          a.sensors.map((s) => [s.field, s.crcValid, s.events]),
          [['data', true, 1]],
        );
      }
      assertDecodedCleanly(list);
    });

    it('ajax: POST /sa.gif, form body data=…&ext=crc%3D… under application/x-www-form-urlencoded', function () {
      const m = byName('ajax');
      assertAllFound(status, m.plants, m.name);
      const list = carriers(status, m.plants);
      for (const a of list) {
        assert.equal(a.exchange.method, 'POST');
        assert.equal(urlOf(a).pathname, '/sa.gif');
        assert.equal(urlOf(a).search, '?project=phonehome');
        assert.equal(header(a, 'content-type'), 'application/x-www-form-urlencoded');
        assert.match(a.exchange.request.body.toString('latin1'), /^data=[^&]+&ext=crc%3D-?\d+$/);
        assert.deepEqual(
          a.sensors.map((s) => [s.field, s.crcValid, s.events]),
          [['data', true, 1]],
        );
      }
      assertDecodedCleanly(list);
    });

    it('beacon: POST /sa.gif with the form body under text/plain;charset=UTF-8', function () {
      const m = byName('beacon');
      assertAllFound(status, m.plants, m.name);
      const list = carriers(status, m.plants);
      for (const a of list) {
        assert.equal(a.exchange.method, 'POST');
        assert.equal(urlOf(a).pathname, '/sa.gif');
        assert.equal(header(a, 'content-type'), 'text/plain;charset=UTF-8');
        assert.match(a.exchange.request.body.toString('latin1'), /^data=[^&]+&ext=crc%3D-?\d+$/);
        assert.deepEqual(
          a.sensors.map((s) => [s.field, s.crcValid, s.events]),
          [['data', true, 1]],
        );
      }
      assertDecodedCleanly(list);
    });

    it('batch_send: POST /sa.gif with data_list=<base64 JSON array>, no crc, several events per POST', function () {
      const m = byName('batch_send');
      assertAllFound(status, m.plants, m.name);
      const list = carriers(status, m.plants);
      for (const a of list) {
        assert.equal(a.exchange.method, 'POST');
        assert.equal(urlOf(a).pathname, '/sa.gif');
        assert.match(header(a, 'content-type') ?? '', /^application\/x-www-form-urlencoded/);
        assert.match(a.exchange.request.body.toString('latin1'), /^data_list=W3s[^&]*$/);
        assert.equal(a.sensors.length, 1);
        assert.equal(a.sensors[0]!.field, 'data_list');
        assert.equal(a.sensors[0]!.crc, undefined, 'web batches carry no crc');
      }
      const sizes = list.map((a) => Number(a.sensors[0]!.events));
      assert.ok(
        sizes.some((n) => n > 1),
        `expected a batch of several events, got sizes ${sizes.join(',')}`,
      );
      assertDecodedCleanly(list);
    });

    for (const [name, dryRun] of [
      ['debug_mode', 'false'],
      ['debug_mode_upload', 'true'],
    ] as const) {
      it(`${name}: CORS preflight, then GET /debug?…&data=… with Dry-Run: ${dryRun}, crc valid`, function () {
        const m = byName(name);
        assertAllFound(status, m.plants, m.name);
        const list = carriers(status, m.plants);
        const gets = list.filter((a) => a.exchange.method === 'GET');
        const preflights = list.filter((a) => a.exchange.method === 'OPTIONS');
        assert.deepEqual(
          [...new Set(list.map((a) => a.exchange.method))].sort(),
          ['GET', 'OPTIONS'],
          'only preflights and GETs',
        );
        for (const a of preflights)
          assert.match(header(a, 'access-control-request-headers') ?? '', /(^|,\s*)dry-run(,|$)/i);
        for (const a of gets) {
          assert.equal(urlOf(a).pathname, '/debug');
          assert.equal(urlOf(a).searchParams.get('project'), 'phonehome');
          assert.equal(header(a, 'dry-run'), dryRun);
          assert.deepEqual(
            a.sensors.map((s) => [s.field, s.crcValid, s.events]),
            [['data', true, 1]],
          );
        }
        assertDecodedCleanly(list);
      });
    }

    it('aes_encryption plugin: gzip=9 envelope reported opaque, key_hash in clear, planted values hidden', function () {
      const m = byName('aes_encryption');
      assertAllFound(status, m.plants, m.name);
      const list = carriers(status, m.plants);
      assert.ok(list.length >= PAGE_EVENTS, `${list.length} encrypted requests, expected ${PAGE_EVENTS}`);
      for (const a of list) {
        assert.equal(a.exchange.method, 'GET');
        assert.equal(urlOf(a).pathname, '/sa.gif');
        assert.equal(urlOf(a).searchParams.get('gzip'), '9');
        assert.deepEqual(
          a.sensors.map((s) => [s.field, s.gzip, s.crcValid, s.encrypted]),
          [['data', '9', true, true]],
        );
        assert.equal(a.tracker?.decoder, 'sensors');
        assert.ok(
          a.findings.some((f) => f.kind === 'opaque' && f.path === 'query.data › sensors'),
          `no opaque finding: ${JSON.stringify(a.findings.filter((f) => f.kind !== 'canary'))}`,
        );
      }
      // Without the key the events stay encrypted: none of the values planted in them shows, in any form.
      for (const p of m.hidden)
        assert.deepEqual(plantStatus(p, status.analysed).exchanges, [], `${p.label} visible`);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('Node SDK sa-sdk-node@1.2.6', function () {
    const SERVER_URL = `http://${COLLECTOR}/sa?project=phonehome`;
    const SensorsAnalytics = loadNodeSdk();

    interface NodeMode {
      name: string;
      /** Body path of the JSON array. */
      json: string;
      /** Array index of the track, profile_set and $SignUp event in their POST (`*`: not fixed). */
      index: [string, string, string];
      endpoint: '/sa' | '/debug';
      dryRun: boolean;
      gzip: boolean;
      /** Events per POST when fixed. */
      batch?: number;
      plants: Plant[];
    }

    const GZ = 'body › form.data_list › base64 › gzip › json';
    const RAW = 'body › form.data_list › base64 › json';
    const one: [string, string, string] = ['0', '0', '0'];
    const any: [string, string, string] = ['*', '*', '*'];
    const base = { endpoint: '/sa', dryRun: false, gzip: true } as const;
    const modes: NodeMode[] = [
      { ...base, name: 'submitTo (gzip)', json: GZ, index: one, batch: 1, plants: [] },
      { ...base, name: 'submitTo gzip:false', json: RAW, index: one, batch: 1, gzip: false, plants: [] },
      { ...base, name: 'buffered {count: 3}', json: GZ, index: ['0', '1', '2'], batch: 3, plants: [] },
      { ...base, name: 'buffered {timeSpan: 300}', json: GZ, index: any, plants: [] },
      { ...base, name: 'buffered {count: 50, timeSpan: 300}', json: GZ, index: any, plants: [] },
      { ...base, name: "mode 'debug'", json: GZ, index: one, batch: 1, endpoint: '/debug', plants: [] },
      {
        ...base,
        name: "mode 'dryRun'",
        json: GZ,
        index: one,
        batch: 1,
        endpoint: '/debug',
        dryRun: true,
        plants: [],
      },
      { ...base, name: 'NWConsumer (live)', json: GZ, index: one, batch: 1, plants: [] },
      { ...base, name: 'NWConsumer (replayed from its cache)', json: GZ, index: one, batch: 1, plants: [] },
    ];
    const byName = (n: string): NodeMode => modes.find((m) => m.name === n)!;

    const instances: SensorsAnalyticsNode[] = [];
    const errors: string[] = [];
    let restoreAgent: (() => void) | undefined;
    let cacheDir: string | undefined;
    let cacheFile = '';
    let refusing: { port: number; close(): Promise<void> } | undefined;
    let status: Status = { analysed: [] };

    /** One track, one profile_set and one $SignUp, each carrying fresh canaries. */
    function plantAndSend(sa: SensorsAnalyticsNode, m: NodeMode): void {
      const anon = `anon-${canary()}`;
      const [value, key, profile, login] = [canary(), canary(), canary(), canary()];
      const [t, p, s] = m.index;
      m.plants = [
        { label: `[${m.name}] property value`, value, paths: [`${m.json}[${t}].properties.product`] },
        { label: `[${m.name}] property key`, value: key, paths: [`${m.json}[${t}].properties.${key}`] },
        {
          label: `[${m.name}] profile (profileSet)`,
          value: profile,
          paths: [`${m.json}[${p}].properties.email`],
        },
        { label: `[${m.name}] login id (trackSignup)`, value: login, paths: [`${m.json}[${s}].distinct_id`] },
      ];
      sa.track(anon, 'product_view', { product: value, [key]: 'planted key' });
      sa.profileSet(anon, { email: profile });
      sa.trackSignup(login, anon);
    }

    function watch(name: string, submitter: SaSubmitter | undefined): void {
      assert.ok(submitter, `${name}: submitTo returned no submitter`);
      submitter.catch((err) => errors.push(`${name}: ${err instanceof Error ? err.message : String(err)}`));
    }

    before(async function () {
      this.timeout(DEADLINE_MS + 30_000);
      // node-fetch@1 (the SDK's client) takes no proxy option: it uses http.globalAgent.
      // First the proxy is unreachable (connections reset), later the capture session.
      refusing = await startRefusingPort();
      const agent = new HttpProxyAgent(refusing.port);
      restoreAgent = useGlobalAgent(agent);

      // NWConsumer: what it cannot deliver goes to its nedb cache (<cachePath>/salog.db), which it
      // retries every 2 s. Send while the proxy is unreachable, then bring it up.
      cacheDir = mkdtempSync(join(tmpdir(), 'phonehome-sa-node-cache-'));
      const nw = new SensorsAnalytics();
      instances.push(nw);
      watch('NWConsumer', nw.initNWConsumer({ url: SERVER_URL, cachePath: cacheDir }));
      const replayed = byName('NWConsumer (replayed from its cache)');
      plantAndSend(nw, replayed);
      cacheFile = join(cacheDir, 'salog.db');
      const cached = await pollUntil(() => {
        try {
          const text = readFileSync(cacheFile, 'utf8');
          return replayed.plants.every((p) => text.includes(p.value));
        } catch {
          return false;
        }
      }, 10_000);
      assert.ok(cached, `NWConsumer did not cache its undelivered events in ${cacheFile}`);
      await refusing.close();
      agent.port = rig.session.port; // the proxy is reachable from now on
      plantAndSend(nw, byName('NWConsumer (live)'));

      const submit = (
        m: NodeMode,
        opts: Partial<SubmitOptions>,
        batch?: { count?: number; timeSpan?: number },
      ) => {
        const sa = new SensorsAnalytics();
        instances.push(sa);
        const restoreGuard = resetSubmitToGuard();
        try {
          watch(m.name, sa.submitTo({ url: SERVER_URL, ...opts }, batch));
        } finally {
          restoreGuard();
        }
        plantAndSend(sa, m);
      };
      submit(byName('submitTo (gzip)'), {});
      submit(byName('submitTo gzip:false'), { gzip: false });
      submit(byName('buffered {count: 3}'), {}, { count: 3 });
      submit(byName('buffered {timeSpan: 300}'), {}, { timeSpan: 300 });
      submit(byName('buffered {count: 50, timeSpan: 300}'), {}, { count: 50, timeSpan: 300 });
      submit(byName("mode 'debug'"), { mode: 'debug' });
      submit(byName("mode 'dryRun'"), { mode: 'dryRun' });

      const plants = modes.flatMap((m) => m.plants);
      await pollUntil(() => {
        status = statusOf(rig, plants);
        return plants.every((p) => plantStatus(p, status.analysed).missing.length === 0);
      }, DEADLINE_MS);
    });

    /** nedb appends a `$$deleted` line when NWConsumer drops an event it delivered from its cache. */
    const cacheDeletions = (): number => {
      try {
        return readFileSync(cacheFile, 'utf8').split('"$$deleted":true').length - 1;
      } catch {
        return 0;
      }
    };

    after(async function () {
      // Ends the Rx buffering timers; instances without buffers just complete.
      for (const sa of instances) sa.onCompleted();
      restoreAgent?.();
      await refusing?.close();
      // Let nedb finish writing before its directory goes.
      if (cacheFile) await pollUntil(() => cacheDeletions() >= 3, 5000);
      if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
    });

    for (const m of modes) {
      const what =
        `POST ${m.endpoint}?project=phonehome, data_list=<base64${m.gzip ? ' gzip' : ''} JSON array>&gzip=${m.gzip ? 1 : 0}` +
        (m.dryRun ? ', Dry-Run: true' : '') +
        (m.batch ? `, ${m.batch} event(s) per POST` : '');
      it(`${m.name}: ${what}`, function () {
        assertAllFound(status, m.plants, m.name);
        assert.deepEqual(errors, [], 'the SDK reported delivery errors');
        const list = carriers(status, m.plants);
        for (const a of list) {
          const x = a.exchange;
          assert.equal(x.method, 'POST');
          assert.equal(x.url, `http://${COLLECTOR}${m.endpoint}?project=phonehome`);
          assert.equal(header(a, 'content-type'), 'application/x-www-form-urlencoded');
          assert.equal(header(a, 'user-agent'), 'SensorsAnalytics Node SDK');
          assert.equal(header(a, 'dry-run'), m.dryRun ? 'true' : undefined);
          assert.match(
            x.request.body.toString('latin1'),
            new RegExp(`^data_list=[^&]+&gzip=${m.gzip ? 1 : 0}$`),
          );
          assert.equal(a.sensors.length, 1);
          const s = a.sensors[0]!;
          assert.equal(s.field, 'data_list');
          assert.equal(s.gzip, m.gzip ? '1' : '0');
          assert.equal(s.crc, undefined, 'the Node SDK sends no crc');
          if (m.batch) assert.equal(s.events, m.batch);
        }
        if (m.name.startsWith('buffered'))
          assert.ok(
            list.some((a) => Number(a.sensors[0]!.events) > 1),
            `expected several events in one POST, got ${list.map((a) => a.sensors[0]!.events).join(',')}`,
          );
        assertDecodedCleanly(list);
      });
    }
  });
});
