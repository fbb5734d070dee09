/**
 * `input` (tap, swipe, text, keyevent … with an optional source word) and `wm` (size, density).
 * Input goes to the screen; the power keys also switch the display state `dumpsys power` reports.
 * The shell user holds INJECT_EVENTS on stock Android; MIUI takes it away while "USB debugging
 * (Security settings)" is off (miui-security.ts).
 */
import type { CommandContext } from './types.ts';
import { KEYCODE, parseKeycode } from '../display/keys.ts';
import { deviceState, err, out, sdkOf, systemLog } from './util.ts';
import { denyInput } from '../os/miui-security.ts';

const SOURCES = new Set([
  'keyboard',
  'mouse',
  'joystick',
  'touchnavigation',
  'touchpad',
  'trackball',
  'stylus',
  'dpad',
  'gesture',
  'touchscreen',
  'gamepad',
  'rotaryencoder',
]);

const USAGE = `Usage: input [<source>] [-d DISPLAY_ID] <command> [<arg>...]

The sources are:
      dpad
      keyboard
      mouse
      touchpad
      gamepad
      touchnavigation
      joystick
      touchscreen
      stylus
      trackball

The commands and default sources are:
      text <string> (Default: touchscreen)
      keyevent [--longpress|--doubletap] <key code number or name> ... (Default: keyboard)
      tap <x> <y> (Default: touchscreen)
      swipe <x1> <y1> <x2> <y2> [duration(ms)] (Default: touchscreen)
      draganddrop <x1> <y1> <x2> <y2> [duration(ms)] (Default: touchscreen)
      press (Default: trackball)
      roll <dx> <dy> (Default: trackball)
`;

export async function input(ctx: CommandContext): Promise<number> {
  const phone = ctx.phone;
  const args = ctx.argv.slice(1);
  const failStatus = sdkOf(phone) >= 31 ? 255 : 1;
  if (args[0] && SOURCES.has(args[0])) args.shift();
  if (args[0] === '-d') args.splice(0, 2);
  const [cmd, ...rest] = args;
  const bad = async (msg: string): Promise<number> => {
    await err(ctx, `${msg}\n${USAGE}`);
    return failStatus;
  };
  const nums = (n: number, optional = 0): number[] | undefined => {
    if (rest.length < n || rest.length > n + optional) return undefined;
    const v = rest.map(Number);
    return v.every((x) => Number.isFinite(x)) ? v : undefined;
  };
  if (
    cmd &&
    ['tap', 'swipe', 'text', 'keyevent', 'draganddrop', 'press', 'roll', 'motionevent'].includes(cmd)
  ) {
    const denied = await denyInput(ctx, cmd);
    if (denied !== null) return denied;
  }
  const screen = phone.screen;
  const state = deviceState(phone);
  const focusPid = (): number => {
    const pkg = screen.focused().package;
    return (pkg && phone.processes.byName(pkg)[0]?.pid) || 0;
  };
  switch (cmd) {
    case 'tap': {
      const v = nums(2);
      if (!v) return bad('Error: Invalid arguments for command: tap');
      if (!state.awake) return 0;
      systemLog(phone, 4, 'InputDispatcher', `Delivering touch to (${focusPid()}): action: 0x0, toolType: 1`);
      screen.tap(v[0] as number, v[1] as number);
      systemLog(phone, 4, 'InputDispatcher', `Delivering touch to (${focusPid()}): action: 0x1, toolType: 1`);
      return 0;
    }
    case 'swipe':
    case 'draganddrop': {
      const v = nums(4, 1);
      if (!v) return bad(`Error: Invalid arguments for command: ${cmd}`);
      if (!state.awake) return 0;
      const [x1, y1, x2, y2, ms = 300] = v as [number, number, number, number, number?];
      systemLog(phone, 4, 'InputDispatcher', `Delivering touch to (${focusPid()}): action: 0x0, toolType: 1`);
      screen.swipe(x1, y1, x2, y2, ms < 0 ? 300 : ms);
      systemLog(phone, 4, 'InputDispatcher', `Delivering touch to (${focusPid()}): action: 0x1, toolType: 1`);
      return 0;
    }
    case 'text': {
      if (rest.length === 0) return bad('Error: Invalid arguments for command: text');
      if (!state.awake) return 0;
      screen.text(rest.join(' ').replace(/%s/g, ' '));
      return 0;
    }
    case 'keyevent': {
      let repeat = 1;
      const keys = rest.filter((a) => {
        if (a === '--doubletap') repeat = 2;
        return a !== '--longpress' && a !== '--doubletap';
      });
      if (keys.length === 0) return bad('Error: Invalid arguments for command: keyevent');
      const codes: number[] = [];
      for (const k of keys) {
        const code = parseKeycode(k);
        if (code === undefined) return bad(`Error: Unknown keycode: ${k}`);
        codes.push(code);
      }
      for (const code of codes) {
        for (let i = 0; i < repeat; i++) await sendKey(ctx, code, focusPid());
      }
      return 0;
    }
    case 'press':
      return 0;
    case 'roll':
      return nums(2) ? 0 : bad('Error: Invalid arguments for command: roll');
    case undefined:
      await err(ctx, USAGE);
      return failStatus;
    default:
      return bad(`Error: Unknown command: ${cmd}`);
  }
}

