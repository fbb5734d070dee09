/**
 * The tree-walking interpreter of the phone's `/system/bin/sh` (mksh semantics, as far as scripts
 * sent over `adb shell` need them). Commands are found through `phone.lookupCommand`; builtins that
 * must change the shell itself (cd, export, exit, eval, read …) live here.
 *
 * Nothing here evaluates host input as JavaScript: scripts are parsed (parser.ts) and walked.
 */
import type { VirtualPhone } from '../phone.ts';
import { VfsError, X_OK } from '../os/vfs.ts';
import {
  BrokenPipeError,
  type CommandContext,
  type CommandFn,
  type InStream,
  type OutStream,
  type ProcessContext,
} from '../commands/types.ts';
import type { Assign, Node, Redir, Word, WordPart } from './ast.ts';
import { parse, ShellSyntaxError } from './parser.ts';
import { ArithError, evalArith } from './arith.ts';
import { escapeGlob, globExpand, hasGlobChars, matchPattern, compilePattern } from './pattern.ts';
import { evalTest } from './testexpr.ts';
import { cEscapes, encodeMixed } from './cu-common.ts';
import {
  BufferInStream,
  CollectOutStream,
  EMPTY_IN,
  NullOutStream,
  Pipe,
  PushbackInStream,
  toBuffer,
  yieldToEventLoop,
} from './streams.ts';

export const SH_PATH = '/system/bin/sh';

export interface ScriptBase extends ProcessContext {
  /** $0 (default /system/bin/sh). */
  argv0?: string;
  /** Positional parameters $1 … */
  args?: string[];
}

/** Runs a script as `sh -c` would and resolves to its exit status. Never rejects. */
export async function runScript(script: string, base: ScriptBase): Promise<number> {
  const session = new ShellSession(base);
  const status = await session.run(script);
  await session.finish();
  return status;
}

/** Whether `script` parses: 'ok', 'incomplete' (needs more lines) or 'error'. */
export function checkSyntax(script: string): 'ok' | 'incomplete' | 'error' {
  try {
    parse(script);
    return 'ok';
  } catch (e) {
    if (e instanceof ShellSyntaxError) return e.incomplete ? 'incomplete' : 'error';
    return 'error';
  }
}

/** One file descriptor: an input, an output, or both. */
interface Fd {
  in?: InStream;
  out?: OutStream;
}
type Io = Map<number, Fd>;

// Control flow, thrown through the tree walk.
class ExitSignal extends Error {
  constructor(readonly status: number) {
    super('exit');
  }
}
class ReturnSignal extends Error {
  constructor(readonly status: number) {
    super('return');
  }
}
class LoopSignal extends Error {
  constructor(
    readonly kind: 'break' | 'continue',
    public levels: number,
  ) {
    super(kind);
  }
}
class AbortedSignal extends Error {
  constructor() {
    super('aborted');
  }
}
/** An error the shell reports as `/system/bin/sh: <message>` with status 1. */
class ShellError extends Error {
  constructor(
    message: string,
    readonly status = 1,
  ) {
    super(message);
  }
}

