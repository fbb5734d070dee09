import * as assert from 'node:assert/strict';
import { fingerprintFromProps, parseGetprop } from '../../../src/device/fingerprint.ts';

const REDMI_NOTE_8_GLOBAL = {
  'ro.product.brand': 'xiaomi',
  'ro.product.manufacturer': 'Xiaomi',
  'ro.product.model': 'Redmi Note 8',
  'ro.product.marketname': 'Redmi Note 8',
  'ro.product.device': 'ginkgo',
  'ro.product.mod_device': 'ginkgo_global',
  'ro.miui.ui.version.name': 'V12',
  'ro.miui.ui.version.code': '10',
  'ro.miui.build.region': 'global',
  'ro.miui.region': 'GB',
  'ro.build.version.release': '10',
  'ro.build.version.sdk': '29',
  'ro.build.version.incremental': 'V12.0.3.0.QCOMIXM',
  'ro.serialno': '3f9a1c7e',
};

const XIAOMI_13_HYPEROS = {
  'ro.product.brand': 'Xiaomi',
  'ro.product.manufacturer': 'Xiaomi',
  'ro.product.model': '2211133G',
  'ro.product.marketname': 'Xiaomi 13',
  'ro.product.device': 'fuxi',
  'ro.product.mod_device': 'fuxi_global',
  'ro.mi.os.version.name': 'OS2.0',
  'ro.mi.os.version.code': '2',
  'ro.miui.ui.version.name': 'V816',
  'ro.miui.ui.version.code': '816',
  'ro.miui.build.region': 'global',
  'ro.miui.region': 'GB',
  'ro.build.version.release': '14',
  'ro.build.version.sdk': '34',
  'ro.build.version.incremental': 'OS2.0.2.0.UMCMIXM',
  'ro.serialno': 'c84d20b7',
};

const REDMI_NOTE_11_CHINA = {
  'ro.product.brand': 'Redmi',
  'ro.product.manufacturer': 'Xiaomi',
  'ro.product.model': '21091116AC',
  'ro.product.marketname': 'Redmi Note 11 5G',
  'ro.product.device': 'evergo',
  'ro.product.mod_device': 'evergo',
  'ro.miui.ui.version.name': 'V130',
  'ro.miui.ui.version.code': '13',
  'ro.miui.build.region': 'cn',
  'ro.miui.region': 'CN',
  'ro.build.version.release': '11',
  'ro.build.version.sdk': '30',
  'ro.build.version.incremental': 'V13.0.3.0.RGBCNXM',
  'ro.serialno': '7be05a13',
};

