/**
 * The profile's synthetic first-launch dialog (profile-schema.ts firstLaunchDialog): a modal dialog
 * over the app the first time one of its activities starts on a fresh phone, and again after the app
 * is (re)installed or its data cleared (`pm clear`); any button dismisses it for good, as a "seen"
 * flag in the app's data would. It exists to test the harness's interstitial rules
 * (src/ui/pages/interstitials.json); no public source says which first-run dialogs MIUI apps show
 * (android-realities.md §8), so it is marked synthetic and only test profiles use it.
 */
import type { VirtualPhone } from '../phone.ts';
import type { ActivityRecord } from '../display/screen.ts';

export function installFirstLaunchDialog(phone: VirtualPhone): () => void {
  const spec = phone.profile.firstLaunchDialog;
  if (!spec) return () => undefined;
  let seen = false;
  const screen = phone.screen;
  const onStart = (r: ActivityRecord): void => {
    if (seen || r.packageName !== spec.package || screen.hasDialog(spec.package)) return;
    screen.showDialog(r, {
      packageName: spec.package,
      title: spec.title,
      message: spec.message,
      buttons: spec.buttons,
      cancelable: false,
      onButton: (i) => {
        seen = true;
        phone.emit('log', `first-launch dialog of ${spec.package} dismissed by "${spec.buttons[i]}"`);
      },
    });
  };
  const reset = (p: { name: string } | string): void => {
    if ((typeof p === 'string' ? p : p.name) === spec.package) seen = false;
  };
  screen.on('activity-start', onStart);
  phone.packages.on('installed', reset);
  phone.packages.on('cleared', reset);
  return () => {
    screen.off('activity-start', onStart);
    phone.packages.off('installed', reset);
    phone.packages.off('cleared', reset);
  };
}
