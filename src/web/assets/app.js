// The Spool dashboard: vanilla JavaScript over the native API (/v1), no build step.
//
// The API token lives in sessionStorage only (gone when the tab closes). Views are chosen by the
// URL hash: `#/` lists queues, `#/queues/<name>` shows one. Live numbers are polled every
// POLL_MS; the last HISTORY samples per queue feed the sparklines and charts.
'use strict';

const TOKEN_KEY = 'spool.token';
const POLL_MS = 2000;
const HISTORY = 90; // samples: three minutes at POLL_MS
const MAX_COUNTED = 100; // queues whose counts the list fetches on each poll

const state = {
  me: null,
  queues: [], // every queue of the account the token may see (settings only)
  history: new Map(), // queue name -> [{ t, visible, inFlight, delayed }]
  rates: new Map(), // queue name -> [{ t, sent, received, deleted }] per second
  lastCounters: new Map(), // queue name -> { t, sent, received, deleted } totals
  timer: null,
  view: null, // the current view's refresh function
  redriveTimer: null,
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// ---------- helpers ----------

/** Builds an element: h('td', { class: 'num' }, 'text', child). Text is never parsed as HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const $ = (selector, root = document) => root.querySelector(selector);

/**
 * Replaces an element's children, skipping the empty ones (`cond ? el : null`). Live parts are
 * rebuilt on every poll, so keyboard focus inside them moves to the new element with the same id
 * or `data-focus` key instead of falling back to the page.
 */
function mount(el, ...children) {
  const focused = el.contains(document.activeElement) ? document.activeElement : null;
  const key = focused && (focused.id || focused.dataset.focus);
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  if (key) {
    const again = [...el.querySelectorAll('[id], [data-focus]')].find((e) => (e.id || e.dataset.focus) === key);
    again?.focus();
  }
}
const enc = encodeURIComponent;

function fmtAge(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d ${Math.floor((seconds % 86400) / 3600)}h`;
}

function fmtTime(iso) {
  return iso ? new Date(iso).toLocaleString() : '—';
}

function showError(error) {
  const box = $('#error');
  box.replaceChildren(
    h('span', {}, error instanceof ApiError ? `${error.message} (${error.code})` : String(error.message || error)),
    h('button', { class: 'link', type: 'button', onclick: () => { box.hidden = true; } }, 'Dismiss'),
  );
  box.hidden = false;
}

function clearError() {
  $('#error').hidden = true;
}

// ---------- API ----------

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'network_error', `Spool is unreachable: ${e.message}`);
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (response.status === 401) {
    signOut('The token was rejected (expired, revoked or wrong). Sign in again.');
    throw new ApiError(401, 'unauthorized', data?.error?.message || 'unauthorized');
  }
  if (!response.ok) {
    throw new ApiError(response.status, data?.error?.code || `http_${response.status}`,
      data?.error?.message || text || response.statusText);
  }
  return data;
}

// ---------- scopes ----------

const SCOPES = ['admin', 'queues:manage', 'messages:send', 'messages:receive'];

function parseGrant(grant) {
  const scope = SCOPES.filter((s) => grant === s || grant.startsWith(`${s}:`)).sort((a, b) => b.length - a.length)[0];
  if (!scope) return null;
  const pattern = grant.length > scope.length ? grant.slice(scope.length + 1) : null;
  return { scope, pattern };
}

function globMatch(pattern, text) {
  const escaped = pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`).test(text);
}

/** Whether the token may act with `scope` on `queue` (the server decides; this hides buttons). */
function allows(scope, queue) {
  return (state.me?.scopes || []).map(parseGrant).some((g) => g && (g.scope === 'admin'
    || (g.scope === scope && (g.pattern === null || (queue !== undefined && globMatch(g.pattern, queue))))));
}

/** Whether some grant of `scope` could cover a queue not yet named (for the create form). */
function allowsSome(scope) {
  return (state.me?.scopes || []).map(parseGrant).some((g) => g && (g.scope === 'admin' || g.scope === scope));
}

