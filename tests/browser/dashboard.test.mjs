// The dashboard in a real browser: the system's Chromium driven by playwright-core.
//
// Run by run.sh, which starts Spool and passes SPOOL_URL and SPOOL_TOKEN (an admin token).
// Screenshots go to SCREENSHOTS (default: target/browser under the repository).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = process.env.SPOOL_URL;
const ADMIN = process.env.SPOOL_TOKEN;
assert.ok(BASE && ADMIN, 'set SPOOL_URL and SPOOL_TOKEN (run.sh does)');
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHOTS = process.env.SCREENSHOTS || join(ROOT, 'target', 'browser');
mkdirSync(SHOTS, { recursive: true });
const WAIT = { timeout: 15000 };

/** The system's Chromium: CHROMIUM, else the first of the usual names on PATH. */
function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`]).toString().trim();
    } catch { /* next */ }
  }
  throw new Error('no Chromium on PATH (apt-get install chromium)');
}

/** Calls the native API directly (to set up what the dashboard does not do, like receiving). */
async function api(method, path, body, token = ADMIN) {
  const response = await fetch(BASE + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Receives every visible message of `queue` with visibility 0, `times` times (dead-letters them). */
async function receiveRepeatedly(queue, times) {
  for (let i = 0; i < times; i++) {
    await api('POST', `/v1/queues/${queue}/messages/receive`, { max_messages: 10, visibility_timeout: 0 });
  }
}

let browser;
let page;

before(async () => {
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  // Anything the page logs as an error fails the test at the end.
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error' && !/401|404|409/.test(m.text())) page.errors.push(m.text()); });
});

after(async () => {
  await browser?.close();
});

async function signIn(token) {
  await page.goto(`${BASE}/`);
  await page.evaluate(() => sessionStorage.clear());
  await page.goto(`${BASE}/#/`);
  await page.locator('#token').fill(token);
  await page.locator('#sign-in button[type=submit]').click();
}

/** Saves a screenshot, after checking no empty value leaked into the page as text. */
async function shot(name) {
  assert.doesNotMatch(await page.locator('main').innerText(), /\b(null|undefined|NaN)\b/, name);
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

test('a newcomer signs in, fills and drains a queue, dead-letters and redrives, purges', async () => {
  // A wrong token is refused and the sign-in says so.
  await signIn('not-a-token');
  await page.getByText('The token was rejected').waitFor(WAIT);
  await shot('01-sign-in');

  await signIn(ADMIN);
  await page.getByRole('heading', { name: 'Queues' }).waitFor(WAIT);

  // Create the dead-letter queue in the dashboard, its source through the API (with the rule).
  await page.locator('#new-queue').fill('e2e-orders-dlq');
  await page.getByRole('button', { name: 'Create queue' }).click();
  await page.locator('tr[data-queue="e2e-orders-dlq"]').waitFor(WAIT);
  await api('POST', '/v1/queues', { name: 'e2e-orders', dead_letter: { queue: 'e2e-orders-dlq', max_receive_count: 1 } });
  await page.locator('tr[data-queue="e2e-orders"]').waitFor(WAIT);

  // Send from the queue page and watch the count change without reloading.
  await page.locator('a', { hasText: /^e2e-orders$/ }).click();
  await page.getByRole('heading', { name: 'e2e-orders' }).waitFor(WAIT);
  await page.locator('#message-body').fill('{"order": 42}');
  await page.locator('#send').click();
  await page.locator('#send-result').filter({ hasText: 'Sent' }).waitFor(WAIT);
  await page.locator('#count-visible').filter({ hasText: /^1$/ }).waitFor(WAIT);

  // Peek shows body and receive count.
  await page.locator('#peek').click();
  const peeked = page.locator('#peek-table tbody tr');
  await peeked.first().waitFor(WAIT);
  assert.match(await peeked.first().innerText(), /\{"order": 42\}/);
  assert.match(await peeked.first().innerText(), /visible/);
  // A few more messages so the charts have something to show.
  for (let i = 0; i < 4; i++) await api('POST', '/v1/queues/e2e-orders/messages', { body: `more ${i}` });
  await page.locator('#count-visible').filter({ hasText: /^5$/ }).waitFor(WAIT);
  await page.waitForTimeout(2500);
  await shot('02-queue');

  // Two receives with visibility 0 move every message to the dead-letter queue.
  await receiveRepeatedly('e2e-orders', 2);
  await page.locator('#count-visible').filter({ hasText: /^0$/ }).waitFor(WAIT);

  // The list shows the dead-letter queue's count.
  await page.goto(`${BASE}/#/`);
  await page.locator('tr[data-queue="e2e-orders-dlq"] [data-count="visible"]').filter({ hasText: /^5$/ }).waitFor(WAIT);
  await shot('03-list');

  // Redrive from the dead-letter queue's page, with live progress until done.
  await page.locator('a', { hasText: /^e2e-orders-dlq$/ }).click();
  await page.locator('#redrive-start').click();
  await page.locator('#redrive-status').filter({ hasText: 'completed: 5 of 5 moved' }).waitFor(WAIT);
  assert.equal(await page.locator('#redrive-progress').getAttribute('value'), '5');
  await page.locator('#count-visible').filter({ hasText: /^0$/ }).waitFor(WAIT);
  await shot('04-redrive');
  const back = await api('GET', '/v1/queues/e2e-orders');
  assert.equal(back.counts.visible, 5);

  // A slow redrive can be cancelled midway.
  await receiveRepeatedly('e2e-orders', 2);
  await page.locator('#count-visible').filter({ hasText: /^5$/ }).waitFor(WAIT);
  await page.locator('#redrive-rate').fill('1');
  await page.locator('#redrive-start').click();
  await page.locator('#redrive-cancel').click(WAIT);
  await page.locator('#redrive-status').filter({ hasText: 'cancelled' }).waitFor(WAIT);
  const tasks = await api('GET', '/v1/queues/e2e-orders-dlq/redrive');
  assert.equal(tasks.tasks[0].status, 'cancelled');
  assert.ok(tasks.tasks[0].moved < 5, JSON.stringify(tasks.tasks[0]));

  // Purge asks first; cancelling keeps the messages, confirming deletes them.
  await page.locator('#purge').click();
  await page.locator('#purge-confirm').getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await page.locator('#purge-confirm').count(), 0);
  await page.locator('#purge').click();
  await page.locator('#purge-yes').click();
  await page.locator('#purge-result').filter({ hasText: /^Purged \d+ messages?\.$/ }).waitFor(WAIT);
  await page.locator('#count-visible').filter({ hasText: /^0$/ }).waitFor(WAIT);

  // Errors are shown: a message over the queue's size limit is refused with the API's words.
  await api('PATCH', '/v1/queues/e2e-orders-dlq', { max_message_bytes: 1024 });
  await page.locator('#message-body').fill('x'.repeat(2000));
  await page.locator('#send').click();
  await page.locator('#error').filter({ hasText: 'payload_too_large' }).waitFor(WAIT);
  await shot('05-error');

  assert.deepEqual(page.errors.filter((e) => !/413/.test(e)), []);
});

