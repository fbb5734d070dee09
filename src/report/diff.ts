/**
 * `phonehome diff RUN_A RUN_B` (issue 6 §3, firmware regression): per scenario × phone, the verdicts
 * that changed and the hosts and trackers newly seen or gone; scenarios and phones that are in one run
 * only. Rendered as a terminal table, JSON, or a self-contained HTML page.
 *
 * Phones are matched across the runs in two passes:
 *   1. by serial: the same phone, typically re-run after a firmware update;
 *   2. the phones left on both sides by profile (the profile of a virtual phone, the model of a real
 *      one): a re-flashed lab phone or a re-created virtual lab can come back under another serial.
 *      Within one profile the leftover phones are paired in serial order; extra ones stay unmatched
 *      ("only in A/B").
 * Scenarios are matched by name (config.name). A scenario × phone pair is "changed" when its verdict
 * changed or any host or tracker appeared or went.
 */
import type { JobResult } from './run-folder.ts';
import type { Verdict } from '../scenario/types.ts';
import type { LoadedRun } from './summary.ts';

export type EntryKind = 'changed' | 'unchanged' | 'only-a' | 'only-b';

export interface DiffEntry {
  scenario: string;
  kind: EntryKind;
  /** The phone's serial in run A / run B (absent when the pair is in one run only). */
  phoneA?: string;
  phoneB?: string;
  profile: string;
  /** How the phones were matched; absent for only-a/only-b. */
  matchedBy?: 'serial' | 'profile';
  statusA?: Verdict;
  statusB?: Verdict;
  verdictChanged: boolean;
  hostsNew: string[];
  hostsGone: string[];
  trackersNew: string[];
  trackersGone: string[];
}

export interface PhoneRef {
  serial: string;
  profile: string;
}

export interface RunDiff {
  a: { run: string; dir: string; summaryOnly: boolean };
  b: { run: string; dir: string; summaryOnly: boolean };
  /** Phone pairs: serial in A → serial in B, and how they were matched. */
  phones: Array<{ a: string; b: string; profile: string; matchedBy: 'serial' | 'profile' }>;
  onlyInA: { scenarios: string[]; phones: PhoneRef[] };
  onlyInB: { scenarios: string[]; phones: PhoneRef[] };
  entries: DiffEntry[];
  counts: { changed: number; unchanged: number; onlyA: number; onlyB: number; verdictsChanged: number };
}

const minus = (x: readonly string[], y: readonly string[]) => {
  const ys = new Set(y);
  return [...new Set(x)].filter((v) => !ys.has(v)).sort();
};

function phonesOf(results: readonly JobResult[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const r of results) if (!m.has(r.phone)) m.set(r.phone, r.profile);
  return m;
}

/** Matches phones: same serial first, then same profile among the rest (in serial order). */
export function matchPhones(
  a: ReadonlyMap<string, string>,
  b: ReadonlyMap<string, string>,
): { pairs: RunDiff['phones']; onlyA: PhoneRef[]; onlyB: PhoneRef[] } {
  const pairs: RunDiff['phones'] = [];
  const restA: PhoneRef[] = [];
  for (const [serial, profile] of [...a].sort(([x], [y]) => x.localeCompare(y))) {
    if (b.has(serial)) pairs.push({ a: serial, b: serial, profile, matchedBy: 'serial' });
    else restA.push({ serial, profile });
  }
  const restB = [...b]
    .filter(([serial]) => !a.has(serial))
    .map(([serial, profile]) => ({ serial, profile }))
    .sort((x, y) => x.serial.localeCompare(y.serial));
  const onlyA: PhoneRef[] = [];
  const usedB = new Set<string>();
  for (const pa of restA) {
    const pb = pa.profile ? restB.find((p) => !usedB.has(p.serial) && p.profile === pa.profile) : undefined;
    if (pb) {
      usedB.add(pb.serial);
      pairs.push({ a: pa.serial, b: pb.serial, profile: pa.profile, matchedBy: 'profile' });
    } else {
      onlyA.push(pa);
    }
  }
  return { pairs, onlyA, onlyB: restB.filter((p) => !usedB.has(p.serial)) };
}

