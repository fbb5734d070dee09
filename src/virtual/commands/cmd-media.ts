/** `screencap` and `uiautomator dump`: the screen's PNG and UI hierarchy XML, to stdout or a file. */
import type { CommandContext } from './types.ts';
import { deviceState, err, errnoText, out, resolvePath, sdkOf } from './util.ts';

const SCREENCAP_USAGE = `usage: screencap [-hp] [-d display-id] [FILENAME]
   -h: this message
   -p: save the file as a png.
   -d: specify the physical display ID to capture (default: 0)
If FILENAME ends with .png it will be saved as a png.
If FILENAME is not given, the results will be printed to stdout.
`;

export async function screencap(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  let png = false;
  let file: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-p') png = true;
    else if (a === '-d') i++;
    else if (a === '-h' || (a.startsWith('-') && a !== '-')) {
      await err(ctx, SCREENCAP_USAGE);
      return a === '-h' ? 0 : 1;
    } else file = a;
  }
  if (file?.endsWith('.png')) png = true;
  const phone = ctx.phone;
  let data: Buffer;
  if (png) data = phone.screen.renderPng();
  else {
    // Raw: width, height, pixel format (1 = RGBA_8888)[, dataspace on Android 9+], then pixels.
    // The screen model renders PNG only, so the raw pixels are a black frame.
    const { width, height } = phone.profile.display;
    const headerLen = sdkOf(phone) >= 28 ? 16 : 12;
    data = Buffer.alloc(headerLen + width * height * 4);
    data.writeUInt32LE(width, 0);
    data.writeUInt32LE(height, 4);
    data.writeUInt32LE(1, 8);
    if (headerLen === 16) data.writeUInt32LE(0x8c20000, 12);
  }
  if (file === undefined) {
    await out(ctx, data);
    return 0;
  }
  try {
    writeOutput(ctx, file, data);
  } catch (e) {
    await err(ctx, `Error opening file: ${file} (${errnoText(e)})\n`);
    return 1;
  }
  return 0;
}

export async function uiautomator(ctx: CommandContext): Promise<number> {
  const [sub, ...args] = ctx.argv.slice(1);
  if (sub !== 'dump') {
    if (sub === 'events') {
      // Streams accessibility events until interrupted; the virtual screen emits none.
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      return 0;
    }
    await err(
      ctx,
      'Usage: uiautomator <subcommand> [options]\n\nAvailable subcommands:\n\n' +
        'help: displays help message\n\n' +
        'runtest: executes UI automation tests\n\n' +
        'dump: creates an XML dump of current UI hierarchy\n' +
        '    dump [--verbose][file]\n' +
        '      [--compressed]: dumps compressed layout information.\n' +
        '      [file]: the location where the dumped XML should be stored, default is\n' +
        '      /sdcard/window_dump.xml\n\n' +
        'events: prints out accessibility events until terminated\n',
    );
    return sub === undefined || sub === 'help' ? 0 : 1;
  }
  const file = args.filter((a) => !a.startsWith('--'))[0] ?? '/sdcard/window_dump.xml';
  const phone = ctx.phone;
  if (!deviceState(phone).awake) {
    await err(ctx, 'ERROR: null root node returned by UiTestAutomationBridge.\n');
    return 1;
  }
  const xml = phone.screen.dumpXml();
  if (file === '/dev/tty' || file === '/dev/stdout' || file === '/proc/self/fd/1') {
    await out(ctx, xml);
  } else {
    try {
      writeOutput(ctx, file, xml);
    } catch (e) {
      await err(ctx, `ERROR: could not write ${file}: ${errnoText(e)}\n`);
      return 1;
    }
  }
  await out(ctx, `UI hierchary dumped to: ${file}\n`);
  return 0;
}

/** Creates or replaces an output file as screencap and uiautomator do: rw-rw----, owned by the caller. */
function writeOutput(ctx: CommandContext, file: string, data: string | Uint8Array): void {
  ctx.phone.fs.writeFile(resolvePath(ctx, file), data, {
    mode: 0o660,
    uid: ctx.uid,
    gid: ctx.uid,
    mkdirs: false,
  });
}
