/**
 * The UiAutomator2 server (appium-uiautomator2-server 10.6.x) as the virtual phone runs it: the
 * instrumentation handler behind `am instrument -w … io.appium.uiautomator2.server.test/
 * androidx.test.runner.AndroidJUnitRunner`. While it runs it listens on the phone's tcp:6790 (what
 * `adb forward tcp:<systemPort> tcp:6790` reaches; every HTTP connection is a new stream) and answers
 * the HTTP routes of AppiumServlet that Appium proxies (appium-uia2.md §3). `DELETE /session` ends
 * the instrumentation, and with it the `am instrument` stream; `am force-stop` of either package
 * (or the client hanging up) aborts it.
 *
 * Element lookups read the same node tree `uiautomator dump` writes; clicks, typing, keys and
 * gestures go through the same Screen methods as `input tap / text / keyevent / swipe`.
 */
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { VirtualPhone } from '../phone.ts';
import type { CommandContext } from '../commands/types.ts';
import type { InstrumentationRun } from '../os/packages.ts';
import { deviceState } from '../commands/util.ts';
import { NetError } from '../os/local-net.ts';
import { KEYCODE, keyChar } from '../display/keys.ts';
import { centre, isEditable } from '../display/node.ts';
import { reportedText } from '../display/xml.ts';
import { serveConnection, type HttpRequest, type HttpResponse } from './http.ts';
import { W3cError, invalidSelector, noSuchElement } from './errors.ts';
import { ElementStore } from './elements.ts';
import type { ElNode, Snapshot } from './tree.ts';
import { attribute } from './tree.ts';
import { XPathError, evaluateXPath } from './xpath.ts';
import { UiSelectorError, parseUiSelector, selectAll, type UiExpression } from './uiselector.ts';
import type { RegexCaller } from '../os/regex-worker.ts';
import { performActions, typeKey } from './actions.ts';

export const SERVER_PACKAGE = 'io.appium.uiautomator2.server';
export const TEST_PACKAGE = 'io.appium.uiautomator2.server.test';
export const INSTRUMENTATION = `${TEST_PACKAGE}/androidx.test.runner.AndroidJUnitRunner`;
export const SERVER_PORT = 6790;
export const SERVER_VERSION = { version: '10.6.6', versionCode: 278 };

const ELEMENT_KEY = 'element-6066-11e4-a52e-4f735466cecf';
const TEST_CLASS = 'io.appium.uiautomator2.server.test.AppiumUiAutomator2Server';

/** The server's settings (GET/POST /appium/settings) with its defaults. */
export function defaultSettings(): Record<string, unknown> {
  return {
    actionAcknowledgmentTimeout: 3000,
    allowInvisibleElements: false,
    currentDisplayId: 0,
    disableIdLocatorAutocompletion: false,
    elementResponseAttributes: '',
    enableMultiWindows: false,
    enableNotificationListener: true,
    enableTopmostWindowFromActivePackage: false,
    ignoreUnimportantViews: false,
    keyInjectionDelay: 0,
    limitXPathContextScope: true,
    mjpegBilinearFiltering: false,
    mjpegScalingFactor: 50,
    mjpegServerFramerate: 10,
    mjpegServerPort: 7810,
    mjpegServerScreenshotQuality: 50,
    normalizeTagNames: false,
    scrollAcknowledgmentTimeout: 200,
    serverPort: SERVER_PORT,
    shouldUseCompactResponses: true,
    shutdownOnPowerDisconnect: true,
    simpleBoundsCalculation: false,
    snapshotMaxDepth: 70,
    trackScrollEvents: true,
    useResourcesForOrientationDetection: false,
    waitForIdleTimeout: 10000,
    waitForSelectorTimeout: 10000,
    wakeLockTimeout: 86400000,
  };
}

interface Session {
  id: string;
  capabilities: Record<string, unknown>;
  settings: Record<string, unknown>;
}

interface Route {
  method: string;
  parts: string[];
  handle: (r: RouteCtx) => unknown;
}

interface RouteCtx {
  params: Record<string, string>;
  body: Record<string, unknown>;
  session: Session | undefined;
  /** Aborted when the client's connection ends (an Appium client that timed out hangs up). */
  signal: AbortSignal;
}

