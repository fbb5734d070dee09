/**
 * Mi Browser's windows, hand-placed (bounds in px from the screen's dp): the main activity (address
 * bar, the page or the home page with its speed dial, the tab switcher, the menu, the bottom
 * toolbar) and the settings activity (search engine, incognito switches). They read the browser's
 * state (model.ts) and call its actions; colours, sizes and text scales come from theme.ts.
 */
import type { ActivityRecord, Screen } from '../../display/screen.ts';
import type { UiNode } from '../../display/node.ts';
import type { BrowserScreens, MiBrowser, SearchEngineId, Tab } from './model.ts';
import { BROWSER_SETTINGS_ACTIVITY, PREF_ENHANCED_INCOGNITO, SEARCH_ENGINES } from './model.ts';
import { appWindow } from '../../display/window.ts';
import { grid, node, rect } from '../../display/node.ts';
import { headerRow, linkRow, listRows, radioRow, switchRow } from '../widgets.ts';
import { COLOURS, SIZES, TEXT, palette } from './theme.ts';

/** The browser's two windows for `browser`, as register() takes them. */
export function browserScreens(browser: MiBrowser): BrowserScreens {
  return {
    main: (s, r) => buildMain(browser, s, r),
    settings: (s, r) => buildSettings(browser, s, r),
  };
}

/** The home page's speed-dial tiles: label and URL. */
const SPEED_DIAL: Array<[string, string]> = [
  ['Google', 'https://www.google.com/'],
  ['YouTube', 'https://m.youtube.com/'],
  ['Facebook', 'https://m.facebook.com/'],
  ['Wikipedia', 'https://www.wikipedia.org/'],
];

function buildMain(browser: MiBrowser, s: Screen, _record: ActivityRecord): UiNode {
  const incognito = browser.incognito;
  const tab = browser.tab();
  const dark = incognito;
  const theme = palette(dark);
  const fg = theme.text;
  const w = appWindow(s, { background: theme.window });
  const body = w.body;
  const barH = s.dp(SIZES.barHeight);
  const toolH = s.dp(SIZES.toolbarHeight);
  const bar = rect(0, body.top, s.width, body.top + barH);
  const tool = rect(0, s.height - toolH, s.width, s.height);
  const content = rect(0, bar.bottom, s.width, tool.top);

  // Address bar.
  const barKids: UiNode[] = [];
  let urlLeft = s.dp(12);
  if (incognito) {
    barKids.push(
      node('TextView', {
        resourceId: browser.id('incognito_indicator'),
        text: 'Incognito',
        bounds: rect(s.dp(8), bar.top, s.dp(96), bar.bottom),
        style: { foreground: COLOURS.incognitoText, textScale: TEXT.small },
      }),
    );
    urlLeft = s.dp(100);
  }
  const url = tab.history[tab.index] ?? '';
  const field = node('EditText', {
    resourceId: browser.id('url'),
    text: url,
    hint: 'Search or type URL',
    clickable: true,
    focusable: true,
    longClickable: true,
    bounds: rect(urlLeft, bar.top + s.dp(8), s.width - s.dp(12), bar.bottom - s.dp(8)),
    style: { background: theme.field, foreground: fg, radius: s.dp(SIZES.fieldRadius) },
  });
  // Focusing the bar selects its text: typing replaces it.
  field.onTap = () => {
    browser.editing = true;
    field.text = '';
  };
  field.onTextChange = () => {
    browser.editing = true;
  };
  field.onEnter = () => browser.submit(field.text);
  barKids.push(field);
  const addressBar = node('FrameLayout', {
    resourceId: browser.id('title_bar'),
    bounds: bar,
    style: { background: theme.window },
    children: barKids,
  });

  // Content.
  let contentKids: UiNode[];
  if (browser.view === 'tabs') contentKids = buildTabs(browser, s, content, dark);
  else if (browser.view === 'menu') contentKids = buildMenu(browser, s, content, dark);
  else contentKids = buildPage(browser, s, content, tab, dark);

  // Bottom toolbar.
  const cells = grid(tool, 5, 1);
  const button = (
    i: number,
    name: string,
    desc: string,
    enabled: boolean,
    onTap: () => void,
    text = '',
  ): UiNode =>
    node('ImageButton', {
      resourceId: browser.id(name),
      contentDesc: desc,
      text,
      clickable: true,
      focusable: true,
      enabled,
      bounds: cells[i]!,
      style: { foreground: enabled ? fg : COLOURS.muted },
      onTap,
    });
  const toolbar = node('LinearLayout', {
    resourceId: browser.id('bottom_bar'),
    bounds: tool,
    style: { background: theme.toolbar },
    children: [
      button(0, 'toolbar_back', 'Back', tab.index > 0, () => void browser.go(-1)),
      button(1, 'toolbar_forward', 'Forward', tab.index < tab.history.length - 1, () => void browser.go(1)),
      button(2, 'toolbar_home', 'Home', true, () => browser.load('')),
      button(
        3,
        'toolbar_tabs',
        'Tabs',
        true,
        () => {
          browser.view = browser.view === 'tabs' ? 'page' : 'tabs';
          browser.refresh();
        },
        String(browser.tabSet().length),
      ),
      button(4, 'toolbar_menu', 'Menu', true, () => {
        browser.view = browser.view === 'menu' ? 'page' : 'menu';
        browser.refresh();
      }),
    ],
  });
  w.content.children.push(
    addressBar,
    node('FrameLayout', { resourceId: browser.id('main_content'), bounds: content, children: contentKids }),
    toolbar,
  );
  return w.root;
}

