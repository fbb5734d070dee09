/** android.view.KeyEvent key codes the virtual screen understands (`input keyevent N`). */

export const KEYCODE = {
  HOME: 3,
  BACK: 4,
  CALL: 5,
  ENDCALL: 6,
  DPAD_UP: 19,
  DPAD_DOWN: 20,
  DPAD_LEFT: 21,
  DPAD_RIGHT: 22,
  DPAD_CENTER: 23,
  VOLUME_UP: 24,
  VOLUME_DOWN: 25,
  POWER: 26,
  CAMERA: 27,
  TAB: 61,
  SPACE: 62,
  ENTER: 66,
  DEL: 67,
  MENU: 82,
  SEARCH: 84,
  ESCAPE: 111,
  FORWARD_DEL: 112,
  NUMPAD_ENTER: 160,
  APP_SWITCH: 187,
  SLEEP: 223,
  WAKEUP: 224,
} as const;

/** Names accepted by `input keyevent KEYCODE_X` / `input keyevent X`. */
export const KEYCODE_NAMES: Record<string, number> = Object.fromEntries([
  ...Object.entries(KEYCODE),
  ...Array.from({ length: 10 }, (_, i) => [String(i), 7 + i] as const),
  ...Array.from({ length: 26 }, (_, i) => [String.fromCharCode(65 + i), 29 + i] as const),
  ['STAR', 17],
  ['POUND', 18],
  ['COMMA', 55],
  ['PERIOD', 56],
  ['GRAVE', 68],
  ['MINUS', 69],
  ['EQUALS', 70],
  ['LEFT_BRACKET', 71],
  ['RIGHT_BRACKET', 72],
  ['BACKSLASH', 73],
  ['SEMICOLON', 74],
  ['APOSTROPHE', 75],
  ['SLASH', 76],
  ['AT', 77],
  ['PLUS', 81],
]);

/** Resolves `66`, `ENTER` or `KEYCODE_ENTER` to a key code, or undefined. */
export function parseKeycode(s: string): number | undefined {
  if (/^\d+$/.test(s)) return Number(s);
  return KEYCODE_NAMES[s.toUpperCase().replace(/^KEYCODE_/, '')];
}

const PUNCTUATION: Record<number, string> = {
  17: '*',
  18: '#',
  55: ',',
  56: '.',
  62: ' ',
  68: '`',
  69: '-',
  70: '=',
  71: '[',
  72: ']',
  73: '\\',
  74: ';',
  75: "'",
  76: '/',
  77: '@',
  81: '+',
};

/** The character a key types into an edit field (no meta state: letters are lower case). */
export function keyChar(code: number): string | undefined {
  if (code >= 7 && code <= 16) return String(code - 7);
  if (code >= 29 && code <= 54) return String.fromCharCode(97 + code - 29);
  return PUNCTUATION[code];
}
