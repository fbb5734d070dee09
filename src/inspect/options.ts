/**
 * The arguments of `phonehome inspect`: identifiers with optional names and decryption keys. Bad
 * values throw InspectArgumentError (user-facing, exit 2) naming the option, the value and the form
 * expected.
 */
import { UserFacingError } from '../util/user-facing.ts';

export class InspectArgumentError extends UserFacingError {
  constructor(message: string, hint?: string) {
    super(message, hint, 2);
  }
}

export interface NamedIdentifier {
  name: string;
  value: string;
}

/** The name a bare `--identifier VALUE` gets. */
export const DEFAULT_IDENTIFIER_NAME = 'identifier';

const NAME = /^[a-z_][a-z0-9_]*$/i;

/**
 * `--identifier VALUE` or `--identifier NAME=VALUE`. The part before the first `=` is a name only
 * when it is a word (letters, digits, `_`, not starting with a digit) and what follows the `=` is
 * more than `=` padding; otherwise the whole argument is the value (base64 ids end in `=`, and
 * `a+b=c` is no name). Giving a name always removes the doubt: `aaid=dGVzdA==`.
 */
export function parseIdentifier(arg: string): NamedIdentifier {
  const eq = arg.indexOf('=');
  if (eq > 0 && /[^=]/.test(arg.slice(eq + 1)) && NAME.test(arg.slice(0, eq))) {
    return { name: arg.slice(0, eq), value: arg.slice(eq + 1) };
  }
  if (arg === '')
    throw new InspectArgumentError(
      '--identifier needs a value (got an empty string)',
      'pass --identifier VALUE or --identifier NAME=VALUE',
    );
  return { name: DEFAULT_IDENTIFIER_NAME, value: arg };
}

export function parseCanary(arg: string): string {
  if (arg === '')
    throw new InspectArgumentError(
      '--canary needs a value (got an empty string)',
      'pass the unique string the scenario planted, e.g. --canary phc-7f3a9e',
    );
  return arg;
}

interface KeySpec {
  /** Key lengths accepted, in bytes. */
  bytes: readonly number[];
  form: string;
  what: string;
}

const AES_FORM = '32, 48 or 64 hex digits or the base64 of 16, 24 or 32 bytes';

/** The named decryption keys `--key` accepts; any other name must be a host pattern (HOST_KEY). */
export const SUPPORTED_KEYS: Record<string, KeySpec> = {
  mistat: {
    bytes: [16],
    form: '32 hex digits or the base64 of 16 bytes',
    what: 'the AES-128 session key of MiStat uploads',
  },
  sensors: {
    bytes: [16, 24, 32],
    form: AES_FORM,
    what:
      'the AES key of encrypted Sensors Analytics batches (gzip=9/13) on any host: ' +
      '16/24 bytes AES-CBC with IV(16), 32 bytes AES-256-GCM with IV(12) and tag(16) or AES-256-CBC',
  },
};

/** `--key HOST=VALUE` / `--key *.SUFFIX=VALUE`: a key for one host's (or domain's) exchanges. */
export const HOST_KEY: KeySpec = {
  bytes: [16, 24, 32],
  form: AES_FORM,
  what:
    "a key for that host's exchanges (HOST, or *.SUFFIX for a domain and every name below it): " +
    'Sensors envelopes, MiStat uploads and any binary payload sealed as IV(16) ‖ AES-CBC or ' +
    'IV(12) ‖ AES-GCM ‖ tag(16) whose plaintext is gzip or text',
};

