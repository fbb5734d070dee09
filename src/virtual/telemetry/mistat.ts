/**
 * MiStat SDK 3.0.16 uploads (xiaomi-telemetry.md §2.4): JSON → gzip → AES with a per-session key →
 * base64, posted as the form `{ai, sv, pv, rg, p, fc, sid}` to data.mistat.*\/mistats/v3. Without the
 * server key exchange the virtual phone uses a locally generated key (`fc=1`, the SDK's fallback
 * marker). Opaque to the harness by design; the decoder takes the key for tests.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { formBody, parseForm } from './codec.ts';
import type { DeviceInfo } from './device.ts';

export const MISTAT_SDK_VERSION = '3.0.16';
export const MISTAT_PROTOCOL_VERSION = '3.0';

export interface MistatSession {
  /** AES-128 key. */
  key: Buffer;
  sid: string;
  /** Locally generated key (no /key_get): `fc=1`. */
  fallback: boolean;
}

export function newMistatSession(random: (n: number) => Buffer = randomBytes): MistatSession {
  return { key: random(16), sid: random(8).toString('hex'), fallback: true };
}

export interface MistatEvent {
  e: string;
  t: number;
  p: Record<string, unknown>;
}

/** The plaintext upload (field names of com.xiaomi.stat.c.i). */
export function mistatPayload(
  d: DeviceInfo,
  o: {
    appId: string;
    appVersion: string;
    pkg: string;
    events: MistatEvent[];
    now: number;
    omitAndroidId?: boolean;
  },
): Record<string, unknown> {
  return {
    id: o.omitAndroidId ? '' : d.androidId,
    aii: d.imeiHash,
    rc: d.region,
    av: o.appVersion,
    ac: o.pkg,
    os: 'Android',
    rd: d.sdk,
    pp: o.pkg,
    st: o.now,
    tz: d.timezone,
    cc: d.region,
    cs: 'WIFI',
    ob: d.incremental,
    n: 'WIFI',
    ud: d.model,
    es: o.events,
  };
}

export function encodeMistatBody(
  payload: unknown,
  s: MistatSession,
  o: { appId: string; region: string; iv?: Buffer },
): string {
  const iv = o.iv ?? randomBytes(16);
  const c = createCipheriv('aes-128-cbc', s.key, iv);
  const sealed = Buffer.concat([iv, c.update(gzipSync(Buffer.from(JSON.stringify(payload)))), c.final()]);
  return formBody([
    ['ai', o.appId],
    ['sv', MISTAT_SDK_VERSION],
    ['pv', MISTAT_PROTOCOL_VERSION],
    ['rg', o.region],
    ['p', sealed.toString('base64')],
    ['fc', s.fallback ? '1' : '0'],
    ['sid', s.sid],
  ]);
}

/** The form fields; with the session key, also the decrypted payload. */
export function decodeMistatBody(
  body: string | Buffer,
  key?: Buffer,
): { fields: Record<string, string>; payload?: unknown } {
  const fields = Object.fromEntries(parseForm(body));
  if (!key) return { fields };
  const sealed = Buffer.from((fields.p ?? '').replace(/ /g, '+'), 'base64');
  const d = createDecipheriv('aes-128-cbc', key, sealed.subarray(0, 16));
  const plain = Buffer.concat([d.update(sealed.subarray(16)), d.final()]);
  return { fields, payload: JSON.parse(gunzipSync(plain).toString('utf8')) };
}
