import assert from 'node:assert/strict';
import type { Device } from '../../../src/device/device.ts';
import {
  meaningfulIdentifier,
  parseMiAccounts,
  readIdentifiers,
  type IdentifierSource,
} from '../../../src/detect/index.ts';
import { VirtualPhone } from '../../../src/virtual/phone.ts';
import { loadProfile } from '../../../src/virtual/profiles/load.ts';

// Compile-time: a real Device can be passed to readIdentifiers as it is.
const _deviceFits: (d: Device) => IdentifierSource = (d) => d;

const DUMPSYS_ACCOUNT = `Accounts: 2
    Account {name=1234567890, type=com.xiaomi}
    Account {name=someone@example.com, type=com.google}

  RegisteredServicesCache: 3 services
Accounts: 1
    Account {name=1234567890, type=com.xiaomi}
`;

interface FakeState {
  settings: Record<string, string | null>;
  props: Record<string, string>;
  dumpsys: { stdout: string; exitCode: number };
}

function fake(state: Partial<FakeState> = {}): IdentifierSource & { calls: string[] } {
  const calls: string[] = [];
  const s: FakeState = {
    settings: {
      'secure android_id': '8f2c1e0b9d7a4c36',
      'global ad_aaid': '3f2a6b1c-0d4e-4f5a-8b6c-7d8e9f0a1b2c',
    },
    props: { 'ro.serialno': '3f9a1c7e', 'ro.boot.serialno': 'boot-serial', 'ro.product.model': 'M2007J3SG' },
    dumpsys: { stdout: DUMPSYS_ACCOUNT, exitCode: 0 },
    ...state,
  };
  return {
    calls,
    getSetting: async (ns, key) => {
      calls.push(`settings get ${ns} ${key}`);
      return s.settings[`${ns} ${key}`] ?? null;
    },
    getProp: async (key) => {
      calls.push(`getprop ${key}`);
      return s.props[key] ?? '';
    },
    shell: async (cmd) => {
      calls.push(cmd);
      return s.dumpsys;
    },
  };
}

describe('detect: readIdentifiers', () => {
  it('reads ANDROID_ID, serial, ad id, model and Mi accounts', async () => {
    const source = fake();
    assert.deepEqual(await readIdentifiers(source), [
      { name: 'android_id', value: '8f2c1e0b9d7a4c36' },
      { name: 'serial', value: '3f9a1c7e' },
      { name: 'ad_id', value: '3f2a6b1c-0d4e-4f5a-8b6c-7d8e9f0a1b2c' },
      { name: 'model', value: 'M2007J3SG' },
      { name: 'mi_account', value: '1234567890' },
    ]);
    assert.deepEqual(source.calls.sort(), [
      'dumpsys account',
      'getprop ro.boot.serialno',
      'getprop ro.product.model',
      'getprop ro.serialno',
      'settings get global ad_aaid',
      'settings get secure android_id',
    ]);
  });

  it('falls back to ro.boot.serialno and skips unset, placeholder and short values', async () => {
    const ids = await readIdentifiers(
      fake({
        settings: { 'secure android_id': null, 'global ad_aaid': '' },
        props: { 'ro.serialno': 'unknown', 'ro.boot.serialno': 'R58M123ABC', 'ro.product.model': 'Mi' },
        dumpsys: { stdout: "Can't find service: account\n", exitCode: 0 },
      }),
    );
    assert.deepEqual(ids, [{ name: 'serial', value: 'R58M123ABC' }]);
  });

  it('ignores dumpsys output when the command failed', async () => {
    const ids = await readIdentifiers(fake({ dumpsys: { stdout: DUMPSYS_ACCOUNT, exitCode: 1 } }));
    assert.ok(!ids.some((i) => i.name === 'mi_account'));
  });

  it('lets getprop/settings failures propagate', async () => {
    const source = fake();
    source.getSetting = async () => {
      throw new Error('Permission denial');
    };
    await assert.rejects(readIdentifiers(source), /Permission denial/);
  });

  it('helpers: meaningful values and Mi account parsing', () => {
    assert.equal(meaningfulIdentifier(' abcd \n'), 'abcd');
    for (const v of [null, undefined, '', 'abc', 'null', 'UNKNOWN', '0000000000000000', '0-0-0-0'])
      assert.equal(meaningfulIdentifier(v), null, String(v));
    assert.deepEqual(parseMiAccounts(DUMPSYS_ACCOUNT), ['1234567890']);
    assert.deepEqual(parseMiAccounts('Account {name=a@b.c, type=com.google}'), []);
  });

  it('reads what the virtual phone answers through its shell', async () => {
    const phone = new VirtualPhone(loadProfile('redmi-note-8-leaky'), { serialno: 'vp0001abc' });
    const run = async (script: string): Promise<{ stdout: string; exitCode: number }> => {
      const out: Buffer[] = [];
      const exitCode = await phone.exec(script, {
        stdin: { read: async () => null },
        stdout: { write: async (c) => void out.push(Buffer.from(c)) },
        stderr: { write: async () => undefined },
        signal: new AbortController().signal,
        uid: 2000,
      });
      return { stdout: Buffer.concat(out).toString('utf8'), exitCode };
    };
    const source: IdentifierSource = {
      getSetting: async (ns, key) => {
        const v = (await run(`settings get ${ns} ${key}`)).stdout.trim();
        return v === 'null' ? null : v;
      },
      getProp: async (key) => (await run(`getprop ${key}`)).stdout.trim(),
      shell: run,
    };
    const ids = await readIdentifiers(source);
    const byName = new Map(ids.map((i) => [i.name, i.value]));
    assert.equal(byName.get('android_id'), phone.settings.get('secure', 'android_id'));
    assert.match(byName.get('android_id') ?? '', /^[0-9a-f]{16}$/);
    assert.equal(byName.get('serial'), 'vp0001abc');
    assert.equal(byName.get('model'), phone.props.get('ro.product.model'));
    assert.ok(!byName.has('mi_account'), 'the virtual phone has no account service');
  });
});
