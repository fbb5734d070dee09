/**
 * Host patterns (src/util/hosts.ts), the one meaning every pattern has in phonehome: `*.suffix`
 * covers the suffix itself and every name below it, `*` elsewhere is one label, hosts compare without
 * case, port, trailing dot or IPv6 brackets.
 */
import assert from 'node:assert/strict';
import { hostMatches, normaliseHost, underDomain } from '../../../src/util/hosts.ts';

describe('util: host names and patterns', () => {
  it('normaliseHost drops a port, trailing dots, IPv6 brackets and case', () => {
    assert.equal(normaliseHost('Tracking.MIUI.com'), 'tracking.miui.com');
    assert.equal(normaliseHost('tracking.miui.com:443'), 'tracking.miui.com');
    assert.equal(normaliseHost('tracking.miui.com.'), 'tracking.miui.com');
    assert.equal(normaliseHost('tracking.miui.com.:8443'), 'tracking.miui.com');
    assert.equal(normaliseHost('tracking.miui.com..'), 'tracking.miui.com');
    assert.equal(normaliseHost('  a.b.c  '), 'a.b.c');
    assert.equal(normaliseHost('[::1]:8080'), '::1');
    assert.equal(normaliseHost('[2001:DB8::1]'), '2001:db8::1');
    assert.equal(normaliseHost('2001:db8::1'), '2001:db8::1', 'a bare IPv6 literal keeps its colons');
    assert.equal(normaliseHost('10.0.2.2:8080'), '10.0.2.2');
  });

  it('`*.x` covers x itself and every name below it, not a name that only ends with it', () => {
    for (const host of ['miui.com', 'a.miui.com', 'a.b.miui.com', 'A.MIUI.COM.', 'a.miui.com:443'])
      assert.equal(hostMatches('*.miui.com', host), true, host);
    for (const host of ['notmiui.com', 'miui.com.cn', 'com', 'miui.co'])
      assert.equal(hostMatches('*.miui.com', host), false, host);
    assert.equal(hostMatches('*.MIUI.com', 'x.miui.com'), true, 'patterns ignore case too');
  });

  it('`*` inside a pattern is exactly one label', () => {
    assert.equal(hostMatches('tracking.*.miui.com', 'tracking.intl.miui.com'), true);
    assert.equal(hostMatches('tracking.*.miui.com', 'tracking.miui.com'), false);
    assert.equal(hostMatches('tracking.*.miui.com', 'tracking.a.b.miui.com'), false);
    assert.equal(hostMatches('tracking.*.miui.com', 'x.tracking.intl.miui.com'), false);
    // A leading `*.` still means any depth (or none) before the rest.
    assert.equal(hostMatches('*.tracking.*.miui.com', 'tracking.intl.miui.com'), true);
    assert.equal(hostMatches('*.tracking.*.miui.com', 'mitv.tracking.intl.miui.com'), true);
    assert.equal(hostMatches('*.tracking.*.miui.com', 'tracking.miui.com'), false);
    assert.equal(hostMatches('*', 'localhost'), true);
    assert.equal(hostMatches('*', 'a.b'), false);
  });

  it('an exact pattern matches that name only', () => {
    assert.equal(hostMatches('tracking.miui.com', 'tracking.miui.com'), true);
    assert.equal(hostMatches('tracking.miui.com', 'Tracking.Miui.Com:80'), true);
    assert.equal(hostMatches('tracking.miui.com', 'a.tracking.miui.com'), false);
    assert.equal(hostMatches('tracking.miui.com', 'miui.com'), false);
    assert.equal(hostMatches('[::1]', '::1'), true);
  });

  it('underDomain names the registrable domain a host falls under', () => {
    const xiaomi = ['miui.com', 'xiaomi.com', 'xiaomi.net', 'mi.com'];
    assert.equal(underDomain(xiaomi, 't.browser.miui.com'), 'miui.com');
    assert.equal(underDomain(xiaomi, 'MI.com.'), 'mi.com');
    assert.equal(underDomain(xiaomi, 'data.mistat.intl.xiaomi.com:443'), 'xiaomi.com');
    assert.equal(underDomain(xiaomi, 'notmiui.com'), undefined);
    assert.equal(underDomain(xiaomi, 'mi.com.evil.example'), undefined);
    assert.equal(underDomain([], 'miui.com'), undefined);
  });
});
