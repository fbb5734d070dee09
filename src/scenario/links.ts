/**
 * Scenario links against phonehome.json (issue 12 §2): every `{issue: …}` / `{tms: …}` link in a
 * scenario header needs a URL template in the project config (src/config/project.ts), checked before
 * any job runs so that a missing one stops the run with file:line:col instead of a report without it.
 */
import { PROJECT_FILE, type ProjectConfig } from '../config/project.ts';
import { ScenarioError, type ScenarioProblem } from './parse.ts';
import type { Scenario } from './types.ts';

/**
 * Every `{issue: …}` / `{tms: …}` link of these scenarios must have a template in the config: else a
 * ScenarioError (exit 2) naming each link's file:line:col and the config file, before any job runs.
 */
export function checkScenarioLinks(scenarios: readonly Scenario[], config: ProjectConfig): void {
  const problems: ScenarioProblem[] = [];
  for (const s of scenarios) {
    (s.config.links ?? []).forEach((l, i) => {
      if (l.type === 'link' || config.links[l.type] !== undefined) return;
      const where = config.file
        ? `in ${config.file}`
        : `(no ${PROJECT_FILE} in ${process.cwd()}, no --config)`;
      problems.push({
        pos: l.pos,
        path: `header.links[${i}].${l.type}`,
        message: `no URL template for ${l.type} links ${where}, so "${l.id}" cannot become a link`,
        fix: `add "report": {"links": {"${l.type}": "https://…/{}"}} to ${config.file ?? PROJECT_FILE} ({} is where the id goes), or write the link as {url: https://…, name: ${l.id}}`,
      });
    });
  }
  if (problems.length) throw new ScenarioError(problems);
}
