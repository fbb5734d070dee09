/**
 * Test support: lab hosts as Linux network namespaces (issue 12). Each namespace has its own
 * loopback, so an adb server, virtual phones and a `phonehome run` inside it are as far from the
 * root namespace's 127.0.0.1 as another machine's would be: `adb reverse` tunnels opened there end
 * there. Commands run through `ip netns exec NS unshare --uts sh -c 'hostname NAME; exec …'`, so
 * the lab host also has its own host name (what run.json and merged results show).
 *
 * A namespace may get a veth pair to the root namespace (addresses from 10.231.0.0/16, a /30 per
 * namespace), for tests that reach into it (`adb connect`, a remote adb server). Everything is torn
 * down in `stop()`: the processes left in the namespace are killed, the namespace and its veth
 * deleted. Root is needed (`ip netns add`); `netnsUnavailable()` says why when it is not there.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliResult } from './cli.ts';

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root (ip netns add)';
  for (const tool of ['ip', 'unshare', 'hostname']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  return undefined;
}

const ip = (...args: string[]): string =>
  execFileSync('ip', args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });

export interface Veth {
  /** The root namespace's end. */
  hostAddr: string;
  /** The namespace's end: where its phones can listen for `adb connect`. */
  nsAddr: string;
}

export interface NetnsOptions {
  /** The lab host's name inside the namespace (hostname). */
  hostname: string;
  /** 0–255: picks the veth's /30 (10.231.<n>.0/30); no veth when undefined. */
  veth?: number;
}

export class Netns {
  readonly veth: Veth | undefined;
  private readonly link: string | undefined;

  private constructor(
    readonly name: string,
    readonly hostname: string,
    veth: number | undefined,
  ) {
    if (veth !== undefined) {
      this.veth = { hostAddr: `10.231.${veth}.1`, nsAddr: `10.231.${veth}.2` };
      this.link = `phv${process.pid % 10000}x${veth}`;
    }
  }

  /** Creates the namespace (loopback up) and its veth pair when asked. */
  static create(o: NetnsOptions): Netns {
    const name = `ph-${o.hostname}-${process.pid}`.slice(0, 30);
    const ns = new Netns(name, o.hostname, o.veth);
    ip('netns', 'add', name);
    try {
      ip('-n', name, 'link', 'set', 'lo', 'up');
      if (ns.veth && ns.link) {
        const peer = `${ns.link}p`;
        ip('link', 'add', ns.link, 'type', 'veth', 'peer', 'name', peer);
        ip('link', 'set', peer, 'netns', name);
        ip('addr', 'add', `${ns.veth.hostAddr}/30`, 'dev', ns.link);
        ip('link', 'set', ns.link, 'up');
        ip('-n', name, 'addr', 'add', `${ns.veth.nsAddr}/30`, 'dev', peer);
        ip('-n', name, 'link', 'set', peer, 'up');
      }
    } catch (err) {
      ns.delete();
      throw err;
    }
    return ns;
  }

  /** The command prefix that runs a program inside the namespace under its host name. */
  prefix(): string[] {
    return [
      'ip',
      'netns',
      'exec',
      this.name,
      'unshare',
      '--uts',
      'sh',
      '-c',
      'hostname "$0" && exec "$@"',
      this.hostname,
    ];
  }

  /** Kills what is left in the namespace, deletes it (the veth pair goes with it). Never throws. */
  delete(): void {
    try {
      const pids = ip('netns', 'pids', this.name).split(/\s+/).filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone already
        }
      }
    } catch {
      // no such namespace
    }
    try {
      ip('netns', 'del', this.name);
    } catch {
      // already gone
    }
    if (this.link) {
      try {
        ip('link', 'del', this.link);
      } catch {
        // removed with its peer
      }
    }
  }
}

export interface LabHostOptions extends NetnsOptions {
  /** A folder of its own (state, CA, devices.json). */
  dir: string;
  /** The adb server port inside the namespace. */
  adbPort: number;
}

/**
 * A lab host: a namespace with its own adb server, phonehome state and devices.json, driven through
 * the real CLI. `up(profiles)` starts virtual phones (`phonehome lab up`) on its adb server and marks
 * them `ui: "adb"` (no Appium in the namespace).
 */
export class LabHost {
  readonly ns: Netns;
  readonly devicesFile: string;
  readonly env: Record<string, string>;

  constructor(readonly o: LabHostOptions) {
    mkdirSync(join(o.dir, 'home'), { recursive: true });
    this.ns = Netns.create(o);
    this.devicesFile = join(o.dir, 'devices.json');
    this.env = {
      PHONEHOME_HOME: join(o.dir, 'home'),
      PHONEHOME_CA_DIR: join(o.dir, 'ca'),
      ANDROID_ADB_SERVER_PORT: String(o.adbPort),
      CI: '1',
    };
  }

  get name(): string {
    return this.o.hostname;
  }

  cli(args: string[], timeoutMs = 60_000, cwd = this.o.dir): Promise<CliResult> {
    return runCli(args, { env: this.env, cwd, timeoutMs, prefix: this.ns.prefix() });
  }

  /** `phonehome lab up` for these profiles, then every phone set to the ADB-only UI driver. */
  async up(profiles: string[], extra: string[] = []): Promise<CliResult> {
    const args = ['lab', 'up', '--devices', this.devicesFile, '--json', ...extra];
    for (const p of profiles) args.push('--profile', p);
    const r = await this.cli(args, 90_000);
    if (r.code !== 0) return r;
    const file = JSON.parse(readFileSync(this.devicesFile, 'utf8')) as { phones: Array<{ ui?: string }> };
    for (const p of file.phones) p.ui = 'adb';
    writeFileSync(this.devicesFile, `${JSON.stringify(file, null, 2)}\n`);
    return r;
  }

  /** Stops the lab and the adb server in the namespace, then deletes the namespace. Never throws. */
  async stop(): Promise<void> {
    await this.cli(['lab', 'down'], 30_000).catch(() => undefined);
    this.ns.delete();
  }
}
