/**
 * Helpers for the display tests: a Screen with MIUI's launcher and SystemUI's status bar, as every
 * virtual phone has them (apps/ registers them with the display; a bare Screen has neither).
 */
import type { Profile } from '../../../../src/virtual/profiles/load.ts';
import { Screen } from '../../../../src/virtual/display/screen.ts';
import { installSystemUi } from '../../../../src/virtual/apps/index.ts';

export function miuiScreen(profile: Profile): Screen {
  const screen = new Screen(profile);
  installSystemUi(screen);
  return screen;
}