function isBrokenPipe(e: unknown): boolean {
  return e instanceof BrokenPipeError || (e instanceof Error && e.name === 'BrokenPipeError');
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** State shared by a script and all its subshells. */
interface Runtime {
  phone: VirtualPhone;
  signal: AbortSignal;
  ticks: number;
  pid: number;
  nextPid: number;
  jobs: Set<Promise<number>>;
}

let pidCounter = 4000 + Math.floor(Math.random() * 20000);

const DECLARATIONS = new Set(['export', 'readonly', 'local', 'typeset']);
const RESERVED_WORDS = new Set([
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'case',
  'esac',
  'for',
  'while',
  'until',
  'do',
  'done',
  'in',
  'function',
  '{',
  '}',
  '!',
]);

/** Writes to a file through the Vfs (each chunk appended), as an open file descriptor would. */
class FileOutStream implements OutStream {
  private writes = 0;

  constructor(
    private readonly phone: VirtualPhone,
    private readonly path: string,
    private readonly uid: number,
  ) {}

  async write(chunk: string | Uint8Array): Promise<void> {
    const data = toBuffer(chunk);
    if (data.length) {
      try {
        this.phone.fs.writeFile(this.path, data, { append: true, uid: this.uid });
      } catch (err) {
        // A full "disk" fails the write, as write(2) would; the writer reports it and stops.
        if (err instanceof VfsError && err.code === 'ENOSPC') throw err;
        // The file went away or became unwritable after it was opened: the data is lost, as with
        // an unlinked file.
      }
    }
    if (++this.writes % 256 === 0) await yieldToEventLoop();
  }
}

/** One shell: variables, cwd, options, functions. Subshells are clones. */
class Shell {
  vars: Map<string, string>;
  exported: Set<string>;
  readonlyVars = new Set<string>();
  functions = new Map<string, Node>();
  cwd: string;
  uid: number;
  status = 0;
  positional: string[];
  argv0: string;
  opts = { errexit: false, xtrace: false, noglob: false, nounset: false, pipefail: false };
  condDepth = 0;
  loopDepth = 0;
  locals: Array<Map<string, string | undefined>> = [];
  lastBg = '';
  /** `trap` actions; only EXIT is ever run. */
  traps = new Map<string, string>();
  substStatus: number | null = null;
  umask = 0o022;

  constructor(
    readonly rt: Runtime,
    base: { env: Map<string, string>; cwd: string; uid: number; argv0?: string; args?: string[] },
  ) {
    this.vars = new Map(base.env);
    this.exported = new Set(base.env.keys());
    this.cwd = rt.phone.fs.normalize(base.cwd || '/');
    this.uid = base.uid;
    this.argv0 = base.argv0 ?? SH_PATH;
    this.positional = base.args ?? [];
    if (!this.vars.has('PWD')) this.vars.set('PWD', this.cwd);
    if (!this.vars.has('IFS')) this.vars.set('IFS', ' \t\n');
  }

  get phone(): VirtualPhone {
    return this.rt.phone;
  }

  /** The physical current directory (symlinks resolved): what relative paths resolve against. */
  physCwd(): string {
    try {
      return this.phone.fs.realpath(this.cwd, 0);
    } catch {
      return this.cwd;
    }
  }

  clone(): Shell {
    const s = new Shell(this.rt, { env: new Map(), cwd: this.cwd, uid: this.uid, argv0: this.argv0 });
    s.vars = new Map(this.vars);
    s.exported = new Set(this.exported);
    s.readonlyVars = new Set(this.readonlyVars);
    s.functions = new Map(this.functions);
    s.positional = [...this.positional];
    s.status = this.status;
    s.opts = { ...this.opts };
    s.lastBg = this.lastBg;
    s.umask = this.umask;
    s.condDepth = this.condDepth;
    return s;
  }

  // ------------------------------------------------------------ output helpers

  async write(io: Io, fd: number, text: string | Uint8Array): Promise<void> {
    const out = io.get(fd)?.out;
    if (!out) return;
    await out.write(text);
  }

  /** `/system/bin/sh: msg` on stderr; a gone stderr is ignored. */
  async error(io: Io, msg: string): Promise<void> {
    try {
      await this.write(io, 2, `${SH_PATH}: ${msg}\n`);
    } catch (e) {
      if (!isBrokenPipe(e)) throw e;
    }
  }

  // ------------------------------------------------------------ variables

  getVar(name: string): string | undefined {
    return this.vars.get(name);
  }

  setVar(name: string, value: string): void {
    if (this.readonlyVars.has(name)) throw new ShellError(`${name}: is read only`);
    this.vars.set(name, value);
  }

  unsetVar(name: string): void {
    if (this.readonlyVars.has(name)) throw new ShellError(`${name}: is read only`);
    this.vars.delete(name);
    this.exported.delete(name);
  }

  exportEnv(extra: Array<[string, string]> = []): Map<string, string> {
    const env = new Map<string, string>();
    for (const name of this.exported) {
      const v = this.vars.get(name);
      if (v !== undefined) env.set(name, v);
    }
    for (const [k, v] of extra) env.set(k, v);
    return env;
  }

  // ------------------------------------------------------------ running

  async tick(): Promise<void> {
    if (this.rt.signal.aborted) throw new AbortedSignal();
    if (++this.rt.ticks % 128 === 0) {
      await yieldToEventLoop();
      if (this.rt.signal.aborted) throw new AbortedSignal();
    }
  }

  /**
   * Runs a `while`/`until`/`for` body for as long as `nextPass` (called before each pass) says,
   * handling `break`/`continue`; the status is the last completed pass's (0 when none ran).
   */
  private async runLoop(body: Node, io: Io, nextPass: () => Promise<boolean>): Promise<number> {
    let st = 0;
    this.loopDepth++;
    try {
      while (await nextPass()) {
        try {
          st = await this.run(body, io);
        } catch (e) {
          if (!(e instanceof LoopSignal)) throw e;
          if (e.levels > 1) {
            e.levels--;
            throw e;
          }
          if (e.kind === 'break') break;
        }
      }
    } finally {
      this.loopDepth--;
    }
    return st;
  }

  async run(node: Node, io: Io): Promise<number> {
    const st = await this.runNode(node, io);
    this.status = st;
    return st;
  }

  /** Runs `node`, turning exit/return/break into a status (a subshell boundary). */
  async runIsolated(node: Node, io: Io): Promise<number> {
    try {
      return await this.run(node, io);
    } catch (e) {
      if (e instanceof ExitSignal || e instanceof ReturnSignal) return e.status;
      if (e instanceof LoopSignal) return this.status;
      throw e;
    }
  }

  private async runNode(node: Node, io: Io): Promise<number> {
    switch (node.type) {
      case 'simple':
        return this.runSimple(node, io);
      case 'list': {
        let st = 0;
        for (const item of node.items) {
          if (item.bg) {
            this.background(item.node, io);
            st = 0;
          } else {
            st = await this.run(item.node, io);
          }
          this.status = st;
        }
        return st;
      }
      case 'andor': {
        let st: number;
        this.condDepth++;
        try {
          st = await this.run(node.first, io);
        } finally {
          this.condDepth--;
        }
        for (let i = 0; i < node.rest.length; i++) {
          const { op, node: next } = node.rest[i]!;
          if ((op === '&&') !== (st === 0)) continue;
          const last = i === node.rest.length - 1;
          if (!last) this.condDepth++;
          try {
            st = await this.run(next, io);
          } finally {
            if (!last) this.condDepth--;
          }
        }
        return st;
      }
      case 'pipeline':
        return this.runPipeline(node.cmds, node.negate, io);
      case 'subshell': {
        const rio = await this.redirect(node.redirs, io);
        if (!rio) return 1;
        return this.clone().runIsolated(node.body, rio);
      }
      case 'group': {
        const rio = await this.redirect(node.redirs, io);
        if (!rio) return 1;
        return this.run(node.body, rio);
      }
      case 'if': {
        const rio = await this.redirect(node.redirs, io);
        if (!rio) return 1;
        for (const clause of node.clauses) {
          if ((await this.condition(clause.cond, rio)) === 0) return this.run(clause.body, rio);
        }
        return node.elseBody ? this.run(node.elseBody, rio) : 0;
      }
      case 'loop': {
        const rio = await this.redirect(node.redirs, io);
        if (!rio) return 1;
        return this.runLoop(node.body, rio, async () => {
          await this.tick();
          return ((await this.condition(node.cond, rio)) === 0) !== node.until;
        });
      }
      case 'for': {
        const rio = await this.redirect(node.redirs, io);
        if (!rio) return 1;
        let items: string[];
        try {
          items = node.items ? await this.expandWords(node.items, rio) : [...this.positional];
        } catch (e) {
          if (e instanceof ShellError) {
            await this.error(rio, e.message);
            return e.status;
          }
          throw e;
        }
        let next = 0;
        return this.runLoop(node.body, rio, async () => {
          if (next >= items.length) return false;
          await this.tick();
          this.setVar(node.name, items[next++]!);
          return true;
        });
      }
      case 'case': {
        const rio = await this.redirect(node.redirs, io);
        if (!rio) return 1;
        try {
          const word = await this.expandSingle(node.word, rio);
          for (const item of node.items) {
            for (const p of item.patterns) {
              const pat = await this.expandPattern(p, rio);
              if (matchPattern(pat, word)) return item.body ? this.run(item.body, rio) : 0;
            }
          }
        } catch (e) {
          if (e instanceof ShellError) {
            await this.error(rio, e.message);
            return e.status;
          }
          throw e;
        }
        return 0;
      }
      case 'func':
        this.functions.set(node.name, node.body);
        return 0;
    }
  }

  private async condition(node: Node, io: Io): Promise<number> {
    this.condDepth++;
    try {
      return await this.run(node, io);
    } finally {
      this.condDepth--;
    }
  }

  private background(node: Node, io: Io): void {
    const sub = this.clone();
    const pid = this.rt.nextPid++;
    this.lastBg = String(pid);
    const job: Promise<number> = sub.runIsolated(node, io).catch(() => 1);
    this.rt.jobs.add(job);
    void job.then(() => this.rt.jobs.delete(job));
  }

  private async runPipeline(cmds: Node[], negate: boolean, io: Io): Promise<number> {
    let st: number;
    if (negate) this.condDepth++;
    try {
      if (cmds.length === 1) st = await this.run(cmds[0]!, io);
      else st = await this.runStages(cmds, io);
    } finally {
      if (negate) this.condDepth--;
    }
    return negate ? (st === 0 ? 1 : 0) : st;
  }

  private async runStages(cmds: Node[], io: Io): Promise<number> {
    const pipes = cmds.slice(1).map(() => new Pipe());
    const statuses = await Promise.all(
      cmds.map(async (cmd, i) => {
        const sub = this.clone();
        const sio: Io = new Map(io);
        if (i > 0) sio.set(0, { in: pipes[i - 1]! });
        if (i < cmds.length - 1) sio.set(1, { out: pipes[i]! });
        try {
          return await sub.runIsolated(cmd, sio);
        } catch (e) {
          if (isBrokenPipe(e)) return 141;
          throw e;
        } finally {
          if (i < cmds.length - 1) pipes[i]!.closeWrite();
          if (i > 0) pipes[i - 1]!.closeRead();
        }
      }),
    );
    if (this.opts.pipefail) {
      for (let i = statuses.length - 1; i >= 0; i--) if (statuses[i] !== 0) return statuses[i]!;
      return 0;
    }
    return statuses[statuses.length - 1]!;
  }

  private async runSimple(node: Extract<Node, { type: 'simple' }>, io: Io): Promise<number> {
    await this.tick();
    this.substStatus = null;
    let argv: string[];
    const assigns: Array<[string, string, boolean]> = [];
    try {
      argv = [];
      for (const w of node.words) {
        if (argv.length > 0 && DECLARATIONS.has(argv[0]!) && isAssignmentWord(w)) {
          argv.push(await this.expandSingle(w, io));
        } else {
          argv.push(...(await this.expandFields(w, io)));
        }
      }
      for (const a of node.assigns) assigns.push([a.name, await this.assignValue(a, io), a.append]);
    } catch (e) {
      if (e instanceof ShellError) {
        await this.error(io, e.message);
        return e.status;
      }
      throw e;
    }
    if (this.opts.xtrace) {
      const shown = [...assigns.map(([k, v]) => `${k}=${v}`), ...argv].join(' ');
      await this.write(io, 2, `+ ${shown}\n`).catch(() => undefined);
    }
    if (argv.length === 0) {
      try {
        for (const [k, v, append] of assigns) this.setVar(k, append ? (this.getVar(k) ?? '') + v : v);
      } catch (e) {
        if (e instanceof ShellError) {
          await this.error(io, e.message);
          return 1;
        }
        throw e;
      }
      if (node.redirs.length) {
        const rio = await this.redirect(node.redirs, io);
        if (!rio) return 1;
      }
      return this.substStatus ?? 0;
    }
    if (argv[0] === 'exec' && argv.length === 1) {
      const rio = await this.redirect(node.redirs, io, true);
      return rio ? 0 : 1;
    }
    const rio = await this.redirect(node.redirs, io);
    if (!rio) return 1;
    const st = await this.invoke(
      argv,
      assigns.map(([k, v, append]) => [k, append ? (this.getVar(k) ?? '') + v : v]),
      rio,
    );
    if (st !== 0 && this.opts.errexit && this.condDepth === 0) throw new ExitSignal(st);
    return st;
  }

  private async assignValue(a: Assign, io: Io): Promise<string> {
    return this.expandSingle(a.value, io);
  }

  /** Runs argv[0]: a function, a builtin or a command, with temporary assignments. */
  async invoke(
    argv: string[],
    assigns: Array<[string, string]>,
    io: Io,
    noFunctions = false,
  ): Promise<number> {
    const name = argv[0]!;
    const fn = noFunctions ? undefined : this.functions.get(name);
    if (fn) return this.withTempVars(assigns, () => this.callFunction(fn, argv, io));
    const builtin = BUILTINS[name];
    if (builtin) {
      try {
        return await this.withTempVars(assigns, () => builtin(this, argv, io));
      } catch (e) {
        if (e instanceof ShellError) {
          await this.error(io, e.message);
          return e.status;
        }
        if (isBrokenPipe(e)) return 141;
        throw e;
      }
    }
    const cmd = this.lookup(name);
    if (!cmd) return this.runFile(argv, assigns, io);
    return this.runCommand(cmd, argv, this.exportEnv(assigns), io);
  }

  private async withTempVars<T>(assigns: Array<[string, string]>, fn: () => Promise<T>): Promise<T> {
    if (assigns.length === 0) return fn();
    const saved = assigns.map(([k]) => [k, this.vars.get(k)] as const);
    for (const [k, v] of assigns) this.setVar(k, v);
    try {
      return await fn();
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) this.vars.delete(k);
        else this.vars.set(k, v);
      }
    }
  }

  private async callFunction(body: Node, argv: string[], io: Io): Promise<number> {
    if (this.locals.length >= 200) throw new ShellError(`${argv[0]}: function nesting too deep`);
    const savedPositional = this.positional;
    this.positional = argv.slice(1);
    this.locals.push(new Map());
    try {
      return await this.run(body, io);
    } catch (e) {
      if (e instanceof ReturnSignal) return e.status;
      throw e;
    } finally {
      this.positional = savedPositional;
      const frame = this.locals.pop()!;
      for (const [k, v] of frame) {
        if (v === undefined) this.vars.delete(k);
        else this.vars.set(k, v);
      }
    }
  }

  lookup(name: string): CommandFn | undefined {
    if (name.includes('/') && !name.startsWith('/'))
      return this.phone.lookupCommand(this.phone.fs.normalize(name, this.physCwd()));
    return this.phone.lookupCommand(name);
  }

  /** A name that is no command: maybe a script file on the phone. */
  private async runFile(argv: string[], assigns: Array<[string, string]>, io: Io): Promise<number> {
    const name = argv[0]!;
    const fs = this.phone.fs;
    if (name.includes('/')) {
      const path = fs.normalize(name, this.physCwd());
      const st = fs.stat(path);
      if (st) {
        if (st.type === 'dir') {
          await this.error(io, `${name}: can't execute: Is a directory`);
          return 126;
        }
        if (!fs.access(path, X_OK, this.uid)) {
          await this.error(io, `${name}: can't execute: Permission denied`);
          return 126;
        }
        let text: Buffer;
        try {
          text = fs.readFile(path, this.uid);
        } catch (e) {
          await this.error(io, `${name}: ${errMessage(e)}`);
          return 126;
        }
        if (text.subarray(0, 4).toString('latin1') === '\x7fELF') {
          await this.error(io, `${name}: can't execute: Exec format error`);
          return 126;
        }
        const session = new ShellSession(
          {
            phone: this.phone,
            env: this.exportEnv(assigns),
            cwd: this.cwd,
            uid: this.uid,
            stdin: io.get(0)?.in ?? EMPTY_IN,
            stdout: io.get(1)?.out ?? new NullOutStream(),
            stderr: io.get(2)?.out ?? new NullOutStream(),
            signal: this.rt.signal,
            argv0: name,
            args: argv.slice(1),
          },
          this.rt,
        );
        const status = await session.run(text.toString('utf8'));
        await session.finish();
        return status;
      }
    }
    await this.error(io, `${name}: inaccessible or not found`);
    return 127;
  }

  async runCommand(cmd: CommandFn, argv: string[], env: Map<string, string>, io: Io): Promise<number> {
    const name = argv[0]!;
    const stdin = io.get(0)?.in ?? EMPTY_IN;
    const stdout = io.get(1)?.out ?? new NullOutStream();
    const stderr = io.get(2)?.out ?? new NullOutStream();
    const signal = this.rt.signal;
    const phone = this.phone;
    const cwd = this.physCwd();
    const logicalCwd = this.cwd;
    const uid = this.uid;
    const rt = this.rt;
    const ctx: CommandContext = {
      phone,
      argv,
      env,
      cwd,
      uid,
      stdin,
      stdout,
      stderr,
      signal,
      runShell(script, opts) {
        return new ShellSession(
          {
            phone,
            env: opts?.env ?? env,
            cwd: logicalCwd,
            uid: opts?.uid ?? uid,
            stdin,
            stdout,
            stderr,
            signal,
          },
          rt,
        ).run(script);
      },
    };
    try {
      const st = await cmd(ctx);
      return Number.isInteger(st) ? st & 255 : st ? 1 : 0;
    } catch (e) {
      if (isBrokenPipe(e)) return 141;
      if (signal.aborted) return 130;
      // A filesystem error (full, read-only…) is the phone behaving; anything else is a bug to see.
      if (!(e instanceof VfsError)) console.error(`[phonehome] command '${argv.join(' ')}' threw:`, e);
      await this.error(io, `${name}: ${errMessage(e)}`);
      return 1;
    }
  }

  // ------------------------------------------------------------ redirections

  /**
   * Applies redirections to a copy of `io` (or to `io` itself when `permanent`, for `exec`). On
   * failure prints the error and resolves to null.
   */
  async redirect(redirs: Redir[], io: Io, permanent = false): Promise<Io | null> {
    if (redirs.length === 0) return io;
    const out: Io = permanent ? io : new Map(io);
    try {
      for (const r of redirs) await this.applyRedir(r, out);
    } catch (e) {
      if (e instanceof ShellError) {
        await this.error(io, e.message);
        return null;
      }
      throw e;
    }
    return out;
  }

  private async applyRedir(r: Redir, io: Io): Promise<void> {
    const fs = this.phone.fs;
    const input =
      r.op === '<' || r.op === '<&' || r.op === '<>' || r.op === '<<' || r.op === '<<-' || r.op === '<<<';
    const fd = r.fd ?? (input ? 0 : 1);
    if (r.op === '<<' || r.op === '<<-') {
      const body = r.heredoc?.body ? await this.expandSingle(r.heredoc.body, io) : '';
      io.set(fd, { in: new BufferInStream(body) });
      return;
    }
    const target = await this.expandSingle(r.target, io);
    if (r.op === '<<<') {
      io.set(fd, { in: new BufferInStream(`${target}\n`) });
      return;
    }
    if (r.op === '<&' || r.op === '>&') {
      if (target === '-') {
        io.delete(fd);
        return;
      }
      if (/^[0-9]+$/.test(target)) {
        const src = io.get(Number(target));
        if (!src) throw new ShellError(`${target}: bad file descriptor`);
        io.set(fd, src);
        return;
      }
      if (r.op === '<&') throw new ShellError(`${target}: bad file descriptor`);
      // `>&file` is `&>file`.
      const o = this.openWrite(target, false);
      io.set(1, { out: o });
      io.set(2, { out: o });
      return;
    }
    if (r.op === '<') {
      const path = fs.normalize(target, this.physCwd());
      if (path === '/dev/null') {
        io.set(fd, { in: EMPTY_IN });
        return;
      }
      try {
        const st = fs.stat(path);
        if (st?.type === 'dir') throw new VfsError('EISDIR', path);
        io.set(fd, { in: new BufferInStream(fs.readFile(path, this.uid)) });
      } catch (e) {
        if (e instanceof VfsError) throw new ShellError(`can't open ${target}: ${e.message}`);
        throw e;
      }
      return;
    }
    if (r.op === '<>') {
      const o = this.openWrite(target, true);
      const path = fs.normalize(target, this.physCwd());
      io.set(fd, { in: new BufferInStream(fs.readFile(path, this.uid)), out: o });
      return;
    }
    const append = r.op === '>>' || r.op === '&>>';
    const o = this.openWrite(target, append);
    if (r.op === '&>' || r.op === '&>>') {
      io.set(1, { out: o });
      io.set(2, { out: o });
    } else io.set(fd, { out: o });
  }

  private openWrite(target: string, append: boolean): OutStream {
    const fs = this.phone.fs;
    const path = fs.normalize(target, this.physCwd());
    if (path === '/dev/null') return new NullOutStream();
    try {
      if (target === '') throw new VfsError('ENOENT', target);
      fs.writeFile(path, '', {
        uid: this.uid,
        append,
        mode: fs.exists(path) ? undefined : 0o666 & ~this.umask,
      });
    } catch (e) {
      if (e instanceof VfsError) throw new ShellError(`can't create ${target}: ${e.message}`);
      throw e;
    }
    return new FileOutStream(this.phone, path, this.uid);
  }

  // ------------------------------------------------------------ expansion

  async expandWords(words: Word[], io: Io): Promise<string[]> {
    const out: string[] = [];
    for (const w of words) out.push(...(await this.expandFields(w, io)));
    return out;
  }

  /** Full expansion: parameters, substitutions, field splitting, pathname expansion. */
  async expandFields(w: Word, io: Io): Promise<string[]> {
    if (w.raw.includes('{') && w.raw.includes(',')) {
      const variants = braceExpand(w.parts);
      if (variants.length > 1) {
        const out: string[] = [];
        for (const parts of variants) out.push(...(await this.expandPartsToFields(parts, io)));
        return out;
      }
    }
    return this.expandPartsToFields(w.parts, io);
  }

  private async expandPartsToFields(parts: WordPart[], io: Io): Promise<string[]> {
    const segs = await this.segments(parts, io);
    const ifs = this.vars.get('IFS') ?? ' \t\n';
    type Field = { text: string; pat: string; glob: boolean };
    const fields: Field[] = [];
    let cur: Field | null = null;
    const ensure = (): Field => (cur ??= { text: '', pat: '', glob: false });
    const finish = () => {
      if (cur) fields.push(cur);
      cur = null;
    };
    for (const s of segs) {
      if (s.boundary) {
        finish();
        continue;
      }
      if (s.split && ifs !== '') {
        for (const ch of s.text) {
          if (ifs.includes(ch)) {
            if (ch === ' ' || ch === '\t' || ch === '\n') finish();
            else {
              ensure();
              finish();
            }
          } else {
            const f = ensure();
            f.text += ch;
            f.pat += ch;
            if (ch === '*' || ch === '?' || ch === '[') f.glob = true;
          }
        }
        continue;
      }
      const f = ensure();
      f.text += s.text;
      if (s.quoted) f.pat += escapeGlob(s.text);
      else {
        f.pat += s.text;
        if (/[*?[]/.test(s.text)) f.glob = true;
      }
    }
    finish();
    const result: string[] = [];
    for (const f of fields) {
      if (f.glob && !this.opts.noglob && hasGlobChars(f.pat)) {
        const matches = globExpand(this.phone.fs, f.pat, this.physCwd(), this.uid);
        if (matches.length) {
          result.push(...matches);
          continue;
        }
      }
      result.push(f.text);
    }
    return result;
  }

  /** Expansion without field splitting or globbing (assignments, redirection targets, case words). */
  async expandSingle(w: Word, io: Io): Promise<string> {
    const segs = await this.segments(w.parts, io);
    return segs.map((s) => (s.boundary ? ' ' : s.text)).join('');
  }

  /** Expansion into a pattern: quoted text is escaped so it matches literally. */
  async expandPattern(w: Word, io: Io): Promise<string> {
    const segs = await this.segments(w.parts, io);
    return segs.map((s) => (s.boundary ? ' ' : s.quoted ? escapeGlob(s.text) : s.text)).join('');
  }

  private async segments(parts: WordPart[], io: Io): Promise<Segment[]> {
    const out: Segment[] = [];
    for (const p of parts) {
      switch (p.t) {
        case 'lit':
          out.push({ text: p.v, quoted: p.q, split: false });
          break;
        case 'tilde': {
          const home =
            p.user === '' ? (this.vars.get('HOME') ?? '/') : p.user === 'root' ? '/root' : `~${p.user}`;
          out.push({ text: home, quoted: true, split: false });
          break;
        }
        case 'param':
          out.push(...(await this.expandParam(p, io)));
          break;
        case 'cmd': {
          const text = await this.commandSubst(p.body, io);
          out.push({ text, quoted: p.q, split: !p.q });
          break;
        }
        case 'arith': {
          const expr = await this.expandSingle(p.expr, io);
          let v: number;
          try {
            v = evalArith(expr, {
              get: (n) => this.vars.get(n),
              set: (n, val) => this.setVar(n, val),
            });
          } catch (e) {
            if (e instanceof ArithError) throw new ShellError(`${expr.trim()}: ${e.message}`);
            throw e;
          }
          out.push({ text: String(v), quoted: p.q, split: !p.q });
          break;
        }
      }
    }
    return out;
  }

  private special(name: string): string | string[] | undefined {
    switch (name) {
      case '?':
        return String(this.status);
      case '$':
        return String(this.rt.pid);
      case '#':
        return String(this.positional.length);
      case '!':
        return this.lastBg;
      case '-':
        return (
          (this.opts.errexit ? 'e' : '') + (this.opts.noglob ? 'f' : '') + (this.opts.xtrace ? 'x' : '') + 'h'
        );
      case '0':
        return this.argv0;
      case '@':
      case '*':
        return this.positional;
    }
    if (/^[0-9]+$/.test(name)) return this.positional[Number(name) - 1];
    if (name === 'RANDOM' && !this.vars.has(name)) return String(Math.floor(Math.random() * 32768));
    return this.vars.get(name);
  }

  private async expandParam(p: Extract<WordPart, { t: 'param' }>, io: Io): Promise<Segment[]> {
    const raw = this.special(p.name);
    const isList = Array.isArray(raw);
    const joined = isList ? raw.join(p.name === '*' ? ((this.vars.get('IFS') ?? ' ')[0] ?? '') : ' ') : raw;
    const unset = isList ? raw.length === 0 : raw === undefined;
    const value = (text: string): Segment[] => [{ text, quoted: p.q, split: !p.q }];
    if (p.len) return value(String(joined?.length ?? 0));
    const op = p.op;
    if (!op) {
      if (unset && this.opts.nounset && !isList && !/^[?$#!\-0]$/.test(p.name)) {
        throw new ShellError(`${p.name}: parameter not set`);
      }
      if (isList) {
        if (p.name === '@' || !p.q) {
          const segs: Segment[] = [];
          raw.forEach((v, i) => {
            if (i > 0) segs.push({ text: '', quoted: false, split: false, boundary: true });
            segs.push({ text: v, quoted: p.q, split: !p.q });
          });
          return segs;
        }
        return value(joined ?? '');
      }
      return value(raw ?? '');
    }
    const empty = unset || joined === '';
    const cond = op.startsWith(':') ? empty : unset;
    switch (op) {
      case ':-':
      case '-':
        return cond ? this.argSegments(p, io) : value(joined ?? '');
      case ':=':
      case '=': {
        if (!cond) return value(joined ?? '');
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(p.name))
          throw new ShellError(`${p.name}: cannot assign this way`);
        const v = await this.expandSingle(p.arg!, io);
        this.setVar(p.name, v);
        return value(v);
      }
      case ':+':
      case '+':
        return cond ? [] : this.argSegments(p, io);
      case ':?':
      case '?': {
        if (!cond) return value(joined ?? '');
        const msg = await this.expandSingle(p.arg!, io);
        throw new ShellError(`${p.name}: ${msg || 'parameter null or not set'}`);
      }
      case '#':
      case '##':
      case '%':
      case '%%': {
        const s = joined ?? '';
        const re = compilePattern(await this.expandPattern(p.arg!, io));
        if (op === '#' || op === '##') {
          const order = op === '#' ? range(0, s.length) : range(0, s.length).reverse();
          for (const i of order) if (re.test(s.slice(0, i))) return value(s.slice(i));
        } else {
          const order = op === '%' ? range(0, s.length).reverse() : range(0, s.length);
          for (const i of order) if (re.test(s.slice(i))) return value(s.slice(0, i));
        }
        return value(s);
      }
      case '/':
      case '//': {
        const s = joined ?? '';
        const [patWord, repWord] = splitReplace(p.arg!);
        const pat = await this.expandPattern(patWord, io);
        const rep = repWord ? await this.expandSingle(repWord, io) : '';
        if (pat === '') return value(s);
        const re = compilePattern(pat);
        let result = '';
        let i = 0;
        let replaced = false;
        while (i < s.length) {
          let matched = -1;
          if (!replaced || op === '//') {
            for (let j = s.length; j > i; j--) {
              if (re.test(s.slice(i, j))) {
                matched = j;
                break;
              }
            }
          }
          if (matched > 0) {
            result += rep;
            i = matched;
            replaced = true;
          } else {
            result += s[i];
            i++;
          }
        }
        return value(result);
      }
    }
    return value(joined ?? '');
  }

  private async argSegments(p: Extract<WordPart, { t: 'param' }>, io: Io): Promise<Segment[]> {
    const segs = await this.segments(p.arg?.parts ?? [], io);
    if (!p.q) return segs.map((s) => (s.quoted ? s : { ...s, split: true }));
    return segs.map((s) => ({ ...s, quoted: true, split: false }));
  }

  private async commandSubst(body: Node, io: Io): Promise<string> {
    const out = new CollectOutStream(64 * 1024 * 1024);
    const sub = this.clone();
    const sio: Io = new Map(io);
    sio.set(1, { out });
    let st: number;
    try {
      st = await sub.runIsolated(body, sio);
    } catch (e) {
      if (!isBrokenPipe(e)) throw e;
      st = 141;
    }
    this.substStatus = st;
    this.status = st;
    return out.text().replace(/\n+$/, '');
  }
}

