/**
 * System properties (`getprop` / `setprop`), as init's property service keeps them:
 * `ro.*` are write-once, `persist.*` survive a reboot, everything else is reset from the profile.
 */
import type { Profile } from '../profiles/load.ts';

/** PROP_VALUE_MAX is 92 bytes including the terminator; read-only properties may be longer. */
const PROP_VALUE_MAX = 91;
const KEY_RE = /^[A-Za-z0-9_.\-@:]+$/;

/** Prefixes the `shell` domain may set on a user build (SELinux property contexts, simplified). */
const SHELL_SETTABLE = [
  'debug.',
  'log.',
  'persist.log.',
  'persist.debug.',
  'persist.traced.',
  'service.adb.',
  'vendor.debug.',
  'ctl.',
];

export class PropertyStore {
  private readonly boot: Map<string, string>;
  private current: Map<string, string>;
  private readonly persisted = new Map<string, string>();

  constructor(profile: Profile, serialno: string) {
    this.boot = new Map(Object.entries(profile.props));
    this.boot.set('ro.serialno', serialno);
    this.boot.set('ro.boot.serialno', serialno);
    this.current = new Map(this.boot);
  }

  /** The value, or '' when unset (as `getprop KEY` prints). */
  get(key: string): string {
    return this.current.get(key) ?? '';
  }

  has(key: string): boolean {
    return this.current.has(key);
  }

  /**
   * Sets a property as init would, returning false when init refuses: a malformed name, an already set
   * `ro.*` property, or an over-long value. `ctl.*` are commands to init: accepted, not stored.
   */
  set(key: string, value: string): boolean {
    if (!KEY_RE.test(key) || key.startsWith('.') || key.endsWith('.') || key.includes('..')) return false;
    if (key.startsWith('ro.')) {
      if (this.current.has(key)) return false;
    } else if (Buffer.byteLength(value) > PROP_VALUE_MAX) {
      return false;
    }
    if (key.startsWith('ctl.')) return true;
    this.current.set(key, value);
    if (key.startsWith('persist.')) this.persisted.set(key, value);
    return true;
  }

  /** Whether an unprivileged (uid 2000) `setprop` may touch this property at all. */
  static shellMaySet(key: string): boolean {
    return SHELL_SETTABLE.some((p) => key.startsWith(p));
  }

  /** All properties as sorted [key, value] pairs. */
  all(): Array<[string, string]> {
    return [...this.current.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Boot: properties from the profile, then the persisted ones on top. */
  onReboot(): void {
    this.current = new Map(this.boot);
    for (const [k, v] of this.persisted) this.current.set(k, v);
  }
}
