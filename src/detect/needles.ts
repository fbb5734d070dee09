/**
 * Needle matching for canaries and device identifiers (issue 4 §4). A needle is searched for in
 * every decoded string, not only as written but in the encodings apps apply before upload. All
 * variants are computed once, when the detector is built, and compiled into one Aho–Corasick
 * automaton, so each decoded string is scanned once whatever the number of needles; nothing is hashed
 * per string: digests of the needle are searched for as hex text.
 *
 * Variants of a needle `s` (UTF-8 bytes `b`):
 * - `plain`: `s` itself;
 * - `urlencoded`: `encodeURIComponent(s)`, the same with lower-case escapes, and the form style
 *   (URLSearchParams: space as `+`, `!'()~` escaped), each only when it differs from `s`;
 * - `base64` / `base64url`: `s` inside a longer base64 text sits at one of three alignments. For each
 *   offset k = 0, 1, 2 we encode k filler bytes + `b` and keep only the characters that depend on `b`
 *   alone: drop ceil(8k/6) leading and keep up to floor(8(k+len)/6). The k = 0 fragment is a prefix
 *   of the whole-value encoding, so padded, unpadded and embedded values all match. Fragments shorter
 *   than 4 characters are not used (they would match by chance);
 * - `hex`: hex of `b`, case-insensitive;
 * - `md5`, `sha1`, `sha256`: hex digests of `s`, and of `s` lower-cased when that differs
 *   (case-insensitive).
 * Case-sensitive variants are confirmed against the original text; the automaton itself runs on
 * ASCII-case-folded text so that case-insensitive variants need no second pass.
 */
import { createHash } from 'node:crypto';

export interface Variant {
  /** Index of the needle in the list given to NeedleMatcher. */
  needle: number;
  encoding: string;
  /** As searched for (lower-case when `caseInsensitive`). */
  text: string;
  caseInsensitive: boolean;
  detail?: string;
}

/** Base64 fragments shorter than this are dropped. */
const MIN_FRAGMENT = 4;

function base64Fragments(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let k = 0; k < 3; k++) {
    const enc = Buffer.concat([Buffer.alloc(k), bytes])
      .toString('base64')
      .replace(/=+$/, '');
    const frag = enc.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6));
    if (frag.length >= MIN_FRAGMENT) out.push(frag);
  }
  return out;
}

function urlEncodings(s: string): string[] {
  let strict: string;
  try {
    strict = encodeURIComponent(s);
  } catch {
    return []; // a lone surrogate has no URL encoding
  }
  const lower = strict.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
  const form = new URLSearchParams([['', s]]).toString().slice(1);
  return [strict, lower, form];
}

const digest = (algo: string, s: string): string => createHash(algo).update(s, 'utf8').digest('hex');

