/**
 * The capture assertions on their own (src/scenario/assertions.ts), over hand-made Observed records:
 * the scope of a check (any third party, vendor, tracker, host), what makes a negative check `failed`
 * or `broken` (opaque, limit and TLS records in scope, with the canary cutoff), and what a positive
 * check proves for controls. No executor, no capture: the executor's part (probe, bypass, waiting,
 * controls) is in executor.test.ts.
 */
import assert from 'node:assert/strict';
import type { CaptureRecord } from '../../../src/capture/exchange.ts';
import { loadCatalogue, parseCatalogue, type Finding } from '../../../src/detect/index.ts';
import {
  checkNoRequest,
  checkNoUpload,
  checkUpload,
  toDestination,
  type CheckContext,
  type UploadArgs,
} from '../../../src/scenario/assertions.ts';
import type { Observed } from '../../../src/scenario/evidence.ts';

const CANARY = 'phunitrunurl0123456789';
const T0 = 1_700_000_000_000;
const cat = loadCatalogue();

let seq = 0;

interface Opts {
  at?: number;
  findings?: Finding[];
  probe?: boolean;
  body?: string;
  /** Age of the newest and oldest event when the upload was sent (InspectedExchange.eventAges). */
  ages?: [number, number];
}

/** An exchange to `url`, as Evidence would hold it: tracker from the shipped catalogue. */
function ex(url: string, o: Opts = {}): Observed {
  const u = new URL(url);
  const body = o.body ?? 'x'.repeat(10);
  const record: CaptureRecord = {
    type: 'exchange',
    index: seq,
    startedAt: new Date(o.at ?? T0).toISOString(),
    method: 'POST',
    url,
    host: u.hostname,
    httpVersion: '1.1',
    request: { headers: {}, body: Buffer.from(body), bodySize: body.length, truncated: false },
    response: { status: 200, headers: {}, bodySize: 0, source: 'local' },
    tls: { sni: u.hostname },
  };
  return {
    seq: seq++,
    at: o.at ?? T0 + 1000,
    record,
    inspected: {
      index: record.index,
      method: 'POST',
      url,
      host: u.hostname,
      tracker: cat.match(u.hostname, u.pathname + u.search),
      layers: [],
      findings: o.findings ?? [],
      ...(o.ages
        ? {
            eventAges: {
              events: 3,
              paths: [0, 1, 2].map((i) => `body › form.value › base64url › miui-envelope.B[${i}]`),
              youngestMs: o.ages[0],
              oldestMs: o.ages[1],
            },
          }
        : {}),
    },
    probe: o.probe ?? false,
    duringProbe: false,
  };
}

function tls(host: string, at = T0 + 1000): Observed {
  const record: CaptureRecord = {
    type: 'tls-failure',
    index: seq,
    startedAt: new Date(at).toISOString(),
    host,
    cause: 'cert-rejected',
  };
  return {
    seq: seq++,
    at,
    record,
    inspected: { index: record.index, method: '', url: '', host, tracker: null, layers: [], findings: [] },
    probe: false,
    duringProbe: false,
  };
}

const canary = (path = 'body › json.properties.url'): Finding => ({
  kind: 'canary',
  value: CANARY,
  path,
  encoding: 'plain',
});
const androidId = (): Finding => ({
  kind: 'identifier',
  name: 'android_id',
  value: 'a1b2c3d4e5f60718',
  path: 'body › json.distinct_id',
  encoding: 'plain',
});
const opaque = (path: string, detail: string): Finding => ({
  kind: 'opaque',
  value: detail,
  path,
  encoding: 'n/a',
  detail,
});
const limit = (path: string): Finding => ({
  kind: 'limit',
  value: 'gzip stream longer than 1048576 bytes',
  path,
  encoding: 'n/a',
  detail: 'gzip stream longer than 1048576 bytes',
});

/** A check context: canary `url` planted at T0 (unless `planted` says otherwise). */
function ctx(over: Partial<CheckContext> = {}): CheckContext {
  return {
    catalogue: cat,
    canaries: { url: CANARY },
    caMethod: 'system-tmpfs',
    coverage: 'apps that trust system CAs',
    addressed: ['phonehome-liveness.invalid', 'news.example.com', '*.google.com'],
    plantedAt: new Map([[CANARY, T0]]),
    ...over,
  };
}

