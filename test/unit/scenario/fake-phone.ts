/**
 * The fake phone for the executor's tests: a permissive fake UiDriver (every target is on screen)
 * whose openUrl / key presses make a fake phone "upload" through a fake capture session (an
 * EventEmitter of CaptureRecords), a fake Device (its shell calls recorded), a fake Wiring and a fake
 * bypass monitor whose report the test sets.
 */
import { emptyBypassReport } from '../../../src/capture/bypass.ts';
import { EventEmitter } from 'node:events';
import type { CaptureRecord } from '../../../src/capture/exchange.ts';
import type { CaptureSession } from '../../../src/capture/session.ts';
import type { Wiring } from '../../../src/capture/wiring.ts';
import type { Device, Fingerprint } from '../../../src/device/index.ts';
import {
  PROBE_HOST,
  type BypassMonitor,
  type BypassReport,
  type PhoneSession,
  type StepReporter,
} from '../../../src/scenario/executor.ts';
import type { Scenario, ScenarioConfig, Step, StepName } from '../../../src/scenario/types.ts';
import type { Locator, Target, UiDriver, UiElement } from '../../../src/ui/driver.ts';

let index = 0;
export function exchange(url: string, body = ''): CaptureRecord {
  const u = new URL(url);
  return {
    type: 'exchange',
    index: index++,
    startedAt: new Date().toISOString(),
    method: body ? 'POST' : 'GET',
    url,
    host: u.hostname,
    httpVersion: '1.1',
    request: {
      headers: body ? { 'content-type': 'application/json' } : {},
      body: Buffer.from(body),
      bodySize: body.length,
      truncated: false,
    },
    response: { status: 200, headers: {}, bodySize: 0, source: 'local' },
    ...(url.startsWith('https:') ? { tls: { sni: u.hostname } } : {}),
  };
}

export function tlsFailure(host: string): CaptureRecord {
  return {
    type: 'tls-failure',
    index: index++,
    startedAt: new Date().toISOString(),
    host,
    cause: 'cert-rejected',
  };
}

const el = (l: Locator): UiElement => ({
  matched: l,
  fallback: 0,
  text: l.text ?? '',
  resourceId: l.id ?? '',
  contentDesc: l.desc ?? '',
  className: l.class ?? 'android.view.View',
  checked: false,
  enabled: true,
  bounds: { left: 0, top: 0, right: 10, bottom: 10 },
  handle: null,
});

const first = (t: Target): Locator => (Array.isArray(t) ? (t as Locator[])[0]! : (t as Locator));

/** The fake phone: what its UI did, and a capture that sees its uploads while `proxied`. */
export class FakePhone {
  readonly capture = new EventEmitter();
  readonly calls: string[] = [];
  proxied = true;
  /** Called for every URL the phone opens (VIEW intents); default: the request goes through the proxy. */
  onUrl: (url: string) => void = (url) => this.send(exchange(url));
  /** Called when HOME is pressed (the SDKs flush). */
  onHome: () => void = () => undefined;
  /** Called for every activity started (a launch, the harness's relaunch). */
  onStart: (component: string) => void = () => undefined;
  /** Called for every shell command (after it is recorded in `calls`). */
  onShell: (argv: string[]) => void = () => undefined;
  /** Makes find/query fail for a target (by its first locator), or hang. */
  findError: (l: Locator) => Error | 'hang' | undefined = () => undefined;
  typed: string[] = [];
  settings: Record<string, string | null> = {};
  /** What the fake bypass monitor reports (default: nothing went around the capture). */
  around: BypassReport = emptyBypassReport({ checked: ['fake accounting'] });
  readonly bypass: BypassMonitor = {
    snapshot: async () => ({ at: Date.now(), rows: [] }),
    compare: async () => this.around,
    packages: [],
  };

  send(r: CaptureRecord): void {
    if (this.proxied) setTimeout(() => this.capture.emit('record', r), 5);
  }

  ui(): UiDriver {
    const find = async (t: Target): Promise<UiElement> => {
      const l = first(t);
      const e = this.findError(l);
      if (e === 'hang') return new Promise<never>(() => undefined);
      if (e) throw e;
      return el(l);
    };
    return {
      serial: 'fake1',
      kind: 'adb',
      timeoutMs: 1000,
      find,
      query: async (t) => find(t).catch(() => null),
      waitGone: async () => undefined,
      tap: async (e) => void this.calls.push(`tap ${e.matched.text ?? e.matched.id ?? e.matched.desc ?? ''}`),
      type: async (_e, text) => void this.typed.push(text),
      clear: async () => undefined,
      pressKey: async (code) => {
        this.calls.push(`key ${code}`);
        if (code === 3) this.onHome();
      },
      back: async () => void this.calls.push('back'),
      swipe: async () => undefined,
      swipeScreen: async (d) => void this.calls.push(`swipe ${d}`),
      openNotifications: async () => undefined,
      startActivity: async (c) => {
        this.calls.push(`start ${c}`);
        this.onStart(c);
      },
      openUrl: async (url) => {
        this.calls.push(`open ${url}`);
        this.onUrl(url);
      },
      source: async () => '<hierarchy/>',
      screenshot: async () => Buffer.from('png'),
      windowSize: async () => ({ width: 1080, height: 2340 }),
      close: async () => undefined,
    };
  }

