/**
 * The phone kernel's network state that a reboot wipes: netfilter tables (netfilter.ts) and the
 * traffic counters (traffic.ts: eBPF maps, /proc/net/dev). One per phone and boot: a new boot
 * (phone.bootedAt changes) starts from netd's tables and zero counters.
 */
import type { VirtualPhone } from '../phone.ts';
import { Netfilter } from './netfilter.ts';
import { TrafficAccounting } from './traffic.ts';
import { sdkOf } from '../commands/util.ts';

export interface NetState {
  bootedAt: number;
  netfilter: Netfilter;
  traffic: TrafficAccounting;
}

const states = new WeakMap<VirtualPhone, NetState>();

export function netState(phone: VirtualPhone): NetState {
  let s = states.get(phone);
  if (!s || s.bootedAt !== phone.bootedAt) {
    s = {
      bootedAt: phone.bootedAt,
      // `# CONFIG_IP6_NF_NAT is not set` from Android 11 (kernel/configs r/; facts §4).
      netfilter: new Netfilter({ ipv6Nat: sdkOf(phone) < 30 }),
      traffic: new TrafficAccounting(phone.bootedAt),
    };
    states.set(phone, s);
  }
  return s;
}