// ---------- session ----------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.me = null;
  stopTimers();
  renderSignIn(message);
}

function stopTimers() {
  clearInterval(state.timer);
  clearInterval(state.redriveTimer);
  state.timer = null;
  state.redriveTimer = null;
  state.view = null;
}

function renderWho() {
  const who = $('#who');
  if (!state.me) {
    who.replaceChildren();
    return;
  }
  who.replaceChildren(
    h('span', { title: 'Scopes of this token' }, `Account ${state.me.account_id} · ${state.me.scopes.join(', ')}`),
    h('button', { class: 'link', type: 'button', id: 'sign-out', onclick: () => signOut('Signed out.') }, 'Sign out'),
  );
}

function renderSignIn(message) {
  renderWho();
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true,
    placeholder: 'eyJ…', 'aria-describedby': 'token-help' });
  const form = h('form', { class: 'card signin', id: 'sign-in', onsubmit: async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    await start();
  } },
  h('h1', {}, 'Sign in to Spool'),
  message ? h('p', { class: 'muted', role: 'status' }, message) : null,
  h('label', { for: 'token' }, 'API token', input),
  h('p', { id: 'token-help', class: 'muted' },
    'Create one with ', h('code', {}, 'spool token create --name me --scope admin'),
    '. It is kept in this browser tab only.'),
  h('button', { type: 'submit' }, 'Sign in'));
  mount($('#app'), form);
  input.focus();
}

async function start() {
  clearError();
  try {
    state.me = await api('GET', '/v1/me');
  } catch (e) {
    if (e.status !== 401) showError(e);
    return;
  }
  renderWho();
  route();
}

function route() {
  stopTimers();
  if (!state.me) return;
  const match = location.hash.match(/^#\/queues\/(.+)$/);
  if (match) renderQueue(decodeURIComponent(match[1]));
  else renderList();
  $('#app').focus();
}

function every(refresh) {
  state.view = refresh;
  const tick = async () => {
    try {
      await refresh();
    } catch (e) {
      if (e.status !== 401) showError(e);
    }
  };
  tick();
  state.timer = setInterval(() => { if (!document.hidden) tick(); }, POLL_MS);
}

// ---------- data ----------

async function loadQueues() {
  const queues = [];
  let cursor = null;
  do {
    const page = await api('GET', `/v1/queues?limit=1000${cursor ? `&cursor=${enc(cursor)}` : ''}`);
    queues.push(...page.queues);
    cursor = page.next_cursor || null;
  } while (cursor && queues.length < 10000);
  state.queues = queues;
  return queues;
}

function remember(name, counts) {
  const samples = state.history.get(name) || [];
  samples.push({ t: Date.now(), visible: counts.visible, inFlight: counts.in_flight, delayed: counts.delayed });
  while (samples.length > HISTORY) samples.shift();
  state.history.set(name, samples);
}

async function loadQueue(name) {
  const queue = await api('GET', `/v1/queues/${enc(name)}`);
  remember(name, queue.counts);
  return queue;
}

/** Message rates of one queue from the Prometheus counters (present while it has a label). */
async function loadRates(queue) {
  const response = await fetch('/metrics');
  if (!response.ok) return;
  const text = await response.text();
  const labels = `account="${state.me.account_id}",queue="${queue}"`;
  const total = (name) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };
  const now = { t: Date.now(), sent: total('spool_messages_sent_total'),
    received: total('spool_messages_received_total'), deleted: total('spool_messages_deleted_total') };
  const last = state.lastCounters.get(queue);
  state.lastCounters.set(queue, now);
  if (!last) return;
  const seconds = (now.t - last.t) / 1000;
  const rate = (k) => Math.max(0, (now[k] - last[k]) / seconds);
  const samples = state.rates.get(queue) || [];
  samples.push({ t: now.t, sent: rate('sent'), received: rate('received'), deleted: rate('deleted') });
  while (samples.length > HISTORY) samples.shift();
  state.rates.set(queue, samples);
}

