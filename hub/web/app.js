// The netdumplings dashboard: an eater in the browser. It connects to the
// hub's out port (a WebSocket, netdumplings' eater protocol: say
// {"eater_name": ...}, then receive dumplings as JSON text) and renders what
// the standard chefs send. Every value from the network reaches the page via
// textContent, never as HTML: payloads are untrusted.

const FEED_MAX = 200;        // rows kept per feed
const CHART_POINTS = 60;     // rate samples on the chart
const CHART_LAYERS = 6;      // layers drawn
const RECONNECT_MAX_MS = 5000;
const COLORS = ['#0b6bcb', '#d9480f', '#2b8a3e', '#ae3ec9', '#e67700', '#1098ad'];

const $ = (id) => document.getElementById(id);

// ---- theme -----------------------------------------------------------------
const savedTheme = localStorage.getItem('nd-theme');
if (savedTheme) document.documentElement.dataset.theme = savedTheme;
$('theme').addEventListener('click', () => {
  const dark = document.documentElement.dataset.theme
    ? document.documentElement.dataset.theme === 'dark'
    : matchMedia('(prefers-color-scheme: dark)').matches;
  const next = dark ? 'light' : 'dark';
  document.documentElement.dataset.theme = next;
  localStorage.setItem('nd-theme', next);
});

// ---- helpers ---------------------------------------------------------------
const fmt = new Intl.NumberFormat();
const num = (v) => (typeof v === 'number' ? fmt.format(v) : '–');
const clock = (secs) => new Date(secs * 1000).toLocaleTimeString();

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

function prepend(feed, li) {
  feed.prepend(li);
  while (feed.childElementCount > FEED_MAX) feed.lastElementChild.remove();
}

// ---- the hub's status (SystemStatusChef) -----------------------------------
let lastStatus = null;
function onStatus(p, t) {
  const up = Math.max(0, Math.floor(p.server_uptime || 0));
  const hms = [up / 3600, (up / 60) % 60, up % 60].map((x) => String(Math.floor(x)).padStart(2, '0'));
  $('uptime').textContent = hms.join(':');
  $('total-in').textContent = num(p.total_dumplings_in);
  $('total-out').textContent = num(p.total_dumplings_out);
  $('dropped').textContent = num(p.total_dumplings_dropped); // our hub's; '–' from netdumplings'
  $('kitchen-count').textContent = num(p.dumpling_kitchen_count);
  $('eater-count').textContent = num(p.dumpling_eater_count);
  if (lastStatus && t > lastStatus.t) {
    const dt = t - lastStatus.t;
    $('rate-in').textContent = num(Math.round((p.total_dumplings_in - lastStatus.p.total_dumplings_in) / dt));
    $('rate-out').textContent = num(Math.round((p.total_dumplings_out - lastStatus.p.total_dumplings_out) / dt));
  }
  lastStatus = { p, t };
  const names = (p.dumpling_kitchens || []).map((k) => {
    const info = k.info_from_kitchen || {};
    const hub = k.info_from_hub || {};
    return `${info.kitchen_name ?? '?'} (${info.interface ?? '?'}, ${hub.host ?? '?'})`;
  });
  $('kitchens').textContent = names.length ? names.join(', ') : 'none';
}

// ---- packet counts (PacketCountChef) ---------------------------------------
const countsByKitchen = new Map();   // kitchen -> {layer: cumulative count}
const history = [];                  // [{t, totals}] for rates
function totals() {
  const sum = {};
  for (const counts of countsByKitchen.values())
    for (const [layer, n] of Object.entries(counts)) sum[layer] = (sum[layer] || 0) + n;
  return sum;
}

function onPacketCounts(kitchen, p, t) {
  if (!p || typeof p.packet_counts !== 'object') return;
  countsByKitchen.set(kitchen, p.packet_counts);
  const sum = totals();
  const rows = Object.entries(sum).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  // Ethernet-ish outer layers count every packet; the share is of the
  // largest layer, which is the number of packets.
  const all = rows.length ? rows[0][1] : 0;
  const body = $('packet-counts').tBodies[0];
  body.replaceChildren(...rows.map(([layer, n]) =>
    el('tr', { 'data-layer': layer },
      el('td', { textContent: layer }),
      el('td', { class: 'num', textContent: fmt.format(n) }),
      el('td', { class: 'num', textContent: all ? `${((100 * n) / all).toFixed(1)}%` : '' }))));
  history.push({ t, totals: sum });
  if (history.length > CHART_POINTS + 1) history.shift();
  drawChart(rows.slice(0, CHART_LAYERS).map(([layer]) => layer));
}

