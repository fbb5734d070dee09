/**
 * An AlertDialog-like window over an activity: what `uiautomator dump` and UiAutomator2's page source
 * show while a dialog is in front. Android gives the focused (dialog) window to accessibility as the
 * active window, so the dump holds the dialog's window, not the activity below it (AOSP uiautomator
 * DumpCommand dumps getRootInActiveWindow(); the UiAutomator2 server without enableMultiWindows does
 * the same). Ids are AOSP's alert_dialog layout's: android:id/parentPanel, android:id/alertTitle,
 * android:id/message, android:id/button1 (positive), button2 (negative), button3 (neutral)
 * (frameworks/base core/res/res/layout/alert_dialog.xml; AlertDialog.BUTTON_POSITIVE = -1 → button1).
 *
 * The only dialog the virtual phones show is a profile's synthetic first-launch dialog
 * (profile-schema.ts firstLaunchDialog): which dialogs real MIUI apps show first is unknown
 * (android-realities.md §8).
 */
import type { DisplayMetrics } from './window.ts';
import type { UiNode } from './node.ts';
import { node, rect } from './node.ts';

export interface DialogSpec {
  /** The package whose window it is (the app's own dialog). */
  packageName: string;
  title: string;
  message: string;
  /** Positive, negative, neutral. */
  buttons: string[];
  /** BACK dismisses it (AOSP Dialog's default, setCancelable(true)). */
  cancelable: boolean;
  /** Called with the button's index when one is tapped; the dialog is then gone. */
  onButton?: (index: number) => void;
}

/** The dialog window: a dim full-screen decor (it takes the touches: modal) with the panel centred. */
export function buildDialogWindow(
  screen: DisplayMetrics,
  spec: DialogSpec,
  dismiss: (button: number) => void,
): UiNode {
  const w = screen.width;
  const margin = screen.dp(24);
  const pad = screen.dp(24);
  const titleH = screen.dp(48);
  const messageH = spec.message ? screen.dp(72) : 0;
  const buttonH = screen.dp(48);
  const panelH = pad + titleH + messageH + buttonH + pad;
  const top = Math.round((screen.height - panelH) / 2);
  const panel = rect(margin, top, w - margin, top + panelH);
  const inner = (t: number, h: number) => rect(panel.left + pad, t, panel.right - pad, t + h);
  const children: UiNode[] = [
    node('LinearLayout', {
      resourceId: 'android:id/topPanel',
      bounds: inner(panel.top + pad, titleH),
      children: [
        node('TextView', {
          resourceId: 'android:id/alertTitle',
          text: spec.title,
          bounds: inner(panel.top + pad, titleH),
          style: { textScale: 1.2 },
        }),
      ],
    }),
  ];
  if (spec.message) {
    children.push(
      node('ScrollView', {
        resourceId: 'android:id/scrollView',
        bounds: inner(panel.top + pad + titleH, messageH),
        children: [
          node('TextView', {
            resourceId: 'android:id/message',
            text: spec.message,
            bounds: inner(panel.top + pad + titleH, messageH),
          }),
        ],
      }),
    );
  }
  const barTop = panel.bottom - pad - buttonH;
  const n = spec.buttons.length;
  const bw = Math.floor((panel.right - panel.left - 2 * pad) / Math.max(1, n));
  // Laid out right to left as AOSP's button bar does: positive rightmost.
  const buttons = spec.buttons.map((label, i) => {
    const right = panel.right - pad - i * bw;
    return node('Button', {
      resourceId: `android:id/button${i + 1}`,
      text: label,
      clickable: true,
      focusable: true,
      bounds: rect(right - bw, barTop, right, barTop + buttonH),
      style: { foreground: 0x0d84ff },
      onTap: () => dismiss(i),
    });
  });
  children.push(
    node('LinearLayout', {
      resourceId: 'android:id/buttonPanel',
      bounds: rect(panel.left, barTop, panel.right, barTop + buttonH),
      children: buttons,
    }),
  );
  const root = node('FrameLayout', {
    bounds: rect(0, 0, w, screen.height),
    style: { background: 0x555555 },
    children: [
      node('FrameLayout', {
        resourceId: 'android:id/content',
        bounds: panel,
        children: [
          node('LinearLayout', {
            resourceId: 'android:id/parentPanel',
            bounds: panel,
            style: { background: 0xffffff, radius: screen.dp(16) },
            children,
          }),
        ],
      }),
    ],
  });
  fill(root, spec.packageName);
  return root;
}

function fill(n: UiNode, pkg: string): void {
  n.packageName = pkg;
  n.children.forEach((c) => fill(c, pkg));
}
