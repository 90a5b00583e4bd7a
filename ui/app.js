// The console: sign-in, the live credentials, one lease, revoking a workload, approvals. Every
// action is one call to the public API (api.js); every value reaches the page as text (dom.js).
// The screen on show is read again every few seconds (live.js); each screen's refresh keeps
// what the person set (filters, page, open lease, typed text) and answers what changed.

import { ApiError, allows, call, capabilities, list, token } from './api.js';
import { confirmAction, confirming } from './confirm.js';
import { clear, countdown, difference, el, fill, focusQuietly, refill, span, when } from './dom.js';
import { startLive } from './live.js';

const $ = (id) => document.getElementById(id);

// The paths behind each button; a button whose path the token cannot use is hidden.
const PATHS = {
  list: 'sys/leases/list',
  counts: 'sys/leases/counts',
  lookup: 'sys/leases/lookup',
  revoke: 'sys/leases/revoke',
  renew: 'sys/leases/renew',
  workload: 'sys/leases/revoke-workload',
  reconcile: 'sys/leases/reconcile',
  durations: 'sys/leases/durations',
  tokens: 'sys/leases/workload-tokens',
  history: 'sys/leases/history',
  requests: 'sys/control-group/requests',
  authorize: 'sys/control-group/authorize',
  deny: 'sys/control-group/deny',
};
let can = {};

const SCREENS = ['signin', 'leases', 'lease', 'evidence', 'workload', 'approvals'];
let screen = '';

