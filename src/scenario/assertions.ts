/**
 * The capture assertions (issue 6 §1) over the scenario's evidence (evidence.ts):
 *
 * - `assertNoUpload {to, value?, containing, identifier?}` fails when any exchange since the scenario
 *   started went to a matching destination and carried a canary of this run / a phone identifier /
 *   anything. HTTPS the capture could not decrypt (a `tls-failure` record) to a matching host is an
 *   upload of unknown content: a leak for `containing: any` (the phone did contact it), and for
 *   `canary` / `identifier` a `broken` verdict, since nothing proves the negative (unless a decrypted
 *   exchange already proves a leak: then `failed`).
 * - `assertUpload` (the positive control) passes only if such an upload exists (for `any`, a TLS
 *   failure to a matching host counts, as above).
 * - `assertNoRequest {host}`: no exchange and no TLS failure to that host.
 *
 * Destinations: `tracker` = any catalogue tracker, or the entry whose id is `value`; `vendor` = a
 * tracker whose vendor is `value` (case-insensitive; `Xiaomi` also covers `Xiaomi (Sensors Analytics)`);
 * `host` = a host pattern, `*.suffix` for the suffix and its subdomains. For a TLS failure only the host
 * is known, so a catalogue entry matches by its hosts, whatever its paths.
 */
import { hostMatches } from '../capture/session.ts';
import type { Catalogue, TrackerEntry } from '../detect/index.ts';
import { pathOf } from '../detect/detector.ts';
import type { Finding } from '../detect/index.ts';
import type { Observed } from './evidence.ts';

export interface UploadArgs {
  to: 'tracker' | 'vendor' | 'host';
  value?: string;
  containing: 'canary' | 'identifier' | 'any';
  identifier?: string;
}

export interface CheckResult {
  status: 'passed' | 'failed' | 'broken';
  message: string;
}

export interface CheckContext {
  catalogue: Catalogue;
  /** The run's canaries by name. */
  canaries: Readonly<Record<string, string>>;
  /** The wiring's CA method and what it decrypts (wiring.ts coverageOf). */
  caMethod: string;
  coverage: string;
}

/** Catalogue host pattern semantics: exact, or `*.suffix` for subdomains of suffix. */
function catalogueHost(pattern: string, host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  const p = pattern.toLowerCase();
  return p.startsWith('*.') ? h.endsWith(p.slice(1)) : h === p;
}

