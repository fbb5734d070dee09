/**
 * run.json (issue 12 §1): who ran a run folder, where, with which shard, and the whole job universe
 * the host knew of (its phones' fingerprints × the scenarios, each with its shard). `phonehome merge`
 * reads it to say which jobs of a sharded suite are missing or duplicated; a merged run writes one of
 * its own with `merged.from` naming its inputs. Old run folders have none (readRunMeta → undefined).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../util/atomic.ts';

export interface ShardSpec {
  /** 1-based. */
  index: number;
  count: number;
}

export interface RunMetaJob {
  scenario: string;
  fingerprintKey: string;
  profile: string;
  shard: number;
}

export interface RunMeta {
  /** The run id. */
  run: string;
  /** os.hostname() of the lab host that ran it (or merged it). */
  host: string;
  started: string;
  finished: string;
  /** phonehome's version. */
  phonehome: string;
  /** `--shard I/N` (absent: not sharded, i.e. 1/1). */
  shard?: ShardSpec;
  /** Every scenario × fingerprint job this host knew of, with the shard it belongs to. */
  jobs: RunMetaJob[];
  merged?: {
    from: Array<{ run: string; host: string; dir: string; shard?: ShardSpec }>;
    /** What `phonehome merge` found (report/merge.ts MergeReport): same scenario × fingerprint in several runs. */
    duplicates?: Array<{ scenario: string; fingerprintKey: string; profile: string; runs: string[] }>;
    /** Jobs of the universe no run ran (each a broken result in the merged run). */
    missing?: Array<{
      scenario: string;
      fingerprintKey: string;
      profile: string;
      shard: number;
      count: number;
      why: string;
    }>;
    /** Shards of the split that no input was (each a broken result in the merged run). */
    missingShards?: Array<{ index: number; count: number }>;
    /** The inputs' shard counts, when they differ. */
    shardCounts?: Array<{ run: string; count: number }>;
  };
}

export const RUN_META_FILE = 'run.json';

export function writeRunMeta(runDir: string, meta: RunMeta): void {
  writeJsonAtomic(join(runDir, RUN_META_FILE), meta);
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

function shardOf(x: unknown): ShardSpec | undefined {
  if (!isObj(x) || !Number.isSafeInteger(x.index) || !Number.isSafeInteger(x.count)) return undefined;
  const index = x.index as number;
  const count = x.count as number;
  return count >= 1 && index >= 1 && index <= count ? { index, count } : undefined;
}

/**
 * A run folder's run.json, or undefined when there is none or it is not usable (a run from before
 * issue 12, a hand-edited file): callers then know nothing of its shard or universe.
 */
export function readRunMeta(runDir: string): RunMeta | undefined {
  const file = join(runDir, RUN_META_FILE);
  if (!existsSync(file)) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  if (!isObj(data) || typeof data.run !== 'string') return undefined;
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  const jobs: RunMetaJob[] = Array.isArray(data.jobs)
    ? data.jobs.filter(isObj).flatMap((j) =>
        typeof j.scenario === 'string' &&
        typeof j.fingerprintKey === 'string' &&
        Number.isSafeInteger(j.shard)
          ? [
              {
                scenario: j.scenario,
                fingerprintKey: j.fingerprintKey,
                profile: str(j.profile),
                shard: j.shard as number,
              },
            ]
          : [],
      )
    : [];
  const shard = shardOf(data.shard);
  const meta: RunMeta = {
    run: data.run,
    host: str(data.host),
    started: str(data.started),
    finished: str(data.finished),
    phonehome: str(data.phonehome),
    ...(shard ? { shard } : {}),
    jobs,
  };
  if (isObj(data.merged) && Array.isArray(data.merged.from)) {
    meta.merged = {
      from: data.merged.from.filter(isObj).map((f) => {
        const s = shardOf(f.shard);
        return { run: str(f.run), host: str(f.host), dir: str(f.dir), ...(s ? { shard: s } : {}) };
      }),
    };
    // The findings are for people and tools; kept as written.
    for (const k of ['duplicates', 'missing', 'missingShards', 'shardCounts'] as const)
      if (Array.isArray(data.merged[k])) (meta.merged as Record<string, unknown>)[k] = data.merged[k];
  }
  return meta;
}