// Show one screen. Opening another screen moves focus to its heading (a screen reader says
// where the person is now); showing the same one again (new filters, after an action) leaves
// focus where it is.
function show(name) {
  const moved = name !== screen;
  screen = name;
  for (const s of SCREENS) $(`screen-${s}`).hidden = s !== name;
  for (const b of document.querySelectorAll('#nav [data-screen]')) {
    if (b.dataset.screen === name) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  if (moved) focusHeading();
}

function focusHeading() {
  const heading = $(`screen-${screen}`).querySelector('h2');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

function say(text, bad = false) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', bad);
}

// Actions in flight (a revoke, a renewal, a decision): live updates wait for them.
let busy = 0;

async function acting(fn) {
  busy += 1;
  try {
    return await fn();
  } finally {
    busy -= 1;
  }
}

function failed(what, e) {
  const why = e instanceof ApiError ? `${e.message} (HTTP ${e.status})` : String(e);
  say(`${what} failed: ${why}`, true);
}

// GET `path` and answer its `data` (an empty object when it has none); on failure say what
// failed, as `what`, and answer null.
async function readData(what, path, options) {
  try {
    const r = await call('GET', path, options);
    return (r && r.data) || {};
  } catch (e) {
    failed(what, e);
    return null;
  }
}

// ---- sign-in ---------------------------------------------------------------------------------

async function signIn(t) {
  token.set(t);
  try {
    await call('GET', 'auth/token/lookup-self');
  } catch (e) {
    token.clear();
    failed('Sign-in', e);
    return;
  }
  $('signin-token').value = '';
  await enter();
}

// The sign-in form's fields for the chosen method.
function signInMethod() {
  const method = $('signin-method').value;
  $('signin-with-token').hidden = method !== 'token';
  $('signin-with-login').hidden = method === 'token';
  $('signin-with-approle').hidden = method !== 'approle';
  $('signin-with-jwt').hidden = method !== 'jwt';
  $('signin-mount').placeholder = method === 'token' ? '' : method;
}

// A token as typed, or the client token an AppRole or JWT login answers (`auth/<mount>/login`,
// sent with no token). The secret ID or JWT is cleared from its field as it is sent: it is
// used once and kept nowhere; only the answered token is kept, as a typed one would be.
async function signInFromForm() {
  const method = $('signin-method').value;
  if (method === 'token') {
    const t = $('signin-token').value.trim();
    if (t) await signIn(t);
    else say('Type a token to sign in with.', true);
    return;
  }
  // As `vault login -path=`: the mount's path under auth/ (an `auth/` typed before it is dropped).
  const mount = ($('signin-mount').value.trim() || method).replace(/^\/+|\/+$/g, '').replace(/^auth\//, '');
  if (!/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/.test(mount)) {
    say('An auth mount is a path such as approle or auth-ci/approle.', true);
    return;
  }
  const body =
    method === 'approle'
      ? { role_id: $('signin-role-id').value.trim(), secret_id: $('signin-secret-id').value.trim() }
      : { role: $('signin-role').value.trim(), jwt: $('signin-jwt').value.trim() };
  $('signin-secret-id').value = '';
  $('signin-jwt').value = '';
  if (Object.values(body).some((v) => !v)) {
    say(method === 'approle' ? 'AppRole needs a role ID and a secret ID.' : 'A JWT login needs a role and a JWT.', true);
    return;
  }
  token.clear();
  let r;
  try {
    r = await call('POST', `auth/${mount}/login`, { body });
  } catch (e) {
    failed('Login', e);
    return;
  }
  const t = r && r.auth && r.auth.client_token;
  if (!t) {
    say('The login answered no token.', true);
    return;
  }
  await signIn(t);
}

async function enter() {
  try {
    const caps = await capabilities(Object.values(PATHS));
    can = {
      list: allows(caps[PATHS.list], 'list', 'sudo'),
      counts: allows(caps[PATHS.counts], 'read', 'sudo'),
      lookup: allows(caps[PATHS.lookup], 'update'),
      revoke: allows(caps[PATHS.revoke], 'update'),
      renew: allows(caps[PATHS.renew], 'update'),
      workload: allows(caps[PATHS.workload], 'update'),
      orphans: allows(caps[PATHS.reconcile], 'read', 'sudo'),
      durations: allows(caps[PATHS.durations], 'read', 'sudo'),
      tokens: allows(caps[PATHS.tokens], 'read', 'sudo'),
      history: allows(caps[PATHS.history], 'read', 'sudo'),
      destroyOrphans: allows(caps[PATHS.reconcile], 'update', 'sudo'),
      requests: allows(caps[PATHS.requests], 'list'),
      authorize: allows(caps[PATHS.authorize], 'update'),
      deny: allows(caps[PATHS.deny], 'update'),
    };
  } catch (e) {
    token.clear();
    failed('Reading what this token may do', e);
    show('signin');
    return;
  }
  $('nav').hidden = false;
  $('live').hidden = false;
  $('nav-leases').hidden = !can.list;
  $('nav-workload').hidden = !can.workload;
  $('nav-evidence').hidden = !(can.list || can.orphans || can.durations);
  $('nav-approvals').hidden = !can.requests;
  say('Signed in.');
  if (can.list) await openLeases();
  else if (can.requests) await openApprovals();
  else if (can.workload) await openWorkload();
  else say('Signed in, but this token may not list leases, revoke workloads or see approvals.');
}

function signOut() {
  token.clear();
  can = {};
  $('nav').hidden = true;
  $('live').hidden = true;
  for (const t of ['leases-table', 'counts-table', 'irrevocable-table', 'orphans-table', 'workload-tokens', 'workload-holds']) {
    clear($(t).tBodies[0]);
  }
  clear($('lease-fields'));
  clear($('approvals-list'));
  charted = '';
  page = { filters: {}, after: '', keys: [] };
  // Nothing of this session's workload for the next person to sign in on this tab.
  Object.assign(held, { name: '', tokens: [], leases: [] });
  for (const f of ['workload-name', 'workload-confirm', 'signin-token']) $(f).value = '';
  for (const b of ['workload-tokens-block', 'workload-holds-block', 'workload-table', 'workload-report-title']) $(b).hidden = true;
  fill($('live-news'));
  fill($('live-when'));
  say('Signed out.');
  show('signin');
}

// ---- live credentials ------------------------------------------------------------------------

// The filters applied (not what is typed in the form but not applied yet), the cursor of the
// page shown (a live update reads the same page again) and the leases on it.
let page = { filters: {}, after: '', keys: [] };

function filters() {
  const f = new FormData($('lease-filters'));
  const out = {};
  for (const k of ['mount', 'role', 'workload', 'state']) {
    const v = String(f.get(k) || '').trim();
    if (v) out[k] = v;
  }
  return out;
}

// The list as it was left (filters and page); `fresh`: from the first page, with the filters
// in the form.
async function openLeases(fresh = false) {
  show('leases');
  if (fresh) page = { filters: filters(), after: '', keys: [] };
  await refreshLeases();
}

async function refreshLeases() {
  const before = page.keys;
  const [, ok] = await Promise.all([loadCounts(), loadLeases()]);
  const changed = ok ? difference(before, page.keys) : '';
  return changed && `Live credentials on this page: ${changed}.`;
}

// The summary above the list: one GROUP BY on the server (sys/leases/counts), so it is the
// whole table's, whatever page of the list is shown.
async function loadCounts() {
  $('counts-block').hidden = !can.counts;
  if (!can.counts) return;
  const data = await readData('Counting leases', PATHS.counts);
  if (!data) return;
  const n = (v) => String(Number(v) || 0);
  const rows = () => (data.counts || []).map((c) => {
    const cls = c.irrevocable > 0 ? 'state-irrevocable' : c.revoking > 0 ? 'state-revoking' : '';
    return el(
      'tr',
      { class: cls || undefined, 'data-count-mount': c.mount || '', 'data-count-role': c.role || '' },
      el('td', { 'data-label': 'Mount' }, c.mount || ''),
      el('td', { 'data-label': 'Role' }, c.role || '(tokens)'),
      el('td', { 'data-label': 'Creating' }, n(c.creating)),
      el('td', { 'data-label': 'Active' }, n(c.active)),
      el('td', { 'data-label': 'Revoking' }, n(c.revoking)),
      el('td', { 'data-label': 'Irrevocable', class: 'irrevocable' }, n(c.irrevocable)),
    );
  });
  refill($('counts-table').tBodies[0], JSON.stringify(data.counts || []), rows);
  const t = data.totals || {};
  fill(
    $('counts-caption'),
    `All live leases: ${n(t.creating)} creating, ${n(t.active)} active, ${n(t.revoking)} revoking, ${n(t.irrevocable)} irrevocable`,
  );
}

// One page of the list; answers whether it was read.
async function loadLeases() {
  let data;
  try {
    data = await list(PATHS.list, { ...page.filters, after: page.after, limit: 50 });
  } catch (e) {
    failed('Listing leases', e);
    return false;
  }
  const keys = data.keys || [];
  const rows = () => keys.map((id) => leaseRow(id, (data.key_info || {})[id] || {}));
  refill($('leases-table').tBodies[0], JSON.stringify([keys, data.key_info || {}]), rows);
  page.keys = keys;
  const where = page.after ? 'next page' : 'first page';
  fill($('leases-caption'), `${keys.length} live credential(s), ${where}`);
  page.next = data.next_after || '';
  // Hiding the focused "Next page" would drop focus to the page's top: move it to the caption.
  if (!page.next && document.activeElement === $('leases-next')) focusQuietly($('leases-caption'));
  $('leases-next').hidden = !page.next;
  tick();
  return true;
}

function leaseRow(id, l) {
  const state = l.irrevocable ? 'irrevocable' : l.state || '';
  const account = can.lookup
    ? el('button', { type: 'button', class: 'link', 'data-lease': id }, l.account || id)
    : l.account || id;
  const purpose = [l.purpose, l.ticket].filter(Boolean).join(' / ');
  const workload =
    can.list && l.workload
      ? el('button', { type: 'button', class: 'link', 'data-workload': l.workload }, l.workload)
      : l.workload || '';
  const tr = el(
    'tr',
    { class: `state-${state}`, 'data-lease-id': id },
    el('td', { 'data-label': 'Account' }, account),
    el('td', { 'data-label': 'Mount / role' }, `${l.mount || ''}${l.role || ''}`),
    el('td', { 'data-label': 'Workload' }, workload),
    el('td', { 'data-label': 'Purpose / ticket', class: 'purpose' }, purpose),
    el('td', { 'data-label': 'Issued' }, when(l.issue_time)),
    el(
      'td',
      { 'data-label': 'Expires', title: when(l.expire_time) },
      el('span', { class: 'countdown', 'data-expire': l.expire_time || '' }),
    ),
    el('td', { 'data-label': 'State' }, el('span', { class: 'badge' }, state)),
  );
  return tr;
}

// The countdowns move every second without another call to the server.
function tick() {
  const now = Date.now();
  for (const c of document.querySelectorAll('.countdown[data-expire]')) {
    c.textContent = countdown(c.dataset.expire, now);
  }
}

// ---- a lease ---------------------------------------------------------------------------------

// The lease on show, the screen it was opened from (Back returns there), and whether it has
// ended (revoked or expired and destroyed, here or elsewhere).
const lease = { id: '', from: 'leases', ended: false, state: '' };

// `PUT sys/leases/lookup`: the lease's fields, or null when it has ended (Vault's "invalid
// lease", a 400). Any other failure is thrown.
async function lookup(id) {
  try {
    const r = await call('PUT', PATHS.lookup, { body: { lease_id: id } });
    return (r && r.data) || {};
  } catch (e) {
    if (e instanceof ApiError && e.status === 400) return null;
    throw e;
  }
}

function showLeaseFields(d) {
  const items = () => {
    const out = [];
    for (const [k, v] of Object.entries(d)) {
      const text = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
      out.push(el('dt', {}, k), el('dd', {}, text));
    }
    return out;
  };
  refill($('lease-fields'), JSON.stringify(d), items);
}

// The lease is over: say so, keep what was last read, and take the buttons away (moving focus
// off them, so it does not fall to the top of the page).
function markEnded() {
  lease.ended = true;
  const focused = document.activeElement;
  $('lease-ended').hidden = false;
  $('lease-revoke').hidden = true;
  $('lease-renew').hidden = true;
  if (focused === $('lease-revoke') || focused === $('lease-renew')) focusQuietly($('lease-ended'));
}

async function openLease(id, from = screen) {
  let d;
  try {
    d = await lookup(id);
  } catch (e) {
    failed('Looking the lease up', e);
    return;
  }
  Object.assign(lease, { id, from, ended: false, state: (d && d.state) || '' });
  fill($('lease-back'), from === 'workload' ? 'Back to the workload' : from === 'evidence' ? 'Back to the evidence' : 'Back to the list');
  $('lease-ended').hidden = true;
  $('lease-revoke').hidden = !can.revoke;
  $('lease-renew').hidden = !can.renew;
  showLeaseFields(d || { id });
  if (!d) markEnded();
  show('lease');
}

async function refreshLease() {
  if (lease.ended) return '';
  let d;
  try {
    d = await lookup(lease.id);
  } catch (e) {
    failed('Looking the lease up', e);
    return '';
  }
  if (!d) {
    markEnded();
    return 'This lease has ended.';
  }
  showLeaseFields(d);
  const was = lease.state;
  lease.state = d.state || '';
  return was && was !== lease.state ? `The lease is now ${lease.state}.` : '';
}

function back() {
  if (lease.from === 'workload') return openWorkload();
  if (lease.from === 'evidence') return openEvidence();
  return openLeases();
}

// Revoke after a confirmation. Read again first: a lease revoked elsewhere meanwhile (while the
// dialog was open, or since the page last looked) is shown as ended, and not revoked twice.
async function revokeLease() {
  const ok = await confirmAction({
    title: 'Revoke this lease?',
    text: `Its account is destroyed now, on its database or account, and whoever holds it loses access. Lease: ${lease.id}`,
    ok: 'Revoke the lease',
  });
  if (!ok) return;
  await acting(async () => {
    let d;
    try {
      d = await lookup(lease.id);
      if (d) await call('PUT', PATHS.revoke, { body: { lease_id: lease.id, sync: true } });
    } catch (e) {
      failed('Revoking', e);
      return;
    }
    if (!d) {
      markEnded();
      say(`${lease.id} had already ended (revoked elsewhere or expired): nothing was revoked.`);
      return;
    }
    say(`Revoked ${lease.id}: its account is destroyed.`);
    await back();
  });
}

async function renewLease() {
  await acting(async () => {
    try {
      const r = await call('PUT', PATHS.renew, { body: { lease_id: lease.id } });
      say(`Renewed ${lease.id} for ${r && r.lease_duration}s.`);
    } catch (e) {
      failed('Renewing', e);
    }
    await refreshLease();
  });
}

// ---- evidence: irrevocable leases and orphan accounts ------------------------------------------

// The last reconciliation report's mounts with marked orphans: the only names the destroy
// confirmation accepts.
let orphanMounts = new Set();

async function openEvidence() {
  show('evidence');
  await Promise.all([loadIrrevocable(), loadOrphans(), loadCharts()]);
}

// A live update reads the irrevocable leases and the charts again, not the orphans: a
// reconciliation lists the roles on every target database, which is for "Check again" to ask.
async function refreshEvidence() {
  const before = irrevocable;
  await Promise.all([loadIrrevocable(), loadCharts()]);
  const changed = difference(before, irrevocable);
  return changed && `Irrevocable leases: ${changed}.`;
}

// ---- charts: privilege duration and overstay per mount (uPlot, ui/vendor) ---------------------

const CHARTS = [
  ['privilege_duration_seconds', 'Privilege duration'],
  ['overstay_seconds', 'Overstay'],
];
let plots = [];
// The distributions the charts show (drawn again only when they change).
let charted = '';

/** Seconds in the largest whole unit that fits: `30s`, `15m`, `12h`, `7d` (`1.5h` if need be). */
function short(seconds) {
  const s = Number(seconds) || 0;
  const units = [[86400, 'd'], [3600, 'h'], [60, 'm']];
  for (const [size, unit] of units) {
    if (s >= size) return `${Math.round((s / size) * 10) / 10}${unit}`;
  }
  return `${Math.round(s * 1000) / 1000}s`;
}

/** A bucket's upper bound as a label: `≤ 5m`, and `> 32d` for the last. */
function bound(le, previous) {
  if (le === '+Inf') return `> ${short(previous)}`;
  return `≤ ${short(le)}`;
}

async function loadCharts() {
  $('charts-block').hidden = !can.durations;
  if (!can.durations) return;
  const data = await readData('Reading the distributions', PATHS.durations);
  if (!data || JSON.stringify(data) === charted) return;
  charted = JSON.stringify(data);
  for (const p of plots) p.destroy();
  plots = [];
  const figures = [];
  const draws = [];
  for (const [key, title] of CHARTS) {
    for (const [mount, h] of Object.entries(data[key] || {})) {
      if (!h || !h.count) continue;
      const buckets = h.buckets || [];
      const labels = buckets.map((b, i) => bound(b.le, i > 0 ? buckets[i - 1].le : 0));
      const counts = buckets.map((b) => Number(b.count) || 0);
      const name = `${title} on ${mount}: ${h.count} account(s)`;
      const canvas = el('div', { class: 'chart', role: 'img', 'aria-label': name });
      // The same numbers as a table, for screen readers and for reading exact counts.
      const table = el(
        'table',
        { class: 'chart-data' },
        el('caption', {}, name),
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Bucket'), el('th', { scope: 'col' }, 'Accounts'))),
        el(
          'tbody',
          {},
          ...labels.map((l, i) => el('tr', {}, el('td', {}, l), el('td', {}, String(counts[i])))),
        ),
      );
      const fig = el(
        'figure',
        { 'data-chart': key, 'data-mount': mount },
        el('figcaption', {}, name),
        canvas,
        el('details', {}, el('summary', {}, 'Numbers'), table),
      );
      figures.push(fig);
      draws.push(() => barChart(canvas, labels, counts));
    }
  }
  fill($('charts'), ...(figures.length ? figures : [el('p', {}, 'No account destroyed on this node since it started.')]));
  // Drawn once in the page, so uPlot can measure its container.
  plots = draws.map((draw) => draw());
}

function barChart(target, labels, counts) {
  const xs = labels.map((_, i) => i);
  // The container has no width of its own yet (a flex item): size from the window.
  const width = Math.max(280, Math.min(640, window.innerWidth - 48));
  // Every bucket has a bar; on a narrow chart only every other one is labelled.
  const every = width / labels.length < 36 ? 2 : 1;
  return new window.uPlot(
    {
      width,
      height: 200,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: [0, Math.max(1, ...counts) * 1.15] } },
      axes: [
        {
          splits: () => xs,
          values: (u, splits) => splits.map((i) => (i % every === 0 ? labels[i] || '' : '')),
          rotate: -45,
          size: 50,
        },
        { label: 'accounts' },
      ],
      series: [
        {},
        { label: 'accounts', stroke: '#0b5cad', fill: 'rgba(11, 92, 173, 0.35)', paths: window.uPlot.paths.bars({ size: [0.8, 40] }), points: { show: false } },
      ],
    },
    [xs, counts],
    target,
  );
}

