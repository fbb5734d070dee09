/** A fake Device for the ADB-only driver: records every shell call and answers from a script. */
import type { ShellResult } from '../../../src/device/device.ts';
import type { UiDevice } from '../../../src/ui/adb/driver.ts';

export type Answer = Partial<ShellResult> | ((cmd: string | readonly string[]) => Partial<ShellResult>);

export class FakeDevice implements UiDevice {
  readonly serial = 'fake-serial-1';
  readonly calls: Array<string | readonly string[]> = [];
  /** Answers for `uiautomator dump` commands, used in order (the last repeats). */
  dumps: Answer[] = [];
  /** Answers by argv[0] (`input`, `am`, `wm`, `rm`). */
  answers: Record<string, Answer> = {};
  private dumpIndex = 0;

  async shell(cmd: string | readonly string[]): Promise<ShellResult> {
    this.calls.push(cmd);
    let a: Answer | undefined;
    if (typeof cmd === 'string' && cmd.includes('uiautomator')) {
      a = this.dumps[Math.min(this.dumpIndex++, this.dumps.length - 1)];
    } else if (typeof cmd !== 'string') a = this.answers[cmd[0]!];
    const r = typeof a === 'function' ? a(cmd) : (a ?? {});
    return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', exitCode: r.exitCode ?? 0 };
  }

  async screenshot(): Promise<Buffer> {
    return Buffer.from('89504e470d0a1a0a', 'hex');
  }

  /** The argv calls (not the dump shell lines). */
  argvCalls(): string[][] {
    return this.calls.filter((c): c is readonly string[] => typeof c !== 'string').map((c) => [...c]);
  }
}

const DECL = "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>";

export interface N {
  cls?: string;
  id?: string;
  text?: string;
  desc?: string;
  checked?: boolean;
  focused?: boolean;
  bounds: [number, number, number, number];
  kids?: N[];
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function nodeXml(n: N, index: number): string {
  const [l, t, r, b] = n.bounds;
  const attrs =
    `index="${index}" text="${esc(n.text ?? '')}" resource-id="${esc(n.id ?? '')}" class="${n.cls ?? 'android.widget.TextView'}"` +
    ` package="com.example" content-desc="${esc(n.desc ?? '')}" checkable="${n.checked !== undefined}" checked="${!!n.checked}"` +
    ` clickable="true" enabled="true" focusable="true" focused="${!!n.focused}" scrollable="false" long-clickable="false"` +
    ` password="false" selected="false" bounds="[${l},${t}][${r},${b}]"`;
  const kids = n.kids ?? [];
  return kids.length
    ? `<node ${attrs}>${kids.map((k, i) => nodeXml(k, i)).join('')}</node>`
    : `<node ${attrs} />`;
}

/** `uiautomator dump` output for a tree (as the file's content plus the tool's message). */
export function dumpOf(root: N, file = '/data/local/tmp/x.xml'): string {
  return `UI hierchary dumped to: ${file}\n${DECL}<hierarchy rotation="0">${nodeXml(root, 0)}</hierarchy>`;
}
