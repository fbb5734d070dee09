/**
 * `junit.xml` for CI systems (issue 6 §3): one `<testsuite>` per phone (`device` = serial, properties
 * with the profile and the fingerprint), one `<testcase>` per scenario (`classname` = scenario file),
 * `<failure>` for failed verdicts, `<error>` for broken ones, `<skipped>`, and the steps in
 * `<system-out>`, followed by `[[ATTACHMENT|path]]` lines for the job's screenshot, UI hierarchy and HAR
 * (issue 12 §2; the convention of Jenkins' junit-attachments plugin, which GitLab reads too).
 *
 * Every string is escaped for XML 1.0: markup characters as entities, and characters XML cannot carry
 * at all (C0 controls other than tab/LF/CR, lone surrogates, U+FFFE/U+FFFF) replaced by a visible
 * `\uXXXX`. No CDATA, so a `]]>` in a message is just text.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { JobResult } from './run-folder.ts';
import { writeFileAtomic } from '../util/atomic.ts';

/** Replaces what XML 1.0 cannot represent with a visible `\uXXXX`. */
export function xmlSafe(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += s[i]! + s[i + 1]!;
        i++;
        continue;
      }
      out += `\\u${c.toString(16)}`;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      out += `\\u${c.toString(16)}`;
    } else if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0xfffe || c === 0xffff) {
      out += `\\u${c.toString(16).padStart(4, '0')}`;
    } else {
      out += s[i]!;
    }
  }
  return out;
}

/** Escapes text content (`>` too, so `]]>` never appears). */
export function xmlText(s: string): string {
  return xmlSafe(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r/g, '&#13;');
}

