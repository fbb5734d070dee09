/** Intents as `am` parses them from arguments (Intent.parseCommandArgs) and prints them. */
import { flattenComponent, shortComponent, unflattenComponent } from './component.ts';
import { ACTION_MAIN, ACTION_VIEW, CATEGORY_HOME } from '../display/activity.ts';
import type { PackageInfo, PackageRegistry } from './packages.ts';
import { parseIntArg } from '../commands/util.ts';

export interface Intent {
  action?: string;
  data?: string;
  type?: string;
  categories: string[];
  component?: string;
  package?: string;
  identifier?: string;
  flags: number;
  extras: Record<string, string>;
}

export const FLAG_RECEIVER_FROM_SHELL = 0x00400000;

const NAMED_FLAGS: Record<string, number> = {
  '--grant-read-uri-permission': 0x1,
  '--grant-write-uri-permission': 0x2,
  '--debug-log-resolution': 0x8,
  '--exclude-stopped-packages': 0x10,
  '--include-stopped-packages': 0x20,
  '--grant-persistable-uri-permission': 0x40,
  '--grant-prefix-uri-permission': 0x80,
  '--activity-match-external': 0x800,
  '--activity-task-on-home': 0x4000,
  '--activity-clear-task': 0x8000,
  '--activity-no-animation': 0x10000,
  '--activity-reorder-to-front': 0x20000,
  '--activity-no-user-action': 0x40000,
  '--activity-clear-when-task-reset': 0x80000,
  '--activity-launched-from-history': 0x100000,
  '--activity-reset-task-if-needed': 0x200000,
  '--activity-brought-to-front': 0x400000,
  '--activity-exclude-from-recents': 0x800000,
  '--activity-previous-is-top': 0x1000000,
  '--receiver-include-background': 0x1000000,
  '--activity-clear-top': 0x4000000,
  '--activity-multiple-task': 0x8000000,
  '--receiver-no-abort': 0x8000000,
  '--activity-new-task': 0x10000000,
  '--receiver-foreground': 0x10000000,
  '--activity-single-top': 0x20000000,
  '--receiver-replace-pending': 0x20000000,
  '--activity-no-history': 0x40000000,
  '--receiver-registered-only': 0x40000000,
};

/** Extra options taking KEY VALUE (values are kept as strings). */
const EXTRA_OPTS = new Set([
  '-e',
  '--es',
  '--ez',
  '--ei',
  '--el',
  '--ef',
  '--ed',
  '--eu',
  '--ecn',
  '--eia',
  '--eial',
  '--ela',
  '--elal',
  '--efa',
  '--efal',
  '--esa',
  '--esal',
]);

/**
 * Parses intent arguments. `onOption(opt, next)` may consume command-specific options (returning
 * true); anything else unknown is an error. Returns the intent or an error message.
 */
export function parseIntent(
  args: string[],
  onOption: (opt: string, next: () => string | undefined) => boolean = () => false,
): Intent | string {
  const intent: Intent = { categories: [], flags: 0, extras: {} };
  let i = 0;
  const next = (): string | undefined => args[i++];
  let positional: string | undefined;
  while (i < args.length) {
    const arg = next() as string;
    if (!arg.startsWith('-') || arg === '-') {
      positional = arg;
      continue;
    }
    const need = (): string => {
      const v = next();
      if (v === undefined) throw new Error(`Argument expected after "${arg}"`);
      return v;
    };
    try {
      if (arg === '-a') intent.action = need();
      else if (arg === '-d') intent.data = need();
      else if (arg === '-t') intent.type = need();
      else if (arg === '-i') intent.identifier = need();
      else if (arg === '-c') intent.categories.push(need());
      else if (arg === '-n') {
        const c = need();
        if (!unflattenComponent(c)) return `Bad component name: ${c}`;
        intent.component = c;
      } else if (arg === '-p') intent.package = need();
      else if (arg === '-f') {
        const v = need();
        const f = parseIntArg(v);
        if (f === undefined) return `Error: invalid flags: ${v}`;
        intent.flags |= f;
      } else if (arg === '--esn') intent.extras[need()] = '';
      else if (EXTRA_OPTS.has(arg)) {
        const k = need();
        intent.extras[k] = need();
      } else if (NAMED_FLAGS[arg] !== undefined) intent.flags |= NAMED_FLAGS[arg];
      else if (arg === '--selector') continue;
      else if (!onOption(arg, next)) return `Error: Unknown option: ${arg}`;
    } catch (e) {
      return `Error: ${(e as Error).message}`;
    }
  }
  if (positional !== undefined) {
    if (positional.includes(':')) {
      intent.data = positional;
      intent.action ??= ACTION_VIEW;
    } else if (positional.includes('/')) {
      if (!unflattenComponent(positional)) return `Bad component name: ${positional}`;
      intent.component = positional;
    } else intent.package = positional;
  }
  intent.flags >>>= 0;
  return intent;
}

