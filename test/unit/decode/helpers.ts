import type { DecodeResult, Layer } from '../../../src/decode/index.ts';

/** path → value of every leaf. */
export function leafMap(r: DecodeResult): Map<string, string> {
  return new Map(r.leaves().map((l) => [l.path, l.value]));
}

export function allLayers(root: Layer): Layer[] {
  const out: Layer[] = [];
  const stack = [root];
  while (stack.length) {
    const l = stack.pop()!;
    out.push(l);
    stack.push(...l.children);
  }
  return out;
}
