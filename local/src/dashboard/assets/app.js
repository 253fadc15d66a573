// The local world's dashboard. The server pushes the whole view as a server-sent event
// whenever it changes; the page builds its structure once per set of apps and endpoints, then
// only updates text and attributes, so keyboard focus survives every update.
'use strict';

const CLOUDWATCH_FAULTS = [
  ['none', 'none (serve)'],
  ['down', 'down'],
  ['hang', 'hang'],
];
const FAULTS = [
  ['none', 'none (serve)'],
  ['down', 'down'],
  ['hang', 'hang'],
  ['slow', 'slow (500 ms)'],
  ['error', 'error (500)'],
  ['throttle', 'throttle (429)'],
];
const EVENT_SYMBOLS = {
  control: '⇄', dns: '◎', traffic: '➜', fault: '⚡', quorum: '⚠',
  replication: '↻', action: '✔', refused: '⛔', alarm: '⚠',
};
const ALARM_KINDS = ['error-rate', 'latency', 'function-errors', 'function-throttles', 'replication-latency', 'health-check'];
const CHART = { width: 600, height: 56 };

let view = null;
let structure = '';
let lastEvents = '';

// ---- small helpers ---------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function regionIndex(region) {
  return view ? view.regions.indexOf(region) : -1;
}

// A Region as the page names it everywhere: its colour, its shape and its name.
function regionSpan(region) {
  return el('span', { class: `region r${regionIndex(region)}`, text: region });
}

function setRegion(node, region, fallback) {
  node.replaceChildren(region ? regionSpan(region) : document.createTextNode(fallback));
  node.dataset.region = region || '';
}

function appCard(app) {
  return document.querySelector(`.app[data-app="${CSS.escape(app)}"]`);
}

// ---- confirmation and outcome ---------------------------------------------------------

const dialog = () => document.getElementById('confirm');

// Asks `question`; resolves to the values of `fields` ({name: [label, default]}) on Confirm,
// to null on Cancel or Escape.
function confirmAction(question, fields = {}) {
  const d = dialog();
  document.getElementById('confirm-text').textContent = question;
  const box = document.getElementById('confirm-fields');
  box.replaceChildren();
  for (const [name, [label, value]] of Object.entries(fields)) {
    box.append(el('label', {}, `${label} `, el('input', { type: 'number', name, value, min: '0' })));
  }
  d.returnValue = 'cancel';
  d.showModal();
  document.getElementById('confirm-ok').focus();
  return new Promise((resolve) => {
    d.addEventListener('close', () => {
      if (d.returnValue !== 'confirm') return resolve(null);
      const values = {};
      for (const input of box.querySelectorAll('input')) values[input.name] = Number(input.value);
      resolve(values);
    }, { once: true });
  });
}

function showOutcome(kind, text) {
  const node = document.getElementById('outcome');
  const symbol = { ok: '✔ Done', refused: '⛔ Refused', failed: '✖ Failed', pending: '… Working', cancelled: '↩ Cancelled' }[kind];
  node.dataset.outcome = kind;
  node.textContent = `${symbol}: ${text}`;
}

// Confirms, posts, and shows what came back: the action's message, or the problem+json's
// detail (a safety rule's refusal, a lost quorum, ...) exactly as the server words it.
async function act({ question, label, method = 'POST', url, body, fields }) {
  const values = await confirmAction(question, fields);
  if (values === null) {
    showOutcome('cancelled', label);
    return;
  }
  await send(label, method, url, typeof body === 'function' ? body(values) : body);
}