// The irrevocable leases shown.
let irrevocable = [];

async function loadIrrevocable() {
  if (!can.list) {
    fill($('irrevocable-caption'), 'This token may not list leases.');
    clear($('irrevocable-table').tBodies[0]);
    return;
  }
  let data;
  try {
    data = await list(PATHS.list, { state: 'irrevocable', limit: 1000 });
  } catch (e) {
    failed('Listing irrevocable leases', e);
    return;
  }
  irrevocable = data.keys || [];
  const rows = () => irrevocable.map((id) => {
    const l = (data.key_info || {})[id] || {};
    const account = can.lookup
      ? el('button', { type: 'button', class: 'link', 'data-lease': id }, l.account || id)
      : l.account || id;
    return el(
      'tr',
      { class: 'state-irrevocable', 'data-lease-id': id },
      el('td', { 'data-label': 'Account' }, account),
      el('td', { 'data-label': 'Mount / role' }, `${l.mount || ''}${l.role || ''}`),
      el('td', { 'data-label': 'Attempts' }, String(l.revoke_attempts ?? '')),
      el('td', { 'data-label': 'Last error', class: 'last-error' }, l.last_error || ''),
      el('td', { 'data-label': 'Next attempt' }, when(l.next_revoke_attempt)),
      el('td', { 'data-label': 'Integrity' }, l.integrity || ''),
    );
  });
  refill($('irrevocable-table').tBodies[0], JSON.stringify(data), rows);
  const more = data.next_after ? ' (more follow: narrow with the list\'s filters)' : '';
  fill($('irrevocable-caption'), `${irrevocable.length} irrevocable lease(s)${more}`);
}

