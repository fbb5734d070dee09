/**
 * Scenario files → Scenario (issue 6 §1), Maestro's grammar (STYLE.md A5, §C):
 *
 *   name: Incognito browsing is not reported       # the config header
 *   tags: [incognito]
 *   canary: [url]
 *   ---
 *   - launchApp: browser                           # the steps: bare strings or one-key maps
 *   - openUrl: https://news.example.com/${canary.url}
 *   - background
 *   - assertNoUpload: {to: tracker, containing: canary}
 *
 * Each step is normalised first (bare name, one-key map, scalar shorthand expanded) and then validated
 * with its own zod schema from the registry (steps.ts), so an error names the argument, not "invalid
 * input" at the step. Every problem of a file (and of its sub-flows) is collected and thrown at once as
 * a ScenarioError (exit code 2), one `file:line:col path: problem` line per problem, each with a fix.
 *
 * `${…}` references are checked here and resolved by the executor: `${NAME}` (header env, or a runFlow
 * env), `${env.NAME}` (the process environment, which must have NAME when the file is parsed),
 * `${canary.NAME}` (declared in the header's `canary` list). Header env values are literal.
 *
 * runFlow: the file is resolved against the including file's folder, parsed, and its steps inlined as
 * the runFlow step's `children` (their `pos` in the sub-flow file, their `path` under the runFlow step,
 * e.g. `steps[2].runFlow.steps[0]`). A sub-flow is either just a list of steps, or a header with only
 * `name`, `description` and `env` (defaults for its `${NAME}`s), `---`, and the steps; tags, canaries
 * and `when` belong to the scenario that includes it. The runFlow step's `args.env` holds the sub-flow's
 * env defaults overridden by the runFlow's own `env`, all as strings, so the executor resolves the
 * children with `{...scenario env, ...args.env of each enclosing runFlow}`. An include cycle is an error
 * naming the chain. Files whose names start with `_` are sub-flows: loadScenarios skips them in folders.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import {
  LineCounter,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseAllDocuments,
  type Document,
  type Node,
  type Pair,
  type Scalar,
} from 'yaml';
import type { z } from 'zod';
import { UserFacingError } from '../util/user-facing.ts';
import { joinPath, nodeAt } from '../config/yaml-nodes.ts';
import {
  STEP_NAMES,
  type Scenario,
  type ScenarioConfig,
  type ScenarioLink,
  type SourcePos,
  type Step,
  type StepName,
} from './types.ts';
import {
  HEADER_KEYS,
  LINK_KEYS,
  STEPS,
  STEP_OPTIONS,
  SUBFLOW_HEADER_KEYS,
  allowsBare,
  headerSchema,
  isStepName,
  subflowHeaderSchema,
} from './steps.ts';

/** One problem found in a scenario file. `pos.line` 0: the file as a whole (e.g. it does not exist). */
export interface ScenarioProblem {
  pos: SourcePos;
  /** Where in the file, e.g. `steps[3].wait.ms` or `header.when.os[0]`; '' for the file as a whole. */
  path: string;
  message: string;
  fix?: string;
}

/** `file:line:col path: problem` and, indented below, `fix: …`. */
export function formatProblem(p: ScenarioProblem): string {
  const where = p.pos.line > 0 ? `${p.pos.file}:${p.pos.line}:${p.pos.col}` : `${p.pos.file}:`;
  const head = `${where} ${p.path ? `${p.path}: ` : ''}${p.message}`;
  return p.fix ? `${head}\n  fix: ${p.fix.replace(/\n/g, '\n  ')}` : head;
}

/** Bad scenario files (exit code 2). `problems` lists them all; the message prints them all. */
export class ScenarioError extends UserFacingError {
  constructor(readonly problems: ScenarioProblem[]) {
    super(
      (problems.length > 1 ? `${problems.length} problems in scenario files:\n` : '') +
        problems.map(formatProblem).join('\n'),
      undefined,
      2,
    );
  }
}

export interface ParseOptions {
  /** The environment `${env.NAME}` must be found in (default: process.env). */
  env?: Record<string, string | undefined>;
}

