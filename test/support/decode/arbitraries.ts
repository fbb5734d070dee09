/**
 * fast-check arbitraries for decode(): random bytes and strings, valid Sensors/MIUI/MiStat/form
 * bodies then mutated, the same under random chains of issue 10's wraps (maybe AES-encrypted first),
 * gzip headers with garbage, deep JSON, huge repeated keys, content types, URLs with query strings,
 * headers that carry payloads, and random keys (by name and by host). Shared by
 * bench/fuzz-decode.ts and property.test.ts.
 */
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import type { DecodeInput, DecodeResult, Layer } from '../../../src/decode/index.ts';
import {
  encodeMistatBody,
  encodeTrackingBody,
  formBody,
  mistatPayload,
  trackingHeader,
} from '../../../src/virtual/telemetry/index.ts';
import { nodeSdkGzipBody, sensorsBodies, browserEvents } from './corpus.ts';
import { DEVICE } from './device.ts';
import { seal, validChain, WRAPS, wrapChain } from './wraps.ts';

export const MISTAT_KEY = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const AES16 = Buffer.from('0f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hex');
const AES32 = Buffer.concat([MISTAT_KEY, AES16]);

/** Valid bodies of every format decode() knows, small enough to mutate quickly. */
function seedBodies(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < 3; i++) {
    const s = sensorsBodies(i, 1 + i * 2);
    out.push(Buffer.from(s.gzip), Buffer.from(s.plain), Buffer.from(s.web[0]!));
  }
  out.push(Buffer.from(nodeSdkGzipBody(browserEvents(9, 2))));
  const header = trackingHeader(DEVICE, { sender: 'com.miui.securitycenter', analyticsVersion: '3.1' });
  const entry = { H: { sid: 's', pk: 'p', key: 'k', eventTime: '1', sn: 1, retryCnt: 0 }, B: { e: 'x' } };
  out.push(Buffer.from(encodeTrackingBody(header, [entry], { ts: 1, nonce: 'n' }).body));
  out.push(Buffer.from(encodeTrackingBody(header, Array(400).fill(entry), { ts: 1, nonce: 'n' }).body));
  const session = { key: MISTAT_KEY, sid: '0011223344556677', fallback: true };
  const payload = mistatPayload(DEVICE, { appId: '1', appVersion: '1', pkg: 'a', events: [], now: 1 });
  out.push(
    Buffer.from(encodeMistatBody(payload, session, { appId: '1', region: 'GB', iv: Buffer.alloc(16) })),
  );
  const inner = Buffer.from(JSON.stringify({ email: 'a@b.c' })).toString('base64');
  out.push(
    Buffer.from(`a=1&j=${encodeURIComponent(JSON.stringify({ blob: inner, u: 'https://x.test/?a=1&b=2' }))}`),
  );
  out.push(Buffer.from('--B\r\nContent-Disposition: form-data; name="a"\r\n\r\neyJhIjoxfQ\r\n--B--\r\n'));
  out.push(gzipSync(JSON.stringify({ a: [1, 'x', { b: inner }] })));
  return out;
}
const SEEDS = seedBodies();

type Op =
  | { op: 'flip'; at: number; v: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; s: string }
  | { op: 'delete'; at: number; n: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), v: fc.nat(255) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    s: fc.constantFrom(
      '%',
      '%2',
      '%zz',
      '%E2%82',
      '+',
      '&',
      '=',
      ' ',
      '\u0000',
      '!!!',
      'H4sIAAAA',
      '{"',
      '[{',
    ),
  }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 32 }) }),
);

function applyOps(b: Buffer, ops: Op[]): Buffer {
  let c = Buffer.from(b);
  for (const o of ops) {
    const at = c.length ? o.at % c.length : 0;
    if (o.op === 'flip') {
      if (c.length) c[at] = o.v;
    } else if (o.op === 'truncate') c = c.subarray(0, at);
    else if (o.op === 'insert')
      c = Buffer.concat([c.subarray(0, at), Buffer.from(o.s, 'latin1'), c.subarray(at)]);
    else c = Buffer.concat([c.subarray(0, at), c.subarray(at + o.n)]);
  }
  return c;
}

