/**
 * MIUI's extra developer switches (xiaomi-telemetry.md §4.4): "USB debugging (Security settings)"
 * guards input injection and secure-settings writes from the shell, and "Install via USB" guards
 * installs over adb. MIUI keeps them in the properties `persist.security.adbinput` and
 * `persist.security.adbinstall` (seen in public MIUI build.prop dumps; unverified against Xiaomi's
 * code). The virtual phones model them: unset or 1 = on (the lab default), 0 = off, and what the
 * shell user then gets is the SecurityException / install failure real phones print. Root is not
 * affected.
 */
import type { CommandContext } from '../commands/types.ts';
import { err, sdkOf } from '../commands/util.ts';

export const ADB_INPUT_PROP = 'persist.security.adbinput';
export const ADB_INSTALL_PROP = 'persist.security.adbinstall';

const off = (ctx: CommandContext, prop: string): boolean =>
  ctx.uid !== 0 && ctx.phone.props.get(prop) === '0';

/** Prints the INJECT_EVENTS denial and returns the exit status when input is not allowed; else null. */
export async function denyInput(ctx: CommandContext, what: string): Promise<number | null> {
  if (!off(ctx, ADB_INPUT_PROP)) return null;
  const modern = sdkOf(ctx.phone) >= 31;
  await err(
    ctx,
    `Exception occurred while executing '${what}':\n` +
      (modern
        ? 'java.lang.SecurityException: Injecting input events requires the caller (or the source of the instrumentation, if any) to have the INJECT_EVENTS permission.\n'
        : 'java.lang.SecurityException: Injecting to another application requires INJECT_EVENTS permission\n') +
      '\tat com.android.server.input.InputManagerService.injectInputEventInternal(InputManagerService.java)\n',
  );
  return modern ? 255 : 1;
}

/** The WRITE_SECURE_SETTINGS denial for `settings put/delete global|secure`; null when allowed. */
export async function denySecureWrite(ctx: CommandContext, table: string): Promise<number | null> {
  if (table === 'system' || !off(ctx, ADB_INPUT_PROP)) return null;
  await err(
    ctx,
    "Exception occurred while executing 'put':\n" +
      'java.lang.SecurityException: Permission denial: writing to settings requires:android.permission.WRITE_SECURE_SETTINGS\n' +
      '\tat com.android.providers.settings.SettingsProvider.enforceWritePermission(SettingsProvider.java)\n',
  );
  return 255;
}

/** `Failure [INSTALL_FAILED_USER_RESTRICTED…]` when "Install via USB" is off; null when allowed. */
export function installRestricted(ctx: CommandContext): string | null {
  return off(ctx, ADB_INSTALL_PROP)
    ? 'Failure [INSTALL_FAILED_USER_RESTRICTED: Install canceled by user]\n'
    : null;
}