/** Parses one scenario file (and its runFlow sub-flows); throws ScenarioError with every problem. */
export function parseScenarioFile(path: string, opts: ParseOptions = {}): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ScenarioError([
      {
        pos: { file: path, line: 0, col: 0 },
        path: '',
        message: `cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        fix: 'check the path',
      },
    ]);
  }
  return parseScenarioText(text, path, opts);
}

/** Parses a scenario's text; `file` names it in errors and locates its sub-flows. */
export function parseScenarioText(text: string, file: string, opts: ParseOptions = {}): Scenario {
  const ctx: Ctx = { problems: [], env: opts.env ?? process.env, chain: [resolve(file)], seen: new Set() };
  const parsed = parseText(text, file, ctx, undefined);
  if (ctx.problems.length > 0 || !parsed) throw new ScenarioError(ctx.problems);
  return parsed;
}

export interface LoadOptions extends ParseOptions {
  /** Keep scenarios with at least one of these tags (all when absent or empty). */
  tags?: string[];
}

/**
 * Loads scenarios: files as given, folders expanded to their `*.yaml` / `*.yml` files (sorted, not
 * recursive, skipping `_*` sub-flows); then filtered by tags. Problems of every file are thrown together.
 */
export function loadScenarios(paths: string[], opts: LoadOptions = {}): Scenario[] {
  const problems: ScenarioProblem[] = [];
  const files: string[] = [];
  for (const p of paths) {
    if (!existsSync(p)) {
      problems.push({
        pos: { file: p, line: 0, col: 0 },
        path: '',
        message: 'no such file or folder',
        fix: 'give scenario files (*.yaml) or folders holding them',
      });
    } else if (statSync(p).isDirectory()) {
      const found = readdirSync(p)
        .filter((n) => /\.ya?ml$/.test(n) && !n.startsWith('_'))
        .sort()
        .map((n) => join(p, n))
        .filter((f) => statSync(f).isFile());
      if (found.length === 0) {
        problems.push({
          pos: { file: p, line: 0, col: 0 },
          path: '',
          message: 'no scenario files (*.yaml, *.yml) in this folder',
          fix: 'give a folder holding scenario files, or the files themselves',
        });
      }
      files.push(...found);
    } else {
      files.push(p);
    }
  }
  const scenarios: Scenario[] = [];
  for (const f of files) {
    try {
      scenarios.push(parseScenarioFile(f, opts));
    } catch (err) {
      if (err instanceof ScenarioError) problems.push(...err.problems);
      else throw err;
    }
  }
  if (problems.length > 0) throw new ScenarioError(problems);
  const tags = opts.tags ?? [];
  return tags.length === 0 ? scenarios : scenarios.filter((s) => s.config.tags.some((t) => tags.includes(t)));
}

// ---------------------------------------------------------------------------------------------------

interface Ctx {
  problems: ScenarioProblem[];
  env: Record<string, string | undefined>;
  /** Resolved paths of the files being parsed, outermost first (for cycles). */
  chain: string[];
  /** Formatted problems already reported (a sub-flow included twice reports once). */
  seen: Set<string>;
}

/** What a sub-flow inherits from the file that includes it. */
interface Inherited {
  envNames: Set<string>;
  canaries: Set<string>;
  /** The runFlow's env (strings), which overrides the sub-flow header's. */
  env: Record<string, string>;
  /** Path prefix of the sub-flow's steps, e.g. `steps[2].runFlow.`. */
  prefix: string;
}

/** One file being parsed. */
class FileParse {
  envNames = new Set<string>();
  canaries = new Set<string>();
  /** The sub-flow's header env (sub-flows only). */
  subEnv: Record<string, string> = {};

  constructor(
    readonly ctx: Ctx,
    readonly file: string,
    readonly text: string,
    readonly lc: LineCounter,
    readonly doc: Document.Parsed | undefined,
  ) {}

  posAt(offset: number): SourcePos {
    const { line, col } = this.lc.linePos(offset);
    return { file: this.file, line, col };
  }

  pos(node: Node | Pair | null | undefined, fallback?: SourcePos): SourcePos {
    const n = isPair(node) ? (node.key as Node | null) : node;
    const range = n?.range;
    if (range) return this.posAt(range[0]);
    return fallback ?? { file: this.file, line: 1, col: 1 };
  }

  problem(at: Node | Pair | SourcePos | null | undefined, path: string, message: string, fix?: string): void {
    const pos = at && 'file' in at ? at : this.pos(at);
    const p: ScenarioProblem = { pos, path, message, ...(fix !== undefined && { fix }) };
    const key = formatProblem(p);
    if (this.ctx.seen.has(key)) return;
    this.ctx.seen.add(key);
    this.ctx.problems.push(p);
  }

  js(node: Node | null | undefined): unknown {
    if (!node || !this.doc) return null;
    return node.toJS(this.doc);
  }
}

const EXAMPLE = [
  'name: Incognito browsing is not reported',
  'tags: [incognito]',
  'canary: [url]',
  '---',
  '- launchApp: browser',
  '- incognito: on',
  '- openUrl: https://news.example.com/${canary.url}',
  '- background',
  '- assertNoUpload: {to: tracker, containing: canary}',
].join('\n');

const YAML_FIXES: Record<string, string> = {
  TAB_AS_INDENT: 'indent with spaces, not tabs',
  DUPLICATE_KEY: 'each key may appear once per map; two actions are two steps (`- a: …` then `- b: …`)',
};
const INDENT_FIX =
  "check the indentation: a step's arguments sit under its name, two spaces deeper (`- tapOn:` then `    text: OK`), and a value holding `: ` or starting with `{`, `[`, `*` or `&` needs quotes";

function parseText(
  text: string,
  file: string,
  ctx: Ctx,
  inherited: Inherited | undefined,
): Scenario | undefined {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false });
  const base = new FileParse(ctx, file, text, lc, undefined);
  const list = Array.isArray(docs) ? docs : [];

  // YAML syntax first: the tree of a broken document is not worth validating.
  let broken = false;
  for (const doc of list) {
    const lines = new Set<number>();
    for (const e of doc.errors) {
      broken = true;
      const pos = base.posAt(e.pos[0]);
      if (lines.has(pos.line)) continue; // the parser's follow-on errors on the same line
      lines.add(pos.line);
      base.problem(pos, '', `YAML syntax: ${e.message}`, YAML_FIXES[e.code] ?? INDENT_FIX);
    }
  }
  if (broken) return undefined;

  const sub = inherited !== undefined;
  let headerDoc: Document.Parsed | undefined;
  let stepsDoc: Document.Parsed | undefined;
  if (list.length === 2) {
    [headerDoc, stepsDoc] = list;
  } else if (list.length === 1 && sub && (isSeq(list[0]!.contents) || list[0]!.contents === null)) {
    stepsDoc = list[0];
  } else if (list.length > 2) {
    base.problem(
      list[2]!.range ? base.posAt(list[2]!.range[0]) : null,
      '',
      `expected two YAML documents (the config header, "---", the steps), found ${list.length}`,
      'keep one "---" line, between the header and the steps',
    );
    return undefined;
  } else {
    const only = list[0]?.contents;
    const what =
      only === undefined || only === null
        ? 'this file is empty'
        : isSeq(only)
          ? 'this one has only the steps (no header and no "---")'
          : isMap(only)
            ? 'this one has only a header (no "---" and no steps)'
            : 'this one is neither';
    base.problem(
      only ? base.pos(only) : { file, line: 1, col: 1 },
      '',
      sub
        ? `a sub-flow is a list of steps, or a header (name, description, env), "---" and the steps; ${what}`
        : `a scenario file is two YAML documents, a config header and the steps, separated by "---"; ${what}`,
      `write it like this:\n  ${(sub ? '- openSettings: privacy\n- tapOn: Privacy' : EXAMPLE).replace(/\n/g, '\n  ')}`,
    );
    return undefined;
  }

  const config = headerDoc
    ? parseHeader(new FileParse(ctx, file, text, lc, headerDoc), headerDoc, inherited)
    : undefined;
  const fp = new FileParse(ctx, file, text, lc, stepsDoc);
  const scenarioEnv = config?.env ?? {};
  if (inherited) {
    for (const n of inherited.envNames) fp.envNames.add(n);
    for (const n of Object.keys(inherited.env)) fp.envNames.add(n);
    for (const n of inherited.canaries) fp.canaries.add(n);
    fp.subEnv = scenarioEnv;
  }
  for (const n of Object.keys(scenarioEnv)) fp.envNames.add(n);
  for (const n of config?.canaries ?? []) fp.canaries.add(n);

  const steps: Step[] = [];
  const raw = stepsDoc?.contents ?? null;
  const contents = isScalar(raw) && raw.value === null ? null : raw;
  const prefix = inherited?.prefix ?? '';
  if (!isSeq(contents)) {
    fp.problem(
      contents ?? raw ?? (stepsDoc?.range ? fp.posAt(stepsDoc.range[0]) : null),
      `${prefix}steps`,
      contents === null ? 'no steps after "---"' : 'the steps must be a list (`- step` lines)',
      'write one step per line after "---", e.g.\n  - launchApp: browser\n  - background',
    );
  } else {
    if (contents.items.length === 0) {
      fp.problem(
        contents,
        `${prefix}steps`,
        'no steps after "---"',
        'write one step per line, e.g. `- background`',
      );
    }
    contents.items.forEach((item, i) => {
      const step = parseStep(fp, item, `${prefix}steps[${i}]`);
      if (step) steps.push(step);
    });
  }
  if (!config) return { file, config: defaultConfig(file), steps };
  return { file, config, steps };
}

function defaultConfig(file: string): ScenarioConfig {
  return { name: basename(file, extname(file)), tags: [], env: {}, canaries: [] };
}

function parseHeader(fp: FileParse, doc: Document.Parsed, inherited: Inherited | undefined): ScenarioConfig {
  const node = doc.contents;
  const config = defaultConfig(fp.file);
  if (node === null) return config;
  if (!isMap(node)) {
    fp.problem(
      node,
      'header',
      'the config header must be a map of keys (name, tags, canary…)',
      `write it like this:\n  ${EXAMPLE.replace(/\n/g, '\n  ')}`,
    );
    return config;
  }
  const sub = inherited !== undefined;
  const schema = sub ? subflowHeaderSchema : headerSchema;
  const known = sub ? SUBFLOW_HEADER_KEYS : HEADER_KEYS;
  const value = fp.js(node) as Record<string, unknown>;
  // Key by key, so that one bad key does not hide the others (canaries, env) from the steps' checks.
  const shape = schema.shape as Record<string, z.ZodType>;
  const good: Record<string, unknown> = {};
  const unknownFix = sub
    ? 'a sub-flow header may only hold name, description and env; tags, canary and when belong to the scenario that runs it'
    : undefined;
  for (const [key, v] of Object.entries(value)) {
    const keySchema = shape[key];
    if (!keySchema) {
      reportIssues(fp, [{ code: 'unrecognized_keys', keys: [key], path: [], message: '' }], node, 'header', {
        known,
        unknownFix,
      });
      continue;
    }
    const r = keySchema.safeParse(v, { reportInput: true });
    if (r.success) good[key] = r.data;
    else {
      const issues = r.error.issues.map((i) => ({ ...i, path: [key, ...i.path] }));
      if (key === 'links') {
        reportIssues(fp, issues, node, 'header', {
          known: [...LINK_KEYS],
          unknownFix: 'a link is {issue: ID}, {tms: ID} or {url: https://…}, each with an optional name',
        });
      } else reportIssues(fp, issues, node, 'header', { known, unknownFix });
    }
  }
  const h = good as z.output<typeof headerSchema>;
  if (h.name !== undefined) config.name = h.name;
  if (h.description !== undefined) config.description = h.description;
  if (h.tags) config.tags = h.tags;
  if (h.env) config.env = Object.fromEntries(Object.entries(h.env).map(([k, v]) => [k, String(v)]));
  if (h.canary) {
    const seen = new Set<string>();
    h.canary.forEach((c, i) => {
      if (seen.has(c))
        fp.problem(
          nodeAt(node, ['canary', i]),
          `header.canary[${i}]`,
          `canary "${c}" is declared twice`,
          'list each canary once',
        );
      seen.add(c);
    });
    config.canaries = [...seen];
  }
  if (h.when) config.when = h.when;
  if (h.portable !== undefined) config.portable = h.portable;
  if (h.epic) config.epic = h.epic;
  if (h.feature) config.feature = h.feature;
  if (h.story) config.story = h.story;
  if (h.severity) config.severity = h.severity;
  if (h.owner !== undefined) config.owner = h.owner;
  if (h.links) {
    // Each link keeps where it is written: a missing URL template for its type is reported there.
    config.links = h.links.map((l, i): ScenarioLink => {
      const pos = fp.pos(nodeAt(node, ['links', i]));
      const name = l.name !== undefined ? { name: l.name } : {};
      if (l.issue !== undefined) return { type: 'issue', id: l.issue, ...name, pos };
      if (l.tms !== undefined) return { type: 'tms', id: l.tms, ...name, pos };
      return { type: 'link', url: l.url!, ...name, pos };
    });
  }
  // Header env values are literal (the executor does not resolve references in them).
  for (const [k, v] of Object.entries(config.env)) {
    if (v.includes('${')) {
      fp.problem(
        nodeAt(node, ['env', k]),
        `header.env.${k}`,
        'header env values are literal and may not hold ${…} references',
        'use the reference in the steps instead (e.g. `openUrl: https://${env.HOST}/`)',
      );
    }
  }
  return config;
}

/** Parses and validates one step; reports its problems and returns what could be made of it. */
function parseStep(fp: FileParse, node: Node | null, path: string): Step | undefined {
  const pos = fp.pos(node);
  if (isScalar(node) && typeof node.value === 'string') {
    const name = node.value;
    const colon = /^([A-Za-z]+):\S/.exec(name);
    if (colon && isStepName(colon[1]!)) {
      fp.problem(
        node,
        path,
        `"${name}" is not a step: a space is missing after "${colon[1]}:"`,
        `write \`- ${colon[1]}: ${name.slice(colon[1].length + 1)}\``,
      );
      return undefined;
    }
    if (!isStepName(name)) {
      unknownStep(fp, node, path, name);
      return undefined;
    }
    if (!allowsBare(name)) {
      fp.problem(
        node,
        path,
        `${name} needs arguments`,
        `write it like \`${STEPS[name].example.split('\n')[0]!.slice(2)}\`${STEPS[name].example.includes('\n') ? `:\n  ${STEPS[name].example.replace(/\n/g, '\n  ')}` : ''}`,
      );
      return undefined;
    }
    return { name, args: {}, pos, path };
  }
  if (!isMap(node)) {
    fp.problem(
      node,
      path,
      `expected a step (a step name or a one-key map like \`openUrl: https://…\`), got ${describe(fp.js(node))}`,
      `known steps: ${STEP_NAMES.join(', ')}`,
    );
    return undefined;
  }
  const map = node;
  const pairs = map.items;
  if (pairs.length !== 1) {
    const keys = pairs.map((p) => String(isScalar(p.key) ? p.key.value : p.key));
    const opts = keys.filter((k) => (STEP_OPTIONS as readonly string[]).includes(k));
    const step = keys.find((k) => isStepName(k));
    fp.problem(
      node,
      path,
      pairs.length === 0
        ? 'empty step'
        : `a step is a one-key map, this one has ${pairs.length} keys (${keys.join(', ')})`,
      opts.length > 0 && step
        ? `put ${opts.join(' and ')} inside the step's map, indented under "${step}:" (e.g. \`- ${step}: {…, ${opts[0]}: …}\`)`
        : 'write one step per list item (`- a: …` then `- b: …`)',
    );
    return undefined;
  }
  const pair = pairs[0]!;
  const keyNode = pair.key as Node | null;
  const name = isScalar(keyNode) ? keyNode.value : undefined;
  if (typeof name !== 'string' || !isStepName(name)) {
    unknownStep(fp, keyNode, path, String(name));
    return undefined;
  }
  const spec = STEPS[name];
  const valueNode = (pair.value ?? null) as Node | null;
  const stepPath = `${path}.${name}`;
  const step: Step = { name, args: {}, pos, path };

  let raw: Record<string, unknown>;
  let argNode: (p: PropertyKey[]) => Node | Pair | null;
  let isShorthand = false;
  if (valueNode === null || (isScalar(valueNode) && valueNode.value === null)) {
    if (!allowsBare(name)) {
      fp.problem(valueNode ?? keyNode, stepPath, `${name} needs arguments`, exampleFix(name));
      return undefined;
    }
    raw = {};
    argNode = () => valueNode ?? keyNode;
  } else if (isScalar(valueNode)) {
    const v = valueNode.value;
    if (!spec.shorthand) {
      fp.problem(
        valueNode,
        stepPath,
        `${name} takes a map of arguments (${spec.keys.join(', ')}), not a single value`,
        exampleFix(name),
      );
      return undefined;
    }
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      fp.problem(valueNode, stepPath, `expected ${spec.shorthand.doc}, got ${describe(v)}`, exampleFix(name));
      return undefined;
    }
    raw = spec.shorthand.expand(v);
    argNode = () => valueNode;
    isShorthand = true;
  } else if (isMap(valueNode)) {
    const value = fp.js(valueNode);
    raw = { ...(value as Record<string, unknown>) };
    argNode = (p) => nodeAt(valueNode, p);
    if ('label' in raw) {
      if (typeof raw.label === 'string' && raw.label !== '') step.label = raw.label;
      else
        fp.problem(
          argNode(['label']),
          `${stepPath}.label`,
          `expected a non-empty string, got ${describe(raw.label)}`,
          'write `label: What this step shows`',
        );
      delete raw.label;
    }
    if ('optional' in raw) {
      if (typeof raw.optional === 'boolean') step.optional = raw.optional;
      else
        fp.problem(
          argNode(['optional']),
          `${stepPath}.optional`,
          `expected true or false, got ${describe(raw.optional)}`,
          'write `optional: true`',
        );
      delete raw.optional;
    }
  } else {
    fp.problem(
      valueNode,
      stepPath,
      `expected ${spec.shorthand ? `a value (${spec.shorthand.doc}) or ` : ''}a map of arguments (${spec.keys.join(', ')}), got ${describe(fp.js(valueNode))}`,
      exampleFix(name),
    );
    return undefined;
  }

  const r = spec.args.safeParse(raw, { reportInput: true });
  if (!r.success) {
    reportIssues(fp, r.error.issues, valueNode ?? keyNode, stepPath, {
      known: [...spec.keys, ...STEP_OPTIONS],
      nodeFor: argNode,
      shorthand: isShorthand,
      shorthandDoc: isShorthand ? spec.shorthand?.doc : undefined,
      fix: exampleFix(name),
    });
    return undefined;
  }
  step.args = r.data;

  // ${…} references in the step's own strings (not in nested commands, which are steps of their own).
  if (valueNode)
    checkRefs(fp, valueNode, stepPath, name === 'repeat' || name === 'retry' ? ['commands'] : []);

  if (name === 'repeat' || name === 'retry') {
    const cmds = nodeAt(valueNode, ['commands']);
    const children: Step[] = [];
    if (isSeq(cmds)) {
      cmds.items.forEach((item, i) => {
        const child = parseStep(fp, item as Node, `${stepPath}.commands[${i}]`);
        if (child) children.push(child);
      });
    }
    step.children = children;
  } else if (name === 'runFlow') {
    runFlow(fp, step, stepPath, argNode(['file']) as Node | null);
  }
  return step;
}

