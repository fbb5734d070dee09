/**
 * Acceptance (issue 6): the generated Allure report, opened in Debian's headless Chromium over a
 * loopback HTTP server, shows the expected failed and passed scenarios.
 *
 * 1. allure-results come from a real mocha run with the allure-mocha reporter in a child process (one
 *    mocha per process, as the runner's workers do): passed, failed (an AssertionError), broken (any
 *    other error) and skipped tests, with `allure.step` steps and an `allure.attachment`.
 * 2. environment.properties and categories.json are added, and `generateAllureHtml` runs
 *    allure-commandline (Java).
 * 3. html/ is served on 127.0.0.1 and Chromium loads it; the test reads what the page shows.
 *
 * Chromium is driven over the DevTools protocol (test/support/cdp.ts). Why not `--dump-dom`: Allure 2 renders its Suites tree collapsed (only the
 * top-level suite rows; `#suites/<group-uid>` selects without expanding), so the DOM that
 * `--dump-dom --virtual-time-budget` prints holds the suite names but no test names, and the test
 * data sits base64-encoded in scripts. So Chromium runs with `--remote-debugging-pipe` (CDP as
 * NUL-separated JSON on fds 3 and 4: no port, no WebSocket client needed), the test expands the tree
 * the way a user does (clicking the group rows), and reads the rows' names and status icons, a test's
 * detail pane, and the Categories tab.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  generateAllureHtml,
  writeAllureCategories,
  writeAllureEnvironment,
} from '../../src/report/allure.ts';
import { newRunId } from '../../src/report/summary.ts';
import { CHROMIUM } from '../support/chromium.ts';
import { ALLURE_PAGE_HELPERS as PAGE_HELPERS, Browser } from '../support/cdp.ts';

const require = createRequire(import.meta.url);

const PASSED = 'incognito search on DuckDuckGo stays on the phone';
const FAILED = 'incognito browsing <leaks> the URL';
const BROKEN = 'phone lost mid-scenario';
const SKIPPED = 'China-only scenario';
const SUITE = 'emulator-5554 (leaky-miui12)';
const LEAK_MESSAGE = 'upload to tracking.intl.miui.com contains the canary phc-7f3a9e';

const SPEC = (commons: string) => `
import assert from 'node:assert/strict';
import * as allure from ${JSON.stringify(commons)};
describe(${JSON.stringify(SUITE)}, () => {
  it(${JSON.stringify(PASSED)}, async () => {
    await allure.step('launchApp com.mi.globalbrowser', async () => {});
    await allure.step('search duckduckgo "canary"', async () => {
      await allure.attachment('findings.json', JSON.stringify({ findings: [] }), 'application/json');
    });
    await allure.step('assertNoUpload to tracker', async () => {});
  });
  it(${JSON.stringify(FAILED)}, async () => {
    await allure.step('openUrl https://example.org/?q=canary', async () => {});
    await allure.step('assertNoUpload to tracker containing canary', async () => {
      assert.fail(${JSON.stringify(LEAK_MESSAGE)});
    });
  });
  it(${JSON.stringify(BROKEN)}, async () => {
    await allure.step('background', async () => {
      throw new Error('device emulator-5554 went offline');
    });
  });
  it.skip(${JSON.stringify(SKIPPED)}, () => {});
});
`;

/** Runs a command in its own process group; kills the group after `ms`. */
function runChild(cmd: string, args: string[], ms: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
      reject(new Error(`${cmd} ${args.join(' ')} took longer than ${ms} ms:\n${output}`));
    }, ms);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Serves `root` (GET only, no directory listings, nothing outside it) on 127.0.0.1. */