// ---------- charts (inline SVG) ----------

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** Lines for `series` ([{ key, color }]) over `samples`; a fixed viewBox scaled by CSS. */
function chart(samples, series, { width = 600, height = 140, className = 'chart', label } = {}) {
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: className, role: 'img',
    preserveAspectRatio: 'none', 'aria-label': label || 'chart' });
  const pad = className === 'spark' ? 2 : 8;
  const max = Math.max(1, ...samples.flatMap((s) => series.map(({ key }) => s[key])));
  // Newest sample at the right edge; the window is the last minute at first and grows to
  // HISTORY samples as they accumulate.
  const span = Math.max(samples.length, 60000 / POLL_MS) - 1;
  const x = (i) => width - pad - ((samples.length - 1 - i) * (width - 2 * pad)) / span;
  const y = (v) => height - pad - (v * (height - 2 * pad)) / max;
  if (className !== 'spark') {
    const top = svg('text', { x: width - pad, y: 14, 'text-anchor': 'end', 'font-size': 11, fill: '#5b6475' });
    top.textContent = Number.isInteger(max) ? String(max) : max.toFixed(1);
    root.append(top);
  }
  for (const { key, color } of series) {
    if (samples.length === 0) continue;
    const points = samples.map((s, i) => `${x(i).toFixed(1)},${y(s[key]).toFixed(1)}`).join(' ');
    root.append(svg('polyline', { points, fill: 'none', stroke: color, 'stroke-width': className === 'spark' ? 1.5 : 2,
      'vector-effect': 'non-scaling-stroke' }));
  }
  return root;
}

const DEPTH_SERIES = [
  { key: 'visible', color: '#2456c7', name: 'visible' },
  { key: 'inFlight', color: '#d97706', name: 'in flight' },
  { key: 'delayed', color: '#7c3aed', name: 'delayed' },
];
const RATE_SERIES = [
  { key: 'sent', color: '#1e7a3c', name: 'sent/s' },
  { key: 'received', color: '#2456c7', name: 'received/s' },
  { key: 'deleted', color: '#b3261e', name: 'deleted/s' },
];

function legend(series) {
  return h('div', { class: 'legend' }, series.map((s) => {
    const swatch = h('i', {});
    swatch.style.background = s.color; // CSSOM, which the page's content security policy allows
    return h('span', {}, swatch, s.name);
  }));
}

// ---------- queue list ----------

function renderList() {
  const body = h('tbody', { id: 'queue-rows' });
  const canCreate = allowsSome('queues:manage');
  const name = h('input', { id: 'new-queue', name: 'name', required: true, pattern: '[A-Za-z0-9_\\-]{1,75}(\\.fifo)?',
    placeholder: 'orders' });
  mount($('#app'),
    h('h1', {}, 'Queues'),
    canCreate ? h('form', { class: 'card inline', id: 'create-queue', onsubmit: async (event) => {
      event.preventDefault();
      try {
        await api('POST', '/v1/queues', { name: name.value.trim() });
        name.value = '';
        clearError();
        await state.view();
      } catch (e) { showError(e); }
    } }, h('label', { for: 'new-queue' }, 'New queue name', name), h('button', { type: 'submit' }, 'Create queue')) : null,
    h('div', { class: 'card' },
      h('table', { 'aria-describedby': 'list-note' },
        h('thead', {}, h('tr', {},
          h('th', {}, 'Queue'), h('th', { class: 'num' }, 'Visible'), h('th', { class: 'num' }, 'In flight'),
          h('th', { class: 'num' }, 'Delayed'), h('th', { class: 'num' }, 'Oldest'), h('th', {}, 'Depth (3 min)'),
          h('th', {}, 'Dead-letters to'))),
        body),
      h('p', { id: 'list-note', class: 'muted' }, `Counts refresh every ${POLL_MS / 1000} s.`)),
  );
  every(refreshList);
}