async function sendKey(ctx: CommandContext, code: number, pid: number): Promise<void> {
  const state = deviceState(ctx.phone);
  if (code === KEYCODE.POWER) state.awake = !state.awake;
  else if (code === KEYCODE.WAKEUP) state.awake = true;
  else if (code === KEYCODE.SLEEP || code === KEYCODE.SOFT_SLEEP) state.awake = false;
  systemLog(ctx.phone, 4, 'InputDispatcher', `Delivering key to (${pid}): action: 0x0, keyCode: ${code}`);
  ctx.phone.screen.keyevent(code);
}

export async function wm(ctx: CommandContext): Promise<number> {
  const [cmd, arg] = ctx.argv.slice(1);
  const phone = ctx.phone;
  const { width, height, density } = phone.profile.display;
  switch (cmd) {
    case 'size': {
      if (arg === undefined) {
        const forced = phone.settings.get('global', 'display_size_forced');
        await out(
          ctx,
          `Physical size: ${width}x${height}\n${forced ? `Override size: ${forced.replace(',', 'x')}\n` : ''}`,
        );
        return 0;
      }
      if (arg === 'reset') {
        phone.settings.delete('global', 'display_size_forced');
        return 0;
      }
      const m = /^(\d+)(?:dp)?x(\d+)(?:dp)?$/.exec(arg);
      if (!m) {
        await err(ctx, `Error: bad size ${arg}\n`);
        return 255;
      }
      phone.settings.put('global', 'display_size_forced', `${m[1]},${m[2]}`);
      return 0;
    }
    case 'density': {
      if (arg === undefined) {
        const forced = phone.settings.get('secure', 'display_density_forced');
        await out(ctx, `Physical density: ${density}\n${forced ? `Override density: ${forced}\n` : ''}`);
        return 0;
      }
      if (arg === 'reset') {
        phone.settings.delete('secure', 'display_density_forced');
        return 0;
      }
      if (!/^\d+$/.test(arg) || Number(arg) < 72) {
        await err(ctx, `Error: bad number ${arg}\n`);
        return 255;
      }
      phone.settings.put('secure', 'display_density_forced', arg);
      return 0;
    }
    case 'dismiss-keyguard':
      // The profile's keyguard has no PIN (profile-schema.ts state.keyguard): dismissing it unlocks.
      deviceState(phone).keyguard = false;
      return 0;
    case 'overscan':
    case 'set-user-rotation':
    case 'user-rotation':
      return 0;
    case undefined:
    case 'help':
      await out(
        ctx,
        'Window manager (window) commands:\n  help\n      Print this help text.\n  size [reset|WxH|WdpxHdp]\n      Return or override display size.\n  density [reset|DENSITY]\n      Return or override display density.\n  dismiss-keyguard\n      Dismiss the keyguard, prompting user for auth if necessary.\n',
      );
      return 255;
    default:
      await out(ctx, `Unknown command: ${cmd}\n`);
      return 255;
  }
}