function buildPage(
  browser: MiBrowser,
  s: Screen,
  area: ReturnType<typeof rect>,
  tab: Tab,
  dark: boolean,
): UiNode[] {
  const theme = palette(dark);
  const fg = theme.text;
  const pad = s.dp(SIZES.pagePadding);
  const line = (i: number, h = s.dp(SIZES.lineHeight)): ReturnType<typeof rect> =>
    rect(area.left + pad, area.top + pad + i * h, area.right - pad, area.top + pad + (i + 1) * h);
  if (tab.status === 'home') {
    if (tab.incognito) {
      return [
        node('TextView', {
          resourceId: browser.id('incognito_title'),
          text: 'Incognito',
          bounds: line(1, s.dp(56)),
          style: { foreground: fg, textScale: TEXT.headline, align: 'center' },
        }),
        node('TextView', {
          resourceId: browser.id('incognito_description'),
          text: "Pages you view in incognito tabs won't stay in your history or cookies after you close them.",
          bounds: rect(
            area.left + pad,
            area.top + pad + s.dp(120),
            area.right - pad,
            area.top + pad + s.dp(200),
          ),
          style: { foreground: COLOURS.incognitoText },
        }),
      ];
    }
    const dialArea = rect(area.left + pad, area.top + s.dp(96), area.right - pad, area.top + s.dp(200));
    const cells = grid(dialArea, SPEED_DIAL.length, 1);
    return [
      node('TextView', {
        resourceId: browser.id('logo'),
        text: 'Mi Browser',
        bounds: line(0, s.dp(64)),
        style: { foreground: COLOURS.logo, textScale: TEXT.headline, align: 'center' },
      }),
      node('GridView', {
        resourceId: browser.id('speed_dial'),
        bounds: dialArea,
        children: SPEED_DIAL.map(([label, url], i) =>
          node('TextView', {
            resourceId: browser.id('speed_dial_item'),
            text: label,
            contentDesc: label,
            clickable: true,
            focusable: true,
            bounds: rect(
              cells[i]!.left + s.dp(4),
              cells[i]!.top,
              cells[i]!.right - s.dp(4),
              cells[i]!.bottom,
            ),
            style: { icon: COLOURS.speedDialIcon, foreground: fg, textScale: TEXT.speedDial },
            onTap: () => browser.load(url),
          }),
        ),
      }),
    ];
  }
  const kids: UiNode[] = [];
  if (tab.status === 'loading') {
    kids.push(
      node('ProgressBar', {
        resourceId: browser.id('progress'),
        bounds: rect(area.left, area.top, area.right, area.top + s.dp(SIZES.progressHeight)),
        style: { background: COLOURS.accent },
      }),
    );
  }
  const web: UiNode[] = [];
  if (tab.status === 'error') {
    web.push(
      node('View', {
        text: "This site can't be reached",
        bounds: line(1),
        style: { foreground: fg, textScale: TEXT.pageTitle },
      }),
      node('View', { text: tab.error, bounds: line(2), style: { foreground: COLOURS.muted } }),
      node('Button', {
        resourceId: browser.id('reload'),
        text: 'Reload',
        clickable: true,
        focusable: true,
        bounds: rect(area.left + pad, line(4).top, area.left + pad + s.dp(120), line(4).bottom),
        style: { background: COLOURS.accent, foreground: COLOURS.onAccent, radius: s.dp(4) },
        onTap: () => browser.reload(),
      }),
    );
  } else if (tab.status === 'loaded') {
    web.push(
      node('View', {
        text: tab.title,
        bounds: line(0),
        style: { foreground: fg, textScale: TEXT.pageTitle },
      }),
    );
    if (tab.text) {
      web.push(
        node('View', {
          text: tab.text,
          bounds: rect(
            area.left + pad,
            line(1).top,
            area.right - pad,
            Math.min(area.bottom, line(1).top + s.dp(240)),
          ),
          style: { foreground: fg },
        }),
      );
    }
  }
  kids.push(
    node('WebView', {
      resourceId: browser.id('webview'),
      contentDesc: tab.status === 'loading' ? 'Loading' : tab.title,
      focusable: true,
      bounds: rect(
        area.left,
        area.top + (tab.status === 'loading' ? s.dp(SIZES.progressHeight) : 0),
        area.right,
        area.bottom,
      ),
      style: { background: theme.window },
      children: web,
    }),
  );
  return kids;
}