async function refreshList() {
  const queues = await loadQueues();
  const counted = queues.slice(0, MAX_COUNTED);
  const details = await Promise.all(counted.map((q) => loadQueue(q.name).catch(() => null)));
  const body = $('#queue-rows');
  if (!body) return;
  if (queues.length === 0) {
    body.replaceChildren(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No queues yet.')));
    return;
  }
  mount(body, ...queues.map((q, i) => {
    const c = details[i]?.counts;
    const samples = state.history.get(q.name) || [];
    return h('tr', { dataset: { queue: q.name } },
      h('td', {}, h('a', { href: `#/queues/${enc(q.name)}`, dataset: { focus: `queue-link-${q.name}` } }, q.name)),
      h('td', { class: 'num', dataset: { count: 'visible' } }, c ? c.visible : '—'),
      h('td', { class: 'num', dataset: { count: 'in_flight' } }, c ? c.in_flight : '—'),
      h('td', { class: 'num', dataset: { count: 'delayed' } }, c ? c.delayed : '—'),
      h('td', { class: 'num' }, c ? fmtAge(c.oldest_message_age_seconds) : '—'),
      h('td', {}, c ? chart(samples, DEPTH_SERIES.slice(0, 2), { width: 120, height: 26, className: 'spark',
        label: `depth of ${q.name}` }) : ''),
      h('td', {}, q.settings.dead_letter ? `${q.settings.dead_letter.queue} after ${q.settings.dead_letter.max_receive_count}` : ''));
  }));
}

// ---------- one queue ----------

function renderQueue(name) {
  const can = {
    manage: allows('queues:manage', name),
    send: allows('messages:send', name),
    peek: allows('messages:receive', name),
  };
  const bodyInput = h('textarea', { id: 'message-body', name: 'body' }, 'Hello from the Spool dashboard');
  mount($('#app'),
    h('p', {}, h('a', { href: '#/' }, '← All queues')),
    h('h1', {}, name),
    h('div', { class: 'card' }, h('div', { class: 'stats', id: 'counts' }, 'Loading…')),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Depth'), legend(DEPTH_SERIES), h('div', { id: 'depth-chart' })),
      h('section', { class: 'card' }, h('h2', {}, 'Throughput (messages per second)'), legend(RATE_SERIES),
        h('div', { id: 'rate-chart' }))),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Settings'), h('dl', { class: 'settings', id: 'settings' })),
      h('section', { class: 'card', id: 'actions' }, h('h2', {}, 'Actions'),
        can.send ? h('form', { id: 'send-form', onsubmit: (event) => { event.preventDefault(); sendTest(name, bodyInput.value); } },
          h('label', { for: 'message-body' }, 'Test message body', bodyInput),
          h('p', { class: 'row' }, h('button', { type: 'submit', id: 'send' }, 'Send test message'),
            h('span', { id: 'send-result', role: 'status', class: 'notice' }))) : null,
        can.manage ? h('div', { id: 'purge-area' },
          h('button', { type: 'button', class: 'danger', id: 'purge', onclick: () => confirmPurge(name) }, 'Purge…'),
          h('span', { id: 'purge-result', role: 'status', class: 'notice' })) : null,
        !can.send && !can.manage ? h('p', { class: 'muted' }, 'This token may only look at this queue.') : null)),
    h('section', { class: 'card', id: 'redrive', hidden: true }),
    can.peek ? h('section', { class: 'card' }, h('div', { class: 'row' }, h('h2', {}, 'Messages'),
      h('button', { type: 'button', class: 'secondary', id: 'peek', onclick: () => peek(name) }, 'Peek oldest 10')),
    h('p', { class: 'muted' }, 'Peeking shows messages without receiving them.'),
    h('div', { id: 'peek-result' })) : null,
  );
  every(() => refreshQueue(name, can));
}