  device(): Device {
    const fake = {
      serial: 'fake1',
      shell: async (cmd: string | readonly string[]) => {
        const argv = typeof cmd === 'string' ? cmd.split(' ') : [...cmd];
        this.calls.push(`shell ${argv.join(' ')}`);
        this.onShell(argv);
        if (argv[0] === 'pm' && argv[1] === 'path')
          return argv[2] === 'com.mi.globalbrowser'
            ? { stdout: 'package:/system/app/x.apk\n', stderr: '', exitCode: 0 }
            : { stdout: '', stderr: '', exitCode: 1 };
        return { stdout: argv[0] === 'logcat' ? 'I/x: log line\n' : '', stderr: '', exitCode: 0 };
      },
      shellOk: async (cmd: readonly string[]) => {
        this.calls.push(`shell ${cmd.join(' ')}`);
        this.onShell([...cmd]);
        return '';
      },
      getSetting: async (_ns: string, key: string) =>
        this.settings[key] ?? (key === 'http_proxy' && this.proxied ? '127.0.0.1:8080' : null),
      getProp: async () => 'V12.0.3.0.QCOMIXM',
      listReverses: async () => [{ serial: 'fake1', remote: 'tcp:8080', local: 'tcp:9090' }],
    };
    return fake as unknown as Device;
  }

  session(over: Partial<PhoneSession> = {}, caMethod = 'preinstalled'): PhoneSession {
    const fingerprint = {
      os: { name: 'MIUI', version: '12' },
      region: 'global',
      rooted: false,
    } as Fingerprint;
    const wiring = {
      serial: 'fake1',
      devicePort: 8080,
      hostPort: 9090,
      caMethod,
      coverage: 'x',
    } as unknown as Wiring;
    return {
      serial: 'fake1',
      device: this.device(),
      ui: this.ui(),
      profile: 'redmi-note-8-leaky',
      fingerprint,
      identifiers: [{ name: 'android_id', value: 'a1b2c3d4e5f60718' }],
      capture: this.capture as unknown as CaptureSession,
      wiring,
      bypass: this.bypass,
      ...over,
    };
  }
}

export interface Rep extends StepReporter {
  lines: string[];
  attached: string[];
  thrown: Array<{ name: string; error: unknown }>;
}

export function rep(): Rep {
  const r: Rep = {
    lines: [],
    attached: [],
    thrown: [],
    step: async (name, fn) => {
      try {
        return await fn();
      } catch (error) {
        r.thrown.push({ name, error });
        throw error;
      }
    },
    attach: (name) => void r.attached.push(name),
    log: (l) => void r.lines.push(l),
  };
  return r;
}

let line = 0;
export function step(name: StepName, args: Record<string, unknown> = {}, extra: Partial<Step> = {}): Step {
  line++;
  return { name, args, pos: { file: 't.yaml', line, col: 3 }, path: `steps[${line}]`, ...extra };
}

export function scenario(steps: Step[], config: Partial<ScenarioConfig> = {}): Scenario {
  steps.forEach((s, i) => (s.path = `steps[${i}]`));
  return { file: 't.yaml', config: { name: 't', tags: [], env: {}, canaries: ['url'], ...config }, steps };
}

export const OPTS = {
  runId: 'unit-run',
  quietMs: 30,
  settleTimeoutMs: 500,
  probeTimeoutMs: 300,
  stepTimeoutMs: 2000,
  maxTrailingMs: 50,
};

/** The leaky fake: the page URL goes to Sensors (JSON body), except the probe's own request. */
export function leaky(p: FakePhone): void {
  p.onUrl = (url) => {
    p.send(exchange(url));
    if (!url.includes(PROBE_HOST))
      p.send(exchange('https://sa.api.intl.miui.com/sa?project=x', JSON.stringify({ properties: { url } })));
  };
}

export const visit = [
  step('openUrl', { url: 'https://news.example.com/story/${canary.url}' }),
  step('background'),
];
