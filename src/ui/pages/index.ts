/** Page objects: they use only UiDriver; their locators live in locators.json with sources. */
export { MiBrowser, type MiBrowserOptions, type BrowserDataSwitches } from './mi-browser.ts';
export {
  MiuiSettings,
  PRIVACY_TOGGLES,
  type PrivacyToggle,
  type MiuiSettingsOptions,
} from './miui-settings.ts';
export { Launcher } from './launcher.ts';
export { StatusBar } from './status-bar.ts';
export { Page, type PageOptions } from './common.ts';
export {
  loadLocators,
  targetOf,
  inside,
  validateLocatorData,
  DEFAULT_LOCATORS_FILE,
  LocatorDataError,
  type LocatorData,
  type LocatorEntry,
} from './locators.ts';
