// Mocha 12 on Node >= 20.19 loads spec files with require(). With tsx's require hook that compiles
// our ESM TypeScript to CommonJS, so tests would run under another module system than the product
// (adbkit's default-import trap is exactly such a difference). Load .ts specs with import() instead,
// through tsx's ESM loader (registered by node-option import=tsx/esm in .mocharc.json).
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const mochaDir = path.dirname(require.resolve('mocha'));
const esmUtils = require(path.join(mochaDir, 'lib', 'nodejs', 'esm-utils.cjs'));
const original = esmUtils.requireOrImport;
esmUtils.requireOrImport = async (file, decorator) =>
  /\.ts$/.test(file) ? import(pathToFileURL(file).href) : original(file, decorator);

// PHONEHOME_TEST_TIMES=FILE appends one line per spec file, "<ms>\t<file>", from its first hook to
// its last (with --parallel, each worker runs whole files): to see where the suite's time goes and
// to order the heavy files first.
if (process.env.PHONEHOME_TEST_TIMES) {
  const { appendFileSync } = require('node:fs');
  const started = new Map();
  exports.mochaHooks = {
    beforeAll() {
      const file = this.test?.parent?.suites?.[0]?.file;
      if (file) started.set(file, Date.now());
    },
    afterAll() {
      for (const [file, at] of started)
        appendFileSync(
          process.env.PHONEHOME_TEST_TIMES,
          `${Date.now() - at}\t${path.relative(process.cwd(), file)}\n`,
        );
      started.clear();
    },
  };
}
