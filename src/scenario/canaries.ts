/**
 * Fresh canaries and `${…}` references (issue 6 §1).
 *
 * Every scenario run plants new canaries: one unique string per name in the header's `canary` list,
 * `ph` + a few characters of the run id + the name + 10 random hex digits, lowercase letters and
 * digits only, so it survives URL, form and search-box encodings unchanged (and is safe in a shell,
 * although it never reaches one unquoted). Detection matches substrings, so the canary is found
 * wherever the phone puts it: a URL path, a search word, a JSON field.
 *
 * References in step arguments: `${NAME}` (the scenario's header env, overridden by the env of each
 * enclosing runFlow), `${env.NAME}` (the process environment given to the executor), `${canary.NAME}`.
 * An unknown reference is an error (the parser already rejects them; this guards hand-built scenarios).
 */
import { randomBytes } from 'node:crypto';

/** The part of a name or run id a canary keeps: lowercase letters and digits. */
export function alnum(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** One fresh canary per name, e.g. `ph7f3acurl9c04d1e2ab`. Names keep their order; values are unique. */
export function makeCanaries(
  names: readonly string[],
  runId = '',
  random: (n: number) => Buffer = randomBytes,
): Record<string, string> {
  const run = alnum(runId).slice(-6);
  const out: Record<string, string> = {};
  const used = new Set<string>();
  for (const name of names) {
    let value: string;
    do value = `ph${run}${alnum(name).slice(0, 12)}${random(5).toString('hex')}`;
    while (used.has(value));
    used.add(value);
    out[name] = value;
  }
  return out;
}

export class ScenarioReferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioReferenceError';
  }
}

export interface RefScope {
  /** Header env with the enclosing runFlows' env over it. */
  vars: Readonly<Record<string, string>>;
  /** The process environment given to the executor. */
  env: Readonly<Record<string, string | undefined>>;
  canaries: Readonly<Record<string, string>>;
}

const REF = /\$\{([^}]*)\}/g;

/** Resolves every `${…}` in a string. */
export function resolveString(s: string, scope: RefScope): string {
  return s.replace(REF, (whole, inner: string) => {
    const ref = inner.trim();
    if (ref.startsWith('env.')) {
      const v = scope.env[ref.slice(4)];
      if (v === undefined)
        throw new ScenarioReferenceError(
          `${whole}: the environment variable ${ref.slice(4)} is not set (export it before running)`,
        );
      return v;
    }
    if (ref.startsWith('canary.')) {
      const v = scope.canaries[ref.slice(7)];
      if (v === undefined)
        throw new ScenarioReferenceError(
          `${whole}: no canary named ${ref.slice(7)} (declare it in the header: canary: [${ref.slice(7)}])`,
        );
      return v;
    }
    const v = scope.vars[ref];
    if (v === undefined)
      throw new ScenarioReferenceError(
        `${whole}: ${ref} is not defined (add it to the header's env, or use \${env.${ref}})`,
      );
    return v;
  });
}

/** Resolves references in every string of a step's arguments (not in nested steps: `commands`). */
export function resolveArgs(args: Record<string, unknown>, scope: RefScope): Record<string, unknown> {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return resolveString(v, scope);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) out[k] = k === 'commands' ? v : walk(v);
  return out;
}
