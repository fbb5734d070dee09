/**
 * `input text` and its limits, for the ADB-only driver.
 *
 * - The text reaches the phone as one quoted argument (Device.shell with an argv array, quoted by
 *   src/device/quote.ts), so spaces, quotes, `$(…)`, `;` and backticks are typed literally, never run.
 * - `input text` turns every `%s` into a space (Input.java's escape for shells that split words). A
 *   literal `%s` is typed by splitting the text between `%` and `s` into two `input text` calls.
 * - `input text` only types what the virtual keyboard's KeyCharacterMap can produce: printable ASCII.
 *   Anything else (accents, CJK, emoji, newlines, tabs) is refused up front with a UiError; use the
 *   Appium driver (`"ui": "appium"` in devices.json) for Unicode, and pressKey(KEYCODE.ENTER) for Enter.
 */

/** The printable ASCII range `input text` can type. */
const TYPABLE = /^[\x20-\x7e]*$/;

/** The first character `input text` cannot type, or undefined. */
export function untypable(text: string): string | undefined {
  if (TYPABLE.test(text)) return undefined;
  for (const ch of text) if (!TYPABLE.test(ch)) return ch;
  return undefined;
}

/** `U+00E9 "é"` for messages. */
export function describeChar(ch: string): string {
  const cp = ch.codePointAt(0)!;
  const u = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return cp < 0x20 || cp === 0x7f ? u : `${u} ${JSON.stringify(ch)}`;
}

/**
 * The argv lists (`['input', 'text', chunk]`) that type `text` exactly: split so that no chunk holds
 * `%s`. Empty text gives no command (`input text ''` is a usage error).
 */
export function inputTextCommands(text: string): string[][] {
  if (text === '') return [];
  const chunks: string[] = [];
  let rest = text;
  for (;;) {
    const at = rest.indexOf('%s');
    if (at < 0) break;
    chunks.push(rest.slice(0, at + 1));
    rest = rest.slice(at + 1);
  }
  if (rest) chunks.push(rest);
  return chunks.map((c) => ['input', 'text', c]);
}
