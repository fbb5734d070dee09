/**
 * Locators as WebDriver find strategies for the UiAutomator2 server (facts appium-uia2.md §3b):
 * a bare resource-id uses `id`, a bare content-desc `accessibility id`, a bare class `class name`;
 * anything combined (text, text-contains, several criteria, `within`) becomes an XPath over the
 * page source, whose attributes are the same as `uiautomator dump`'s.
 */
import type { Locator } from '../driver.ts';

export interface Strategy {
  using: 'id' | 'accessibility id' | 'class name' | 'xpath';
  value: string;
}

/** An XPath 1.0 string literal for any text (concat() when it holds both quote kinds). */
export function xpathLiteral(s: string): string {
  if (!s.includes('"')) return `"${s}"`;
  if (!s.includes("'")) return `'${s}'`;
  const parts = s.split('"').map((p) => `"${p}"`);
  return `concat(${parts.join(`, '"', `)})`;
}

function predicates(l: Locator): string {
  const p: string[] = [];
  if (l.id !== undefined) p.push(`@resource-id=${xpathLiteral(l.id)}`);
  if (l.text !== undefined) p.push(`@text=${xpathLiteral(l.text)}`);
  if (l.textContains !== undefined) p.push(`contains(@text, ${xpathLiteral(l.textContains)})`);
  if (l.desc !== undefined) p.push(`@content-desc=${xpathLiteral(l.desc)}`);
  if (l.class !== undefined) p.push(`@class=${xpathLiteral(l.class)}`);
  return p.length ? `[${p.join(' and ')}]` : '';
}

export function locatorXpath(l: Locator): string {
  const self = `//*${predicates(l)}`;
  return l.within ? `${locatorXpath(l.within)}${self}` : self;
}

export function strategyFor(l: Locator): Strategy {
  const keys = Object.keys(l).filter((k) => l[k as keyof Locator] !== undefined);
  if (keys.length === 1) {
    if (l.id !== undefined) return { using: 'id', value: l.id };
    if (l.desc !== undefined) return { using: 'accessibility id', value: l.desc };
    if (l.class !== undefined) return { using: 'class name', value: l.class };
  }
  return { using: 'xpath', value: locatorXpath(l) };
}
