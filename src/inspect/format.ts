/**
 * The human output of `phonehome inspect`: per exchange a header line and a table of findings, and a
 * summary at the end. Everything printed comes from captured (possibly hostile) data, so control
 * characters are escaped: a payload must not be able to drive the terminal.
 */
import type { Finding } from '../detect/index.ts';
import type { InspectedExchange } from '../detect/pipeline.ts';

/** Longest value shown in the table (the JSON output has it whole). */
const MAX_VALUE = 60;

/** Control characters (C0, DEL, C1) and bidi overrides shown as escapes. */
export function printable(s: string): string {
  return s.replace(
    /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function headerLine(x: InspectedExchange): string {
  const tracker = x.tracker ? `  [${x.tracker.vendor}: ${x.tracker.id}]` : '';
  return printable(`#${x.index} ${x.method} ${x.url}${tracker}`);
}

/** The decoder's notes (opaque, limit) carry their text as the value: shown whole as the detail. */
const isNote = (f: Finding): boolean => f.kind === 'opaque' || f.kind === 'limit';

function findingValue(f: Finding): string {
  if (isNote(f)) return '-';
  const v = clip(f.value, MAX_VALUE);
  if (f.kind === 'identifier' && f.name) return `${f.name}=${v}`;
  return v === '' ? '-' : v;
}

function findingDetail(f: Finding): string {
  if (isNote(f)) return f.detail ?? f.value;
  return f.detail === undefined || f.detail === f.value ? '' : f.detail;
}

/** The table of one exchange's findings, indented under its header line. */
export function formatExchange(x: InspectedExchange): string {
  const lines = [headerLine(x)];
  if (x.findings.length === 0) {
    lines.push('  no findings');
    return lines.join('\n');
  }
  const head = ['KIND', 'VALUE', 'ENCODING', 'PATH', 'DETAIL'];
  const rows = x.findings.map((f) => [f.kind, findingValue(f), f.encoding, f.path, findingDetail(f)]);
  const cells = [head, ...rows].map((r) => r.map(printable));
  const widths = [0, 1, 2, 3].map((i) => Math.max(...cells.map((r) => r[i]!.length)));
  const hasDetail = rows.some((r) => r[4] !== '');
  for (const r of cells) {
    const cols = hasDetail ? r : r.slice(0, 4);
    lines.push(
      `  ${cols
        .map((c, i) => (i < cols.length - 1 ? c.padEnd(widths[i]!) : c))
        .join('  ')
        .trimEnd()}`,
    );
  }
  return lines.join('\n');
}

export interface InspectSummary {
  exchanges: number;
  /** Exchanges that went to a catalogued tracker. */
  toTrackers: number;
  /** vendor → exchanges. */
  vendors: Map<string, number>;
  canaryHits: number;
  identifierHits: number;
  tlsFailures: number;
  limits: number;
  opaque: number;
}

export function emptySummary(): InspectSummary {
  return {
    exchanges: 0,
    toTrackers: 0,
    vendors: new Map(),
    canaryHits: 0,
    identifierHits: 0,
    tlsFailures: 0,
    limits: 0,
    opaque: 0,
  };
}

export function addToSummary(s: InspectSummary, x: InspectedExchange): void {
  s.exchanges++;
  if (x.tracker) {
    s.toTrackers++;
    s.vendors.set(x.tracker.vendor, (s.vendors.get(x.tracker.vendor) ?? 0) + 1);
  }
  for (const f of x.findings) {
    if (f.kind === 'canary') s.canaryHits++;
    else if (f.kind === 'identifier') s.identifierHits++;
    else if (f.kind === 'tls') s.tlsFailures++;
    else if (f.kind === 'limit') s.limits++;
    else if (f.kind === 'opaque') s.opaque++;
  }
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

export const PERSONAL_DATA_NOTE =
  'note: captures hold personal data (device identifiers, accounts, visited URLs, searches); ' +
  'keep them private and delete them when done.';

export function formatSummary(s: InspectSummary): string {
  const vendors = [...s.vendors].map(([v, n]) => `${v} ${n}`).join(', ');
  const parts = [
    plural(s.exchanges, 'exchange'),
    `${s.toTrackers} to trackers${vendors ? ` (${vendors})` : ''}`,
    plural(s.canaryHits, 'canary hit'),
    plural(s.identifierHits, 'identifier hit'),
  ];
  if (s.tlsFailures) parts.push(plural(s.tlsFailures, 'TLS failure'));
  if (s.opaque) parts.push(plural(s.opaque, 'opaque payload'));
  if (s.limits) parts.push(plural(s.limits, 'limit hit'));
  return printable(`summary: ${parts.join(', ')}`);
}
