// One scenario of the console in Debian's Chromium, driven by playwright-core (the library only;
// the browser is /usr/bin/chromium, never one Playwright downloads). test_console.py prepares the
// server's state through the API, runs
//   node console.mjs SCENARIO '{"addr": ..., "token": ..., ...}'
// and checks the effects on PostgreSQL; this script prints one JSON line of what the page showed
// and exits non-zero when the page did not behave.
import { createRequire } from 'node:module';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';

const nodeDir = process.env.LEASEHOLD_UI_NODE || path.join(process.env.HOME, '.cache/leasehold/ui-node');
const require = createRequire(path.join(nodeDir, 'package.json'));
const { chromium } = require('playwright-core');
const { readFileSync } = require('node:fs');
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const [scenario, argsJson] = process.argv.slice(2);
const args = JSON.parse(argsJson || '{}');
const shots = args.shots;
if (shots) mkdirSync(shots, { recursive: true });
const WAIT = 15000;

async function withPage(fn, viewport = { width: 1280, height: 800 }) {
  const profile = mkdtempSync(path.join(tmpdir(), 'leasehold-ui-chromium-'));
  // A fresh profile each run (Playwright passes it to Chromium as --user-data-dir).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  // Anything the page reports as wrong (a CSP violation, an uncaught error, an alert) fails
  // the scenario: the console must work under its own policy.
  const problems = [];
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(WAIT);
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('dialog', async (d) => {
      problems.push(`dialog: ${d.type()} ${d.message()}`);
      await d.dismiss();
    });
    // Chromium logs every 4xx answer as a console error; a 400 (a lease that has ended, a
    // refused login), 403 or 404 is an answer the page handles and shows. Anything else logged
    // as an error (a script error, a CSP report, a 5xx) fails the scenario.
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 40[034] /.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    const out = await fn(page);
    assert.deepEqual(problems, [], 'the page reported problems');
    return out;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

async function shot(page, name) {
  // The body only: as tall as what is on screen, without the empty viewport below it.
  if (shots) await page.locator('body').screenshot({ path: path.join(shots, `${name}.png`) });
}

// axe-core's WCAG 2 A/AA rules on the screen shown now; any violation fails the scenario. The
// engine goes in through the DevTools protocol (page.evaluate), which the page's CSP does not
// govern: the page itself still allows no script but its own.
async function accessible(page, screen) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] });
    return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  assert.deepEqual(violations, [], `accessibility violations on ${screen}`);
}

// Sign in with the keyboard only: focus the field, type, Enter.
async function signIn(page, token) {
  await page.goto(`${args.addr}/ui/`);
  await page.getByLabel('Token').focus();
  await page.keyboard.type(token);
  await page.keyboard.press('Enter');
  await page.locator('#nav').waitFor({ state: 'visible' });
}

async function leaseRow(page, id) {
  const row = page.locator(`tr[data-lease-id="${id}"]`);
  await row.waitFor({ state: 'visible' });
  return row;
}

// A row's cells by their labels: {Account: '…', …}.
const cells = (row) =>
  row.locator('td').evaluateAll((tds) => Object.fromEntries(tds.map((td) => [td.dataset.label, td.textContent])));

