/**
 * Shards (issue 12 §1): `phonehome run --shard I/N` runs a deterministic slice of the suite's
 * scenario × phone-fingerprint jobs. A job belongs to shard `1 + hash(name \0 fingerprintKey) mod N`,
 * a function of the job alone: it does not depend on which other scenarios or phones a host has, so
 * every lab host of a twin lab (same phone models everywhere) cuts the suite the same way, and the
 * shards together run every job once. A host runs its slice on every one of its phones with that
 * fingerprint. One exception keeps positive controls working: scenarios linked by a `control:` are
 * sharded together, by the smallest name of their group (shardKeys below).
 */
import { createHash } from 'node:crypto';
import { UserFacingError } from '../util/user-facing.ts';
import type { RunMetaJob, ShardSpec } from '../report/run-meta.ts';
import type { Scenario } from '../scenario/types.ts';
import { controlsDefined, controlsNamed } from './controls.ts';
import type { PhoneSpec } from './ipc.ts';

export type { ShardSpec } from '../report/run-meta.ts';

export class ShardError extends UserFacingError {}

/** Parses `I/N` (1 ≤ I ≤ N); a ShardError (exit 2) naming the value otherwise. */
export function parseShard(value: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (
    !m ||
    !Number.isSafeInteger(index) ||
    !Number.isSafeInteger(count) ||
    count < 1 ||
    index < 1 ||
    index > count
  ) {
    throw new ShardError(
      `--shard must be I/N with 1 ≤ I ≤ N (got '${value}')`,
      'e.g. --shard 1/3 on the first lab host, --shard 2/3 on the second, --shard 3/3 on the third; then `phonehome merge` their run folders',
      2,
    );
  }
  return { index, count };
}

/**
 * The shard (1..count) of the job (scenario name, fingerprint key): the first 6 bytes of
 * SHA-256("name\0fingerprintKey") as a number, mod count. SHA-256 rather than a string hash of our
 * own, so any tool (or another phonehome version) can recompute it.
 */
export function shardOf(scenario: string, fingerprintKey: string, count: number): number {
  if (count <= 1) return 1;
  const h = createHash('sha256').update(`${scenario}\0${fingerprintKey}`, 'utf8').digest();
  return 1 + (h.readUIntBE(0, 6) % count);
}

export function formatShard(shard: ShardSpec): string {
  return `${shard.index}/${shard.count}`;
}

/**
 * The name each scenario is sharded by. Positive controls (runner/controls.ts) must run on the same
 * phone before the checks that name them, so scenarios linked by controls form a group that lands in
 * one shard: the group is sharded by its smallest scenario name. Every other scenario is sharded by
 * its own name. The groups depend only on the suite, so every host computes the same ones.
 */
export function shardKeys(scenarios: readonly Scenario[]): Map<string, string> {
  const parent = new Map<string, string>();
  const find = (n: string): string => {
    let r = n;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(n, r);
    return r;
  };
  const union = (a: string, b: string): void => {
    const [ra, rb] = [find(a), find(b)];
    if (ra !== rb) parent.set(ra < rb ? rb : ra, ra < rb ? ra : rb); // the smaller name is the root
  };
  for (const s of scenarios) parent.set(s.config.name, s.config.name);
  const definedBy = new Map<string, string>();
  for (const s of scenarios) for (const id of controlsDefined(s)) definedBy.set(id, s.config.name);
  for (const s of scenarios)
    for (const { id } of controlsNamed(s)) {
      const provider = definedBy.get(id);
      if (provider !== undefined) union(s.config.name, provider);
    }
  return new Map(scenarios.map((s) => [s.config.name, find(s.config.name)]));
}

export interface ShardPlan {
  /** The job universe this host knows of (scenarios × its phones' fingerprint keys), each with its shard. */
  jobs: RunMetaJob[];
  /** Whether this host runs the scenario on the phone (its fingerprint's job is in the shard). */
  include: (scenario: Scenario, phone: PhoneSpec) => boolean;
  /** Scenario × phone pairs this host runs. */
  pairs: number;
}

/** Cuts the scenario × phone pairs of a host by `shard` (undefined or 1/1: everything). */
export function planShard(
  scenarios: readonly Scenario[],
  phones: readonly Pick<PhoneSpec, 'fingerprintKey' | 'profile'>[],
  shard: ShardSpec | undefined,
): ShardPlan {
  const keys = shardKeys(scenarios);
  const count = shard?.count ?? 1;
  const shardOfJob = (name: string, fingerprintKey: string): number =>
    shardOf(keys.get(name) ?? name, fingerprintKey, count);
  const jobs: RunMetaJob[] = [];
  const seen = new Set<string>();
  for (const s of scenarios)
    for (const p of phones) {
      const k = `${s.config.name}\0${p.fingerprintKey}`;
      if (seen.has(k)) continue;
      seen.add(k);
      jobs.push({
        scenario: s.config.name,
        fingerprintKey: p.fingerprintKey,
        profile: p.profile,
        shard: shardOfJob(s.config.name, p.fingerprintKey),
      });
    }
  const include = (s: Scenario, p: Pick<PhoneSpec, 'fingerprintKey'>): boolean =>
    !shard || count <= 1 || shardOfJob(s.config.name, p.fingerprintKey) === shard.index;
  let pairs = 0;
  for (const s of scenarios) for (const p of phones) if (include(s, p)) pairs++;
  return { jobs, include, pairs };
}
