/**
 * phonehome.json, the project config (issue 12 §2): optional, in the working directory, or given with
 * `phonehome run --config FILE` (and `merge --config`). Today it holds the report's link templates
 * and the user's Allure categories:
 *
 *   {
 *     "report": {
 *       "links": {"issue": "https://gitlab.example/lab/-/issues/{}", "tms": "https://tms.example/case/{}"},
 *       "categories": [{"name": "Known firmware bug", "matchedStatuses": ["failed"], "messageRegex": ".*mqs-log.*"}]
 *     }
 *   }
 *
 * `categories` may also be a file name ("categories.json", relative to phonehome.json) holding the
 * list. Validation is strict where a typo would silently do nothing (unknown keys are errors), and
 * every problem names file:line:col (src/config/json-file.ts, shared with devices.json); a bad file
 * exits 2 before any job.
 *
 * Categories' regexes are Java regexes (Allure 2 matches them with `Pattern.matches`, i.e. against the
 * WHOLE message). They are checked by compiling them as JavaScript regexes after translating the Java
 * constructs JavaScript lacks (leading inline flags `(?is)`, possessive quantifiers, atomic groups,
 * `\A` `\Z` `\z`, `\Q…\E`): that catches the common mistakes (unbalanced brackets and parentheses,
 * a quantifier with nothing to repeat, a reversed range, a `/…/flags` literal) but not every
 * difference between the two dialects.
 *
 * Config imports nothing above it: the check of scenario links against these templates is scenario's
 * (src/scenario/links.ts checkScenarioLinks), and report/allure.ts takes AllureCategory from here.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { JsonFileError, parseJsonFile, readJsonFile, type FileProblem, type JsonFile } from './json-file.ts';

/**
 * An Allure category (categories.json): the user's from phonehome.json, and phonehome's own
 * (ALLURE_CATEGORIES in src/report/allure.ts, which writes them).
 */
export interface AllureCategory {
  name: string;
  description?: string;
  matchedStatuses?: Array<'failed' | 'broken' | 'passed' | 'skipped' | 'unknown'>;
  /** A Java regular expression that must match the whole status message. */
  messageRegex?: string;
  traceRegex?: string;
}

export interface ProjectConfig {
  /** The file it came from. */
  file?: string;
  /** URL templates by link type, e.g. {issue: "https://gitlab.example/lab/-/issues/{}", tms: "…/{}"}. */
  links: Record<string, string>;
  /** User categories (validated), before phonehome's own. */
  categories: AllureCategory[];
}

/** The default file name, looked for in the working directory. */
export const PROJECT_FILE = 'phonehome.json';

// --- schema ----------------------------------------------------------------------------------------

const STATUSES = ['failed', 'broken', 'passed', 'skipped', 'unknown'] as const;

