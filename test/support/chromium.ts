/**
 * Debian's headless Chromium as the tests run it on these machines: root needs --no-sandbox, and
 * without the background-networking flags Chromium's own connections are refused by the closed
 * network (env: node.md). One place for the flags, so the tests that launch it agree.
 */
export const CHROMIUM = '/usr/bin/chromium';

/** The fixed flags plus a fresh profile directory. */
export function headlessChromiumArgs(profileDir: string): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-default-apps',
    '--disable-extensions',
    `--user-data-dir=${profileDir}`,
  ];
}