/** One `am instrument` run of the server: its listener, connections, session and element ids. */
class ServerRun {
  session: Session | undefined;
  readonly elements: ElementStore;
  readonly connections = new Set<Duplex>();
  stopped = false;
  private stopWaiter: (() => void) | undefined;
  private readonly finished: Promise<void>;

  constructor(readonly phone: VirtualPhone) {
    this.elements = new ElementStore(phone.screen);
    this.finished = new Promise<void>((resolve) => (this.stopWaiter = resolve));
  }

  /** Ends the run: no new connections, open ones dropped. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.session = undefined;
    for (const c of this.connections) c.destroy();
    this.connections.clear();
    this.stopWaiter?.();
  }

  wait(): Promise<void> {
    return this.finished;
  }
}

function parseJsonBody(body: Buffer): Record<string, unknown> {
  if (!body.length) return {};
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw new W3cError('invalid argument', 'The request body is not valid JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new W3cError('invalid argument', 'The request body must be a JSON object');
  return v as Record<string, unknown>;
}

function str(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  if (typeof v !== 'string') throw new W3cError('invalid argument', `'${key}' must be a string`);
  return v;
}

export interface Uia2Options {
  log?: (line: string) => void;
}

export class Uia2Server {
  private current: ServerRun | undefined;
  private readonly routes: Route[] = [];

  constructor(
    readonly phone: VirtualPhone,
    private readonly opts: Uia2Options = {},
  ) {
    this.defineRoutes();
  }

  private log(line: string): void {
    this.opts.log?.(`uia2: ${line}`);
  }

  /** Whether a server run is listening on tcp:6790. */
  get running(): boolean {
    return !!this.current && !this.current.stopped;
  }

  /** The instrumentation handler: serves until DELETE /session, force-stop or the client hanging up. */
  readonly instrument = async (ctx: CommandContext, run: InstrumentationRun): Promise<number> => {
    const write = async (text: string): Promise<void> => {
      try {
        await ctx.stdout.write(text);
      } catch {
        // the am client is gone
      }
    };
    const started = Date.now();
    const serverRun = new ServerRun(this.phone);
    let listener: { close: () => void };
    try {
      listener = this.phone.net.listen(`tcp:${SERVER_PORT}`, (conn) => this.accept(serverRun, conn));
    } catch (err) {
      if (!(err instanceof NetError)) throw err;
      this.log(`cannot listen on tcp:${SERVER_PORT}: ${err.message}`);
      await write(
        `INSTRUMENTATION_RESULT: shortMsg=java.net.BindException\nINSTRUMENTATION_RESULT: longMsg=java.net.BindException: ${err.message}\nINSTRUMENTATION_CODE: 0\n`,
      );
      return 0;
    }
    this.current?.stop();
    this.current = serverRun;
    const abort = (): void => {
      listener.close();
      serverRun.stop();
    };
    ctx.signal.addEventListener('abort', abort, { once: true });
    this.log(
      `server started (am instrument${run.wait ? ' -w' : ''}${Object.entries(run.args)
        .map(([k, v]) => ` -e ${k} ${v}`)
        .join('')})`,
    );
    await write(`\n${TEST_CLASS}:`);
    if (ctx.signal.aborted) abort();
    await serverRun.wait();
    ctx.signal.removeEventListener('abort', abort);
    listener.close();
    if (this.current === serverRun) this.current = undefined;
    if (ctx.signal.aborted) {
      this.log('server killed');
      await write('\nINSTRUMENTATION_RESULT: shortMsg=Process crashed.\nINSTRUMENTATION_CODE: 0\n');
    } else {
      this.log('server stopped');
      const secs = ((Date.now() - started) / 1000).toFixed(3);
      await write(`.\n\nTime: ${secs}\n\nOK (1 test)\n\n\n`);
    }
    return 0;
  };

  private accept(run: ServerRun, conn: Duplex): void {
    if (run.stopped) {
      conn.destroy();
      return;
    }
    run.connections.add(conn);
    // The requests' lifetime: work still queued for them (regexes) is given up once nobody can read
    // the answer. The peer's end of input counts, as HTTP clients do not half-close.
    const gone = new AbortController();
    const hangUp = (): void => gone.abort();
    conn.once('end', hangUp);
    conn.once('close', hangUp);
    conn.on('close', () => run.connections.delete(conn));
    void serveConnection(conn, (req) => this.handle(run, req, gone.signal)).finally(() =>
      run.connections.delete(conn),
    );
  }

