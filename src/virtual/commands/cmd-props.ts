/** getprop / setprop (Android 10+ toolbox versions). */
import type { CommandContext } from './types.ts';
import { PropertyStore } from '../os/props.ts';
import { err, lines, out } from './util.ts';

export async function getprop(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  let types = false;
  let contexts = false;
  while (args[0]?.startsWith('-') && args[0].length > 1) {
    const opt = args.shift() as string;
    if (opt === '-T') types = true;
    else if (opt === '-Z') contexts = true;
    else {
      await err(ctx, `getprop: invalid option -- '${opt.slice(1)}'\nusage: getprop [-TZ] [NAME [DEFAULT]]\n`);
      return 1;
    }
  }
  const store = ctx.phone.props;
  const annotate = (v: string): string => (types ? 'string' : contexts ? 'u:object_r:default_prop:s0' : v);
  if (args.length === 0) {
    await lines(
      ctx,
      store.all().map(([k, v]) => `[${k}]: [${annotate(v)}]`),
    );
    return 0;
  }
  if (args.length > 2) {
    await err(ctx, 'usage: getprop [-TZ] [NAME [DEFAULT]]\n');
    return 1;
  }
  const [key = '', fallback = ''] = args;
  const value = store.get(key) || fallback;
  await out(ctx, `${types || contexts ? annotate(value) : value}\n`);
  return 0;
}

export async function setprop(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  if (args.length !== 2) {
    await err(ctx, 'usage: setprop NAME VALUE\n\nSets an Android system property.\n\n  setprop foo.bar ""\n');
    return 1;
  }
  const [key = '', value = ''] = args;
  const allowed = ctx.uid === 0 || PropertyStore.shellMaySet(key);
  if (!allowed || !ctx.phone.props.set(key, value)) {
    await err(ctx, `Failed to set property '${key}' to '${value}'.\nSee dmesg for error reason.\n`);
    return 1;
  }
  return 0;
}
