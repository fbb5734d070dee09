/**
 * How the data files' validators word a zod issue (the catalogue, src/detect/catalogue.ts; the page
 * objects' data, src/ui/pages/locators.ts): the field as a path, and which issue is told first.
 */

/** `apps.browser.packages[0]`: keys as they are, dots included (locator keys such as `browser.url`); the empty path is ''. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)),
    '',
  );
}

interface Issue {
  code: string;
  path: PropertyKey[];
}

/**
 * The issue to tell: the first, unless an object around it has unknown fields, which are told first
 * (zod reports them after the object's own fields; a misspelt key is the likelier cause of both).
 */
export function firstIssue<I extends Issue>(issues: readonly I[]): I {
  const first = issues[0]!;
  const around = issues.find(
    (i) => i.code === 'unrecognized_keys' && i.path.every((k, n) => first.path[n] === k),
  );
  return around ?? first;
}
