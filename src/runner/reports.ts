/** The report calls the runner makes at the end of a run (src/report), in one place. */
export {
  fingerprintEntries,
  generateAllureHtml,
  writeAllureCategories,
  writeAllureEnvironment,
} from '../report/allure.ts';
export { writeJUnit } from '../report/junit.ts';
export { newRunId, runSummary as summaryOf, writeRunFiles } from '../report/summary.ts';