function serve(root: string): Promise<http.Server> {
  const types: Record<string, string> = {
    html: 'text/html; charset=utf-8',
    js: 'text/javascript',
    css: 'text/css',
    json: 'application/json',
    svg: 'image/svg+xml',
    ico: 'image/x-icon',
  };
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[file.split('.').pop() ?? ''] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('Allure report in headless Chromium (issue 6 acceptance)', function () {
  this.timeout(90_000);

  let base: string;
  let runDir: string;
  let server: http.Server | undefined;
  let browser: Browser | undefined;
  let origin: string;

  before(async function () {
    if (!existsSync(CHROMIUM)) this.skip();
    const started = Date.now();
    base = mkdtempSync(join(tmpdir(), 'phonehome-report-allure-'));
    runDir = join(base, 'reports', newRunId());
    const results = join(runDir, 'allure-results');
    mkdirSync(results, { recursive: true });
    const spec = join(base, 'scenario.spec.mjs');
    writeFileSync(
      spec,
      SPEC(
        pathToFileURL(require.resolve('allure-js-commons')).href.replace(/cjs\/index\.js$/, 'esm/index.js'),
      ),
    );
    const mocha = join(require.resolve('mocha/package.json'), '..', 'bin', 'mocha.js');
    const r = await runChild(
      process.execPath,
      [
        mocha,
        '--no-config',
        '--reporter',
        require.resolve('allure-mocha'),
        '--reporter-option',
        `resultsDir=${results}`,
        '--timeout',
        '10000',
        spec,
      ],
      30_000,
    );
    // mocha exits with the number of failures (failed + broken)
    assert.equal(r.code, 2, `mocha exit code\n${r.output}`);
    writeAllureEnvironment(runDir, { 'emulator-5554.os': 'MIUI 12.0.3', 'ca.method': 'user CA' });
    writeAllureCategories(runDir);
    const lines: string[] = [];
    const index = await generateAllureHtml(runDir, { log: (l) => lines.push(l), timeoutMs: 60_000 });
    assert.equal(index, join(runDir, 'html', 'index.html'));
    assert.match(lines[0]!, /generating the Allure report/);
    assert.match(lines.at(-1)!, /Allure report: .*index\.html/);
    server = await serve(join(runDir, 'html'));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = new Browser();
    await browser.attach();
    process.stderr.write(
      `      (set-up: mocha + allure generate + Chromium in ${Date.now() - started} ms)\n`,
    );
  });

  after(async () => {
    browser?.kill();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server?.closeAllConnections();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('the Suites tab lists the passed, failed, broken and skipped scenarios with their status', async () => {
    await browser!.goto(`${origin}/index.html#suites`);
    const shown = await browser!.evaluate<{
      groups: string[];
      rows: Array<{ name: string; status: string }>;
    }>(
      `(async () => { ${PAGE_HELPERS} await expandAll(); await waitFor('4 rows', () => rows().length >= 4); return { groups: groups(), rows: rows() }; })()`,
    );
    assert.deepEqual(shown.groups, [SUITE]);
    const status = Object.fromEntries(shown.rows.map((r) => [r.name, r.status]));
    assert.deepEqual(status, {
      [PASSED]: 'passed',
      [FAILED]: 'failed',
      [BROKEN]: 'broken',
      [SKIPPED]: 'skipped',
    });
  });

  it("a failed scenario's page shows its failing step, the message and the steps", async () => {
    await browser!.goto(`${origin}/index.html#suites`);
    const text = await browser!.evaluate<string>(
      `(async () => { ${PAGE_HELPERS}
        await expandAll();
        const row = await waitFor('the failed row', () => rows().find((r) => r.name === ${JSON.stringify(FAILED)}));
        location.hash = row.href;
        const pane = await waitFor('the test result pane', () => {
          const el = document.querySelector('.test-result, .side-by-side__right');
          return el && el.innerText.includes(${JSON.stringify(LEAK_MESSAGE)}) ? el : null;
        });
        return pane.innerText; })()`,
    );
    assert.ok(text.includes(FAILED), text);
    assert.ok(text.includes(LEAK_MESSAGE), text);
    assert.ok(text.includes('openUrl https://example.org/?q=canary'), text);
    assert.ok(text.includes('assertNoUpload to tracker containing canary'), text);
  });

  it("a passed scenario's page shows its steps and the attachment", async () => {
    await browser!.goto(`${origin}/index.html#suites`);
    const text = await browser!.evaluate<string>(
      `(async () => { ${PAGE_HELPERS}
        await expandAll();
        const row = await waitFor('the passed row', () => rows().find((r) => r.name === ${JSON.stringify(PASSED)}));
        location.hash = row.href;
        const pane = await waitFor('the test result pane', () => {
          const el = document.querySelector('.side-by-side__right');
          return el && el.innerText.includes('assertNoUpload to tracker') ? el : null;
        });
        // open the step holding the attachment
        [...pane.querySelectorAll('.step__title')].filter((t) => t.innerText.includes('search duckduckgo')).forEach((t) => t.click());
        await waitFor('the attachment row', () => pane.innerText.includes('findings.json'));
        return pane.innerText; })()`,
    );
    for (const s of [
      PASSED,
      'launchApp com.mi.globalbrowser',
      'search duckduckgo "canary"',
      'findings.json',
    ]) {
      assert.ok(text.includes(s), `${s} in:\n${text}`);
    }
  });

  it('the same single-file report opens from disk (file://) too', async () => {
    await browser!.goto(`${pathToFileURL(join(runDir, 'html', 'index.html')).href}#suites`);
    const rows = await browser!.evaluate<Array<{ name: string; status: string }>>(
      `(async () => { ${PAGE_HELPERS} await expandAll(); await waitFor('4 rows', () => rows().length >= 4); return rows(); })()`,
    );
    assert.deepEqual(rows.map((r) => r.name).sort(), [BROKEN, FAILED, PASSED, SKIPPED].sort());
  });

  it('the Categories tab puts the leak and the lost phone in phonehome categories', async () => {
    await browser!.goto(`${origin}/index.html#categories`);
    const shown = await browser!.evaluate<{
      groups: string[];
      rows: Array<{ name: string; status: string }>;
    }>(
      `(async () => { ${PAGE_HELPERS} await expandAll(); await waitFor('3 rows', () => rows().length >= 3); return { groups: groups(), rows: rows() }; })()`,
    );
    assert.ok(shown.groups.includes('Upload leaked in private mode'), shown.groups.join(' | '));
    assert.ok(shown.groups.includes('Infrastructure (broken)'), shown.groups.join(' | '));
    assert.ok(shown.groups.includes('Skipped'), shown.groups.join(' | '));
    // the leak matched the first category only, and no result fell through to Allure's defaults
    for (const g of ['Other failed assertions', 'Product defects', 'Test defects']) {
      assert.ok(!shown.groups.includes(g), shown.groups.join(' | '));
    }
    assert.deepEqual(shown.rows.map((r) => r.name).sort(), [BROKEN, FAILED, SKIPPED].sort());
  });

  it('the Overview shows the totals and the environment (versions, personal-data line)', async () => {
    await browser!.goto(`${origin}/index.html#`);
    const text = await browser!.evaluate<string>(
      `(async () => { ${PAGE_HELPERS}
        const env = await waitFor('the environment widget', () => {
          const w = [...document.querySelectorAll('.widget')].find((x) => /environment/i.test(x.innerText));
          return w && w.innerText.includes('phonehome.version') ? w : null;
        });
        const more = [...env.querySelectorAll('a, button, .widget__link, .environment-widget__show-all')].find((b) => /show all/i.test(b.innerText));
        if (more) { more.click(); await sleep(100); }
        return document.body.innerText; })()`,
    );
    assert.match(text, /\b4\b[\s\S]*test cases/i);
    for (const s of [
      'phonehome.version',
      'emulator-5554.os',
      'MIUI 12.0.3',
      'ca.method',
      'captures.personalData',
    ]) {
      assert.ok(text.includes(s), `${s} in:\n${text}`);
    }
  });
});
