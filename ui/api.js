// The console's only way to the server: the public HTTP API with the signed-in token, so the
// token's policies decide what a person sees and does, exactly as for any other client.

const KEY = 'leasehold.token';

// sessionStorage only: gone when the tab closes, never sent by the browser on its own (as a
// cookie would be), and not shared with other tabs as localStorage is.
export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, errors) {
    super(errors.length ? errors.join('; ') : `HTTP ${status}`);
    this.status = status;
  }
}

/** One call to `/v1/<path>`. `query`: an object of query parameters (empty values left out).
 *  Answers the parsed JSON body, or null for 204. */
export async function call(method, path, { body, query } = {}) {
  const url = new URL(`/v1/${path}`, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  }
  // No token (a login): no header, as a Vault client sends none.
  const t = token.get();
  const headers = t ? { 'X-Vault-Token': t } : {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
  });
  if (resp.status === 204) return null;
  let json = null;
  try {
    json = await resp.json();
  } catch {
    json = null;
  }
  if (!resp.ok) throw new ApiError(resp.status, (json && json.errors) || []);
  return json;
}

/** A LIST, as `GET ?list=true`; a 404 (nothing to list) answers no keys. */
export async function list(path, query = {}) {
  try {
    const r = await call('GET', path, { query: { ...query, list: 'true' } });
    return (r && r.data) || { keys: [] };
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return { keys: [] };
    throw e;
  }
}

/** What the token may do on each path (sys/capabilities-self): `{path: [capabilities]}`. */
export async function capabilities(paths) {
  const r = await call('POST', 'sys/capabilities-self', { body: { paths } });
  const data = (r && r.data) || {};
  const out = {};
  for (const p of paths) out[p] = Array.isArray(data[p]) ? data[p] : [];
  return out;
}

/** Whether `caps` (one path's list) allows every one of `needed`. */
export function allows(caps, ...needed) {
  if (caps.includes('deny')) return false;
  if (caps.includes('root')) return true;
  return needed.every((n) => caps.includes(n));
}
