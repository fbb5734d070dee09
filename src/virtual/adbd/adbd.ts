/**
 * adbd for one virtual phone: a TCP listener (on 127.0.0.1 unless told another address, as adbd over
 * TCP, `adb tcpip`, listens on the phone's network) speaking the device side of the ADB protocol,
 * plus faults on demand for tests (drop, silent, slow, offline, reboot).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { VirtualPhone } from '../phone.ts';
import { AdbTransport } from './transport.ts';
import { createServiceResolver } from './services.ts';

/** Advertise only what is implemented: a newer adb would use anything listed here. */
export const FEATURES = ['shell_v2', 'stat_v2', 'ls_v2', 'fixed_push_mkdir'];
export const DEFAULT_MAX_PAYLOAD = 256 * 1024;

/** The adb server claims 5555–5585 for emulators; virtual phones must stay out of that range. */
export const EMULATOR_PORTS = { first: 5555, last: 5585 };

export type FaultKind = 'drop' | 'silent' | 'slow' | 'offline' | 'reboot';

export interface AdbdOptions {
  maxPayload?: number;
  /**
   * Transport features to advertise (default FEATURES). Leaving out `shell_v2` makes the phone
   * behave like Android < 7: the shell v2 service is refused and clients fall back to `shell:`.
   */
  features?: string[];
  /** How long a reboot keeps the phone away before it listens again. */
  rebootDownMs?: number;
  /** How long after coming back until sys.boot_completed=1. */
  bootCompleteMs?: number;
  log?: (msg: string) => void;
}

export class PortRangeError extends Error {
  constructor(port: number) {
    super(
      `port ${port} is in ${EMULATOR_PORTS.first}–${EMULATOR_PORTS.last}, which the adb server treats as emulators; choose another port`,
    );
    this.name = 'PortRangeError';
  }
}

export class Adbd extends EventEmitter {
  private server: Server | undefined;
  private readonly transports = new Set<AdbTransport>();
  private readonly sockets = new Set<Socket>();
  private transportCount = 0;
  private boundPort = 0;
  /** The address it listens on (`listen(port, host)`; kept across reboots). */
  private boundHost = '127.0.0.1';
  private silent = false;
  private offline = false;
  private slowMs = 0;
  private rebooting: Promise<void> | undefined;
  private closed = false;
  readonly maxPayload: number;
  readonly features: string[];

  constructor(
    readonly phone: VirtualPhone,
    private readonly opts: AdbdOptions = {},
  ) {
    super();
    this.maxPayload = Math.min(opts.maxPayload ?? DEFAULT_MAX_PAYLOAD, 1024 * 1024);
    this.features = opts.features ?? FEATURES;
    const unknown = this.features.filter((f) => !FEATURES.includes(f));
    if (unknown.length)
      throw new Error(
        `unsupported adb features: ${unknown.join(', ')} (implemented: ${FEATURES.join(', ')})`,
      );
    phone.on('reboot-request', () => void this.reboot());
  }

  get port(): number {
    return this.boundPort;
  }

  /** The address it listens on. */
  get host(): string {
    return this.boundHost;
  }

  /** `HOST:PORT` (`127.0.0.1:PORT` by default), the serial the adb server gives the phone after `adb connect`. */
  get serial(): string {
    const host = this.boundHost.includes(':') ? `[${this.boundHost}]` : this.boundHost;
    return `${host}:${this.boundPort}`;
  }

  get onlineTransports(): number {
    return [...this.transports].filter((t) => t.isOnline).length;
  }

  banner(): string {
    const p = this.phone.props;
    return (
      `device::ro.product.name=${p.get('ro.product.name')};ro.product.model=${p.get('ro.product.model')};` +
      `ro.product.device=${p.get('ro.product.device')};features=${this.features.join(',')}`
    );
  }

