/** JobResult fixtures for the report tests. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobResult } from '../../../src/report/run-folder.ts';

export function job(over: Partial<JobResult> = {}): JobResult {
  return {
    scenario: 'incognito-search-duckduckgo',
    file: 'scenarios/incognito-search-duckduckgo.yaml',
    phone: 'emulator-5554',
    profile: 'leaky-miui12',
    status: 'passed',
    durationMs: 1234,
    steps: [
      { name: 'launchApp com.mi.globalbrowser', path: 'steps[0]', status: 'passed', durationMs: 40 },
      { name: 'assertNoUpload to tracker', path: 'steps[1]', status: 'passed', durationMs: 12 },
    ],
    hosts: ['duckduckgo.com'],
    trackers: [],
    fingerprint: { model: 'Redmi Note 8', os: 'MIUI 12.0.3', browser: '12.10.5-go' },
    evidenceDir: 'evidence/incognito-search-duckduckgo/emulator-5554',
    attempts: 1,
    ...over,
  };
}

export function tempDir(prefix = 'phonehome-report-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A run folder with results.json and summary.json, as `phonehome run` leaves it. */
export function makeRun(reportsDir: string, id: string, results: JobResult[]): string {
  const dir = join(reportsDir, id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), JSON.stringify(results));
  writeFileSync(
    join(dir, 'summary.json'),
    JSON.stringify({
      run: id,
      results: results.map((r) => ({
        scenario: r.scenario,
        phone: r.phone,
        profile: r.profile,
        status: r.status,
      })),
    }),
  );
  return dir;
}
