/**
 * Window scaffolding shared by app screens: the DecorView-like root, the content frame below the
 * status bar, an action bar with a title, and the generic activity used for apps nobody modelled.
 */
import type { Bounds, NodeStyle, UiNode } from './node.ts';
import type { ActivityRecord, Intent } from './activity.ts';
import { node, rect } from './node.ts';
import { appLabel } from './labels.ts';

/**
 * What a window's layout needs of the display (Screen has it): declared here so that the window
 * and dialog builders do not import the Screen that uses them.
 */
export interface DisplayMetrics {
  readonly width: number;
  readonly height: number;
  readonly statusBarHeight: number;
  /** dp -> px at the display density. */
  dp(v: number): number;
}

export interface WindowParts {
  /** The full-display root (decor) to return from a builder. */
  root: UiNode;
  /** android:id/content: add the app's views here. */
  content: UiNode;
  /** Area below the status bar (and below the action bar, when there is one). */
  body: Bounds;
}

/**
 * A window: FrameLayout (decor) > LinearLayout > FrameLayout android:id/content; with `title`, an
 * action bar holding a TextView sits at the top of the content frame.
 */
export function appWindow(
  screen: DisplayMetrics,
  opts: {
    title?: string;
    titleId?: string;
    background?: number;
    fullscreen?: boolean;
    style?: NodeStyle;
  } = {},
): WindowParts {
  const full = rect(0, 0, screen.width, screen.height);
  const contentTop = opts.fullscreen ? 0 : screen.statusBarHeight;
  const contentBounds = rect(0, contentTop, screen.width, screen.height);
  const content = node('FrameLayout', { resourceId: 'android:id/content', bounds: contentBounds });
  let bodyTop = contentTop;
  if (opts.title !== undefined) {
    const barH = screen.dp(56);
    const bar = rect(0, contentTop, screen.width, contentTop + barH);
    content.children.push(
      node('ViewGroup', {
        resourceId: 'android:id/action_bar',
        bounds: bar,
        style: { background: 0xffffff },
        children: [
          node('TextView', {
            resourceId: opts.titleId ?? '',
            text: opts.title,
            bounds: rect(screen.dp(16), bar.top, screen.width - screen.dp(16), bar.bottom),
            style: { textScale: 1.4 },
          }),
        ],
      }),
    );
    bodyTop = bar.bottom;
  }
  const root = node('FrameLayout', {
    bounds: full,
    style: opts.style ?? { background: opts.background ?? 0xffffff },
    children: [node('LinearLayout', { bounds: full, children: [content] })],
  });
  return { root, content, body: rect(0, bodyTop, screen.width, screen.height) };
}

/** The window of an app activity nobody registered: blank, with the app label as its title. */
export function genericActivity(screen: DisplayMetrics, _intent: Intent, record: ActivityRecord): UiNode {
  return appWindow(screen, { title: appLabel(record.packageName) }).root;
}
