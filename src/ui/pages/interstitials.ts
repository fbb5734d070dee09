/**
 * Interstitials: dialogs that stand between a step and its screen, handled by data
 * (interstitials.json). When a page step's target is missing, clearInterstitial() looks at the
 * current hierarchy once:
 * - a rule's `match` holds → its action (tap a locator, or BACK), logged as
 *   `dismissed dialog <id> (<source>)`, and true (the page object tries its step once more);
 * - no rule matches but a dialog is in front → a UiError listing the dialog's texts and buttons
 *   (never tapped blindly: a tap may grant a permission or install something on a borrowed phone);
 * - otherwise false.
 *
 * "A dialog is in front", generically: a node with one of AOSP AlertDialog's ids
 * (frameworks/base core/res/res/layout/alert_dialog.xml: android:id/alertTitle, android:id/message,
 * android:id/button1/2/3) or AppCompat's `<app>:id/alertTitle`. A window of another package than the
 * step's app is not used as a sign: the hook does not know the step's app, and the status bar and
 * the launcher are legitimately other packages. Dialogs built without those ids go unnoticed here
 * and end as a locator miss, whose error shows the screen's closest elements.
 */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { KEYCODE, UiError, checkLocator, describeLocator, type Locator, type UiDriver } from '../driver.ts';
import { allNodes, findNode, parseHierarchy, type XmlNode } from '../xml.ts';
import { LocatorDataError, readDataFile } from './locators.ts';

export const DEFAULT_INTERSTITIALS_FILE = fileURLToPath(new URL('./interstitials.json', import.meta.url));

const locatorSchema: z.ZodType<Locator> = z.lazy(() =>
  z.strictObject({
    id: z.string().min(1).optional(),
    text: z.string().min(1).optional(),
    textContains: z.string().min(1).optional(),
    desc: z.string().min(1).optional(),
    class: z.string().min(1).optional(),
    within: locatorSchema.optional(),
  }),
);

const ruleSchema = z.strictObject({
  id: z.string().regex(/^[\w.-]+$/, 'letters, digits, ".", "_" or "-"'),
  match: locatorSchema,
  action: z.union([z.strictObject({ tap: locatorSchema }), z.strictObject({ key: z.literal('back') })]),
  source: z.string().min(10, 'say where the dialog and its ids come from'),
  synthetic: z.literal(true).optional(),
});

const fileSchema = z.strictObject({
  '//': z.string().optional(),
  rules: z.array(ruleSchema),
});

export type InterstitialRule = z.infer<typeof ruleSchema>;

/** Validates interstitials data; errors name the file, the rule and the field. */
export function validateInterstitials(data: unknown, file: string): InterstitialRule[] {
  const r = fileSchema.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.length
      ? issue.path
          .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
          .join('')
          .replace(/^\./, '')
      : 'the file';
    throw new LocatorDataError(file, where, issue.message);
  }
  const seen = new Set<string>();
  r.data.rules.forEach((rule, i) => {
    if (seen.has(rule.id)) throw new LocatorDataError(file, `rules[${i}].id`, `duplicates ${rule.id}`);
    seen.add(rule.id);
    for (const [field, l] of [
      ['match', rule.match],
      ...('tap' in rule.action ? [['action.tap', rule.action.tap]] : []),
    ] as Array<[string, Locator]>) {
      try {
        checkLocator(l, `rules[${i}].${field}`);
      } catch (err) {
        throw new LocatorDataError(file, `rules[${i}].${field}`, (err as Error).message);
      }
    }
  });
  return r.data.rules;
}

let cached: InterstitialRule[] | undefined;

/** The shipped interstitials.json (read once), or a named file. */
export function loadInterstitials(file?: string): InterstitialRule[] {
  if (file === undefined && cached) return cached;
  const path = file ?? DEFAULT_INTERSTITIALS_FILE;
  const rules = validateInterstitials(readDataFile(path), path);
  if (file === undefined) cached = rules;
  return rules;
}

const DIALOG_IDS = /^android:id\/(alertTitle|message|button[123])$|:id\/alertTitle$/;
const BUTTON_IDS = /:id\/button[123]$/;

/** What a generically detected dialog shows: its package, texts and buttons (empty when none). */
export function describeDialog(
  root: XmlNode,
): { pkg: string; texts: string[]; buttons: string[] } | undefined {
  const nodes = allNodes(root);
  const marks = nodes.filter((n) => DIALOG_IDS.test(n.attrs['resource-id'] ?? ''));
  if (!marks.length) return undefined;
  // The dialog's extent: the nearest common container of its marks (else everything).
  let box: XmlNode | null = marks[0]!;
  const inside = (n: XmlNode, c: XmlNode): boolean => {
    for (let p: XmlNode | null = n; p; p = p.parent) if (p === c) return true;
    return false;
  };
  while (box && !marks.every((m) => inside(m, box!))) box = box.parent;
  const scope = box ? [box, ...allNodes(box)] : nodes;
  const isButton = (n: XmlNode): boolean =>
    BUTTON_IDS.test(n.attrs['resource-id'] ?? '') ||
    (n.attrs.clickable === 'true' && /Button$/.test(n.attrs.class ?? n.tag));
  const label = (n: XmlNode): string => n.attrs.text || n.attrs['content-desc'] || '';
  const buttons = scope.filter(isButton).map(label).filter(Boolean);
  const texts = scope.filter((n) => !isButton(n) && n.attrs.text).map((n) => n.attrs.text!);
  return { pkg: marks[0]!.attrs.package ?? '', texts, buttons };
}

/**
 * Dismisses the dialog in front if a rule knows it (true), throws a UiError for a dialog no rule
 * knows, returns false when no dialog is in front. One look at the screen (ui.source()).
 */
export async function clearInterstitial(
  ui: UiDriver,
  log: (line: string) => void,
  rules: readonly InterstitialRule[] = loadInterstitials(),
): Promise<boolean> {
  const root = parseHierarchy(await ui.source());
  for (const rule of rules) {
    if (!findNode(root, rule.match)) continue;
    if ('tap' in rule.action) {
      const el = await ui.query([rule.action.tap]);
      if (!el) {
        throw new UiError({
          serial: ui.serial,
          operation: `dismiss dialog ${rule.id}`,
          problem: `failed: its button ${describeLocator(rule.action.tap)} is not on screen`,
          hint: `Fix rule ${rule.id} in src/ui/pages/interstitials.json (\`phonehome ui snapshot\` shows the dialog's ids)`,
        });
      }
      await ui.tap(el);
    } else {
      await ui.pressKey(KEYCODE.BACK);
    }
    log(`dismissed dialog ${rule.id} (${rule.source})`);
    return true;
  }
  const d = describeDialog(root);
  if (!d) return false;
  const list = (xs: string[]) => (xs.length ? xs.map((x) => `"${x}"`).join(', ') : 'none');
  throw new UiError({
    serial: ui.serial,
    operation: 'reach the step’s screen',
    problem: `failed: an unknown dialog${d.pkg ? ` of ${d.pkg}` : ''} is in front (texts: ${list(d.texts)}; buttons: ${list(d.buttons)})`,
    hint:
      'It was not tapped: phonehome never dismisses a dialog blindly. If dismissing it is safe, add a rule to ' +
      'src/ui/pages/interstitials.json (a `match` locator, an `action` and its `source`; `phonehome ui snapshot` ' +
      'shows its ids), or dismiss it by hand and run again',
  });
}