/**
 * Which activity an intent starts (`pkg/full.Cls`), as the package manager would resolve it:
 * an explicit component if it exists; http(s) VIEW → the ROM browser; HOME → the launcher app;
 * a package alone (or with MAIN/LAUNCHER) → its launcher activity; SETTINGS → Settings.
 */
export function resolveActivity(packages: PackageRegistry, intent: Intent): string | undefined {
  if (intent.component) {
    const c = unflattenComponent(intent.component);
    return c && packages.hasActivity(intent.component) ? flattenComponent(c) : undefined;
  }
  const isWeb = intent.action === ACTION_VIEW && /^https?:/i.test(intent.data ?? '');
  const launcherOf = (pkg: PackageInfo | undefined): string | undefined =>
    pkg?.enabled && pkg.launcher ? pkg.launcher : undefined;
  // Actions declared by the profile's intent filters. Several handlers and no default: AOSP answers
  // with the chooser, com.android.internal.app.ResolverActivity (PackageManagerService
  // chooseBestActivity), which is what `cmd package resolve-activity` then prints.
  if (intent.action && !isWeb) {
    const found = packages.activitiesFor(intent.action, intent.package);
    if (found.length === 1) return found[0];
    if (found.length > 1) return RESOLVER_ACTIVITY;
  }
  if (intent.package) {
    const pkg = packages.get(intent.package);
    if (!pkg) return undefined;
    if (isWeb) return pkg.name === packages.browser()?.name ? launcherOf(pkg) : undefined;
    if (intent.action && intent.action !== ACTION_MAIN) return undefined;
    return launcherOf(pkg);
  }
  if (isWeb) return launcherOf(packages.browser());
  if (intent.categories.includes(CATEGORY_HOME)) return launcherOf(packages.home());
  if (intent.action === 'android.settings.SETTINGS') return launcherOf(packages.get('com.android.settings'));
  return undefined;
}

/** AOSP's chooser, what an action with several handlers and no default resolves to. */
export const RESOLVER_ACTIVITY = 'android/com.android.internal.app.ResolverActivity';

/** Uri.toSafeString(): http(s) URLs lose their path and query (`https://host/...`). */
export function safeUri(uri: string): string {
  const m = /^([a-zA-Z][\w+.-]*):(.*)$/s.exec(uri);
  if (!m) return uri;
  const [, scheme = '', ssp = ''] = m;
  const s = scheme.toLowerCase();
  if (['http', 'https', 'ftp', 'rtsp'].includes(s)) {
    const auth = /^\/\/([^/?#]*)/.exec(ssp)?.[1] ?? '';
    const host = auth.replace(/^[^@]*@/, '');
    return `${scheme}://${host}/...`;
  }
  if (['tel', 'sip', 'sms', 'smsto', 'mailto', 'nfc'].includes(s)) {
    return `${scheme}:${ssp.replace(/[^-@.]/g, 'x')}`;
  }
  return uri;
}

/** Intent.toString(): `Intent { act=… cat=[…] dat=… typ=… flg=0x… pkg=… cmp=… (has extras) }`. */
export function intentToString(intent: Intent): string {
  const parts: string[] = [];
  if (intent.action) parts.push(`act=${intent.action}`);
  if (intent.categories.length) parts.push(`cat=[${intent.categories.join(',')}]`);
  if (intent.data) parts.push(`dat=${safeUri(intent.data)}`);
  if (intent.type) parts.push(`typ=${intent.type}`);
  if (intent.identifier) parts.push(`id=${intent.identifier}`);
  if (intent.flags) parts.push(`flg=0x${(intent.flags >>> 0).toString(16)}`);
  if (intent.package) parts.push(`pkg=${intent.package}`);
  if (intent.component) {
    const c = unflattenComponent(intent.component);
    parts.push(`cmp=${c ? shortComponent(c) : intent.component}`);
  }
  if (Object.keys(intent.extras).length) parts.push('(has extras)');
  return `Intent { ${parts.join(' ')} }`;
}