/** Compares two loaded runs. */
export function diffRuns(runA: LoadedRun, runB: LoadedRun): RunDiff {
  const key = (scenario: string, phone: string) => `${scenario}\u0000${phone}`;
  const index = (rs: readonly JobResult[]) => new Map(rs.map((r) => [key(r.scenario, r.phone), r])); // last wins
  const ia = index(runA.results);
  const ib = index(runB.results);
  const { pairs, onlyA, onlyB } = matchPhones(phonesOf(runA.results), phonesOf(runB.results));
  const bToA = new Map(pairs.map((p) => [p.b, p]));
  const aToPair = new Map(pairs.map((p) => [p.a, p]));

  const scenariosA = new Set(runA.results.map((r) => r.scenario));
  const scenariosB = new Set(runB.results.map((r) => r.scenario));
  const entries: DiffEntry[] = [];
  const empty = { hostsNew: [], hostsGone: [], trackersNew: [], trackersGone: [] };

  for (const ra of ia.values()) {
    const pair = aToPair.get(ra.phone);
    const rb = pair ? ib.get(key(ra.scenario, pair.b)) : undefined;
    if (!pair || !rb) {
      entries.push({
        scenario: ra.scenario,
        kind: 'only-a',
        phoneA: ra.phone,
        profile: ra.profile,
        statusA: ra.status,
        verdictChanged: false,
        ...empty,
      });
      continue;
    }
    const hostsNew = minus(rb.hosts, ra.hosts);
    const hostsGone = minus(ra.hosts, rb.hosts);
    const trackersNew = minus(rb.trackers, ra.trackers);
    const trackersGone = minus(ra.trackers, rb.trackers);
    const verdictChanged = ra.status !== rb.status;
    const changed =
      verdictChanged || hostsNew.length + hostsGone.length + trackersNew.length + trackersGone.length > 0;
    entries.push({
      scenario: ra.scenario,
      kind: changed ? 'changed' : 'unchanged',
      phoneA: ra.phone,
      phoneB: rb.phone,
      profile: rb.profile || ra.profile,
      matchedBy: pair.matchedBy,
      statusA: ra.status,
      statusB: rb.status,
      verdictChanged,
      hostsNew,
      hostsGone,
      trackersNew,
      trackersGone,
    });
  }
  for (const rb of ib.values()) {
    const pair = bToA.get(rb.phone);
    if (pair && ia.has(key(rb.scenario, pair.a))) continue;
    entries.push({
      scenario: rb.scenario,
      kind: 'only-b',
      phoneB: rb.phone,
      profile: rb.profile,
      statusB: rb.status,
      verdictChanged: false,
      ...empty,
    });
  }
  const order: Record<EntryKind, number> = { changed: 0, 'only-a': 1, 'only-b': 2, unchanged: 3 };
  entries.sort(
    (x, y) =>
      order[x.kind] - order[y.kind] ||
      x.scenario.localeCompare(y.scenario) ||
      (x.phoneA ?? x.phoneB ?? '').localeCompare(y.phoneA ?? y.phoneB ?? ''),
  );
  const n = (k: EntryKind) => entries.filter((e) => e.kind === k).length;
  return {
    a: { run: runA.id, dir: runA.dir, summaryOnly: runA.summaryOnly },
    b: { run: runB.id, dir: runB.dir, summaryOnly: runB.summaryOnly },
    phones: pairs,
    onlyInA: { scenarios: [...scenariosA].filter((s) => !scenariosB.has(s)).sort(), phones: onlyA },
    onlyInB: { scenarios: [...scenariosB].filter((s) => !scenariosA.has(s)).sort(), phones: onlyB },
    entries,
    counts: {
      changed: n('changed'),
      unchanged: n('unchanged'),
      onlyA: n('only-a'),
      onlyB: n('only-b'),
      verdictsChanged: entries.filter((e) => e.verdictChanged).length,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Output

/** Control characters (terminal escapes included) shown as `\xNN` so a host name cannot drive the terminal. */
export function termSafe(s: string): string {
  return s.replace(
    /[\u0000-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

function phoneLabel(e: DiffEntry): string {
  if (e.phoneA && e.phoneB && e.phoneA !== e.phoneB) return `${e.phoneA} → ${e.phoneB}`;
  return e.phoneA ?? e.phoneB ?? '';
}

function verdictLabel(e: DiffEntry): string {
  if (e.kind === 'only-a') return `${e.statusA} → (not run)`;
  if (e.kind === 'only-b') return `(not run) → ${e.statusB}`;
  return e.verdictChanged ? `${e.statusA} → ${e.statusB}` : `${e.statusA} (same)`;
}

const pad = (s: string, w: number) => s + ' '.repeat(Math.max(0, w - [...s].length));

/**
 * The terminal table: changed and one-sided pairs (unchanged ones only counted unless `all`), with the
 * host and tracker changes on indented lines under their row.
 */
export function formatDiffTable(d: RunDiff, opts: { all?: boolean } = {}): string {
  const rows = d.entries.filter((e) => opts.all || e.kind !== 'unchanged');
  const cells = rows.map((e) => [
    termSafe(e.scenario),
    termSafe(phoneLabel(e)),
    termSafe(e.profile),
    verdictLabel(e),
  ]);
  const head = ['SCENARIO', 'PHONE', 'PROFILE', 'VERDICT (A → B)'];
  const widths = head.map((h, i) => Math.max([...h].length, ...cells.map((c) => [...c[i]!].length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => (i === c.length - 1 ? v : pad(v, widths[i]!)))
      .join('  ')
      .trimEnd();
  const out: string[] = [];
  out.push(`A: ${termSafe(d.a.run)}  (${termSafe(d.a.dir)})`);
  out.push(`B: ${termSafe(d.b.run)}  (${termSafe(d.b.dir)})`);
  for (const p of d.phones.filter((x) => x.matchedBy === 'profile')) {
    out.push(
      `phone ${termSafe(p.a)} in A matched to ${termSafe(p.b)} in B by profile ${termSafe(p.profile)}`,
    );
  }
  for (const side of ['a', 'b'] as const) {
    if (d[side].summaryOnly) {
      out.push(`note: run ${side.toUpperCase()} has only summary.json: hosts and trackers are not compared`);
    }
  }
  out.push('');
  if (rows.length === 0) {
    out.push('no differences');
  } else {
    out.push(line(head));
    rows.forEach((e, i) => {
      out.push(line(cells[i]!));
      const changes: Array<[string, string[]]> = [
        ['+ host   ', e.hostsNew],
        ['- host   ', e.hostsGone],
        ['+ tracker', e.trackersNew],
        ['- tracker', e.trackersGone],
      ];
      for (const [label, values] of changes) for (const v of values) out.push(`    ${label} ${termSafe(v)}`);
    });
  }
  out.push('');
  const only = (side: RunDiff['onlyInA'], name: string) => {
    if (side.scenarios.length)
      out.push(`scenarios only in ${name}: ${side.scenarios.map(termSafe).join(', ')}`);
    if (side.phones.length) {
      out.push(
        `phones only in ${name}: ${side.phones.map((p) => `${termSafe(p.serial)} (${termSafe(p.profile)})`).join(', ')}`,
      );
    }
  };
  only(d.onlyInA, 'A');
  only(d.onlyInB, 'B');
  const c = d.counts;
  out.push(
    `${c.changed} changed (${c.verdictsChanged} verdicts), ${c.unchanged} unchanged, ` +
      `${c.onlyA} only in A, ${c.onlyB} only in B`,
  );
  return out.join('\n');
}

/** The diff as one JSON document. */
export function formatDiffJson(d: RunDiff): string {
  return `${JSON.stringify(d, null, 2)}\n`;
}

export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A self-contained HTML page (inline CSS, no scripts, every value escaped). */
export function formatDiffHtml(d: RunDiff): string {
  const h = escapeHtml;
  const status = (v: Verdict | undefined) =>
    v ? `<span class="v ${h(v)}">${h(v)}</span>` : '<i>not run</i>';
  const list = (sign: string, cls: string, values: string[]) =>
    values.map((v) => `<li class="${cls}">${sign} ${h(v)}</li>`).join('');
  const rows = d.entries
    .map(
      (e) => `<tr class="${e.kind}">
<td>${h(e.scenario)}</td>
<td>${h(phoneLabel(e))}${e.matchedBy === 'profile' ? ' <small>(matched by profile)</small>' : ''}</td>
<td>${h(e.profile)}</td>
<td>${status(e.statusA)} → ${status(e.statusB)}</td>
<td><ul>${list('+', 'new', e.hostsNew)}${list('−', 'gone', e.hostsGone)}</ul></td>
<td><ul>${list('+', 'new', e.trackersNew)}${list('−', 'gone', e.trackersGone)}</ul></td>
<td>${h(e.kind)}</td>
</tr>`,
    )
    .join('\n');
  const only = (side: RunDiff['onlyInA'], name: string) =>
    (side.scenarios.length ? `<p>Scenarios only in ${name}: ${side.scenarios.map(h).join(', ')}</p>` : '') +
    (side.phones.length
      ? `<p>Phones only in ${name}: ${side.phones.map((p) => `${h(p.serial)} (${h(p.profile)})`).join(', ')}</p>`
      : '');
  const c = d.counts;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>phonehome diff ${h(d.a.run)} → ${h(d.b.run)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f4f4f4}tr.unchanged{color:#888}tr.changed td:first-child{border-left:4px solid #d35400}
ul{margin:0;padding-left:1em}li.new{color:#b00020}li.gone{color:#1b7a1b}
.v{padding:0 4px;border-radius:3px}.passed{background:#c8f0c8}.failed{background:#f8c8c8}.broken{background:#f8e0a0}.skipped{background:#ddd}
</style>
</head>
<body>
<h1>phonehome diff</h1>
<p>A: <code>${h(d.a.run)}</code> (${h(d.a.dir)})<br>B: <code>${h(d.b.run)}</code> (${h(d.b.dir)})</p>
<p>${c.changed} changed (${c.verdictsChanged} verdicts), ${c.unchanged} unchanged, ${c.onlyA} only in A, ${c.onlyB} only in B</p>
${only(d.onlyInA, 'A')}${only(d.onlyInB, 'B')}
<table>
<thead><tr><th>Scenario</th><th>Phone</th><th>Profile</th><th>Verdict A → B</th><th>Hosts</th><th>Trackers</th><th>Change</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</body>
</html>
`;
}

// ---------------------------------------------------------------------------------------------
// `phonehome diff RUN`: the previous run of the same phones' firmware

/** The phone name merge gives a job no shard ran (report/merge.ts NOT_RUN_PHONE). */
const NOT_RUN_PHONE_NAME = '(not run)';

/** A run's device lines: `profile · os · build` of its phones' fingerprints. */
export function deviceLines(results: readonly JobResult[]): Set<string> {
  const out = new Set<string>();
  for (const r of results) {
    if (r.phone === NOT_RUN_PHONE_NAME) continue;
    const f = r.fingerprint ?? {};
    out.add(`${r.profile || f.model || '?'} · ${f.os ?? '?'} · ${f.build ?? '?'}`);
  }
  return out;
}

export interface PreviousRunChoice {
  /** The chosen run, or undefined when no earlier run has any of these phones. */
  run?: LoadedRun;
  /** Why it was chosen (or why there is none), for people. */
  why: string;
  /** Device lines shared with the chosen run, and the run's own. */
  shared: string[];
  lines: string[];
}

/**
 * The run to compare `run` with: among the earlier runs (`candidates`, loaded lazily), the one that
 * shares the most device lines (profile · os · build), then (after a firmware update, when none
 * shares a line) the most profiles; the newest on a tie. Earlier = its id sorts before the run's.
 */
export function choosePreviousRun(
  run: LoadedRun,
  candidates: ReadonlyArray<{ id: string; load: () => LoadedRun | undefined }>,
): PreviousRunChoice {
  const lines = deviceLines(run.results);
  const profiles = new Set([...lines].map((l) => l.split(' · ')[0]!));
  let best: { run: LoadedRun; shared: string[]; sharedProfiles: string[] } | undefined;
  const newestFirst = [...candidates].filter((c) => c.id < run.id).sort((x, y) => (x.id < y.id ? 1 : -1));
  for (const c of newestFirst) {
    const other = c.load();
    if (!other) continue;
    const theirs = deviceLines(other.results);
    const shared = [...lines].filter((l) => theirs.has(l)).sort();
    const theirProfiles = new Set([...theirs].map((l) => l.split(' · ')[0]!));
    const sharedProfiles = [...profiles].filter((p) => theirProfiles.has(p)).sort();
    const better =
      !best ||
      shared.length > best.shared.length ||
      (shared.length === best.shared.length && sharedProfiles.length > best.sharedProfiles.length);
    if (better && (shared.length || sharedProfiles.length)) best = { run: other, shared, sharedProfiles };
  }
  const all = [...lines].sort();
  if (!best) {
    return {
      why:
        `no earlier run has any of this run's phones (${all.join('; ') || 'no phones'}) ` +
        `among ${newestFirst.length} earlier run(s)`,
      shared: [],
      lines: all,
    };
  }
  const why = best.shared.length
    ? `the newest earlier run sharing the most firmware: ${best.shared.length} of ${all.length} device line(s) ` +
      `(profile · os · build): ${best.shared.join('; ')}`
    : `no earlier run has the same firmware; the newest one with the most of the same profiles ` +
      `(${best.sharedProfiles.join(', ')}), i.e. before the firmware changed`;
  return { run: best.run, why, shared: best.shared, lines: all };
}