test('a read-only token sees no buttons it cannot use', async () => {
  const token = (await api('POST', '/v1/tokens', { name: 'e2e reader', scopes: ['messages:receive'] })).token;
  await signIn(token);
  await page.getByRole('heading', { name: 'Queues' }).waitFor(WAIT);
  await page.locator('tr[data-queue="e2e-orders"]').waitFor(WAIT);
  assert.equal(await page.locator('#create-queue').count(), 0);
  // Keyboard: focus stays on a queue link across the list's refreshes, and Enter opens it.
  await page.locator('tr[data-queue="e2e-orders"] a').focus();
  await page.waitForTimeout(2500);
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'e2e-orders');
  await page.keyboard.press('Enter');
  await page.locator('#peek').waitFor(WAIT);
  assert.equal(await page.locator('#send').count(), 0);
  assert.equal(await page.locator('#purge').count(), 0);
  await page.goto(`${BASE}/#/queues/e2e-orders-dlq`);
  await page.locator('#redrive').getByText('dead-lettered from').waitFor(WAIT);
  assert.equal(await page.locator('#redrive-start').count(), 0);
  await shot('06-read-only');
});

test('an expired token returns to the sign-in', async () => {
  const token = (await api('POST', '/v1/tokens', { name: 'e2e short', scopes: ['admin'], expires_in_seconds: 2 })).token;
  await signIn(token);
  await page.getByRole('heading', { name: 'Queues' }).waitFor(WAIT);
  // The list polls every 2 s; once the token expires, the next poll signs out.
  await page.getByText('The token was rejected').waitFor({ timeout: 10000 });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('spool.token')), null);
});

test('a queue filling and draining, as the README shows it (target/browser/dashboard.png)', async () => {
  await signIn(ADMIN);
  await api('POST', '/v1/queues', { name: 'payments', visibility_timeout: 30 });
  await page.goto(`${BASE}/#/queues/payments`);
  await page.locator('#count-visible').waitFor(WAIT);
  // About ten seconds: a burst of sends, then a worker receiving and deleting.
  for (let step = 0; step < 10; step++) {
    if (step < 5) {
      const messages = Array.from({ length: 20 }, (_, i) => ({ body: `payment ${step}-${i}` }));
      await api('POST', '/v1/queues/payments/messages', { messages });
    } else {
      const got = await api('POST', '/v1/queues/payments/messages/receive', { max_messages: 15 });
      const entries = got.messages.slice(0, 12).map((m) => ({ receipt_handle: m.receipt_handle }));
      await api('POST', '/v1/queues/payments/messages/delete', { entries });
    }
    await page.waitForTimeout(1000);
  }
  await page.locator('#peek').click();
  await page.locator('#peek-table').waitFor(WAIT);
  await page.waitForTimeout(2100);
  await shot('dashboard');
});