const LABEL = '(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?|\\*)';
/** A host name or pattern as src/util/hosts.ts reads them: at least two labels, `*.` or `*` labels allowed. */
const HOST_PATTERN = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})+$`);

/** Whether `name` is a host name or host pattern a key can be given for. */
export function isHostPattern(name: string): boolean {
  return name.length <= 253 && HOST_PATTERN.test(name) && name !== '*.*' && !/^\*(\.\*)*$/.test(name);
}

function keysHelp(): string {
  return [
    ...Object.entries(SUPPORTED_KEYS).map(([name, s]) => `${name}=<${s.form}>`),
    `HOST=<${HOST_KEY.form}>, or *.SUFFIX=<…> for a domain (phonehome inspect --help says what each opens)`,
  ].join('; ');
}

function listBytes(n: readonly number[]): string {
  return n.length === 1 ? String(n[0]) : `${n.slice(0, -1).join(', ')} or ${n[n.length - 1]}`;
}

/** The key bytes of VALUE (hex or base64/base64url of an accepted length), or how many bytes it had. */
function keyBytes(value: string, bytes: readonly number[]): Buffer | number | null {
  const v = value.trim();
  if (/^[0-9a-fA-F]+$/.test(v) && v.length % 2 === 0) {
    const b = Buffer.from(v, 'hex');
    return bytes.includes(b.length) ? b : b.length;
  }
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(v)) {
    const std = v.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
    const b = Buffer.from(std, 'base64');
    if (b.toString('base64').replace(/=+$/, '') !== std) return null; // not canonical base64
    return bytes.includes(b.length) ? b : b.length;
  }
  return null;
}

/** One parsed `--key NAME=VALUE`. */
export interface KeyOption {
  /** `mistat`, `sensors`, or a host name/pattern in lower case. */
  name: string;
  key: Buffer;
}

/**
 * `--key NAME=VALUE` (for `phonehome inspect` and `phonehome run`). NAME is `mistat`, `sensors`, a
 * host name (`sa.example.com`) or a pattern (`*.example.com`); VALUE is hex or base64/base64url of
 * the key: 16 bytes for mistat, 16, 24 or 32 otherwise. Throws InspectArgumentError (exit 2).
 */
export function parseKeyOption(text: string): KeyOption {
  const eq = text.indexOf('=');
  const raw = eq < 0 ? text : text.slice(0, eq);
  const lower = raw.trim().toLowerCase().replace(/\.+$/, '');
  const named = Object.hasOwn(SUPPORTED_KEYS, lower) ? SUPPORTED_KEYS[lower] : undefined;
  const spec = named ?? (isHostPattern(lower) ? HOST_KEY : undefined);
  if (eq <= 0 || !spec) {
    throw new InspectArgumentError(
      `--key '${text}': ${eq <= 0 ? 'expected NAME=VALUE' : `unknown key name '${raw}' (neither a key name nor a host)`}`,
      `supported keys: ${keysHelp()}`,
    );
  }
  const key = keyBytes(text.slice(eq + 1), spec.bytes);
  if (!Buffer.isBuffer(key)) {
    const got = typeof key === 'number' ? ` (got ${key} byte${key === 1 ? '' : 's'})` : '';
    throw new InspectArgumentError(
      `--key ${lower}: the value must be ${spec.form}${got}`,
      `pass e.g. --key ${lower}=${'00112233445566778899aabbccddeeff'.slice(0, spec.bytes[0]! * 2)}` +
        (spec.bytes.length > 1
          ? ` (${listBytes(spec.bytes)} bytes: AES-${listBytes(spec.bytes.map((b) => b * 8))})`
          : ''),
    );
  }
  return { name: lower, key };
}

/** Several `--key` options as DecodeInput.keys; a name given twice is an error (which one was meant?). */
export function parseKeyOptions(list: readonly string[]): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const text of list) {
    const { name, key } = parseKeyOption(text);
    if (Object.hasOwn(out, name)) {
      if (out[name]!.equals(key)) continue;
      throw new InspectArgumentError(
        `--key ${name} is given twice with different values`,
        'give one key per name (a host pattern may take a different key than a host it covers)',
      );
    }
    out[name] = key;
  }
  return out;
}

/** `--key NAME=VALUE` → [name, key bytes] (parseKeyOption as a pair). */
export function parseKey(arg: string): [string, Buffer] {
  const { name, key } = parseKeyOption(arg);
  return [name, key];
}