interface Segment {
  text: string;
  quoted: boolean;
  /** Unquoted expansion result: subject to field splitting. */
  split: boolean;
  /** Separates the words of "$@". */
  boundary?: boolean;
}

/**
 * Brace expansion (`a{b,c}d` → `abd acd`), as mksh does by default, on the unquoted literal text
 * of a word. Returns the word itself when there is nothing to expand.
 */
function braceExpand(parts: WordPart[]): WordPart[][] {
  // Flatten: unquoted literal characters one by one, anything else as one token.
  type Tok = { ch: string } | { part: WordPart };
  const toks: Tok[] = [];
  for (const p of parts) {
    if (p.t === 'lit' && !p.q) for (const ch of p.v) toks.push({ ch });
    else toks.push({ part: p });
  }
  const isCh = (t: Tok | undefined, c: string) => t !== undefined && 'ch' in t && t.ch === c;
  const rebuild = (ts: Tok[]): WordPart[] => {
    const out: WordPart[] = [];
    for (const t of ts) {
      if ('part' in t) out.push(t.part);
      else {
        const last = out[out.length - 1];
        if (last && last.t === 'lit' && !last.q) out[out.length - 1] = { ...last, v: last.v + t.ch };
        else out.push({ t: 'lit', v: t.ch, q: false });
      }
    }
    return out;
  };
  const expand = (ts: Tok[], budget: { n: number }): Tok[][] => {
    for (let open = 0; open < ts.length; open++) {
      if (!isCh(ts[open], '{')) continue;
      let depth = 0;
      const commas: number[] = [];
      let close = -1;
      for (let i = open + 1; i < ts.length; i++) {
        if (isCh(ts[i], '{')) depth++;
        else if (isCh(ts[i], '}')) {
          if (depth === 0) {
            close = i;
            break;
          }
          depth--;
        } else if (depth === 0 && isCh(ts[i], ',')) commas.push(i);
      }
      if (close < 0) return [ts];
      if (commas.length === 0) continue;
      const prefix = ts.slice(0, open);
      const suffix = ts.slice(close + 1);
      const bounds = [open, ...commas, close];
      const results: Tok[][] = [];
      for (let k = 0; k + 1 < bounds.length; k++) {
        const alt = ts.slice(bounds[k]! + 1, bounds[k + 1]);
        for (const r of expand([...prefix, ...alt, ...suffix], budget)) {
          if (--budget.n < 0) return [ts];
          results.push(r);
        }
      }
      return results;
    }
    return [ts];
  };
  return expand(toks, { n: 4096 }).map(rebuild);
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

/** Splits the argument of `${x/pat/rep}` at the first unquoted `/`. */
function splitReplace(arg: Word): [Word, Word | null] {
  for (let i = 0; i < arg.parts.length; i++) {
    const p = arg.parts[i]!;
    if (p.t === 'lit' && !p.q) {
      const k = p.v.indexOf('/');
      if (k >= 0) {
        const before = p.v.slice(0, k);
        const after = p.v.slice(k + 1);
        const left: WordPart[] = [...arg.parts.slice(0, i), ...(before ? [{ ...p, v: before }] : [])];
        const right: WordPart[] = [...(after ? [{ ...p, v: after }] : []), ...arg.parts.slice(i + 1)];
        return [
          { parts: left, raw: '' },
          { parts: right, raw: '' },
        ];
      }
    }
  }
  return [arg, null];
}

function isAssignmentWord(w: Word): boolean {
  const first = w.parts[0];
  return !!first && first.t === 'lit' && !first.q && /^[A-Za-z_][A-Za-z0-9_]*\+?=/.test(first.v);
}

function shellQuote(s: string): string {
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// ------------------------------------------------------------------ builtins

type Builtin = (sh: Shell, argv: string[], io: Io) => Promise<number>;

function parseCount(s: string | undefined, what: string): number {
  if (s === undefined) return 1;
  if (!/^[0-9]+$/.test(s)) throw new ShellError(`${what}: ${s}: bad number`);
  return Number(s);
}

const BUILTINS: Record<string, Builtin> = {
  ':': async () => 0,
  true: async () => 0,
  false: async () => 1,

  /** mksh's echo: backslash escapes are interpreted unless -E. */
  async echo(sh, argv, io) {
    const args = argv.slice(1);
    let newline = true;
    let escapes = true;
    while (args.length && /^-[neE]+$/.test(args[0]!)) {
      for (const c of args.shift()!.slice(1)) {
        if (c === 'n') newline = false;
        else escapes = c === 'e';
      }
    }
    let text = args.join(' ');
    if (escapes) {
      const r = cEscapes(text, { octalNeedsZero: true });
      text = r.text;
      if (r.stop) newline = false;
    }
    await sh.write(io, 1, encodeMixed(newline ? `${text}\n` : text));
    return 0;
  },

  async cd(sh, argv, io) {
    const args = argv.slice(1).filter((a, i) => !(i === 0 && (a === '-L' || a === '-P')));
    let dir = args[0];
    let print = false;
    if (dir === undefined) dir = sh.getVar('HOME') ?? '/';
    else if (dir === '-') {
      dir = sh.getVar('OLDPWD') ?? sh.cwd;
      print = true;
    }
    const fs = sh.phone.fs;
    const path = fs.normalize(dir, sh.cwd);
    const st = fs.stat(path);
    let problem: string | null = null;
    if (!st) {
      try {
        fs.realpath(path, sh.uid);
        problem = 'No such file or directory';
      } catch (e) {
        problem = e instanceof VfsError ? e.message : 'No such file or directory';
      }
    } else if (st.type !== 'dir') problem = 'Not a directory';
    else if (!fs.access(path, X_OK, sh.uid)) problem = 'Permission denied';
    if (problem) {
      await sh.error(io, `cd: ${dir}: ${problem}`);
      return 2;
    }
    sh.vars.set('OLDPWD', sh.cwd);
    sh.cwd = path;
    sh.vars.set('PWD', path);
    if (print) await sh.write(io, 1, `${path}\n`);
    return 0;
  },

  async pwd(sh, argv, io) {
    const physical = argv.includes('-P');
    let p = sh.cwd;
    if (physical) {
      try {
        p = sh.phone.fs.realpath(p, sh.uid);
      } catch {
        // keep the logical path
      }
    }
    await sh.write(io, 1, `${p}\n`);
    return 0;
  },

  async export(sh, argv, io) {
    const args = argv.slice(1).filter((a) => a !== '-p' && a !== '--');
    if (args.length === 0) {
      const names = [...sh.exported].filter((n) => sh.vars.has(n)).sort();
      await sh.write(io, 1, names.map((n) => `export ${n}=${shellQuote(sh.vars.get(n)!)}\n`).join(''));
      return 0;
    }
    let st = 0;
    for (const a of args) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(\+?=)?(.*)$/s.exec(a);
      if (!m) {
        await sh.error(io, `export: ${a}: is not an identifier`);
        st = 1;
        continue;
      }
      const name = m[1]!;
      if (m[2]) sh.setVar(name, m[2] === '+=' ? (sh.getVar(name) ?? '') + m[3]! : m[3]!);
      sh.exported.add(name);
    }
    return st;
  },

  async readonly(sh, argv, io) {
    const args = argv.slice(1).filter((a) => a !== '-p');
    if (args.length === 0) {
      const names = [...sh.readonlyVars].sort();
      await sh.write(io, 1, names.map((n) => `readonly ${n}=${shellQuote(sh.vars.get(n) ?? '')}\n`).join(''));
      return 0;
    }
    for (const a of args) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(=(.*))?$/s.exec(a);
      if (!m) throw new ShellError(`readonly: ${a}: is not an identifier`);
      if (m[2] !== undefined) sh.setVar(m[1]!, m[3]!);
      sh.readonlyVars.add(m[1]!);
    }
    return 0;
  },

  async local(sh, argv) {
    const frame = sh.locals[sh.locals.length - 1];
    for (const a of argv.slice(1)) {
      if (a.startsWith('-')) continue;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(=(.*))?$/s.exec(a);
      if (!m) throw new ShellError(`local: ${a}: is not an identifier`);
      const name = m[1]!;
      if (frame && !frame.has(name)) frame.set(name, sh.vars.get(name));
      if (m[2] !== undefined) sh.setVar(name, m[3]!);
      else if (frame) sh.vars.delete(name);
    }
    return 0;
  },

  async unset(sh, argv) {
    let funcs = false;
    for (const a of argv.slice(1)) {
      if (a === '-f') funcs = true;
      else if (a === '-v') funcs = false;
      else if (funcs) sh.functions.delete(a);
      else sh.unsetVar(a);
    }
    return 0;
  },

  async exit(sh, argv) {
    const a = argv[1];
    if (a === undefined) throw new ExitSignal(sh.status & 255);
    if (!/^-?[0-9]+$/.test(a.trim())) throw new ShellError(`exit: ${a}: bad number`, 2);
    throw new ExitSignal(Number(a.trim()) & 255);
  },

  async return(sh, argv) {
    const a = argv[1];
    const st = a === undefined ? sh.status : /^-?[0-9]+$/.test(a) ? Number(a) & 255 : 1;
    if (sh.locals.length === 0) throw new ExitSignal(st);
    throw new ReturnSignal(st);
  },

  async break(sh, argv) {
    const n = parseCount(argv[1], 'break');
    if (sh.loopDepth === 0) return 0;
    throw new LoopSignal('break', Math.max(1, n));
  },

  async continue(sh, argv) {
    const n = parseCount(argv[1], 'continue');
    if (sh.loopDepth === 0) return 0;
    throw new LoopSignal('continue', Math.max(1, n));
  },

  async shift(sh, argv) {
    const n = parseCount(argv[1], 'shift');
    if (n > sh.positional.length) throw new ShellError(`shift: ${n}: bad number`);
    sh.positional = sh.positional.slice(n);
    return 0;
  },

  async set(sh, argv, io) {
    const args = argv.slice(1);
    if (args.length === 0) {
      const names = [...sh.vars.keys()].sort();
      await sh.write(io, 1, names.map((n) => `${n}=${shellQuote(sh.vars.get(n)!)}\n`).join(''));
      return 0;
    }
    const longNames: Record<string, keyof Shell['opts']> = {
      errexit: 'errexit',
      xtrace: 'xtrace',
      noglob: 'noglob',
      nounset: 'nounset',
      pipefail: 'pipefail',
    };
    const short: Record<string, keyof Shell['opts']> = {
      e: 'errexit',
      x: 'xtrace',
      f: 'noglob',
      u: 'nounset',
    };
    let i = 0;
    for (; i < args.length; i++) {
      const a = args[i]!;
      if (a === '--') {
        sh.positional = args.slice(i + 1);
        return 0;
      }
      if (a === '-o' || a === '+o') {
        const name = args[++i];
        if (name === undefined) {
          const lines = Object.entries(sh.opts).map(([k, v]) => `${k.padEnd(16)}${v ? 'on' : 'off'}\n`);
          await sh.write(io, 1, lines.join(''));
          continue;
        }
        const key = longNames[name];
        if (key) sh.opts[key] = a === '-o';
        continue;
      }
      if (/^[-+][A-Za-z]+$/.test(a)) {
        for (const c of a.slice(1)) {
          const key = short[c];
          if (key) sh.opts[key] = a[0] === '-';
        }
        continue;
      }
      break;
    }
    if (i < args.length) sh.positional = args.slice(i);
    return 0;
  },

  async eval(sh, argv, io) {
    const script = argv.slice(1).join(' ');
    let ast: Node;
    try {
      ast = parse(script);
    } catch (e) {
      if (e instanceof ShellSyntaxError) {
        await sh.error(io, `eval: syntax error: ${e.message}`);
        return 1;
      }
      throw e;
    }
    return sh.run(ast, io);
  },

  async exec(sh, argv, io) {
    const st = await sh.invoke(argv.slice(1), [], io, true);
    throw new ExitSignal(st);
  },

  async '.'(sh, argv, io) {
    const file = argv[1];
    if (file === undefined) throw new ShellError('.: missing argument');
    const fs = sh.phone.fs;
    let text: string;
    try {
      text = fs.readFile(fs.normalize(file, sh.physCwd()), sh.uid).toString('utf8');
    } catch (e) {
      await sh.error(io, `.: ${file}: ${errMessage(e)}`);
      return 1;
    }
    let ast: Node;
    try {
      ast = parse(text);
    } catch (e) {
      if (e instanceof ShellSyntaxError) {
        await sh.error(io, `${file}: syntax error: ${e.message}`);
        return 1;
      }
      throw e;
    }
    const saved = sh.positional;
    if (argv.length > 2) sh.positional = argv.slice(2);
    try {
      return await sh.run(ast, io);
    } finally {
      sh.positional = saved;
    }
  },

  async test(sh, argv, io) {
    return runTest(sh, argv.slice(1), io, 'test');
  },

  async '['(sh, argv, io) {
    if (argv[argv.length - 1] !== ']') {
      await sh.error(io, '[: missing ]');
      return 2;
    }
    return runTest(sh, argv.slice(1, -1), io, '[');
  },

  async type(sh, argv, io) {
    let st = 0;
    for (const name of argv.slice(1)) {
      const d = describe(sh, name);
      if (d === null) {
        await sh.write(io, 1, `${name} not found\n`);
        st = 1;
      } else await sh.write(io, 1, `${name} ${d.text}\n`);
    }
    return st;
  },

  async command(sh, argv, io) {
    let i = 1;
    let mode: '' | 'v' | 'V' = '';
    for (; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === '--') {
        i++;
        break;
      }
      if (!a.startsWith('-') || a === '-') break;
      if (a.includes('v')) mode = 'v';
      if (a.includes('V')) mode = 'V';
    }
    const rest = argv.slice(i);
    if (rest.length === 0) return 0;
    if (mode === '') return sh.invoke(rest, [], io, true);
    let st = 0;
    for (const name of rest) {
      const d = describe(sh, name);
      if (d === null) {
        if (mode === 'V') await sh.write(io, 1, `${name} not found\n`);
        st = 1;
      } else if (mode === 'v') await sh.write(io, 1, `${d.path}\n`);
      else await sh.write(io, 1, `${name} ${d.text}\n`);
    }
    return st;
  },

  async read(sh, argv, io) {
    let raw = false;
    let fd = 0;
    let delim = '\n';
    let prompt = '';
    const names: string[] = [];
    for (let i = 1; i < argv.length; i++) {
      const a = argv[i]!;
      if (names.length === 0 && a.startsWith('-') && a.length > 1) {
        for (let j = 1; j < a.length; j++) {
          const c = a[j]!;
          if (c === 'r') raw = true;
          else if (c === 's') continue;
          else if (c === 'u' || c === 'd' || c === 'p' || c === 't' || c === 'n' || c === 'N') {
            const v = a.slice(j + 1) || argv[++i] || '';
            if (c === 'u') fd = Number(v) || 0;
            else if (c === 'd') delim = v[0] ?? '\0';
            else if (c === 'p') prompt = v;
            break;
          }
        }
        continue;
      }
      names.push(a);
    }
    if (names.length === 0) names.push('REPLY');
    if (prompt) await sh.write(io, 2, prompt);
    const entry = io.get(fd);
    if (!entry?.in) return 1;
    const input = entry.in instanceof PushbackInStream ? entry.in : new PushbackInStream(entry.in);
    io.set(fd, { ...entry, in: input });
    const delimByte = Buffer.from(delim)[0] ?? 0;
    const bytes: Buffer[] = [];
    let gotDelim = false;
    for (;;) {
      const chunk = await input.read();
      if (chunk === null) break;
      const k = chunk.indexOf(delimByte);
      if (k < 0) {
        bytes.push(chunk);
        continue;
      }
      bytes.push(chunk.subarray(0, k));
      input.unread(chunk.subarray(k + 1));
      const line = Buffer.concat(bytes).toString('utf8');
      if (!raw && /(^|[^\\])(\\\\)*\\$/.test(line)) {
        // Line continuation: keep reading.
        bytes.length = 0;
        bytes.push(Buffer.from(line.slice(0, -1)));
        continue;
      }
      gotDelim = true;
      break;
    }
    const line = Buffer.concat(bytes).toString('utf8');
    if (!gotDelim && line === '') {
      for (const n of names) sh.setVar(n, '');
      return 1;
    }
    const fields = splitRead(line, names.length, sh.getVar('IFS') ?? ' \t\n', raw);
    names.forEach((n, k) => sh.setVar(n, fields[k] ?? ''));
    return gotDelim ? 0 : 1;
  },

  async wait(sh) {
    await Promise.all([...sh.rt.jobs]);
    return 0;
  },

  async trap(sh, argv, io) {
    const args = argv.slice(1).filter((a) => a !== '--');
    if (args.length === 0 || args[0] === '-p') {
      const lines = [...sh.traps].map(([sig, action]) => `trap -- ${shellQuote(action)} ${sig}\n`);
      await sh.write(io, 1, lines.join(''));
      return 0;
    }
    // `trap SIG` alone resets, like `trap - SIG`.
    const action = args.length === 1 || /^[0-9]+$/.test(args[0]!) ? '-' : args.shift()!;
    for (const raw of args) {
      const sig = raw.toUpperCase().replace(/^SIG/, '');
      const name = sig === '0' ? 'EXIT' : sig;
      if (action === '-') sh.traps.delete(name);
      else sh.traps.set(name, action);
    }
    return 0;
  },

  async umask(sh, argv, io) {
    const a = argv[1];
    if (a === undefined) {
      await sh.write(io, 1, `${sh.umask.toString(8).padStart(4, '0')}\n`);
      return 0;
    }
    if (/^[0-7]+$/.test(a)) sh.umask = parseInt(a, 8) & 0o777;
    return 0;
  },

  async let(sh, argv) {
    let v = 0;
    for (const expr of argv.slice(1)) {
      try {
        v = evalArith(expr, { get: (n) => sh.vars.get(n), set: (n, val) => sh.setVar(n, val) });
      } catch (e) {
        if (e instanceof ArithError) throw new ShellError(`let: ${expr}: ${e.message}`);
        throw e;
      }
    }
    return v !== 0 ? 0 : 1;
  },

  async alias() {
    return 0;
  },
  async unalias() {
    return 0;
  },

  async ulimit(sh, argv, io) {
    if (argv.length <= 2) await sh.write(io, 1, 'unlimited\n');
    return 0;
  },

  async shopt() {
    return 0;
  },
};
BUILTINS.source = BUILTINS['.']!;
BUILTINS.typeset = BUILTINS.local!;