function exampleFix(name: StepName): string {
  const ex = STEPS[name].example;
  return ex.includes('\n')
    ? `write it like this:\n  ${ex.replace(/\n/g, '\n  ')}`
    : `write it like \`${ex.slice(2)}\``;
}

function unknownStep(fp: FileParse, node: Node | null, path: string, name: string): void {
  const guess = didYouMean(name, STEP_NAMES);
  fp.problem(
    node,
    path,
    `unknown step "${name}"${guess ? ` (did you mean "${guess}"?)` : ''}`,
    `known steps: ${STEP_NAMES.join(', ')}`,
  );
}

function runFlow(fp: FileParse, step: Step, stepPath: string, fileNode: Node | null): void {
  const args = step.args as { file: string; env?: Record<string, string | number | boolean> };
  const fileArg = args.file;
  const at = `${stepPath}.file`;
  if (fileArg.includes('${')) {
    fp.problem(
      fileNode,
      at,
      'the runFlow file may not hold ${…} references (sub-flows are read when the scenario is parsed)',
      'write the path itself, relative to this file',
    );
    return;
  }
  const shown = join(dirname(fp.file), fileArg);
  const abs = resolve(shown);
  const chainAt = fp.ctx.chain.indexOf(abs);
  if (chainAt >= 0) {
    const names = [...fp.ctx.chain.slice(chainAt), abs].map((p) => basename(p));
    fp.problem(
      fileNode,
      at,
      `runFlow cycle: ${names.join(' → ')}`,
      'a sub-flow may not (directly or through others) run a file that runs it; remove one of these runFlow steps',
    );
    return;
  }
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fp.problem(
      fileNode,
      at,
      code === 'ENOENT'
        ? `no such file: ${shown}`
        : `cannot read ${shown} (${code ?? (err as Error).message})`,
      `runFlow paths are relative to the including file's folder (${dirname(fp.file)})`,
    );
    return;
  }
  const flowEnv = Object.fromEntries(Object.entries(args.env ?? {}).map(([k, v]) => [k, String(v)]));
  fp.ctx.chain.push(abs);
  try {
    const sub = parseText(text, shown, fp.ctx, {
      envNames: fp.envNames,
      canaries: fp.canaries,
      env: flowEnv,
      prefix: `${stepPath}.`,
    });
    if (sub) {
      step.children = sub.steps;
      // The sub-flow's header env as defaults, the runFlow's env over them.
      step.args = { ...step.args, env: { ...sub.config.env, ...flowEnv } };
    }
  } finally {
    fp.ctx.chain.pop();
  }
}

