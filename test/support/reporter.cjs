// The spec reporter plus one closing line, "N passed, N failed, N skipped", that CI reads.
let mocha = require('mocha');
if (mocha.default) mocha = mocha.default;
const Mocha = mocha.Mocha ?? mocha;
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class PhonehomeReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats;
      process.stdout.write(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
    });
  }
}

module.exports = PhonehomeReporter;
