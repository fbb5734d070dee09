/**
 * The import graph of src/, for the cycle check (cycles.test.ts): every relative specifier of an
 * `import … from`, `export … from`, side-effect `import '…'` and `import('…')` (also in type
 * positions), resolved against the importing file. A regex over the source rather than the compiler:
 * the check must stay fast and see type-only imports too, which the emitted JavaScript drops.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

/**
 * An `import … from` / `export … from` statement that the emitted JavaScript drops: `import type`,
 * `export type`, or a brace list whose every name is `type X` (tsconfig's verbatimModuleSyntax keeps
 * such a statement as `import {} from`… only with side effects, which ours have none of).
 */
const TYPE_ONLY =
  /^\s*(?:import|export)\s+(?:type\s|\{(?:\s*type\s+[\w$]+(?:\s+as\s+[\w$]+)?\s*,?)+\}\s*from)/;

/** The statement (from its `import`/`export` keyword) that holds the specifier at `at`. */
function statementOf(text: string, at: number): string {
  const start = Math.max(text.lastIndexOf('\nimport', at), text.lastIndexOf('\nexport', at));
  return text.slice(start + 1, at);
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/**
 * File (relative to src/, with `/`) → the src files it imports. `values: true` leaves out type-only
 * imports: the graph of what runs, where a cycle decides module initialisation order.
 */
export function importGraph(srcDir: string, opts: { values?: boolean } = {}): Map<string, string[]> {
  const rel = (p: string): string => relative(srcDir, p).split(sep).join('/');
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(srcDir)) {
    const deps = new Set<string>();
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(SPECIFIER)) {
      if (opts.values && !m[0].includes('import(') && TYPE_ONLY.test(statementOf(text, m.index))) continue;
      const target = resolve(dirname(file), m[1]!);
      if (!target.endsWith('.ts')) continue; // JSON data and the like: not modules of ours
      const r = rel(target);
      if (!r.startsWith('..')) deps.add(r);
    }
    graph.set(rel(file), [...deps].sort());
  }
  return graph;
}

/** The strongly connected components with more than one file (or a file importing itself), sorted. */
export function cycles(graph: Map<string, string[]>): string[][] {
  // Tarjan's algorithm, iterative so that a deep chain cannot overflow the stack.
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: Array<{ node: string; i: number }> = [{ node: root, i: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length) {
      const top = work[work.length - 1]!;
      const deps = graph.get(top.node) ?? [];
      if (top.i < deps.length) {
        const d = deps[top.i++]!;
        if (!index.has(d)) {
          index.set(d, next);
          low.set(d, next++);
          stack.push(d);
          onStack.add(d);
          work.push({ node: d, i: 0 });
        } else if (onStack.has(d)) {
          low.set(top.node, Math.min(low.get(top.node)!, index.get(d)!));
        }
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1]!.node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === index.get(top.node)) {
        const scc: string[] = [];
        let n: string;
        do {
          n = stack.pop()!;
          onStack.delete(n);
          scc.push(n);
        } while (n !== top.node);
        if (scc.length > 1 || (graph.get(top.node) ?? []).includes(top.node)) out.push(scc.sort());
      }
    }
  }
  return out.sort((a, b) => a[0]!.localeCompare(b[0]!));
}