function buildTabs(browser: MiBrowser, s: Screen, area: ReturnType<typeof rect>, dark: boolean): UiNode[] {
  const set = browser.tabSet();
  const cur = browser.tab();
  const pad = s.dp(SIZES.tabPadding);
  const newH = s.dp(SIZES.newTabHeight);
  const listArea = rect(area.left + pad, area.top + pad, area.right - pad, area.bottom - newH - pad * 2);
  const cardH = s.dp(SIZES.tabCardHeight);
  const rowsFit = Math.max(1, Math.floor((listArea.bottom - listArea.top) / cardH));
  const cells = grid(
    rect(listArea.left, listArea.top, listArea.right, listArea.top + rowsFit * cardH),
    2,
    rowsFit,
  );
  const cards = set.slice(0, cells.length).map((t, i) => {
    const c = cells[i]!;
    const card = rect(c.left + s.dp(4), c.top + s.dp(4), c.right - s.dp(4), c.bottom - s.dp(4));
    const closeSize = s.dp(40);
    return node('FrameLayout', {
      resourceId: browser.id('tab_item'),
      contentDesc: browser.tabTitle(t),
      clickable: true,
      focusable: true,
      selected: t === cur,
      bounds: card,
      style: {
        background: palette(t.incognito).card,
        border: t === cur ? COLOURS.accent : COLOURS.cardBorder,
        radius: s.dp(8),
      },
      onTap: () => {
        browser.select(t);
        browser.view = 'page';
        browser.refresh();
      },
      children: [
        node('TextView', {
          resourceId: browser.id('tab_title'),
          text: t.incognito ? 'Incognito' : browser.tabTitle(t),
          bounds: rect(card.left + s.dp(8), card.top, card.right - closeSize - s.dp(4), card.top + s.dp(40)),
          style: { foreground: palette(t.incognito).text },
        }),
        node('TextView', {
          resourceId: browser.id('tab_url'),
          text: t.incognito && t.status !== 'home' ? browser.tabTitle(t) : (t.history[t.index] ?? ''),
          bounds: rect(card.left + s.dp(8), card.top + s.dp(44), card.right - s.dp(8), card.bottom - s.dp(8)),
          style: { foreground: COLOURS.muted, textScale: TEXT.small },
        }),
        node('ImageView', {
          resourceId: browser.id('tab_close'),
          contentDesc: 'Close tab',
          clickable: true,
          bounds: rect(card.right - closeSize, card.top, card.right, card.top + closeSize),
          onTap: () => browser.closeTab(t),
        }),
      ],
    });
  });
  return [
    node('FrameLayout', {
      resourceId: browser.id('tab_switcher'),
      bounds: area,
      style: { background: palette(dark).tabSwitcher },
      children: [
        node('GridView', {
          resourceId: browser.id('tab_list'),
          bounds: listArea,
          scrollable: set.length > cells.length,
          children: cards,
        }),
        node('Button', {
          resourceId: browser.id('tab_new'),
          text: browser.incognito ? 'New incognito tab' : 'New tab',
          clickable: true,
          focusable: true,
          bounds: rect(area.left + pad, area.bottom - newH - pad, area.right - pad, area.bottom - pad),
          style: { background: COLOURS.accent, foreground: COLOURS.onAccent, radius: s.dp(28) },
          onTap: () => browser.newTab(),
        }),
      ],
    }),
  ];
}