function orphanRows(orphans) {
  return orphans.map((o) => {
    const result =
      o.destroyed === true ? 'destroyed' : o.destroyed === false ? `not destroyed: ${o.error || ''}` : 'kept (report only)';
    return el(
      'tr',
      { class: o.destroyed === true ? 'destroyed' : o.marked ? 'state-revoking' : undefined, 'data-orphan': o.account || '' },
      el('td', { 'data-label': 'Account' }, o.account || ''),
      el('td', { 'data-label': 'Mount' }, o.mount || ''),
      el('td', { 'data-label': 'Target' }, o.target || ''),
      el('td', { 'data-label': 'Marked as ours' }, o.marked ? 'yes' : 'no'),
      el('td', { 'data-label': 'Result' }, result),
    );
  });
}

function showReport(d, what) {
  const orphans = d.orphans || [];
  fill($('orphans-table').tBodies[0], ...orphanRows(orphans));
  const errors = Object.entries(d.mount_errors || {}).map(([m, e]) => `${m}: ${e}`);
  const checked = (d.mounts_checked || []).join(', ') || 'none';
  fill(
    $('orphans-caption'),
    `${what}: ${orphans.length} orphan account(s) on the mounts checked (${checked})` +
      (errors.length ? `; could not check ${errors.join('; ')}` : ''),
  );
}

