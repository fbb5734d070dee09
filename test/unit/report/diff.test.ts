import assert from 'node:assert/strict';
import {
  diffRuns,
  formatDiffHtml,
  formatDiffJson,
  formatDiffTable,
  matchPhones,
  termSafe,
} from '../../../src/report/diff.ts';
import type { LoadedRun } from '../../../src/report/summary.ts';
import type { JobResult } from '../../../src/report/run-folder.ts';
import { job } from './fixtures.ts';

const run = (id: string, results: JobResult[], summaryOnly = false): LoadedRun => ({
  id,
  dir: `reports/${id}`,
  results,
  summaryOnly,
});

describe('report/diff', () => {
  it('matches phones by serial, then the rest by profile in serial order', () => {
    const a = new Map([
      ['s1', 'leaky'],
      ['s2', 'fixed'],
      ['old-3', 'hyperos'],
      ['old-4', 'china'],
      ['old-5', 'china'],
      ['gone', 'leaky'],
    ]);
    const b = new Map([
      ['s1', 'leaky'],
      ['s2', 'fixed'],
      ['new-3', 'hyperos'],
      ['new-4', 'china'],
      ['new-6', 'other'],
    ]);
    const m = matchPhones(a, b);
    assert.deepEqual(m.pairs, [
      { a: 's1', b: 's1', profile: 'leaky', matchedBy: 'serial' },
      { a: 's2', b: 's2', profile: 'fixed', matchedBy: 'serial' },
      { a: 'old-3', b: 'new-3', profile: 'hyperos', matchedBy: 'profile' },
      { a: 'old-4', b: 'new-4', profile: 'china', matchedBy: 'profile' },
    ]);
    assert.deepEqual(m.onlyA, [
      { serial: 'gone', profile: 'leaky' },
      { serial: 'old-5', profile: 'china' },
    ]);
    assert.deepEqual(m.onlyB, [{ serial: 'new-6', profile: 'other' }]);
  });

  it('reports changed verdicts, hosts and trackers newly seen or gone, and one-sided pairs', () => {
    const A = run('A', [
      job({
        scenario: 'search',
        phone: 'p1',
        profile: 'leaky',
        status: 'passed',
        hosts: ['a.com', 'b.com'],
        trackers: ['sensors'],
      }),
      job({ scenario: 'browse', phone: 'p1', profile: 'leaky', status: 'failed', hosts: ['a.com'] }),
      job({
        scenario: 'search',
        phone: 'old',
        profile: 'fixed',
        status: 'failed',
        hosts: ['t.miui.com'],
        trackers: ['mistat'],
      }),
      job({ scenario: 'retired', phone: 'p1', profile: 'leaky', status: 'passed' }),
      job({ scenario: 'search', phone: 'lost', profile: 'china', status: 'broken' }),
    ]);
    const B = run('B', [
      job({
        scenario: 'search',
        phone: 'p1',
        profile: 'leaky',
        status: 'failed',
        hosts: ['a.com', 'c.com'],
        trackers: ['sensors', 'umeng'],
      }),
      job({ scenario: 'browse', phone: 'p1', profile: 'leaky', status: 'failed', hosts: ['a.com'] }),
      job({ scenario: 'search', phone: 'new', profile: 'fixed', status: 'passed', hosts: [], trackers: [] }),
      job({ scenario: 'added', phone: 'p1', profile: 'leaky', status: 'skipped' }),
      job({ scenario: 'search', phone: 'fresh', profile: 'hyperos', status: 'passed' }),
    ]);
    const d = diffRuns(A, B);
    const find = (s: string, p: string) =>
      d.entries.find((e) => e.scenario === s && (e.phoneA === p || e.phoneB === p))!;
    const s1 = find('search', 'p1');
    assert.equal(s1.kind, 'changed');
    assert.equal(s1.matchedBy, 'serial');
    assert.deepEqual([s1.statusA, s1.statusB, s1.verdictChanged], ['passed', 'failed', true]);
    assert.deepEqual(
      [s1.hostsNew, s1.hostsGone, s1.trackersNew, s1.trackersGone],
      [['c.com'], ['b.com'], ['umeng'], []],
    );
    const s2 = find('search', 'old');
    assert.deepEqual([s2.kind, s2.matchedBy, s2.phoneB, s2.statusB], ['changed', 'profile', 'new', 'passed']);
    assert.deepEqual([s2.hostsGone, s2.trackersGone], [['t.miui.com'], ['mistat']]);
    assert.equal(find('browse', 'p1').kind, 'unchanged');
    assert.deepEqual([find('retired', 'p1').kind, find('retired', 'p1').statusA], ['only-a', 'passed']);
    assert.deepEqual([find('added', 'p1').kind, find('added', 'p1').statusB], ['only-b', 'skipped']);
    assert.equal(find('search', 'lost').kind, 'only-a');
    assert.equal(find('search', 'fresh').kind, 'only-b');
    assert.deepEqual(d.onlyInA, { scenarios: ['retired'], phones: [{ serial: 'lost', profile: 'china' }] });
    assert.deepEqual(d.onlyInB, { scenarios: ['added'], phones: [{ serial: 'fresh', profile: 'hyperos' }] });
    assert.deepEqual(d.counts, { changed: 2, unchanged: 1, onlyA: 2, onlyB: 2, verdictsChanged: 2 });
    // changed first, unchanged last
    assert.equal(d.entries[0]!.kind, 'changed');
    assert.equal(d.entries.at(-1)!.kind, 'unchanged');

    const table = formatDiffTable(d);
    assert.match(table, /SCENARIO\s+PHONE\s+PROFILE\s+VERDICT \(A → B\)/);
    assert.match(table, /search\s+p1\s+leaky\s+passed → failed/);
    assert.match(table, /search\s+old → new\s+fixed\s+failed → passed/);
    assert.match(table, /\+ host\s+c\.com/);
    assert.match(table, /- host\s+b\.com/);
    assert.match(table, /\+ tracker umeng/);
    assert.match(table, /- tracker mistat/);
    assert.match(table, /phone old in A matched to new in B by profile fixed/);
    assert.match(table, /scenarios only in A: retired/);
    assert.match(table, /phones only in B: fresh \(hyperos\)/);
    assert.match(table, /2 changed \(2 verdicts\), 1 unchanged, 2 only in A, 2 only in B/);
    assert.doesNotMatch(table, /^browse/m);
    assert.match(formatDiffTable(d, { all: true }), /^browse\s+p1\s+leaky\s+failed \(same\)/m);

    const json = JSON.parse(formatDiffJson(d)) as typeof d;
    assert.deepEqual(json, JSON.parse(JSON.stringify(d)));
  });

  it('says "no differences" for identical runs', () => {
    const r = [job(), job({ scenario: 'x' })];
    const d = diffRuns(run('A', r), run('B', r));
    assert.deepEqual(d.counts, { changed: 0, unchanged: 2, onlyA: 0, onlyB: 0, verdictsChanged: 0 });
    assert.match(formatDiffTable(d), /no differences/);
  });

  it('escapes everything in the HTML page and the terminal table', () => {
    const evil = '<script>alert("x")</script>&\u001b[31mred';
    const d = diffRuns(
      run('A', [job({ scenario: evil, hosts: [] })]),
      run('B', [job({ scenario: evil, hosts: [evil], status: 'failed' })]),
    );
    const html = formatDiffHtml(d);
    assert.ok(!html.includes('<script>'));
    assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;'));
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /Content-Security-Policy/);
    assert.doesNotMatch(html, /<(link|img|iframe)\b|src=|href=/); // self-contained
    const table = formatDiffTable(d);
    assert.ok(!table.includes('\u001b'));
    assert.ok(table.includes('\\x1b[31mred'));
    assert.equal(termSafe('a\u0007\u009bb'), 'a\\x07\\x9bb');
  });

  it('notes when a run had only summary.json', () => {
    const d = diffRuns(run('A', [job()], true), run('B', [job()]));
    assert.match(formatDiffTable(d), /run A has only summary\.json/);
  });
});
