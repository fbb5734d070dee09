/**
 * Finding the YAML (or JSON, which is YAML) node behind a path of keys and indexes, so validation
 * errors can name `file:line:col`: shared by the scenario parser and the JSON config files (json-file.ts).
 */
import { isMap, isScalar, isSeq, type Node } from 'yaml';

/** `a.b[2].c` from `['a', 'b', 2, 'c']`, appended to `base`. */
export function joinPath(base: string, path: readonly PropertyKey[]): string {
  let s = base;
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : `${s ? '.' : ''}${String(seg)}`;
  return s;
}

/** The node at a path of keys and indexes, or the deepest one that exists. */
export function nodeAt(node: unknown, path: readonly PropertyKey[]): Node | null {
  let cur = node as Node | null;
  for (const seg of path) {
    if (isMap(cur)) {
      const pair = cur.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return cur;
      cur = (pair.value as Node | null) ?? (pair.key as Node);
    } else if (isSeq(cur) && typeof seg === 'number') {
      const item = cur.items[seg] as Node | undefined;
      if (!item) return cur;
      cur = item;
    } else {
      return cur;
    }
  }
  return cur;
}
