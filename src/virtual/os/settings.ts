/**
 * The settings provider: the global, secure and system tables. They live in /data and survive
 * reboots. `http_proxy` is interpreted as AOSP's ProxyTracker does (xiaomi-telemetry.md §4.5): a
 * non-empty host sets the proxy, an empty host (`:0`) clears it, and deleting the key leaves the
 * proxy in force until the next boot.
 */
import { createHash } from 'node:crypto';
import type { Profile } from '../profiles/load.ts';
import { stableUuid } from '../telemetry/device.ts';

export const NAMESPACES = ['global', 'secure', 'system'] as const;
export type Namespace = (typeof NAMESPACES)[number];

export interface SettingChange {
  namespace: Namespace;
  key: string;
  /** undefined when deleted. */
  value: string | undefined;
}

export function isNamespace(s: string): s is Namespace {
  return (NAMESPACES as readonly string[]).includes(s);
}

/** A stable per-device ANDROID_ID (16 hex digits) derived from the serial number. */
export function deriveAndroidId(serialno: string): string {
  return createHash('sha256').update(`android_id:${serialno}`).digest('hex').slice(0, 16);
}

export class SettingsStore {
  private readonly tables: Record<Namespace, Map<string, string>>;
  private readonly listeners = new Set<(change: SettingChange) => void>();
  private proxy: { host: string; port: number } | null = null;

  /**
   * @param opts.serialno the phone's serial: ANDROID_ID is derived from it unless the profile pins
   *   `secure.android_id` (defaults to the profile's ro.serialno).
   */
  constructor(profile: Profile, opts: { serialno?: string } = {}) {
    this.tables = {
      global: new Map(Object.entries(profile.settings.global)),
      secure: new Map(Object.entries(profile.settings.secure)),
      system: new Map(Object.entries(profile.settings.system)),
    };
    if (!this.tables.secure.has('android_id')) {
      const serial = opts.serialno ?? profile.props['ro.serialno'] ?? profile.name;
      this.tables.secure.set('android_id', deriveAndroidId(serial));
    }
    // MIUI's ad services keep the advertising id in `global ad_aaid` (xiaomi-telemetry.md §4.3).
    if (!this.tables.global.has('ad_aaid')) {
      const serial = opts.serialno ?? profile.props['ro.serialno'] ?? profile.name;
      this.tables.global.set('ad_aaid', stableUuid('ad_aaid', serial, this.tables.secure.get('android_id')!));
    }
    this.proxy = parseProxy(this.tables.global.get('http_proxy'));
  }

  get(ns: Namespace, key: string): string | undefined {
    return this.tables[ns].get(key);
  }

  put(ns: Namespace, key: string, value: string): void {
    this.tables[ns].set(key, value);
    // ProxyTracker acts only on a non-empty value; an empty host (`:0`) clears the proxy.
    if (ns === 'global' && key === 'http_proxy' && value !== '') this.proxy = parseProxy(value);
    this.emit({ namespace: ns, key, value });
  }

  /** Removes a key; true when it existed ("Deleted 1 rows"). */
  delete(ns: Namespace, key: string): boolean {
    const existed = this.tables[ns].delete(key);
    if (existed) this.emit({ namespace: ns, key, value: undefined });
    return existed;
  }

  /** Sorted [key, value] pairs of one table. */
  list(ns: Namespace): Array<[string, string]> {
    return [...this.tables[ns].entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The global HTTP proxy apps would use now, or null. */
  httpProxy(): { host: string; port: number } | null {
    return this.proxy ? { ...this.proxy } : null;
  }

  /** Calls `cb` after every change; returns the unsubscribe function. */
  subscribe(cb: (change: SettingChange) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Settings persist across reboots; only the in-memory proxy is re-read from the table. */
  onReboot(): void {
    this.proxy = parseProxy(this.tables.global.get('http_proxy'));
  }

  private emit(change: SettingChange): void {
    for (const cb of [...this.listeners]) cb(change);
  }
}

/** ProxyTracker's reading of `http_proxy`: `host[:port]`, port 8080 by default; empty host = none. */
function parseProxy(value: string | undefined): { host: string; port: number } | null {
  if (!value) return null;
  const i = value.lastIndexOf(':');
  const host = i >= 0 ? value.slice(0, i) : value;
  if (!host) return null;
  const port = i >= 0 ? Number.parseInt(value.slice(i + 1), 10) : 8080;
  return { host, port: Number.isFinite(port) && port > 0 ? port : 8080 };
}
