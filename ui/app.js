// The console: sign-in, the live credentials, one lease, revoking a workload, approvals. Every
// action is one call to the public API (api.js); every value reaches the page as text (dom.js).

import { ApiError, allows, call, capabilities, list, token } from './api.js';
import { countdown, el, fill, span, when } from './dom.js';

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

function show(name) {
  for (const s of SCREENS) $(`screen-${s}`).hidden = s !== name;
  for (const b of document.querySelectorAll('#nav [data-screen]')) {
    if (b.dataset.screen === name) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  const heading = $(`screen-${name}`).querySelector('h2');
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
  await enter();
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
  fill($('leases-table').tBodies[0]);
  fill($('counts-table').tBodies[0]);
  fill($('irrevocable-table').tBodies[0]);
  fill($('orphans-table').tBodies[0]);
  fill($('lease-fields'));
  $('signin-token').value = '';
  say('Signed out.');
  show('signin');
}

// ---- live credentials ------------------------------------------------------------------------

// The cursor of each page shown so far; the last one is where "next page" starts.
let page = { filters: {}, after: '' };

function filters() {
  const f = new FormData($('lease-filters'));
  const out = {};
  for (const k of ['mount', 'role', 'workload', 'state']) {
    const v = String(f.get(k) || '').trim();
    if (v) out[k] = v;
  }
  return out;
}

async function openLeases() {
  show('leases');
  page = { filters: filters(), after: '' };
  await Promise.all([loadCounts(), loadLeases()]);
}

// The summary above the list: one GROUP BY on the server (sys/leases/counts), so it is the
// whole table's, whatever page of the list is shown.
async function loadCounts() {
  $('counts-block').hidden = !can.counts;
  if (!can.counts) return;
  const data = await readData('Counting leases', PATHS.counts);
  if (!data) return;
  const n = (v) => String(Number(v) || 0);
  const rows = (data.counts || []).map((c) => {
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
  fill($('counts-table').tBodies[0], ...rows);
  const t = data.totals || {};
  fill(
    $('counts-caption'),
    `All live leases: ${n(t.creating)} creating, ${n(t.active)} active, ${n(t.revoking)} revoking, ${n(t.irrevocable)} irrevocable`,
  );
}

async function loadLeases() {
  let data;
  try {
    data = await list(PATHS.list, { ...page.filters, after: page.after, limit: 50 });
  } catch (e) {
    failed('Listing leases', e);
    return;
  }
  const body = $('leases-table').tBodies[0];
  const rows = (data.keys || []).map((id) => leaseRow(id, (data.key_info || {})[id] || {}));
  fill(body, ...rows);
  const where = page.after ? 'next page' : 'first page';
  fill($('leases-caption'), `${rows.length} live credential(s), ${where}`);
  page.next = data.next_after || '';
  $('leases-next').hidden = !page.next;
  tick();
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

let current = '';

async function openLease(id) {
  current = id;
  let r;
  try {
    r = await call('PUT', PATHS.lookup, { body: { lease_id: id } });
  } catch (e) {
    failed('Looking the lease up', e);
    return;
  }
  const d = (r && r.data) || {};
  const items = [];
  for (const [k, v] of Object.entries(d)) {
    const text = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    items.push(el('dt', {}, k), el('dd', {}, text));
  }
  fill($('lease-fields'), ...items);
  $('lease-revoke').hidden = !can.revoke;
  $('lease-renew').hidden = !can.renew;
  show('lease');
}

async function revokeLease() {
  try {
    await call('PUT', PATHS.revoke, { body: { lease_id: current, sync: true } });
  } catch (e) {
    failed('Revoking', e);
    return;
  }
  say(`Revoked ${current}: its account is destroyed.`);
  await openLeases();
}

async function renewLease() {
  try {
    const r = await call('PUT', PATHS.renew, { body: { lease_id: current } });
    say(`Renewed ${current} for ${r && r.lease_duration}s.`);
  } catch (e) {
    failed('Renewing', e);
    return;
  }
  await openLease(current);
}

// ---- evidence: irrevocable leases and orphan accounts ------------------------------------------

// The last reconciliation report's mounts with marked orphans: the only names the destroy
// confirmation accepts.
let orphanMounts = new Set();

async function openEvidence() {
  show('evidence');
  await Promise.all([loadIrrevocable(), loadOrphans(), loadCharts()]);
}

// ---- charts: privilege duration and overstay per mount (uPlot, ui/vendor) ---------------------

const CHARTS = [
  ['privilege_duration_seconds', 'Privilege duration'],
  ['overstay_seconds', 'Overstay'],
];
let plots = [];

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
  if (!data) return;
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

async function loadIrrevocable() {
  if (!can.list) {
    fill($('irrevocable-caption'), 'This token may not list leases.');
    fill($('irrevocable-table').tBodies[0]);
    return;
  }
  let data;
  try {
    data = await list(PATHS.list, { state: 'irrevocable', limit: 1000 });
  } catch (e) {
    failed('Listing irrevocable leases', e);
    return;
  }
  const rows = (data.keys || []).map((id) => {
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
  fill($('irrevocable-table').tBodies[0], ...rows);
  const more = data.next_after ? ' (more follow: narrow with the list\'s filters)' : '';
  fill($('irrevocable-caption'), `${rows.length} irrevocable lease(s)${more}`);
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
}

// The workload's live tokens (it or below it), each child right below its parent (the server
// orders them and gives each a depth). Accessors only: the API never answers a token itself.
async function showWorkloadTokens(name) {
  const data = await readData('Listing the workload\'s tokens', PATHS.tokens, { query: { workload: name } });
  if (!data) return;
  const rows = (data.tokens || []).map((t) =>
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
  fill($('workload-tokens').tBodies[0], ...rows);
  fill($('workload-tokens-caption'), `${name} holds ${rows.length} live token(s)`);
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
async function showWorkload() {
  const name = $('workload-name').value.trim();
  if (!name) return;
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
  const rows = (data.keys || []).map((id) => {
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
  fill($('workload-holds').tBodies[0], ...rows);
  const more = data.next_after ? ' (more follow)' : '';
  fill($('workload-holds-caption'), `${name} holds ${rows.length} lease(s)${more}`);
  $('workload-holds-block').hidden = false;
  tick();
}

// The workload page for `name` (from a workload in the list of credentials).
async function openWorkload(name) {
  if (name !== undefined) {
    $('workload-name').value = name;
    $('workload-confirm').value = '';
    $('workload-table').hidden = true;
  }
  $('workload-tokens-block').hidden = true;
  $('workload-history-block').hidden = true;
  $('workload-revoke-block').hidden = !can.workload;
  confirmMatches();
  show('workload');
  if ($('workload-name').value.trim()) await showWorkload();
}

async function revokeWorkload(ev) {
  ev.preventDefault();
  const name = $('workload-name').value.trim();
  if (!name || $('workload-confirm').value.trim() !== name) return;
  let r;
  try {
    r = await call('PUT', PATHS.workload, { body: { workload: name, sync: true } });
  } catch (e) {
    failed('Revoking the workload', e);
    return;
  }
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
  // What it still holds, read again: nothing live, unless a destruction is being retried.
  await showWorkload();
}

// ---- approvals -------------------------------------------------------------------------------

async function openApprovals() {
  show('approvals');
  let data;
  try {
    data = await list(PATHS.requests, { approvable: 'true' });
  } catch (e) {
    failed('Listing requests', e);
    return;
  }
  const items = (data.keys || []).map((acc) => requestItem(acc, (data.key_info || {})[acc] || {}));
  fill($('approvals-list'), ...items);
  $('approvals-empty').hidden = items.length > 0;
}

function requestItem(accessor, r) {
  const commentId = `comment-${accessor}`;
  const comment = el('input', { id: commentId, type: 'text', autocomplete: 'off' });
  const decide = async (path, verb) => {
    try {
      await call('POST', path, { body: { accessor, comment: comment.value } });
      say(`${verb} request ${accessor}.`);
    } catch (e) {
      failed(verb, e);
    }
    await openApprovals();
  };
  const approve = el('button', { type: 'button' }, 'Approve');
  approve.addEventListener('click', () => decide(PATHS.authorize, 'Approved'));
  const deny = el('button', { type: 'button', class: 'danger' }, 'Deny');
  deny.addEventListener('click', () => decide(PATHS.deny, 'Denied'));
  approve.hidden = !can.authorize;
  deny.hidden = !can.deny;
  const field = (k, v) => [el('dt', {}, k), el('dd', {}, v === undefined || v === null ? '' : String(v))];
  return el(
    'li',
    { class: r.tier && /break/i.test(r.tier) ? 'break-glass' : '' },
    el(
      'dl',
      { class: 'fields' },
      ...field('Requester', r.requester_display_name || ''),
      ...field('Workload', r.requester_workload || ''),
      ...field('Role', `${r.mount || ''}${r.role || ''}`),
      ...field('Purpose', r.purpose || ''),
      ...field('Ticket', r.ticket || ''),
      ...field('Waiting', `${r.age_seconds || 0}s`),
      ...field('Approvals so far', r.approvals || 0),
    ),
    el('label', { for: commentId }, 'Comment'),
    comment,
    el('div', { class: 'actions' }, approve, deny),
  );
}

// ---- wiring ----------------------------------------------------------------------------------

function wire() {
  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('signin-token').value.trim();
    if (t) signIn(t);
  });
  $('sign-out').addEventListener('click', signOut);
  $('nav-leases').addEventListener('click', openLeases);
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
    openLeases();
  });
  $('leases-refresh').addEventListener('click', () => Promise.all([loadCounts(), loadLeases()]));
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
  $('lease-back').addEventListener('click', openLeases);
  $('lease-revoke').addEventListener('click', revokeLease);
  $('lease-renew').addEventListener('click', renewLease);
  $('workload-name').addEventListener('input', confirmMatches);
  $('workload-confirm').addEventListener('input', confirmMatches);
  $('workload-show').addEventListener('click', showWorkload);
  $('workload-form').addEventListener('submit', revokeWorkload);
  $('approvals-refresh').addEventListener('click', openApprovals);
  setInterval(tick, 1000);
}

wire();
if (token.get()) enter();
else show('signin');
