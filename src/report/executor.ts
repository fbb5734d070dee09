/**
 * Allure's `executor.json` (issue 12 §2): which CI build produced a report. Allure 2 shows it in the
 * Overview's Executors widget (name, type icon, build name linked to buildUrl), puts `reportName` on
 * top of the Overview, and copies `buildOrder`, `reportUrl` and `reportName` into the report's history,
 * so the Trend charts label their columns `#<buildOrder>` and link each column to its report. Format:
 * https://allurereport.org/docs/how-it-works-executor-file/ (fields name, type, url, buildOrder,
 * buildName, buildUrl, reportUrl, reportName; buildOrder is an integer). Allure 2 has icons for the
 * types jenkins, gitlab, github, bamboo, teamcity, azure, bitbucket and circleci.
 *
 * Allure 2.46 orders the Trend columns by their place in history-trend.json (this report first, then
 * the previous ones), not by buildOrder; buildOrder only names them. Without CI, phonehome numbers
 * its local runs on from the history (the previous report's buildOrder + 1) so the columns read #1,
 * #2, … rather than blank.
 *
 * A pure function of the environment (and the run), so it is unit-tested with made-up variables.
 */

/** One Allure 2 executor.json. */
export interface AllureExecutor {
  name: string;
  type: string;
  url?: string;
  buildOrder?: number;
  buildName?: string;
  buildUrl?: string;
  reportUrl?: string;
  reportName?: string;
}

export interface ExecutorContext {
  /** The run id (reports/<run-id>): the local build name, and `{run}` in PHONEHOME_REPORT_URL. */
  runId: string;
  /** The highest buildOrder in the lab history (history-trend.json), for a local run's order. */
  previousBuildOrder?: number;
}

/** The variable that gives the report's public URL (`{run}` in it becomes the run id). */
export const REPORT_URL_VAR = 'PHONEHOME_REPORT_URL';

const set = (v: string | undefined): string | undefined => {
  const t = v?.trim();
  return t ? t : undefined;
};

/** A build number as Allure wants it (a non-negative integer); undefined for anything else. */
function order(...values: Array<string | undefined>): number | undefined {
  for (const v of values) {
    const t = set(v);
    if (t && /^\d{1,15}$/.test(t)) return Number(t);
  }
  return undefined;
}

/** Drops the undefined fields, so executor.json holds only what is known. */
function defined(e: AllureExecutor): AllureExecutor {
  return Object.fromEntries(
    Object.entries(e).filter(([, v]) => v !== undefined),
  ) as unknown as AllureExecutor;
}

/**
 * executor.json for this environment: GitLab CI (GITLAB_CI), Jenkins (JENKINS_URL), GitHub Actions
 * (GITHUB_ACTIONS), else a local executor `{name: "phonehome", type: "local"}` numbered on from the
 * history. `reportUrl` comes from PHONEHOME_REPORT_URL in every case (none of the three knows where a
 * report artefact will be published).
 */
export function executorFor(env: NodeJS.ProcessEnv, ctx: ExecutorContext): AllureExecutor {
  const reportUrl = set(env[REPORT_URL_VAR])?.replaceAll('{run}', encodeURIComponent(ctx.runId));
  if (set(env.GITLAB_CI)) {
    const project = set(env.CI_PROJECT_PATH) ?? set(env.CI_PROJECT_NAME);
    const buildOrder = order(env.CI_PIPELINE_IID, env.CI_PIPELINE_ID);
    const job = set(env.CI_JOB_NAME);
    const build = [project, buildOrder !== undefined ? `#${buildOrder}` : undefined]
      .filter(Boolean)
      .join(' ');
    const buildName = [build || undefined, job ? `(${job})` : undefined].filter(Boolean).join(' ');
    return defined({
      name: 'GitLab CI',
      type: 'gitlab',
      url: set(env.CI_SERVER_URL),
      buildOrder,
      buildName: buildName || undefined,
      buildUrl: set(env.CI_PIPELINE_URL) ?? set(env.CI_JOB_URL),
      reportUrl,
      reportName: `phonehome: ${build || ctx.runId}`,
    });
  }
  if (set(env.JENKINS_URL)) {
    const buildOrder = order(env.BUILD_NUMBER);
    const job = set(env.JOB_NAME);
    const buildName =
      set(env.BUILD_DISPLAY_NAME) && job
        ? `${job} ${set(env.BUILD_DISPLAY_NAME)}`
        : (set(env.BUILD_DISPLAY_NAME) ??
          ([job, buildOrder !== undefined ? `#${buildOrder}` : undefined].filter(Boolean).join(' ') ||
            undefined));
    return defined({
      name: 'Jenkins',
      type: 'jenkins',
      url: set(env.JENKINS_URL),
      buildOrder,
      buildName,
      buildUrl: set(env.BUILD_URL),
      reportUrl,
      reportName: `phonehome: ${buildName ?? ctx.runId}`,
    });
  }
  if (set(env.GITHUB_ACTIONS)) {
    const buildOrder = order(env.GITHUB_RUN_NUMBER);
    const server = set(env.GITHUB_SERVER_URL)?.replace(/\/+$/, '');
    const repo = set(env.GITHUB_REPOSITORY);
    const runIdGh = set(env.GITHUB_RUN_ID);
    const workflow = set(env.GITHUB_WORKFLOW);
    const buildName =
      [repo, workflow, buildOrder !== undefined ? `#${buildOrder}` : undefined].filter(Boolean).join(' ') ||
      undefined;
    return defined({
      name: 'GitHub Actions',
      type: 'github',
      url: server,
      buildOrder,
      buildName,
      buildUrl: server && repo && runIdGh ? `${server}/${repo}/actions/runs/${runIdGh}` : undefined,
      reportUrl,
      reportName: `phonehome: ${buildName ?? ctx.runId}`,
    });
  }
  return defined({
    name: 'phonehome',
    type: 'local',
    buildOrder: (ctx.previousBuildOrder ?? 0) + 1,
    buildName: ctx.runId,
    reportUrl,
    reportName: `phonehome: ${ctx.runId}`,
  });
}