const anyThirdParty: UploadArgs = { containing: 'canary' };

describe('capture assertions (assertions.ts)', () => {
  describe('scope: any third party (no `to`)', () => {
    it('leaves out the hosts the scenario addressed and the liveness probe', () => {
      const records = [
        ex(`https://news.example.com/story/${CANARY}`, { findings: [canary('url')] }),
        ex(`https://www.google.com/search?q=${CANARY}`, { findings: [canary('url')] }),
        ex(`https://google.com/complete?q=${CANARY}`, { findings: [canary('url')] }),
        ex('http://phonehome-liveness.invalid/p', { findings: [canary()], probe: true }),
      ];
      const r = checkNoUpload(anyThirdParty, records, ctx());
      assert.equal(r.status, 'passed', r.message);
      assert.match(r.message, /no upload to any third party carried a canary of this run/);
      // The browser reporting the probe page to its tracker is the probe's too, whatever the host.
      const report = ex('https://sa.api.intl.miui.com/sa?project=x', { probe: true });
      assert.equal(checkNoUpload({ to: 'tracker', containing: 'any' }, [report], ctx()).status, 'passed');
      assert.equal(checkUpload({ to: 'tracker', containing: 'any' }, [report], ctx()).status, 'failed');
    });

    it('takes in hosts no catalogue entry lists: a canary at t.browser.miui.com fails, naming the host and its vendor', () => {
      const r = checkNoUpload(
        anyThirdParty,
        [ex('https://t.browser.miui.com/v1/stat', { findings: [canary()] })],
        ctx(),
      );
      assert.equal(r.status, 'failed', r.message);
      assert.match(r.message, /^any third party received a canary of this run: 1 upload\(s\)/);
      assert.match(
        r.message,
        /POST https:\/\/t\.browser\.miui\.com\/v1\/stat \(host t\.browser\.miui\.com, path \/v1\/stat\) \[no catalogue entry; a Xiaomi domain\]: canary url=phunitrunurl0123456789 at body › json\.properties\.url \(plain\)/,
      );
      const other = checkNoUpload(
        anyThirdParty,
        [ex('https://cdn.example.net/c', { findings: [canary()] })],
        ctx(),
      );
      assert.equal(other.status, 'failed');
      assert.match(other.message, /\(host cdn\.example\.net, path \/c\) \[no catalogue entry\]: canary/);
    });

    it('is narrower with `to`: a tracker check does not see the unlisted Xiaomi host', () => {
      const r = checkNoUpload(
        { to: 'tracker', containing: 'canary' },
        [ex('https://t.browser.miui.com/v1/stat', { findings: [canary()] })],
        ctx(),
      );
      assert.equal(r.status, 'passed', r.message);
    });
  });

  describe('scope: to vendor, tracker, host', () => {
    it("`to: vendor Xiaomi` covers hosts under the vendor's domains through the catalogue's vendors", () => {
      const stat = ex('https://t.browser.miui.com/v1/stat');
      assert.equal(toDestination(stat, { to: 'vendor', value: 'Xiaomi' }, cat), true);
      assert.equal(toDestination(stat, { to: 'vendor', value: 'xiaomi' }, cat), true, 'any case');
      assert.equal(toDestination(stat, { to: 'vendor', value: 'Sensors Data' }, cat), false);
      assert.equal(toDestination(ex('https://notmiui.com/x'), { to: 'vendor', value: 'Xiaomi' }, cat), false);
      assert.equal(
        toDestination(
          ex('https://static.sensorsdata.cn/sa.gif'),
          { to: 'vendor', value: 'Sensors Data' },
          cat,
        ),
        true,
      );
      const r = checkNoUpload(
        { to: 'vendor', value: 'Xiaomi', containing: 'canary' },
        [ex('https://t.browser.miui.com/v1/stat', { findings: [canary()] })],
        ctx(),
      );
      assert.equal(r.status, 'failed');
      assert.match(r.message, /^vendor Xiaomi received a canary of this run/);
      // A catalogue without vendors knows the host only through its entries.
      const bare = parseCatalogue({ trackers: [] }, 'mem.json');
      assert.equal(toDestination(stat, { to: 'vendor', value: 'Xiaomi' }, bare), false);
    });

    it('`to: tracker` with and without a value, `to: host` with `*.suffix` covering the suffix', () => {
      const sa = ex('https://sa.api.intl.miui.com/sa?project=x');
      assert.equal(toDestination(sa, { to: 'tracker' }, cat), true);
      assert.equal(toDestination(sa, { to: 'tracker', value: 'miui-sensors' }, cat), true);
      assert.equal(toDestination(sa, { to: 'tracker', value: 'miui-analytics' }, cat), false);
      assert.equal(toDestination(ex('https://miui.com/x'), { to: 'host', value: '*.miui.com' }, cat), true);
      assert.equal(
        toDestination(ex('https://a.b.miui.com/x'), { to: 'host', value: '*.miui.com' }, cat),
        true,
      );
      assert.equal(
        toDestination(ex('https://notmiui.com/x'), { to: 'host', value: '*.miui.com' }, cat),
        false,
      );
      assert.equal(toDestination(sa, {}, cat, ['*.miui.com']), false, 'addressed: not a third party');
      assert.equal(toDestination(sa, {}, cat, ['news.example.com']), true);
    });
  });

  describe('assertNoUpload: readable, or broken', () => {
    it('an opaque MiStat payload in scope is broken, naming host, provenance path and `--key mistat=HEX`', () => {
      const r = checkNoUpload(
        anyThirdParty,
        [
          ex('https://data.mistat.intl.xiaomi.com/mistats/v3', {
            findings: [
              opaque('body › form.p › mistat', 'MiStat payload (344 chars): AES with a session key'),
            ],
          }),
        ],
        ctx(),
      );
      assert.equal(r.status, 'broken', r.message);
      assert.match(
        r.message,
        /^cannot prove that any third party received no canary of this run: 1 upload\(s\) in scope could not be decoded to the end/,
      );
      assert.match(
        r.message,
        /host data\.mistat\.intl\.xiaomi\.com, path \/mistats\/v3\) \[mistat-upload\]: opaque at body › form\.p › mistat: MiStat payload/,
      );
      assert.match(
        r.message,
        /Fix: give the decryption key to phonehome run \/ inspect \(--key mistat=HEX\), or judge these hosts by host instead/,
      );
    });

    it('an encrypted Sensors payload asks for `--key sensors=HEX`; any other opaque part for `--key HOST=HEX`', () => {
      const sensors = checkNoUpload(
        { to: 'tracker', containing: 'canary' },
        [
          ex('https://sa.api.intl.miui.com/sa?project=x', {
            findings: [opaque('body › form.data › json', 'encrypted Sensors payload (ekey present); no key')],
          }),
        ],
        ctx(),
      );
      assert.equal(sensors.status, 'broken');
      assert.match(sensors.message, /\(--key sensors=HEX \(or --key sa\.api\.intl\.miui\.com=HEX\)\)/);
      const other = checkNoUpload(
        anyThirdParty,
        [
          ex('https://t.browser.miui.com/v1/stat', {
            findings: [opaque('body › opaque', '512 bytes of binary data')],
          }),
        ],
        ctx(),
      );
      assert.equal(other.status, 'broken');
      assert.match(other.message, /opaque at body › opaque: 512 bytes of binary data/);
      assert.match(other.message, /\(--key t\.browser\.miui\.com=HEX\)/);
    });

    it('a payload cut short (limit) is broken too, with the decoder limits as the fix', () => {
      const r = checkNoUpload(
        { to: 'tracker', containing: 'identifier' },
        [ex('https://tracking.intl.miui.com/track/v4', { findings: [limit('body › gzip')] })],
        ctx(),
      );
      assert.equal(r.status, 'broken', r.message);
      assert.match(r.message, /limit at body › gzip: gzip stream longer than/);
      assert.match(r.message, /Fix: raise the decoder limits or shorten the scenario/);
    });

    it('for canary checks, an opaque record from before the first canary was planted does not count; one after does', () => {
      const before = ex('https://t.browser.miui.com/v1/stat', {
        at: T0 - 1,
        findings: [opaque('body › opaque', '64 bytes of binary data')],
      });
      const r = checkNoUpload(anyThirdParty, [before], ctx());
      assert.equal(r.status, 'passed', r.message);
      assert.match(r.message, /1 record\(s\) from before the first canary was used cannot hold one/);
      const atOrAfter = ex('https://t.browser.miui.com/v1/stat', {
        at: T0,
        findings: [opaque('body › opaque', '64 bytes of binary data')],
      });
      assert.equal(checkNoUpload(anyThirdParty, [before, atOrAfter], ctx()).status, 'broken');
      // Several canaries: the first one planted sets the cutoff.
      const two = ctx({
        canaries: { url: CANARY, search: 'phunitrunsearch99' },
        plantedAt: new Map([
          ['phunitrunsearch99', T0 + 5000],
          [CANARY, T0],
        ]),
      });
      assert.equal(checkNoUpload(anyThirdParty, [atOrAfter], two).status, 'broken');
      // Identifiers are not fresh: an opaque record counts whenever it came.
      assert.equal(checkNoUpload({ containing: 'identifier' }, [before], ctx()).status, 'broken');
    });

    it('a canary check with no canary planted yet is broken (nothing whose absence it could prove)', () => {
      const r = checkNoUpload(anyThirdParty, [], ctx({ plantedAt: new Map() }));
      assert.equal(r.status, 'broken');
      assert.match(r.message, /no step of the scenario used a canary of this run before this check/);
      assert.match(r.message, /Fix: put \$\{canary\.NAME\} into a step/);
    });

    it('`containing: any` ignores opaque parts: any upload in scope fails', () => {
      const r = checkNoUpload(
        { to: 'host', value: '*.xiaomi.com', containing: 'any' },
        [
          ex('https://data.mistat.intl.xiaomi.com/mistats/v3', {
            findings: [opaque('body › form.p › mistat', 'MiStat payload (8 chars): AES with a session key')],
          }),
        ],
        ctx(),
      );
      assert.equal(r.status, 'failed', r.message);
      assert.match(r.message, /^host \*\.xiaomi\.com received anything: 1 upload\(s\)/);
    });

    it('a visible leak wins over an opaque record (failed, not broken)', () => {
      const r = checkNoUpload(
        anyThirdParty,
        [
          ex('https://data.mistat.intl.xiaomi.com/mistats/v3', {
            findings: [opaque('body › form.p › mistat', 'MiStat payload (8 chars): AES with a session key')],
          }),
          tls('sa.api.intl.miui.com'),
          ex('https://sa.api.intl.miui.com/sa?project=x', { findings: [canary()] }),
        ],
        ctx(),
      );
      assert.equal(r.status, 'failed', r.message);
      assert.match(r.message, /\[miui-sensors\]: canary url=/);
    });

    it('identifier checks fail on the identifier, naming it and where it was found', () => {
      const r = checkNoUpload(
        { to: 'tracker', containing: 'identifier', identifier: 'android_id' },
        [ex('https://sa.api.intl.miui.com/sa', { findings: [androidId()] })],
        ctx(),
      );
      assert.equal(r.status, 'failed');
      assert.match(r.message, /android_id=a1b2c3d4e5f60718 at body › json\.distinct_id \(plain\)/);
      const other = checkNoUpload(
        { to: 'tracker', containing: 'identifier', identifier: 'ad_id' },
        [ex('https://sa.api.intl.miui.com/sa', { findings: [androidId()] })],
        ctx(),
      );
      assert.equal(other.status, 'passed', 'only the identifier asked for');
    });

    it('TLS failures: before the canary cutoff they cannot hold one, after it they make a canary check broken', () => {
      const early = tls('sa.api.intl.miui.com', T0 - 10);
      const late = tls('sa.api.intl.miui.com', T0 + 10);
      assert.equal(checkNoUpload(anyThirdParty, [early], ctx()).status, 'passed');
      const r = checkNoUpload(anyThirdParty, [early, late], ctx());
      assert.equal(r.status, 'broken');
      assert.match(r.message, /1 HTTPS connection\(s\) to sa\.api\.intl\.miui\.com could not be decrypted/);
      assert.match(r.message, /rejected the lab CA \(certificate pinning/);
      const user = checkNoUpload(anyThirdParty, [late], ctx({ caMethod: 'user', coverage: 'user CAs only' }));
      assert.match(
        user.message,
        /the CA method is user \(user CAs only\)\. Fix: wire the phone with a CA method that decrypts/,
      );
      // Identifier checks have no cutoff; `any` checks fail on the connection itself.
      assert.equal(checkNoUpload({ containing: 'identifier' }, [early], ctx()).status, 'broken');
      const any = checkNoUpload({ to: 'tracker', containing: 'any' }, [early], ctx());
      assert.equal(any.status, 'failed');
      assert.match(
        any.message,
        /the phone opened 1 HTTPS connection\(s\) to it \(not decrypted, content unknown\)/,
      );
      assert.match(any.message, /TLS failure to sa\.api\.intl\.miui\.com \(cert-rejected\)/);
    });
  });

  describe('assertUpload: the proof a control gives', () => {
    it('hosts, trackers, the first and last arrival of the matching uploads; a canary found is decodable', () => {
      const r = checkUpload(
        { to: 'vendor', value: 'Xiaomi', containing: 'canary' },
        [
          ex('https://sa.api.intl.miui.com/sa?project=x', { at: T0 + 300, findings: [canary()] }),
          ex('https://t.browser.miui.com/v1/stat', { at: T0 + 200, findings: [canary()] }),
          ex('https://sa.api.intl.miui.com/sa?project=x', { at: T0 + 900, findings: [canary()] }),
          ex('https://tracking.intl.miui.com/track/v4', { at: T0 + 100 }),
        ],
        ctx(),
      );
      assert.equal(r.status, 'passed', r.message);
      assert.deepEqual(r.proof, {
        hosts: ['sa.api.intl.miui.com', 't.browser.miui.com'],
        trackers: ['miui-sensors'],
        firstAt: T0 + 200,
        lastAt: T0 + 900,
        decodable: true,
      });
    });

    it('`any` hit only through a TLS failure or an opaque upload: passed, but decodable false', () => {
      const viaTls = checkUpload(
        { to: 'tracker', containing: 'any' },
        [tls('sa.api.intl.miui.com', T0 + 5)],
        ctx(),
      );
      assert.equal(viaTls.status, 'passed');
      assert.match(
        viaTls.message,
        /the phone opened 1 HTTPS connection\(s\) to any tracker \(not decrypted\)/,
      );
      assert.deepEqual(viaTls.proof, {
        hosts: ['sa.api.intl.miui.com'],
        trackers: [],
        firstAt: T0 + 5,
        lastAt: T0 + 5,
        decodable: false,
      });
      const sealed = ex('https://data.mistat.intl.xiaomi.com/mistats/v3', {
        at: T0 + 7,
        findings: [opaque('body › form.p › mistat', 'MiStat payload (8 chars): AES with a session key')],
      });
      const viaOpaque = checkUpload({ to: 'tracker', containing: 'any' }, [sealed], ctx());
      assert.equal(viaOpaque.status, 'passed');
      assert.equal(viaOpaque.proof!.decodable, false);
      assert.deepEqual(viaOpaque.proof!.trackers, ['mistat-upload']);
      const clean = ex('https://tracking.intl.miui.com/track/v4', { at: T0 + 9 });
      const both = checkUpload({ to: 'tracker', containing: 'any' }, [sealed, clean], ctx());
      assert.equal(both.proof!.decodable, true, 'one upload read to the end is enough');
      assert.equal(both.proof!.firstAt, T0 + 7);
      assert.equal(both.proof!.lastAt, T0 + 9);
    });

    it('fails without a match, and says why the upload may be hidden', () => {
      const none = checkUpload({ to: 'tracker', value: 'miui-sensors', containing: 'canary' }, [], ctx());
      assert.equal(none.status, 'failed');
      assert.equal(none.proof, undefined);
      assert.match(none.message, /check that the steps trigger it/);
      const hidden = checkUpload(
        { to: 'tracker', containing: 'canary' },
        [
          tls('sa.api.intl.miui.com'),
          ex('https://data.mistat.intl.xiaomi.com/mistats/v3', {
            findings: [opaque('body › form.p › mistat', 'MiStat payload (8 chars): AES with a session key')],
          }),
        ],
        ctx(),
      );
      // Not seen, but maybe only hidden: the control cannot tell, so it is broken, not failed.
      assert.equal(hidden.status, 'broken');
      assert.match(
        hidden.message,
        /^cannot tell whether any tracker received a canary of this run: none was seen/,
      );
      assert.match(hidden.message, /1 upload\(s\) in scope could not be decoded to the end/);
      assert.match(hidden.message, /--key mistat=HEX/);
      assert.match(
        hidden.message,
        /1 HTTPS connection\(s\) to sa\.api\.intl\.miui\.com could not be decrypted/,
      );
      const any = checkUpload(
        { to: 'tracker', value: 'miui-analytics', containing: 'any' },
        [ex('https://data.mistat.intl.xiaomi.com/mistats/v3')],
        ctx(),
      );
      assert.equal(any.status, 'failed', 'for `any`, only the destination counts');
    });
  });

  describe('assertNoRequest', () => {
    it('any record to the host pattern fails (`*.suffix` covers the suffix); the probe is left out', () => {
      assert.equal(checkNoRequest('*.miui.com', [ex('https://miui.com/')], ctx()).status, 'failed');
      assert.equal(checkNoRequest('*.miui.com', [tls('a.b.miui.com')], ctx()).status, 'failed');
      assert.equal(checkNoRequest('*.miui.com', [ex('https://notmiui.com/')], ctx()).status, 'passed');
      assert.equal(
        checkNoRequest('*.invalid', [ex('http://phonehome-liveness.invalid/p', { probe: true })], ctx())
          .status,
        'passed',
      );
    });
  });
  describe('uploads of events recorded before the scenario started (a late flush or a retry)', () => {
    const START = T0;
    const uep: UploadArgs = { to: 'tracker', value: 'miui-analytics', containing: 'any' };
    const URL_ = 'https://tracking.intl.miui.com/track/spock';
    // Arrives 5 s into the scenario; its newest event was 65 s old when sent: recorded 60 s before the start.
    const old = () => ex(URL_, { at: START + 5_000, ages: [65_000, 70_000] });

    it('only such uploads: broken (not failed, not passed), dated and explained, with a fix', () => {
      const r = checkNoUpload(uep, [old()], ctx({ scenarioStartedAt: START }));
      assert.equal(r.status, 'broken', r.message);
      assert.match(
        r.message,
        /only in 1 upload\(s\) whose events were all recorded before this scenario started/,
      );
      assert.match(r.message, /the newest recorded 60\.0 s before this scenario started/);
      assert.match(r.message, /Fix: run it again.*`wait`.*`startEvidence`/s);
    });

    it('with an upload of its own as well: failed on that one, the old one named apart', () => {
      const fresh = ex(URL_, { at: START + 6_000, ages: [200, 900] });
      const r = checkNoUpload(uep, [old(), fresh], ctx({ scenarioStartedAt: START }));
      assert.equal(r.status, 'failed', r.message);
      assert.match(r.message, /received anything: 1 upload\(s\)\n {2}#\d+ POST/);
      assert.match(r.message, /and 1 upload\(s\) of events recorded before this scenario started/);
    });

    it("counts as the scenario's own when it is within the margin, undated, or the start is unknown", () => {
      // Newest event recorded 1.5 s before the start: within CARRYOVER_MARGIN_MS.
      const edge = ex(URL_, { at: START + 5_000, ages: [6_500, 9_000] });
      assert.equal(checkNoUpload(uep, [edge], ctx({ scenarioStartedAt: START })).status, 'failed');
      const undated = ex(URL_, { at: START + 5_000 });
      assert.equal(checkNoUpload(uep, [undated], ctx({ scenarioStartedAt: START })).status, 'failed');
      assert.equal(checkNoUpload(uep, [old()], ctx()).status, 'failed');
    });

    it('an identifier inside an old event: broken; in the envelope header (put there at send time): failed', () => {
      const id: UploadArgs = { to: 'tracker', value: 'miui-analytics', containing: 'identifier' };
      const at = (path: string): Finding => ({ ...androidId(), path });
      const inEvent = ex(URL_, {
        at: START + 5_000,
        ages: [65_000, 70_000],
        findings: [at('body › form.value › base64url › miui-envelope.B[1].B.aid')],
      });
      assert.equal(checkNoUpload(id, [inEvent], ctx({ scenarioStartedAt: START })).status, 'broken');
      const inHeader = ex(URL_, {
        at: START + 5_000,
        ages: [65_000, 70_000],
        findings: [
          at('body › form.value › base64url › miui-envelope.B[1].B.aid'),
          at('body › form.value › base64url › miui-envelope.H.aaid'),
        ],
      });
      const r = checkNoUpload(id, [inHeader], ctx({ scenarioStartedAt: START }));
      assert.equal(r.status, 'failed', r.message);
      // `[1` is not a prefix match for `B[10]`.
      const near = ex(URL_, {
        at: START + 5_000,
        ages: [65_000, 70_000],
        findings: [at('body › form.value › base64url › miui-envelope.B[10].B.aid')],
      });
      assert.equal(checkNoUpload(id, [near], ctx({ scenarioStartedAt: START })).status, 'failed');
    });

    it('a canary of this run anywhere in it: never old, whatever its clock fields say (failed)', () => {
      const r = checkNoUpload(
        uep,
        [ex(URL_, { at: START + 5_000, ages: [65_000, 70_000], findings: [canary()] })],
        ctx({ scenarioStartedAt: START }),
      );
      assert.equal(r.status, 'failed', r.message);
    });

    it('a positive control does not count such uploads: alone they leave it failed, naming them', () => {
      const control: UploadArgs = {
        to: 'tracker',
        value: 'miui-analytics',
        containing: 'any',
        id: 'uep-reported',
      };
      const r = checkUpload(control, [old()], ctx({ scenarioStartedAt: START }));
      assert.equal(r.status, 'failed', r.message);
      assert.match(r.message, /1 upload\(s\) of events recorded before this scenario started do not count/);
      const withOwn = checkUpload(
        control,
        [old(), ex(URL_, { at: START + 9_000, ages: [300, 900] })],
        ctx({ scenarioStartedAt: START }),
      );
      assert.equal(withOwn.status, 'passed', withOwn.message);
      assert.equal(withOwn.proof?.firstAt, START + 9_000, 'the delay is measured on its own upload');
    });

    it('next to an upload it cannot read: broken, naming both the old upload and what could not be proven', () => {
      const id: UploadArgs = { to: 'tracker', value: 'miui-analytics', containing: 'identifier' };
      const inEvent = ex(URL_, {
        at: START + 5_000,
        ages: [65_000, 70_000],
        findings: [{ ...androidId(), path: 'body › form.value › base64url › miui-envelope.B[1].B.aid' }],
      });
      const opaqueUpload = ex(URL_, {
        at: START + 6_000,
        findings: [opaque('body › form.p › mistat', 'MiStat payload (344 chars): AES with a session key')],
      });
      const r = checkNoUpload(id, [inEvent, opaqueUpload], ctx({ scenarioStartedAt: START }));
      assert.equal(r.status, 'broken', r.message);
      assert.match(
        r.message,
        /only in 1 upload\(s\) whose events were all recorded before this scenario started/,
      );
      assert.match(
        r.message,
        /Also, it cannot prove that .* 1 upload\(s\) in scope could not be decoded to the end/s,
      );
      assert.match(r.message, /--key mistat=HEX/);
    });

    it('a TLS failure in scope still fails `any` next to an old upload', () => {
      const r = checkNoUpload(
        uep,
        [old(), tls('tracking.intl.miui.com', START + 5_500)],
        ctx({ scenarioStartedAt: START }),
      );
      assert.equal(r.status, 'failed', r.message);
      assert.match(r.message, /opened 1 HTTPS connection/);
    });
  });
});