  // ---- dispatch ----------------------------------------------------------------------------

  private route(method: string, pattern: string, handle: (r: RouteCtx) => unknown): void {
    this.routes.push({ method, parts: pattern.split('/').filter(Boolean), handle });
  }

  private async handle(run: ServerRun, req: HttpRequest, signal: AbortSignal): Promise<HttpResponse> {
    const parts = req.path.split('/').filter(Boolean).map(decodeURIComponent);
    let sessionId: string | null = null;
    try {
      let matched: { route: Route; params: Record<string, string> } | undefined;
      let pathKnown = false;
      for (const route of this.routes) {
        if (route.parts.length !== parts.length) continue;
        const params: Record<string, string> = {};
        const ok = route.parts.every((p, i) => {
          if (p.startsWith(':')) {
            params[p.slice(1)] = parts[i]!;
            return true;
          }
          return p === parts[i];
        });
        if (!ok) continue;
        pathKnown = true;
        if (route.method === req.method) {
          matched = { route, params };
          break;
        }
      }
      if (!matched) {
        this.log(`unknown command ${req.method} ${req.path}`);
        throw new W3cError(
          'unknown command',
          pathKnown
            ? `The requested resource could not be found, or a request was received using an HTTP method that is not supported by the mapped resource`
            : `The requested resource could not be found`,
        );
      }
      const body = parseJsonBody(req.body);
      const sid = matched.params.sid;
      if (sid !== undefined) {
        if (!run.session || run.session.id !== sid)
          throw new W3cError('invalid session id', `A session is either terminated or not started`);
        sessionId = sid;
      }
      const value = await matched.route.handle({
        params: matched.params,
        body,
        session: run.session,
        signal,
      });
      if (value instanceof SessionCreated) {
        return { status: 200, body: JSON.stringify({ sessionId: value.id, value: value.value }) };
      }
      return { status: 200, body: JSON.stringify({ sessionId, value: value ?? null }) };
    } catch (err) {
      const e =
        err instanceof W3cError ? err : new W3cError('unknown error', (err as Error)?.message ?? String(err));
      // A request given up because its client hung up (AbortError) is no bug; nobody reads the answer.
      if (!(err instanceof W3cError) && (err as Error)?.name !== 'AbortError')
        this.log(`error in ${req.method} ${req.path}: ${(err as Error)?.stack}`);
      return { status: e.status, body: JSON.stringify({ sessionId, value: e.toValue() }) };
    }
  }

  private get run(): ServerRun {
    const r = this.current;
    if (!r) throw new W3cError('unknown error', 'the server is not running');
    return r;
  }

  // ---- routes ------------------------------------------------------------------------------

