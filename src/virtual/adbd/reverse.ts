/**
 * `reverse:` services. A rule makes the phone listen on REMOTE; a connection there becomes a
 * phone-initiated OPEN of LOCAL toward the host. Replies follow adbd: `OKAY` (plus hex4 + port for
 * tcp:0), `FAIL` + hex4 + message, and for list-forward only hex4 + lines (no OKAY).
 */
import type { Duplex } from 'node:stream';
import type { VirtualPhone } from '../phone.ts';
import { NetError, parseSocketSpec } from '../os/local-net.ts';
import type { AdbStream } from './stream.ts';
import type { AdbTransport } from './transport.ts';

function hex4(s: string): string {
  return Buffer.byteLength(s).toString(16).padStart(4, '0');
}

function failReply(message: string): string {
  return `FAIL${hex4(message)}${message}`;
}

function validSpec(spec: string): boolean {
  try {
    parseSocketSpec(spec);
    return true;
  } catch {
    return false;
  }
}

/** Connects a phone-side socket to the host through a new stream on the transport. */
function bridge(transport: AdbTransport, local: string, socket: Duplex): void {
  transport.openToHost(local).then(
    (stream) => {
      socket.pipe(stream);
      stream.pipe(socket);
      socket.on('close', () => stream.destroy());
      stream.on('close', () => socket.destroy());
    },
    () => socket.destroy(),
  );
}

/**
 * What the adb server does with a reverse request it relays (upstream UpdateReverseConfig): keyed by
 * the remote spec as sent, whatever the phone answers.
 */
function mirrorHostRules(rules: Map<string, string>, request: string): void {
  if (request.startsWith('forward:')) {
    let rest = request.slice('forward:'.length);
    const norebind = rest.startsWith('norebind:');
    if (norebind) rest = rest.slice('norebind:'.length);
    const semi = rest.indexOf(';');
    if (semi < 0) return;
    const remote = rest.slice(0, semi);
    if (norebind && rules.has(remote)) return;
    rules.set(remote, rest.slice(semi + 1));
  } else if (request.startsWith('killforward:')) {
    rules.delete(request.slice('killforward:'.length));
  } else if (request === 'killforward-all') {
    rules.clear();
  }
}

/** Handles one `reverse:…` request and returns the reply bytes. */
export function reverseRequest(phone: VirtualPhone, transport: AdbTransport, request: string): string {
  mirrorHostRules(transport.hostReverseRules, request);
  if (request === 'list-forward') {
    const lines = [...transport.reverses.entries()]
      .map(([remote, r]) => `${transport.name} ${remote} ${r.local}\n`)
      .join('');
    return `${hex4(lines)}${lines}`;
  }
  if (request === 'killforward-all') {
    for (const r of transport.reverses.values()) r.close();
    transport.reverses.clear();
    return 'OKAY';
  }
  if (request.startsWith('killforward:')) {
    const remote = request.slice('killforward:'.length);
    const rule = transport.reverses.get(remote);
    if (!rule) return failReply(`listener '${remote}' not found`);
    rule.close();
    transport.reverses.delete(remote);
    return 'OKAY';
  }
  if (request.startsWith('forward:')) {
    let rest = request.slice('forward:'.length);
    const norebind = rest.startsWith('norebind:');
    if (norebind) rest = rest.slice('norebind:'.length);
    const semi = rest.indexOf(';');
    if (semi < 0) return failReply(`malformed forward spec '${rest}'`);
    const remote = rest.slice(0, semi);
    const local = rest.slice(semi + 1);
    if (!validSpec(remote) || !validSpec(local)) return failReply(`malformed forward spec '${rest}'`);
    const existing = transport.reverses.get(remote);
    if (existing) {
      if (norebind) return failReply('cannot rebind existing socket');
      existing.local = local; // rebind: same listener, new target
      return 'OKAY';
    }
    let bound: { spec: string; close: () => void };
    try {
      bound = phone.net.listen(remote, (socket) => {
        const rule = transport.reverses.get(bound.spec);
        if (rule) bridge(transport, rule.local, socket);
        else socket.destroy();
      });
    } catch (err) {
      if (err instanceof NetError) return failReply(`cannot bind listener: ${err.message}`);
      throw err;
    }
    transport.reverses.set(bound.spec, { local, close: bound.close });
    if (remote === 'tcp:0') {
      const port = bound.spec.slice(4);
      return `OKAY${hex4(port)}${port}`;
    }
    return 'OKAY';
  }
  // Clients never send anything else; answer FAIL rather than invent behaviour.
  return failReply(`unknown reverse request '${request}'`);
}

export function reverseService(phone: VirtualPhone, transport: AdbTransport, request: string) {
  return (stream: AdbStream): void => {
    const reply = reverseRequest(phone, transport, request);
    stream.end(reply);
  };
}