  /**
   * Starts listening on host:port (0 = any free port outside the emulator range). `host` defaults to
   * 127.0.0.1 (the one it listened on before, after a reboot); another address exposes the phone's
   * adbd on that network (meant for test network namespaces: anyone there can drive the phone).
   */
  async listen(port = 0, host = this.boundHost): Promise<number> {
    if (port >= EMULATOR_PORTS.first && port <= EMULATOR_PORTS.last) throw new PortRangeError(port);
    for (let attempt = 0; ; attempt++) {
      const server = createServer((socket) => this.accept(socket));
      const bound = await new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.address() as { port: number }).port);
        });
      });
      if (bound >= EMULATOR_PORTS.first && bound <= EMULATOR_PORTS.last) {
        await new Promise<void>((r) => server.close(() => r()));
        if (attempt >= 10) throw new PortRangeError(bound);
        continue;
      }
      // An accept error (EMFILE…) must not take every phone of the process down.
      server.on('error', (err) => this.opts.log?.(`listener on ${bound}: ${err.message}`));
      this.server = server;
      this.boundPort = bound;
      this.boundHost = host;
      return bound;
    }
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    this.closed = true;
    await this.stopListening();
  }

  /**
   * Injects a fault:
   * - `drop`: close every connection now (the adb server reconnects on its own within ~1 s);
   * - `silent`: keep connections open but read and answer nothing;
   * - `slow`: delay every packet we send by `delayMs` (default 200);
   * - `offline`: drop connections, then accept TCP but never answer CNXN (`adb devices` shows offline);
   * - `reboot`: as `adb reboot`.
   */
  fault(kind: FaultKind, opts: { delayMs?: number } = {}): void {
    switch (kind) {
      case 'drop':
        this.dropConnections();
        break;
      case 'silent':
        this.silent = true;
        for (const t of this.transports) t.pause();
        break;
      case 'slow':
        this.slowMs = opts.delayMs ?? 200;
        break;
      case 'offline':
        this.offline = true;
        this.dropConnections();
        break;
      case 'reboot':
        void this.reboot();
        break;
    }
    this.opts.log?.(`fault ${kind}`);
  }

  /** Ends every fault; a phone that was silent or offline answers again. */
  clearFaults(): void {
    this.silent = false;
    this.slowMs = 0;
    for (const t of this.transports) t.resume();
    if (this.offline) {
      this.offline = false;
      // Connections that were never answered are dropped, so the adb server reconnects and handshakes.
      this.dropConnections();
    }
  }

  /** Simulates a reboot: connections drop, the port closes, state resets, the phone comes back. */
  reboot(): Promise<void> {
    if (this.rebooting) return this.rebooting;
    this.rebooting = (async () => {
      this.emit('down');
      await this.stopListening();
      this.phone.resetForBoot();
      this.phone.props.set('sys.boot_completed', '');
      await sleep(this.opts.rebootDownMs ?? 1500);
      // The port may be taken meanwhile; a phone that cannot come back is logged, not fatal.
      for (let attempt = 1; !this.closed; attempt++) {
        try {
          await this.listen(this.boundPort);
          break;
        } catch (err) {
          if (attempt >= 20) {
            this.opts.log?.(`cannot listen on ${this.boundPort} after reboot: ${(err as Error).message}`);
            this.emit('failed', err);
            return;
          }
          await sleep(250);
        }
      }
      if (this.closed) return;
      this.emit('up');
      setTimeout(() => {
        this.phone.props.set('sys.boot_completed', '1');
        this.emit('boot-completed');
      }, this.opts.bootCompleteMs ?? 500).unref();
    })().finally(() => {
      this.rebooting = undefined;
    });
    return this.rebooting;
  }

  /** adbd restarting itself (after `adb root`): connections drop; the adb server reconnects. */
  private restartAdbd(): void {
    setTimeout(() => this.dropConnections(), 50).unref();
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const transport = new AdbTransport(
      socket,
      {
        banner: this.banner(),
        maxPayload: this.maxPayload,
        resolve: createServiceResolver(this.phone, {
          restartAdbd: () => this.restartAdbd(),
          reboot: () => void this.reboot(),
          shellV2: this.features.includes('shell_v2'),
        }),
        delayMs: () => this.slowMs,
        muted: () => this.offline,
        log: this.opts.log,
      },
      ++this.transportCount,
    );
    this.transports.add(transport);
    if (this.silent) transport.pause();
    transport.on('online', () => this.emit('online', transport));
    transport.on('close', () => this.transports.delete(transport));
    this.emit('connection', transport);
  }

  private dropConnections(): void {
    for (const t of this.transports) t.close();
    for (const s of this.sockets) s.destroy();
  }

  private async stopListening(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.dropConnections();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