/** Splits a line read by `read` into `count` fields (the last one takes the rest). */
function splitRead(line: string, count: number, ifs: string, raw: boolean): string[] {
  const chars: Array<{ c: string; esc: boolean }> = [];
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (!raw && c === '\\' && i + 1 < line.length) chars.push({ c: line[++i]!, esc: true });
    else chars.push({ c, esc: false });
  }
  const isIfs = (x: { c: string; esc: boolean }) => !x.esc && ifs.includes(x.c);
  const isWhite = (x: { c: string; esc: boolean }) =>
    isIfs(x) && (x.c === ' ' || x.c === '\t' || x.c === '\n');
  let i = 0;
  const skipWhite = () => {
    while (i < chars.length && isWhite(chars[i]!)) i++;
  };
  skipWhite();
  const fields: string[] = [];
  while (i < chars.length && fields.length < count - 1) {
    let cur = '';
    while (i < chars.length && !isIfs(chars[i]!)) cur += chars[i++]!.c;
    fields.push(cur);
    skipWhite();
    if (i < chars.length && isIfs(chars[i]!) && !isWhite(chars[i]!)) {
      i++;
      skipWhite();
    }
  }
  let end = chars.length;
  while (end > i && isWhite(chars[end - 1]!)) end--;
  if (i < end || fields.length < count)
    fields.push(
      chars
        .slice(i, end)
        .map((x) => x.c)
        .join(''),
    );
  return fields;
}

