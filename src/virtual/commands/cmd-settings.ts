/**
 * `settings` (= `cmd settings`): the SettingsProvider shell command. Argument handling, messages
 * and exit statuses (-1 → 255) follow AOSP's SettingsService.
 */
import type { CommandContext } from './types.ts';
import { isNamespace, type Namespace } from '../os/settings.ts';
import { err, lines, out, systemLog } from './util.ts';
import { denySecureWrite } from '../os/miui-security.ts';

const HELP = `Settings provider (settings) commands:
  help
      Print this help text.
  get [--user <USER_ID> | current] NAMESPACE KEY
      Retrieve the current value of KEY.
  put [--user <USER_ID> | current] NAMESPACE KEY VALUE [TAG] [default]
      Change the contents of KEY to VALUE.
      TAG to associate with the setting.
      {default} to set as the default, case-insensitive only for global/secure namespace
  delete [--user <USER_ID> | current] NAMESPACE KEY
      Delete the entry for KEY.
  reset [--user <USER_ID> | current] NAMESPACE {PACKAGE_NAME | RESET_MODE}
      Reset the global/secure table for a package with mode.
      RESET_MODE is one of {untrusted_defaults, untrusted_clear, trusted_defaults}, case-insensitive
  list [--user <USER_ID> | current] NAMESPACE
      Print all defined keys.
      NAMESPACE is one of {system, secure, global}, case-insensitive
`;

type Verb = 'get' | 'put' | 'delete' | 'list' | 'reset';

export async function settings(ctx: CommandContext): Promise<number> {
  return settingsCommand(ctx, ctx.argv.slice(1));
}

export async function settingsCommand(ctx: CommandContext, args: string[]): Promise<number> {
  if (args.length === 0) {
    await out(ctx, HELP);
    return 255;
  }
  const fail = async (msg: string): Promise<number> => {
    await err(ctx, msg + '\n');
    return 255;
  };
  let user: number | undefined;
  let verb: Verb | undefined;
  let table: Namespace | undefined;
  let key: string | undefined;
  let value: string | undefined;
  let valid = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const more = i + 1 < args.length;
    if (arg === '--user') {
      if (user !== undefined) break;
      const u = args[++i];
      if (u === undefined) return fail('Bad arguments');
      user = u === 'current' || u === 'cur' ? 0 : Number.parseInt(u, 10);
      if (Number.isNaN(user)) return fail(`Invalid user: ${u}`);
    } else if (!verb) {
      const v = arg.toLowerCase();
      if (v !== 'get' && v !== 'put' && v !== 'delete' && v !== 'list' && v !== 'reset') {
        return fail(`Invalid command: ${arg}`);
      }
      verb = v;
    } else if (!table) {
      const ns = arg.toLowerCase();
      if (!isNamespace(ns)) return fail(`Invalid namespace '${arg}'`);
      table = ns;
      if (verb === 'list') {
        valid = true;
        break;
      }
    } else if (verb === 'reset') {
      valid = true;
      break;
    } else if (verb === 'get' || verb === 'delete') {
      key = arg;
      if (more) return fail('Too many arguments');
      valid = true;
      break;
    } else if (key === undefined) {
      key = arg;
    } else if (value === undefined) {
      value = arg;
      valid = true;
    } else {
      // TAG and/or "default": accepted, no effect here.
      if (i + 2 < args.length) return fail('Too many arguments');
      valid = true;
      break;
    }
  }
  if (!valid || !verb || !table) return fail('Bad arguments');
  if (user !== undefined && (verb === 'delete' || verb === 'list')) {
    return fail('--user not supported for delete and list.');
  }
  if (user !== undefined && user !== 0) return fail(`Invalid user: ${user}`);

  if (verb === 'put' || verb === 'delete' || verb === 'reset') {
    const denied = await denySecureWrite(ctx, table);
    if (denied !== null) return denied;
  }
  const store = ctx.phone.settings;
  switch (verb) {
    case 'get':
      await out(ctx, `${store.get(table, key as string) ?? 'null'}\n`);
      break;
    case 'put':
      store.put(table, key as string, value as string);
      systemLog(ctx.phone, 4, 'SettingsProvider', `put ${table} ${key}=${value} by uid ${ctx.uid}`);
      break;
    case 'delete': {
      const n = store.delete(table, key as string) ? 1 : 0;
      if (n) systemLog(ctx.phone, 4, 'SettingsProvider', `delete ${table} ${key} by uid ${ctx.uid}`);
      await out(ctx, `Deleted ${n} rows\n`);
      break;
    }
    case 'list':
      await lines(
        ctx,
        store.list(table).map(([k, v]) => `${k}=${v}`),
      );
      break;
    case 'reset':
      // Reset modes concern values set by packages; the virtual phone has none to roll back.
      break;
  }
  return 0;
}
