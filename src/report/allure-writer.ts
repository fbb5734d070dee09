/**
 * The allure-mocha reporter's writer in the runner's workers: the files and names of
 * allure-js-commons' FileSystemWriter (`<uuid>-result.json`, `<uuid>-container.json`, attachments,
 * environment.properties, categories.json), written with src/util/atomic.ts (temporary file +
 * rename) but without its fsync of every file. Each fsync blocks the event loop of a worker process
 * that serves up to 16 phones, and step screenshots make many attachments; a profile of a worker had
 * ~7% of its busy time there (issue 14, harness CPU per phone). A power cut may lose the newest
 * files of a run; a reader never sees half a file.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Writer } from 'allure-js-commons/sdk/reporter';
import { stringifyEnvInfo } from 'allure-js-commons/sdk/reporter';
import { copyFileAtomic, writeFileAtomic } from '../util/atomic.ts';

type WriterArg<K extends keyof Writer, I extends number> = Parameters<Writer[K]>[I];

export interface ResultsWriterOptions {
  /**
   * The value of every result's `thread` label. allure-mocha names it after the process
   * (`pid-N-worker-main`), and Allure's Timeline has one row per thread: a worker process serves up to
   * 16 phones, so the runner gives each phone's writer the phone's serial.
   */
  thread?: string;
}

export class ResultsWriter implements Writer {
  constructor(
    readonly resultsDir: string,
    private readonly opts: ResultsWriterOptions = {},
  ) {}

  private path(name: string): string {
    mkdirSync(this.resultsDir, { recursive: true });
    return join(this.resultsDir, name);
  }

  private json(name: string, value: unknown): void {
    writeFileAtomic(this.path(name), JSON.stringify(value));
  }

  writeResult(result: WriterArg<'writeResult', 0>): void {
    const thread = this.opts.thread;
    const labels =
      thread === undefined
        ? result.labels
        : [...result.labels.filter((l) => l.name !== 'thread'), { name: 'thread', value: thread }];
    this.json(`${result.uuid}-result.json`, { ...result, labels });
  }

  writeGroup(result: WriterArg<'writeGroup', 0>): void {
    this.json(`${result.uuid}-container.json`, result);
  }

  writeAttachment(distFileName: string, content: Buffer): void {
    writeFileAtomic(this.path(distFileName), content);
  }

  writeAttachmentFromPath(distFileName: string, from: string): void {
    copyFileAtomic(from, this.path(distFileName));
  }

  writeEnvironmentInfo(info: WriterArg<'writeEnvironmentInfo', 0>): void {
    writeFileAtomic(this.path('environment.properties'), stringifyEnvInfo(info));
  }

  writeCategoriesDefinitions(categories: WriterArg<'writeCategoriesDefinitions', 0>): void {
    this.json('categories.json', categories);
  }

  writeGlobals(distFileName: string, info: WriterArg<'writeGlobals', 1>): void {
    this.json(distFileName, info);
  }
}
