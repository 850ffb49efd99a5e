// i18n.js — Parley web client: the language shown and its catalogue.
//
// Every visible string comes from a catalogue, static/i18n/<language>.js: a module whose
// default export is one JSON object of key -> message. A message is a string with {name}
// placeholders, or, for a count, an object of Intl.PluralRules categories ("one", "other", …)
// each a string with {count}. A language is a file: adding German is adding de.js and its
// line in CATALOGUES. The catalogues are imported, not fetched, so every string is there
// before the page first draws.
//
// The language is, in order: the one chosen with the switch (kept in this browser), the
// first of the browser's languages that has a catalogue, the node's default (its
// default_language, on <html data-default-lang>), English. <html lang> says which is shown.
//
// Static HTML names its strings with data-i18n="key" (the element's text) and
// data-i18n-attr="attr=key;attr2=key2" (attributes: aria-label, title, placeholder…).

import en from './i18n/en.js';
import fr from './i18n/fr.js';

const CATALOGUES = { fr, en };
export const LANGUAGES = { fr: 'Français', en: 'English' };
const FALLBACK = 'en';
const STORE_KEY = 'parley.language';

function chooseLanguage() {
  let chosen = '';
  try { chosen = localStorage.getItem(STORE_KEY) || ''; } catch { /* storage off */ }
  if (LANGUAGES[chosen]) {
    rememberForNode(chosen);
    return chosen;
  }
  for (const l of navigator.languages || [navigator.language || '']) {
    const base = String(l).toLowerCase().split('-')[0];
    if (LANGUAGES[base]) return base;
  }
  const def = document.documentElement.dataset.defaultLang || '';
  return LANGUAGES[def] ? def : FALLBACK;
}

// rememberForNode tells the node the language chosen, for its own pages (a cookie it reads).
function rememberForNode(l) {
  document.cookie = `parley_lang=${l}; path=/; max-age=31536000; SameSite=Lax`;
}

export const lang = chooseLanguage();
const fallback = CATALOGUES[FALLBACK];
const catalogue = CATALOGUES[lang];
document.documentElement.lang = lang;
const plurals = new Intl.PluralRules(lang);

/** missing lists the keys asked for that no catalogue has (tests read it). */
export const missing = new Set();

/**
 * t returns the message of key in the language shown, with {name} placeholders replaced by
 * params[name]; with params.count, the plural form for that count.
 */
export function t(key, params = {}) {
  let m = catalogue[key];
  if (m === undefined) m = fallback[key];
  if (m === undefined) {
    if (!missing.has(key)) console.error(`parley i18n: no message "${key}"`);
    missing.add(key);
    return key;
  }
  if (typeof m === 'object') m = m[plurals.select(Number(params.count))] ?? m.other;
  return m.replace(/\{(\w+)\}/g, (all, name) => (name in params ? formatParam(params[name]) : all));
}

function formatParam(v) {
  return typeof v === 'number' ? new Intl.NumberFormat(lang).format(v) : String(v);
}

/** formatDateTime spells a date and time in the language shown. */
export function formatDateTime(d) {
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

/** formatDuration spells a duration in whole seconds as h:mm:ss or mm:ss. */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  return h > 0 ? `${h}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}` : `${two(Math.floor(s / 60))}:${two(s % 60)}`;
}

/** applyDOM fills the static strings of root: data-i18n texts and data-i18n-attr attributes. */
export function applyDOM(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split('=').map((x) => x.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

const beforeReload = [];

/** onLanguageReload registers f to run before the page reloads in another language. */
export function onLanguageReload(f) { beforeReload.push(f); }

/** setLanguage keeps lang as this browser's choice and shows the page again in it. */
export function setLanguage(l) {
  if (!LANGUAGES[l] || l === lang) return;
  try { localStorage.setItem(STORE_KEY, l); } catch { /* storage off: this page only */ }
  rememberForNode(l);
  for (const f of beforeReload) f();
  location.reload();
}

/**
 * languageSwitch fills a <select> with the languages (each in its own name) and switches on
 * change.
 */
export function languageSwitch(select) {
  select.replaceChildren(...Object.entries(LANGUAGES).map(([code, name]) => {
    const o = document.createElement('option');
    o.value = code;
    o.lang = code;
    o.textContent = name;
    o.selected = code === lang;
    return o;
  }));
  select.addEventListener('change', () => setLanguage(select.value));
}
