import assert from 'node:assert/strict';
import { executorFor } from '../../../src/report/executor.ts';

const RUN = '20260301-101500-000-a1b2c3';

describe('report/executor', () => {
  it('fills executor.json from GitLab CI variables', () => {
    const env = {
      GITLAB_CI: 'true',
      CI_SERVER_URL: 'https://gitlab.example',
      CI_PIPELINE_IID: '42',
      CI_PIPELINE_ID: '987654',
      CI_PIPELINE_URL: 'https://gitlab.example/lab/phonehome/-/pipelines/987654',
      CI_JOB_URL: 'https://gitlab.example/lab/phonehome/-/jobs/5555',
      CI_PROJECT_NAME: 'phonehome',
      CI_PROJECT_PATH: 'lab/phonehome',
      CI_JOB_NAME: 'privacy:merge',
      PHONEHOME_REPORT_URL:
        'https://gitlab.example/lab/phonehome/-/jobs/5555/artifacts/file/reports/{run}/html/index.html',
    };
    assert.deepEqual(executorFor(env, { runId: RUN, previousBuildOrder: 7 }), {
      name: 'GitLab CI',
      type: 'gitlab',
      url: 'https://gitlab.example',
      buildOrder: 42,
      buildName: 'lab/phonehome #42 (privacy:merge)',
      buildUrl: 'https://gitlab.example/lab/phonehome/-/pipelines/987654',
      reportUrl: `https://gitlab.example/lab/phonehome/-/jobs/5555/artifacts/file/reports/${RUN}/html/index.html`,
      reportName: 'phonehome: lab/phonehome #42',
    });
    // Without the project-scoped IID, the instance-wide pipeline id orders the builds; the job URL
    // stands in for a missing pipeline URL; no PHONEHOME_REPORT_URL, no reportUrl.
    const bare = executorFor(
      { GITLAB_CI: 'true', CI_PIPELINE_ID: '987654', CI_JOB_URL: 'https://g/-/jobs/1', CI_PROJECT_NAME: 'p' },
      { runId: RUN },
    );
    assert.equal(bare.buildOrder, 987654);
    assert.equal(bare.buildUrl, 'https://g/-/jobs/1');
    assert.equal(bare.buildName, 'p #987654');
    assert.equal('reportUrl' in bare, false);
  });

  it('fills it from Jenkins and GitHub Actions variables', () => {
    assert.deepEqual(
      executorFor(
        {
          JENKINS_URL: 'https://jenkins.example/',
          BUILD_NUMBER: '13',
          BUILD_URL: 'https://jenkins.example/job/privacy/13/',
          JOB_NAME: 'privacy',
          BUILD_DISPLAY_NAME: '#13',
        },
        { runId: RUN },
      ),
      {
        name: 'Jenkins',
        type: 'jenkins',
        url: 'https://jenkins.example/',
        buildOrder: 13,
        buildName: 'privacy #13',
        buildUrl: 'https://jenkins.example/job/privacy/13/',
        reportName: 'phonehome: privacy #13',
      },
    );
    assert.deepEqual(
      executorFor(
        {
          GITHUB_ACTIONS: 'true',
          GITHUB_RUN_NUMBER: '7',
          GITHUB_RUN_ID: '123456789',
          GITHUB_SERVER_URL: 'https://github.com',
          GITHUB_REPOSITORY: 'lab/phonehome',
          GITHUB_WORKFLOW: 'privacy',
          PHONEHOME_REPORT_URL: 'https://lab.github.io/phonehome/',
        },
        { runId: RUN },
      ),
      {
        name: 'GitHub Actions',
        type: 'github',
        url: 'https://github.com',
        buildOrder: 7,
        buildName: 'lab/phonehome privacy #7',
        buildUrl: 'https://github.com/lab/phonehome/actions/runs/123456789',
        reportUrl: 'https://lab.github.io/phonehome/',
        reportName: 'phonehome: lab/phonehome privacy #7',
      },
    );
  });

  it('outside CI numbers local runs on from the history, and drops build numbers that are not integers', () => {
    assert.deepEqual(executorFor({}, { runId: RUN }), {
      name: 'phonehome',
      type: 'local',
      buildOrder: 1,
      buildName: RUN,
      reportName: `phonehome: ${RUN}`,
    });
    assert.equal(executorFor({ GITLAB_CI: '' }, { runId: RUN, previousBuildOrder: 4 }).buildOrder, 5);
    const j = executorFor(
      { JENKINS_URL: 'https://j/', BUILD_NUMBER: '13abc', JOB_NAME: 'x' },
      { runId: RUN },
    );
    assert.equal('buildOrder' in j, false);
    assert.equal(j.buildName, 'x');
  });
});
