import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  attachmentLines,
  junitXml,
  writeJUnit,
  xmlAttr,
  xmlSafe,
  xmlText,
} from '../../../src/report/junit.ts';
import { job, tempDir } from './fixtures.ts';
import { parseXml, type XmlElement } from './strict-xml.ts';

const HOSTILE =
  'a\u0000b\u0001c\u0008d\u000be\u000cf\u001bg\u007f ]]> <tag attr="x"> & &amp; \'q\' "dq" \ttab\nline\r\ncrlf ' +
  '\ud800lone \udc00low \ufffe\uffff 😀 ünï';

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const child = (el: XmlElement, name: string) => el.children.filter((c) => c.name === name);

describe('report/junit', () => {
  it('replaces characters XML cannot carry, visibly', () => {
    assert.equal(xmlSafe('a\u0000b\u001b\t\n\r'), 'a\\u0000b\\u001b\t\n\r');
    assert.equal(xmlSafe('\ud800x\udc00'), '\\ud800x\\udc00');
    assert.equal(xmlSafe('😀'), '😀');
    assert.equal(xmlText(']]>'), ']]&gt;');
    assert.equal(xmlAttr('"\'<&\n'), '&quot;&apos;&lt;&amp;&#10;');
  });

  it('writes one testsuite per phone and one testcase per scenario, well-formed', () => {
    const results = [
      job({ status: 'passed' }),
      job({
        scenario: 'ux-program-opt-out',
        file: 'scenarios/ux.yaml',
        status: 'failed',
        message: 'upload to tracking.intl.miui.com\nwith canary',
      }),
      job({ phone: 'emulator-5556', profile: 'fixed-miui14', status: 'broken', message: 'phone lost' }),
      job({
        phone: 'emulator-5556',
        profile: 'fixed-miui14',
        scenario: 'china-only',
        status: 'skipped',
        message: 'no phone matches when:',
      }),
    ];
    const root = parseXml(junitXml(results, 'run-1'));
    assert.equal(root.name, 'testsuites');
    assert.deepEqual(
      [root.attrs.tests, root.attrs.failures, root.attrs.errors, root.attrs.skipped],
      ['4', '1', '1', '1'],
    );
    const suites = child(root, 'testsuite');
    assert.equal(suites.length, 2);
    assert.deepEqual(
      suites.map((s) => s.attrs.device),
      ['emulator-5554', 'emulator-5556'],
    );
    const props = Object.fromEntries(
      child(child(suites[0]!, 'properties')[0]!, 'property').map((p) => [p.attrs.name, p.attrs.value]),
    );
    assert.equal(props.profile, 'leaky-miui12');
    assert.equal(props['fingerprint.os'], 'MIUI 12.0.3');
    const cases = child(suites[0]!, 'testcase');
    assert.deepEqual(
      cases.map((c) => [c.attrs.name, c.attrs.classname, c.attrs.time]),
      [
        ['incognito-search-duckduckgo', 'scenarios/incognito-search-duckduckgo.yaml', '1.234'],
        ['ux-program-opt-out', 'scenarios/ux.yaml', '1.234'],
      ],
    );
    assert.equal(child(cases[0]!, 'failure').length, 0);
    const failure = child(cases[1]!, 'failure')[0]!;
    assert.equal(failure.attrs.message, 'upload to tracking.intl.miui.com');
    assert.equal(failure.text, 'upload to tracking.intl.miui.com\nwith canary');
    const out = child(cases[0]!, 'system-out')[0]!.text;
    assert.match(out, /\[passed\] steps\[0\] launchApp com\.mi\.globalbrowser \(40 ms\)/);
    assert.match(out, /hosts: duckduckgo\.com/);
    const c2 = child(suites[1]!, 'testcase');
    assert.equal(child(c2[0]!, 'error')[0]!.attrs.type, 'broken');
    assert.equal(child(c2[0]!, 'error')[0]!.text, 'phone lost');
    assert.equal(child(c2[1]!, 'skipped')[0]!.attrs.message, 'no phone matches when:');
  });

  it('survives hostile strings everywhere and gives them back (minus what XML cannot carry)', () => {
    const r = job({
      scenario: HOSTILE,
      file: HOSTILE,
      phone: HOSTILE,
      profile: HOSTILE,
      status: 'failed',
      message: HOSTILE,
      hosts: [HOSTILE],
      fingerprint: { [HOSTILE.slice(0, 5)]: HOSTILE },
      steps: [{ name: HOSTILE, path: 'steps[0]', status: 'failed', message: HOSTILE, durationMs: 1 }],
    });
    const xml = junitXml([r]);
    assert.ok(!xml.includes(']]>'));
    const root = parseXml(xml);
    const suite = child(root, 'testsuite')[0]!;
    const expected = xmlSafe(HOSTILE);
    assert.equal(suite.attrs.device, expected);
    const tc = child(suite, 'testcase')[0]!;
    assert.equal(tc.attrs.name, expected);
    assert.equal(tc.attrs.classname, expected);
    assert.equal(child(tc, 'failure')[0]!.text, expected);
    assert.equal(child(tc, 'failure')[0]!.attrs.message, expected.split('\n')[0]);
    assert.ok(child(tc, 'system-out')[0]!.text.includes(expected.split('\n')[0]!));
    for (const visible of ['\\u0000', '\\u001b', '\\ud800', '\\ufffe', '😀', 'ünï', '\r\n']) {
      assert.ok(tc.attrs.name.includes(visible), visible);
    }
  });

  it('passes xmllint when it is installed', function () {
    if (!which('xmllint')) this.skip();
    const dir = tempDir();
    try {
      const file = writeJUnit(dir, [job({ message: HOSTILE, status: 'failed', scenario: HOSTILE })]);
      execFileSync('xmllint', ['--noout', file]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes junit.xml into the run folder, an empty run too', () => {
    const dir = tempDir();
    try {
      const file = writeJUnit(dir, []);
      assert.equal(file, join(dir, 'junit.xml'));
      const root = parseXml(readFileSync(file, 'utf8'));
      assert.equal(root.attrs.tests, '0');
      assert.equal(root.children.length, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('[[ATTACHMENT|path]] lines (issue 12 §2)', () => {
    let cwd: string;
    let runDir: string;
    beforeEach(() => {
      cwd = tempDir();
      runDir = join(cwd, 'reports', 'run-1');
    });
    afterEach(() => rmSync(cwd, { recursive: true, force: true }));

    const evidence = (rel: string, files: string[]) => {
      mkdirSync(join(runDir, rel), { recursive: true });
      for (const f of files) writeFileSync(join(runDir, rel, f), 'x');
    };
    const outOf = (xml: string, i: number) =>
      child(child(parseXml(xml), 'testsuite')[0]!, 'testcase')[i]!.children.find(
        (c) => c.name === 'system-out',
      )!.text;

    it('lists the screenshot, hierarchy and HAR that exist, screenshot first, relative to the CI directory', () => {
      const failed = job({ status: 'failed', message: 'leak', evidenceDir: 'evidence/a/emulator-5554' });
      const passed = job({ scenario: 'b', evidenceDir: 'evidence/b/emulator-5554' });
      evidence('evidence/a/emulator-5554', ['capture.har', 'hierarchy.xml', 'screenshot.png', 'logcat.txt']);
      evidence('evidence/b/emulator-5554', ['capture.har']);
      const file = writeJUnit(runDir, [failed, passed], 'run-1', cwd);
      const xml = readFileSync(file, 'utf8');
      const lines = (i: number) =>
        outOf(xml, i)
          .split('\n')
          .filter((l) => l.startsWith('[['));
      assert.deepEqual(lines(0), [
        '[[ATTACHMENT|reports/run-1/evidence/a/emulator-5554/screenshot.png]]',
        '[[ATTACHMENT|reports/run-1/evidence/a/emulator-5554/hierarchy.xml]]',
        '[[ATTACHMENT|reports/run-1/evidence/a/emulator-5554/capture.har]]',
      ]);
      assert.deepEqual(lines(1), ['[[ATTACHMENT|reports/run-1/evidence/b/emulator-5554/capture.har]]']);
      // The steps stay first; each attachment is a whole line (Jenkins and GitLab match it so).
      assert.ok(outOf(xml, 0).startsWith('[passed] steps[0]'));
      assert.match(outOf(xml, 0), /\nevidence: evidence\/a\/emulator-5554\n\[\[ATTACHMENT\|/);
    });

    it('gives absolute paths when the run folder is not under the CI directory', () => {
      evidence('evidence/a/p', ['screenshot.png']);
      const elsewhere = tempDir();
      try {
        const xml = junitXml([job({ evidenceDir: 'evidence/a/p' })], 'r', { runDir, cwd: elsewhere });
        assert.ok(outOf(xml, 0).endsWith(`\n[[ATTACHMENT|${join(runDir, 'evidence/a/p/screenshot.png')}]]`));
      } finally {
        rmSync(elsewhere, { recursive: true, force: true });
      }
    });

    it('keeps a run folder under a CI-directory folder named like `..foo` relative', () => {
      runDir = join(cwd, '..reports', 'run-1');
      evidence('evidence/a/p', ['screenshot.png']);
      assert.deepEqual(attachmentLines(job({ evidenceDir: 'evidence/a/p' }), { runDir, cwd }), [
        '[[ATTACHMENT|..reports/run-1/evidence/a/p/screenshot.png]]',
      ]);
      // a file beside the CI directory (`../x`) is still outside it: absolute
      const file = join(runDir, 'evidence/a/p/screenshot.png');
      assert.deepEqual(
        attachmentLines(job({ evidenceDir: 'evidence/a/p' }), { runDir, cwd: join(cwd, 'ci') }),
        [`[[ATTACHMENT|${file}]]`],
      );
    });

    it('adds nothing without evidence files, and nothing without the run folder', () => {
      const r = job({ evidenceDir: 'evidence/none/p' });
      assert.deepEqual(attachmentLines(r, { runDir, cwd }), []);
      assert.deepEqual(attachmentLines({ ...r, evidenceDir: '' }, { runDir, cwd }), []);
      evidence('evidence/none/p', ['screenshot.png']);
      assert.ok(!junitXml([r], 'r').includes('[[ATTACHMENT|'));
    });
  });

  it('the strict parser rejects what is not well-formed', () => {
    for (const bad of [
      '<a>]]></a>',
      '<a>&foo;</a>',
      '<a>a & b</a>',
      '<a x="<"/>',
      '<a x="1" x="2"/>',
      '<a><b></a></b>',
      '<a>\u0001</a>',
      '<a/><b/>',
      '<a>&#1;</a>',
    ]) {
      assert.throws(() => parseXml(bad), Error, bad);
    }
  });
});
