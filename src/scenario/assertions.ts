/**
 * The capture assertions over the scenario's evidence (evidence.ts). What a negative verdict may claim
 * is written down in ../shared/ARCHITECTURE.md "Verdicts": `passed` needs the check to be seen (liveness
 * probe), complete (nothing went around the capture), readable, waited and controlled. This module
 * decides what the records themselves say (readable, and whether anything leaked); the executor adds
 * liveness, completeness (bypass), waiting and controls.
 *
 * Scope (which records an assertion looks at):
 * - `to` absent: ANY THIRD PARTY, i.e. every destination except the hosts the scenario itself
 *   addressed (the site it opened, the search engine it searched with) and the liveness probe;
 * - `to: tracker` (any catalogue entry, or the one whose id is `value`), `to: vendor` (entries of that
 *   vendor, plus every host under the vendor's registrable domains: `Xiaomi` covers
 *   `t.browser.miui.com`), `to: host` (a host pattern, src/util/hosts.ts): narrower scopes.
 *
 * `assertNoUpload`:
 * - `failed` when a record in scope carries what the check is about (a canary of this run, a phone
 *   identifier, or for `containing: any` anything at all, an undecrypted HTTPS connection included);
 * - `broken` when a record in scope could not be read to the end: HTTPS the capture could not decrypt
 *   (a `tls-failure`), a payload the decoders flagged `opaque` (encrypted, or binary that no decoder
 *   explains) or cut short (`limit`). A canary is fresh for this run, so for canary checks only records
 *   that arrived after the first step that used a canary count here: nothing sent before can hold it.
 * - `passed` otherwise (as far as the records go).
 *
 * `assertUpload` (the positive control) passes only if such an upload exists; it also reports what it
 * proves for controls: the hosts and trackers of the channel, when it arrived, and whether the upload
 * was decodable (a canary found, or for `any` an upload with no opaque part).
 *
 * `assertNoRequest`: no record at all to that host pattern.
 */
import type { Catalogue, Finding, TrackerEntry } from '../detect/index.ts';
import { pathOf } from '../detect/detector.ts';
import { hostMatches, underDomain } from '../util/hosts.ts';
import type { Observed } from './evidence.ts';

export interface UploadArgs {
  /** Absent: any third party (every host but those the scenario addressed). */
  to?: 'tracker' | 'vendor' | 'host';
  value?: string;
  containing: 'canary' | 'identifier' | 'any';
  identifier?: string;
  /** assertNoUpload / assertNoRequest: the positive control that proves the channel. */
  control?: string;
  /** assertUpload: the name under which this check serves as a control. */
  id?: string;
}

export interface CheckResult {
  status: 'passed' | 'failed' | 'broken';
  message: string;
}

/** What a passing positive control showed about its channel. */
export interface ChannelProof {
  /** Hosts of the uploads that matched. */
  hosts: string[];
  /** Catalogue ids of those uploads' trackers. */
  trackers: string[];
  /** Date.now() when the first matching upload arrived. */
  firstAt: number;
  /** …and the last one (the channel's observed delay is measured to it: the longer, the safer). */
  lastAt: number;
  /** A matching upload was decoded to the end (its content, not only its existence, was seen). */
  decodable: boolean;
}

export interface UploadCheckResult extends CheckResult {
  proof?: ChannelProof;
}

export interface CheckContext {
  catalogue: Catalogue;
  /** The run's canaries by name. */
  canaries: Readonly<Record<string, string>>;
  /** The wiring's CA method and what it decrypts (wiring.ts coverageOf). */
  caMethod: string;
  coverage: string;
  /** Host patterns the scenario addressed itself (outside "any third party"). */
  addressed: readonly string[];
  /** Date.now() when a step first used each canary value; absent: not used yet. */
  plantedAt: ReadonlyMap<string, number>;
  /** Date.now() when the scenario started (its evidence began); absent: uploads are not dated. */
  scenarioStartedAt?: number;
}

/**
 * How much earlier than the scenario's start an upload's newest event must be dated before the upload
 * counts as carried over from before the scenario: it covers the time the upload took to arrive and
 * the send time's resolution, and makes the call in the direction of `failed` when in doubt.
 */