  private defineRoutes(): void {
    const screen = this.phone.screen;
    const S = '/session/:sid';

    this.route('GET', '/status', () => ({
      ready: true,
      message: 'UiAutomator2 Server is ready to accept commands',
      build: SERVER_VERSION,
    }));
    this.route('GET', '/sessions', () => {
      const s = this.run.session;
      return s ? [{ id: s.id, sessionId: s.id, capabilities: s.capabilities }] : [];
    });
    this.route('POST', '/session', ({ body }) => this.createSession(body));
    this.route('GET', S, ({ session }) => session!.capabilities);
    this.route('DELETE', S, () => {
      const run = this.run;
      run.session = undefined;
      run.elements.clear();
      // As the real server: the response goes out, then the instrumentation ends.
      setTimeout(() => run.stop(), 15).unref();
      return null;
    });

    // finding
    this.route('POST', `${S}/element`, async ({ body, signal }) => {
      const found = await this.find(body, false, signal);
      return found[0];
    });
    this.route('POST', `${S}/elements`, ({ body, signal }) => this.find(body, true, signal));
    this.route('GET', `${S}/element/active`, () => {
      const snap = this.run.elements.snapshot();
      const el = snap.all.find((e) => e.node.focused);
      if (!el) throw noSuchElement();
      return this.ref(el);
    });

    // elements
    this.route('POST', `${S}/element/:id/click`, ({ params }) => {
      const el = this.element(params.id!);
      const c = centre(el.bounds);
      screen.tap(c.x, c.y);
      return null;
    });
    this.route('POST', `${S}/element/:id/clear`, ({ params }) => {
      this.clear(params.id!);
      return null;
    });
    this.route('POST', `${S}/element/:id/value`, ({ params, body }) => {
      this.setValue(params.id!, body);
      return null;
    });
    this.route('GET', `${S}/element/:id/text`, ({ params }) => reportedText(this.element(params.id!).node));
    this.route('GET', `${S}/element/:id/name`, ({ params }) => this.element(params.id!).node.className);
    this.route('GET', `${S}/element/:id/attribute/:name`, ({ params }) =>
      attribute(this.element(params.id!), params.name!),
    );
    this.route('GET', `${S}/element/:id/rect`, ({ params }) => {
      const b = this.element(params.id!).bounds;
      return { x: b.left, y: b.top, width: b.right - b.left, height: b.bottom - b.top };
    });
    this.route('GET', `${S}/element/:id/size`, ({ params }) => {
      const b = this.element(params.id!).bounds;
      return { width: b.right - b.left, height: b.bottom - b.top };
    });
    this.route('GET', `${S}/element/:id/location`, ({ params }) => {
      const b = this.element(params.id!).bounds;
      return { x: b.left, y: b.top };
    });

    // screen
    this.route('GET', `${S}/source`, () => screen.sourceXml());
    this.route('GET', `${S}/screenshot`, () => screen.renderPng({ alpha: false }).toString('base64'));
    this.route('GET', `${S}/window/:handle/size`, () => ({ width: screen.width, height: screen.height }));
    this.route('GET', `${S}/orientation`, () => (screen.rotation % 2 ? 'LANDSCAPE' : 'PORTRAIT'));
    this.route('GET', `${S}/rotation`, () => ({ x: 0, y: 0, z: screen.rotation * 90 }));

    // device
    this.route('GET', `${S}/appium/device/info`, () => this.deviceInfo());
    this.route('GET', `${S}/appium/device/pixel_ratio`, () => screen.density / 160);
    this.route('GET', `${S}/appium/device/display_density`, () => screen.density);
    this.route('GET', `${S}/appium/device/system_bars`, () => ({ statusBar: screen.statusBarHeight }));
    this.route('GET', `${S}/appium/device/battery_info`, () => {
      const b = deviceState(this.phone).battery;
      return { level: b.level / 100, state: b.plugged ? 2 : 3 };
    });
    this.route('POST', `${S}/appium/device/press_keycode`, ({ body }) => {
      this.pressKey(body);
      return null;
    });
    this.route('POST', `${S}/appium/device/long_press_keycode`, ({ body }) => {
      this.pressKey(body);
      return null;
    });
    this.route('POST', `${S}/appium/device/open_notifications`, () => {
      screen.swipe(
        Math.floor(screen.width / 2),
        2,
        Math.floor(screen.width / 2),
        Math.floor(screen.height / 2),
      );
      return null;
    });
    this.route('POST', `${S}/back`, () => {
      screen.keyevent(KEYCODE.BACK);
      return null;
    });
    this.route('POST', `${S}/keys`, ({ body }) => {
      const value = body.value;
      const text = Array.isArray(value) ? value.join('') : typeof body.text === 'string' ? body.text : '';
      for (const ch of text) typeKey(screen, ch);
      return null;
    });
    this.route('POST', `${S}/actions`, ({ body }) => {
      const store = this.run.elements;
      performActions(screen, body.actions, (id) => centre(store.resolve(id, store.snapshot()).bounds));
      return null;
    });

    // settings
    this.route('GET', `${S}/appium/settings`, ({ session }) => session!.settings);
    this.route('POST', `${S}/appium/settings`, ({ session, body }) => {
      const s = body.settings;
      if (!s || typeof s !== 'object' || Array.isArray(s))
        throw new W3cError('invalid argument', "'settings' must be an object");
      Object.assign(session!.settings, s);
      return null;
    });
  }

  // ---- sessions ----------------------------------------------------------------------------

  private createSession(body: Record<string, unknown>): SessionCreated {
    const run = this.run;
    const caps = (body.capabilities ?? {}) as { firstMatch?: unknown[]; alwaysMatch?: unknown };
    const first = Array.isArray(caps.firstMatch) ? (caps.firstMatch[0] ?? {}) : {};
    const merged = {
      ...(typeof caps.alwaysMatch === 'object' && caps.alwaysMatch ? caps.alwaysMatch : {}),
      ...(typeof first === 'object' && first ? first : {}),
    } as Record<string, unknown>;
    const id = randomUUID();
    run.session = { id, capabilities: merged, settings: defaultSettings() };
    run.elements.clear();
    this.log(`session ${id} created`);
    return new SessionCreated(id, { sessionId: id, capabilities: merged });
  }