function buildMenu(browser: MiBrowser, s: Screen, area: ReturnType<typeof rect>, dark: boolean): UiNode[] {
  const itemH = s.dp(SIZES.menuItemHeight);
  const items: Array<{
    id: string;
    text: string;
    checkable?: boolean;
    checked?: boolean;
    onTap: () => void;
  }> = [
    { id: 'menu_new_tab', text: 'New tab', onTap: () => browser.newTab() },
    {
      id: 'menu_incognito',
      text: 'Incognito mode',
      checkable: true,
      checked: browser.incognito,
      onTap: () => browser.setIncognito(!browser.incognito),
    },
    {
      id: 'menu_settings',
      text: 'Settings',
      onTap: () => {
        browser.view = 'page';
        browser.refresh();
        s.startActivity(`${browser.pkg}/${BROWSER_SETTINGS_ACTIVITY}`, {
          component: `${browser.pkg}/${BROWSER_SETTINGS_ACTIVITY}`,
        });
      },
    },
  ];
  const panel = rect(area.left, area.bottom - items.length * itemH - s.dp(16), area.right, area.bottom);
  const rows = listRows(
    s,
    rect(panel.left, panel.top + s.dp(8), panel.right, panel.bottom - s.dp(8)),
    items.length,
    itemH,
  );
  return [
    node('View', {
      resourceId: browser.id('menu_outside'),
      contentDesc: 'Close menu',
      clickable: true,
      bounds: rect(area.left, area.top, area.right, panel.top),
      style: { background: COLOURS.scrim },
      onTap: () => {
        browser.view = 'page';
        browser.refresh();
      },
    }),
    node('LinearLayout', {
      resourceId: browser.id('menu_panel'),
      bounds: panel,
      style: { background: palette(dark).menu },
      children: items.map((it, i) =>
        node(it.checkable ? 'CheckedTextView' : 'TextView', {
          resourceId: browser.id(it.id),
          text: it.text,
          clickable: true,
          focusable: true,
          checkable: !!it.checkable,
          checked: !!it.checked,
          bounds: rows[i]!,
          style: { foreground: palette(dark).text },
          onTap: it.onTap,
        }),
      ),
    }),
  ];
}

function buildSettings(browser: MiBrowser, s: Screen, record: ActivityRecord): UiNode {
  const view = record.state.get('view') === 'engine' ? 'engine' : 'main';
  const w = appWindow(s, {
    title: view === 'engine' ? 'Search engine' : 'Settings',
    titleId: browser.id('title'),
  });
  const rowH = s.dp(SIZES.settingsRowHeight);
  const area = rect(0, w.body.top + s.dp(8), s.width, s.height);
  if (view === 'engine') {
    const ids = Object.keys(SEARCH_ENGINES) as SearchEngineId[];
    const rows = listRows(s, area, ids.length, rowH);
    const cur = browser.engine();
    w.content.children.push(
      node('ListView', {
        resourceId: browser.id('engine_list'),
        bounds: rect(0, area.top, s.width, rows[rows.length - 1]!.bottom),
        children: ids.map((id, i) =>
          radioRow(s, rows[i]!, {
            title: SEARCH_ENGINES[id].label,
            checked: id === cur,
            onTap: () => {
              browser.setEngine(id);
              record.state.set('view', 'main');
            },
          }),
        ),
      }),
    );
    return w.root;
  }
  const entries: Array<(row: ReturnType<typeof rect>) => UiNode> = [
    (row) => headerRow(s, row, 'Basic settings'),
    (row) =>
      linkRow(s, row, {
        title: 'Search engine',
        summary: SEARCH_ENGINES[browser.engine()].label,
        resourceId: browser.id('pref_search_engine'),
        onTap: () => record.state.set('view', 'engine'),
      }),
    (row) => headerRow(s, row, 'Privacy & security'),
    (row) =>
      switchRow(s, row, {
        title: 'Incognito mode',
        summary: "Don't save history of the pages you visit",
        resourceId: browser.id('pref_incognito_mode'),
        checked: browser.incognito,
        onToggle: () => browser.setIncognito(!browser.incognito),
      }),
  ];
  if (browser.hasEnhancedIncognito) {
    entries.push((row) =>
      switchRow(s, row, {
        title: 'Enhanced incognito mode',
        summary: 'Share usage statistics while in incognito mode',
        resourceId: browser.id('pref_enhanced_incognito_mode'),
        checked: browser.browserPrefs.get(PREF_ENHANCED_INCOGNITO) ?? true,
        onToggle: () =>
          browser.setEnhancedIncognito(!(browser.browserPrefs.get(PREF_ENHANCED_INCOGNITO) ?? true)),
      }),
    );
  }
  const rows = listRows(s, area, entries.length, rowH);
  w.content.children.push(
    node('ListView', {
      resourceId: 'android:id/list',
      bounds: rect(0, area.top, s.width, rows[rows.length - 1]!.bottom),
      children: entries.map((make, i) => make(rows[i]!)),
    }),
  );
  return w.root;
}