async function loadOrphans() {
  $('orphans-block').hidden = !can.orphans;
  if (!can.orphans) return;
  let r;
  try {
    r = await call('GET', PATHS.reconcile);
  } catch (e) {
    failed('Reconciling', e);
    return;
  }
  const d = (r && r.data) || {};
  showReport(d, 'Report only');
  orphanMounts = new Set((d.orphans || []).filter((o) => o.marked).map((o) => o.mount));
  $('orphans-form').hidden = !can.destroyOrphans || orphanMounts.size === 0;
  orphanConfirm();
}

// The typed mount, as the report spells mounts (`database/`).
function typedMount() {
  const m = $('orphans-mount').value.trim().replace(/^\/+|\/+$/g, '');
  return m ? `${m}/` : '';
}

function orphanConfirm() {
  $('orphans-destroy').disabled = !orphanMounts.has(typedMount());
}

async function destroyOrphans(ev) {
  ev.preventDefault();
  const mount = typedMount();
  if (!orphanMounts.has(mount)) return;
  let r;
  try {
    r = await call('PUT', PATHS.reconcile, { body: { mount, destroy: true } });
  } catch (e) {
    failed('Destroying orphans', e);
    return;
  }
  const d = (r && r.data) || {};
  showReport(d, `Destroyed on ${mount}`);
  const gone = (d.orphans || []).filter((o) => o.destroyed === true).length;
  say(`Destroyed ${gone} orphan account(s) on ${mount}.`);
  $('orphans-mount').value = '';
  orphanMounts.delete(mount);
  orphanConfirm();
}

