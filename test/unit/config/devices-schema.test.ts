import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevicesFileError, validateDevicesFile } from '../../../src/config/devices-schema.ts';
import { thrown } from '../scenario/helpers.ts';

describe('devices.json validation', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'phonehome-devices-'));
    file = join(dir, 'devices.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const problems = (text: string): string => {
    writeFileSync(file, text);
    const err = thrown(() => validateDevicesFile(file));
    assert.ok(err instanceof DevicesFileError, String(err));
    assert.equal(err.exitCode, 2);
    return err.message;
  };

  it('accepts phones on several adb servers, keeping unknown keys', () => {
    writeFileSync(
      file,
      JSON.stringify({
        adbServers: [
          { host: '127.0.0.1', port: 5037 },
          { host: '127.0.0.1', port: 5038 },
        ],
        phones: [
          { serial: 'emulator-5554', adbServer: '127.0.0.1:5038', ui: 'adb', extra: 1 },
          { serial: 'emulator-5554', lab: { profile: 'redmi-note-8-leaky', port: 5555, adbPort: 15037 } },
        ],
      }),
    );
    const d = validateDevicesFile(file);
    assert.equal(d.phones[0]!.adbServer, '127.0.0.1:5038');
    assert.equal(d.phones[0]!.extra, 1);
    assert.deepEqual(d.adbServers, [
      { host: '127.0.0.1', port: 5037 },
      { host: '127.0.0.1', port: 5038 },
    ]);
    // The repository's own devices.json is valid.
    assert.ok(Array.isArray(validateDevicesFile('devices.json').phones));
  });

  it('reports JSON syntax errors with line:col', () => {
    const msg = problems('{\n  "phones": [\n    {"serial": "a",}\n  ]\n}\n');
    assert.match(msg, new RegExp(`^${file}:3:20 not valid JSON: .*\n  fix: fix the JSON`));
  });

  it('reports every schema problem with its field path and line:col', () => {
    const text = [
      '{',
      '  "adbServers": [{"host": "lab-1", "port": 70000}],',
      '  "phones": [',
      '    {"serial": "a", "ui": "webdriver"},',
      '    {"label": "no serial"},',
      '    {"serial": "b", "adbServer": "lab-2:5037"},',
      '    {"serial": "c", "adbServer": "lab-2"}',
      '  ]',
      '}',
    ].join('\n');
    assert.equal(
      problems(text),
      [
        `4 problems in ${file}:`,
        `${file}:2:44 adbServers[0].port: a port is 1 to 65535`,
        `${file}:4:27 phones[0].ui: expected "appium" or "adb", got "webdriver"`,
        `${file}:5:5 phones[1].serial: missing required field "serial"`,
        `${file}:7:34 phones[3].adbServer: expected "host:port", e.g. "127.0.0.1:5037"`,
      ].join('\n'),
    );
  });

  it('checks phones against the adbServers list and duplicate serials', () => {
    const text = [
      '{',
      '  "adbServers": [{"host": "lab-1", "port": 5037}],',
      '  "phones": [',
      '    {"serial": "a", "adbServer": "lab-2:5037"},',
      '    {"serial": "b"},',
      '    {"serial": "b", "adbServer": "lab-1:5037"}',
      '  ]',
      '}',
    ].join('\n');
    assert.equal(
      problems(text),
      [
        `2 problems in ${file}:`,
        `${file}:4:34 phones[0].adbServer: "lab-2:5037" is not one of adbServers (lab-1:5037)`,
        `${file}:6:16 phones[2].serial: serial "b" is listed twice for the same adb server (also phones[1])`,
      ].join('\n'),
    );
  });

  it('reports a missing file', () => {
    const err = thrown(() => validateDevicesFile(join(dir, 'nope.json')));
    assert.match(err.message, /nope\.json: no such file\n {2}fix: /);
  });
});
