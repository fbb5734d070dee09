/**
 * Mi Browser's look (views.ts draws with it): the colours of its light theme and of incognito's dark
 * one, the colours both share, the main sizes in dp and the text scales of the bitmap font.
 */

/** What changes between the light theme and incognito's dark one. */
export interface BrowserPalette {
  /** Text and toolbar icons. */
  text: number;
  /** The window, the address bar strip and the page. */
  window: number;
  /** The address field. */
  field: number;
  /** The menu panel. */
  menu: number;
  /** The bottom toolbar. */
  toolbar: number;
  /** Behind the tab cards. */
  tabSwitcher: number;
  /** A tab's card. */
  card: number;
}

const LIGHT: BrowserPalette = {
  text: 0x202124,
  window: 0xffffff,
  field: 0xf1f3f4,
  menu: 0xffffff,
  toolbar: 0xf8f9fa,
  tabSwitcher: 0xe8eaed,
  card: 0xffffff,
};

const DARK: BrowserPalette = {
  text: 0xe8eaed,
  window: 0x202124,
  field: 0x35363a,
  menu: 0x35363a,
  toolbar: 0x292a2d,
  tabSwitcher: 0x202124,
  card: 0x3c4043,
};

/** The palette of the light theme, or of incognito's dark one. */
export function palette(dark: boolean): BrowserPalette {
  return dark ? DARK : LIGHT;
}

/** Colours both themes share. */
export const COLOURS = {
  /** Progress bar, buttons, the current tab's border. */
  accent: 0x1a73e8,
  /** Text on an accent background. */
  onAccent: 0xffffff,
  /** Disabled toolbar buttons, URLs under tab titles, error codes. */
  muted: 0x9aa0a6,
  /** The "Incognito" badge and the incognito home page's description. */
  incognitoText: 0xbdc1c6,
  /** The "Mi Browser" logo on the home page. */
  logo: 0xff6a00,
  speedDialIcon: 0x4285f4,
  /** Border of a tab card that is not the current one. */
  cardBorder: 0xdadce0,
  /** The dimmed page behind the open menu. */
  scrim: 0x5f6368,
} as const;

/** Sizes in dp (screen.dp() turns them into pixels). */
export const SIZES = {
  /** The address bar and the bottom toolbar. */
  barHeight: 56,
  toolbarHeight: 56,
  /** Corner radius of the address field. */
  fieldRadius: 20,
  /** Padding of the page and one line of page text. */
  pagePadding: 16,
  lineHeight: 40,
  /** The tab switcher: padding, a card's height, the "New tab" button. */
  tabPadding: 12,
  tabCardHeight: 160,
  newTabHeight: 56,
  /** One row of the menu, one row of the settings list. */
  menuItemHeight: 56,
  settingsRowHeight: 72,
  /** The loading bar over the page. */
  progressHeight: 3,
} as const;

/** Text scales of the bitmap font (1 = body text). */
export const TEXT = {
  /** The logo and the incognito home page's title. */
  headline: 2,
  /** A page's title and "This site can't be reached". */
  pageTitle: 1.3,
  /** The "Incognito" badge and a tab card's URL. */
  small: 0.8,
  speedDial: 0.75,
} as const;