// ---- a workload ------------------------------------------------------------------------------

function confirmMatches() {
  const name = $('workload-name').value.trim();
  $('workload-revoke').disabled = !(name && $('workload-confirm').value.trim() === name);
}

function reportRows(caption, rows) {
  fill($('workload-caption'), caption);
  fill($('workload-table').tBodies[0], ...rows);
  $('workload-table').hidden = false;
  $('workload-report-title').hidden = false;
}

// The workload whose holdings are shown (a live update reads that one again, whatever is being
// typed in the field meanwhile), and the tokens and leases shown.
const held = { name: '', tokens: [], leases: [] };

// The workload's live tokens (it or below it), each child right below its parent (the server
// orders them and gives each a depth). Accessors only: the API never answers a token itself.
async function showWorkloadTokens(name) {
  const data = await readData('Listing the workload\'s tokens', PATHS.tokens, { query: { workload: name } });
  if (!data) return;
  held.tokens = (data.tokens || []).map((t) => t.accessor || '');
  const rows = () => (data.tokens || []).map((t) =>
    el(
      'tr',
      { 'data-accessor': t.accessor || '', class: t.depth ? 'child-token' : '' },
      el('td', { 'data-label': 'Accessor' }, `${t.depth ? '\u2514 ' : ''}${t.accessor || ''}`),
      el('td', { 'data-label': 'Display name' }, t.display_name || ''),
      el('td', { 'data-label': 'Policies' }, (t.policies || []).join(', ')),
      el('td', { 'data-label': 'Created' }, when(t.creation_time)),
      el(
        'td',
        { 'data-label': 'Expires', title: when(t.expire_time) },
        el('span', { class: 'countdown', 'data-expire': t.expire_time || '' }),
      ),
      el('td', { 'data-label': 'Parent' }, t.parent || ''),
      el('td', { 'data-label': 'Children' }, String(t.children || 0)),
    ),
  );
  refill($('workload-tokens').tBodies[0], JSON.stringify([name, data.tokens || []]), rows);
  fill($('workload-tokens-caption'), `${name} holds ${held.tokens.length} live token(s)`);
  $('workload-tokens-block').hidden = false;
}

// The workload's access history: its leases, live and ended, in issue order (the first 100),
// each with how it ended, its privilege time and the sessions its destruction ended.
async function showWorkloadHistory(name) {
  const data = await readData('Reading the access history', PATHS.history, { query: { workload: name, limit: 100 } });
  if (!data) return;
  const rows = (data.leases || []).map((l) =>
    el(
      'tr',
      { 'data-lease-id': l.lease_id || '' },
      el('td', { 'data-label': 'Account' }, l.account || ''),
      el('td', { 'data-label': 'Mount / role' }, `${l.mount || ''}${l.role || ''}`),
      el('td', { 'data-label': 'Issued' }, when(l.issued_at)),
      el('td', { 'data-label': 'Ended' }, when(l.ended_at)),
      el('td', { 'data-label': 'How' }, el('span', { class: 'badge' }, l.ending || l.state || '')),
      el('td', { 'data-label': 'Privilege' }, span(l.privilege_seconds || 0)),
      el('td', { 'data-label': 'Sessions' }, l.sessions_terminated === null || l.sessions_terminated === undefined ? '' : String(l.sessions_terminated)),
    ),
  );
  fill($('workload-history').tBodies[0], ...rows);
  const more = data.next_after ? ' (more follow)' : '';
  fill($('workload-history-caption'), `${name}: ${rows.length} lease(s) in its history${more}`);
  $('workload-history-block').hidden = false;
}