  private deviceInfo(): Record<string, unknown> {
    const p = this.phone.props;
    const { width, height, density } = this.phone.profile.display;
    const locale =
      p.get('persist.sys.locale') ||
      [p.get('ro.product.locale.language') || 'en', p.get('ro.product.locale.region') || 'US'].join('_');
    return {
      androidId: this.phone.settings.get('secure', 'android_id') ?? '',
      manufacturer: p.get('ro.product.manufacturer'),
      model: p.get('ro.product.model'),
      brand: p.get('ro.product.brand'),
      apiVersion: p.get('ro.build.version.sdk'),
      platformVersion: p.get('ro.build.version.release'),
      carrierName: p.get('gsm.operator.alpha'),
      realDisplaySize: `${width}x${height}`,
      displayDensity: density,
      networks: [],
      locale: locale.replace('-', '_'),
      timeZone: p.get('persist.sys.timezone') || 'UTC',
      bluetooth: { state: 'OFF' },
    };
  }

  // ---- elements ----------------------------------------------------------------------------

  private ref(el: ElNode): Record<string, string> {
    const id = this.run.elements.idOf(el);
    return { ELEMENT: id, [ELEMENT_KEY]: id };
  }

  private element(id: string, snap?: Snapshot): ElNode {
    const store = this.run.elements;
    return store.resolve(id, snap ?? store.snapshot());
  }

  private async find(
    body: Record<string, unknown>,
    multiple: boolean,
    signal: AbortSignal,
  ): Promise<Array<Record<string, string>>> {
    const strategy = str(body, 'strategy');
    const selector = str(body, 'selector');
    const store = this.run.elements;
    let snap = store.snapshot();
    const contextId = typeof body.context === 'string' && body.context ? body.context : undefined;
    const context = contextId ? store.resolve(contextId, snap) : undefined;
    let found: ElNode[];
    switch (strategy) {
      case 'id':
        found = this.byId(selector, snap, context);
        break;
      case 'accessibility id':
        found = scope(snap, context).filter((e) => e.node.contentDesc === selector);
        break;
      case 'class name':
        found = scope(snap, context).filter((e) => e.node.className === selector);
        break;
      case 'xpath':
        try {
          found = evaluateXPath(selector, snap, context);
        } catch (e) {
          if (e instanceof XPathError) throw invalidSelector(`Unable to compile '${selector}': ${e.message}`);
          throw e;
        }
        break;
      case '-android uiautomator': {
        // A regex too costly to match (UiSelectorError from the search) is reported like bad syntax.
        found = [];
        try {
          for (const expr of parseUiSelector(selector)) {
            const r = await this.uiautomator(expr, snap, context, { owner: this.phone.serialno, signal });
            snap = r.snap;
            found.push(...r.found);
          }
        } catch (e) {
          if (e instanceof UiSelectorError)
            throw invalidSelector(`Could not parse UiSelector argument: ${e.message}`);
          throw e;
        }
        found = [...new Set(found)];
        break;
      }
      default:
        throw invalidSelector(`Locator strategy '${strategy}' is not supported`);
    }
    if (!multiple && !found.length) throw noSuchElement();
    return (multiple ? found : found.slice(0, 1)).map((el) => this.ref(el));
  }

  /** `id`: a full resource-id, or a bare name completed with the focused app's package (then `android`). */
  private byId(selector: string, snap: Snapshot, context: ElNode | undefined): ElNode[] {
    const pool = scope(snap, context);
    const noAuto = this.run.session?.settings.disableIdLocatorAutocompletion === true;
    if (selector.includes(':id/') || noAuto) return pool.filter((e) => e.node.resourceId === selector);
    const pkg = this.phone.screen.focused().package;
    const own = pool.filter((e) => e.node.resourceId === `${pkg}:id/${selector}`);
    return own.length ? own : pool.filter((e) => e.node.resourceId === `android:id/${selector}`);
  }