/** Escapes an attribute value (double-quoted); tab, LF and CR as references so they survive normalisation. */
export function xmlAttr(s: string): string {
  return xmlSafe(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

const seconds = (ms: number) => (Math.max(0, ms || 0) / 1000).toFixed(3);

function attrs(a: Record<string, string | number>): string {
  return Object.entries(a)
    .map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`)
    .join('');
}

/** The `<system-out>` text of a job: its steps, then attempts, hosts, trackers and evidence. */
export function stepsText(r: JobResult): string {
  const lines = r.steps.map(
    (s) =>
      `[${s.status}] ${s.path} ${s.name} (${Math.round(s.durationMs)} ms)${s.message ? `\n    ${s.message.replace(/\n/g, '\n    ')}` : ''}`,
  );
  lines.push(`attempts: ${r.attempts}`);
  lines.push(`hosts: ${r.hosts.length ? r.hosts.join(', ') : '(none)'}`);
  lines.push(`trackers: ${r.trackers.length ? r.trackers.join(', ') : '(none)'}`);
  if (r.evidenceDir) lines.push(`evidence: ${r.evidenceDir}`);
  return lines.join('\n');
}

/** The first line of a message, for the `message` attribute (the body keeps all of it). */
const headline = (m: string | undefined, fallback: string) => (m ?? fallback).split('\n')[0]!.slice(0, 500);

/**
 * The evidence files a CI system attaches to a testcase, in this order: GitLab shows only the first
 * `[[ATTACHMENT|…]]` of a failed or broken testcase (its JUnit parser), so the screenshot comes first;
 * Jenkins' junit-attachments plugin takes every one.
 */
export const JUNIT_ATTACHMENTS = ['screenshot.png', 'hierarchy.xml', 'capture.har'] as const;

/** Where the attachment paths are resolved from: the run folder, and the CI's project directory. */
export interface JUnitAttachOptions {
  runDir: string;
  /** The directory CI reads junit.xml from (GitLab's $CI_PROJECT_DIR, Jenkins' workspace): default process.cwd(). */
  cwd?: string;
}

/**
 * `[[ATTACHMENT|path]]` lines for the evidence files of this job that exist. Paths are relative to
 * `cwd` when the run folder is under it (GitLab resolves them against $CI_PROJECT_DIR and needs them
 * relative; Jenkins resolves relative ones against the workspace), else absolute (Jenkins only).
 */
export function attachmentLines(r: JobResult, o: JUnitAttachOptions): string[] {
  if (!r.evidenceDir) return [];
  const cwd = resolve(o.cwd ?? process.cwd());
  const dir = resolve(o.runDir, r.evidenceDir);
  const lines: string[] = [];
  for (const name of JUNIT_ATTACHMENTS) {
    const file = join(dir, name);
    if (!existsSync(file)) continue;
    const rel = relative(cwd, file);
    // `..` or `../x` is outside; `..foo/x` is a folder under cwd; another drive (Windows) is absolute.
    const under = rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
    const path = (under ? rel : file).split(sep).join('/');
    // A path the line format cannot carry (`|`, `]]`, a line break) is left out, not mangled.
    if (/[|\n\r]|\]\]/.test(path)) continue;
    lines.push(`[[ATTACHMENT|${path}]]`);
  }
  return lines;
}

function testcase(r: JobResult, attach?: JUnitAttachOptions): string {
  const head = `    <testcase${attrs({ name: r.scenario, classname: r.file, time: seconds(r.durationMs) })}>\n`;
  let verdict = '';
  if (r.status === 'failed') {
    verdict = `      <failure${attrs({ message: headline(r.message, 'scenario failed'), type: 'failed' })}>${xmlText(r.message ?? 'scenario failed')}</failure>\n`;
  } else if (r.status === 'broken') {
    verdict = `      <error${attrs({ message: headline(r.message, 'scenario broken'), type: 'broken' })}>${xmlText(r.message ?? 'scenario broken')}</error>\n`;
  } else if (r.status === 'skipped') {
    verdict = `      <skipped${attrs({ message: headline(r.message, 'skipped') })}/>\n`;
  }
  const out = [stepsText(r), ...(attach ? attachmentLines(r, attach) : [])].join('\n');
  return `${head}${verdict}      <system-out>${xmlText(out)}</system-out>\n    </testcase>\n`;
}

/**
 * The junit.xml document for these results (phones in order of first appearance). With `attach`, each
 * testcase's `<system-out>` ends with `[[ATTACHMENT|path]]` lines for its evidence files.
 */
export function junitXml(results: readonly JobResult[], runId?: string, attach?: JUnitAttachOptions): string {
  const byPhone = new Map<string, JobResult[]>();
  for (const r of results) {
    const list = byPhone.get(r.phone) ?? [];
    list.push(r);
    byPhone.set(r.phone, list);
  }
  const count = (rs: readonly JobResult[], s: JobResult['status']) => rs.filter((r) => r.status === s).length;
  const total = (rs: readonly JobResult[]) => rs.reduce((t, r) => t + (r.durationMs || 0), 0);
  const totals = (rs: readonly JobResult[]) => ({
    tests: rs.length,
    failures: count(rs, 'failed'),
    errors: count(rs, 'broken'),
    skipped: count(rs, 'skipped'),
    time: seconds(total(rs)),
  });
  let xml = '<?xml version="1.0" encoding="UTF-8"?>\n';
  xml += `<testsuites${attrs({ name: runId ? `phonehome ${runId}` : 'phonehome', ...totals(results) })}>\n`;
  for (const [serial, rs] of byPhone) {
    const first = rs[0]!;
    xml += `  <testsuite${attrs({ name: `${serial} (${first.profile})`, device: serial, ...totals(rs) })}>\n`;
    xml += '    <properties>\n';
    xml += `      <property${attrs({ name: 'profile', value: first.profile })}/>\n`;
    for (const [k, v] of Object.entries(first.fingerprint ?? {})) {
      xml += `      <property${attrs({ name: `fingerprint.${k}`, value: String(v) })}/>\n`;
    }
    xml += '    </properties>\n';
    for (const r of rs) xml += testcase(r, attach);
    xml += '  </testsuite>\n';
  }
  xml += '</testsuites>\n';
  return xml;
}

/** Writes `<runDir>/junit.xml` (with the evidence attachment lines) and returns its path. */
export function writeJUnit(
  runDir: string,
  results: readonly JobResult[],
  runId?: string,
  cwd: string = process.cwd(),
): string {
  const file = join(runDir, 'junit.xml');
  writeFileAtomic(file, junitXml(results, runId, { runDir, cwd }));
  return file;
}
