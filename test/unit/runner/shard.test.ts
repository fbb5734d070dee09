/**
 * Shards (src/runner/shard.ts): `--shard I/N` parsing, the job → shard function (deterministic, a
 * function of the job alone), every job in exactly one shard, the union of the shards is the suite,
 * control groups kept together, and the scheduler running only the included pairs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parseShard, planShard, shardKeys, shardOf } from '../../../src/runner/shard.ts';
import { schedule } from '../../../src/runner/scheduler.ts';
import { parseScenarioText } from '../../../src/scenario/parse.ts';
import { fakeLab, phone, scenario } from './fakes.ts';

const KEYS = [
  'Redmi Note 8|MIUI 12|10|V12|leaky',
  'Xiaomi 13|HyperOS 1|14|OS1.0|hyperos',
  'M2|MIUI 14|13|V14|fixed',
];
const NAMES = Array.from({ length: 30 }, (_, i) => `scenario ${i}`);

describe('runner: shards (--shard I/N)', () => {
  it('parses I/N and refuses anything else with exit 2 and the value', () => {
    assert.deepEqual(parseShard('2/3'), { index: 2, count: 3 });
    assert.deepEqual(parseShard(' 1 / 1 '), { index: 1, count: 1 });
    for (const bad of ['0/2', '3/2', '1/0', '1', 'a/b', '-1/2', '1/2/3', '1.5/2', '']) {
      assert.throws(
        () => parseShard(bad),
        (e: Error & { exitCode?: number }) =>
          e.exitCode === 2 && e.message.includes(`'${bad}'`) && /1 ≤ I ≤ N/.test(e.message),
        bad,
      );
    }
  });

  it('the shard of a job is a fixed function of (name, fingerprint key): SHA-256, not the job list', () => {
    // Pinned values: another host (or phonehome version) must cut the suite the same way.
    assert.equal(shardOf('incognito-browsing', 'Redmi Note 8|MIUI 12|10|V12|leaky', 4), 3);
    assert.equal(shardOf('scenario 7', 'Xiaomi 13|HyperOS 1|14|OS1.0|hyperos', 3), 2);
    assert.equal(shardOf('scenario 0', 'M2|MIUI 14|13|V14|fixed', 5), 1);
    // …which is 1 + (the first 6 bytes of SHA-256("name\0key")) mod N.
    const h = createHash('sha256').update('scenario 7\0Xiaomi 13|HyperOS 1|14|OS1.0|hyperos').digest();
    assert.equal(1 + (h.readUIntBE(0, 6) % 3), 2);
    assert.equal(shardOf('a', 'k', 1), 1);
    for (const n of NAMES) for (const k of KEYS) assert.ok([1, 2, 3, 4].includes(shardOf(n, k, 4)));
    // A plan for a subset of the scenarios and phones gives each job the same shard as the full plan.
    const all = planShard(
      NAMES.map((n) => scenario(n)),
      KEYS.map((k, i) => phone(`s${i}`, k)),
      { index: 1, count: 4 },
    );
    const some = planShard(
      NAMES.slice(5, 9).map((n) => scenario(n)),
      [phone('other', KEYS[1])],
      { index: 1, count: 4 },
    );
    for (const j of some.jobs) {
      const full = all.jobs.find((x) => x.scenario === j.scenario && x.fingerprintKey === j.fingerprintKey);
      assert.equal(j.shard, full?.shard, j.scenario);
    }
    // The hash spreads: with 30 × 3 jobs over 3 shards no shard is empty.
    const counts = [1, 2, 3].map(
      (s) => all.jobs.filter((j) => shardOf(j.scenario, j.fingerprintKey, 3) === s).length,
    );
    assert.ok(
      counts.every((c) => c > 0),
      String(counts),
    );
  });

  it('every job is in exactly one shard, and the shards together are the whole suite', () => {
    const scenarios = NAMES.map((n) => scenario(n));
    // Twins: two phones per fingerprint; a host runs its shard's jobs on every phone of the fingerprint.
    const phones = KEYS.flatMap((k, i) => [phone(`a${i}`, k), phone(`b${i}`, k)]);
    for (const count of [1, 2, 3, 5]) {
      const seen = new Map<string, number>();
      let pairs = 0;
      for (let index = 1; index <= count; index++) {
        const plan = planShard(scenarios, phones, { index, count });
        assert.equal(plan.jobs.length, NAMES.length * KEYS.length, 'the universe is the same on every shard');
        pairs += plan.pairs;
        for (const s of scenarios)
          for (const p of phones)
            if (plan.include(s, p)) {
              const k = `${s.config.name}@${p.serial}`;
              seen.set(k, (seen.get(k) ?? 0) + 1);
              const job = plan.jobs.find(
                (j) => j.scenario === s.config.name && j.fingerprintKey === p.fingerprintKey,
              );
              assert.equal(job?.shard, index);
            }
      }
      assert.equal(seen.size, scenarios.length * phones.length, `count ${count}: the union is everything`);
      assert.ok(
        [...seen.values()].every((n) => n === 1),
        `count ${count}: once each`,
      );
      assert.equal(pairs, scenarios.length * phones.length);
    }
    // No shard (or 1/1) is everything.
    const none = planShard(scenarios, phones, undefined);
    assert.equal(none.pairs, scenarios.length * phones.length);
    assert.equal(planShard(scenarios, phones, { index: 1, count: 1 }).pairs, none.pairs);
  });

  it('scenarios linked by a control land in one shard (the control runs first on the same phone)', () => {
    const sc = (name: string, step: string) =>
      parseScenarioText(`name: ${name}\ncanary: [url]\n---\n${step}\n`, `suite/${name}.yaml`);
    const provider = sc('zz provider', '- assertUpload: {to: tracker, containing: any, id: ctl}');
    const user1 = sc('aa user', '- assertNoUpload: {containing: canary, control: ctl}');
    const user2 = sc('mm user', '- assertNoUpload: {containing: canary, control: ctl}');
    const loner = sc('loner', '- assertNoUpload: {containing: canary}');
    const keys = shardKeys([provider, user1, user2, loner]);
    assert.equal(keys.get('zz provider'), 'aa user');
    assert.equal(keys.get('mm user'), 'aa user');
    assert.equal(keys.get('loner'), 'loner');
    for (const k of KEYS) {
      const plan = planShard([provider, user1, user2, loner], [phone('x', k)], { index: 1, count: 7 });
      const shards = new Set(plan.jobs.filter((j) => j.scenario !== 'loner').map((j) => j.shard));
      assert.equal(shards.size, 1, `${k}: ${[...shards].join(',')}`);
    }
  });

  it('the scheduler runs only the included pairs, in scenario order per phone', async () => {
    const scenarios = ['s1', 's2', 's3', 's4'].map((n) => scenario(n));
    const phones = [phone('p1', 'k1'), phone('p2', 'k2')];
    const lab = fakeLab(() => ({ status: 'passed' }));
    const include = (s: { config: { name: string } }, p: { serial: string }) =>
      (p.serial === 'p1' && s.config.name !== 's2') || (p.serial === 'p2' && s.config.name === 's4');
    const out = await schedule({ scenarios, phones, include, startWorker: lab.startWorker });
    assert.deepEqual(
      out.results.map((r) => `${r.scenario}@${r.phone}`),
      ['s1@p1', 's3@p1', 's4@p1', 's4@p2'],
    );
    assert.deepEqual(
      lab.starts.filter((s) => s.includes('@p1')),
      ['s1@p1#1', 's3@p1#1', 's4@p1#1'],
    );
    // A host with nothing in its shard: no worker starts, no result, no error.
    const idle = fakeLab(() => ({ status: 'passed' }));
    const none = await schedule({ scenarios, phones, include: () => false, startWorker: idle.startWorker });
    assert.deepEqual(none.results, []);
    assert.equal(idle.workers.size, 0);
  });
});