async function send(label, method, url, body) {
  showOutcome('pending', label);
  try {
    const response = await fetch(url, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (response.ok) {
      showOutcome('ok', `${label}: ${answer.message || 'done'}`);
      return;
    }
    // A safety rule or the replication gate (409), or a cluster without quorum, refuses the
    // change: nothing changed.
    const refused = response.status === 409 || /arc-(quorum-lost|unreachable)$/.test(answer.type || '');
    const detail = answer.detail || answer.title || `HTTP ${response.status}`;
    showOutcome(refused ? 'refused' : 'failed', `${label}: ${detail}`);
    // A replica behind: the person may move anyway, as `failover shift --force` does.
    if (/replication-(behind|unreadable)$/.test(answer.type || '') && !body.force) {
      const again = await confirmAction(`${detail}. Move anyway (as failover shift --force)?`);
      if (again !== null) await send(`${label} (forced)`, method, url, { ...body, force: true });
    }
  } catch (error) {
    showOutcome('failed', `${label}: ${error}`);
  }
}

// ---- building the structure ------------------------------------------------------------

function structureOf(v) {
  return JSON.stringify([
    v.mechanism, v.regions, v.apps.map((a) => [a.app, a.kind]),
    v.arc ? v.arc.endpoints.length : null,
    v.cloudwatch.endpoints.map((e) => e.region),
    v.cloudwatch.alarms.map((a) => a.name),
  ]);
}

const isArc = (v) => v.mechanism === 'arc';

function build(v) {
  document.getElementById('domain').textContent = v.domain;
  const [primary, secondary] = v.regions;
  const legend = document.getElementById('legend');
  legend.replaceChildren(
    'Traffic of the probe per half second:',
    el('span', { class: 'swatch', style: 'background: var(--primary)' }), regionSpan(primary),
    el('span', { class: 'swatch', style: 'background: repeating-linear-gradient(45deg, #e69f00 0 4px, #8a5a00 4px 6px)' }), regionSpan(secondary), ' (striped)',
    el('span', { class: 'swatch', style: 'background: repeating-linear-gradient(45deg, #222 0 3px, #fff 3px 4px)' }), '✖ errors (crossed)',
  );

  const evacuate = document.getElementById('evacuate-buttons');
  evacuate.replaceChildren(...v.regions.map((region) => el('button', {
    type: 'button',
    'data-action': 'evacuate',
    'data-region': region,
    text: `Evacuate ${region}`,
    onclick: () => act({
      question: `Evacuate ${region}? Every app's traffic moves to ${v.regions.find((r) => r !== region)}.`,
      label: `evacuate ${region}`,
      url: '/actions/evacuate',
      body: { from: region },
    }),
  })));

  document.getElementById('app-cards').replaceChildren(...v.apps.map((a) => buildApp(a, v)));

  document.getElementById('arc').hidden = !v.arc;
  const endpoints = document.querySelector('#endpoints tbody');
  endpoints.replaceChildren(...(v.arc ? v.arc.endpoints : []).map((e) => buildEndpoint(e)));
  document.querySelector('#cw-endpoints tbody')
    .replaceChildren(...v.cloudwatch.endpoints.map((e) => buildCloudWatchEndpoint(e)));
  // One row per app and Region, one cell per kind of alarm (a gateway has no function or table).
  const rows = [];
  for (const a of v.apps) {
    for (const region of v.regions) {
      const cells = ALARM_KINDS.map((kind) => {
        const alarm = v.cloudwatch.alarms.find((x) => x.app === a.app && x.about === region && x.kind === kind);
        return alarm
          ? el('td', { class: 'state', 'data-alarm': alarm.name, title: `${alarm.name} (in ${alarm.region})` })
          : el('td', { text: '—' });
      });
      rows.push(el('tr', { 'data-app': a.app, 'data-region': region },
        el('th', { scope: 'row', text: a.app }), el('td', {}, regionSpan(region)), ...cells));
    }
  }
  document.querySelector('#alarm-table tbody').replaceChildren(...rows);
}

function buildCloudWatchEndpoint(e) {
  const select = el('select', { 'aria-label': `fault for the CloudWatch endpoint in ${e.region}`, class: 'fault-select' },
    ...CLOUDWATCH_FAULTS.map(([value, label]) => el('option', { value, text: label })));
  const apply = el('button', {
    type: 'button',
    class: 'small',
    'data-cloudwatch': e.region,
    text: 'Apply',
    'aria-label': `apply the fault to the CloudWatch endpoint in ${e.region}`,
    onclick: () => {
      const choice = select.value;
      const label = CLOUDWATCH_FAULTS.find(([value]) => value === choice)[1];
      act({
        question: choice === 'none'
          ? `Restore CloudWatch in ${e.region}?`
          : `Make CloudWatch in ${e.region} ${label}? Flags published or read there fail; its alarms keep being evaluated.`,
        label: `CloudWatch ${e.region}: ${label}`,
        url: `/faults/cloudwatch/${encodeURIComponent(e.region)}`,
        body: { fault: choice },
      });
    },
  });
  return el('tr', { 'data-cloudwatch': e.region },
    el('td', {}, regionSpan(e.region)),
    el('td', { class: 'state' }),
    el('td', {}, select, ' ', apply));
}

function buildApp(a, v) {
  const chart = svg('svg', {
    class: 'chart',
    viewBox: `0 0 ${CHART.width} ${CHART.height}`,
    role: 'img',
    'aria-label': `share of ${a.app} responses per Region`,
  });
  const rows = a.regions.map((r) => buildRegionRow(a, r, v));
  return el('section', { class: 'app', 'data-app': a.app, 'aria-label': a.app },
    el('div', { class: 'app-head' },
      el('h3', { text: a.app }),
      el('span', { class: 'kind', text: a.kind }),
      el('span', { class: 'host', text: a.hostname }),
      el('div', { class: 'shifts' }, ...shiftButtons(a, v))),
    el('div', { class: 'routing' },
      el('span', {}, 'Serving: ', el('span', { class: 'serving', 'data-region': '' })),
      el('span', {}, 'Route 53 answers: ', el('span', { class: 'dns', 'data-region': '' }))),
    chart,
    el('p', { class: 'chart-summary' }, el('span', { class: 'axis', text: '← 30 s ago' }), el('span', { class: 'numbers' }), el('span', { class: 'axis', text: 'now →' })),
    el('table', {},
      el('thead', {}, el('tr', {},
        ...['Region', isArc(v) ? 'Routing control' : 'Flag', 'Health check', 'Instance', 'Store', 'Faults']
          .map((t) => el('th', { scope: 'col', text: t })))),
      el('tbody', {}, ...rows)));
}

// The other Region of the two.
function otherRegion(v, region) {
  return v.regions.find((r) => r !== region);
}

function shiftButtons(a, v) {
  return v.regions.map((region) => el('button', {
      type: 'button',
      'data-action': 'shift',
      'data-region': region,
      text: `Shift ${a.app} to ${region}`,
      onclick: () => act({
        question: isArc(v)
          ? `Shift ${a.app} to ${region}? Its routing control in ${region} goes ON and the other OFF, in one batch.`
          : `Shift ${a.app} to ${region}? The flag "${otherRegion(v, region)} is out" is published in ${region}; DNS follows once its alarm and health check see it.`,
        label: `shift ${a.app} to ${region}`,
        url: '/actions/shift',
        body: { app: a.app, to: region },
      }),
  }));
}

function buildRegionRow(a, r, v) {
  const region = r.region;
  const fault = (action, label, question, fields, body) => el('button', {
    type: 'button',
    class: 'small',
    'data-fault': action,
    text: label,
    'aria-label': `${label}: ${a.app} in ${region}`,
    onclick: () => act({
      question,
      label: `${label.toLowerCase()} ${a.app} in ${region}`,
      url: `/faults/apps/${encodeURIComponent(a.app)}/${encodeURIComponent(region)}`,
      body: body || { action },
      fields,
    }),
  });
  const faults = el('div', { class: 'faults' },
    fault('stop', 'Stop', `Stop ${a.app} in ${region}? Its listener closes: connections are refused.`),
    fault('degrade', 'Degrade', `Degrade ${a.app} in ${region}?`,
      { error_percent: ['errors (% of requests answered 503)', 50], latency_ms: ['added latency (ms)', 200] },
      (values) => ({ action: 'degrade', error_rate: Math.min(values.error_percent, 100) / 100, latency_ms: values.latency_ms })));
  if (a.kind === 'service') {
    faults.append(fault('store_down', 'Store down', `Take ${a.app}'s table in ${region} down? Every store call fails and /health answers 503.`));
  }
  faults.append(fault('restore', 'Restore', `Restore ${a.app} in ${region}? It serves again, undegraded, with its table on.`));
  const toggle = isArc(v) ? el('button', {
    type: 'button',
    class: 'small toggle',
    'data-action': 'routing-control',
    onclick: () => {
      const current = view.apps.find((x) => x.app === a.app).regions.find((x) => x.region === region);
      const on = !current.routing_control_on;
      const state = on ? 'ON' : 'OFF';
      act({
        question: `Set ${a.app}'s routing control in ${region} ${state}? The safety rule refuses a change that would leave both OFF.`,
        label: `set ${a.app} routing control ${region} ${state}`,
        url: '/actions/routing-control',
        body: { app: a.app, region, on },
      });
    },
  }) : el('button', {
    type: 'button',
    class: 'small toggle',
    'data-action': 'flag',
    onclick: () => {
      const current = view.apps.find((x) => x.app === a.app).regions.find((x) => x.region === region);
      const out = !(current.flag && current.flag.value >= 1);
      const value = out ? 1 : 0;
      act({
        question: `Publish ${a.app}'s flag "${region} is out" = ${value} in ${otherRegion(v, region)}? With both flags set, Route 53 still answers the primary.`,
        label: `${a.app} flag "${region} is out" = ${value}`,
        url: '/actions/flag',
        body: { app: a.app, region, out },
      });
    },
  });
  const routing = isArc(v)
    ? el('td', { class: 'nowrap' }, el('span', { class: 'control' }), ' ', toggle)
    : el('td', { class: 'flag' }, el('span', { class: 'value' }), ' ', toggle, el('br'), el('span', { class: 'where' }));
  return el('tr', { 'data-region': region },
    el('th', { scope: 'row' }, regionSpan(region)),
    routing,
    el('td', { class: 'health' }),
    el('td', { class: 'instance' }),
    el('td', { class: 'store' }),
    el('td', {}, faults));
}

function buildEndpoint(e) {
  const select = el('select', { 'aria-label': `fault for ARC endpoint ${e.index} (${e.region})`, class: 'fault-select' },
    ...FAULTS.map(([value, label]) => el('option', { value, text: label })));
  const apply = el('button', {
    type: 'button',
    class: 'small',
    'data-endpoint': String(e.index),
    text: 'Apply',
    'aria-label': `apply the fault to ARC endpoint ${e.index}`,
    onclick: () => {
      const choice = select.value;
      const label = FAULTS.find(([value]) => value === choice)[1];
      const body = choice === 'slow' ? { fault: 'slow', delay_ms: 500 } : { fault: choice };
      act({
        question: choice === 'none'
          ? `Restore ARC endpoint ${e.index} (${e.region})?`
          : `Make ARC endpoint ${e.index} (${e.region}) ${label}?`,
        label: `ARC endpoint ${e.index}: ${label}`,
        url: `/faults/arc/${e.index}`,
        body,
      });
    },
  });
  return el('tr', { 'data-endpoint': String(e.index) },
    el('td', { text: String(e.index) }),
    el('td', {}, el('span', { text: e.region })),
    el('td', { class: 'state' }),
    el('td', {}, select, ' ', apply));
}

// ---- updating --------------------------------------------------------------------------

function render(v) {
  view = v;
  const shape = structureOf(v);
  if (shape !== structure) {
    build(v);
    structure = shape;
  }
  const mechanism = document.getElementById('mechanism');
  mechanism.dataset.mechanism = v.mechanism;
  setText(mechanism, isArc(v) ? 'ARC routing controls' : 'Route 53 health checks on flags');
  const alarmPeriod = isArc(v) ? '' : ` · flags' alarm periods ${v.alarm_period_ms} ms`;
  setText(document.getElementById('clock'),
    `Route 53 at ${v.dns_server} · TTL ${v.ttl_seconds} s · health checks every ${v.health_check_interval_ms} ms${alarmPeriod} · a move takes at most ${(v.bound_ms / 1000).toFixed(1)} s`);
  const probe = document.getElementById('probe-toggle');
  setText(probe, v.probe.running ? 'Stop probe' : 'Start probe');
  probe.setAttribute('aria-pressed', String(v.probe.running));
  for (const a of v.apps) updateApp(a, v);
  if (v.arc) updateArc(v.arc);
  updateCloudWatch(v.cloudwatch);
  updateReplication(v.replication);
  updateEvents(v.events);
  updatePlan(v.plan);
}

function updateApp(a, v) {
  const card = appCard(a.app);
  if (!card) return;
  const serving = card.querySelector('.serving');
  const t = a.traffic;
  if (!t) setRegion(serving, null, '— (start the probe)');
  else if (a.serving) setRegion(serving, a.serving);
  else if (t.recent.length > 1) setRegion(serving, null, `moving: ${t.recent.join(' + ')}`);
  else if (t.requests === 0) setRegion(serving, null, '… waiting for responses');
  else setRegion(serving, null, '✖ failing: no response succeeds');
  const dns = card.querySelector('.dns');
  setRegion(dns, a.dns_answer, '— (no answer)');
  if (a.dns_address) dns.append(` (${a.dns_address})`);
  drawChart(card.querySelector('.chart'), t, v);
  setText(card.querySelector('.chart-summary .numbers'), summary(t, v));
  for (const r of a.regions) {
    const row = card.querySelector(`tr[data-region="${CSS.escape(r.region)}"]`);
    if (!row) continue;
    // Whether the mechanism means this Region to serve: its routing control ON, or its flag
    // not set. A health check failing where it is meant to (an OFF control, a set flag) is no
    // warning; one failing where it is not (a change still propagating) is.
    let meant;
    if (isArc(v)) {
      const control = row.querySelector('.control');
      const on = r.routing_control_on;
      setText(control, on === true ? '● ON' : on === false ? '○ OFF' : '? unknown');
      control.className = `control ${on ? 'on' : 'off'}`;
      const toggle = row.querySelector('.toggle');
      setText(toggle, on ? 'Turn OFF' : 'Turn ON');
      toggle.setAttribute('aria-label', `Turn ${a.app}'s routing control in ${r.region} ${on ? 'OFF' : 'ON'}`);
      meant = on;
    } else {
      const f = r.flag || {};
      const out = f.value >= 1;
      const value = row.querySelector('.flag .value');
      setText(value, f.value === null || f.value === undefined
        ? `⚐ "${r.region} is out" never published`
        : `${out ? '⚑' : '⚐'} "${r.region} is out" = ${f.value}`);
      value.dataset.out = String(out);
      setText(row.querySelector('.flag .where'),
        `in ${f.published_in} · alarm ${f.alarm_state || '?'}`);
      row.querySelector('.flag').title = `${f.alarm_name} (published ${f.published_at || 'never'})`;
      const toggle = row.querySelector('.toggle');
      setText(toggle, out ? 'Put back' : 'Take out');
      toggle.setAttribute('aria-label', `${out ? 'Clear' : 'Set'} ${a.app}'s flag "${r.region} is out"`);
      meant = !out;
    }
    const health = row.querySelector('.health');
    setText(health, r.healthy === true ? '✓ healthy' : r.healthy === false ? '✗ unhealthy' : '?');
    health.className = `health ${r.healthy === false ? (meant ? 'bad' : 'off') : ''}`;
    if (r.flag) health.title = `${r.flag.health_check_id}: last saw ${r.flag.last_observation || 'nothing yet'}`;
    const instance = row.querySelector('.instance');
    setText(instance, instanceText(r.instance));
    instance.className = `instance ${r.instance.status === 'running' ? '' : r.instance.status === 'stopped' ? 'bad' : 'warn'}`;
    const store = row.querySelector('.store');
    setText(store, r.store_available === null ? '—' : r.store_available ? '✓ up' : '✖ DOWN');
    store.className = `store ${r.store_available === false ? 'bad' : ''}`;
  }
}

function instanceText(instance) {
  if (instance.status === 'running') return '✓ running';
  if (instance.status === 'stopped') return '■ stopped';
  return `◐ degraded: ${Math.round(instance.error_rate * 100)}% errors, +${instance.latency_ms} ms`;
}

function drawChart(chart, traffic, v) {
  const bins = traffic ? traffic.bins : [];
  const slots = v.probe.bins_kept;
  const width = CHART.width / slots;
  const children = [];
  bins.forEach((bin, i) => {
    const total = bin.served[0] + bin.served[1] + bin.errors;
    if (total === 0) return;
    const x = (slots - bins.length + i) * width;
    let y = CHART.height;
    const parts = [[bin.served[0], 'var(--primary)'], [bin.served[1], 'url(#stripes)'], [bin.errors, 'url(#crosses)']];
    for (const [count, fill] of parts) {
      if (count === 0) continue;
      const h = (count / total) * CHART.height;
      y -= h;
      children.push(svg('rect', { x: x.toFixed(1), y: y.toFixed(1), width: (width - 1).toFixed(1), height: h.toFixed(1), style: `fill: ${fill}` }));
    }
  });
  if (!traffic) {
    const note = svg('text', { x: CHART.width / 2, y: CHART.height / 2 + 6, 'text-anchor': 'middle', 'font-size': 18, fill: '#555' });
    note.textContent = 'start the probe to chart the traffic';
    children.push(note);
  }
  chart.replaceChildren(...children);
}

// The last five seconds in words, for people who cannot tell the bars apart.
function summary(traffic, v) {
  if (!traffic) return '';
  const recent = traffic.bins.slice(-10);
  const sum = (pick) => recent.reduce((n, b) => n + pick(b), 0);
  const served = [sum((b) => b.served[0]), sum((b) => b.served[1])];
  const errors = sum((b) => b.errors);
  const total = served[0] + served[1] + errors;
  if (total === 0) return `${traffic.rate} responses/s`;
  const pct = (n) => `${Math.round((100 * n) / total)}%`;
  return `last 5 s: ${v.regions[0]} ${pct(served[0])}, ${v.regions[1]} ${pct(served[1])}, errors ${pct(errors)} (${errors}) · ${traffic.rate} responses/s`;
}

function updateArc(arc) {
  const q = arc.quorum;
  const node = document.getElementById('quorum');
  node.dataset.health = q.health;
  const text = {
    healthy: `✓ Quorum healthy: ${q.up} of ${q.total} endpoints up (${q.needed} needed)`,
    degraded: `⚠ Quorum degraded: ${q.up} of ${q.total} endpoints up (${q.needed} needed); changes still go through`,
    lost: `✖ Quorum lost: ${q.up} of ${q.total} endpoints up (${q.needed} needed); every change is refused`,
  }[q.health];
  setText(node, text);
  for (const e of arc.endpoints) {
    const row = document.querySelector(`#endpoints tr[data-endpoint="${e.index}"]`);
    if (!row) continue;
    const state = row.querySelector('.state');
    const symbol = e.fault === 'none' ? '✓ serving' : e.fault === 'down' ? '✖ down' : `⚠ ${e.fault}`;
    setText(state, symbol);
    state.className = `state ${e.fault === 'none' ? 'on' : e.fault === 'down' ? 'bad' : 'warn'}`;
    state.title = e.url;
  }
}

function updateCloudWatch(cloudwatch) {
  for (const e of cloudwatch.endpoints) {
    const row = document.querySelector(`#cw-endpoints tr[data-cloudwatch="${CSS.escape(e.region)}"]`);
    if (!row) continue;
    const state = row.querySelector('.state');
    setText(state, e.fault === 'none' ? '✓ serving' : e.fault === 'down' ? '✖ down' : `⚠ ${e.fault}`);
    state.className = `state ${e.fault === 'none' ? 'on' : e.fault === 'down' ? 'bad' : 'warn'}`;
    state.title = e.url;
  }
  const summary = document.getElementById('alarm-summary');
  summary.dataset.firing = String(cloudwatch.firing);
  const firing = cloudwatch.alarms.filter((a) => a.state === 'ALARM').map((a) => a.name);
  setText(summary, cloudwatch.firing === 0
    ? `✓ none of ${cloudwatch.alarms.length} alarms in ALARM`
    : `⚠ ${cloudwatch.firing} of ${cloudwatch.alarms.length} alarms in ALARM: ${firing.join(', ')}`);
  for (const a of cloudwatch.alarms) {
    const state = document.querySelector(`#alarm-table td[data-alarm="${CSS.escape(a.name)}"]`);
    if (!state) continue;
    const word = a.state || 'missing';
    setText(state, word === 'ALARM' ? '⚠ ALARM' : word === 'OK' ? '✓' : '?');
    state.dataset.state = word;
    state.title = `${a.name} (in ${a.region}): ${a.reason || ''}`;
  }
}

function updateReplication(replication) {
  setText(document.getElementById('lag'), `Lag ${replication.lag_ms} ms · ${replication.pending} change(s) waiting`);
  const rows = replication.links.map((link) => el('tr', {},
    el('td', { text: link.table }),
    el('td', { text: `${link.from} → ${link.to}` }),
    el('td', { text: String(link.pending) + (link.lost ? ` (${link.lost} lost)` : '') }),
    el('td', { text: link.oldest_ms === null ? '—' : `${link.oldest_ms} ms` })));
  const body = document.querySelector('#links tbody');
  const key = JSON.stringify(replication.links);
  if (body.dataset.key !== key) {
    body.replaceChildren(...rows);
    body.dataset.key = key;
  }
}

function updateEvents(events) {
  const key = events.length ? `${events.length}:${events[0].at_ms}:${events[0].text}` : '';
  if (key === lastEvents) return;
  lastEvents = key;
  document.getElementById('events').replaceChildren(...events.map((e) => {
    const at = new Date(e.at_ms);
    const time = at.toLocaleTimeString([], { hour12: false }) + `.${String(at.getMilliseconds()).padStart(3, '0').slice(0, 1)}`;
    return el('li', { 'data-kind': e.kind },
      el('time', { datetime: at.toISOString(), text: time }),
      el('span', { class: 'symbol', 'aria-hidden': 'true', text: EVENT_SYMBOLS[e.kind] || '•' }),
      el('span', { text: e.text }));
  }));
}

// ---- plans -----------------------------------------------------------------------------

const STEP_SYMBOLS = {
  pending: '·', running: '…', waiting: '⏸', succeeded: '✔', failed: '✖',
  not_run: '–', done_before: '✔', dry_run: '?',
};

async function loadPlans() {
  const list = document.getElementById('plan-list');
  try {
    const plans = await (await fetch('/plans')).json();
    list.replaceChildren(...plans.map((p) => el('li', { 'data-plan': p.name },
      el('button', {
        type: 'button',
        class: 'plan-run',
        'data-plan': p.name,
        ...(p.error ? { disabled: 'disabled' } : {}),
        onclick: () => act({
          question: `Run the plan ${p.name}? ${p.description} Steps: ${p.steps.join(' → ')}.`,
          label: `plan ${p.name}`,
          url: '/actions/plan',
          body: { plan: p.name },
        }),
      }, `Run ${p.name}`),
      el('span', { class: 'muted', text: ` ${p.error || p.description}` }))));
  } catch (error) {
    list.replaceChildren(el('li', { text: `cannot list the plans: ${error}` }));
  }
}

function updatePlan(run) {
  if (!run) return;
  const headline = document.getElementById('plan-headline');
  headline.dataset.running = String(run.running);
  setText(headline, run.running ? `Running ${run.plan}…` : `${run.plan}: ${run.outcome || ''}`);
  const steps = document.getElementById('plan-steps');
  const key = JSON.stringify(run.steps);
  if (steps.dataset.key !== key) {
    steps.dataset.key = key;
    steps.replaceChildren(...run.steps.map((s) => el('li', { 'data-step': s.name, 'data-state': s.state },
      el('span', { class: 'symbol', 'aria-hidden': 'true', text: STEP_SYMBOLS[s.state] || '•' }),
      el('span', { text: ` ${s.name} (${s.kind}) ${s.state}${s.detail ? `: ${s.detail}` : ''}` }))));
  }
  const approval = document.getElementById('plan-approval');
  approval.hidden = !run.waiting;
  if (run.waiting) {
    setText(document.getElementById('plan-question'), `${run.waiting.message} `);
    approval.dataset.step = run.waiting.step;
  }
  document.getElementById('plan-report').hidden = !run.report;
}

async function answerApproval(approve) {
  const step = document.getElementById('plan-approval').dataset.step;
  showOutcome('pending', `approval of ${step}`);
  const response = await fetch('/actions/plan-approval', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ step, approve }),
  });
  const answer = await response.json().catch(() => ({}));
  showOutcome(response.ok ? 'ok' : 'failed', answer.message || answer.detail || `HTTP ${response.status}`);
}

