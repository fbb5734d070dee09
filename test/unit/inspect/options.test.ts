import assert from 'node:assert/strict';
import {
  InspectArgumentError,
  isHostPattern,
  parseCanary,
  parseIdentifier,
  parseKey,
  parseKeyOption,
  parseKeyOptions,
} from '../../../src/inspect/options.ts';
import { formatExchange, printable } from '../../../src/inspect/format.ts';

function throwsArg(fn: () => unknown, pattern: RegExp, hint?: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof InspectArgumentError, String(err));
    assert.equal(err.exitCode, 2);
    assert.match(err.message, pattern);
    if (hint) assert.match(err.hint ?? '', hint);
    return;
  }
  assert.fail('did not throw');
}

describe('inspect arguments', () => {
  it('--identifier takes NAME=VALUE only when the name is a word', () => {
    assert.deepEqual(parseIdentifier('android_id=0123456789abcdef'), {
      name: 'android_id',
      value: '0123456789abcdef',
    });
    assert.deepEqual(parseIdentifier('aaid=a=b'), { name: 'aaid', value: 'a=b' });
    // base64 values with padding, and values whose prefix is not a word, stay whole
    assert.deepEqual(parseIdentifier('dGVzdA=='), { name: 'identifier', value: 'dGVzdA==' });
    assert.deepEqual(parseIdentifier('YWJjZA='), { name: 'identifier', value: 'YWJjZA=' });
    assert.deepEqual(parseIdentifier('aaid=dGVzdA=='), { name: 'aaid', value: 'dGVzdA==' });
    assert.deepEqual(parseIdentifier('a+b=c'), { name: 'identifier', value: 'a+b=c' });
    assert.deepEqual(parseIdentifier('9abc=def'), { name: 'identifier', value: '9abc=def' });
    assert.deepEqual(parseIdentifier('0123456789abcdef'), { name: 'identifier', value: '0123456789abcdef' });
    throwsArg(() => parseIdentifier(''), /--identifier needs a value/);
    throwsArg(() => parseCanary(''), /--canary needs a value/);
    assert.equal(parseCanary('x=y'), 'x=y');
  });

  it('--key mistat takes 32 hex digits or the base64 of 16 bytes', () => {
    const key = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    assert.deepEqual(parseKey('mistat=00112233445566778899AABBCCDDEEFF'), ['mistat', key]);
    assert.deepEqual(parseKey(`mistat=${key.toString('base64')}`), ['mistat', key]);
    assert.deepEqual(parseKey(`mistat=${key.toString('base64url')}`), ['mistat', key]);
    throwsArg(
      () => parseKey('mistat=0011'),
      /--key mistat: the value must be 32 hex digits or the base64 of 16 bytes/,
    );
    throwsArg(() => parseKey(`mistat=${Buffer.alloc(24, 0xfe).toString('base64')}`), /the value must be/);
    throwsArg(
      () => parseKey('bogus=00112233445566778899aabbccddeeff'),
      /unknown key name 'bogus'/,
      /supported keys: mistat=<32 hex digits or the base64 of 16 bytes>; sensors=<.*; HOST=<.*\*\.SUFFIX/,
    );
    throwsArg(() => parseKey('mistat'), /expected NAME=VALUE/, /mistat=/);
    throwsArg(() => parseKey('=00112233445566778899aabbccddeeff'), /expected NAME=VALUE/);
    throwsArg(() => parseKey('__proto__=00112233445566778899aabbccddeeff'), /unknown key name/);
  });

  it('--key sensors, HOST and *.SUFFIX take 16, 24 or 32 bytes (hex or base64)', () => {
    for (const n of [16, 24, 32]) {
      const key = Buffer.alloc(n, n);
      assert.deepEqual(parseKeyOption(`sensors=${key.toString('hex')}`), { name: 'sensors', key });
      assert.deepEqual(parseKeyOption(`SA.Example.COM.=${key.toString('base64')}`), {
        name: 'sa.example.com',
        key,
      });
      assert.deepEqual(parseKeyOption(`*.example.com=${key.toString('base64url')}`), {
        name: '*.example.com',
        key,
      });
    }
    assert.equal(parseKeyOption(`tracking.*.miui.com=${'ab'.repeat(16)}`).name, 'tracking.*.miui.com');
    assert.equal(parseKeyOption(`10.0.2.2=${'ab'.repeat(32)}`).name, '10.0.2.2');
    throwsArg(
      () => parseKeyOption(`sensors=${'ab'.repeat(20)}`),
      /--key sensors: the value must be 32, 48 or 64 hex digits or the base64 of 16, 24 or 32 bytes \(got 20 bytes\)/,
      /AES-128, 192 or 256/,
    );
    throwsArg(() => parseKeyOption(`mistat=${'ab'.repeat(32)}`), /mistat: .*\(got 32 bytes\)/);
    throwsArg(() => parseKeyOption('x.example=not base64!'), /--key x\.example: the value must be/);
    for (const bad of ['localhost', '*', '*.*', 'a..b', '-a.b', 'a_b.com', 'http://a.b'])
      throwsArg(() => parseKeyOption(`${bad}=${'ab'.repeat(16)}`), /unknown key name|expected NAME=VALUE/);
    assert.ok(isHostPattern('a.b') && isHostPattern('*.b.c') && !isHostPattern('b'));
  });

  it('parseKeyOptions: a record for DecodeInput.keys; one name twice only with the same value', () => {
    const a = 'ab'.repeat(16);
    const b = 'cd'.repeat(32);
    assert.deepEqual(parseKeyOptions([`mistat=${a}`, `sensors=${b}`, `*.x.example=${a}`, `mistat=${a}`]), {
      mistat: Buffer.from(a, 'hex'),
      sensors: Buffer.from(b, 'hex'),
      '*.x.example': Buffer.from(a, 'hex'),
    });
    assert.deepEqual(parseKeyOptions([]), {});
    throwsArg(() => parseKeyOptions([`h.example=${a}`, `H.Example=${b}`]), /--key h\.example is given twice/);
  });
});