export const CARRYOVER_MARGIN_MS = 2000;

/**
 * For an upload whose events all have a known age (InspectedExchange.eventAges), and where `found`
 * (what the check is about) lies inside those events and no canary of this run is, how many ms before
 * the scenario started its newest event was recorded: the arrival time (host clock) less the newest
 * event's age at send (phone clock, so no clock offset enters). Undefined when it is not dated, or not
 * clearly (by CARRYOVER_MARGIN_MS) before the start.
 */
export function carriedOverBy(
  o: Observed,
  ctx: CheckContext,
  found: readonly Finding[] = [],
): number | undefined {
  const ages = o.inspected.eventAges;
  if (ctx.scenarioStartedAt === undefined || o.record.type !== 'exchange' || !ages) return undefined;
  // A canary of this run is typed during the run: an upload that holds one is no older than that,
  // whatever its events' clock fields say.
  const canaries = new Set(Object.values(ctx.canaries));
  if (o.inspected.findings.some((f) => f.kind === 'canary' && canaries.has(f.value))) return undefined;
  // What the check is about (an identifier) found outside the dated events (the envelope's header,
  // the URL) was put there when the upload was sent.
  const inEvent = (path: string): boolean =>
    ages.paths.some(
      (p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`) || path.startsWith(`${p} ›`),
    );
  if (found.some((f) => !inEvent(f.path))) return undefined;
  const before = ctx.scenarioStartedAt - (o.at - ages.youngestMs);
  return before > CARRYOVER_MARGIN_MS ? before : undefined;
}

/** Splits matched uploads into the scenario's own and those carried over (carriedOverBy), in order. */
function byAge<T extends { o: Observed; found: Finding[] }>(
  matches: readonly T[],
  ctx: CheckContext,
): { own: T[]; old: Array<T & { before: number }> } {
  const own: T[] = [];
  const old: Array<T & { before: number }> = [];
  for (const x of matches) {
    const before = carriedOverBy(x.o, ctx, x.found);
    if (before === undefined) own.push(x);
    else old.push({ ...x, before });
  }
  return { own, old };
}

function entryMatches(e: TrackerEntry, host: string, path: string | null): boolean {
  if (!e.hosts.some((h) => hostMatches(h, host))) return false;
  if (path === null || e.paths.length === 0) return true;
  const p = path.split(/[?#]/)[0]!;
  return e.paths.some((x) => p === x || p.startsWith(x.endsWith('/') ? x : `${x}/`));
}

const vendorIs = (vendor: string, want: string): boolean => {
  const v = vendor.toLowerCase();
  const w = want.toLowerCase();
  return v === w || v.startsWith(`${w} (`);
};

/** Whether the record went to the assertion's destination (`to` given). */
export function toDestination(
  o: Observed,
  a: Pick<UploadArgs, 'to' | 'value'>,
  cat: Catalogue,
  addressed: readonly string[] = [],
): boolean {
  const r = o.record;
  const path = r.type === 'exchange' ? pathOf(r.url) : null;
  const tracker = o.inspected.tracker;
  switch (a.to) {
    case undefined:
      return !addressed.some((p) => hostMatches(p, r.host));
    case 'host':
      return a.value !== undefined && hostMatches(a.value, r.host);
    case 'tracker':
      if (a.value === undefined)
        return tracker !== null || cat.entries.some((e) => entryMatches(e, r.host, path));
      return (
        tracker?.id === a.value || cat.entries.some((e) => e.id === a.value && entryMatches(e, r.host, path))
      );
    case 'vendor': {
      const want = a.value;
      if (want === undefined) return false;
      return (
        (tracker !== null && vendorIs(tracker.vendor, want)) ||
        cat.entries.some((e) => vendorIs(e.vendor, want) && entryMatches(e, r.host, path)) ||
        cat.vendors.some((v) => vendorIs(v.name, want) && underDomain(v.domains, r.host) !== undefined)
      );
    }
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

/** The decoder's notes that leave part of an exchange unread. */
export function unreadParts(o: Observed): Finding[] {
  return o.inspected.findings.filter((f) => f.kind === 'opaque' || f.kind === 'limit');
}

export function describeDestination(a: Pick<UploadArgs, 'to' | 'value'>): string {
  if (a.to === undefined) return 'any third party';
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
  const tracker = o.inspected.tracker
    ? ` [${o.inspected.tracker.id}]`
    : ctx.catalogue.vendorOfHost(r.host)
      ? ` [no catalogue entry; a ${ctx.catalogue.vendorOfHost(r.host)!.name} domain]`
      : ' [no catalogue entry]';
  const what = found.length
    ? found
        .slice(0, 4)
        .map((f) =>
          f.kind === 'canary'
            ? `canary ${canaryName(ctx, f.value)}=${f.value} at ${f.path} (${f.encoding})`
            : f.kind === 'identifier'
              ? `${f.name ?? 'identifier'}=${f.value} at ${f.path} (${f.encoding})`
              : `${f.kind} at ${f.path}: ${f.detail ?? f.value}`,
        )
        .join('; ') + (found.length > 4 ? `; +${found.length - 4} more` : '')
    : `${r.request.bodySize} body bytes`;
  return `#${r.index} ${r.method} ${r.url} (host ${r.host}, path ${pathOf(r.url).split('?')[0]})${tracker}: ${what}${probeNote}`;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

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

/** The fix for opaque parts: the key option that would open them, or judging by host. */
function opaqueFix(parts: Array<{ o: Observed; unread: Finding[] }>): string {
  const keys = new Set<string>();
  for (const { o, unread } of parts) {
    for (const f of unread) {
      if (f.kind !== 'opaque') continue;
      const text = `${f.path} ${f.detail ?? f.value}`;
      if (/mistat/i.test(text)) keys.add('--key mistat=HEX');
      else if (/sensors/i.test(text)) keys.add(`--key sensors=HEX (or --key ${o.record.host}=HEX)`);
      else keys.add(`--key ${o.record.host}=HEX`);
    }
  }
  const giveKey = keys.size
    ? `give the decryption key to phonehome run / inspect (${[...keys].join(', ')}), `
    : 'raise the decoder limits or shorten the scenario, ';
  return `${giveKey}or judge these hosts by host instead (a request check on the host, or to: host … containing: any)`;
}

/** Records the check looks at. */
function scoped(a: UploadArgs, observed: readonly Observed[], ctx: CheckContext): Observed[] {
  return observed.filter((o) => !o.probe && toDestination(o, a, ctx.catalogue, ctx.addressed));
}

/** For canary checks: the first time a canary was used (records before cannot hold one). */
function canaryCutoff(ctx: CheckContext): number | undefined {
  const times = [...ctx.plantedAt.values()];
  return times.length ? Math.min(...times) : undefined;
}

/** assertNoUpload, as far as the records go (the executor adds liveness, bypass, timing, controls). */
export function checkNoUpload(a: UploadArgs, observed: readonly Observed[], ctx: CheckContext): CheckResult {
  const dest = scoped(a, observed, ctx);
  const exchanges = dest.filter((o) => o.record.type === 'exchange');
  const leaks = exchanges
    .map((o) => ({ o, found: carried(o, a, ctx) }))
    .filter((x) => a.containing === 'any' || x.found.length > 0);
  const head = `${describeDestination(a)} received ${describeContent(a)}`;
  // Uploads whose events were all recorded before the scenario started (a queue of an earlier
  // scenario flushed late, or retried) say nothing about what this scenario did.
  const { own: fresh, old: carryover } = byAge(leaks, ctx);
  const carriedLine = (x: (typeof carryover)[number]): string => {
    const ages = x.o.inspected.eventAges!;
    return `${describeLeak(x.o, x.found, ctx)} [${ages.events} event(s), the newest recorded ${seconds(x.before)} before this scenario started]`;
  };
  if (fresh.length > 0) {
    const also = carryover.length
      ? `\n  and ${carryover.length} upload(s) of events recorded before this scenario started:\n  ${list(carryover.map(carriedLine))}`
      : '';
    return {
      status: 'failed',
      message: `${head}: ${fresh.length} upload(s)\n  ${list(fresh.map((x) => describeLeak(x.o, x.found, ctx)))}${also}`,
    };
  }
  const tlsAll = dest.filter((o) => o.record.type === 'tls-failure');
  if (a.containing === 'any') {
    if (tlsAll.length > 0)
      return {
        status: 'failed',
        message: `${head}: the phone opened ${tlsAll.length} HTTPS connection(s) to it (not decrypted, content unknown)\n  ${list(tlsAll.map((o) => describeLeak(o, [], ctx)))}`,
      };
  }
  // Broken whatever else is found; what else could not be proven is added below (unread, TLS).
  const carriedMessage =
    carryover.length > 0
      ? `${head} only in ${carryover.length} upload(s) whose events were all recorded before this scenario started ` +
        `(dated by the uploads' own send and event times): a queue of an earlier scenario that flushed late, or a retry. ` +
        `They say nothing about what this scenario did, and nothing of its own was seen there, but "nothing went" is not true, so it cannot pass:\n  ` +
        list(carryover.map(carriedLine)) +
        '\n  Fix: run it again. If it keeps happening, the phone flushes queued events on a timer: add a `wait` longer ' +
        'than its flush interval before `startEvidence`, or run this scenario before the one that filled the queue'
      : undefined;
  if (a.containing === 'any') {
    if (carriedMessage) return { status: 'broken', message: carriedMessage };
    return {
      status: 'passed',
      message: `no upload to ${describeDestination(a)} (${observed.filter((o) => !o.probe).length} record(s) looked at)`,
    };
  }
  let cutoff = -Infinity;
  let cutoffNote = '';
  if (a.containing === 'canary') {
    const c = canaryCutoff(ctx);
    if (c === undefined) {
      const noCanary =
        'no step of the scenario used a canary of this run before this check, so there is nothing whose absence it could prove. ' +
        'Fix: put ${canary.NAME} into a step (openUrl, search, inputText) before the check';
      return {
        status: 'broken',
        message: carriedMessage ? `${carriedMessage}\n  Also: ${noCanary}` : noCanary,
      };
    }
    cutoff = c;
    const before = dest.filter((o) => o.at < c).length;
    if (before) cutoffNote = `; ${before} record(s) from before the first canary was used cannot hold one`;
  }
  const late = dest.filter((o) => o.at >= cutoff);
  const tls = late.filter((o) => o.record.type === 'tls-failure');
  const cannot = `cannot prove that ${describeDestination(a)} received no ${describeContent(a).replace(/^an? /, '')}`;
  const unread = late
    .filter((o) => o.record.type === 'exchange')
    .map((o) => ({ o, unread: unreadParts(o) }))
    .filter((x) => x.unread.length > 0);
  const problems: string[] = [];
  if (unread.length > 0) {
    problems.push(
      `${unread.length} upload(s) in scope could not be decoded to the end (encrypted, or binary that no decoder explains), so a canary or identifier may be inside them:\n  ` +
        list(unread.map((x) => describeLeak(x.o, x.unread, ctx))) +
        `\n  Fix: ${opaqueFix(unread)}`,
    );
  }
  if (tls.length > 0) {
    const hosts = [...new Set(tls.map((o) => o.record.host))];
    problems.push(tlsExplanation(ctx, tls.length, hosts));
  }
  if (carriedMessage) {
    const also = problems.length ? `\n  Also, it ${cannot}: ${problems.join('; and ')}` : '';
    return { status: 'broken', message: `${carriedMessage}${also}` };
  }
  if (problems.length) return { status: 'broken', message: `${cannot}: ${problems.join('; and ')}` };
  return {
    status: 'passed',
    message: `no upload to ${describeDestination(a)} carried ${describeContent(a)} (${exchanges.length} exchange(s) in scope, all decoded to the end; ${observed.filter((o) => !o.probe).length} record(s) looked at${cutoffNote})`,
  };
}

/** assertUpload: the positive control. */
export function checkUpload(
  a: UploadArgs,
  observed: readonly Observed[],
  ctx: CheckContext,
): UploadCheckResult {
  const dest = scoped(a, observed, ctx);
  const exchanges = dest.filter((o) => o.record.type === 'exchange');
  const tls = dest.filter((o) => o.record.type === 'tls-failure');
  const matching = exchanges
    .map((o) => ({ o, found: carried(o, a, ctx) }))
    .filter((x) => a.containing === 'any' || x.found.length > 0);
  // An upload of events recorded before the scenario started proves nothing about this scenario's
  // actions, and its arrival time would make the channel's measured delay (which sets the trailing
  // window of the checks this control vouches for) look shorter than it is.
  const { own: hits, old } = byAge(matching, ctx);
  const olderNote = old.length
    ? `; ${old.length} upload(s) of events recorded before this scenario started do not count: ${list(old.map((x) => describeLeak(x.o, x.found, ctx)))}`
    : '';
  const proofOf = (matched: Observed[], decodable: boolean): ChannelProof => ({
    hosts: [...new Set(matched.map((o) => o.record.host))].sort(),
    trackers: [
      ...new Set(matched.flatMap((o) => (o.inspected.tracker ? [o.inspected.tracker.id] : []))),
    ].sort(),
    firstAt: Math.min(...matched.map((o) => o.at)),
    lastAt: Math.max(...matched.map((o) => o.at)),
    decodable,
  });
  if (hits.length > 0) {
    // A canary or identifier found is content seen; for `any`, an upload with no unread part.
    const decodable = a.containing !== 'any' || hits.some((x) => unreadParts(x.o).length === 0);
    return {
      status: 'passed',
      message: `${describeDestination(a)} received ${describeContent(a)}: ${describeLeak(hits[0]!.o, hits[0]!.found, ctx)}`,
      proof: proofOf(
        hits.map((x) => x.o),
        decodable,
      ),
    };
  }
  if (a.containing === 'any' && tls.length > 0)
    return {
      status: 'passed',
      message: `the phone opened ${tls.length} HTTPS connection(s) to ${describeDestination(a)} (not decrypted): ${describeLeak(tls[0]!, [], ctx)}`,
      proof: proofOf(tls, false),
    };
  const total = observed.filter((o) => !o.probe).length;
  if (a.containing !== 'any') {
    // Not seen, but maybe only hidden: uploads in scope that could not be read may hold it.
    const cutoff = a.containing === 'canary' ? (canaryCutoff(ctx) ?? -Infinity) : -Infinity;
    const unreadLate = exchanges
      .filter((o) => o.at >= cutoff)
      .map((o) => ({ o, unread: unreadParts(o) }))
      .filter((x) => x.unread.length > 0);
    const tlsLate = tls.filter((o) => o.at >= cutoff);
    if (unreadLate.length || tlsLate.length) {
      const why: string[] = [];
      if (unreadLate.length)
        why.push(
          `${unreadLate.length} upload(s) in scope could not be decoded to the end:\n  ${list(unreadLate.map((x) => describeLeak(x.o, x.unread, ctx)))}\n  Fix: ${opaqueFix(unreadLate)}`,
        );
      if (tlsLate.length)
        why.push(tlsExplanation(ctx, tlsLate.length, [...new Set(tlsLate.map((o) => o.record.host))]));
      return {
        status: 'broken',
        message: `cannot tell whether ${describeDestination(a)} received ${describeContent(a)}: none was seen, but ${why.join('; and ')}`,
      };
    }
  }
  let message = `no upload to ${describeDestination(a)} carried ${describeContent(a)}: ${exchanges.length} exchange(s) went to it, ${total} record(s) looked at`;
  const unread = exchanges.filter((o) => unreadParts(o).length > 0);
  if (unread.length > 0)
    message += `; ${unread.length} of them could not be decoded to the end (encrypted?): ${list(unread.map((o) => describeLeak(o, unreadParts(o), ctx)))}`;
  message += olderNote;
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
