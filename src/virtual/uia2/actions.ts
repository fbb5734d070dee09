/**
 * W3C actions (`POST /session/:sid/actions`) turned into the screen's own input: per pointer, the
 * path from pointerDown to pointerUp becomes one `input swipe`-like gesture (a short one is a tap, or
 * a long press when held >= 500 ms; Screen.swipe decides), and key actions type characters or press
 * keys as `input text` / `input keyevent` would. Sources advance tick by tick, as the spec orders them.
 */
import type { Screen } from '../display/screen.ts';
import { KEYCODE } from '../display/keys.ts';
import { W3cError } from './errors.ts';

/** WebDriver special keys (the spec's \uE000 table) the screen understands. */
const SPECIAL_KEYS: Record<string, number | string> = {
  '\uE003': KEYCODE.DEL,
  '\uE004': KEYCODE.TAB,
  '\uE006': KEYCODE.ENTER,
  '\uE007': KEYCODE.ENTER,
  '\uE00C': KEYCODE.ESCAPE,
  '\uE00D': ' ',
  '\uE012': KEYCODE.DPAD_LEFT,
  '\uE013': KEYCODE.DPAD_UP,
  '\uE014': KEYCODE.DPAD_RIGHT,
  '\uE015': KEYCODE.DPAD_DOWN,
  '\uE017': KEYCODE.FORWARD_DEL,
};

/** Modifier keys (shift, control, alt, meta…): no effect of their own. */
function isModifier(key: string): boolean {
  const c = key.codePointAt(0) ?? 0;
  return key.length === 1 && c >= 0xe000 && c <= 0xf8ff && SPECIAL_KEYS[key] === undefined;
}

/** Types one key value: a special key as a key event, anything else as text. */
export function typeKey(screen: Screen, value: string): void {
  const special = SPECIAL_KEYS[value];
  if (typeof special === 'number') screen.keyevent(special);
  else if (typeof special === 'string') screen.text(special);
  else if (!isModifier(value)) screen.text(value);
}

interface ActionItem {
  type?: string;
  duration?: number;
  x?: number;
  y?: number;
  origin?: unknown;
  value?: string;
  button?: number;
}

interface Source {
  type?: string;
  id?: string;
  actions?: ActionItem[];
}

interface PointerState {
  x: number;
  y: number;
  down: { x: number; y: number } | null;
  heldMs: number;
}

/** Centre of an element for `origin: {element-6066…: id}` (throws stale/no such element as needed). */
export type ElementCentre = (id: string) => { x: number; y: number };

const ELEMENT_KEY = 'element-6066-11e4-a52e-4f735466cecf';

function originPoint(origin: unknown, p: PointerState, centreOf: ElementCentre): { x: number; y: number } {
  if (origin === undefined || origin === 'viewport') return { x: 0, y: 0 };
  if (origin === 'pointer') return { x: p.x, y: p.y };
  if (origin && typeof origin === 'object') {
    const o = origin as Record<string, unknown>;
    const id = o[ELEMENT_KEY] ?? o.ELEMENT;
    if (typeof id === 'string') return centreOf(id);
  }
  throw new W3cError('invalid argument', `Unsupported pointer origin ${JSON.stringify(origin)}`);
}

export function performActions(screen: Screen, sources: unknown, centreOf: ElementCentre): void {
  if (!Array.isArray(sources)) throw new W3cError('invalid argument', "'actions' must be an array");
  const list = sources as Source[];
  const pointers = new Map<Source, PointerState>();
  for (const s of list) {
    if (!Array.isArray(s.actions)) throw new W3cError('invalid argument', "each source needs 'actions'");
    if (s.type === 'pointer') pointers.set(s, { x: 0, y: 0, down: null, heldMs: 0 });
    else if (s.type !== 'key' && s.type !== 'none' && s.type !== 'wheel')
      throw new W3cError('invalid argument', `Unknown input source type '${String(s.type)}'`);
  }
  const ticks = Math.max(0, ...list.map((s) => s.actions!.length));
  for (let t = 0; t < ticks; t++) {
    for (const s of list) {
      const a = s.actions![t];
      if (!a) continue;
      const p = pointers.get(s);
      const duration = typeof a.duration === 'number' && a.duration > 0 ? a.duration : 0;
      if (a.type === 'pause') {
        if (p?.down) p.heldMs += duration;
        continue;
      }
      if (s.type === 'key') {
        if (a.type === 'keyDown' && typeof a.value === 'string') typeKey(screen, a.value);
        else if (a.type !== 'keyUp') throw new W3cError('invalid argument', `Unknown key action '${a.type}'`);
        continue;
      }
      if (!p) continue; // none / wheel sources: only pauses matter
      switch (a.type) {
        case 'pointerMove': {
          const o = originPoint(a.origin, p, centreOf);
          p.x = Math.round(o.x + (a.x ?? 0));
          p.y = Math.round(o.y + (a.y ?? 0));
          if (p.down) p.heldMs += duration;
          break;
        }
        case 'pointerDown':
          p.down = { x: p.x, y: p.y };
          p.heldMs = 0;
          break;
        case 'pointerUp':
          if (p.down) {
            screen.swipe(p.down.x, p.down.y, p.x, p.y, p.heldMs);
            p.down = null;
          }
          break;
        case 'pointerCancel':
          p.down = null;
          break;
        default:
          throw new W3cError('invalid argument', `Unknown pointer action '${String(a.type)}'`);
      }
    }
  }
}
