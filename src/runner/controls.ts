/**
 * Positive controls across scenarios (issue 10 §2 "Controls"): a negative check may name, with
 * `control: ID`, an `assertUpload` with `id: ID` in another scenario of the suite. A phone's worker
 * runs its jobs in the order the scheduler hands them over, so the scenarios that define controls go
 * first; the worker keeps what each control showed for the scenarios after it on the same phone.
 */
import type { Scenario, Step } from '../scenario/types.ts';

function* allSteps(steps: readonly Step[]): Generator<Step> {
  for (const s of steps) {
    yield s;
    if (s.children) yield* allSteps(s.children);
  }
}

/** Control ids a scenario defines (assertUpload `id`). */
export function controlsDefined(s: Scenario): string[] {
  const out: string[] = [];
  for (const st of allSteps(s.steps))
    if (st.name === 'assertUpload' && typeof st.args.id === 'string') out.push(st.args.id);
  return out;
}

/** Control ids a scenario's negative checks name, with where. */
export function controlsNamed(s: Scenario): Array<{ id: string; where: string }> {
  const out: Array<{ id: string; where: string }> = [];
  for (const st of allSteps(s.steps))
    if (
      (st.name === 'assertNoUpload' || st.name === 'assertNoRequest') &&
      typeof st.args.control === 'string'
    )
      out.push({ id: st.args.control, where: `${st.pos.file}:${st.pos.line}:${st.pos.col}` });
  return out;
}

/**
 * The scenarios in run order: every scenario that defines a control another one names comes before
 * it (stable otherwise); plus a warning for each control named but defined by no scenario of the run,
 * whose checks will be `broken`.
 */
export function orderByControls(scenarios: readonly Scenario[]): { ordered: Scenario[]; warnings: string[] } {
  const definedBy = new Map<string, Scenario>();
  for (const s of scenarios)
    for (const id of controlsDefined(s)) if (!definedBy.has(id)) definedBy.set(id, s);
  const warnings: string[] = [];
  const ordered: Scenario[] = [];
  const placed = new Set<Scenario>();
  const visiting = new Set<Scenario>();
  const place = (s: Scenario): void => {
    if (placed.has(s) || visiting.has(s)) return; // a cycle keeps file order
    visiting.add(s);
    for (const { id } of controlsNamed(s)) {
      const provider = definedBy.get(id);
      if (provider && provider !== s) place(provider);
    }
    visiting.delete(s);
    placed.add(s);
    ordered.push(s);
  };
  for (const s of scenarios) place(s);
  for (const s of scenarios)
    for (const { id, where } of controlsNamed(s))
      if (!definedBy.has(id))
        warnings.push(
          `${where}: control ${id} is defined by no scenario of this run (assertUpload with id: ${id}); the check that names it will be broken. Add the control's scenario to the run`,
        );
  return { ordered, warnings };
}
