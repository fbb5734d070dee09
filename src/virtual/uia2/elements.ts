/**
 * Element ids. An id names one node of one screen (the window of one activity instance, or the
 * status bar) for that screen's lifetime: finding the same node again gives the same id. Windows
 * are rebuilt from their state (some on every read), so a node is looked up by identity first and
 * then by its place in the tree (child indexes, class and resource-id; text and content-desc too
 * when it has no resource-id). A node that is gone, or whose window is no longer in front, is
 * stale.
 */
import { randomUUID } from 'node:crypto';
import type { Screen } from '../display/screen.ts';
import type { UiNode } from '../display/node.ts';
import type { ElNode, Snapshot } from './tree.ts';
import { atPath, snapshot } from './tree.ts';
import { staleElement } from './errors.ts';

const SYSTEM_UI = 'com.android.systemui';

interface ElementRef {
  id: string;
  /** The activity instance (ActivityRecord.id) whose window holds the node, or 'systemui'. */
  owner: number | 'systemui';
  path: number[];
  className: string;
  resourceId: string;
  text: string;
  contentDesc: string;
  node: WeakRef<UiNode>;
}

export class ElementStore {
  private readonly byId = new Map<string, ElementRef>();
  private readonly byKey = new Map<string, string>();

  constructor(private readonly screen: Screen) {}

  /** The hierarchy as it is now. */
  snapshot(): Snapshot {
    return snapshot(this.screen.root(), this.screen.width, this.screen.height);
  }

  private ownerOf(el: ElNode): number | 'systemui' {
    return el.node.packageName === SYSTEM_UI ? 'systemui' : this.screen.resumed().id;
  }

  private key(owner: number | 'systemui', el: ElNode): string {
    return `${owner}|${el.path.join('.')}|${el.node.className}|${el.node.resourceId}`;
  }

  /** The id of a node of `snap` (the same id as before for the same node of the same screen). */
  idOf(el: ElNode): string {
    const owner = this.ownerOf(el);
    const key = this.key(owner, el);
    const known = this.byKey.get(key);
    const ref = known ? this.byId.get(known) : undefined;
    if (ref && this.matches(ref, el)) {
      ref.node = new WeakRef(el.node);
      ref.text = el.node.text;
      ref.contentDesc = el.node.contentDesc;
      return ref.id;
    }
    const id = randomUUID();
    this.byId.set(id, {
      id,
      owner,
      path: el.path,
      className: el.node.className,
      resourceId: el.node.resourceId,
      text: el.node.text,
      contentDesc: el.node.contentDesc,
      node: new WeakRef(el.node),
    });
    this.byKey.set(key, id);
    return id;
  }

  private matches(ref: ElementRef, el: ElNode): boolean {
    if (ref.node.deref() === el.node) return true;
    const n = el.node;
    if (n.className !== ref.className || n.resourceId !== ref.resourceId) return false;
    return !!n.resourceId || (n.text === ref.text && n.contentDesc === ref.contentDesc);
  }

  /** The node an id names in `snap`; throws `stale element reference` when it is gone. */
  resolve(id: string, snap: Snapshot): ElNode {
    const ref = this.byId.get(id);
    if (!ref) throw staleElement(id);
    if (ref.owner !== 'systemui' && ref.owner !== this.screen.resumed().id) throw staleElement(id);
    const live = ref.node.deref();
    const el = (live && snap.byNode.get(live)) ?? atPath(snap, ref.path);
    if (!el || !this.matches(ref, el) || this.ownerOf(el) !== ref.owner) throw staleElement(id);
    ref.node = new WeakRef(el.node);
    return el;
  }

  clear(): void {
    this.byId.clear();
    this.byKey.clear();
  }
}
