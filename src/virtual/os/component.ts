/**
 * Component names (`pkg/cls`) as android.content.ComponentName parses and prints them; shared by
 * the screen (display/) and the shell commands (commands/).
 */

export interface ComponentName {
  package: string;
  /** Fully qualified class. */
  className: string;
}

/** ComponentName.unflattenFromString: `pkg/.Cls` or `pkg/full.Cls` with the class expanded; null when malformed. */
export function unflattenComponent(s: string): ComponentName | null {
  const slash = s.indexOf('/');
  if (slash <= 0 || slash === s.length - 1) return null;
  const pkg = s.slice(0, slash);
  const cls = s.slice(slash + 1);
  return { package: pkg, className: cls.startsWith('.') ? pkg + cls : cls };
}

/** Like unflattenComponent, but throws on a malformed name (no '/', or nothing before or after it). */
export function parseComponent(s: string): ComponentName {
  const c = unflattenComponent(s);
  if (!c) throw new Error(`bad component name: ${s}`);
  return c;
}

/** ComponentName.flattenToString(): `pkg/full.Cls`. */
export function flattenComponent(c: ComponentName): string {
  return `${c.package}/${c.className}`;
}

/** The class as Android prints it after the '/': `.launcher.Launcher` when inside the package. */
export function shortClassName(c: ComponentName): string {
  return c.className.startsWith(`${c.package}.`) ? c.className.slice(c.package.length) : c.className;
}

/** ComponentName.flattenToShortString(): `pkg/.Rest` when the class lives under the package. */
export function shortComponent(c: ComponentName): string {
  return `${c.package}/${shortClassName(c)}`;
}

/** Normalises any accepted notation to `pkg/full.Cls` (unchanged when malformed). */
export function expandComponent(s: string): string {
  const c = unflattenComponent(s);
  return c ? flattenComponent(c) : s;
}

export function sameComponent(a: ComponentName, b: ComponentName): boolean {
  return a.package === b.package && a.className === b.className;
}
