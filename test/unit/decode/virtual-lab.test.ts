/**
 * What the virtual phones of every profile upload (through the real telemetry hub and transport),
 * decoded as a capture would be: the honest profiles give no opaque finding but MiStat's; the
 * hostile examples (issue 10) hide the canary under wraps or encrypt it, and the decoders either find
 * it or say `opaque` (and find it once given the key).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decode, type DecodeInput, type DecodeResult } from '../../../src/decode/index.ts';
import { createDetector } from '../../../src/detect/index.ts';
import type { HttpRequest } from '../../../src/virtual/apps/events.ts';
import {
  loadProfile,
  loadProfileFile,
  PROFILE_DIR,
  type Profile,
} from '../../../src/virtual/profiles/load.ts';
import { browse, makeHub, systemUse } from '../virtual/telemetry/helpers.ts';

const BROWSER = 'com.mi.globalbrowser';
const CANARY = 'phc-9b1d7c-Otter';
const detector = createDetector({ canaries: [CANARY] });

async function uploads(profile: Profile): Promise<HttpRequest[]> {
  const { hub, http } = makeHub('', { profile });
  browse(hub, BROWSER, false, `https://news.example/${CANARY}`, CANARY);
  systemUse(hub);
  await hub.flush();
  await hub.idle();
  hub.stop();
  return http.requests;
}

function input(r: HttpRequest, keys?: Record<string, Buffer>): DecodeInput {
  const headers = r.headers ?? {};
  const ct = Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
  const i: DecodeInput = { body: r.body ?? Buffer.alloc(0), url: r.url, headers };
  if (ct !== undefined) i.contentType = ct;
  if (keys) i.keys = keys;
  return i;
}

function canaries(r: HttpRequest, d: DecodeResult): string[] {
  const u = new URL(r.url);
  return detector
    .run({ method: r.method, url: r.url, host: u.host }, d)
    .findings.filter((f) => f.kind === 'canary' && f.path !== 'url')
    .map((f) => f.path);
}

const isMistat = (r: HttpRequest) => new URL(r.url).pathname === '/mistats/v3';

describe('decode: every profile of the virtual lab', () => {
  const shipped = readdirSync(PROFILE_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, ''));
  for (const name of shipped)
    it(`${name}: no opaque finding but MiStat's, and the canary in every Sensors upload`, async () => {
      const requests = await uploads(loadProfile(name));
      assert.ok(requests.length > 0);
      for (const r of requests) {
        const d = decode(input(r));
        const problems = d.findings.filter(
          (f) => !(f.kind === 'opaque' && isMistat(r) && f.path === 'body › form.p › mistat'),
        );
        assert.deepEqual(problems, [], `${r.method} ${r.url}: ${JSON.stringify(problems)}`);
        if (new URL(r.url).pathname === '/sa') assert.ok(canaries(r, d).length > 0, r.url);
      }
    });

  const example = (name: string) => loadProfileFile(join(PROFILE_DIR, 'examples', `${name}.json`));

  it('header-chain: the canary under base64url › gzip › json-string › form › base64 › gzip', async () => {
    const requests = await uploads(example('header-chain'));
    const ctx = requests.filter((r) => 'X-MI-Ctx' in (r.headers ?? {}));
    assert.ok(ctx.length > 0);
    for (const r of ctx) {
      const d = decode(input(r));
      assert.deepEqual(d.findings, []);
      const paths = canaries(r, d);
      assert.ok(
        paths.some((p) =>
          p.startsWith(
            'header.X-MI-Ctx › base64url › gzip › json-string › form.data_list › base64 › gzip › json[',
          ),
        ),
        paths.join('\n'),
      );
    }
    const trace = requests.filter((r) => 'X-MI-Trace' in (r.headers ?? {}));
    assert.ok(trace.length > 0);
    for (const r of trace) {
      const d = decode(input(r));
      assert.deepEqual(d.findings, []);
      assert.ok(
        d.leaves().some((l) => l.path.startsWith('header.X-MI-Trace › base32 › gzip › form.value › ')),
      );
    }
  });

  it('encrypted-sensors: opaque without the keys; the canary, and no opaque, with them', async () => {
    const profile = example('encrypted-sensors');
    const sensorsKey = Buffer.from(profile.telemetry!.emitters.sensors!.encrypt!.key, 'hex');
    const trackingKey = Buffer.from(profile.telemetry!.emitters.tracking!.encrypt!.key, 'hex');
    const requests = await uploads(profile);
    const sa = requests.filter((r) => new URL(r.url).pathname === '/sa');
    const tracking = requests.filter((r) => new URL(r.url).pathname.startsWith('/track/'));
    assert.ok(sa.length > 0 && tracking.length > 0);
    for (const r of sa) {
      const bare = decode(input(r));
      assert.deepEqual(
        bare.findings.map((f) => [f.kind, f.path]),
        [['opaque', 'body › form.data_list › sensors']],
      );
      assert.deepEqual(canaries(r, bare), []);
      const keyed = decode(input(r, { sensors: sensorsKey }));
      assert.deepEqual(keyed.findings, []);
      assert.ok(
        canaries(r, keyed).some((p) =>
          /^body › form\.data_list › json\[0\]\.payloads\[\d+\] › base64 › aes › gzip › json\.properties\./.test(
            p,
          ),
        ),
      );
    }
    for (const r of tracking) {
      const host = new URL(r.url).hostname;
      const bare = decode(input(r));
      assert.deepEqual(
        bare.findings.map((f) => [f.kind, f.path]),
        [['opaque', 'body › opaque']],
      );
      const keyed = decode(input(r, { [host]: trackingKey }));
      assert.deepEqual(keyed.findings, []);
      assert.ok(keyed.leaves().some((l) => l.path.startsWith('body › aes › form.value › base64url › ')));
    }
  });
});