async function runTest(sh: Shell, args: string[], io: Io, name: string): Promise<number> {
  const r = evalTest(args, { fs: sh.phone.fs, cwd: sh.physCwd(), uid: sh.uid });
  if (r.status === 2) {
    await sh.error(io, `${name}: ${r.error}`);
    return 2;
  }
  return r.status;
}

function describe(sh: Shell, name: string): { text: string; path: string } | null {
  if (RESERVED_WORDS.has(name)) return { text: 'is a reserved word', path: name };
  if (sh.functions.has(name)) return { text: 'is a function', path: name };
  if (BUILTINS[name]) return { text: 'is a shell builtin', path: name };
  if (sh.lookup(name)) {
    const path = name.includes('/') ? sh.phone.fs.normalize(name, sh.physCwd()) : `/system/bin/${name}`;
    return { text: `is ${path}`, path };
  }
  return null;
}

/**
 * A shell whose state (variables, cwd, functions) persists across `run` calls: what `sh` reading
 * commands from its input uses, and what an interactive `adb shell` session can use.
 */
export class ShellSession {
  private readonly shell: Shell;
  private readonly io: Io;
  private exited: number | null = null;

  constructor(
    private readonly base: ScriptBase,
    rt?: Runtime,
  ) {
    let runtime = rt;
    if (!runtime) {
      const pid = pidCounter;
      pidCounter += 17;
      runtime = { phone: base.phone, signal: base.signal, ticks: 0, pid, nextPid: pid + 1, jobs: new Set() };
    }
    this.shell = new Shell(runtime, base);
    this.io = new Map<number, Fd>([
      [0, { in: base.stdin }],
      [1, { out: base.stdout }],
      [2, { out: base.stderr }],
    ]);
  }

