/**
 * The apps whose traffic around the proxy the wiring's iptables rules cover on rooted phones
 * (src/capture/bypass.ts): every Mi Browser package the page objects know, and every package the
 * tracker catalogue says uploads for a tracker (`apps`: com.miui.analytics, MSA). Scenario apps
 * beyond these are still measured by per-UID accounting on every phone.
 */
import { loadCatalogue } from '../detect/index.ts';
import { loadLocators } from '../ui/pages/index.ts';

export function appsUnderTest(): string[] {
  const apps = loadLocators().apps;
  return [...new Set([...(apps.browser?.packages ?? []), ...loadCatalogue().senderApps()])];
}