const mutated = fc
  .tuple(fc.constantFrom(...SEEDS), fc.array(op, { minLength: 1, maxLength: 5 }))
  .map(([b, ops]) => applyOps(b, ops));

const text = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom(...'AZaz09+/-_=\r\n %&{}[]":,.?'.split('')) }),
  fc.string({
    unit: fc.constantFrom(...'ABCDEFabcdef0123456789+/-_'.split('')),
    minLength: 8,
    maxLength: 40,
  }),
  fc.json(),
);

const b64 = (b: Buffer, url: boolean): string => b.toString(url ? 'base64url' : 'base64');

/** A gzip header followed by garbage, or a real gzip stream with a damaged tail. */
const gzipGarbage = fc.oneof(
  fc
    .uint8Array({ maxLength: 64 })
    .map((u) => Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), u])),
  fc.tuple(fc.json(), fc.nat()).map(([j, n]) => {
    const g = gzipSync(j);
    return g.subarray(0, 10 + (n % Math.max(1, g.length - 10)));
  }),
);

/** JSON nested past maxJsonDepth, and base64 in base64 past maxDepth. */
const deep = fc.oneof(
  fc.integer({ min: 1, max: 300 }).map((n) => '['.repeat(n) + '"eyJhIjoxfQ=="' + ']'.repeat(n)),
  fc.integer({ min: 1, max: 120 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
  fc.integer({ min: 1, max: 12 }).map((n) => {
    let s = '{"k":"v"}';
    for (let i = 0; i < n; i++) s = Buffer.from(JSON.stringify({ n: s })).toString('base64');
    return s;
  }),
);

/** The same key many times, in a form and in JSON. */
const repeated = fc
  .tuple(fc.constantFrom('data', 'data_list', 'p', 'value', 'gzip', 'k'), fc.integer({ min: 1, max: 3000 }))
  .map(([k, n]) => (n % 2 ? `${k}=1&`.repeat(n) : `{${`"${k}":"eyJhIjoxfQ",`.repeat(n)}"z":0}`));

/** A Sensors/MIUI-shaped form whose fields are random or broken. */
const formish = fc
  .dictionary(
    fc.constantFrom('data', 'data_list', 'gzip', 'crc', 'ext', 'value', 'sign', 'nonce', 'p', 'sv', 'x'),
    fc.oneof(
      text,
      fc.constantFrom('0', '1', '9', '13', 'crc=1', '-1'),
      gzipGarbage.map((g) => b64(g, false)),
      gzipGarbage.map((g) => b64(g, true)),
      deep,
      fc.uint8Array({ maxLength: 80 }).map((u) => b64(Buffer.from(u), false).replace(/=/g, '')),
    ),
    { maxKeys: 6 },
  )
  .map((d) => formBody(Object.entries(d)));

/** A seed under a random chain of issue 10's wraps, maybe encrypted first, maybe mutated after. */
const hidden = fc
  .record({
    seed: fc.constantFrom(...SEEDS),
    encrypt: fc.option(fc.constantFrom('aes-128-cbc' as const, 'aes-256-gcm' as const), { nil: undefined }),
    chain: fc.array(fc.constantFrom(...WRAPS), { maxLength: 7 }),
    ops: fc.array(op, { maxLength: 2 }),
  })
  .map(({ seed, encrypt, chain, ops }) => {
    const start = encrypt ? seal(encrypt, encrypt === 'aes-128-cbc' ? AES16 : AES32, seed) : seed;
    const ok = validChain(chain, !encrypt && isUtf8(seed));
    return applyOps(wrapChain(ok ? chain : chain.filter((w) => w !== 'json-string'), start), ops);
  });

export const body: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 4, arbitrary: mutated },
  { weight: 3, arbitrary: hidden },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 512 }).map((u) => Buffer.from(u)) },
  { weight: 2, arbitrary: text.map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: formish.map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: gzipGarbage },
  { weight: 1, arbitrary: deep.map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: repeated.map((s) => Buffer.from(s)) },
);

