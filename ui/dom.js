// Building the page from data without ever parsing data as HTML: every value goes in as a text
// node, so an account name or a purpose holding markup shows as the characters it is.

/** An element with attributes (set as attributes, never as HTML) and children (strings become
 *  text nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace an element's content with `children`. */
export function fill(node, ...children) {
  node.replaceChildren();
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** `2026-12-06T16:30:00Z` as `2026-12-06 16:30:00Z`; '' for nothing. */
export function when(iso) {
  if (!iso) return '';
  return String(iso).replace('T', ' ');
}

/** Seconds as `1h 02m 03s`. */
export function span(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const pad = (n) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h ${pad(m)}m ${pad(r)}s`;
  if (m > 0) return `${m}m ${pad(r)}s`;
  return `${r}s`;
}

/** What is left until `iso`: `in 5m 03s`, or `expired 4s ago`. */
export function countdown(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const left = (t - now) / 1000;
  return left >= 0 ? `in ${span(left)}` : `expired ${span(-left)} ago`;
}

// What each container was last filled from (see refill).
const shownFrom = new WeakMap();

/** Fill `node` with `make()`'s children, made from `from` (a string: the data they show), unless it shows
 *  that already: a live update that finds nothing new leaves the page alone (an open <details>,
 *  the place a screen reader is reading). When focus was inside, it goes back to the control
 *  with the same data-lease / data-workload / data-accessor, or to the table's caption when that
 *  row is gone, never to the top of the page. Answers whether the content changed. */
export function refill(node, from, make) {
  if (shownFrom.get(node) === from) return false;
  shownFrom.set(node, from);
  const active = document.activeElement;
  const inside = active && active !== node && node.contains(active);
  const key = inside ? focusKey(active) : null;
  fill(node, ...make());
  if (inside) {
    const table = node.closest('table');
    focusQuietly((key && node.querySelector(key)) || (table && table.caption));
  }
  return true;
}

/** Focus `node` without scrolling, making it focusable by script (tabindex -1) when it is not a
 *  control. For focus that would otherwise fall to the top of the page. */
export function focusQuietly(node) {
  if (!node) return;
  if (node.tabIndex < 0 && !node.hasAttribute('tabindex')) node.tabIndex = -1;
  node.focus({ preventScroll: true });
}

/** Empty `node` and forget what it showed (signing out). */
export function clear(node) {
  shownFrom.delete(node);
  fill(node);
}

function focusKey(e) {
  for (const a of ['data-lease', 'data-workload', 'data-accessor']) {
    if (e.hasAttribute(a)) return `[${a}="${CSS.escape(e.getAttribute(a))}"]`;
  }
  return null;
}

/** A sentence saying how the set of keys `after` differs from `before`: `2 new, 1 gone`, or ''
 *  when they hold the same keys. */
export function difference(before, after) {
  const was = new Set(before);
  const now = new Set(after);
  const added = [...now].filter((k) => !was.has(k)).length;
  const gone = [...was].filter((k) => !now.has(k)).length;
  return [added && `${added} new`, gone && `${gone} gone`].filter(Boolean).join(', ');
}
