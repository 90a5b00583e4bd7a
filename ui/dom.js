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
