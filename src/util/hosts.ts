/**
 * Host names and host patterns, with ONE meaning everywhere a pattern is written: the tracker
 * catalogue (src/detect/trackers.json), the capture's per-host rules (`--block` / `--passthrough`),
 * devices and scenario assertions (`to: host`, `assertNoRequest`).
 *
 * - A host is compared in lower case, without a trailing dot, a port or IPv6 brackets.
 * - A pattern is an exact name (`tracking.miui.com`), or `*.suffix`: the suffix ITSELF and every
 *   name below it (`*.miui.com` covers `miui.com`, `a.miui.com`, `a.b.miui.com`). For a privacy
 *   check the wider reading is the safe one: `assertNoRequest: *.miui.com` must not pass because
 *   the phone talked to `miui.com`.
 * - A `*` label elsewhere stands for exactly one label (`tracking.*.miui.com` covers
 *   `tracking.intl.miui.com`, not `tracking.miui.com` nor `tracking.a.b.miui.com`).
 */

/** `Host` header, authority or URL host → the name patterns are compared with. */
export function normaliseHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : h.slice(1);
  }
  // host:port (an IPv6 literal without brackets has more than one colon: leave it alone)
  const colon = h.indexOf(':');
  if (colon >= 0 && h.indexOf(':', colon + 1) < 0) h = h.slice(0, colon);
  while (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/** Whether `host` is covered by `pattern` (see the module comment). */
export function hostMatches(pattern: string, host: string): boolean {
  const h = normaliseHost(host);
  const p = normaliseHost(pattern);
  if (p.startsWith('*.')) {
    const suffix = p.slice(2);
    if (!suffix.includes('*')) return h === suffix || h.endsWith(`.${suffix}`);
    // `*.a.*.b`: the leading `*.` is "any depth, or none", the inner `*` one label.
    const labels = h.split('.');
    const want = suffix.split('.');
    for (let skip = 0; skip <= labels.length - want.length; skip++) {
      if (labelsMatch(want, labels.slice(skip))) return true;
    }
    return false;
  }
  if (!p.includes('*')) return h === p;
  return labelsMatch(p.split('.'), h.split('.'));
}

function labelsMatch(pattern: readonly string[], labels: readonly string[]): boolean {
  if (pattern.length !== labels.length) return false;
  return pattern.every((p, i) => p === '*' || p === labels[i]);
}

/** Whether `host` falls under one of the registrable domains given (`miui.com` covers `a.miui.com`). */
export function underDomain(domains: readonly string[], host: string): string | undefined {
  const h = normaliseHost(host);
  return domains.find((d) => h === d || h.endsWith(`.${d}`));
}

/** A host name or address that is this machine: `localhost`, 127.0.0.0/8, `::1` (brackets allowed). */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h) || h === '0:0:0:0:0:0:0:1';
}
