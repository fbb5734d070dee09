import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ProjectConfigError,
  javaRegexProblem,
  loadProjectConfig,
  projectJsonSchema,
  templateProblem,
} from '../../../src/config/project.ts';
import { ALLURE_CATEGORIES } from '../../../src/report/allure.ts';
import { thrown } from '../scenario/helpers.ts';

describe('config/project: phonehome.json (issue 12 §2)', () => {
  let dir: string;
  let cwd: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'phonehome-project-'));
    cwd = process.cwd();
  });
  afterEach(() => {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (name: string, text: string): string => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };
  const problems = (path?: string): string => {
    const err = thrown(() => loadProjectConfig(path));
    assert.ok(err instanceof ProjectConfigError, String(err));
    assert.equal(err.exitCode, 2);
    return err.message;
  };

  it('is empty without --config and without phonehome.json in the working directory', () => {
    process.chdir(dir);
    assert.deepEqual(loadProjectConfig(), { links: {}, categories: [] });
  });

  it('reads phonehome.json from the working directory, and categories from a file beside it', () => {
    mkdirSync(join(dir, 'ci'));
    write(
      'ci/categories.json',
      JSON.stringify([
        { name: 'Known firmware bug', matchedStatuses: ['failed'], messageRegex: '(?s).*mqs-log.*' },
      ]),
    );
    write(
      'phonehome.json',
      JSON.stringify({
        $schema: './schemas/phonehome.schema.json',
        report: {
          links: { issue: 'https://gitlab.example/lab/-/issues/{}', tms: 'https://tms.example/case/{}?v=1' },
          categories: 'ci/categories.json',
        },
      }),
    );
    process.chdir(dir);
    assert.deepEqual(loadProjectConfig(), {
      file: 'phonehome.json',
      links: { issue: 'https://gitlab.example/lab/-/issues/{}', tms: 'https://tms.example/case/{}?v=1' },
      categories: [
        { name: 'Known firmware bug', matchedStatuses: ['failed'], messageRegex: '(?s).*mqs-log.*' },
      ],
    });
  });

  it("accepts phonehome's own categories (their regexes are Java's)", () => {
    const f = write('p.json', JSON.stringify({ report: { categories: ALLURE_CATEGORIES } }));
    assert.deepEqual(loadProjectConfig(f).categories, ALLURE_CATEGORIES);
  });

  it('names a missing --config file and one that is not JSON, with line:col', () => {
    assert.match(problems(join(dir, 'nope.json')), /nope\.json: no such file\n {2}fix: /);
    const f = write('bad.json', '{\n  "report": {\n    "links": {},\n  }\n}\n');
    assert.match(problems(f), new RegExp(`^${f}:4:3 not valid JSON: .*\\n  fix: fix the JSON`));
  });

  it('names every bad field at file:line:col: typos, templates, statuses and regexes', () => {
    const f = write(
      'p.json',
      [
        '{',
        '  "report": {',
        '    "links": {"issue": "https://x.example/issues/", "tsm": "https://x.example/{}"},',
        '    "categories": [',
        '      {"name": "A", "messageRegex": "(abc", "matchedStatus": ["failed"]},',
        '      {"name": "B", "matchedStatuses": ["fail"], "traceRegex": "/timeout/i"}',
        '    ]',
        '  },',
        '  "reprot": {}',
        '}',
      ].join('\n'),
    );
    assert.equal(
      problems(f),
      [
        `7 problems in ${f}:`,
        `${f}:3:24 report.links.issue: expected exactly one {} (where the id goes), found 0`,
        `${f}:3:53 report.links: unknown field "tsm"`,
        '  fix: known fields here: issue, tms',
        `${f}:5:37 report.categories[0].messageRegex: not a valid regular expression: Unterminated group`,
        `${f}:5:45 report.categories[0]: unknown field "matchedStatus"`,
        '  fix: known fields here: name, description, matchedStatuses, messageRegex, traceRegex, flaky',
        `${f}:6:41 report.categories[1].matchedStatuses[0]: expected "failed" or "broken" or "passed" or "skipped" or "unknown", got "fail"`,
        `${f}:6:64 report.categories[1].traceRegex: this is a JavaScript regex literal: Allure reads Java regexes without slashes (write (?i).*text.* for /text/i)`,
        `${f}:9:3 unknown field "reprot"`,
        '  fix: known fields here: report ($schema for editors)',
      ].join('\n'),
    );
  });

  it('names problems of a categories file in that file, and a missing one with the config that names it', () => {
    const f = write('p.json', '{"report": {"categories": "cats.json"}}');
    assert.match(problems(f), new RegExp(`cats\\.json: no such file \\(named by ${f}\\)`));
    write('cats.json', '[\n  {"name": "X", "messageRegex": "[z-a]"}\n]\n');
    assert.equal(
      problems(f),
      `${join(dir, 'cats.json')}:2:33 [0].messageRegex: not a valid regular expression: Range out of order in character class`,
    );
  });

  it('checks link templates', () => {
    assert.equal(templateProblem('https://gitlab.example/lab/-/issues/{}'), undefined);
    assert.match(templateProblem('https://x/{}/{}')!, /exactly one \{\}/);
    assert.match(templateProblem('gitlab.example/{}')!, /absolute URL/);
    assert.match(templateProblem('file:///tmp/{}')!, /http/);
  });

  it('checks Java regexes for the common mistakes and accepts Java-only constructs', () => {
    for (const ok of [
      '(?is).*\\b(upload|leak)\\b.*',
      'a++b',
      '(?>ab)c',
      '\\Aabc\\z',
      '\\Qa.b(\\E.*',
      '(?i:x)y(?m)z',
      '(?<name>x)\\k<name>',
    ]) {
      assert.equal(javaRegexProblem(ok), undefined, ok);
    }
    assert.match(javaRegexProblem('*abc')!, /Nothing to repeat/);
    assert.match(javaRegexProblem('abc)')!, /Unmatched '\)'/);
    assert.match(javaRegexProblem('[abc')!, /Unterminated character class/);
    assert.match(javaRegexProblem('(?q)x')!, /unknown inline flag "q"/);
  });

  it('publishes a JSON Schema that is strict about unknown keys', () => {
    const s = projectJsonSchema() as {
      title: string;
      additionalProperties: boolean;
      properties: { report: { additionalProperties: boolean } };
    };
    assert.equal(s.title, 'phonehome phonehome.json');
    assert.equal(s.additionalProperties, false);
    assert.equal(s.properties.report.additionalProperties, false);
  });
});
