/**
 * A Device over an in-process virtual phone, for unit tests of the wiring (no adb server): shell
 * runs through the phone's real interpreter as uid 2000 (what `adb shell` is), push writes the file
 * as the sync service does, settings through the phone's `settings` command, and the reverse rules
 * live here (they belong to adbd). Only the Device methods the wiring calls are here.
 */
import type { Device, ReverseRule, SettingsNamespace, ShellResult } from '../../../src/device/index.ts';
import { shJoin } from '../../../src/device/quote.ts';
import type { VirtualPhone } from '../../../src/virtual/phone.ts';

export class VirtualDevice {
  readonly reverses: ReverseRule[] = [];
  /** Every shell command line, in order. */
  readonly commands: string[] = [];

  constructor(
    readonly phone: VirtualPhone,
    readonly serial = 'virtual-1',
  ) {}

  asDevice(): Device {
    return this as unknown as Device;
  }

  async shell(cmd: string | readonly string[], opts: { timeoutMs?: number } = {}): Promise<ShellResult> {
    const line = typeof cmd === 'string' ? cmd : shJoin(cmd);
    this.commands.push(line);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const ac = new AbortController();
    const ms = opts.timeoutMs ?? 20_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(new Error(`${this.serial}: shell ${line.slice(0, 60)}: timed out after ${ms} ms`));
      }, ms);
    });
    try {
      const exitCode = await Promise.race([
        this.phone.exec(line, {
          stdin: { read: async () => null },
          stdout: { write: async (c) => void out.push(Buffer.from(c)) },
          stderr: { write: async (c) => void err.push(Buffer.from(c)) },
          signal: ac.signal,
          uid: 2000,
        }),
        timeout,
      ]);
      return {
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        exitCode,
      };
    } finally {
      clearTimeout(timer);
    }
  }

  async push(data: Buffer | string, remotePath: string, mode = 0o644): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    this.phone.fs.writeFile(this.phone.fs.normalize(remotePath), bytes, {
      mode,
      uid: 2000,
      gid: 2000,
      mkdirs: true,
    });
  }

  async getProp(key: string): Promise<string> {
    return (await this.shell(['getprop', key])).stdout.trim();
  }

  async getSetting(ns: SettingsNamespace, key: string): Promise<string | null> {
    const v = (await this.shell(['settings', 'get', ns, key])).stdout.replace(/\n$/, '');
    return v === 'null' ? null : v;
  }

  async putSetting(ns: SettingsNamespace, key: string, value: string): Promise<void> {
    await this.shell(['settings', 'put', ns, key, value]);
  }

  async deleteSetting(ns: SettingsNamespace, key: string): Promise<void> {
    await this.shell(['settings', 'delete', ns, key]);
  }

  async reverse(remote: string, local: string): Promise<void> {
    // `adb reverse` rebinds an existing rule (adbd's reverse service without norebind:).
    const i = this.reverses.findIndex((r) => r.remote === remote);
    if (i >= 0) this.reverses.splice(i, 1, { remote, local });
    else this.reverses.push({ remote, local });
  }

  async listReverses(): Promise<ReverseRule[]> {
    return [...this.reverses];
  }

  async removeReverse(remote: string): Promise<void> {
    const i = this.reverses.findIndex((r) => r.remote === remote);
    if (i >= 0) this.reverses.splice(i, 1);
  }
}