/** Every variant of one needle, without duplicates (the first label of a text wins). */
export function variantsOf(s: string, needle: number): Variant[] {
  const out: Variant[] = [];
  const seen = new Set<string>();
  const add = (encoding: string, text: string, caseInsensitive: boolean, detail?: string): void => {
    const key = caseInsensitive ? text.toLowerCase() : text;
    if (seen.has(key)) return;
    seen.add(key);
    const v: Variant = { needle, encoding, text: key, caseInsensitive };
    if (detail !== undefined) v.detail = detail;
    out.push(v);
  };
  const bytes = Buffer.from(s, 'utf8');
  add('plain', s, false);
  for (const u of urlEncodings(s)) add('urlencoded', u, false);
  for (const frag of base64Fragments(bytes)) {
    add('base64', frag, false);
    add('base64url', frag.replace(/\+/g, '-').replace(/\//g, '_'), false);
  }
  add('hex', bytes.toString('hex'), true);
  const lower = s.toLowerCase();
  for (const algo of ['md5', 'sha1', 'sha256']) {
    add(algo, digest(algo, s), true);
    if (lower !== s) add(algo, digest(algo, lower), true, 'digest of the lower-cased value');
  }
  return out;
}

/**
 * The encoding to report for a match of `v` in `hay`: a base64 fragment without `+`/`/` fits both
 * alphabets, so it is reported as `base64url` when the text around it is URL-safe base64.
 */
export function encodingIn(v: Variant, hay: string): string {
  if (v.encoding !== 'base64' || /[+/]/.test(v.text)) return v.encoding;
  return /[-_]/.test(hay) && !/[+/]/.test(hay) ? 'base64url' : 'base64';
}

/** ASCII upper case → lower case; everything else unchanged. */
const fold = (c: number): number => (c >= 65 && c <= 90 ? c + 32 : c);

/**
 * An Aho–Corasick automaton over all variants of all needles, as a dense transition table over the
 * (folded) characters that occur in the variants; any other character leads back to the root.
 */
export class NeedleMatcher {
  readonly variants: readonly Variant[];
  private readonly width: number;
  /** ASCII char → alphabet index of its folded form (0: not in any variant). */
  private readonly ascii = new Int32Array(128);
  private readonly other = new Map<number, number>();
  private readonly delta: Int32Array;
  /** Per state: the variants that end there (through suffix links too). */
  private readonly outputs: Array<Int32Array | undefined>;
  private readonly minLength: number;
  /** Per variant, the scan in which it last matched (dedupe within one scan). */
  private readonly stamp: Int32Array;
  private scanId = 0;
  /**
   * Every variant as one case-insensitive alternation: a string it does not match holds no variant,
   * so the automaton only walks the few strings that do (most decoded strings hold no needle).
   * It is a superset of the automaton's matches: irregexp's `i` folds ASCII case as the automaton
   * does, and more (ECMA-262 Canonicalize), never less. Irregexp scans natively (with a
   * Boyer-Moore-style lookahead), about twice as fast as the automaton's loop (bench/README.md).
   */
  private readonly prefilter: RegExp | undefined;

  constructor(needles: readonly string[]) {
    this.variants = needles.flatMap((s, i) => variantsOf(s, i));
    this.minLength = this.variants.reduce((m, v) => Math.min(m, v.text.length), Infinity);
    this.stamp = new Int32Array(this.variants.length);

    // Alphabet of folded characters.
    let size = 1;
    for (const v of this.variants)
      for (let i = 0; i < v.text.length; i++) {
        const c = fold(v.text.charCodeAt(i));
        if (c < 128 ? this.ascii[c] === 0 : !this.other.has(c)) {
          if (c < 128) this.ascii[c] = size;
          else this.other.set(c, size);
          size++;
        }
      }
    this.width = size;
    // Fold ASCII case into the table itself, so that the scan loop does no folding.
    for (let c = 65; c <= 90; c++) this.ascii[c] = this.ascii[c + 32]!;

    // Trie.
    const next: Array<Map<number, number>> = [new Map()];
    const own: number[][] = [[]];
    this.variants.forEach((v, id) => {
      let s = 0;
      for (let i = 0; i < v.text.length; i++) {
        const a = this.index(v.text.charCodeAt(i));
        let t = next[s]!.get(a);
        if (t === undefined) {
          t = next.length;
          next.push(new Map());
          own.push([]);
          next[s]!.set(a, t);
        }
        s = t;
      }
      own[s]!.push(id);
    });

    // Breadth-first: suffix links, the complete transition table, merged outputs.
    const n = next.length;
    const delta = new Int32Array(n * size);
    const fail = new Int32Array(n);
    const merged: number[][] = own.map((o) => [...o]);
    const queue: number[] = [];
    for (const [a, t] of next[0]!) {
      delta[a] = t;
      queue.push(t);
    }
    for (let qi = 0; qi < queue.length; qi++) {
      const s = queue[qi]!;
      merged[s]!.push(...merged[fail[s]!]!);
      for (let a = 0; a < size; a++) {
        const t = next[s]!.get(a);
        if (t === undefined) delta[s * size + a] = delta[fail[s]! * size + a]!;
        else {
          fail[t] = delta[fail[s]! * size + a]!;
          delta[s * size + a] = t;
          queue.push(t);
        }
      }
    }
    this.delta = delta;
    this.outputs = merged.map((m) => (m.length ? Int32Array.from(m) : undefined));
    this.prefilter = this.variants.length
      ? new RegExp(this.variants.map((v) => v.text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')).join('|'), 'i')
      : undefined;
  }

  get empty(): boolean {
    return this.variants.length === 0;
  }

  private index(c: number): number {
    const f = fold(c);
    return f < 128 ? this.ascii[f]! : (this.other.get(f) ?? 0);
  }

  /** Appends to `out` the id of each variant found in `hay` (each once). */
  scan(hay: string, out: number[]): void {
    const n = hay.length;
    if (n < this.minLength || !this.prefilter?.test(hay)) return;
    if (this.scanId === 0x7fffffff) {
      this.stamp.fill(0);
      this.scanId = 0;
    }
    const scanId = ++this.scanId;
    const { delta, width, outputs, variants, stamp, ascii, other } = this;
    let s = 0;
    for (let i = 0; i < n; i++) {
      const c = hay.charCodeAt(i);
      s = delta[s * width + (c < 128 ? ascii[c]! : (other.get(c) ?? 0))]!;
      const o = outputs[s];
      if (o === undefined) continue;
      for (let j = 0; j < o.length; j++) {
        const id = o[j]!;
        if (stamp[id] === scanId) continue;
        const v = variants[id]!;
        if (!v.caseInsensitive && !hay.startsWith(v.text, i + 1 - v.text.length)) continue;
        stamp[id] = scanId;
        out.push(id);
      }
    }
  }
}
