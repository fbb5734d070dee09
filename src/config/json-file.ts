/**
 * Reading a JSON config file and validating it with a zod schema, every problem with file:line:col
 * (ScenarioError's format, exit code 2): shared by devices.json (devices-schema.ts) and phonehome.json
 * (project.ts). JSON syntax errors take their position from JSON.parse's message; schema problems
 * from the node at the issue's path, the JSON being read again as YAML (which it is).
 */
import { readFileSync, statSync } from 'node:fs';
import { LineCounter, isMap, isScalar, parseDocument } from 'yaml';
import type { z } from 'zod';
import { UserFacingError } from '../util/user-facing.ts';
import { joinPath, nodeAt } from './yaml-nodes.ts';

export interface FileProblem {
  file: string;
  /** 0: the file as a whole. */
  line: number;
  col: number;
  path: string;
  message: string;
  fix?: string;
}

/**
 * A bad config file (exit code 2), every problem with file:line:col. Each file has its subclass
 * (DevicesFileError, ProjectConfigError), which names the error.
 */
export class JsonFileError extends UserFacingError {
  constructor(readonly problems: FileProblem[]) {
    super(
      (problems.length > 1 ? `${problems.length} problems in ${problems[0]!.file}:\n` : '') +
        problems
          .map((p) => {
            const where = p.line > 0 ? `${p.file}:${p.line}:${p.col}` : `${p.file}:`;
            return `${where} ${p.path ? `${p.path}: ` : ''}${p.message}${p.fix ? `\n  fix: ${p.fix}` : ''}`;
          })
          .join('\n'),
      undefined,
      2,
    );
  }
}

/** The error class a file's problems are thrown as. */
export type JsonFileErrorClass = new (problems: FileProblem[]) => JsonFileError;

/** A JSON file's text and what it parses to. */
export interface JsonFile {
  text: string;
  data: unknown;
}

/**
 * Reads and parses a JSON file. A missing file (fix: `missingFix`; `from`: the file that names this
 * one), a folder or an unreadable file, and JSON syntax errors (with line:col) are thrown as `Err`.
 */
export function readJsonFile(
  path: string,
  Err: JsonFileErrorClass,
  opts: { missingFix: string; from?: string },
): JsonFile {
  let text: string;
  try {
    if (statSync(path).isDirectory()) throw Object.assign(new Error('a folder'), { code: 'EISDIR' });
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Err([
      {
        file: path,
        line: 0,
        col: 0,
        path: '',
        message:
          code === 'ENOENT'
            ? `no such file${opts.from ? ` (named by ${opts.from})` : ''}`
            : `cannot read it (${code ?? (err as Error).message})`,
        fix: code === 'ENOENT' ? opts.missingFix : 'check the path and its permissions',
      },
    ]);
  }
  try {
    return { text, data: JSON.parse(text) };
  } catch (err) {
    const message = (err as Error).message;
    const { line, col } = jsonErrorPos(text, message);
    throw new Err([
      {
        file: path,
        line,
        col,
        path: '',
        message: `not valid JSON: ${message.replace(/ in JSON at position \d+.*$/, '').replace(/\s*\(line \d+ column \d+\)$/, '')}`,
        fix: 'fix the JSON (no trailing commas, no comments, keys in double quotes)',
      },
    ]);
  }
}

/**
 * The file's data as `schema` parses it; else every problem, with its field path and line:col, thrown
 * as `Err`. `knownFields(path)`: the fix offered for unknown keys at `path` (none without it).
 */
export function parseJsonFile<T extends z.ZodType>(
  schema: T,
  file: JsonFile,
  path: string,
  Err: JsonFileErrorClass,
  opts: { knownFields?: (path: readonly PropertyKey[]) => string } = {},
): z.output<T> {
  const r = schema.safeParse(file.data, { reportInput: true });
  if (r.success) return r.data;
  throw new Err(zodProblems(r.error.issues, file.text, path, opts.knownFields));
}

type Issue = z.core.$ZodIssue;

/** zod issues as problems: field path, line:col of the node at the path, a message for people. */
export function zodProblems(
  issues: readonly Issue[],
  text: string,
  path: string,
  knownFields?: (path: readonly PropertyKey[]) => string,
): FileProblem[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  return flattenUnions(issues).map((issue) => {
    let node = nodeAt(doc.contents, issue.path);
    if (issue.code === 'unrecognized_keys' && isMap(node)) {
      // At the (first) unknown key itself, not at its object.
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === issue.keys[0]);
      if (pair && isScalar(pair.key)) node = pair.key;
    }
    const { line, col } = lc.linePos(node?.range?.[0] ?? 0);
    const input = (issue as { input?: unknown }).input;
    let message = issue.message;
    let fix: string | undefined;
    if (issue.code === 'invalid_type') {
      message =
        input === undefined
          ? `missing required field "${String(issue.path[issue.path.length - 1])}"`
          : `${message.replace(/^Invalid input: expected (\w+), received \w+$/, 'expected $1')}, got ${JSON.stringify(input)}`;
    } else if (issue.code === 'invalid_value') {
      message = `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}, got ${JSON.stringify(input)}`;
    } else if (issue.code === 'unrecognized_keys') {
      message = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      if (knownFields) fix = `known fields here: ${knownFields(issue.path)}`;
    }
    return { file: path, line, col, path: joinPath('', issue.path), message, ...(fix ? { fix } : {}) };
  });
}

/** A union's issues: those of the branch that matches the input's shape (list or string), if one does. */
function flattenUnions(issues: readonly Issue[]): Issue[] {
  return issues.flatMap((i) => {
    if (i.code !== 'invalid_union') return [i];
    const input = (i as { input?: unknown }).input;
    const branch = i.errors.find(
      (b) => b.length > 0 && b.every((e) => e.path.length > 0 || e.code !== 'invalid_type'),
    );
    if (!branch || input === undefined) return [i];
    return flattenUnions(branch.map((e) => ({ ...e, path: [...i.path, ...e.path] })));
  });
}

/** Line and column (1-based) of a character offset. */
function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, col: lines[lines.length - 1]!.length + 1 };
}

/** Where JSON.parse stopped: Node 20 says "at position N", newer ones "(line L column C)". */
function jsonErrorPos(text: string, message: string): { line: number; col: number } {
  const lc = /line (\d+) column (\d+)/.exec(message);
  if (lc) return { line: Number(lc[1]), col: Number(lc[2]) };
  const pos = /position (\d+)/.exec(message);
  if (pos) return lineCol(text, Number(pos[1]));
  return lineCol(text, text.length); // "Unexpected end of JSON input"
}