// --- ${…} references --------------------------------------------------------------------------------

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkRefs(fp: FileParse, node: Node, path: string, skip: string[]): void {
  if (isScalar(node)) {
    if (typeof node.value === 'string') checkString(fp, node, path);
    return;
  }
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      if (skip.includes(key)) continue;
      if (pair.value) checkRefs(fp, pair.value as Node, `${path}.${key}`, []);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      if (item) checkRefs(fp, item as Node, `${path}[${i}]`, []);
    });
  }
}

function checkString(fp: FileParse, node: Scalar, path: string): void {
  const value = node.value as string;
  const source = node.range ? fp.text.slice(node.range[0], node.range[1]) : '';
  const at = (ref: string): SourcePos => {
    const i = source.indexOf(ref);
    return fp.posAt((node.range?.[0] ?? 0) + Math.max(i, 0));
  };
  const refs = /\$\{([^}]*)\}/g;
  for (const m of value.matchAll(refs)) {
    const ref = m[0];
    const inner = m[1]!.trim();
    const pos = at(ref);
    const env = /^env\.(.*)$/.exec(inner);
    const canary = /^canary\.(.*)$/.exec(inner);
    if (env) {
      const name = env[1]!;
      if (!NAME_RE.test(name)) {
        fp.problem(
          pos,
          path,
          `bad environment variable name in ${ref}`,
          'write ${env.NAME} with letters, digits and _',
        );
      } else if (fp.ctx.env[name] === undefined) {
        fp.problem(
          pos,
          path,
          `${ref}: the environment variable ${name} is not set`,
          `set it before running (export ${name}=…), or define ${name} in the header's env and write \${${name}}`,
        );
      }
    } else if (canary) {
      const name = canary[1]!;
      if (!fp.canaries.has(name)) {
        const declared = [...fp.canaries];
        const guess = didYouMean(name, declared);
        fp.problem(
          pos,
          path,
          `${ref}: canary "${name}" is not declared${guess ? ` (did you mean "${guess}"?)` : ''}`,
          `declare it in the scenario's header: canary: [${[...declared, name].join(', ')}]`,
        );
      }
    } else if (NAME_RE.test(inner)) {
      if (!fp.envNames.has(inner)) {
        const guess = didYouMean(inner, [...fp.envNames]);
        fp.problem(
          pos,
          path,
          `${ref}: unknown variable "${inner}"${guess ? ` (did you mean "${guess}"?)` : ''}`,
          `define it in the header's env (env: {${inner}: …}), or write \${env.${inner}} for the process environment`,
        );
      }
    } else {
      fp.problem(
        pos,
        path,
        `bad reference ${ref}`,
        'write ${NAME} (header env), ${env.NAME} (process environment) or ${canary.NAME}',
      );
    }
  }
  const rest = value.replace(refs, '');
  if (rest.includes('${')) {
    const open = /\$\{[^}]*$/.exec(source)?.index ?? source.lastIndexOf('${');
    fp.problem(
      fp.posAt((node.range?.[0] ?? 0) + Math.max(open, 0)),
      path,
      'unterminated ${ reference',
      'close it with }: ${NAME}',
    );
  }
}