describe('fingerprintFromProps', () => {
  it('Redmi Note 8, MIUI 12 global, Android 10', () => {
    const fp = fingerprintFromProps(REDMI_NOTE_8_GLOBAL, { rooted: false });
    assert.deepEqual(fp, {
      vendor: 'xiaomi',
      manufacturer: 'Xiaomi',
      model: 'Redmi Note 8',
      marketName: 'Redmi Note 8',
      device: 'ginkgo',
      os: { name: 'MIUI', version: '12' },
      android: { release: '10', sdk: 29 },
      incremental: 'V12.0.3.0.QCOMIXM',
      region: 'global',
      rooted: false,
      serialno: '3f9a1c7e',
      label: 'Redmi Note 8 · MIUI 12 · Android 10 · global',
    });
  });

  it('Redmi Note 8 rooted, MIUI 12.5 (V125)', () => {
    const fp = fingerprintFromProps(
      { ...REDMI_NOTE_8_GLOBAL, 'ro.miui.ui.version.name': 'V125' },
      { rooted: true },
    );
    assert.deepEqual(fp.os, { name: 'MIUI', version: '12.5' });
    assert.equal(fp.rooted, true);
    assert.equal(fp.label, 'Redmi Note 8 · MIUI 12.5 · Android 10 · global · rooted');
  });

  it('Xiaomi 13, HyperOS 2 (OS2.0, ui V816), Android 14, rooted', () => {
    const fp = fingerprintFromProps(XIAOMI_13_HYPEROS, { rooted: true });
    assert.deepEqual(fp.os, { name: 'HyperOS', version: '2' });
    assert.deepEqual(fp.android, { release: '14', sdk: 34 });
    assert.equal(fp.model, '2211133G');
    assert.equal(fp.marketName, 'Xiaomi 13');
    assert.equal(fp.device, 'fuxi');
    assert.equal(fp.region, 'global');
    assert.equal(fp.label, 'Xiaomi 13 · HyperOS 2 · Android 14 · global · rooted');
  });

  it('Redmi Note 11 China, MIUI 13, Android 11', () => {
    const fp = fingerprintFromProps(REDMI_NOTE_11_CHINA, { rooted: false });
    assert.equal(fp.vendor, 'Redmi');
    assert.deepEqual(fp.os, { name: 'MIUI', version: '13' });
    assert.equal(fp.region, 'china');
    assert.equal(fp.label, 'Redmi Note 11 5G · MIUI 13 · Android 11 · china');
  });

  it('maps MIUI version names and HyperOS names', () => {
    const miui = (name: string) =>
      fingerprintFromProps({ 'ro.miui.ui.version.name': name }, { rooted: false }).os;
    assert.deepEqual(miui('V125'), { name: 'MIUI', version: '12.5' });
    assert.deepEqual(miui('V12'), { name: 'MIUI', version: '12' });
    assert.deepEqual(miui('V130'), { name: 'MIUI', version: '13' });
    assert.deepEqual(miui('V140'), { name: 'MIUI', version: '14' });
    assert.deepEqual(miui('V11'), { name: 'MIUI', version: '11' });
    assert.deepEqual(miui('weird'), { name: 'MIUI' });
    // V816 without ro.mi.os.version.name is HyperOS of unknown version, not "MIUI 81.6".
    assert.deepEqual(miui('V816'), { name: 'HyperOS' });
    const hyper = (name: string) =>
      fingerprintFromProps({ 'ro.mi.os.version.name': name }, { rooted: false }).os;
    assert.deepEqual(hyper('OS1.0'), { name: 'HyperOS', version: '1' });
    assert.deepEqual(hyper('OS2.0'), { name: 'HyperOS', version: '2' });
    assert.deepEqual(hyper('OS1.1'), { name: 'HyperOS', version: '1.1' });
  });

  it('plain Android and unknown region', () => {
    const fp = fingerprintFromProps(
      { 'ro.product.brand': 'google', 'ro.product.model': 'Pixel 7', 'ro.build.version.release': '14' },
      { rooted: false },
    );
    assert.deepEqual(fp.os, { name: 'Android' });
    assert.equal(fp.region, 'unknown');
    assert.equal(fp.android.sdk, 0);
    assert.equal(fp.label, 'Pixel 7 · Android 14');
    assert.equal('marketName' in fp, false);
  });

  it('region from mod_device when the region properties are missing', () => {
    const region = (mod: string) =>
      fingerprintFromProps({ 'ro.product.mod_device': mod }, { rooted: false }).region;
    assert.equal(region('veux_global'), 'global');
    assert.equal(region('veux'), 'china');
  });
});

describe('parseGetprop', () => {
  it('parses [key]: [value] lines, empty and multi-line values, CRLF', () => {
    const text = [
      '[ro.product.model]: [Redmi Note 8]',
      '[ro.mi.os.version.name]: []',
      '[persist.sys.multi]: [line one',
      'line two]',
      '[ro.serialno]: [3f9a1c7e]\r',
      '',
    ].join('\n');
    assert.deepEqual(parseGetprop(text), {
      'ro.product.model': 'Redmi Note 8',
      'ro.mi.os.version.name': '',
      'persist.sys.multi': 'line one\nline two',
      'ro.serialno': '3f9a1c7e',
    });
  });
});
