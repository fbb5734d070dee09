/**
 * The seams of src/ (issue 13): the `phonehome/seams` lint rule (eslint.config.js) fails on an
 * import from a lower layer to a higher one and passes the edges the layers allow, run through
 * ESLint's Node API on planted files exactly as `npx eslint .` runs it. Its exceptions must still be
 * real edges, so that one that has been fixed is removed rather than left to hide a new back-edge.
 */
import assert from 'node:assert/strict';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { importGraph } from './graph.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

// The project's config as is, without type information: a planted file is not part of the
// TypeScript project, and the seams rule needs none.
const eslint = new ESLint({
  cwd: ROOT,
  overrideConfig: [{ files: ['**/*.ts'], ...tseslint.configs.disableTypeChecked }],
});

async function seamErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  const fatal = result!.messages.filter((m) => m.fatal);
  assert.deepEqual(fatal, [], `${filePath} did not parse`);
  return result!.messages.filter((m) => m.ruleId === 'phonehome/seams').map((m) => m.message);
}

describe('lint: the seams of src/ (phonehome/seams)', function () {
  this.timeout(60_000);

  const backEdges: Array<[file: string, code: string, imported: string]> = [
    [
      'src/report/planted.ts',
      "import { main } from '../cli/main.ts';\nexport { main };\n",
      'src/cli/main.ts',
    ],
    [
      'src/decode/planted.ts',
      "export { createDetector } from '../detect/index.ts';\n",
      'src/detect/index.ts',
    ],
    ['src/report/planted.ts', "export type { JobSpec } from '../runner/ipc.ts';\n", 'src/runner/ipc.ts'],
    [
      'src/runner/planted.ts',
      "export type Url = ReturnType<typeof import('../cli/commands/appium.ts').runningAppiumUrl>;\n",
      'src/cli/commands/appium.ts',
    ],
    [
      'src/scenario/planted.ts',
      "import '../virtual/lab/virtual-lab.ts';\n",
      'src/virtual/lab/virtual-lab.ts',
    ],
    [
      'src/detect/planted.ts',
      "export type { CaptureRecord } from '../capture/exchange.ts';\n",
      'src/capture/exchange.ts',
    ],
    [
      'src/ui/appium/planted.ts',
      "export { runScenario } from '../../scenario/executor.ts';\n",
      'src/scenario/executor.ts',
    ],
    ['src/util/planted.ts', "export { Device } from '../device/device.ts';\n", 'src/device/device.ts'],
    [
      'src/virtual/shell/planted.ts',
      "export { hostMatches } from '../../util/hosts.ts';\n",
      'src/util/hosts.ts',
    ],
    [
      'src/report/planted.ts',
      "export { loadScenarios } from '../scenario/parse.ts';\n",
      'src/scenario/parse.ts',
    ],
    [
      'src/scenario/planted.ts',
      "export const load = () => import('../report/allure.ts');\n",
      'src/report/allure.ts',
    ],
  ];
  for (const [file, code, imported] of backEdges) {
    it(`fails on a planted back-edge: ${file} → ${imported}`, async () => {
      const errors = await seamErrors(file, code);
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.match(errors[0]!, new RegExp(`^${file} may not import ${imported}: `));
    });
  }

  const allowed: Array<[file: string, code: string]> = [
    ['src/runner/planted.ts', "export { exitCodeFor } from '../report/run-folder.ts';\n"],
    ['src/report/planted.ts', "export type { Verdict } from '../scenario/types.ts';\n"],
    ['src/scenario/planted.ts', "export type { StepResult } from '../report/run-folder.ts';\n"],
    ['src/scenario/planted.ts', "export { analyseRecord } from '../detect/pipeline.ts';\n"],
    ['src/detect/planted.ts', "export { decode } from '../decode/index.ts';\n"],
    ['src/cli/commands/planted.ts', "export { startLab } from '../../virtual/lab/virtual-lab.ts';\n"],
    ['src/device/planted.ts', "export { hostMatches } from '../util/hosts.ts';\n"],
    // A folder inside the lab: the lab may import itself.
    ['src/virtual/shell/planted.ts', "export type { Screen } from '../display/screen.ts';\n"],
  ];
  for (const [file, code] of allowed) {
    it(`passes an allowed edge: ${file} → ${/'([^']+)'/.exec(code)![1]}`, async () => {
      assert.deepEqual(await seamErrors(file, code), []);
    });
  }

  // A file the table does not place would be checked against nothing.
  for (const file of ['src/planted.ts', 'src/newlayer/planted.ts']) {
    it(`fails on a file in no layer: ${file}`, async () => {
      const errors = await seamErrors(file, 'export const x = 1;\n');
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.match(errors[0]!, new RegExp(`^${file} is in no layer: `));
    });
  }

  it('lists only exceptions that are still real edges of src/', async () => {
    const config = (await import(pathToFileURL(join(ROOT, 'eslint.config.js')).href)) as {
      SEAM_EXCEPTIONS: Array<{ from: string; to: string; temporary?: boolean }>;
    };
    const graph = importGraph(join(ROOT, 'src'));
    // Temporary ones are on their way out (their fix is another part of issue 13); the lead removes them.
    for (const { from, to } of config.SEAM_EXCEPTIONS.filter((e) => !e.temporary)) {
      assert.ok(
        graph.get(from)?.includes(to),
        `src/${from} no longer imports src/${to}: remove the exception from eslint.config.js`,
      );
    }
  });
});
