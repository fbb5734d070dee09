/**
 * ResultsWriter (src/report/allure-writer.ts) against allure-js-commons' own FileSystemWriter: the same
 * calls give the same files, byte for byte, and no temporary file is left.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSystemWriter, type Writer } from 'allure-js-commons/sdk/reporter';
import { ResultsWriter } from '../../../src/report/allure-writer.ts';

describe('ResultsWriter: the files of FileSystemWriter, without fsync', () => {
  let tmp: string;
  before(() => (tmp = mkdtempSync(join(tmpdir(), 'phonehome-writer-'))));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const feed = (w: Writer, src: string) => {
    w.writeResult({ uuid: 'r1', name: 'a test', status: 'passed' } as Parameters<Writer['writeResult']>[0]);
    w.writeGroup({ uuid: 'g1', children: ['r1'], befores: [], afters: [] });
    w.writeAttachment('a1-attachment.txt', Buffer.from('hello\n'));
    w.writeAttachmentFromPath('a2-attachment.har', src);
    w.writeEnvironmentInfo({ 'adb.servers': '127.0.0.1:5037', model: 'M1908C3JGG' });
    w.writeCategoriesDefinitions([{ name: 'Leaks', messageRegex: '.*leak.*' }]);
  };

  it('writes the same names and bytes as FileSystemWriter', () => {
    const src = join(tmp, 'capture.har');
    writeFileSync(src, JSON.stringify({ log: { entries: [{ n: 1 }] } }));
    const theirs = join(tmp, 'theirs');
    const ours = join(tmp, 'ours');
    feed(new FileSystemWriter({ resultsDir: theirs }), src);
    feed(new ResultsWriter(ours), src);
    const names = readdirSync(theirs).sort();
    assert.deepEqual(readdirSync(ours).sort(), names);
    assert.equal(names.length, 6, names.join(', '));
    for (const n of names) assert.deepEqual(readFileSync(join(ours, n)), readFileSync(join(theirs, n)), n);
  });

  it('with `thread`, every result has that one thread label (a row per phone in the Timeline)', () => {
    const dir = join(tmp, 'thread');
    const w = new ResultsWriter(dir, { thread: '127.0.0.1:41001' });
    w.writeResult({
      uuid: 'r2',
      name: 'x',
      labels: [
        { name: 'host', value: 'lab1' },
        { name: 'thread', value: 'pid-7-worker-main' },
      ],
    } as Parameters<Writer['writeResult']>[0]);
    const r = JSON.parse(readFileSync(join(dir, 'r2-result.json'), 'utf8')) as {
      labels: Array<{ name: string; value: string }>;
    };
    assert.deepEqual(r.labels, [
      { name: 'host', value: 'lab1' },
      { name: 'thread', value: '127.0.0.1:41001' },
    ]);
  });
});