// The server's API with the scenario's token, behind the page's back (another operator).
async function api(method, apiPath, body) {
  const resp = await fetch(`${args.addr}/v1/${apiPath}`, {
    method,
    headers: { 'X-Vault-Token': args.token, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  assert.ok(resp.ok, `${method} ${apiPath}: ${resp.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// The next live update: the "updated …" time in the header changes (it fails on timeout).
async function nextUpdate(page) {
  const before = await page.locator('#live-when').textContent();
  await page.waitForFunction((b) => {
    const t = document.getElementById('live-when').textContent;
    return t !== b && t.startsWith('updated');
  }, before);
}

// Every request the page makes to the API, as `METHOD path`.
function recordCalls(page) {
  const calls = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/v1/')) calls.push(`${r.method()} ${u.pathname.slice(4)}`);
  });
  return calls;
}

// What has focus: its id, name and whether it shows a focus ring.
const focused = (page) =>
  page.evaluate(() => {
    const e = document.activeElement;
    const css = getComputedStyle(e);
    return {
      id: e.id,
      tag: e.tagName.toLowerCase(),
      text: (e.textContent || '').trim().slice(0, 60),
      name: e.getAttribute('name') || '',
      ring: e.matches(':focus-visible') && css.outlineStyle !== 'none' && parseFloat(css.outlineWidth) >= 2,
    };
  });

// Tab (or Shift+Tab) until the focused element matches `selector`, checking that every control
// focus lands on on the way shows a focus ring. Keyboard only: no click, no focus() call.
async function tabTo(page, selector, { back = false, max = 60 } = {}) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    const f = await focused(page);
    if (['button', 'input', 'select'].includes(f.tag)) assert.ok(f.ring, `no visible focus on ${JSON.stringify(f)}`);
    if (await page.evaluate((s) => document.activeElement.matches(s), selector)) return f;
  }
  throw new Error(`${selector} not reached in ${max} presses of ${back ? 'Shift+Tab' : 'Tab'}`);
}

async function focusIs(page, selector, when) {
  const ok = await page.evaluate((s) => document.activeElement.matches(s), selector);
  assert.ok(ok, `${when}: focus on ${JSON.stringify(await focused(page))}, not ${selector}`);
}

const scenarios = {
  // Sign in: the token lands in sessionStorage only; the list of credentials shows.
  async signin(page) {
    await page.goto(`${args.addr}/ui/`);
    await page.locator('#screen-signin').waitFor({ state: 'visible' });
    await accessible(page, 'sign-in');
    await shot(page, 'signin');
    await signIn(page, args.token);
    await page.locator('#screen-leases').waitFor({ state: 'visible' });
    const stored = await page.evaluate(() => ({
      session: sessionStorage.getItem('leasehold.token'),
      local: localStorage.length,
      cookie: document.cookie,
    }));
    assert.equal(stored.session, args.token);
    assert.equal(stored.local, 0);
    assert.equal(stored.cookie, '');
    // A reload keeps the session (same tab); signing out forgets the token.
    await page.reload();
    await page.locator('#screen-leases').waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#screen-signin').waitFor({ state: 'visible' });
    const after = await page.evaluate(() => sessionStorage.length);
    assert.equal(after, 0);
    return { signedIn: true };
  },

  // A credential issued through the API is in the table, with its workload and a countdown.
  async see(page) {
    await signIn(page, args.token);
    const row = await leaseRow(page, args.lease_id);
    const cells = await row.locator('td').allInnerTexts();
    await page.waitForFunction(
      (id) => /^in \d/.test(document.querySelector(`tr[data-lease-id="${id}"] .countdown`)?.textContent || ''),
      args.lease_id,
    );
    await accessible(page, 'live credentials');
    await shot(page, 'leases');
    // The role filter keeps the row; another role's filter leaves it out.
    const filters = page.locator('#lease-filters');
    await filters.getByLabel('Role').fill(args.role);
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await leaseRow(page, args.lease_id);
    await filters.getByLabel('Role').fill(`${args.role}-other`);
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await page.locator('#leases-caption', { hasText: '0 live credential' }).waitFor();
    await filters.getByLabel('Role').fill('');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    const again = await leaseRow(page, args.lease_id);
    // A phone's width: each row is a card of labelled cells, no header row.
    await page.setViewportSize({ width: 390, height: 844 });
    const phone = await again.locator('td').first().evaluate((td) => ({
      cell: getComputedStyle(td).display,
      label: getComputedStyle(td, '::before').content,
      headerShown: document.querySelector('#leases-table thead').getBoundingClientRect().right > 0,
    }));
    await shot(page, 'leases-phone');
    return { cells, phone };
  },

  // The counts above the list: a role's row of numbers, a role with an irrevocable lease marked.
  async counts(page) {
    await signIn(page, args.token);
    const row = page.locator(`#counts-table tr[data-count-role="${args.role}"]`);
    const stuck = page.locator(`#counts-table tr[data-count-role="${args.stuck_role}"]`);
    await row.waitFor({ state: 'visible' });
    await stuck.waitFor({ state: 'visible' });
    await accessible(page, 'live credentials with counts');
    // After one live update, so the header shows when the screen was last read.
    await nextUpdate(page);
    await shot(page, 'counts');
    return {
      role: await cells(row),
      roleClass: await row.getAttribute('class'),
      stuck: await cells(stuck),
      stuckClass: await stuck.getAttribute('class'),
      caption: await page.locator('#counts-caption').innerText(),
    };
  },

  // Evidence: the irrevocable lease with its last error; the orphan reported, then destroyed
  // once the mount's name is typed.
  async evidence(page) {
    await signIn(page, args.token);
    await page.getByRole('button', { name: 'Evidence' }).click();
    await page.locator('#screen-evidence').waitFor({ state: 'visible' });
    const stuck = page.locator(`#irrevocable-table tr[data-lease-id="${args.stuck_lease}"]`);
    await stuck.waitFor({ state: 'visible' });
    const orphan = () => page.locator(`#orphans-table tr[data-orphan="${args.orphan}"]`);
    await orphan().waitFor({ state: 'visible' });
    const before = await cells(orphan());
    const destroy = page.getByRole('button', { name: 'Destroy its marked orphans' });
    const field = page.getByLabel('Type the mount whose marked orphans to destroy');
    assert.equal(await destroy.isDisabled(), true, 'enabled before the mount was typed');
    await field.fill('databas');
    assert.equal(await destroy.isDisabled(), true, 'enabled with a wrong mount');
    await field.fill('database');
    assert.equal(await destroy.isDisabled(), false, 'still disabled with the right mount');
    await accessible(page, 'evidence');
    await shot(page, 'evidence');
    await destroy.click();
    await page.locator('#orphans-caption', { hasText: 'Destroyed on database/' }).waitFor();
    const after = await cells(orphan());
    await shot(page, 'evidence-destroyed');
    return { stuck: await cells(stuck), before, after };
  },

  // The charts: one per histogram and mount with destructions, drawn by uPlot on a canvas, with
  // its numbers in a table beside it.
  async charts(page) {
    await signIn(page, args.token);
    await page.getByRole('button', { name: 'Evidence' }).click();
    const fig = page.locator('figure[data-chart="privilege_duration_seconds"][data-mount="database/"]');
    await fig.waitFor({ state: 'visible' });
    const canvas = fig.locator('canvas');
    await canvas.first().waitFor({ state: 'visible' });
    const box = await canvas.first().boundingBox();
    const counts = await fig.locator('table.chart-data tbody td:nth-child(2)').allTextContents();
    const label = await fig.locator('.chart').getAttribute('aria-label');
    await accessible(page, 'evidence with charts');
    await shot(page, 'charts');
    return { width: box.width, height: box.height, counts: counts.map(Number), label };
  },

  // Open the lease, press Renew then Revoke and confirm: the page says so and the row is gone
  // from the list.
  async revoke(page) {
    await signIn(page, args.token);
    const row = await leaseRow(page, args.lease_id);
    await row.locator('button[data-lease]').click();
    await page.locator('#screen-lease').waitFor({ state: 'visible' });
    const fields = await page.locator('#lease-fields').innerText();
    assert.ok(fields.includes(args.lease_id), fields);
    await accessible(page, 'a lease');
    await shot(page, 'lease');
    await page.getByRole('button', { name: 'Renew', exact: true }).click();
    await page.locator('#status', { hasText: 'Renewed' }).waitFor();
    await page.getByRole('button', { name: 'Revoke', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke this lease?' });
    await dialog.waitFor({ state: 'visible' });
    await accessible(page, 'revoke confirmation');
    await shot(page, 'lease-confirm');
    await dialog.getByRole('button', { name: 'Revoke the lease' }).click();
    await page.locator('#status', { hasText: 'Revoked' }).waitFor();
    await page.locator('#screen-leases').waitFor({ state: 'visible' });
    // The list is reloaded after the screen shows: wait for the row to go (it fails on timeout).
    await page.locator(`#leases-table tr[data-lease-id="${args.lease_id}"]`).waitFor({ state: 'detached' });
    return { revoked: args.lease_id };
  },

  // Type the workload's name twice; only then can "revoke everything" be pressed.
  // The workload page opens from a workload in the list and shows its live tokens (children
  // below their parent) above every lease it holds, and its access history; after the
  // revocation it shows neither tokens nor leases, and the history shows them ended.
  async workload(page) {
    await signIn(page, args.token);
    const row = await leaseRow(page, args.lease_id);
    await row.getByRole('button', { name: args.workload }).click();
    const screen = page.locator('#screen-workload');
    await screen.waitFor({ state: 'visible' });
    await page.locator('#workload-holds-caption', { hasText: `holds ${args.count} lease` }).waitFor();
    await page.locator('#workload-tokens-caption', { hasText: `holds ${args.tokens} live token` }).waitFor();
    assert.equal(await screen.getByLabel('Workload', { exact: true }).inputValue(), args.workload);
    const rowsOf = async (table) => {
      const out = [];
      for (const r of await page.locator(`${table} tbody tr`).all()) out.push(await cells(r));
      return out;
    };
    await page.locator('#workload-history-caption', { hasText: `${args.count} lease(s) in its history` }).waitFor();
    const holds = await rowsOf('#workload-holds');
    const tokens = await rowsOf('#workload-tokens');
    const history = await rowsOf('#workload-history');
    await accessible(page, 'a workload');
    await shot(page, 'workload-holds');
    const revoke = page.getByRole('button', { name: 'Revoke everything it holds' });
    assert.equal(await revoke.isDisabled(), true, 'enabled before the name was typed again');
    await page.getByLabel("Type the workload's name again to confirm").fill(args.workload.slice(0, -1));
    assert.equal(await revoke.isDisabled(), true, 'enabled with a wrong name');
    await page.getByLabel("Type the workload's name again to confirm").fill(args.workload);
    await shot(page, 'workload-confirm');
    await revoke.click();
    await page.locator('#workload-caption', { hasText: 'account(s) destroyed' }).waitFor();
    const caption = await page.locator('#workload-caption').innerText();
    const results = await page.locator('#workload-table tbody td[data-label="Result"]').allInnerTexts();
    await page.locator('#workload-tokens-caption', { hasText: 'holds 0 live token' }).waitFor();
    await page.locator('#workload-holds-caption', { hasText: 'holds 0 lease' }).waitFor();
    await page.locator('#workload-history tbody td[data-label="How"]', { hasText: 'revoked' }).first().waitFor();
    const tokensAfter = await rowsOf('#workload-tokens');
    const holdsAfter = await rowsOf('#workload-holds');
    const historyAfter = await rowsOf('#workload-history');
    await accessible(page, 'revoke a workload');
    await shot(page, 'workload');
    return {
      caption, results, holds, tokens, history,
      tokens_after: tokensAfter, holds_after: holdsAfter, history_after: historyAfter,
    };
  },

  // A token that may list and look up but not revoke: no Revoke button, no workload screen.
  async norevoke(page) {
    await signIn(page, args.token);
    const row = await leaseRow(page, args.lease_id);
    await row.locator('button[data-lease]').click();
    await page.locator('#screen-lease').waitFor({ state: 'visible' });
    await shot(page, 'lease-readonly');
    return {
      revokeVisible: await page.getByRole('button', { name: 'Revoke', exact: true }).isVisible(),
      renewVisible: await page.getByRole('button', { name: 'Renew', exact: true }).isVisible(),
      workloadNavVisible: await page.getByRole('button', { name: 'Revoke a workload' }).isVisible(),
      countsVisible: await page.locator('#counts-block').isVisible(),
    };
  },

  // A purpose holding markup is shown as its characters: no element is made from it.
  async markup(page) {
    await signIn(page, args.token);
    const row = await leaseRow(page, args.lease_id);
    const purpose = await row.locator('td.purpose').innerText();
    const imgs = await page.locator('img').count();
    await row.locator('button[data-lease]').click();
    await page.locator('#screen-lease').waitFor({ state: 'visible' });
    const fields = await page.locator('#lease-fields').innerText();
    return { purpose, imgs, imgsInLease: await page.locator('img').count(), fieldsHavePurpose: fields.includes(args.purpose) };
  },

  // The approver's screen: the pending request, approved with a comment.
  async approvals(page) {
    await signIn(page, args.token);
    await page.getByRole('button', { name: 'Approvals' }).click();
    const item = page.locator('#approvals-list li').first();
    await item.waitFor({ state: 'visible' });
    const text = await item.innerText();
    await accessible(page, 'approvals');
    await shot(page, 'approvals');
    await item.getByLabel('Comment').fill(args.comment);
    // A live update redraws the request's facts, not the comment being typed.
    await nextUpdate(page);
    assert.equal(await item.getByLabel('Comment').inputValue(), args.comment);
    await item.getByRole('button', { name: 'Approve' }).click();
    await page.locator('#status', { hasText: 'Approved request' }).waitFor();
    return { text };
  },

  // Live updates while the table changes underneath: rows issued and revoked through the API
  // come and go without a click, announced politely, with the filters (applied and typed),
  // and focus, left as they were; paused, nothing changes; an open lease revoked elsewhere
  // shows as ended; a revoke confirmed after someone else revoked the lease is not sent.
  async live(page) {
    const calls = recordCalls(page);
    await signIn(page, args.token);
    const filters = page.locator('#lease-filters');
    await filters.getByLabel('Role').fill(args.role);
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await leaseRow(page, args.keep);
    // Typed but not applied: a live update must neither apply nor clear it.
    await filters.getByLabel('Mount').fill('typed-not-applied');
    await filters.getByLabel('Workload').focus();
    const issued = await api('GET', `database/creds/${args.role}`);
    await leaseRow(page, issued.lease_id);
    await page.locator('#live-news', { hasText: '1 new' }).waitFor();
    const liveRegion = await page.locator('#live-news').getAttribute('aria-live');
    await api('PUT', 'sys/leases/revoke', { lease_id: issued.lease_id, sync: true });
    await page.locator(`tr[data-lease-id="${issued.lease_id}"]`).waitFor({ state: 'detached' });
    await page.locator('#live-news', { hasText: '1 gone' }).waitFor();
    const kept = {
      mount: await filters.getByLabel('Mount').inputValue(),
      role: await filters.getByLabel('Role').inputValue(),
      focus: (await focused(page)).name,
    };
    await accessible(page, 'live credentials, live');

    // Paused: a lease issued now does not appear, however long one waits; resumed, it does.
    await page.getByLabel('Live updates').uncheck();
    const whenPaused = await page.locator('#live-when').textContent();
    const quiet = await api('GET', `database/creds/${args.role}`);
    const before = calls.length;
    await page.waitForTimeout(7000);
    const paused = {
      shown: await page.locator(`tr[data-lease-id="${quiet.lease_id}"]`).count(),
      calls: calls.length - before,
      when: whenPaused,
    };
    await page.getByLabel('Live updates').check();
    await leaseRow(page, quiet.lease_id);

    // An open lease revoked elsewhere: shown as ended, its buttons gone, no error.
    await (await leaseRow(page, args.ends)).locator('button[data-lease]').click();
    await page.locator('#screen-lease').waitFor({ state: 'visible' });
    await api('PUT', 'sys/leases/revoke', { lease_id: args.ends, sync: true });
    await page.locator('#lease-ended').waitFor({ state: 'visible' });
    await page.locator('#live-news', { hasText: 'This lease has ended' }).waitFor();
    const ended = {
      revokeVisible: await page.locator('#lease-revoke').isVisible(),
      renewVisible: await page.locator('#lease-renew').isVisible(),
      fieldsKept: (await page.locator('#lease-fields').innerText()).includes(args.ends),
      status: await page.locator('#status').textContent(),
    };
    await accessible(page, 'an ended lease');
    await shot(page, 'lease-ended');

    // A revoke confirmed after another operator revoked the lease: no refresh while the dialog
    // is open, and no second revocation when it is confirmed.
    await page.getByRole('button', { name: 'Back to the list' }).click();
    await (await leaseRow(page, args.twice)).locator('button[data-lease]').click();
    await page.locator('#screen-lease').waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'Revoke', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke this lease?' });
    await dialog.waitFor({ state: 'visible' });
    await api('PUT', 'sys/leases/revoke', { lease_id: args.twice, sync: true });
    const inDialog = calls.length;
    await page.waitForTimeout(7000);
    const callsWhileOpen = calls.length - inDialog;
    await dialog.getByRole('button', { name: 'Revoke the lease' }).click();
    await page.locator('#status', { hasText: 'had already ended' }).waitFor();
    await page.locator('#lease-ended').waitFor({ state: 'visible' });
    const twice = {
      status: await page.locator('#status').textContent(),
      callsWhileOpen,
      revokeCalls: calls.filter((c) => c === 'PUT sys/leases/revoke').length,
      focusOnEnded: (await focused(page)).id,
    };
    return { kept, liveRegion, paused, ended, twice, issued: issued.lease_id, quiet: quiet.lease_id };
  },

  // The incident with the keyboard only (Tab, Shift+Tab, Enter, Space, Escape; no click): sign
  // in, find the workload by filtering the list, open it, open one of its leases and back out of
  // the revoke dialog, go back, revoke everything by typing its name, read the report. Every
  // control reached shows a focus ring; focus goes to each screen's heading, back to the button
  // that opened the dialog, and to the report.
  async incident(page) {
    await page.goto(`${args.addr}/ui/`);
    await page.locator('#screen-signin').waitFor({ state: 'visible' });
    await focusIs(page, '#signin-title', 'the sign-in screen');
    await tabTo(page, '#signin-token');
    await page.keyboard.type(args.token);
    await page.keyboard.press('Enter');
    await page.locator('#screen-leases').waitFor({ state: 'visible' });
    await focusIs(page, '#leases-title', 'after signing in');

    await tabTo(page, '#lease-filters [name="workload"]');
    await page.keyboard.type(args.workload);
    await page.keyboard.press('Enter');
    await page.locator('#leases-caption', { hasText: `${args.count} live credential` }).waitFor();
    await focusIs(page, '#lease-filters [name="workload"]', 'after applying the filters');
    await tabTo(page, `#leases-table button[data-workload="${args.workload}"]`);
    await page.keyboard.press('Enter');
    await page.locator('#screen-workload').waitFor({ state: 'visible' });
    await focusIs(page, '#workload-title', 'the workload opened');
    await page.locator('#workload-holds-caption', { hasText: `holds ${args.count} lease` }).waitFor();

    // One of its leases, and the revoke dialog left with Escape.
    await tabTo(page, `#workload-holds button[data-lease="${args.lease_id}"]`);
    await page.keyboard.press('Enter');
    await page.locator('#screen-lease').waitFor({ state: 'visible' });
    await focusIs(page, '#lease-title', 'the lease opened');
    await tabTo(page, '#lease-revoke');
    await page.keyboard.press('Space');
    await page.locator('#confirm[open]').waitFor();
    await focusIs(page, '#confirm-cancel', 'the dialog opened');
    await accessible(page, 'the revoke dialog');
    // Focus stays in the modal dialog.
    await page.keyboard.press('Tab');
    await focusIs(page, '#confirm-ok', 'Tab in the dialog');
    await page.keyboard.press('Shift+Tab');
    await focusIs(page, '#confirm-cancel', 'Shift+Tab in the dialog');
    await page.keyboard.press('Escape');
    await page.locator('#confirm').waitFor({ state: 'hidden' });
    await focusIs(page, '#lease-revoke', 'the dialog closed');
    const back = await tabTo(page, '#lease-back', { back: true });
    await page.keyboard.press('Enter');
    await page.locator('#screen-workload').waitFor({ state: 'visible' });
    await focusIs(page, '#workload-title', 'back on the workload');

    // Revoke everything: the typed name survives a live update, Enter submits.
    await tabTo(page, '#workload-confirm');
    await page.keyboard.type(args.workload);
    await nextUpdate(page);
    const typedKept = await page.locator('#workload-confirm').inputValue();
    await focusIs(page, '#workload-confirm', 'after a live update');
    await page.keyboard.press('Enter');
    await page.locator('#workload-caption', { hasText: 'account(s) destroyed' }).waitFor();
    await focusIs(page, '#workload-report-title', 'the report shown');
    await page.locator('#workload-holds-caption', { hasText: 'holds 0 lease' }).waitFor();
    await accessible(page, 'the report');
    await shot(page, 'incident');
    return {
      back: back.text,
      typedKept,
      caption: await page.locator('#workload-caption').innerText(),
      results: await page.locator('#workload-table tbody td[data-label="Result"]').allInnerTexts(),
    };
  },

  // Sign in with AppRole or a JWT (args.method): the login's client token is kept, as a typed
  // one would be; the secret (secret ID, JWT) is kept nowhere (no storage, no field). A wrong
  // secret (args.bad) signs nobody in. args.fields: the other fields, by label.
  async login(page) {
    await page.goto(`${args.addr}/ui/`);
    await page.getByLabel('Sign in with').selectOption(args.method);
    await accessible(page, `sign-in with ${args.method}`);
    const form = page.locator('#signin-form');
    const fillIn = async (secret) => {
      for (const [label, value] of Object.entries({ ...args.fields, [args.secret_label]: secret })) {
        await form.getByLabel(label, { exact: true }).fill(value);
      }
    };
    await fillIn(args.bad);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#status', { hasText: 'Login failed' }).waitFor();
    const refused = await page.evaluate(() => sessionStorage.length);
    await fillIn(args.secret);
    await shot(page, `signin-${args.method}`);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#screen-leases').waitFor({ state: 'visible' });
    const kept = await page.evaluate((secret) => ({
      session: sessionStorage.getItem('leasehold.token'),
      keys: Object.keys(sessionStorage),
      local: localStorage.length,
      cookie: document.cookie,
      secretInPage:
        document.documentElement.outerHTML.includes(secret) ||
        [...document.querySelectorAll('input')].some((i) => i.value.includes(secret)) ||
        Object.values(sessionStorage).some((v) => v.includes(secret)),
    }), args.secret);
    return { refused, ...kept };
  },
};

const run = scenarios[scenario];
if (!run) {
  console.error(`no scenario ${scenario}; known: ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
try {
  const out = await withPage(run);
  console.log(JSON.stringify(out));
} catch (e) {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
}
