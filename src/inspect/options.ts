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
  bytes: number;
  form: string;
  what: string;
}

/** The decryption keys `--key` accepts, by name. */
export const SUPPORTED_KEYS: Record<string, KeySpec> = {
  mistat: {
    bytes: 16,
    form: '32 hex digits or the base64 of 16 bytes',
    what: 'the AES-128 session key of MiStat uploads',
  },
};

function keysHelp(): string {
  return Object.entries(SUPPORTED_KEYS)
    .map(([name, s]) => `${name}=<${s.form}> (${s.what})`)
    .join('; ');
}

function keyBytes(value: string, bytes: number): Buffer | null {
  const v = value.trim();
  if (new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(v)) return Buffer.from(v, 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(v)) {
    const b = Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (
      b.length === bytes &&
      b.toString('base64').replace(/=+$/, '') === v.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/')
    )
      return b;
  }
  return null;
}

/** `--key NAME=VALUE` → [name, key bytes]. */
export function parseKey(arg: string): [string, Buffer] {
  const eq = arg.indexOf('=');
  const name = eq < 0 ? arg : arg.slice(0, eq);
  const spec = Object.hasOwn(SUPPORTED_KEYS, name) ? SUPPORTED_KEYS[name] : undefined;
  if (eq < 0 || !spec) {
    throw new InspectArgumentError(
      `--key '${arg}': ${eq < 0 ? 'expected NAME=VALUE' : `unknown key name '${name}'`}`,
      `supported keys: ${keysHelp()}`,
    );
  }
  const key = keyBytes(arg.slice(eq + 1), spec.bytes);
  if (!key) {
    throw new InspectArgumentError(
      `--key ${name}: the value must be ${spec.form}`,
      `pass e.g. --key ${name}=${'00112233445566778899aabbccddeeff'.slice(0, spec.bytes * 2)}`,
    );
  }
  return [name, key];
}