  /** Set once `exit` ran: the status the shell exited with. */
  get exitStatus(): number | null {
    return this.exited;
  }

  /** The session's current directory. */
  get cwd(): string {
    return this.shell.cwd;
  }

  /** Runs the EXIT trap, if one was set. Never rejects. */
  async finish(): Promise<void> {
    const action = this.shell.traps.get('EXIT');
    if (action === undefined) return;
    this.shell.traps.delete('EXIT');
    const saved = this.shell.status;
    await this.run(action);
    this.shell.status = saved;
  }

  /** Runs a script in this session. Never rejects. */
  async run(script: string): Promise<number> {
    const sh = this.shell;
    try {
      let ast: Node;
      try {
        ast = parse(script);
      } catch (e) {
        if (e instanceof ShellSyntaxError) {
          await sh.error(this.io, `syntax error: ${e.message}`);
          sh.status = 1;
          return 1;
        }
        throw e;
      }
      return await sh.run(ast, this.io);
    } catch (e) {
      if (e instanceof ExitSignal) {
        this.exited = e.status;
        sh.status = e.status;
        return e.status;
      }
      if (e instanceof ReturnSignal) return e.status;
      if (e instanceof LoopSignal) return sh.status;
      if (e instanceof AbortedSignal || this.base.signal.aborted) return 130;
      if (isBrokenPipe(e)) return 141;
      if (e instanceof ShellError) {
        await sh.error(this.io, e.message).catch(() => undefined);
        return e.status;
      }
      console.error('[phonehome] sh: internal error:', e);
      await sh.error(this.io, `internal error: ${errMessage(e)}`).catch(() => undefined);
      return 1;
    }
  }
}
