/** Scenario links against phonehome.json's link templates (src/scenario/links.ts, issue 12 §2). */
import assert from 'node:assert/strict';
import { checkScenarioLinks } from '../../../src/scenario/links.ts';
import { ScenarioError, parseScenarioText } from '../../../src/scenario/parse.ts';
import { thrown } from './helpers.ts';

describe('scenario/links: phonehome.json link templates (issue 12 §2)', () => {
  describe('scenario links against the templates', () => {
    const scenario = parseScenarioText(
      'name: s\nlinks:\n  - url: https://example.org/\n  - issue: PRIV-12\n  - tms: TC-3\n---\n- background\n',
      'scenarios/s.yaml',
      { env: {} },
    );

    it('passes when every issue/tms link has a template', () => {
      checkScenarioLinks([scenario], {
        links: { issue: 'https://i/{}', tms: 'https://t/{}' },
        categories: [],
      });
    });

    it('names each link without a template (file:line:col) and the config file, exit 2', () => {
      const err = thrown(() =>
        checkScenarioLinks([scenario], {
          file: 'ci/phonehome.json',
          links: { issue: 'https://i/{}' },
          categories: [],
        }),
      );
      assert.ok(err instanceof ScenarioError);
      assert.equal(err.exitCode, 2);
      assert.equal(
        err.message,
        'scenarios/s.yaml:5:5 header.links[2].tms: no URL template for tms links in ci/phonehome.json, so "TC-3" cannot become a link\n' +
          '  fix: add "report": {"links": {"tms": "https://…/{}"}} to ci/phonehome.json ({} is where the id goes), or write the link as {url: https://…, name: TC-3}',
      );
      const none = thrown(() => checkScenarioLinks([scenario], { links: {}, categories: [] }));
      assert.match(
        none.message,
        /^2 problems in scenario files:\nscenarios\/s\.yaml:4:5 header\.links\[1\]\.issue: no URL template for issue links \(no phonehome\.json in .*, no --config\)/,
      );
    });
  });
});