// --- zod issues → problems --------------------------------------------------------------------------

interface IssueContext {
  /** Keys the map takes, listed on an unknown key. */
  known: readonly string[];
  unknownFix?: string | undefined;
  /** The YAML node an issue path points at (default: walk from the base node). */
  nodeFor?: (path: PropertyKey[]) => Node | Pair | null;
  /** The arguments came from a scalar shorthand: name no sub-key in the path. */
  shorthand?: boolean;
  /** The shorthand's form (`incognito: on|off`), for type errors of a shorthand. */
  shorthandDoc?: string | undefined;
  fix?: string;
}

type Issue = z.core.$ZodIssue;

function reportIssues(
  fp: FileParse,
  issues: readonly Issue[],
  base: Node | null,
  path: string,
  ic: IssueContext,
): void {
  for (const issue of flatten(issues, [])) {
    const p = issue.path;
    const where = ic.shorthand ? path : joinPath(path, p);
    const nodeFor = ic.nodeFor ?? ((q: PropertyKey[]) => nodeAt(base, q));
    const input = (issue as { input?: unknown }).input;
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const guess = didYouMean(key, ic.known);
          fp.problem(
            keyNodeAt(nodeFor(p), key),
            joinPath(where, [key]),
            `unknown key "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}`,
            ic.unknownFix ?? `known keys here: ${ic.known.join(', ')}`,
          );
        }
        break;
      case 'invalid_type':
        if (input === undefined) {
          fp.problem(
            nodeFor(p.slice(0, -1)),
            where,
            `missing required key "${String(p[p.length - 1])}"`,
            ic.fix,
          );
        } else {
          const msg =
            ic.shorthandDoc && issue.expected === 'boolean'
              ? 'expected on or off'
              : issue.message.startsWith('Invalid input')
                ? `expected ${article(issue.expected)}`
                : issue.message;
          const yaml11 =
            issue.expected === 'boolean' && typeof input === 'string' && /^(on|off|yes|no)$/i.test(input);
          fp.problem(
            nodeFor(p),
            where,
            `${msg}, got ${describe(input)}`,
            yaml11 && !ic.shorthandDoc ? `write true or false (YAML reads ${input} as text here)` : ic.fix,
          );
        }
        break;
      case 'invalid_value': {
        const values = issue.values.map((v) => String(v));
        const guess = typeof input === 'string' ? didYouMean(input, values) : undefined;
        fp.problem(
          nodeFor(p),
          where,
          `expected one of ${values.join(', ')}, got ${describe(input)}${guess ? ` (did you mean "${guess}"?)` : ''}`,
          ic.fix,
        );
        break;
      }
      case 'invalid_key':
        fp.problem(
          keyNodeAt(nodeFor(p), String(p[p.length - 1])),
          where,
          `bad key: ${issue.issues[0]?.message ?? issue.message}`,
          ic.fix,
        );
        break;
      default:
        fp.problem(
          nodeFor(p),
          where,
          issue.message +
            (issue.code === 'invalid_union' && input !== undefined ? `, got ${describe(input)}` : ''),
          ic.fix,
        );
    }
  }
}