function entryMatches(e: TrackerEntry, host: string, path: string | null): boolean {
  if (!e.hosts.some((h) => catalogueHost(h, host))) return false;
  if (path === null || e.paths.length === 0) return true;
  const p = path.split(/[?#]/)[0]!;
  return e.paths.some((x) => p === x || p.startsWith(x.endsWith('/') ? x : `${x}/`));
}

const vendorIs = (vendor: string, want: string): boolean => {
  const v = vendor.toLowerCase();
  const w = want.toLowerCase();
  return v === w || v.startsWith(`${w} (`);
};

/** Whether the record went to the assertion's destination. */
export function toDestination(o: Observed, a: Pick<UploadArgs, 'to' | 'value'>, cat: Catalogue): boolean {
  const r = o.record;
  const path = r.type === 'exchange' ? pathOf(r.url) : null;
  const tracker = o.inspected.tracker;
  switch (a.to) {
    case 'host':
      return a.value !== undefined && hostMatches(a.value, r.host);
    case 'tracker':
      if (a.value === undefined)
        return (
          tracker !== null ||
          (r.type === 'tls-failure' && cat.entries.some((e) => entryMatches(e, r.host, null)))
        );
      return (
        tracker?.id === a.value || cat.entries.some((e) => e.id === a.value && entryMatches(e, r.host, path))
      );
    case 'vendor':
      if (a.value === undefined) return false;
      return (
        (tracker !== null && vendorIs(tracker.vendor, a.value)) ||
        cat.entries.some((e) => vendorIs(e.vendor, a.value!) && entryMatches(e, r.host, path))
      );
  }
}

/** The findings that make the exchange carry what the assertion is about (`any`: none needed). */
function carried(o: Observed, a: UploadArgs, ctx: CheckContext): Finding[] {
  const canaries = new Set(Object.values(ctx.canaries));
  return o.inspected.findings.filter((f) =>
    a.containing === 'canary'
      ? f.kind === 'canary' && canaries.has(f.value)
      : a.containing === 'identifier'
        ? f.kind === 'identifier' && (a.identifier === undefined || f.name === a.identifier)
        : false,
  );
}

export function describeDestination(a: Pick<UploadArgs, 'to' | 'value'>): string {
  if (a.to === 'tracker') return a.value ? `tracker ${a.value}` : 'any tracker';
  return `${a.to} ${a.value ?? '?'}`;
}

function describeContent(a: UploadArgs): string {
  if (a.containing === 'canary') return 'a canary of this run';
  if (a.containing === 'identifier')
    return a.identifier ? `the ${a.identifier} identifier` : 'a phone identifier';
  return 'anything';
}

function canaryName(ctx: CheckContext, value: string): string {
  return Object.entries(ctx.canaries).find(([, v]) => v === value)?.[0] ?? '?';
}

/** One line per leak: exchange, host, path, and what was found where in which encoding. */
export function describeLeak(o: Observed, found: Finding[], ctx: CheckContext): string {
  const r = o.record;
  const probeNote = o.duringProbe ? ' [arrived while the liveness probe ran]' : '';
  if (r.type === 'tls-failure')
    return `#${r.index} TLS failure to ${r.host} (${r.cause}): HTTPS not decrypted, content unknown${probeNote}`;
  const tracker = o.inspected.tracker ? ` [${o.inspected.tracker.id}]` : '';
  const what = found.length
    ? found
        .slice(0, 4)
        .map((f) =>
          f.kind === 'canary'
            ? `canary ${canaryName(ctx, f.value)}=${f.value} at ${f.path} (${f.encoding})`
            : `${f.name ?? 'identifier'}=${f.value} at ${f.path} (${f.encoding})`,
        )
        .join('; ') + (found.length > 4 ? `; +${found.length - 4} more` : '')
    : `${r.request.bodySize} body bytes`;
  return `#${r.index} ${r.method} ${r.url} (host ${r.host}, path ${pathOf(r.url).split('?')[0]})${tracker}: ${what}${probeNote}`;
}

const list = (lines: string[], max = 5): string =>
  lines.slice(0, max).join('\n  ') + (lines.length > max ? `\n  … and ${lines.length - max} more` : '');

function tlsExplanation(ctx: CheckContext, n: number, hosts: string[]): string {
  const decrypting = ctx.caMethod !== 'none' && ctx.caMethod !== 'user';
  const why = decrypting
    ? `the CA method (${ctx.caMethod}) decrypts apps that trust system CAs, so these apps rejected the lab CA (certificate pinning, or their own trust store)`
    : `the CA method is ${ctx.caMethod} (${ctx.coverage})`;
  const fix = decrypting
    ? 'the content cannot be seen with this phone and app; judge by host instead (to: host … containing: any, or a request check on the host)'
    : 'wire the phone with a CA method that decrypts: a rooted phone (system-tmpfs / system-remount, chosen by --ca-method auto) or the lab CA pre-installed as a system CA (--ca-method preinstalled)';
  return `${n} HTTPS connection(s) to ${hosts.join(', ')} could not be decrypted: ${why}. Fix: ${fix}`;
}

/** assertNoUpload. */
export function checkNoUpload(a: UploadArgs, observed: readonly Observed[], ctx: CheckContext): CheckResult {
  const dest = observed.filter((o) => !o.probe && toDestination(o, a, ctx.catalogue));
  const exchanges = dest.filter((o) => o.record.type === 'exchange');
  const tls = dest.filter((o) => o.record.type === 'tls-failure');
  const leaks = exchanges
    .map((o) => ({ o, found: carried(o, a, ctx) }))
    .filter((x) => a.containing === 'any' || x.found.length > 0);
  const head = `${describeDestination(a)} received ${describeContent(a)}`;
  if (leaks.length > 0) {
    return {
      status: 'failed',
      message: `${head}: ${leaks.length} upload(s)\n  ${list(leaks.map((x) => describeLeak(x.o, x.found, ctx)))}`,
    };
  }
  if (tls.length > 0) {
    const hosts = [...new Set(tls.map((o) => o.record.host))];
    if (a.containing === 'any') {
      return {
        status: 'failed',
        message: `${head}: the phone opened ${tls.length} HTTPS connection(s) to it (not decrypted, content unknown)\n  ${list(tls.map((o) => describeLeak(o, [], ctx)))}`,
      };
    }
    return {
      status: 'broken',
      message: `cannot prove that ${describeDestination(a)} received no ${describeContent(a).replace(/^an? /, '')}: ${tlsExplanation(ctx, tls.length, hosts)}`,
    };
  }
  return {
    status: 'passed',
    message: `no upload to ${describeDestination(a)} carried ${describeContent(a)} (${exchanges.length} exchange(s) to it, ${observed.filter((o) => !o.probe).length} record(s) looked at)`,
  };
}

/** assertUpload: the positive control. */
export function checkUpload(a: UploadArgs, observed: readonly Observed[], ctx: CheckContext): CheckResult {
  const dest = observed.filter((o) => !o.probe && toDestination(o, a, ctx.catalogue));
  const exchanges = dest.filter((o) => o.record.type === 'exchange');
  const tls = dest.filter((o) => o.record.type === 'tls-failure');
  const hits = exchanges
    .map((o) => ({ o, found: carried(o, a, ctx) }))
    .filter((x) => a.containing === 'any' || x.found.length > 0);
  if (hits.length > 0)
    return {
      status: 'passed',
      message: `${describeDestination(a)} received ${describeContent(a)}: ${describeLeak(hits[0]!.o, hits[0]!.found, ctx)}`,
    };
  if (a.containing === 'any' && tls.length > 0)
    return {
      status: 'passed',
      message: `the phone opened ${tls.length} HTTPS connection(s) to ${describeDestination(a)} (not decrypted): ${describeLeak(tls[0]!, [], ctx)}`,
    };
  const total = observed.filter((o) => !o.probe).length;
  let message = `no upload to ${describeDestination(a)} carried ${describeContent(a)}: ${exchanges.length} exchange(s) went to it, ${total} record(s) looked at`;
  if (tls.length > 0)
    message += `; ${tlsExplanation(ctx, tls.length, [...new Set(tls.map((o) => o.record.host))])}, and the upload may be inside them`;
  else if (exchanges.length === 0)
    message +=
      '; if the phone should have reported this, check that the steps trigger it (background flushes the SDK queues) and that the app uses the system proxy';
  return { status: 'failed', message };
}

/** assertNoRequest. */
export function checkNoRequest(host: string, observed: readonly Observed[], ctx: CheckContext): CheckResult {
  const hits = observed.filter((o) => !o.probe && hostMatches(host, o.record.host));
  if (hits.length > 0)
    return {
      status: 'failed',
      message: `the phone sent ${hits.length} request(s) to ${host}\n  ${list(hits.map((o) => describeLeak(o, [], ctx)))}`,
    };
  return {
    status: 'passed',
    message: `no request to ${host} (${observed.filter((o) => !o.probe).length} record(s) looked at)`,
  };
}