async function refreshQueue(name, can) {
  const [queue] = await Promise.all([loadQueue(name), loadRates(name).catch(() => {}), loadQueues()]);
  if (!$('#counts')) return;
  const c = queue.counts;
  const stat = (id, value, label) => h('div', { class: 'stat' }, h('b', { id }, value), h('span', {}, label));
  $('#counts').replaceChildren(
    stat('count-visible', c.visible, 'visible'),
    stat('count-in-flight', c.in_flight, 'in flight'),
    stat('count-delayed', c.delayed, 'delayed'),
    stat('count-oldest', fmtAge(c.oldest_message_age_seconds), 'oldest message'));
  $('#depth-chart').replaceChildren(chart(state.history.get(name) || [], DEPTH_SERIES, { label: `depth of ${name}` }));
  $('#rate-chart').replaceChildren(chart(state.rates.get(name) || [], RATE_SERIES, { label: `throughput of ${name}` }));
  const s = queue.settings;
  const setting = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
  $('#settings').replaceChildren(
    ...setting('Visibility timeout', `${s.visibility_timeout} s`),
    ...setting('Delay', `${s.delay_seconds} s`),
    ...setting('Retention', fmtAge(s.retention_seconds)),
    ...setting('Max message size', `${s.max_message_bytes} bytes`),
    ...setting('Receive wait', `${s.receive_wait_seconds} s`),
    ...setting('Max depth', s.max_depth ?? 'unlimited'),
    ...setting('Durability', s.durability),
    ...setting('Dead-letter queue', s.dead_letter
      ? h('a', { href: `#/queues/${enc(s.dead_letter.queue)}` }, `${s.dead_letter.queue} (after ${s.dead_letter.max_receive_count} receives)`)
      : 'none'),
    ...setting('Created', fmtTime(queue.created_at)));
  renderRedrive(name, can);
}

async function sendTest(name, body) {
  const result = $('#send-result');
  try {
    const sent = await api('POST', `/v1/queues/${enc(name)}/messages`, { body });
    result.textContent = `Sent ${sent.message_id}`;
    clearError();
    await state.view?.();
  } catch (e) {
    result.textContent = '';
    showError(e);
  }
}

function confirmPurge(name) {
  const area = $('#purge-area');
  if ($('#purge-confirm')) return;
  const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => box.remove() }, 'Cancel');
  const box = h('div', { class: 'confirm', id: 'purge-confirm', role: 'alertdialog', 'aria-label': 'Confirm purge' },
    h('p', {}, `Delete every message in ${name}? This cannot be undone.`),
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'danger', id: 'purge-yes', onclick: async () => {
        box.remove();
        try {
          const r = await api('POST', `/v1/queues/${enc(name)}/purge`);
          $('#purge-result').textContent = `Purged ${r.purged} message${r.purged === 1 ? '' : 's'}.`;
          clearError();
          await state.view?.();
        } catch (e) { showError(e); }
      } }, 'Yes, purge'),
      cancel));
  area.append(box);
  cancel.focus();
}

async function peek(name) {
  const target = $('#peek-result');
  try {
    const r = await api('GET', `/v1/queues/${enc(name)}/messages/peek?limit=10`);
    clearError();
    if (r.messages.length === 0) {
      target.replaceChildren(h('p', { class: 'muted', id: 'peek-empty' }, 'The queue is empty.'));
      return;
    }
    target.replaceChildren(h('table', { id: 'peek-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Message'), h('th', {}, 'State'), h('th', { class: 'num' }, 'Receives'),
        h('th', {}, 'Sent'), h('th', {}, 'Body'), h('th', {}, 'Attributes'))),
      h('tbody', {}, r.messages.map((m) => h('tr', {},
        h('td', {}, h('code', {}, m.message_id)), h('td', {}, m.state.replace('_', ' ')),
        h('td', { class: 'num' }, m.receive_count), h('td', {}, fmtTime(m.sent_at)),
        h('td', {}, h('pre', {}, m.body.length > 2000 ? `${m.body.slice(0, 2000)}…` : m.body)),
        h('td', {}, m.attributes ? h('pre', {}, JSON.stringify(m.attributes, null, 1)) : ''))))));
  } catch (e) { showError(e); }
}