// ---- wiring ----------------------------------------------------------------------------

function connect() {
  const status = document.getElementById('connection');
  const source = new EventSource('/events');
  source.addEventListener('view', (event) => {
    status.dataset.state = 'live';
    setText(status, '● live');
    render(JSON.parse(event.data));
  });
  // EventSource reconnects on its own; say so meanwhile.
  source.addEventListener('error', () => {
    status.dataset.state = 'lost';
    setText(status, '✖ disconnected, retrying');
  });
}

window.addEventListener('error', (event) => showOutcome('failed', `the page hit an error: ${event.message}`));

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('probe-toggle').addEventListener('click', async () => {
    const running = !(view && view.probe.running);
    showOutcome('pending', running ? 'start the probe' : 'stop the probe');
    try {
      const response = await fetch('/actions/probe', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ running }),
      });
      const answer = await response.json().catch(() => ({}));
      showOutcome(response.ok ? 'ok' : 'failed', answer.message || answer.detail || `HTTP ${response.status}`);
    } catch (error) {
      showOutcome('failed', String(error));
    }
  });
  document.getElementById('lag-set').addEventListener('click', () => {
    const lag = Number(document.getElementById('lag-input').value);
    act({
      question: `Set the replication lag to ${lag} ms? Writes reach the other Region's table that much later.`,
      label: `replication lag ${lag} ms`,
      method: 'PUT',
      url: '/replication/lag',
      body: { lag_ms: lag },
    });
  });
  document.getElementById('plan-approve').addEventListener('click', () => answerApproval(true));
  document.getElementById('plan-decline').addEventListener('click', () => answerApproval(false));
  loadPlans();
  connect();
});
