// `npm test`: every spec file, unit and integration, in two parallel jobs (CI has 2 cores), heaviest
// first. Mocha hands files to its jobs in the order given; alphabetically, a two-minute file could
// start last and run alone at the end. Longest-first keeps both jobs busy to the end.
//
// HEAVY: spec files by their measured time in a run of this suite (seconds, 2026-12-06, 2 cores,
// after the CLI loaded only its named command), longest first; the rest follow alphabetically.
// To refresh:
//   PHONEHOME_TEST_TIMES=/tmp/times.txt npm test && sort -rn /tmp/times.txt | head -20
// A stale entry only costs balance; one whose file is gone fails here, naming it.
const { readdirSync, readFileSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const HEAVY = [
  'test/integration/cli.test.ts', // 178 s
  'test/integration/hostile-firmware.test.ts', // 128 s
  'test/integration/pages.test.ts', // 125 s
  'test/integration/xiaomi-behaviour.test.ts', // 105 s
  'test/integration/runner.test.ts', // 100 s
  'test/integration/multi-host.test.ts', // 50 s
  'test/integration/report-history.test.ts', // 45 s
  'test/integration/capture.test.ts', // 43 s
  'test/integration/scenario-executor.test.ts', // 38 s
  'test/integration/remote-phones.test.ts', // 26 s
  'test/integration/sensors-sdk.test.ts', // 25 s
  'test/integration/inspect-cli.test.ts', // 23 s
  'test/integration/capture-cli.test.ts', // 23 s
  'test/integration/ui-tools.test.ts', // 20 s
  'test/integration/report-labels.test.ts', // 19 s
  'test/integration/appium-contract.test.ts', // 15 s
  'test/integration/appium-cli.test.ts', // 13 s
];
const specs = (dir) =>
  readdirSync(path.join(root, dir), { recursive: true })
    .map((f) => `${dir}/${String(f).split(path.sep).join('/')}`)
    .filter((f) => f.endsWith('.test.ts'));
const all = [...specs('test/unit'), ...specs('test/integration')].sort();
const gone = HEAVY.filter((f) => !all.includes(f));
if (gone.length)
  throw new Error(`test/support/suite.cjs: HEAVY names spec files that do not exist: ${gone.join(', ')}`);
const rest = all.filter((f) => !HEAVY.includes(f));

module.exports = {
  ...JSON.parse(readFileSync(path.join(root, '.mocharc.json'), 'utf8')),
  parallel: true,
  jobs: 2,
  spec: [...HEAVY, ...rest],
};