// ---------- redrive ----------

/** Shown on dead-letter queues (queues another queue dead-letters into). */
function renderRedrive(name, can) {
  const section = $('#redrive');
  const sources = state.queues.filter((q) => q.settings.dead_letter?.queue === name).map((q) => q.name);
  if (!section || sources.length === 0) return;
  if (!section.hidden) return; // built already; the task poller keeps it current
  section.hidden = false;
  const rate = h('input', { id: 'redrive-rate', type: 'number', min: 1, max: 500, placeholder: 'unlimited' });
  mount(section,
    h('h2', {}, 'Dead-letter redrive'),
    h('p', { class: 'muted' }, `Messages here were dead-lettered from ${sources.join(', ')}. `
      + 'A redrive moves them back to the queue each came from.'),
    can.manage ? h('form', { class: 'inline', id: 'redrive-form', onsubmit: async (event) => {
      event.preventDefault();
      try {
        const task = await api('POST', `/v1/queues/${enc(name)}/redrive`,
          rate.value ? { max_per_second: Number(rate.value) } : {});
        clearError();
        watchRedrive(name, task, can);
      } catch (e) { showError(e); }
    } }, h('label', { for: 'redrive-rate' }, 'Messages per second', rate),
    h('button', { type: 'submit', id: 'redrive-start' }, 'Start redrive')) : null,
    h('div', { id: 'redrive-task' }));
  api('GET', `/v1/queues/${enc(name)}/redrive`).then((r) => {
    const latest = r.tasks[0];
    if (latest) watchRedrive(name, latest, can);
  }).catch(showError);
}

function watchRedrive(name, task, can) {
  clearInterval(state.redriveTimer);
  showTask(name, task, can);
  if (task.status !== 'running') return;
  state.redriveTimer = setInterval(async () => {
    try {
      const current = await api('GET', `/v1/queues/${enc(name)}/redrive/${task.id}`);
      showTask(name, current, can);
      if (current.status !== 'running') clearInterval(state.redriveTimer);
    } catch (e) {
      clearInterval(state.redriveTimer);
      if (e.status !== 401) showError(e);
    }
  }, 1000);
}

function showTask(name, task, can) {
  const target = $('#redrive-task');
  if (!target) return;
  const start = $('#redrive-start');
  if (start) start.disabled = task.status === 'running';
  mount(target,
    h('p', { id: 'redrive-status', role: 'status' },
      `Redrive ${task.status}: ${task.moved} of ${task.to_move} moved`,
      task.failure_reason ? ` (${task.failure_reason})` : ''),
    h('progress', { id: 'redrive-progress', max: Math.max(task.to_move, 1), value: task.moved }),
    task.status === 'running' && can.manage ? h('button', { type: 'button', class: 'secondary', id: 'redrive-cancel',
      onclick: async () => {
        try {
          const cancelled = await api('DELETE', `/v1/queues/${enc(name)}/redrive/${task.id}`);
          watchRedrive(name, cancelled, can);
        } catch (e) { showError(e); }
      } }, 'Cancel redrive') : null);
}

// ---------- boot ----------

window.addEventListener('hashchange', () => { clearError(); route(); });
document.addEventListener('DOMContentLoaded', () => {
  // Development mode accepts requests without a token, so try even when none is stored.
  if (sessionStorage.getItem(TOKEN_KEY) === null) {
    fetch('/v1/me').then((r) => (r.ok ? r.json() : Promise.reject(r)))
      .then((me) => { state.me = me; renderWho(); route(); })
      .catch(() => renderSignIn());
  } else {
    start();
  }
});
