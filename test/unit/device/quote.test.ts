import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { shJoin, shQuote } from '../../../src/device/quote.ts';

const HOSTILE = [
  '$(reboot)',
  '`reboot`',
  "'; rm -rf /",
  "it's",
  "''",
  '"double" \\ backslash',
  'a\nb\n',
  'tab\there',
  '*',
  '~',
  '$HOME ${PATH}',
  '!event',
  'a;b&&c||d|e>f<g',
  '#comment',
  '  leading and trailing  ',
  '',
  'Ünïcödé ✓ 中文 😀',
  '-n',
  '\\',
  "x'\"'\"'y",
];

/** What POSIX sh (here the host's /bin/sh) makes of a command line: its argv. */
function argvAfterSh(commandLine: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${commandLine}`]);
  const parts = out.toString('utf8').split('\0');
  parts.pop();
  return parts;
}

describe('shQuote / shJoin', () => {
  it('leaves safe words bare and quotes everything else', () => {
    assert.equal(shQuote('ro.product.model'), 'ro.product.model');
    assert.equal(shQuote('/data/local/tmp/x.apk'), '/data/local/tmp/x.apk');
    assert.equal(shQuote('127.0.0.1:8080'), '127.0.0.1:8080');
    assert.equal(shQuote(''), "''");
    assert.equal(shQuote('a b'), "'a b'");
    assert.equal(shQuote("it's"), "'it'\\''s'");
    assert.equal(
      shJoin(['settings', 'put', 'global', 'http_proxy', ':0']),
      'settings put global http_proxy :0',
    );
  });

  it('round-trips hostile arguments through sh unchanged', () => {
    for (const arg of HOSTILE) assert.deepEqual(argvAfterSh(shQuote(arg)), [arg], JSON.stringify(arg));
    assert.deepEqual(argvAfterSh(shJoin(HOSTILE)), HOSTILE);
  });

  it('refuses NUL, which no shell argument can carry', () => {
    assert.throws(() => shQuote('a\0b'), TypeError);
  });
});