describe('inspect human output', () => {
  it('escapes control characters so a payload cannot drive the terminal', () => {
    assert.equal(printable('a\u001b[2Jb\r\n\u202e'), 'a\\u001b[2Jb\\u000d\\u000a\\u202e');
    const text = formatExchange({
      index: 0,
      method: 'POST',
      url: 'http://evil.example/\u001b]0;pwned\u0007',
      host: 'evil.example',
      tracker: null,
      layers: [],
      findings: [{ kind: 'canary', value: 'x\u001by', path: 'body › text', encoding: 'plain' }],
    });
    assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text), JSON.stringify(text));
    assert.match(text, /\\u001b\]0;pwned\\u0007/);
  });

  it('prints one header line and an aligned table, or "no findings"', () => {
    const base = { method: 'POST', url: 'https://h.example/x', host: 'h.example', layers: [] };
    assert.equal(
      formatExchange({ ...base, index: 4, tracker: null, findings: [] }),
      '#4 POST https://h.example/x\n  no findings',
    );
    const text = formatExchange({
      ...base,
      index: 0,
      tracker: {
        id: 'miui-sensors',
        vendor: 'Xiaomi',
        category: 'analytics',
        decoder: 'sensors',
        host: 'h.example',
        path: null,
        source: 's',
      },
      findings: [
        { kind: 'canary', value: 'phc-1', path: 'body › json.url', encoding: 'plain' },
        { kind: 'identifier', name: 'android_id', value: '0123', path: 'query.id', encoding: 'md5' },
        {
          kind: 'limit',
          value: 'gzip output too big',
          detail: 'gzip output too big',
          path: 'body › gzip',
          encoding: 'n/a',
        },
      ],
    });
    const lines = text.split('\n');
    assert.equal(lines[0], '#0 POST https://h.example/x  [Xiaomi: miui-sensors]');
    assert.match(lines[1]!, /^ {2}KIND +VALUE +ENCODING +PATH +DETAIL$/);
    assert.match(lines[2]!, /^ {2}canary +phc-1 +plain +body › json\.url$/);
    assert.match(lines[3]!, /^ {2}identifier +android_id=0123 +md5 +query\.id$/);
    assert.match(lines[4]!, /^ {2}limit +- +n\/a +body › gzip +gzip output too big$/);
    const col = (l: string) => l.indexOf(l.trim().split(/\s+/)[2]!, 12);
    assert.equal(col(lines[2]!), col(lines[3]!), 'columns aligned');
  });
});
