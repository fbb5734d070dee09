/** Maps an OPEN's service string to its handler, or null to refuse it (CLSE), as adbd does. */
import type { VirtualPhone } from '../phone.ts';
import { NetError } from '../os/local-net.ts';
import { legacyShell, parseShellService, shellV2 } from './shell.ts';
import { syncService } from './sync.ts';
import { reverseService } from './reverse.ts';
import type { AdbStream } from './stream.ts';
import type { AdbTransport, ServiceResolver } from './transport.ts';

export interface DaemonControl {
  /** `adb root` / `adb unroot`: adbd restarts, dropping every connection. */
  restartAdbd(): void;
  /** `adb reboot`. */
  reboot(): void;
  /** Whether `shell_v2` is advertised; without it `shell,v2,…` is unknown, as on Android < 7. */
  shellV2: boolean;
}

function reply(text: string, after?: () => void) {
  return (stream: AdbStream): void => {
    stream.end(text, () => after?.());
  };
}

export function createServiceResolver(phone: VirtualPhone, daemon: DaemonControl): ServiceResolver {
  return (service: string, transport: AdbTransport) => {
    const shell = parseShellService(service);
    if (shell) {
      if (!shell.v2) return legacyShell(phone, shell.command);
      return daemon.shellV2 ? shellV2(phone, shell.command) : null;
    }
    if (service === 'sync:') return syncService(phone);
    if (service.startsWith('reverse:'))
      return reverseService(phone, transport, service.slice('reverse:'.length));
    if (service.startsWith('tcp:') || service.startsWith('localabstract:')) {
      let socket;
      try {
        socket = phone.net.connect(service);
      } catch (err) {
        if (err instanceof NetError) return null; // nothing listening: refuse, as adbd does
        throw err;
      }
      return (stream: AdbStream) => {
        stream.pipe(socket);
        socket.pipe(stream);
        stream.on('close', () => socket.destroy());
        socket.on('close', () => stream.destroy());
      };
    }
    if (service === 'root:' || service === 'unroot:') {
      const wantRoot = service === 'root:';
      if (wantRoot && !phone.rooted) return reply('adbd cannot run as root in production builds\n');
      if (phone.adbdRoot === wantRoot) {
        return reply(wantRoot ? 'adbd is already running as root\n' : 'adbd not running as root\n');
      }
      return reply(wantRoot ? 'restarting adbd as root\n' : 'restarting adbd as non root\n', () => {
        phone.adbdRoot = wantRoot;
        daemon.restartAdbd();
      });
    }
    if (service === 'remount:') {
      if (!phone.adbdRoot) return reply('Not running as root. Try "adb root" first.\n');
      return (stream: AdbStream) => {
        try {
          phone.fs.remount('/system', { readOnly: false, uid: 0 });
          stream.end('remount succeeded\n');
        } catch (err) {
          stream.end(`remount failed: ${(err as Error).message}\n`);
        }
      };
    }
    if (service === 'reboot:' || service.startsWith('reboot:')) return reply('', () => daemon.reboot());
    // framebuffer:, jdwp, track-jdwp, abb:, abb_exec:, dev:, … are not implemented: refuse cleanly.
    return null;
  };
}