  private async uiautomator(
    expr: UiExpression,
    snap: Snapshot,
    context: ElNode | undefined,
    caller: RegexCaller,
  ): Promise<{ found: ElNode[]; snap: Snapshot }> {
    if (expr.kind === 'selector')
      return { found: await selectAll(expr.selector, snap, context, caller), snap };
    // UiScrollable: look for the target, swiping the container until it shows or nothing changes.
    const screen = this.phone.screen;
    let current = snap;
    for (let swipe = 0; ; swipe++) {
      const hit = await selectAll(expr.target, current, context, caller);
      if (hit.length) return { found: hit.slice(0, 1), snap: current };
      const container = (await selectAll(expr.container, current, context, caller))[0];
      if (!container || swipe >= expr.maxSwipes) return { found: [], snap: current };
      const b = container.bounds;
      const cx = Math.floor((b.left + b.right) / 2);
      const cy = Math.floor((b.top + b.bottom) / 2);
      const before = screen.sourceXml();
      if (expr.horizontal) {
        const dx = Math.floor((b.right - b.left) * 0.3);
        screen.swipe(cx + dx, cy, cx - dx, cy, 300);
      } else {
        const dy = Math.floor((b.bottom - b.top) * 0.3);
        screen.swipe(cx, cy + dy, cx, cy - dy, 300);
      }
      if (screen.sourceXml() === before) return { found: [], snap: current };
      current = this.run.elements.snapshot();
    }
  }

  /** Focuses an edit field as a tap on it would (when it is not focused yet). */
  private focusField(id: string): ElNode {
    const el = this.element(id);
    if (!isEditable(el.node) || !el.node.enabled) {
      throw new W3cError(
        'invalid element state',
        `Cannot set the element to the given text. Did you interact with the correct element?`,
      );
    }
    if (!el.node.focused) {
      const c = centre(el.bounds);
      this.phone.screen.tap(c.x, c.y);
    }
    return this.element(id);
  }

  private clear(id: string): void {
    const el = this.element(id);
    if (!isEditable(el.node)) return; // the real server ignores clear on other elements
    const field = this.focusField(id);
    const screen = this.phone.screen;
    for (let n = [...field.node.text].length; n > 0 && screen.focusedInput()?.text; n--)
      screen.keyevent(KEYCODE.DEL);
  }

  /** `POST /element/:id/value`: appends (replaces with `replace: true`); a trailing newline presses Enter. */
  private setValue(id: string, body: Record<string, unknown>): void {
    let text =
      typeof body.text === 'string'
        ? body.text
        : Array.isArray(body.value)
          ? body.value.join('')
          : typeof body.value === 'string'
            ? body.value
            : undefined;
    if (text === undefined) throw new W3cError('invalid argument', "'text' must be a string");
    const field = this.focusField(id);
    const screen = this.phone.screen;
    if (body.replace === true) {
      for (let n = [...field.node.text].length; n > 0 && screen.focusedInput()?.text; n--)
        screen.keyevent(KEYCODE.DEL);
    }
    const enter = text.endsWith('\n');
    if (enter) text = text.slice(0, -1);
    if (text) screen.text(text);
    if (enter) screen.keyevent(KEYCODE.ENTER);
  }

  private pressKey(body: Record<string, unknown>): void {
    const code = body.keycode;
    if (typeof code !== 'number' || !Number.isInteger(code))
      throw new W3cError('invalid argument', "'keycode' must be an integer");
    const meta = typeof body.metastate === 'number' ? body.metastate : 0;
    const screen = this.phone.screen;
    const state = deviceState(this.phone);
    if (code === KEYCODE.POWER) state.awake = !state.awake;
    else if (code === KEYCODE.WAKEUP) state.awake = true;
    else if (code === KEYCODE.SLEEP || code === KEYCODE.SOFT_SLEEP) state.awake = false;
    const ch = keyChar(code);
    // META_SHIFT_ON / META_CAPS_LOCK_ON: an upper-case letter.
    if (ch && /[a-z]/.test(ch) && meta & (0x1 | 0x100000)) screen.text(ch.toUpperCase());
    else screen.keyevent(code);
  }
}

/** POST /session answers with the new id as the envelope's sessionId. */
class SessionCreated {
  constructor(
    readonly id: string,
    readonly value: unknown,
  ) {}
}

function scope(snap: Snapshot, context: ElNode | undefined): ElNode[] {
  if (!context) return snap.all;
  const out: ElNode[] = [];
  const rec = (n: ElNode): void => {
    for (const c of n.children) {
      out.push(c);
      rec(c);
    }
  };
  rec(context);
  return out;
}
