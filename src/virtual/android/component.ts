/** Component names (`pkg/cls`) as android.content.ComponentName parses and prints them. */

export interface Component {
  pkg: string;
  /** Fully qualified class name. */
  cls: string;
}

/** `pkg/.Cls` or `pkg/full.Cls` → {pkg, cls} with the class expanded; null when malformed. */
export function parseComponent(s: string): Component | null {
  const slash = s.indexOf('/');
  if (slash <= 0 || slash === s.length - 1) return null;
  const pkg = s.slice(0, slash);
  let cls = s.slice(slash + 1);
  if (cls.startsWith('.')) cls = pkg + cls;
  return { pkg, cls };
}

/** ComponentName.flattenToShortString(): `pkg/.Rest` when the class lives under the package. */
export function shortComponent(c: Component): string {
  return c.cls.startsWith(c.pkg + '.') ? `${c.pkg}/${c.cls.slice(c.pkg.length)}` : `${c.pkg}/${c.cls}`;
}

/** ComponentName.flattenToString(): `pkg/full.Cls`. */
export function fullComponent(c: Component): string {
  return `${c.pkg}/${c.cls}`;
}

/** Normalises any accepted notation to `pkg/full.Cls` (unchanged when malformed). */
export function expandComponent(s: string): string {
  const c = parseComponent(s);
  return c ? fullComponent(c) : s;
}
