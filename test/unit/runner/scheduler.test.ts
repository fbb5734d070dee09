import assert from 'node:assert/strict';
import { EXIT, exitCodeFor } from '../../../src/report/run-folder.ts';
import { schedule, type RunEvent } from '../../../src/runner/scheduler.ts';
import { fakeLab, phone, scenario } from './fakes.ts';

const statuses = (rs: Array<{ scenario: string; phone: string; status: string }>) =>
  rs.map((r) => `${r.scenario}@${r.phone}:${r.status}`);

describe('runner scheduler (fake workers)', () => {
  it('runs every scenario × phone, one job per phone at a time, one worker per phone', async () => {
    const lab = fakeLab(() => ({ status: 'passed', ms: 10 }));
    const phones = [phone('A'), phone('B'), phone('C')];
    const scenarios = [scenario('s1'), scenario('s2'), scenario('s3'), scenario('s4')];
    const out = await schedule({ scenarios, phones, startWorker: lab.startWorker });
    assert.equal(out.results.length, 12);
    assert.ok(out.results.every((r) => r.status === 'passed'));
    // Results come in (scenario × phone) order whatever order they finished in.
    assert.deepEqual(
      out.results.slice(0, 3).map((r) => `${r.scenario}@${r.phone}`),
      ['s1@A', 's1@B', 's1@C'],
    );
    for (const p of phones) {
      assert.equal(lab.maxPerPhone.get(p.serial), 1, `one job at a time on ${p.serial}`);
      assert.equal(lab.workers.get(p.serial), 1, `one worker for ${p.serial}`);
    }
    assert.equal(lab.maxRunning, 3, 'phones run in parallel');
    assert.deepEqual(lab.finished.sort(), ['A', 'B', 'C'], 'every worker is told to finish');
  });

  it('respects the global concurrency limit', async () => {
    const lab = fakeLab(() => ({ status: 'passed', ms: 10 }));
    const phones = [phone('A'), phone('B'), phone('C'), phone('D')];
    await schedule({
      scenarios: [scenario('s1'), scenario('s2')],
      phones,
      startWorker: lab.startWorker,
      concurrency: 2,
    });
    assert.equal(lab.maxRunning, 2);
  });

  it('--retries runs failed and broken jobs again, recording attempts; passes on a later attempt stand', async () => {
    const lab = fakeLab((job) =>
      job.scenario.config.name === 'flaky'
        ? { status: job.attempt < 2 ? 'failed' : 'passed' }
        : job.scenario.config.name === 'bad'
          ? { status: 'broken' }
          : { status: 'passed' },
    );
    const events: RunEvent[] = [];
    const out = await schedule({
      scenarios: [scenario('flaky'), scenario('bad'), scenario('ok')],
      phones: [phone('A')],
      startWorker: lab.startWorker,
      retries: 2,
      onEvent: (e) => events.push(e),
    });
    assert.deepEqual(statuses(out.results), ['flaky@A:passed', 'bad@A:broken', 'ok@A:passed']);
    assert.deepEqual(
      out.results.map((r) => r.attempts),
      [2, 3, 1],
    );
    assert.equal(events.filter((e) => e.type === 'retry').length, 3);
    assert.equal(exitCodeFor(out.results), EXIT.infrastructure);
  });

  it('without --retries a failure is final', async () => {
    const lab = fakeLab(() => ({ status: 'failed' }));
    const out = await schedule({
      scenarios: [scenario('s')],
      phones: [phone('A')],
      startWorker: lab.startWorker,
    });
    assert.deepEqual(statuses(out.results), ['s@A:failed']);
    assert.deepEqual(lab.starts, ['s@A#1']);
  });

  it('--bail starts no new job after the first failure; the rest are skipped', async () => {
    const lab = fakeLab((job) => ({ status: job.scenario.config.name === 's2' ? 'failed' : 'passed' }));
    const out = await schedule({
      scenarios: [scenario('s1'), scenario('s2'), scenario('s3'), scenario('s4')],
      phones: [phone('A')],
      startWorker: lab.startWorker,
      bail: true,
    });
    assert.deepEqual(statuses(out.results), ['s1@A:passed', 's2@A:failed', 's3@A:skipped', 's4@A:skipped']);
    assert.match(out.results[2]!.message ?? '', /--bail/);
    assert.equal(out.results[2]!.attempts, 0);
    assert.equal(lab.starts.length, 2);
    assert.equal(exitCodeFor(out.results), EXIT.failed);
  });

  it('a lost phone gives broken, a new worker takes the next job, and quarantine follows N failures', async () => {
    // Phone A is lost on every job; B is healthy. Nothing is portable.
    const lab = fakeLab((_job, p) =>
      p.serial === 'A' ? { status: 'broken', phoneLost: true } : { status: 'passed' },
    );
    const events: RunEvent[] = [];
    const out = await schedule({
      scenarios: [scenario('s1'), scenario('s2'), scenario('s3')],
      phones: [phone('A'), phone('B', 'other')],
      startWorker: lab.startWorker,
      quarantineAfter: 2,
      onEvent: (e) => events.push(e),
    });
    assert.deepEqual(statuses(out.results), [
      's1@A:broken',
      's1@B:passed',
      's2@A:broken',
      's2@B:passed',
      's3@A:broken',
      's3@B:passed',
    ]);
    assert.equal(lab.workers.get('A'), 2, 'a fresh worker after the first loss, none after quarantine');
    assert.deepEqual(out.quarantined, ['A']);
    assert.match(out.results[4]!.message ?? '', /^phone quarantined$/);
    assert.equal(out.results[4]!.attempts, 0, 'never ran');
    assert.ok(events.some((e) => e.type === 'quarantined' && e.phone === 'A'));
  });

  it('a worker-process fault is broken and gets a new worker, but does not count towards quarantine', async () => {
    // A's worker process fails on s1 and s2 (as for every phone it served); the phone itself is fine.
    const lab = fakeLab((job, p) =>
      p.serial === 'A' && job.scenario.config.name !== 's3'
        ? { status: 'broken', phoneLost: true, workerFault: true }
        : { status: 'passed' },
    );
    const out = await schedule({
      scenarios: [scenario('s1'), scenario('s2'), scenario('s3')],
      phones: [phone('A')],
      startWorker: lab.startWorker,
      quarantineAfter: 2,
    });
    assert.deepEqual(statuses(out.results), ['s1@A:broken', 's2@A:broken', 's3@A:passed']);
    assert.deepEqual(out.quarantined, [], 'two faults in a row, not quarantined');
    assert.equal(lab.workers.get('A'), 3, 'a fresh worker after each fault');
  });

  it('quarantine moves portable jobs (and the one that broke) to a phone with the same fingerprint', async () => {
    const lab = fakeLab((_job, p) =>
      p.serial === 'A' ? { status: 'broken', phoneLost: true } : { status: 'passed' },
    );
    const out = await schedule({
      scenarios: [
        scenario('p1', { portable: true }),
        scenario('p2', { portable: true }),
        scenario('fixed'),
        scenario('p3', { portable: true }),
      ],
      // A and B are twins; C is another model.
      phones: [phone('A'), phone('B'), phone('C', 'other|HyperOS 2|14|OS2|hyperos')],
      startWorker: lab.startWorker,
      quarantineAfter: 2,
    });
    const byKey = new Map(
      out.results.map((r, i) => [
        `${['p1', 'p2', 'fixed', 'p3'][Math.floor(i / 3)]}/${['A', 'B', 'C'][i % 3]}`,
        r,
      ]),
    );
    // p1 broke on A (first failure, not yet quarantined), p2 broke on A (second: quarantine) and moved to B.
    assert.equal(byKey.get('p1/A')!.status, 'broken');
    assert.equal(byKey.get('p2/A')!.status, 'passed');
    assert.equal(byKey.get('p2/A')!.phone, 'B', 'ran on the twin');
    assert.equal(byKey.get('p2/A')!.attempts, 2);
    assert.equal(byKey.get('fixed/A')!.status, 'broken');
    assert.match(byKey.get('fixed/A')!.message ?? '', /phone quarantined/);
    assert.equal(byKey.get('p3/A')!.status, 'passed');
    assert.equal(byKey.get('p3/A')!.phone, 'B');
    assert.equal(byKey.get('p3/A')!.attempts, 1, 'moved before it ever ran');
    assert.ok(!lab.starts.some((s) => /^p\d@C#2/.test(s)), 'never moved to a phone of another fingerprint');
    assert.equal(lab.maxPerPhone.get('B'), 1, 'moved jobs still run one at a time on B');
  });

  it('a portable job with no twin is broken with the reason', async () => {
    const lab = fakeLab(() => ({ status: 'broken', phoneLost: true }));
    const out = await schedule({
      scenarios: [scenario('p1', { portable: true }), scenario('p2', { portable: true })],
      phones: [phone('A')],
      startWorker: lab.startWorker,
      quarantineAfter: 1,
    });
    assert.deepEqual(statuses(out.results), ['p1@A:broken', 'p2@A:broken']);
    assert.match(out.results[1]!.message ?? '', /no other phone with the same fingerprint/);
  });

  it('an abort stops the workers: the job at hand is broken, the rest skipped', async () => {
    const lab = fakeLab(() => ({ status: 'passed', ms: 10_000 }));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const started = Date.now();
    const out = await schedule({
      scenarios: [scenario('s1'), scenario('s2')],
      phones: [phone('A'), phone('B')],
      startWorker: lab.startWorker,
      signal: ac.signal,
    });
    assert.ok(Date.now() - started < 5000);
    assert.equal(out.interrupted, true);
    assert.deepEqual(statuses(out.results), ['s1@A:broken', 's1@B:broken', 's2@A:skipped', 's2@B:skipped']);
    assert.ok(lab.stopped.includes('A') && lab.stopped.includes('B'));
  });

  it('exit codes: 0 passed/skipped, 1 failed, 3 broken (broken wins)', () => {
    assert.equal(exitCodeFor([{ status: 'passed' }, { status: 'skipped' }]), EXIT.passed);
    assert.equal(exitCodeFor([{ status: 'passed' }, { status: 'failed' }]), EXIT.failed);
    assert.equal(exitCodeFor([{ status: 'failed' }, { status: 'broken' }]), EXIT.infrastructure);
    assert.equal(exitCodeFor([]), EXIT.passed);
  });
});