/** Unions: report the branch that got furthest (not a type mismatch at its root), if there is one. */
function flatten(issues: readonly Issue[], prefix: PropertyKey[]): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union') {
      const deeper = issue.errors.filter(
        (branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0),
      );
      if (deeper.length === 1) {
        out.push(...flatten(deeper[0]!, path));
        continue;
      }
    }
    if (issue.code === 'invalid_key') {
      // A record's key: its issues sit at the key.
      out.push({ ...issue, path });
      continue;
    }
    out.push({ ...issue, path });
  }
  return out;
}

/** The key node of `key` in a map node (for "unknown key" errors), else the node. */
function keyNodeAt(node: Node | Pair | null, key: string): Node | Pair | null {
  if (isMap(node)) {
    const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
    if (pair) return pair.key as Node;
  }
  return node;
}

function article(type: string): string {
  const t = type === 'array' ? 'list' : type === 'object' ? 'map' : type;
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

/** A value as an error message shows it. */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 37)}...` : v}"`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

// --- did you mean ---------------------------------------------------------------------------------

export function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate (case-insensitive), if it is close enough to be a typo. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = levenshtein(input.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  const limit = Math.max(2, Math.floor(input.length / 3));
  return best !== undefined && bestD <= limit && best !== input ? best : undefined;
}
