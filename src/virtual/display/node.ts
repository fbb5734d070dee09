/**
 * The UI node model: what `uiautomator dump`, `screencap`, `input` and (later) the emulated
 * UiAutomator2 server all read. A node mirrors an AccessibilityNodeInfo: class, ids, text, the
 * boolean flags in dump order, and screen bounds. Behaviour (tap, text change, scroll) hangs off
 * optional callbacks so app modules can build interactive screens from plain objects.
 *
 * Bounds are screen pixels, half-open like android.graphics.Rect: a point (x, y) is inside when
 * left <= x < right and top <= y < bottom.
 */

export interface Bounds {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** 0xRRGGBB colour. */
export type Rgb = number;

/** Rendering hints for `screencap`; none of this shows up in the XML dump. */
export interface NodeStyle {
  /** Fill colour of the node's box. */
  background?: Rgb;
  /** Vertical gradient fill (top colour, bottom colour); wins over background. */
  gradient?: [Rgb, Rgb];
  /** Text colour. */
  foreground?: Rgb;
  /** 1-2 px outline colour. */
  border?: Rgb;
  /** Rounded-square app icon of this colour above the text (launcher icons). */
  icon?: Rgb;
  /** Rounded corners radius in px for background/border. */
  radius?: number;
  /** Text scale relative to the screen's body text (1 = body, 2 = title ...). */
  textScale?: number;
  /** Horizontal text alignment; default: centre for buttons and icons, left otherwise. */
  align?: 'left' | 'center';
}

export interface UiNode {
  /** android.widget.TextView, android.widget.FrameLayout, android.widget.EditText ... */
  className: string;
  /** e.g. com.miui.home:id/workspace, '' if none */
  resourceId: string;
  text: string;
  contentDesc: string;
  packageName: string;
  checkable: boolean;
  checked: boolean;
  clickable: boolean;
  enabled: boolean;
  focusable: boolean;
  focused: boolean;
  scrollable: boolean;
  longClickable: boolean;
  password: boolean;
  selected: boolean;
  bounds: Bounds;
  children: UiNode[];
  /** EditText hint: reported as the text while the field is empty (Android 8+ behaviour). */
  hint?: string;
  /** false hides the node and its subtree from the dump, the screenshot and hit tests. */
  visible?: boolean;
  style?: NodeStyle;
  /** Called when tapped (after focus/checked handling). */
  onTap?: () => void;
  /** Called on a long press (`input swipe x y x y 800`). */
  onLongTap?: () => void;
  /** Scrollable nodes: called by a swipe starting inside; dx/dy are finger movement in px. */
  onScroll?: (dx: number, dy: number) => void;
  /** Editable nodes: called after `input text` / DEL changed the text. */
  onTextChange?: (text: string) => void;
  /** Editable nodes: called on KEYCODE_ENTER while focused. */
  onEnter?: () => void;
}

const SHORT_CLASSES: Record<string, string> = {
  View: 'android.view.View',
  ViewGroup: 'android.view.ViewGroup',
  WebView: 'android.webkit.WebView',
  RecyclerView: 'androidx.recyclerview.widget.RecyclerView',
  ViewPager: 'androidx.viewpager.widget.ViewPager',
};

/** Full class name for a short widget name: TextView -> android.widget.TextView. */
export function fullClassName(name: string): string {
  if (name.includes('.')) return name;
  return SHORT_CLASSES[name] ?? `android.widget.${name}`;
}

/** Node fields a builder may pass; everything but bounds has a default. */
export type NodeInit = Partial<Omit<UiNode, 'className' | 'bounds'>> & { bounds: Bounds };

/**
 * Builds a node with Android's defaults (enabled, everything else false/empty). `className` may
 * be short (`TextView`, `EditText`, `View`); packageName may be left '' and is filled in with
 * the window's package when the window is built.
 */
export function node(className: string, init: NodeInit): UiNode {
  return {
    resourceId: '',
    text: '',
    contentDesc: '',
    packageName: '',
    checkable: false,
    checked: false,
    clickable: false,
    enabled: true,
    focusable: false,
    focused: false,
    scrollable: false,
    longClickable: false,
    password: false,
    selected: false,
    children: [],
    ...init,
    className: fullClassName(className),
  };
}

// ---- geometry -------------------------------------------------------------------------------

export function rect(left: number, top: number, right: number, bottom: number): Bounds {
  return { left, top, right, bottom };
}

export function width(b: Bounds): number {
  return b.right - b.left;
}

export function height(b: Bounds): number {
  return b.bottom - b.top;
}

/** The point `input tap` at the centre of a node would use (what tests tap). */
export function centre(b: Bounds): { x: number; y: number } {
  return { x: Math.floor((b.left + b.right) / 2), y: Math.floor((b.top + b.bottom) / 2) };
}

export function contains(b: Bounds, x: number, y: number): boolean {
  return x >= b.left && x < b.right && y >= b.top && y < b.bottom;
}

export function isEmpty(b: Bounds): boolean {
  return b.right <= b.left || b.bottom <= b.top;
}

export function intersect(a: Bounds, b: Bounds): Bounds {
  return {
    left: Math.max(a.left, b.left),
    top: Math.max(a.top, b.top),
    right: Math.min(a.right, b.right),
    bottom: Math.min(a.bottom, b.bottom),
  };
}

/** `b` shrunk by dx on the left/right and dy on the top/bottom. */
export function inset(b: Bounds, dx: number, dy: number = dx): Bounds {
  return rect(b.left + dx, b.top + dy, b.right - dx, b.bottom - dy);
}

/** Splits `b` into rows of the given heights from the top; a negative height takes the rest. */
export function rows(b: Bounds, heights: number[]): Bounds[] {
  const fixed = heights.filter((h) => h >= 0).reduce((a, h) => a + h, 0);
  const flexible = heights.filter((h) => h < 0).length;
  const rest = flexible ? Math.max(0, height(b) - fixed) / flexible : 0;
  const out: Bounds[] = [];
  let y = b.top;
  heights.forEach((h, i) => {
    const end =
      i === heights.length - 1 && h < 0 ? b.bottom : Math.min(b.bottom, Math.round(y + (h < 0 ? rest : h)));
    out.push(rect(b.left, y, b.right, end));
    y = end;
  });
  return out;
}

/** `cols` x `rowCount` equal cells of `b`, row by row; adjacent cells share edges, never overlap. */
export function grid(b: Bounds, cols: number, rowCount: number): Bounds[] {
  const out: Bounds[] = [];
  const xs = Array.from({ length: cols + 1 }, (_, i) => Math.round(b.left + (width(b) * i) / cols));
  const ys = Array.from({ length: rowCount + 1 }, (_, i) => Math.round(b.top + (height(b) * i) / rowCount));
  for (let r = 0; r < rowCount; r++) {
    for (let c = 0; c < cols; c++) out.push(rect(xs[c]!, ys[r]!, xs[c + 1]!, ys[r + 1]!));
  }
  return out;
}

// ---- traversal ------------------------------------------------------------------------------

export function isVisible(n: UiNode): boolean {
  return n.visible !== false && !isEmpty(n.bounds);
}

/** Depth-first pre-order walk over visible nodes; return false from `fn` to skip a subtree. */
export function walk(
  root: UiNode,
  fn: (n: UiNode, parent: UiNode | null, depth: number) => boolean | void,
): void {
  const rec = (n: UiNode, parent: UiNode | null, depth: number): void => {
    if (!isVisible(n)) return;
    if (fn(n, parent, depth) === false) return;
    for (const c of n.children) rec(c, n, depth + 1);
  };
  rec(root, null, 0);
}

export function findAll(root: UiNode, pred: (n: UiNode) => boolean): UiNode[] {
  const out: UiNode[] = [];
  walk(root, (n) => {
    if (pred(n)) out.push(n);
  });
  return out;
}

export function find(root: UiNode, pred: (n: UiNode) => boolean): UiNode | undefined {
  let hit: UiNode | undefined;
  walk(root, (n) => {
    if (hit) return false;
    if (pred(n)) hit = n;
  });
  return hit;
}

export function byResourceId(root: UiNode, id: string): UiNode | undefined {
  return find(root, (n) => n.resourceId === id);
}

export function byText(root: UiNode, text: string): UiNode | undefined {
  return find(root, (n) => n.text === text);
}

/** Sets packageName on every node of the tree that has none. */
export function fillPackage(root: UiNode, pkg: string): void {
  const rec = (n: UiNode): void => {
    if (!n.packageName) n.packageName = pkg;
    n.children.forEach(rec);
  };
  rec(root);
}

export function isEditable(n: UiNode): boolean {
  return /EditText$|AutoCompleteTextView$/.test(n.className);
}

/**
 * Touch hit test like ViewGroup dispatch: children are tried topmost (last) first, and the
 * deepest clickable node containing the point wins; if nothing there is clickable, the deepest
 * node containing the point. Invisible nodes are skipped; a child only receives points inside
 * its parent (clipping).
 */
export function hitTest(root: UiNode, x: number, y: number): UiNode | null {
  const clickable = (n: UiNode): UiNode | null => {
    if (!isVisible(n) || !contains(n.bounds, x, y)) return null;
    for (let i = n.children.length - 1; i >= 0; i--) {
      const hit = clickable(n.children[i]!);
      if (hit) return hit;
    }
    return n.clickable ? n : null;
  };
  const deepest = (n: UiNode): UiNode | null => {
    if (!isVisible(n) || !contains(n.bounds, x, y)) return null;
    for (let i = n.children.length - 1; i >= 0; i--) {
      const hit = deepest(n.children[i]!);
      if (hit) return hit;
    }
    return n;
  };
  return clickable(root) ?? deepest(root);
}

/** Clears `focused` everywhere in the tree and sets it on `target` (if given). */
export function setFocus(root: UiNode, target: UiNode | null): void {
  const rec = (n: UiNode): void => {
    n.focused = n === target;
    n.children.forEach(rec);
  };
  rec(root);
}

export function findFocused(root: UiNode): UiNode | undefined {
  return find(root, (n) => n.focused);
}