// Everything the workload holds that the API can list: its live tokens (when the token may read
// them), then its live leases (it or below it), with their accounts, purposes and countdowns. A
// page of 1000 leases; the caption says when more follow.
async function showWorkload(name = $('workload-name').value.trim()) {
  if (!name) return;
  if (name !== held.name) {
    $('workload-table').hidden = true;
    $('workload-report-title').hidden = true;
  }
  held.name = name;
  if (can.tokens) await showWorkloadTokens(name);
  if (can.history) await showWorkloadHistory(name);
  if (!can.list) {
    tick();
    return;
  }
  let data;
  try {
    data = await list(PATHS.list, { workload: name, limit: 1000 });
  } catch (e) {
    failed('Listing the workload', e);
    return;
  }
  held.leases = data.keys || [];
  const rows = () => held.leases.map((id) => {
    const l = (data.key_info || {})[id] || {};
    const state = l.irrevocable ? 'irrevocable' : l.state || '';
    const account = can.lookup
      ? el('button', { type: 'button', class: 'link', 'data-lease': id }, l.account || id)
      : l.account || id;
    return el(
      'tr',
      { class: `state-${state}`, 'data-lease-id': id },
      el('td', { 'data-label': 'Account' }, account),
      el('td', { 'data-label': 'Mount / role' }, `${l.mount || ''}${l.role || ''}`),
      el('td', { 'data-label': 'Purpose / ticket', class: 'purpose' }, [l.purpose, l.ticket].filter(Boolean).join(' / ')),
      el('td', { 'data-label': 'Issued' }, when(l.issue_time)),
      el(
        'td',
        { 'data-label': 'Expires', title: when(l.expire_time) },
        el('span', { class: 'countdown', 'data-expire': l.expire_time || '' }),
      ),
      el('td', { 'data-label': 'State' }, el('span', { class: 'badge' }, state)),
    );
  });
  refill($('workload-holds').tBodies[0], JSON.stringify([name, data]), rows);
  const more = data.next_after ? ' (more follow)' : '';
  fill($('workload-holds-caption'), `${name} holds ${held.leases.length} lease(s)${more}`);
  $('workload-holds-block').hidden = false;
  tick();
}

async function refreshWorkload() {
  if (!held.name) return '';
  const before = [...held.tokens, ...held.leases];
  await showWorkload(held.name);
  const changed = difference(before, [...held.tokens, ...held.leases]);
  return changed && `What ${held.name} holds (tokens and leases): ${changed}.`;
}

// The workload page: for `name` (from a workload in the list of credentials), or as it was
// left (from the navigation, or back from one of its leases).
async function openWorkload(name) {
  if (name !== undefined && name !== held.name) {
    $('workload-name').value = name;
    $('workload-confirm').value = '';
    $('workload-tokens-block').hidden = true;
    $('workload-holds-block').hidden = true;
    $('workload-history-block').hidden = true;
  }
  $('workload-revoke-block').hidden = !can.workload;
  confirmMatches();
  show('workload');
  const shown = held.name || $('workload-name').value.trim();
  if (shown) await showWorkload(shown);
}

async function revokeWorkload(ev) {
  ev.preventDefault();
  const name = $('workload-name').value.trim();
  if (!name || $('workload-confirm').value.trim() !== name) return;
  await acting(() => revokeWorkloadNamed(name));
}

async function revokeWorkloadNamed(name) {
  let r;
  try {
    r = await call('PUT', PATHS.workload, { body: { workload: name, sync: true } });
  } catch (e) {
    failed('Revoking the workload', e);
    return;
  }
  held.name = name;
  const d = (r && r.data) || {};
  const rows = (d.leases || []).map((l) =>
    el(
      'tr',
      { class: l.destroyed ? 'destroyed' : 'state-revoking' },
      el('td', { 'data-label': 'Account' }, l.account || ''),
      el('td', { 'data-label': 'Mount' }, l.mount || ''),
      el('td', { 'data-label': 'Lease' }, l.lease_id || ''),
      el('td', { 'data-label': 'Result' }, l.destroyed ? 'destroyed' : `retrying: ${l.error || ''}`),
    ),
  );
  reportRows(
    `${name}: ${d.revoked_tokens || 0} token(s) revoked, ${d.revoked_leases || 0} account(s) destroyed, ${d.failed_leases || 0} being retried`,
    rows,
  );
  say(`Revoked workload ${name}.`);
  $('workload-confirm').value = '';
  confirmMatches();
  // The report is what the person came for: focus goes there (the disabled button keeps none).
  focusQuietly($('workload-report-title'));
  // What it still holds, read again: nothing live, unless a destruction is being retried.
  await showWorkload(name);
}

// ---- approvals -------------------------------------------------------------------------------

async function openApprovals() {
  show('approvals');
  await refreshApprovals();
}