const template = (type: string) =>
  z
    .string({ error: 'expected a URL template with {} where the id goes' })
    .superRefine((t, ctx) => {
      const problem = templateProblem(t);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(
      `URL of a ${type} link: {} is replaced by the scenario's URL-encoded ${type} id, e.g. https://gitlab.example/lab/-/issues/{}`,
    );

/** What is wrong with a link template, or undefined. */
export function templateProblem(t: string): string | undefined {
  const holes = t.split('{}').length - 1;
  if (holes !== 1) return `expected exactly one {} (where the id goes), found ${holes}`;
  try {
    const u = new URL(t.replace('{}', 'ID'));
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'expected an http:// or https:// URL';
  } catch {
    return 'expected an absolute URL, e.g. https://gitlab.example/lab/-/issues/{}';
  }
  return undefined;
}

const regex = (field: string) =>
  z
    .string({ error: 'expected a regular expression (Java syntax) as a string' })
    .superRefine((r, ctx) => {
      const problem = javaRegexProblem(r);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(
      `A Java regular expression that must match the WHOLE ${field} (Allure uses Pattern.matches), e.g. (?s).*timeout.*`,
    );

export const categorySchema = z
  .strictObject({
    name: z
      .string({ error: 'expected the category name' })
      .min(1, 'name is empty')
      .describe('Shown in the Categories tab'),
    description: z.string({ error: 'expected a string' }).optional(),
    matchedStatuses: z
      .array(z.enum(STATUSES), { error: 'expected a list of statuses, e.g. ["failed", "broken"]' })
      .optional()
      .describe('Verdicts this category takes (default: all)'),
    messageRegex: regex('status message').optional(),
    traceRegex: regex('trace').optional(),
    flaky: z
      .boolean({ error: 'expected true or false' })
      .optional()
      .describe('Results here are marked flaky'),
  })
  .describe("An Allure category (categories.json), put before phonehome's own");

export const categoriesSchema = z
  .array(categorySchema, { error: 'expected a list of categories' })
  .describe('Allure categories');

export const projectFileSchema = z
  .strictObject({
    $schema: z.string().optional().describe('For editors'),
    report: z
      .strictObject({
        links: z
          .strictObject({ issue: template('issue').optional(), tms: template('tms').optional() })
          .optional()
          .describe("URL templates for the scenario headers' {issue: ID} and {tms: ID} links"),
        categories: z
          .union([categoriesSchema, z.string().min(1, 'the file name is empty')], {
            error: 'expected a list of categories or the name of a JSON file holding one',
          })
          .optional()
          .describe('User categories, or a JSON file (relative to phonehome.json) holding the list'),
      })
      .optional()
      .describe('The Allure report: link templates and categories'),
  })
  .describe('phonehome.json: the project config (link templates, report categories)');

/** phonehome.json's JSON Schema (draft 2020-12), for `phonehome schema`. */
export function projectJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(projectFileSchema.meta({ title: 'phonehome phonehome.json' }), {
    io: 'input',
    target: 'draft-2020-12',
  });
}

// --- errors ----------------------------------------------------------------------------------------

export type ConfigProblem = FileProblem;

/** A bad project config (exit code 2), every problem with file:line:col. */
export class ProjectConfigError extends JsonFileError {}

// --- loading ---------------------------------------------------------------------------------------

/**
 * path: --config, else phonehome.json in the working directory if it exists, else an empty config.
 * Errors name file:line:col and exit 2 (UserFacingError).
 */
export function loadProjectConfig(path?: string): ProjectConfig {
  if (path === undefined) {
    if (!existsSync(PROJECT_FILE)) return { links: {}, categories: [] };
    path = PROJECT_FILE;
  }
  const file = parseWith(
    projectFileSchema,
    readJsonFile(path, ProjectConfigError, {
      missingFix: 'write {"report": {"links": {"issue": "https://…/{}"}}} or leave --config out',
    }),
    path,
  );
  const links: Record<string, string> = {};
  for (const [k, v] of Object.entries(file.report?.links ?? {})) if (v !== undefined) links[k] = v;
  let categories: AllureCategory[] = [];
  const cats = file.report?.categories;
  if (typeof cats === 'string') {
    const catFile = resolve(dirname(path), cats);
    categories = parseWith(
      categoriesSchema,
      readJsonFile(catFile, ProjectConfigError, {
        missingFix: `write the list of categories into it, or give the list in ${path} itself`,
        from: path,
      }),
      catFile,
    );
  } else if (cats) categories = cats;
  return { file: path, links, categories };
}

function parseWith<T extends z.ZodType>(schema: T, file: JsonFile, path: string): z.output<T> {
  return parseJsonFile(schema, file, path, ProjectConfigError, { knownFields });
}

function knownFields(path: readonly PropertyKey[]): string {
  const last = path[path.length - 1];
  if (path.length === 0) return 'report ($schema for editors)';
  if (last === 'report') return 'links, categories';
  if (last === 'links') return 'issue, tms';
  return Object.keys(categorySchema.shape).join(', ');
}

// --- Java regexes ------------------------------------------------------------------------------------

/**
 * What is wrong with a Java regex, as far as JavaScript's engine can tell after translation; or
 * undefined. Patterns with the COMMENTS flag (`(?x)`) are only checked for a `/…/` literal.
 */
export function javaRegexProblem(pattern: string): string | undefined {
  if (/^\/.+\/[a-z]*$/s.test(pattern) && pattern.length > 2) {
    return 'this is a JavaScript regex literal: Allure reads Java regexes without slashes (write (?i).*text.* for /text/i)';
  }
  const lead = /^\(\?([a-zA-Z]+)\)/.exec(pattern);
  const flags = lead?.[1] ?? '';
  const badFlag = [...flags].find((f) => !'idmsuxU'.includes(f));
  if (badFlag) return `unknown inline flag "${badFlag}" in (?${flags}) (Java has i d m s u x U)`;
  if (flags.includes('x')) return undefined;
  const body = translateJava(lead ? pattern.slice(lead[0].length) : pattern);
  const jsFlags = [...new Set([...flags].filter((f) => 'ims'.includes(f)))].join('');
  try {
    new RegExp(body, jsFlags);
  } catch (err) {
    return `not a valid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')}`;
  }
  return undefined;
}

/** Java constructs JavaScript lacks, rewritten to equivalents good enough for a syntax check. */
function translateJava(p: string): string {
  let out = '';
  let inClass = 0;
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\') {
      const n = p[i + 1];
      if (n === 'Q') {
        // \Q…\E quotes literally.
        const end = p.indexOf('\\E', i + 2);
        const lit = p.slice(i + 2, end < 0 ? p.length : end);
        out += lit.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
        i = end < 0 ? p.length : end + 1;
        continue;
      }
      if (n === undefined) {
        out += '\\';
        continue;
      }
      if (!inClass && (n === 'A' || n === 'G')) out += '^';
      else if (!inClass && (n === 'Z' || n === 'z')) out += '$';
      else out += c + n;
      i++;
      continue;
    }
    if (c === '[') inClass++;
    else if (c === ']' && inClass) inClass--;
    if (!inClass) {
      // Possessive quantifiers (*+ ++ ?+ }+) → greedy.
      if (c === '+' && /[*+?}]/.test(p[i - 1] ?? '') && p[i - 2] !== '\\' && out.length > 0) continue;
      // Atomic groups and inline flags in the middle of a pattern → plain groups.
      if (c === '(' && p[i + 1] === '?') {
        const m = /^\(\?(>|[a-zA-Z]*-?[a-zA-Z]*(?=[:)]))/.exec(p.slice(i));
        if (m && (m[1] === '>' || (m[1]!.length > 0 && /^[idmsuxU-]+$/.test(m[1]!)))) {
          const close = p[i + m[0].length];
          if (m[1] === '>' || close === ':') {
            out += '(?:';
            i += m[0].length + (m[1] === '>' ? 0 : 1) - 1;
          } else {
            i += m[0].length; // `(?i)` in the middle: dropped (its ')' too)
          }
          continue;
        }
      }
    }
    out += c;
  }
  return out;
}
