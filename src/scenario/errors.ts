/**
 * How a step ends badly, and which verdict that is (issue 6 §1–2):
 *
 * - `failed`: an assertion did not hold (StepFailed), or the phone did not do what the step asked in
 *   a way that is the firmware's or the scenario's doing (a UiError that is not a timeout: an unknown
 *   engine, a switch this browser version does not have);
 * - `broken`: the harness could not tell (StepBroken: no liveness, undecryptable evidence), the phone or
 *   adb failed (DeviceError, a lost phone), a UI wait ran out (a UiError with a timeout: the phone was
 *   not on the expected screen), a step ran past its time limit, or anything unexpected.
 *
 * allure-js-commons classifies a thrown error as `failed` when its constructor name, name or message
 * mentions "assert" (getStatusFromError); StepFailed is named AssertionError for that, and broken
 * messages are written without the word.
 */
import { DeviceError } from '../device/errors.ts';
import { UiError } from '../ui/driver.ts';
import type { Verdict } from './types.ts';

/** An assertion that did not hold: verdict `failed`. */
export class StepFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssertionError';
  }
}

/** The harness cannot reach a verdict (no liveness, evidence it cannot read): verdict `broken`. */
export class StepBroken extends Error {
  constructor(message: string) {
    super(message.replace(/assert/gi, 'check'));
    this.name = 'StepBroken';
  }
}

/** A step ran past its time limit: verdict `broken`. */
export class StepTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${ms} ms (the step's time limit)`);
    this.name = 'StepTimeout';
  }
}

/** A UiError whose problem is a wait or deadline that ran out. */
export function isUiTimeout(err: UiError): boolean {
  return /timed out|within \d+ ?ms|after \d+ ?ms|not reached/i.test(err.problem);
}

export function verdictOf(err: unknown): Exclude<Verdict, 'passed' | 'skipped'> {
  if (err instanceof StepFailed) return 'failed';
  if (err instanceof UiError) return isUiTimeout(err) ? 'broken' : 'failed';
  if (err instanceof DeviceError) return 'broken';
  return 'broken';
}

export const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** `fn()`, or a StepTimeout after `ms` (the work is abandoned, not cancelled). */
export async function withTimeout<T>(what: string, ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StepTimeout(what, ms)), ms);
  });
  try {
    return await Promise.race([fn(), late]);
  } finally {
    clearTimeout(timer);
  }
}