const contentType = fc.option(
  fc.oneof(
    fc.constantFrom(
      'application/x-www-form-urlencoded',
      'text/plain;charset=UTF-8',
      'application/json',
      'application/octet-stream',
      'multipart/form-data; boundary=B',
      'multipart/form-data; boundary="B"',
      'multipart/form-data',
    ),
    fc.string(),
  ),
  { nil: undefined },
);

const url = fc.option(
  fc.oneof(
    fc
      .tuple(
        fc.constantFrom(
          'https://sa.api.intl.miui.com/sa',
          'https://data.mistat.intl.xiaomi.com/mistats/v3',
          'https://up.example.net/v1/c',
          '/sa.gif',
          '',
        ),
        formish,
      )
      .map(([u, q]) => `${u}?${q}`),
    fc.tuple(fc.webUrl(), fc.string()).map(([u, q]) => `${u}?${q}#${q}`),
    fc.string(),
  ),
  { nil: undefined },
);

const headers = fc.option(
  fc.dictionary(
    fc.constantFrom(
      'Content-Encoding',
      'content-encoding',
      'Cookie',
      'content-type',
      'X-Other',
      'X-MI-Ctx',
      'Referer',
      'Host',
      ':path',
    ),
    fc.oneof(
      fc.constantFrom('gzip', 'deflate', 'br', ' GZIP ', 'up.example.net', 'x=%7B%22a%22%3A1%7D'),
      text,
      hidden.map((b) => b.toString('latin1')),
    ),
    { maxKeys: 4 },
  ),
  { nil: undefined },
);

const keys = fc.option(
  fc.dictionary(
    fc.constantFrom('mistat', 'sensors', 'other', 'up.example.net', '*.example.net', '*.miui.com'),
    fc.oneof(
      fc.constant(MISTAT_KEY),
      fc.constant(AES16),
      fc.constant(AES32),
      fc.uint8Array({ minLength: 16, maxLength: 16 }).map((u) => Buffer.from(u)),
      fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
    ),
    { maxKeys: 3 },
  ),
  { nil: undefined },
);

export const decodeInput: fc.Arbitrary<DecodeInput> = fc
  .record({ body, contentType, url, headers, keys })
  .map((r) => {
    const input: DecodeInput = { body: r.body };
    if (r.contentType !== undefined) input.contentType = r.contentType;
    if (r.url !== undefined) input.url = r.url;
    if (r.headers !== undefined) input.headers = r.headers;
    if (r.keys !== undefined) input.keys = r.keys;
    return input;
  });

/** The property's checks; returns a reason when one fails. */
export function violation(r: DecodeResult): string | null {
  if (!r || !r.root || r.root.kind !== 'body' || r.root.path !== 'body') return 'no root layer';
  if (!Array.isArray(r.findings)) return 'no findings array';
  // decode() catches what a decoder throws and reports it: that is a bug too.
  const failure = r.findings.find((f) => f.detail.startsWith('decoder failure'));
  if (failure) return failure.detail;
  // The root is a container for the body, query and cookie trees; below it, paths grow.
  const stack: Layer[] = [...r.root.children];
  while (stack.length) {
    const l = stack.pop()!;
    if (typeof l.path !== 'string') return `a layer without a path: ${l.kind}`;
    for (const c of l.children) {
      if (typeof c.path !== 'string' || !c.path.startsWith(l.path))
        return `child path ${JSON.stringify(c.path)} does not start with ${JSON.stringify(l.path)}`;
      stack.push(c);
    }
  }
  r.leaves();
  return null;
}
