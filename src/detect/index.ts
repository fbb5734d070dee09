/**
 * Detection (issue 4 §4): which tracker a captured request went to (catalogue.ts, trackers.json),
 * and where planted canaries and the phone's identifiers appear in its decoded layers, in which
 * encoding (needles.ts, detector.ts); readIdentifiers() collects those identifiers from a phone.
 */
export * from './catalogue.ts';
export * from './detector.ts';
export * from './identifiers.ts';
export { encodingIn, NeedleMatcher, variantsOf, type Variant } from './needles.ts';