// The requests, read again: a request still waiting keeps its item (and the comment being
// typed in it; only its facts are redrawn), a new one is added at the end, a decided one goes.
async function refreshApprovals() {
  let data;
  try {
    data = await list(PATHS.requests, { approvable: 'true' });
  } catch (e) {
    failed('Listing requests', e);
    return '';
  }
  const keys = data.keys || [];
  const ul = $('approvals-list');
  const items = new Map([...ul.children].map((li) => [li.dataset.accessor, li]));
  for (const [acc, li] of items) {
    if (keys.includes(acc)) continue;
    if (li.contains(document.activeElement)) focusQuietly($('approvals-title'));
    li.remove();
  }
  for (const acc of keys) {
    const r = (data.key_info || {})[acc] || {};
    const li = items.get(acc);
    if (li) li.replaceChild(requestFacts(r), li.querySelector('dl'));
    else ul.append(requestItem(acc, r));
  }
  $('approvals-empty').hidden = keys.length > 0;
  const changed = difference([...items.keys()], keys);
  return changed && `Requests waiting for you: ${changed}.`;
}

function requestFacts(r) {
  const field = (k, v) => [el('dt', {}, k), el('dd', {}, v === undefined || v === null ? '' : String(v))];
  return el(
    'dl',
    { class: 'fields' },
    ...field('Requester', r.requester_display_name || ''),
    ...field('Workload', r.requester_workload || ''),
    ...field('Role', `${r.mount || ''}${r.role || ''}`),
    ...field('Purpose', r.purpose || ''),
    ...field('Ticket', r.ticket || ''),
    ...field('Waiting', `${r.age_seconds || 0}s`),
    ...field('Approvals so far', r.approvals || 0),
  );
}

function requestItem(accessor, r) {
  const commentId = `comment-${accessor}`;
  const comment = el('input', { id: commentId, type: 'text', autocomplete: 'off' });
  const decide = (path, verb) =>
    acting(async () => {
      try {
        await call('POST', path, { body: { accessor, comment: comment.value } });
        say(`${verb} request ${accessor}.`);
      } catch (e) {
        failed(verb, e);
      }
      await refreshApprovals();
    });
  const approve = el('button', { type: 'button' }, 'Approve');
  approve.addEventListener('click', () => decide(PATHS.authorize, 'Approved'));
  const deny = el('button', { type: 'button', class: 'danger' }, 'Deny');
  deny.addEventListener('click', () => decide(PATHS.deny, 'Denied'));
  approve.hidden = !can.authorize;
  deny.hidden = !can.deny;
  return el(
    'li',
    { class: r.tier && /break/i.test(r.tier) ? 'break-glass' : '', 'data-accessor': accessor },
    requestFacts(r),
    el('label', { for: commentId }, 'Comment'),
    comment,
    el('div', { class: 'actions' }, approve, deny),
  );
}

// ---- wiring ----------------------------------------------------------------------------------

function wire() {
  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    signInFromForm();
  });
  $('signin-method').addEventListener('change', signInMethod);
  $('sign-out').addEventListener('click', signOut);
  $('nav-leases').addEventListener('click', () => openLeases());
  $('nav-workload').addEventListener('click', () => openWorkload());
  $('nav-approvals').addEventListener('click', openApprovals);
  $('nav-evidence').addEventListener('click', openEvidence);
  $('evidence-refresh').addEventListener('click', openEvidence);
  $('irrevocable-table').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-lease]');
    if (b) openLease(b.dataset.lease);
  });
  $('orphans-mount').addEventListener('input', orphanConfirm);
  $('orphans-form').addEventListener('submit', destroyOrphans);
  $('lease-filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    openLeases(true);
  });
  $('leases-refresh').addEventListener('click', refreshLeases);
  $('leases-next').addEventListener('click', () => {
    page.after = page.next;
    loadLeases();
  });
  $('leases-table').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-lease]');
    if (b) openLease(b.dataset.lease);
    const w = ev.target.closest('button[data-workload]');
    if (w) openWorkload(w.dataset.workload);
  });
  $('workload-holds').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-lease]');
    if (b) openLease(b.dataset.lease);
  });
  $('lease-back').addEventListener('click', back);
  $('lease-revoke').addEventListener('click', revokeLease);
  $('lease-renew').addEventListener('click', renewLease);
  $('workload-name').addEventListener('input', confirmMatches);
  $('workload-confirm').addEventListener('input', confirmMatches);
  $('workload-show').addEventListener('click', () => showWorkload());
  $('workload-form').addEventListener('submit', revokeWorkload);
  $('approvals-refresh').addEventListener('click', refreshApprovals);
  setInterval(tick, 1000);
  startLive({ refresh, waiting: () => busy > 0 || confirming() || !token.get() });
}

// What a live update reads again on each screen; each answers what changed, to announce.
const REFRESH = {
  leases: refreshLeases,
  lease: refreshLease,
  workload: refreshWorkload,
  evidence: refreshEvidence,
  approvals: refreshApprovals,
};

async function refresh() {
  const on = REFRESH[screen];
  return on ? on() : '';
}

wire();
signInMethod();
if (token.get()) enter();
else show('signin');