function drawChart(layers) {
  const svg = $('chart');
  const series = layers.map(() => []);
  for (let i = 1; i < history.length; i++) {
    const dt = history[i].t - history[i - 1].t;
    if (dt <= 0) continue;
    layers.forEach((layer, j) => {
      const d = (history[i].totals[layer] || 0) - (history[i - 1].totals[layer] || 0);
      series[j].push(Math.max(0, d / dt));
    });
  }
  const max = Math.max(1, ...series.flat());
  const ns = 'http://www.w3.org/2000/svg';
  if (series.every((points) => points.length === 0)) {
    // One PacketCountChef interval so far: a rate needs two.
    const note = document.createElementNS(ns, 'text');
    note.setAttribute('x', '200');
    note.setAttribute('y', '100');
    note.setAttribute('text-anchor', 'middle');
    note.setAttribute('class', 'chart-note');
    note.textContent = 'rates appear from the next PacketCountChef interval';
    svg.replaceChildren(note);
    return;
  }
  svg.replaceChildren(...series.map((points, j) => {
    const line = document.createElementNS(ns, 'polyline');
    const step = 400 / Math.max(1, CHART_POINTS - 1);
    const start = 400 - step * (points.length - 1);
    line.setAttribute('points', points.map((v, i) => `${start + i * step},${200 - (v / max) * 190}`).join(' '));
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', COLORS[j % COLORS.length]);
    line.setAttribute('stroke-width', '2');
    line.setAttribute('vector-effect', 'non-scaling-stroke');
    return line;
  }));
  $('chart-legend').replaceChildren(...layers.map((layer, j) => {
    const swatch = el('span');
    swatch.style.background = COLORS[j % COLORS.length]; // CSSOM: allowed by the CSP
    return el('li', {}, swatch, layer);
  }));
  svg.setAttribute('aria-label', `packets per second by protocol, peak ${Math.round(max)}/s`);
}

// ---- DNS lookups and ARP ---------------------------------------------------
function onDnsLookup(kitchen, p) {
  const lookup = p && p.lookup;
  if (!lookup || typeof lookup.hostname !== 'string') return;
  prepend($('dns-feed'), el('li', { 'data-hostname': lookup.hostname },
    el('time', { textContent: clock(lookup.when) }),
    lookup.hostname,
    el('small', { class: 'muted', textContent: `  ${kitchen}` })));
}

function onArp(kitchen, p) {
  if (!p || typeof p.src_ip !== 'string') return;
  const what = p.operation === 'reply'
    ? `${p.src_ip} is at ${p.src_hw} (to ${p.dst_ip})`
    : p.operation === 'request'
      ? `who has ${p.dst_ip}? tell ${p.src_ip} (${p.src_hw})`
      : `operation ${p.operation}: ${p.src_ip} → ${p.dst_ip}`;
  const li = el('li', { 'data-src-ip': p.src_ip, 'data-operation': String(p.operation) },
    el('time', { textContent: clock(p.time) }), what);
  if (p.notes) li.append(el('span', { class: 'note', textContent: p.notes }));
  li.append(el('small', { class: 'muted', textContent: `  ${kitchen}` }));
  prepend($('arp-feed'), li);
}

function onOther(d) {
  const m = d.metadata;
  const text = JSON.stringify(d.payload);
  prepend($('raw-feed'), el('li', { 'data-chef': String(m.chef) },
    el('time', { textContent: clock(m.creation_time) }),
    `${m.chef} [${m.driver}] ${m.kitchen ?? 'hub'}: ${text.length > 400 ? text.slice(0, 400) + '…' : text}`));
}

function onDumpling(d) {
  const m = d && d.metadata;
  if (!m) return;
  const kitchen = m.kitchen ?? 'hub';
  switch (m.chef) {
    case 'SystemStatusChef': return onStatus(d.payload, m.creation_time);
    case 'PacketCountChef': return onPacketCounts(kitchen, d.payload, m.creation_time);
    case 'DNSLookupChef': return m.driver === 'packet' ? onDnsLookup(kitchen, d.payload) : undefined;
    case 'ARPChef': return onArp(kitchen, d.payload);
    default: return onOther(d);
  }
}

// ---- the connection --------------------------------------------------------
function setState(state, text) {
  const pill = $('connection');
  pill.dataset.state = state;
  pill.textContent = text;
}

// The hub's out port, from ?hub=URL or the hub's config.json. A hub that
// requires eater tokens gets the page's own ?token=TOKEN (browsers cannot
// set headers on a WebSocket, so the token goes in the query).
async function hubUrl() {
  const params = new URLSearchParams(location.search);
  let url = params.get('hub');
  if (!url) {
    const config = await (await fetch('config.json')).json();
    const proto = config.tls || location.protocol === 'https:' ? 'wss' : 'ws';
    url = `${proto}://${location.hostname}:${config.out_port}/`;
  }
  const token = params.get('token');
  if (token) url += (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token);
  return url;
}

// A URL fit for showing: the token hidden.
const shown = (url) => url.replace(/([?&]token=)[^&]*/, '$1***');

// The page's hello. It shows every chef (the raw feed takes any other),
// so by default it subscribes to everything; ?chef=NAME (repeatable) and
// ?kitchen=NAME narrow it at the hub, so the browser downloads only those.
function hello() {
  const params = new URLSearchParams(location.search);
  const h = { eater_name: 'web-dashboard' };
  const chefs = params.getAll('chef');
  const kitchens = params.getAll('kitchen');
  if (chefs.length) h.chefs = chefs;
  if (kitchens.length) h.kitchens = kitchens;
  return h;
}

let backoff = 250;
async function connect() {
  let url;
  try {
    url = await hubUrl();
  } catch (e) {
    setState('closed', `no hub address: ${e}`);
    return setTimeout(connect, RECONNECT_MAX_MS);
  }
  const ws = new WebSocket(url);
  ws.onopen = () => {
    backoff = 250;
    ws.send(JSON.stringify(hello()));
    setState('open', `connected to ${shown(url)}`);
  };
  ws.onmessage = (e) => {
    let d;
    try { d = JSON.parse(e.data); } catch { return; }
    try { onDumpling(d); } catch (err) { console.warn('bad dumpling', err, d); }
  };
  ws.onclose = (e) => {
    setState('closed', `disconnected (${e.code}${e.reason ? ' ' + e.reason : ''}); retrying`);
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
  };
}
connect();
