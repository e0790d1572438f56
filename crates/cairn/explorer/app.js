// Cairn explorer: a single-page app over the node's /v1/index API.
// Plain ES2020, no dependencies. Every string from the API reaches the page through
// textContent or setAttribute (see h() and s()); nothing is parsed as HTML.
'use strict';
(() => {
  // The API sits beside the explorer's files: /explorer/app.js -> /v1/index/.
  const API = (() => {
    try { if (document.currentScript && document.currentScript.src) return new URL('../v1/index/', document.currentScript.src).href; } catch (_) { /* fall through */ }
    return '/v1/index/';
  })();
  const POLL_MS = 5000;
  const KINDS = ['coverage', 'storage', 'compute', 'sensor'];
  const STATUSES = ['active', 'failing', 'denylisted', 'offline', 'pending'];
  const SVGNS = 'http://www.w3.org/2000/svg';
  const COLORS = {
    emitted: '#2563eb', burned: '#f97316', earned: '#16a34a', withheld: '#dc2626',
    coverage: '#0891b2', storage: '#7c3aed', compute: '#db2777', sensor: '#65a30d', demand: '#0d9488',
  };

  // ---------------------------------------------------------------- DOM helpers
  function setAttrs(el, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'text') el.textContent = String(v);
      else if (k === 'style') Object.assign(el.style, v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  function append(el, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k == null || k === false) continue;
      el.append(k instanceof Node ? k : String(k));
    }
    return el;
  }
  /** HTML element; string children become text nodes. */
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    return append(el, kids);
  }
  /** SVG element. */
  function s(tag, attrs, ...kids) {
    const el = document.createElementNS(SVGNS, tag);
    setAttrs(el, attrs);
    return append(el, kids);
  }
  /** Replace el's children; arrays are flattened and null/false dropped. */
  function fill(el, ...kids) { el.replaceChildren(); return append(el, kids); }
  const $ = (sel, root = document) => root.querySelector(sel);
  const cls = (v) => String(v == null ? '' : v).toLowerCase().replace(/[^a-z0-9_-]/g, '');

  // ---------------------------------------------------------------- formatting
  const enc = (v) => encodeURIComponent(String(v)).replace(/%3A/gi, ':');
  function dec(v) { try { return decodeURIComponent(v); } catch (_) { return v; } }

  function shortDid(d) {
    if (d == null || d === '') return '—';
    const str = String(d);
    const core = str.startsWith('did:key:') ? str.slice(8) : str;
    return core.length > 12 ? core.slice(0, 4) + '…' + core.slice(-4) : core;
  }
  function shortHash(x) {
    if (x == null || x === '') return '—';
    const str = String(x);
    return str.length > 16 ? str.slice(0, 8) + '…' + str.slice(-6) : str;
  }
  function group3(intPart) { return intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ','); }

  /** Decimal string -> grouped string rounded to maxFrac digits, exact (BigInt). */
  function fmtDec(v, maxFrac = 4) {
    if (v == null || v === '') return '—';
    let str = String(v).trim();
    const neg = str.startsWith('-');
    if (neg || str.startsWith('+')) str = str.slice(1);
    if (!/^\d+(\.\d+)?$/.test(str)) return String(v);
    let [ip, fp = ''] = str.split('.');
    if (fp.length > maxFrac) {
      const roundUp = fp.charCodeAt(maxFrac) >= 53; // '5'
      let n = BigInt(ip + fp.slice(0, maxFrac));
      if (roundUp) n += 1n;
      let digits = n.toString().padStart(maxFrac + 1, '0');
      ip = digits.slice(0, digits.length - maxFrac) || '0';
      fp = maxFrac ? digits.slice(digits.length - maxFrac) : '';
    }
    fp = fp.replace(/0+$/, '');
    ip = ip.replace(/^0+(?=\d)/, '');
    let out = group3(ip) + (fp ? '.' + fp : '');
    if (/^[0,.]+$/.test(out) && /[1-9]/.test(str)) out = '<' + (maxFrac ? '0.' + '0'.repeat(maxFrac - 1) + '1' : '1');
    return (neg && /[1-9]/.test(str) ? '−' : '') + out;
  }
  /** A token/credit amount: rounded text, exact value in the title. */
  function amount(v, unit) {
    if (v == null || v === '') return h('span', { class: 'muted' }, '—');
    return h('span', { class: 'num', title: String(v) + (unit ? ' ' + unit : '') }, fmtDec(v), unit ? h('small', null, ' ' + unit) : null);
  }
  const num = (v) => { const n = parseFloat(v); return Number.isFinite(n) ? n : 0; };
  function fmtInt(n) { return n == null ? '—' : group3(String(Math.round(Number(n)))); }
  function pct(ppm, digits = 1) { return ppm == null ? '—' : (Number(ppm) / 1e4).toFixed(digits) + '%'; }
  function compact(n) {
    const a = Math.abs(n);
    if (a >= 1e9) return +(n / 1e9).toFixed(2) + 'B';
    if (a >= 1e6) return +(n / 1e6).toFixed(2) + 'M';
    if (a >= 1e4) return +(n / 1e3).toFixed(1) + 'k';
    if (a >= 100) return String(Math.round(n));
    if (a >= 1) return String(+n.toFixed(2));
    if (a === 0) return '0';
    return String(+n.toPrecision(2));
  }
  function fmtTime(ms) {
    if (ms == null) return '—';
    const d = new Date(Number(ms));
    return isNaN(d) ? String(ms) : d.toLocaleString();
  }
  function ago(ms) {
    if (ms == null) return '—';
    const sec = Math.round((Date.now() - Number(ms)) / 1000);
    if (!Number.isFinite(sec)) return '—';
    if (sec < 0) return 'just now';
    if (sec < 60) return sec + ' s ago';
    if (sec < 3600) return Math.floor(sec / 60) + ' min ago';
    if (sec < 86400) return Math.floor(sec / 3600) + ' h ago';
    return Math.floor(sec / 86400) + ' d ago';
  }
  function timeEl(ms) {
    if (ms == null) return h('span', { class: 'muted' }, '—');
    return h('time', { title: fmtTime(ms), datetime: new Date(Number(ms)).toISOString() }, ago(ms));
  }
  /** Governance times may be block heights or Unix ms; tell them apart by size. */
  function fmtWhen(v) {
    if (v == null) return h('span', { class: 'muted' }, '—');
    const n = Number(v);
    if (Number.isFinite(n) && n > 1e11) return h('time', { title: String(v) }, fmtTime(n));
    return h('span', { title: 'block height', class: 'nowrap' }, 'height ' + fmtInt(n));
  }
  function duration(ms) {
    if (ms == null) return '—';
    const sec = Number(ms) / 1000;
    if (sec < 120) return +sec.toFixed(1) + ' s';
    if (sec < 7200) return +(sec / 60).toFixed(1) + ' min';
    return +(sec / 3600).toFixed(1) + ' h';
  }
  const humanize = (name) => {
    const t = String(name || '').replace(/_/g, ' ');
    return t.charAt(0).toUpperCase() + t.slice(1);
  };

  // ---------------------------------------------------------------- small widgets
  const badge = (status, extra) => h('span', { class: 'badge st-' + cls(status) + (extra ? ' ' + extra : '') }, String(status == null ? 'unknown' : status));
  const kindTag = (kind) => h('span', { class: 'kind k-' + cls(kind) }, String(kind == null ? '—' : kind));
  const devHref = (did) => '#/device/' + enc(did);
  const accHref = (did) => '#/account/' + enc(did);
  const epochHref = (n) => '#/epoch/' + enc(n);
  function didLink(did, href, attrs) {
    if (did == null || did === '') return h('span', { class: 'muted' }, '—');
    return h('a', Object.assign({ href: href(did), title: String(did), class: 'did' }, attrs || {}), shortDid(did));
  }
  const deviceLink = (did, attrs) => didLink(did, devHref, Object.assign({ 'data-did': String(did) }, attrs || {}));
  const accountLink = (did, attrs) => didLink(did, accHref, attrs);
  const epochLink = (n) => n == null ? h('span', { class: 'muted' }, '—') : h('a', { href: epochHref(n) }, '#' + n);
  function reasonEl(reason, code, testid) {
    if (reason == null) return h('span', { class: 'muted' }, '—');
    return h('span', { class: 'reason' },
      h('code', testid ? { 'data-testid': testid } : null, String(reason)),
      code != null ? h('small', { class: 'muted' }, ' ' + code) : null);
  }
  function copyButton(text) {
    return h('button', {
      type: 'button', class: 'btn small', title: 'Copy to clipboard',
      onclick: async (e) => {
        const b = e.currentTarget;
        try { await navigator.clipboard.writeText(text); b.textContent = 'Copied'; } catch (_) {
          const r = document.createRange(); const code = b.previousElementSibling;
          if (code) { r.selectNodeContents(code); const sel = getSelection(); sel.removeAllRanges(); sel.addRange(r); }
          b.textContent = 'Selected';
        }
        setTimeout(() => { b.textContent = 'Copy'; }, 1500);
      },
    }, 'Copy');
  }
  const fullId = (text, testid) => h('div', { class: 'fullid' }, h('code', { class: 'selectable', 'data-testid': testid || null }, String(text)), copyButton(String(text)));
  function card(label, value, sub, attrs) {
    return h('div', Object.assign({ class: 'card' }, attrs || {}),
      h('div', { class: 'card-label' }, label), h('div', { class: 'card-value' }, value), sub ? h('div', { class: 'card-sub' }, sub) : null);
  }
  function section(title, ...kids) { return h('section', { class: 'panel' }, h('h2', null, title), ...kids); }
  function dl(pairs) {
    return h('dl', { class: 'kv' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
  }
  /** Table; rows are arrays of cells or {cells, attrs}. `key` keeps horizontal scroll across refreshes. */
  function table(headers, rows, opts = {}) {
    const head = h('thead', null, h('tr', null, headers.map((x) => h('th', typeof x === 'object' && !(x instanceof Node) ? x.attrs : null, typeof x === 'object' && !(x instanceof Node) ? x.label : x))));
    const body = h('tbody', null, rows.map((r) => {
      const cells = Array.isArray(r) ? r : r.cells;
      return h('tr', Array.isArray(r) ? null : r.attrs, cells.map((c) => (c instanceof Node && c.nodeName === 'TD') ? c : h('td', null, c)));
    }));
    const t = h('table', { class: 'tbl' + (opts.class ? ' ' + opts.class : '') }, head, body);
    const wrap = h('div', { class: 'table-wrap', 'data-keep': opts.key || null }, t);
    if (!rows.length) wrap.append(h('p', { class: 'empty' }, opts.empty || 'Nothing here yet.'));
    return wrap;
  }
  const td = (content, attrs) => h('td', attrs, content);
  function errorBox(err) {
    const code = err && err.code ? err.code : 'error';
    return h('div', { class: 'box error', role: 'alert', 'data-testid': 'error' },
      h('strong', null, 'Could not load this page'), h('p', null, String(err && err.message ? err.message : err)), h('small', { class: 'muted' }, code + (err && err.status ? ' · HTTP ' + err.status : '')));
  }
  const spinner = (what) => h('div', { class: 'loading' }, h('span', { class: 'spin' }), ' Loading ' + (what || '') + '…');

  // ---------------------------------------------------------------- API
  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }
  async function api(path, params) {
    let url = API + path;
    if (params) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) if (v != null && v !== '') q.set(k, String(v));
      const qs = q.toString();
      if (qs) url += '?' + qs;
    }
    let res;
    try {
      res = await fetch(url, { headers: { accept: 'application/json' }, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'unreachable', 'Cannot reach the node (' + (e && e.message ? e.message : 'network error') + ').');
    }
    const text = await res.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
    if (!res.ok) {
      const e = body && body.error;
      throw new ApiError(res.status, (e && e.code) || 'http_' + res.status, (e && e.message) || (text ? text.slice(0, 300) : res.statusText || 'Request failed'));
    }
    if (body == null) throw new ApiError(res.status, 'bad_json', 'The node answered with something that is not JSON.');
    return body;
  }

  // ---------------------------------------------------------------- charts (inline SVG)
  function niceStep(raw) {
    if (!(raw > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
  }
  /**
   * labels: x labels; series: [{name, color, values, type:'bar'|'line'}]; stacked bars optional;
   * markers: [{i, title}] drawn under the axis; yFmt formats ticks.
   */
  function chart(opts) {
    const { labels, series, title, stacked = false, yFmt = compact, markers = [], hrefFor } = opts;
    const W = Math.round(opts.width || 560), H = opts.height || 220, m = { l: 52, r: 10, t: 10, b: markers.length ? 36 : 28 };
    const n = labels.length;
    const bars = series.filter((x) => x.type !== 'line');
    const lines = series.filter((x) => x.type === 'line');
    let max = 0;
    for (let i = 0; i < n; i++) {
      if (stacked) max = Math.max(max, bars.reduce((a, x) => a + (x.values[i] || 0), 0));
      else for (const x of bars) max = Math.max(max, x.values[i] || 0);
      for (const x of lines) if (x.values[i] != null) max = Math.max(max, x.values[i]);
    }
    if (opts.yMax != null) max = Math.max(max, opts.yMax);
    const step = niceStep((max || 1) / 4);
    const top = Math.max(step, Math.ceil(max / step - 1e-9) * step);
    const pw = W - m.l - m.r, ph = H - m.t - m.b;
    const y = (v) => m.t + ph - (v / top) * ph;
    const slot = pw / Math.max(n, 1);
    // Drawn at its real size; shrinks (never grows) to fit narrower boxes, so text stays readable.
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title || 'chart', style: { maxWidth: W + 'px' } });
    for (let v = 0; v <= top + 1e-9; v += step) {
      svg.append(s('line', { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), class: 'gridline' }));
      svg.append(s('text', { x: m.l - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, yFmt(v)));
    }
    if (!n) svg.append(s('text', { x: W / 2, y: H / 2, class: 'tick', 'text-anchor': 'middle' }, 'No data yet'));
    const gw = Math.min(slot * 0.78, 40 * (stacked ? 1 : Math.max(1, bars.length)));
    for (let i = 0; i < n; i++) {
      const x0 = m.l + i * slot + (slot - gw) / 2;
      const g = s('g', { class: 'slot' });
      let acc = 0;
      bars.forEach((x, j) => {
        const v = x.values[i] || 0;
        let bx, bw, by, bh;
        if (stacked) { bx = x0; bw = gw; by = y(acc + v); bh = y(acc) - y(acc + v); acc += v; }
        else { bw = gw / bars.length; bx = x0 + j * bw; by = y(v); bh = y(0) - y(v); }
        g.append(s('rect', { x: bx.toFixed(2), y: by.toFixed(2), width: Math.max(bw - (stacked ? 0 : 0.5), 0.5).toFixed(2), height: Math.max(bh, v > 0 ? 0.8 : 0).toFixed(2), fill: x.color },
          s('title', null, `${labels[i]} · ${x.name}: ${x.fmt ? x.fmt(x.raw ? x.raw[i] : v) : compact(v)}`)));
      });
      if (hrefFor) {
        const a = s('a', { href: hrefFor(i) }, g);
        a.append(s('rect', { x: m.l + i * slot, y: m.t, width: slot, height: ph, class: 'hit' }, s('title', null, String(labels[i]))));
        svg.append(a);
      } else svg.append(g);
    }
    for (const x of lines) {
      const pts = [];
      for (let i = 0; i < n; i++) if (x.values[i] != null) pts.push([m.l + (i + 0.5) * slot, y(x.values[i]), i]);
      if (pts.length > 1) svg.append(s('polyline', { points: pts.map((p) => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' '), fill: 'none', stroke: x.color, 'stroke-width': 2.2, 'stroke-linejoin': 'round' }));
      for (const p of pts) svg.append(s('circle', { cx: p[0].toFixed(1), cy: p[1].toFixed(1), r: n > 40 ? 2 : 3, fill: x.color },
        s('title', null, `${labels[p[2]]} · ${x.name}: ${x.fmt ? x.fmt(x.raw ? x.raw[p[2]] : x.values[p[2]]) : compact(x.values[p[2]])}`)));
    }
    svg.append(s('line', { x1: m.l, x2: W - m.r, y1: y(0), y2: y(0), class: 'axis' }));
    const every = Math.max(1, Math.ceil(n / 12));
    for (let i = 0; i < n; i += every) svg.append(s('text', { x: m.l + (i + 0.5) * slot, y: H - m.b + 14, class: 'tick', 'text-anchor': 'middle' }, String(labels[i])));
    for (const mk of markers) {
      svg.append(s('path', { d: `M${m.l + (mk.i + 0.5) * slot - 4},${H - 4} l4,-7 l4,7 z`, class: 'marker' }, s('title', null, mk.title)));
    }
    const legend = h('div', { class: 'legend' }, series.map((x) => h('span', null, h('i', { style: { background: x.color } }), x.name)),
      markers.length ? h('span', null, h('i', { class: 'tri' }), opts.markerName || 'marker') : null);
    return h('figure', { class: 'chart-box' }, title ? h('figcaption', null, title) : null, svg, legend);
  }

  const viewW = () => document.documentElement.clientWidth || 1024;
  const halfChartW = () => (viewW() >= 900 ? Math.min(600, (Math.min(viewW(), 1280) - 90) / 2) : Math.max(280, viewW() - 60));
  const fullChartW = () => Math.max(280, Math.min(1280, viewW()) - 90);

  // ---------------------------------------------------------------- page plumbing
  const app = document.getElementById('app');
  let stats = null;
  let current = null;

  /**
   * Loads content into `el` with `build()`; re-running keeps horizontal scroll of tables and
   * <details> state (by data-keep), and on a refresh error keeps the stale content.
   */
  function loader(ctx, el, build, what) {
    let first = true, busy = false, again = false;
    fill(el, spinner(what));
    const run = async () => {
      if (!ctx.alive) return;
      if (busy) { again = true; return; }
      if (!first && selecting(el)) return;
      busy = true;
      try {
        const node = await build();
        if (!ctx.alive) return;
        const keep = snapshot(el);
        fill(el, node);
        restore(el, keep);
        first = false;
        ctx.root.dataset.state = 'ready';
        ctx.root.classList.remove('stale');
      } catch (e) {
        if (!ctx.alive) return;
        if (first) { fill(el, errorBox(e)); ctx.root.dataset.state = 'error'; }
        else ctx.root.classList.add('stale');
        console.warn('explorer:', e);
      } finally {
        busy = false;
        if (again && ctx.alive) { again = false; run(); }
      }
    };
    return run;
  }
  /** True while the user has text selected inside el: a refresh would drop the selection. */
  function selecting(el) {
    const sel = window.getSelection && window.getSelection();
    return !!(sel && !sel.isCollapsed && sel.anchorNode && el.contains(sel.anchorNode));
  }
  function snapshot(el) {
    const out = {};
    el.querySelectorAll('[data-keep]').forEach((n) => { out[n.dataset.keep] = { left: n.scrollLeft, top: n.scrollTop, open: n.open }; });
    return out;
  }
  function restore(el, keep) {
    el.querySelectorAll('[data-keep]').forEach((n) => {
      const k = keep[n.dataset.keep];
      if (!k) return;
      if (typeof k.open === 'boolean' && n.tagName === 'DETAILS') n.open = k.open;
      if (k.left) n.scrollLeft = k.left;
      if (k.top) n.scrollTop = k.top;
    });
  }
  function pageRoot(ctx, testid, title, ...extra) {
    ctx.root.setAttribute('data-testid', testid);
    ctx.root.dataset.state = 'loading';
    const body = h('div', { class: 'page-body' });
    ctx.root.append(h('div', { class: 'page-head' }, h('h1', null, title), ...extra), body);
    document.title = (typeof title === 'string' ? title : 'Cairn') + ' · Cairn Explorer';
    return body;
  }

  // ---------------------------------------------------------------- overview
  const expandedFraud = new Set();
  function overviewPage(ctx) {
    const body = pageRoot(ctx, 'overview', 'Network overview', h('p', { class: 'sub', id: 'ov-sub' }));
    let usage = null, usageErr = null, usageHeight = -1;
    const render = () => {
      if (!stats) { fill(body, spinner('network statistics')); return; }
      if (ctx.root.dataset.state === 'ready' && selecting(body)) return;
      const keep = snapshot(body);
      fill(body, ...overviewContent(stats, usage, usageErr));
      restore(body, keep);
      const rewarded = (stats.epochs || []).filter((e) => num(e.emitted) > 0).length;
      Object.assign(ctx.root.dataset, {
        state: 'ready', devices: String((stats.devices && stats.devices.total) || 0),
        rewardedEpochs: String(rewarded), fraud: String((stats.fraud || []).length),
      });
      const sub = $('#ov-sub', ctx.root);
      if (sub) {
        const ix = stats.indexed || {};
        sub.textContent = `${stats.network || 'network'} · indexed to height ${fmtInt(ix.height)} · verdicts through epoch ${ix.verdict_epoch || '—'} · rewards through epoch ${ix.rewards_epoch || '—'}`;
      }
    };
    const loadUsage = async () => {
      if (!stats || stats.height === usageHeight) return;
      usageHeight = stats.height;
      try { usage = await api('usage'); usageErr = null; } catch (e) { usageErr = e; }
      if (ctx.alive) render();
    };
    const firstLoad = async () => {
      if (!stats) {
        try { stats = await api('stats'); updateNav(stats); } catch (e) {
          if (ctx.alive) { fill(body, errorBox(e)); ctx.root.dataset.state = 'error'; }
          return;
        }
      }
      if (ctx.alive) { render(); loadUsage(); }
    };
    firstLoad();
    return { onStats: () => { render(); loadUsage(); } };
  }

  function overviewContent(st, usage, usageErr) {
    const out = [];
    const live = st.live;
    const dev = st.devices || { total: 0, by_kind: {} };
    const sup = st.supply || {};
    out.push(h('div', { class: 'cards' },
      card('Height', fmtInt(st.height), st.time_ms ? 'block time ' + fmtTime(st.time_ms) : null),
      card('Epoch', st.epoch != null ? '#' + st.epoch : '—', 'epochs last ' + duration(st.epoch_duration_ms)),
      card('Devices', fmtInt(dev.total), 'onboarded, all kinds', { 'data-testid': 'devices-total' }),
      card('Sessions online', live ? fmtInt(live.sessions_open) : '—', live ? 'updated ' + ago(live.updated_ms) : 'no live ingest figures'),
      card('Reports / s', live && live.reports_per_s != null ? (+Number(live.reports_per_s).toFixed(1)).toString() : '—', 'received by ingest'),
      card('Supply', sup.total == null ? amount(null) : h('span', { class: 'num', title: String(sup.total) + ' tokens' }, group3(String(sup.total).split('.')[0])), h('span', null, 'minted ', amount(sup.minted), ' · burned ', amount(sup.burned), ' · treasury ', amount(sup.treasury))),
    ));

    // Devices by kind and status
    const kinds = Object.keys(dev.by_kind || {});
    const kindOrder = KINDS.filter((k) => kinds.includes(k)).concat(kinds.filter((k) => !KINDS.includes(k)));
    out.push(section('Devices by kind and status', h('div', { class: 'cards kinds' }, kindOrder.length ? kindOrder.map((k) => {
      const c = dev.by_kind[k] || {};
      const total = STATUSES.reduce((a, x) => a + (Number(c[x]) || 0), 0);
      return h('div', { class: 'card kindcard', 'data-kind': cls(k) },
        h('div', { class: 'card-label' }, h('a', { href: '#/devices?kind=' + enc(k) }, kindTag(k))),
        h('div', { class: 'card-value' }, fmtInt(total)),
        h('div', { class: 'stackbar', role: 'img', 'aria-label': STATUSES.map((x) => `${x} ${c[x] || 0}`).join(', ') },
          STATUSES.map((x) => (c[x] ? h('i', { class: 'st-' + x, style: { flexGrow: String(c[x]) }, title: `${x}: ${c[x]}` }) : null))),
        h('ul', { class: 'statuslist' }, STATUSES.map((x) => h('li', { class: c[x] ? null : 'zero' },
          h('a', { href: `#/devices?kind=${enc(k)}&status=${x}`, title: `List ${x} ${k} devices` }, badge(x), ' ', h('b', null, fmtInt(c[x] || 0)))))));
    }) : h('p', { class: 'empty' }, 'No devices onboarded yet.'))));

    // Charts
    const eps = st.epochs || [];
    const labels = eps.map((e) => e.epoch);
    const charts = h('div', { class: 'charts' },
      chart({
        title: 'Emissions vs burns per epoch (tokens)', labels, width: halfChartW(), hrefFor: (i) => epochHref(eps[i].epoch),
        series: [
          { name: 'emitted', color: COLORS.emitted, values: eps.map((e) => num(e.emitted)), raw: eps.map((e) => e.emitted), fmt: fmtDec },
          { name: 'burned for credits', color: COLORS.burned, values: eps.map((e) => num(e.burned_for_credits)), raw: eps.map((e) => e.burned_for_credits), fmt: fmtDec },
        ],
      }),
      chart({
        title: 'Demand coverage (burns ÷ emissions, value)', labels, width: halfChartW(), yFmt: (v) => +v.toFixed(1) + '%',
        series: [{ name: 'demand coverage', type: 'line', color: COLORS.demand, values: eps.map((e) => (e.demand_coverage_ppm == null ? null : e.demand_coverage_ppm / 1e4)), fmt: (v) => v == null ? '—' : v.toFixed(2) + '%' }],
      }));
    const ue = usage && usage.epochs ? usage.epochs : null;
    if (ue && ue.length) {
      const uk = [...new Set(ue.flatMap((e) => Object.keys(e.by_kind || {})))];
      charts.append(chart({
        title: 'Usage credits by kind', labels: ue.map((e) => e.epoch), stacked: true, width: halfChartW(),
        series: uk.map((k) => ({ name: k, color: COLORS[k] || '#64748b', values: ue.map((e) => num((e.by_kind || {})[k])), raw: ue.map((e) => (e.by_kind || {})[k]), fmt: fmtDec })),
      }));
    } else if (usageErr) charts.append(h('div', { class: 'chart-box' }, h('p', { class: 'muted' }, 'Usage: ' + usageErr.message)));
    out.push(section('Rewards and demand', charts));

    // Fraud caught
    const fraud = st.fraud || [];
    out.push(section('Fraud caught by class', h('p', { class: 'sub' }, 'Invalid verdicts by reason over all indexed epochs. Each device links to its page, where the verdict is explained.'),
      table(['Kind', 'Reason', 'What it means', 'Verdicts', 'Devices'], fraud.map((f) => {
        const key = `${f.kind}/${f.reason}`;
        const list = f.device_list || [];
        const open = expandedFraud.has(key);
        const shown = open ? list : list.slice(0, 6);
        const more = list.length - shown.length;
        return {
          attrs: { 'data-testid': 'fraud-row', 'data-reason': String(f.reason || '') },
          cells: [kindTag(f.kind), reasonEl(f.reason, f.code), td(f.explanation || '', { class: 'explain' }), fmtInt(f.verdicts),
            td([h('b', null, fmtInt(f.devices)), ' ', h('span', { class: 'devlist' }, shown.map((d) => deviceLink(d, { 'data-testid': 'fraud-device', 'data-reason': String(f.reason || '') }))),
              more > 0 || open ? h('button', { type: 'button', class: 'btn link', onclick: () => { open ? expandedFraud.delete(key) : expandedFraud.add(key); if (current && current.page.onStats) current.page.onStats(); } }, open ? 'show fewer' : `+${more} more`) : null], { class: 'devcell' })],
        };
      }), { key: 'fraud', empty: 'No cheaters caught yet: no invalid verdicts in the indexed epochs.' })));

    // Latest epochs
    const latest = eps.slice().reverse().slice(0, 10);
    out.push(section('Latest epochs',
      table(['Epoch', 'Valid', 'Invalid', 'Paid devices', 'Emitted', 'Burned for credits', 'Usage credits', 'Demand coverage'], latest.map((e) => ({
        attrs: { 'data-testid': 'overview-epoch', 'data-epoch': String(e.epoch), 'data-emitted': String(e.emitted ?? '') },
        cells: [epochLink(e.epoch), fmtInt(e.valid), td(fmtInt(e.invalid), { class: e.invalid ? 'bad' : null }), fmtInt(e.paid_devices), amount(e.emitted), amount(e.burned_for_credits), amount(e.usage_credits), pct(e.demand_coverage_ppm)],
      })), { key: 'latest', empty: 'No epoch has been judged yet. A fresh network needs one full epoch first.' }),
      h('p', null, h('a', { href: '#/epochs' }, 'All epochs →'))));
    return out;
  }

  // ---------------------------------------------------------------- map
  const EDGE_KM = [1107.71, 418.68, 158.24, 59.81, 22.61, 8.54, 3.23, 1.22, 0.461, 0.174, 0.0657];
  const MIN_RES = 2, MAX_RES = 10, KM_PER_DEG = 111.2;
  const mapState = { metric: 'devices', proj: null, view: null, res: null, selected: null };
  const METRICS = {
    devices: { label: 'Device count' },
    active: { label: 'Active share' },
    quality: { label: 'Data quality' },
  };
  const SEQ = ['#93c5fd', '#60a5fa', '#2563eb', '#1e40af', '#172554'];
  const DIV = ['#b91c1c', '#f97316', '#facc15', '#84cc16', '#15803d'];

  function colourScale(metric, cells) {
    if (metric === 'devices') {
      const max = cells.reduce((a, c) => Math.max(a, c.devices || 0), 1);
      const breaks = [];
      for (let i = 1; i <= 5; i++) { const b = Math.max(1, Math.round(Math.pow(max, i / 5))); if (!breaks.length || b > breaks[breaks.length - 1]) breaks.push(b); }
      const pal = breaks.map((_, i) => SEQ[breaks.length === 1 ? 2 : Math.round(i * 4 / (breaks.length - 1))]);
      const classes = breaks.map((b, i) => ({ colour: pal[i], label: (i === 0 ? 1 : breaks[i - 1] + 1) === b ? String(b) : `${i === 0 ? 1 : breaks[i - 1] + 1}–${b}` }));
      return {
        classes,
        colour: (c) => { const v = c.devices || 0; const i = breaks.findIndex((b) => v <= b); return pal[i < 0 ? pal.length - 1 : i]; },
        value: (c) => `${c.devices} device${c.devices === 1 ? '' : 's'}`,
      };
    }
    const get = metric === 'active' ? (c) => (c.devices ? (c.active || 0) / c.devices : null) : (c) => (c.quality_ppm == null ? null : c.quality_ppm / 1e6);
    const classes = DIV.map((colour, i) => ({ colour, label: `${i * 20}–${(i + 1) * 20}%` }));
    classes.push({ colour: '#cbd5e1', label: 'no data' });
    return {
      classes,
      colour: (c) => { const v = get(c); return v == null ? '#cbd5e1' : DIV[Math.min(4, Math.max(0, Math.floor(v * 5 - 1e-9)))]; },
      value: (c) => { const v = get(c); return v == null ? 'no data' : (v * 100).toFixed(1) + '% ' + (metric === 'active' ? 'active' : 'quality'); },
    };
  }

  function mapPage(ctx) {
    const q = ctx.query;
    if (q.get('metric') && METRICS[q.get('metric')]) mapState.metric = q.get('metric');
    ctx.root.setAttribute('data-testid', 'map');
    ctx.root.dataset.state = 'loading';
    ctx.root.classList.add('mappage');
    document.title = 'Map · Cairn Explorer';

    const metricSel = h('select', { id: 'map-metric', 'aria-label': 'Colour by' }, Object.entries(METRICS).map(([k, v]) => h('option', { value: k, selected: k === mapState.metric }, v.label)));
    const resInfo = h('span', { class: 'muted', id: 'map-res' }, '');
    const legend = h('div', { class: 'legend maplegend', 'data-testid': 'map-legend' });
    const zoomIn = h('button', { type: 'button', class: 'btn', title: 'Zoom in', 'aria-label': 'Zoom in' }, '+');
    const zoomOut = h('button', { type: 'button', class: 'btn', title: 'Zoom out', 'aria-label': 'Zoom out' }, '−');
    const fitBtn = h('button', { type: 'button', class: 'btn', title: 'Fit all devices' }, 'Fit');
    const svg = s('svg', { id: 'map', class: 'map', tabindex: '0', role: 'application', 'aria-label': 'Map of device cells: drag to pan, wheel or pinch to zoom, click a hexagon to list its devices' });
    const gridG = s('g', { class: 'graticule' });
    const hexG = s('g', { class: 'hexes' });
    const selG = s('g', { class: 'selected-cell' });
    const overlayG = s('g', { class: 'overlay' });
    svg.append(gridG, hexG, selG, overlayG);
    const note = h('div', { class: 'mapnote', hidden: true });
    const panel = h('aside', { class: 'cellpanel', 'data-testid': 'cell-devices', 'aria-live': 'polite' },
      h('h2', null, 'Cell devices'), h('p', { class: 'muted' }, 'Click a hexagon to list the devices inside it.'));

    ctx.root.append(
      h('div', { class: 'page-head' }, h('h1', null, 'Device map'),
        h('div', { class: 'toolbar' }, h('label', null, 'Colour by ', metricSel), h('span', { class: 'btngroup' }, zoomOut, zoomIn, fitBtn), resInfo)),
      h('div', { class: 'mapwrap' }, h('div', { class: 'mapcol' }, h('div', { class: 'mapbox' }, svg, note), legend), panel));

    let data = null; // {res, cells, bounds}
    let loadedRes = null, wantRes = null, resTimer = 0, raf = 0;
    let size = { w: 800, h: 500 };
    let cellDetail = null, cellNext = null, cellPages = 0, cellErr = null;
    const scales = { current: null };

    function project(lat, lng) {
      const p = mapState.proj;
      return [(lng - p.lng0) * p.cos, -(lat - p.lat0)];
    }
    function setProj(bounds) {
      if (mapState.proj) return;
      if (!bounds) { mapState.proj = { lat0: 0, lng0: 0, cos: 1 }; return; }
      const lat0 = (bounds[0][0] + bounds[1][0]) / 2, lng0 = (bounds[0][1] + bounds[1][1]) / 2;
      mapState.proj = { lat0, lng0, cos: Math.max(0.05, Math.cos(lat0 * Math.PI / 180)) };
    }
    function measure() {
      const r = svg.getBoundingClientRect();
      size = { w: Math.max(50, r.width), h: Math.max(50, r.height) };
    }
    function fit(bounds) {
      measure();
      if (!bounds) { mapState.view = { cx: 0, cy: 0, k: 2 }; return; }
      const [a, b] = [project(bounds[0][0], bounds[0][1]), project(bounds[1][0], bounds[1][1])];
      const bw = Math.abs(b[0] - a[0]), bh = Math.abs(b[1] - a[1]);
      let k = Math.min(size.w / Math.max(bw, 1e-9), size.h / Math.max(bh, 1e-9)) * 0.85;
      if (!Number.isFinite(k) || bw + bh < 1e-6) k = KM_PER_DEG * 30; // one spot: about 30 px per km
      mapState.view = { cx: (a[0] + b[0]) / 2, cy: (a[1] + b[1]) / 2, k: clampK(k) };
    }
    // zoomed out, the whole world (360° of longitude) fills about the map's width
    const clampK = (k) => Math.min(5e6, Math.max(size.w / (360 * (mapState.proj ? mapState.proj.cos : 1)), k));
    function resForZoom(k) {
      let r = MIN_RES;
      for (let i = MIN_RES; i <= MAX_RES; i++) if (EDGE_KM[i] / KM_PER_DEG * k >= 7) r = i;
      return r;
    }
    function applyView() {
      const v = mapState.view;
      if (!v) return;
      hexG.setAttribute('transform', `matrix(${v.k} 0 0 ${v.k} ${size.w / 2 - v.cx * v.k} ${size.h / 2 - v.cy * v.k})`);
      selG.setAttribute('transform', hexG.getAttribute('transform'));
      drawGrid();
    }
    function scheduleView() {
      if (raf) return;
      raf = requestAnimationFrame(() => { raf = 0; applyView(); checkRes(); });
    }
    function checkRes() {
      const r = resForZoom(mapState.view.k);
      if (r === wantRes) return;
      wantRes = r;
      clearTimeout(resTimer);
      resTimer = setTimeout(() => { if (ctx.alive && wantRes !== loadedRes) load(wantRes); }, 250);
    }
    function drawGrid() {
      const v = mapState.view, p = mapState.proj;
      if (!v || !p) return;
      const W = size.w, H = size.h;
      const toScreen = (wx, wy) => [W / 2 + (wx - v.cx) * v.k, H / 2 + (wy - v.cy) * v.k];
      const latTop = p.lat0 - (v.cy - H / 2 / v.k), latBot = p.lat0 - (v.cy + H / 2 / v.k);
      const lngL = p.lng0 + (v.cx - W / 2 / v.k) / p.cos, lngR = p.lng0 + (v.cx + W / 2 / v.k) / p.cos;
      const step = niceStep((latTop - latBot) / 5);
      const lstep = niceStep((lngR - lngL) / 6);
      const kids = [s('rect', { x: 0, y: 0, width: W, height: H, class: 'mapbg' })];
      const fmtDeg = (d, st) => { const dig = Math.max(0, -Math.floor(Math.log10(st) + 1e-9)); return d.toFixed(dig) + '°'; };
      for (let lat = Math.ceil(latBot / step) * step; lat <= latTop && kids.length < 60; lat += step) {
        if (lat < -90 || lat > 90) continue;
        const yy = toScreen(0, -(lat - p.lat0))[1];
        kids.push(s('line', { x1: 0, x2: W, y1: yy, y2: yy }), s('text', { x: 4, y: yy - 3 }, fmtDeg(lat, step)));
      }
      for (let lng = Math.ceil(lngL / lstep) * lstep; lng <= lngR && kids.length < 120; lng += lstep) {
        if (lng < -180 || lng > 180) continue;
        const xx = toScreen((lng - p.lng0) * p.cos, 0)[0];
        kids.push(s('line', { x1: xx, x2: xx, y1: 0, y2: H }), s('text', { x: xx + 3, y: H - 5 }, fmtDeg(lng, lstep)));
      }
      fill(gridG, ...kids);
      // scale bar
      const pxPerKm = v.k / KM_PER_DEG;
      let km = niceStep(110 / pxPerKm);
      if (km * pxPerKm > 160) km /= 2;
      const len = km * pxPerKm;
      const label = km >= 1 ? `${+km.toFixed(1)} km` : `${Math.round(km * 1000)} m`;
      let pin = null;
      if (mapState.selected && cellDetail && cellDetail.center && !(cellDetail.res <= loadedRes)) { // finer than the hexes shown
        const [px, py] = toScreen(...project(cellDetail.center[0], cellDetail.center[1]));
        pin = s('circle', { cx: px.toFixed(1), cy: py.toFixed(1), r: 9, class: 'pin' });
      }
      fill(overlayG, pin,
        s('rect', { x: W - len - 22, y: H - 30, width: len + 16, height: 22, rx: 4, class: 'scalebg' }),
        s('path', { d: `M${W - len - 14},${H - 16} v5 h${len} v-5`, class: 'scalebar' }),
        s('text', { x: W - 14 - len / 2, y: H - 19, 'text-anchor': 'middle', class: 'scaletext' }, label));
    }
    function ringPoints(boundary) {
      if (!Array.isArray(boundary) || boundary.length < 3) return null;
      const lng0 = boundary[0][1];
      return boundary.map(([lat, lng]) => {
        let L = lng;
        if (L - lng0 > 180) L -= 360; else if (lng0 - L > 180) L += 360;
        const [x, y] = project(lat, L);
        return x.toFixed(7) + ',' + y.toFixed(7);
      }).join(' ');
    }
    function drawCells() {
      if (!data) return;
      const sc = colourScale(mapState.metric, data.cells || []);
      scales.current = sc;
      const kids = [];
      for (const c of data.cells || []) {
        const pts = ringPoints(c.boundary);
        if (!pts) continue;
        const title = `${c.cell} · ${sc.value(c)} · ${c.devices} devices (${STATUSES.filter((x) => c[x]).map((x) => `${c[x]} ${x}`).join(', ') || 'none'})` +
          (c.quality_ppm != null ? ` · quality ${pct(c.quality_ppm)}` : '');
        kids.push(s('polygon', {
          points: pts, fill: sc.colour(c), class: 'hex' + (c.cell === mapState.selected ? ' sel' : ''),
          'data-cell': String(c.cell), 'data-devices': String(c.devices || 0), tabindex: '-1',
        }, s('title', null, title)));
      }
      fill(hexG, ...kids);
      fill(legend, h('strong', null, METRICS[mapState.metric].label + ': '), sc.classes.map((x) => h('span', null, h('i', { style: { background: x.colour } }), x.label)));
      resInfo.textContent = `H3 resolution ${data.res} · ${fmtInt((data.cells || []).length)} cells`;
      if (!(data.cells || []).length) { note.hidden = false; note.textContent = 'No located devices yet. Devices appear here once they assert a location.'; }
      else note.hidden = true;
    }
    function drawSelected() {
      selG.replaceChildren();
      drawGrid();
      if (!cellDetail || !mapState.selected) return;
      const pts = ringPoints(cellDetail.boundary);
      if (pts) selG.append(s('polygon', { points: pts, class: 'selring' }));
    }
    let seq = 0;
    async function load(res) {
      const my = ++seq;
      try {
        const d = await api('map', { res });
        if (!ctx.alive || my !== seq) return;
        data = d; loadedRes = d.res != null ? d.res : res;
        setProj(d.bounds);
        if (!mapState.view) fit(d.bounds);
        measure(); applyView(); drawCells(); drawSelected();
        ctx.root.dataset.state = 'ready';
        ctx.root.classList.remove('stale');
        mapState.res = loadedRes;
        wantRes = resForZoom(mapState.view.k);
        if (wantRes !== loadedRes && wantRes !== res) load(wantRes);
      } catch (e) {
        if (!ctx.alive || my !== seq) return;
        if (!data) { note.hidden = false; fill(note, errorBox(e)); ctx.root.dataset.state = 'error'; }
        else ctx.root.classList.add('stale');
      }
    }

    // ---- cell side panel
    function renderPanel(loading) {
      const c = mapState.selected;
      if (!c) return;
      const summary = data && (data.cells || []).find((x) => x.cell === c);
      const kids = [h('div', { class: 'panelhead' }, h('h2', null, 'Cell ', h('code', { title: c }, c)),
        h('button', { type: 'button', class: 'btn small', 'aria-label': 'Close', onclick: () => { mapState.selected = null; cellDetail = null; drawCells(); drawSelected(); fill(panel, h('h2', null, 'Cell devices'), h('p', { class: 'muted' }, 'Click a hexagon to list the devices inside it.')); history.replaceState(null, '', '#/map'); } }, '×'))];
      if (summary) {
        kids.push(h('p', { class: 'cellsum' }, `${summary.devices} device${summary.devices === 1 ? '' : 's'} · `,
          STATUSES.filter((x) => summary[x]).map((x) => h('span', { class: 'nowrap' }, badge(x), ` ${summary[x]}`)),
          summary.quality_ppm != null ? ` · quality ${pct(summary.quality_ppm)}` : ''));
      }
      if (cellDetail) kids.push(h('p', { class: 'muted small' }, `H3 res ${cellDetail.res}` + (cellDetail.center ? ` · centre ${cellDetail.center[0].toFixed(5)}, ${cellDetail.center[1].toFixed(5)}` : '')));
      if (cellErr) kids.push(errorBox(cellErr));
      if (loading && !cellDetail) kids.push(spinner('devices'));
      if (cellDetail) {
        const devs = cellDetail.devices || [];
        kids.push(devs.length ? h('ul', { class: 'devicelist' }, devs.map((d) => h('li', { 'data-status': cls(d.status) },
          h('div', null, deviceLink(d.did), ' ', badge(d.status)),
          h('div', { class: 'muted small' }, kindTag(d.kind), ' · quality ', pct(d.quality_ppm), ' · earned ', amount(d.earned),
            d.last_reason ? [' · ', reasonEl(d.last_reason)] : null)))) : h('p', { class: 'empty' }, 'No devices in this cell.'));
        if (cellNext) kids.push(h('button', { type: 'button', class: 'btn', onclick: () => loadCell(true) }, 'Load more'));
      }
      fill(panel, ...kids);
    }
    async function loadCell(more) {
      const c = mapState.selected;
      if (!c) return;
      cellErr = null;
      if (!more) { cellDetail = null; cellNext = null; cellPages = 0; }
      renderPanel(true);
      try {
        const d = await api('cells/' + enc(c), { limit: 50, after: more ? cellNext : null });
        if (!ctx.alive || mapState.selected !== c) return;
        if (more && cellDetail) { cellDetail.devices = (cellDetail.devices || []).concat(d.devices || []); } else cellDetail = d;
        cellNext = d.next || null; cellPages++;
      } catch (e) { if (!ctx.alive || mapState.selected !== c) return; cellErr = e; }
      renderPanel(false);
      drawSelected();
    }
    function select(cell) {
      mapState.selected = cell;
      hexG.querySelectorAll('polygon.sel').forEach((p) => p.classList.remove('sel'));
      const p = hexG.querySelector(`polygon[data-cell="${CSS.escape(cell)}"]`);
      if (p) p.classList.add('sel');
      history.replaceState(null, '', '#/map?cell=' + enc(cell) + (mapState.metric !== 'devices' ? '&metric=' + mapState.metric : ''));
      loadCell(false);
      if (window.innerWidth < 800) setTimeout(() => panel.scrollIntoView({ block: 'nearest', behavior: 'smooth' }), 50);
    }

    // ---- pan / zoom
    function zoomAt(sx, sy, factor) {
      const v = mapState.view;
      if (!v) return;
      const wx = v.cx + (sx - size.w / 2) / v.k, wy = v.cy + (sy - size.h / 2) / v.k;
      const k = clampK(v.k * factor);
      mapState.view = { k, cx: wx - (sx - size.w / 2) / k, cy: wy - (sy - size.h / 2) / k };
      scheduleView();
    }
    const pointers = new Map();
    let down = null, pinch = null;
    const local = (e) => { const r = svg.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    svg.addEventListener('pointerdown', (e) => {
      if (e.pointerType === 'mouse' && e.button !== 0) return;
      measure();
      try { svg.setPointerCapture(e.pointerId); } catch (_) { /* ignore */ }
      pointers.set(e.pointerId, local(e));
      if (pointers.size === 1) { down = { target: e.target, start: local(e), moved: false, last: local(e) }; svg.classList.add('dragging'); }
      else if (pointers.size === 2) {
        const [a, b] = [...pointers.values()];
        pinch = { dist: Math.hypot(a[0] - b[0], a[1] - b[1]) || 1, k: mapState.view.k, mid: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] };
        if (down) down.moved = true;
      }
    });
    svg.addEventListener('pointermove', (e) => {
      if (!pointers.has(e.pointerId) || !mapState.view) return;
      const p = local(e);
      pointers.set(e.pointerId, p);
      if (pointers.size >= 2 && pinch) {
        const [a, b] = [...pointers.values()];
        const dist = Math.hypot(a[0] - b[0], a[1] - b[1]) || 1;
        const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
        const v = mapState.view;
        // pan by the midpoint's movement, then zoom about it
        v.cx -= (mid[0] - pinch.mid[0]) / v.k; v.cy -= (mid[1] - pinch.mid[1]) / v.k;
        pinch.mid = mid;
        zoomAt(mid[0], mid[1], clampK(pinch.k * dist / pinch.dist) / v.k);
        return;
      }
      if (!down) return;
      const dx = p[0] - down.last[0], dy = p[1] - down.last[1];
      down.last = p;
      if (!down.moved && Math.hypot(p[0] - down.start[0], p[1] - down.start[1]) < 5) return;
      if (!down.moved) { down.moved = true; mapState.view.cx -= (p[0] - down.start[0] - dx) / mapState.view.k; mapState.view.cy -= (p[1] - down.start[1] - dy) / mapState.view.k; }
      mapState.view.cx -= dx / mapState.view.k;
      mapState.view.cy -= dy / mapState.view.k;
      scheduleView();
    });
    const endPointer = (e) => {
      if (!pointers.has(e.pointerId)) return;
      pointers.delete(e.pointerId);
      if (pointers.size < 2) pinch = null;
      if (pointers.size === 1 && down) down.last = [...pointers.values()][0];
      if (pointers.size === 0) {
        svg.classList.remove('dragging');
        if (down && !down.moved && e.type === 'pointerup') {
          const poly = down.target && down.target.closest ? down.target.closest('polygon[data-cell]') : null;
          if (poly) select(poly.getAttribute('data-cell'));
        }
        down = null;
      }
    };
    svg.addEventListener('pointerup', endPointer);
    svg.addEventListener('pointercancel', endPointer);
    svg.addEventListener('wheel', (e) => {
      e.preventDefault();
      measure();
      const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
      const [x, y] = local(e);
      zoomAt(x, y, Math.exp(-e.deltaY * unit * 0.0018));
    }, { passive: false });
    svg.addEventListener('keydown', (e) => {
      const v = mapState.view;
      if (!v) return;
      const step = 60 / v.k;
      const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      if (moves[e.key]) { v.cx += moves[e.key][0]; v.cy += moves[e.key][1]; scheduleView(); e.preventDefault(); }
      else if (e.key === '+' || e.key === '=') { zoomAt(size.w / 2, size.h / 2, 1.5); e.preventDefault(); }
      else if (e.key === '-' || e.key === '_') { zoomAt(size.w / 2, size.h / 2, 1 / 1.5); e.preventDefault(); }
    });
    zoomIn.addEventListener('click', () => { measure(); zoomAt(size.w / 2, size.h / 2, 1.6); });
    zoomOut.addEventListener('click', () => { measure(); zoomAt(size.w / 2, size.h / 2, 1 / 1.6); });
    fitBtn.addEventListener('click', () => { if (data) { fit(data.bounds); scheduleView(); } });
    metricSel.addEventListener('change', () => {
      mapState.metric = metricSel.value;
      drawCells();
      const c = mapState.selected;
      history.replaceState(null, '', '#/map' + (c || mapState.metric !== 'devices' ? '?' + [c ? 'cell=' + enc(c) : null, mapState.metric !== 'devices' ? 'metric=' + mapState.metric : null].filter(Boolean).join('&') : ''));
    });
    const ro = typeof ResizeObserver === 'function' ? new ResizeObserver(() => { measure(); applyView(); }) : null;
    if (ro) ro.observe(svg);

    // ---- start
    const startCell = q.get('cell');
    (async () => {
      measure();
      if (startCell) {
        mapState.selected = startCell;
        try {
          const d = await api('cells/' + enc(startCell), { limit: 50 });
          if (!ctx.alive) return;
          cellDetail = d; cellNext = d.next || null; cellPages = 1;
          if (d.center) {
            if (!mapState.proj) mapState.proj = { lat0: d.center[0], lng0: d.center[1], cos: Math.max(0.05, Math.cos(d.center[0] * Math.PI / 180)) };
            const [cx, cy] = project(d.center[0], d.center[1]);
            const r = Math.min(MAX_RES, Math.max(MIN_RES, d.res != null ? d.res : 8));
            mapState.view = { cx, cy, k: clampK(25 * KM_PER_DEG / EDGE_KM[r]) };
          }
        } catch (e) { cellErr = e; }
        renderPanel(false);
      }
      const res = mapState.view ? resForZoom(mapState.view.k) : (mapState.res || 8);
      await load(res);
      if (startCell) { drawCells(); drawSelected(); renderPanel(false); }
    })();

    return {
      onStats: (_st, changed) => {
        if (!changed || loadedRes == null) return;
        load(loadedRes);
        if (mapState.selected && cellPages <= 1 && !cellErr) {
          const c = mapState.selected;
          api('cells/' + enc(c), { limit: 50 }).then((d) => { if (ctx.alive && mapState.selected === c) { cellDetail = d; cellNext = d.next || null; renderPanel(false); drawSelected(); } }).catch(() => {});
        }
      },
      destroy: () => { if (ro) ro.disconnect(); clearTimeout(resTimer); if (raf) cancelAnimationFrame(raf); },
    };
  }

  // ---------------------------------------------------------------- devices list
  function deviceRows(devs) {
    return devs.map((d) => ({
      attrs: { 'data-status': cls(d.status), 'data-last-reason': d.last_reason || '', 'data-did': String(d.did) },
      cells: [deviceLink(d.did), kindTag(d.kind), badge(d.status), accountLink(d.owner),
        d.cell ? h('a', { href: '#/map?cell=' + enc(d.cell), title: 'Show on map' }, h('code', null, shortHash(d.cell))) : h('span', { class: 'muted' }, '—'),
        timeEl(d.last_seen_ms), pct(d.reputation_ppm), pct(d.quality_ppm), amount(d.earned), amount(d.withheld), epochLink(d.last_epoch),
        reasonEl(d.last_reason)],
    }));
  }
  const DEVICE_HEADERS = ['Device', 'Kind', 'Status', 'Owner', 'Cell', 'Last seen', 'Reputation', 'Quality', 'Earned', 'Withheld', 'Last epoch', 'Last invalid reason'];

  function devicesPage(ctx) {
    const q = ctx.query;
    const filters = { kind: q.get('kind') || '', status: q.get('status') || '', owner: q.get('owner') || '' };
    const body = pageRoot(ctx, 'devices', 'Devices');
    const go = () => {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(filters)) if (v) p.set(k, v);
      location.hash = '#/devices' + (p.toString() ? '?' + p.toString() : '');
    };
    const sel = (name, opts) => h('select', { name, 'aria-label': name, onchange: (e) => { filters[name] = e.target.value; go(); } },
      h('option', { value: '' }, 'any ' + name), opts.map((o) => h('option', { value: o, selected: o === filters[name] }, o)));
    const ownerInput = h('input', { type: 'search', placeholder: 'owner DID', value: filters.owner, 'aria-label': 'owner', size: 24 });
    const bar = h('form', { class: 'toolbar filters', onsubmit: (e) => { e.preventDefault(); filters.owner = ownerInput.value.trim(); go(); } },
      h('label', null, 'Kind ', sel('kind', KINDS)), h('label', null, 'Status ', sel('status', STATUSES)), h('label', null, 'Owner ', ownerInput),
      h('button', { class: 'btn', type: 'submit' }, 'Apply'));
    const listEl = h('div');
    body.append(bar, listEl);
    let devs = [], next = null, pages = 0;
    const params = () => ({ kind: filters.kind, status: filters.status, owner: filters.owner, limit: 50 });
    const build = async () => {
      const d = await api('devices', params());
      devs = d.devices || []; next = d.next || null; pages = 1;
      return view();
    };
    const view = () => [
      h('p', { class: 'sub' }, `${devs.length}${next ? '+' : ''} device${devs.length === 1 ? '' : 's'}` + (filters.owner ? ' of owner ' + shortDid(filters.owner) : '')),
      table(DEVICE_HEADERS, deviceRows(devs), { key: 'devices', empty: 'No devices match these filters.' }),
      next ? h('button', {
        type: 'button', class: 'btn', onclick: async (e) => {
          e.target.disabled = true;
          try {
            const d = await api('devices', Object.assign(params(), { after: next }));
            devs = devs.concat(d.devices || []); next = d.next || null; pages++;
            fill(listEl, ...view());
          } catch (err) { listEl.append(errorBox(err)); e.target.disabled = false; }
        },
      }, 'Load more') : null,
    ];
    const run = loader(ctx, listEl, build, 'devices');
    run();
    return { onStats: (_st, changed) => { if (changed && pages <= 1) run(); } };
  }

  // ---------------------------------------------------------------- device page
  let onlyInvalid = false;
  function devicePage(ctx) {
    const did = ctx.parts[1] || '';
    ctx.allVerdicts = false;
    const body = pageRoot(ctx, 'device', h('span', null, 'Device ', h('span', { class: 'did', title: did }, shortDid(did))));
    document.title = 'Device ' + shortDid(did) + ' · Cairn Explorer';
    const run = loader(ctx, body, async () => deviceContent(await api('devices/' + enc(did)), ctx), 'device');
    run();
    return { onStats: (_st, changed) => { if (changed) run(); } };
  }

  function payVerdict(d) {
    const failing = (d.eligibility || []).filter((c) => !c.ok);
    const last = (d.epochs || [])[d.epochs && d.epochs.length ? d.epochs.length - 1 : 0];
    const vs = d.verdicts || [];
    const newest = vs.reduce((a, v) => Math.max(a, Number(v.epoch) || 0), -1);
    const lastV = vs.find((v) => Number(v.epoch) === newest && v.valid === false);
    const lines = [];
    let tone = 'ok';
    if (d.denylist && (d.denylist.status === 'active' || d.denylist.status === 'upheld' || d.denylist.status === 'appealed')) {
      tone = 'bad';
      lines.push(h('p', null, h('strong', null, 'Denylisted'), ` (entry #${d.denylist.id}, ${d.denylist.status}): `, reasonEl(d.denylist.reason, d.denylist.code),
        d.denylist.explanation ? ' — ' + d.denylist.explanation : '', ' A denylisted device is not paid while the entry stands.'));
    }
    if (failing.length) {
      tone = 'bad';
      lines.push(h('p', null, h('strong', null, 'Not eligible: '), failing.map((c, i) => [i ? '; ' : '', h('span', null, humanize(c.check)), c.detail ? ` — ${String(c.detail).replace(/\.$/, '')}` : ''])));
    }
    if (lastV && lastV.valid === false) {
      if (tone === 'ok') tone = 'warn';
      lines.push(h('p', null, h('strong', null, `Invalid in its latest judged epoch (${lastV.epoch}): `), reasonEl(lastV.reason, lastV.code), lastV.explanation ? ' — ' + lastV.explanation : ''));
    }
    if (last) {
      lines.push(h('p', null, `Epoch ${last.epoch}: ${last.valid} valid and ${last.invalid} invalid verdicts; earned `, amount(last.earned, 'tokens'),
        num(last.withheld) > 0 ? [', withheld ', amount(last.withheld, 'tokens')] : null, last.top_reason ? [' (most common reason ', reasonEl(last.top_reason), ')'] : null, '.'));
    }
    if (!lines.length) lines.push(h('p', null, 'Eligible on every check. Rewards follow from valid work in each epoch.'));
    else if (tone === 'ok') lines.unshift(h('p', null, h('strong', null, 'Eligible on every check.')));
    return h('div', { class: 'box verdictbox tone-' + tone, 'data-testid': 'pay-summary' }, h('h2', null, 'Why was this device paid (or not)?'), lines);
  }

  function deviceContent(d, ctx) {
    const out = [];
    ctx.root.dataset.status = cls(d.status);
    ctx.root.dataset.lastReason = d.last_reason || '';
    out.push(h('div', { class: 'idline' }, kindTag(d.kind), badge(d.status), d.reputation && d.reputation.disqualified ? badge('disqualified', 'st-failing') : null,
      d.reputation && d.reputation.probation ? badge('probation', 'st-pending') : null), fullId(d.did, 'device-did'));
    out.push(payVerdict(d));
    const loc = d.boundary && d.boundary.length > 2 ? miniHex(d.boundary) : null;
    out.push(h('div', { class: 'grid2' },
      section('Summary', dl([
        ['Owner', accountLink(d.owner)],
        ['Maker', d.maker ? h('span', { class: 'did', title: d.maker }, shortDid(d.maker)) : '—'],
        ['Last seen', timeEl(d.last_seen_ms)],
        ['Reputation', h('span', null, pct(d.reputation ? d.reputation.score_ppm : d.reputation_ppm))],
        ['Data quality', pct(d.quality_ppm)],
        ['Earned', amount(d.earned, 'tokens')],
        ['Withheld', amount(d.withheld, 'tokens')],
        ['Bond', amount(d.bond, 'tokens')],
        ['Onboarded', `height ${fmtInt(d.onboarded_height)}, epoch ${d.onboarded_epoch ?? '—'}`],
        ['Last judged epoch', epochLink(d.last_epoch)],
        ['Last invalid reason', reasonEl(d.last_reason)],
      ])),
      section('Location', d.cell ? h('div', { class: 'locbox' }, loc,
        dl([['Cell', h('a', { href: '#/map?cell=' + enc(d.cell) }, h('code', null, String(d.cell)))],
          ['Centre', d.center ? `${Number(d.center[0]).toFixed(5)}, ${Number(d.center[1]).toFixed(5)}` : '—'],
          ['Location moves', fmtInt(d.location_moves)]])) : h('p', { class: 'empty' }, 'No location asserted.'),
      d.denylist ? h('div', { class: 'box error small' }, h('strong', null, `Denylist entry #${d.denylist.id} `), badge(d.denylist.status),
        h('p', null, reasonEl(d.denylist.reason, d.denylist.code), d.denylist.explanation ? ' — ' + d.denylist.explanation : '')) : null)));

    out.push(section('Eligibility checklist', h('ul', { class: 'checklist', 'data-testid': 'eligibility' }, (d.eligibility || []).map((c) =>
      h('li', { class: c.ok ? 'ok' : 'no', 'data-check': String(c.check) }, h('span', { class: 'tick', 'aria-label': c.ok ? 'passed' : 'failed' }, c.ok ? '✓' : '✗'),
        h('span', null, h('strong', null, humanize(c.check)), c.detail ? h('span', { class: 'muted' }, ' — ' + c.detail) : null))))));

    const eps = d.epochs || [];
    out.push(section('Earnings per epoch', chart({
      title: 'Earned vs withheld (tokens)', labels: eps.map((e) => e.epoch), width: fullChartW(), height: 240, hrefFor: (i) => epochHref(eps[i].epoch), markerName: 'epoch with invalid verdicts',
      series: [
        { name: 'earned', color: COLORS.earned, values: eps.map((e) => num(e.earned)), raw: eps.map((e) => e.earned), fmt: fmtDec },
        { name: 'withheld', color: COLORS.withheld, values: eps.map((e) => num(e.withheld)), raw: eps.map((e) => e.withheld), fmt: fmtDec },
      ],
      markers: eps.map((e, i) => (e.invalid ? { i, title: `epoch ${e.epoch}: ${e.invalid} invalid${e.top_reason ? ' (mostly ' + e.top_reason + ')' : ''}` } : null)).filter(Boolean),
    }), h('details', { 'data-keep': 'epochtable' }, h('summary', null, 'Per-epoch numbers'),
      table(['Epoch', 'Valid', 'Invalid', 'Earned', 'Withheld', 'Top reason'], eps.slice().reverse().map((e) => [epochLink(e.epoch), fmtInt(e.valid), td(fmtInt(e.invalid), { class: e.invalid ? 'bad' : null }), amount(e.earned), amount(e.withheld), reasonEl(e.top_reason)]), { key: 'epochs-t' }))));

    // newest epoch first; within an epoch, invalid verdicts first (they explain the pay)
    const verdicts = (d.verdicts || []).map((v, i) => [v, i])
      .sort((a, b) => (Number(b[0].epoch) - Number(a[0].epoch)) || (Number(!!a[0].valid) - Number(!!b[0].valid)) || (a[1] - b[1])).map((x) => x[0]);
    const nInvalid = verdicts.filter((v) => v.valid === false).length;
    const vt = h('div');
    const drawVerdicts = () => {
      const picked = verdicts.filter((v) => !onlyInvalid || v.valid === false);
      const rows = picked.slice(0, ctx.allVerdicts ? picked.length : 50).map((v) => ({
        attrs: { 'data-valid': String(!!v.valid), 'data-epoch': String(v.epoch), class: v.valid ? null : 'row-bad' },
        cells: [epochLink(v.epoch), h('span', null, String(v.subject || '—'), v.subject_id ? h('small', { class: 'muted', title: String(v.subject_id) }, ' ' + shortHash(v.subject_id)) : null),
          v.valid ? h('span', { class: 'pill ok' }, 'valid') : h('span', { class: 'pill bad' }, 'invalid'),
          reasonEl(v.reason, v.code, v.reason != null ? 'verdict-reason' : null),
          td([v.explanation ? h('span', null, String(v.explanation)) : (v.valid ? h('span', { class: 'muted' }, 'Accepted.') : null),
            v.detail ? h('div', { class: 'muted small' }, String(v.detail)) : null], { class: 'explain', 'data-testid': v.reason != null ? 'verdict-explanation' : null }),
          v.measured && typeof v.measured === 'object' ? h('span', { class: 'measured' }, Object.entries(v.measured).map(([k, x]) => h('code', null, `${k}=${typeof x === 'object' ? JSON.stringify(x) : x}`))) : '—',
          v.score_ppm != null ? pct(v.score_ppm) : '—'],
      }));
      fill(vt, table(['Epoch', 'Subject', 'Result', 'Reason code', 'What it means', 'Measured', 'Score'], rows, { key: 'verdicts', empty: onlyInvalid ? 'No invalid verdicts.' : 'No verdicts yet.' }),
        picked.length > rows.length ? h('button', { type: 'button', class: 'btn', onclick: () => { ctx.allVerdicts = true; drawVerdicts(); } }, `Show all ${picked.length}`) : null);
    };
    drawVerdicts();
    out.push(section(`Verdicts (${verdicts.length}, ${nInvalid} invalid)`,
      h('label', { class: 'toggle' }, h('input', { type: 'checkbox', checked: onlyInvalid, onchange: (e) => { onlyInvalid = e.target.checked; drawVerdicts(); } }), ' only invalid'),
      h('p', { class: 'sub' }, 'Newest epoch first, invalid verdicts first within an epoch. An invalid verdict names the check that failed and what it means in plain words.'), vt));

    out.push(section('Penalties', table(['Epoch', 'Kind', 'Amount'], (d.penalties || []).map((p) => [epochLink(p.epoch), String(p.kind || '—'), amount(p.amount, 'tokens')]), { key: 'penalties', empty: 'No penalties.' })));
    return out;
  }

  function miniHex(boundary) {
    const lat0 = boundary.reduce((a, p) => a + p[0], 0) / boundary.length;
    const c = Math.cos(lat0 * Math.PI / 180);
    const pts = boundary.map(([lat, lng]) => [lng * c, -lat]);
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
    const minx = Math.min(...xs), maxx = Math.max(...xs), miny = Math.min(...ys), maxy = Math.max(...ys);
    const sc = 80 / Math.max(maxx - minx, maxy - miny, 1e-12);
    const poly = pts.map((p) => `${(10 + (p[0] - minx) * sc).toFixed(1)},${(10 + (p[1] - miny) * sc).toFixed(1)}`).join(' ');
    return s('svg', { viewBox: '0 0 100 100', class: 'minihex', 'aria-hidden': 'true' }, s('polygon', { points: poly }), s('circle', { cx: 10 + ((minx + maxx) / 2 - minx) * sc, cy: 10 + ((miny + maxy) / 2 - miny) * sc, r: 3 }));
  }

  // ---------------------------------------------------------------- account page
  function accountPage(ctx) {
    const did = ctx.parts[1] || '';
    const body = pageRoot(ctx, 'account', h('span', null, 'Account ', h('span', { class: 'did', title: did }, shortDid(did))));
    document.title = 'Account ' + shortDid(did) + ' · Cairn Explorer';
    const run = loader(ctx, body, async () => {
      const a = await api('accounts/' + enc(did));
      const r = a.rewards || {};
      const devs = a.devices || [];
      return [
        fullId(a.did || did, 'account-did'),
        h('div', { class: 'cards' },
          card('Tokens', amount(a.tokens)), card('Credits', amount(a.credits)), card('Locked', amount(a.locked)), card('Vesting', amount(a.vesting)),
          card('Nonce', fmtInt(a.nonce)), card('Devices', fmtInt(a.device_count)),
          card('Rewards earned', amount(r.earned_total), h('span', null, 'claimed ', amount(r.claimed), ' · claimable ', amount(r.claimable)))),
        section(`Devices (${fmtInt(a.device_count)})`,
          table(DEVICE_HEADERS, deviceRows(devs), { key: 'acc-devices', empty: 'This account owns no devices.' }),
          (a.device_count || 0) > devs.length ? h('p', null, h('a', { href: '#/devices?owner=' + enc(a.did || did) }, `All ${fmtInt(a.device_count)} devices →`)) : null),
        section('Transactions', table(['Hash', 'Height', 'Kind', 'Fee', 'Time'], (a.transactions || []).map((t) => [
          h('code', { title: String(t.hash), class: 'selectable' }, shortHash(t.hash)), fmtInt(t.height), String(t.kind || '—'), amount(t.fee), timeEl(t.time_ms)]), { key: 'txs', empty: 'No transactions.' })),
      ];
    }, 'account');
    run();
    return { onStats: (_st, changed) => { if (changed) run(); } };
  }

  // ---------------------------------------------------------------- epochs
  function epochRows(list) {
    return list.map((e) => ({
      attrs: { 'data-epoch': String(e.epoch) },
      cells: [epochLink(e.epoch), h('span', { class: 'small' }, fmtTime(e.start_ms)), fmtInt(e.verdicts_valid), td(fmtInt(e.verdicts_invalid), { class: e.verdicts_invalid ? 'bad' : null }),
        fmtInt(e.devices_judged), fmtInt(e.reports), amount(e.emission), amount(e.paid), amount(e.withheld), amount(e.unallocated), fmtInt(e.recipients),
        e.manifest ? (e.manifest.accepted_height != null ? h('span', { class: 'pill ok', title: 'accepted at height ' + e.manifest.accepted_height }, 'accepted') : h('span', { class: 'pill warn' }, 'proposed')) : h('span', { class: 'muted' }, 'none'),
        e.economics ? pct(e.economics.demand_coverage_ppm) : '—'],
    }));
  }
  function epochsPage(ctx) {
    const body = pageRoot(ctx, 'epochs', 'Epochs');
    let list = [], pages = 0, more = true;
    const headers = ['Epoch', 'Start', 'Valid', 'Invalid', 'Devices judged', 'Reports', 'Emission', 'Paid', 'Withheld', 'Unallocated', 'Recipients', 'Manifest', 'Demand coverage'];
    const view = () => [
      table(headers, epochRows(list), { key: 'epochs', empty: 'No epochs yet.' }),
      more && list.length ? h('button', {
        type: 'button', class: 'btn', onclick: async (e) => {
          e.target.disabled = true;
          try {
            const d = await api('epochs', { limit: 50, before: list[list.length - 1].epoch });
            const got = d.epochs || [];
            list = list.concat(got); pages++; more = got.length >= 50;
            fill(body, ...view());
          } catch (err) { body.append(errorBox(err)); e.target.disabled = false; }
        },
      }, 'Older epochs') : null,
    ];
    const run = loader(ctx, body, async () => {
      const d = await api('epochs', { limit: 50 });
      list = d.epochs || []; pages = 1; more = list.length >= 50;
      return view();
    }, 'epochs');
    run();
    return { onStats: (_st, changed) => { if (changed && pages <= 1) run(); } };
  }

  function epochPage(ctx) {
    const n = parseInt(ctx.parts[1], 10);
    const body = pageRoot(ctx, 'epoch', 'Epoch ' + (Number.isFinite(n) ? n : '?'),
      h('span', { class: 'prevnext' }, n > 1 ? h('a', { href: epochHref(n - 1), class: 'btn small' }, '← ' + (n - 1)) : null,
        Number.isFinite(n) && (!stats || n + 1 <= stats.epoch) ? h('a', { href: epochHref(n + 1), class: 'btn small' }, (n + 1) + ' →') : null));
    const run = loader(ctx, body, async () => {
      if (!Number.isFinite(n)) throw new ApiError(400, 'bad_epoch', 'Epoch must be a number.');
      const e = await api('epochs/' + n);
      ctx.root.dataset.epoch = String(e.epoch);
      const out = [];
      out.push(h('p', { class: 'sub' }, `${fmtTime(e.start_ms)} → ${fmtTime(e.end_ms)}`));
      if (e.emission == null) out.push(h('div', { class: 'box warn' }, 'Rewards for this epoch have not been computed yet.'));
      out.push(h('div', { class: 'cards' },
        card('Verdicts', h('span', null, fmtInt(e.verdicts_valid), h('small', { class: 'muted' }, ' valid')), h('span', { class: e.verdicts_invalid ? 'bad' : null }, `${fmtInt(e.verdicts_invalid)} invalid`)),
        card('Devices judged', fmtInt(e.devices_judged), `${fmtInt(e.reports)} reports`),
        card('Emission', amount(e.emission), h('span', null, 'paid ', amount(e.paid), ' to ', fmtInt(e.recipients), ' recipients')),
        card('Withheld', amount(e.withheld), e.settled ? h('span', null, 'released ', amount(e.settled.released), ' · forfeited ', amount(e.settled.forfeited)) : null),
        card('Unallocated', amount(e.unallocated), h('span', null, 'burned ', amount(e.unallocated_burned))),
        e.economics ? card('Demand coverage', pct(e.economics.demand_coverage_ppm), h('span', null, 'burned ', amount(e.economics.tokens_burned_for_credits), ' for credits')) : null));
      const m = e.manifest;
      const ec = e.economics;
      out.push(h('div', { class: 'grid2' },
        section('Reward manifest', m ? dl([
          ['Hash', fullId(m.hash)], ['Root', fullId(m.root)],
          ['Accepted', m.accepted_height != null ? `height ${fmtInt(m.accepted_height)}` : h('span', { class: 'pill warn' }, 'not yet accepted')],
          ['Signers', h('span', { class: 'devlist' }, (m.signers || []).map((x) => accountLink(x)))],
        ]) : h('p', { class: 'empty' }, 'No manifest yet.')),
        section('Economics', ec ? dl([
          ['Tokens burned for credits', amount(ec.tokens_burned_for_credits, 'tokens')], ['Burned (USD)', amount(ec.burned_usd, 'USD')],
          ['Credits minted', amount(ec.credits_minted)], ['Usage credits', amount(ec.usage_credits)],
          ['Emitted (USD)', amount(ec.emitted_usd, 'USD')], ['Demand coverage', pct(ec.demand_coverage_ppm)],
        ]) : h('p', { class: 'empty' }, 'No economics recorded.'))));
      const pools = e.pools || [];
      const poolMax = pools.reduce((a, p) => Math.max(a, num(p.amount)), 0) || 1;
      out.push(section('Pools', table(['Pool', 'Amount', '', 'Usage', 'Capacity', 'Withheld', 'Unallocated', 'Recipients'], pools.map((p) => [
        kindTag(p.pool), amount(p.amount), h('span', { class: 'minibar' }, h('i', { style: { width: (100 * num(p.amount) / poolMax).toFixed(1) + '%', background: COLORS[p.pool] || '#64748b' } })),
        amount(p.usage), amount(p.capacity), amount(p.withheld), amount(p.unallocated), fmtInt(p.recipients)]), { key: 'pools', empty: 'No pools (rewards not computed).' })));
      out.push(section('Top earners', table(['#', 'Payee', 'Kind', 'Amount'], (e.top_earners || []).map((t, i) => [String(i + 1),
        t.payee_kind === 'device' ? deviceLink(t.payee) : t.payee_kind === 'account' ? accountLink(t.payee) : h('span', null, String(t.payee || 'treasury')),
        String(t.payee_kind || '—'), amount(t.amount, 'tokens')]), { key: 'earners', empty: 'No payouts.' })));
      out.push(section('Invalid verdicts by reason', table(['Kind', 'Reason', 'What it means', 'Verdicts', 'Devices'], (e.reasons || []).map((r) => [
        kindTag(r.kind), h('span', null, reasonEl(r.reason, r.code), r.fraud ? [' ', h('span', { class: 'pill bad', title: 'counted as fraud' }, 'fraud')] : null), td(String(r.explanation || ''), { class: 'explain' }), fmtInt(r.verdicts), fmtInt(r.devices)]), { key: 'reasons', empty: 'No invalid verdicts in this epoch.' })));
      out.push(section('Penalties', table(['Device', 'Kind', 'Amount'], (e.penalties || []).map((p) => [deviceLink(p.device), String(p.kind || '—'), amount(p.amount, 'tokens')]), { key: 'epenalties', empty: 'No penalties.' })));
      return out;
    }, 'epoch');
    run();
    return { onStats: (_st, changed) => { if (changed) run(); } };
  }

  // ---------------------------------------------------------------- governance
  function governancePage(ctx) {
    const body = pageRoot(ctx, 'governance', 'Governance');
    let deny = [], denyNext = null, denyPages = 0;
    const denyEl = h('div');
    const drawDeny = () => {
      fill(denyEl, table(['#', 'Targets', 'Reason', 'Status', 'Created', 'Appeal until', 'Expires', 'Reporter', 'Appeal proposal'], deny.map((x) => ({
        attrs: { 'data-status': cls(x.status) },
        cells: [String(x.id), h('span', { class: 'devlist' }, (x.targets || []).map((t) => deviceLink(t))),
          td([reasonEl(x.reason, x.code), x.explanation ? h('div', { class: 'muted small' }, String(x.explanation)) : null], { class: 'explain' }), badge(x.status),
          fmtWhen(x.created_at), fmtWhen(x.appeal_until), fmtWhen(x.expires_at), accountLink(x.reporter), x.appeal_proposal != null ? h('button', { type: 'button', class: 'btn link', onclick: () => { const el = document.getElementById('proposal-' + cls(x.appeal_proposal)); if (el) el.scrollIntoView({ behavior: 'smooth', block: 'start' }); } }, '#' + x.appeal_proposal) : '—'],
      })), { key: 'deny', empty: 'The denylist is empty.' }),
      denyNext != null ? h('button', {
        type: 'button', class: 'btn', onclick: async (e) => {
          e.target.disabled = true;
          try { const d = await api('denylist', { limit: 50, after: denyNext }); deny = deny.concat(d.entries || []); denyNext = d.next ?? null; denyPages++; drawDeny(); } catch (err) { denyEl.append(errorBox(err)); e.target.disabled = false; }
        },
      }, 'Load more') : null);
    };
    const run = loader(ctx, body, async () => {
      const [g, dl0] = await Promise.all([api('governance'), denyPages <= 1 ? api('denylist', { limit: 50 }) : Promise.resolve(null)]);
      if (dl0) { deny = dl0.entries || []; denyNext = dl0.next ?? null; denyPages = 1; }
      drawDeny();
      const props = (g.proposals || []).slice().sort((a, b) => Number(b.id) - Number(a.id));
      return [
        section('Proposals', props.length ? h('div', { class: 'proposals' }, props.map(proposalCard)) : h('p', { class: 'empty' }, 'No proposals yet.')),
        section('Appeals', table(['Denylist entry', 'Proposal', 'Status'], (g.appeals || []).map((a) => [String(a.denylist_id), a.proposal_id != null ? '#' + a.proposal_id : '—', badge(a.status)]), { key: 'appeals', empty: 'No appeals.' })),
        section('Denylist', denyEl),
        section('Parameters', table(['Name', 'Value', 'Description'], (g.params || []).map((p) => [h('code', null, String(p.name)),
          h('span', null, h('code', { class: 'val' }, typeof p.value === 'object' && p.value !== null ? JSON.stringify(p.value) : String(p.value)), p.unit ? h('small', { class: 'muted' }, ' ' + p.unit) : null),
          td(String(p.description || ''), { class: 'explain' })]), { key: 'params', empty: 'No parameters.' })),
      ];
    }, 'governance');
    run();
    return { onStats: (_st, changed) => { if (changed) run(); } };
  }
  function proposalCard(p) {
    const t = p.tally || {};
    const parts = ['yes', 'no', 'abstain', 'veto'].map((k) => [k, num(t[k])]);
    const total = parts.reduce((a, x) => a + x[1], 0);
    return h('article', { class: 'proposal', id: 'proposal-' + cls(p.id), 'data-keep': 'p' + cls(p.id) },
      h('header', null, h('strong', null, `#${p.id} `, humanize(p.kind)), ' ', badge(p.status)),
      dl([['Proposer', accountLink(p.proposer)], ['Start', fmtWhen(p.start)], ['Voting ends', fmtWhen(p.voting_end)], ['Deposit', amount(p.deposit, 'tokens')]]),
      total > 0 ? h('div', { class: 'tally', role: 'img', 'aria-label': parts.map(([k, v]) => `${k} ${v}`).join(', ') },
        parts.map(([k, v]) => (v > 0 ? h('i', { class: 'v-' + k, style: { flexGrow: String(v) }, title: `${k}: ${t[k]}` }) : null))) : h('p', { class: 'muted small' }, 'No votes yet.'),
      h('div', { class: 'legend' }, parts.map(([k]) => h('span', null, h('i', { class: 'v-' + k }), `${k} ${fmtDec(t[k] ?? '0')}`))),
      (p.votes || []).length ? table(['Voter', 'Choice', 'Weight'], p.votes.map((v) => [accountLink(v.voter), h('span', { class: 'choice c-' + cls(v.choice) }, String(v.choice)), amount(v.weight)]), { key: 'votes' + cls(p.id) }) : null,
      p.detail != null ? h('details', { 'data-keep': 'detail' + cls(p.id) }, h('summary', null, 'Details'), h('pre', null, JSON.stringify(p.detail, null, 2))) : null);
  }

  function notFound(ctx) {
    pageRoot(ctx, 'notfound', 'Page not found').append(h('p', null, 'No page here. ', h('a', { href: '#/' }, 'Go to the overview.')));
    ctx.root.dataset.state = 'ready';
    return {};
  }

  // ---------------------------------------------------------------- router
  const routes = { '': overviewPage, map: mapPage, devices: devicesPage, device: devicePage, account: accountPage, epochs: epochsPage, epoch: epochPage, governance: governancePage };
  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const qi = raw.indexOf('?');
    const path = qi >= 0 ? raw.slice(0, qi) : raw;
    const qs = qi >= 0 ? raw.slice(qi + 1) : '';
    return { parts: path.split('/').filter(Boolean).map(dec), query: new URLSearchParams(qs) };
  }
  function route() {
    const { parts, query } = parseHash();
    const name = parts[0] || '';
    const fn = Object.prototype.hasOwnProperty.call(routes, name) ? routes[name] : notFound;
    if (current) { current.ctx.alive = false; if (current.page.destroy) current.page.destroy(); }
    const root = h('div', { class: 'page' });
    app.replaceChildren(root);
    const ctx = { root, parts, query, alive: true };
    current = { name, ctx, page: {} };
    current.page = fn(ctx) || {};
    document.querySelectorAll('#nav a[data-nav]').forEach((a) => a.classList.toggle('active', a.dataset.nav === (name === 'device' ? 'devices' : name === 'epoch' ? 'epochs' : name)));
    setMenu(false);
    window.scrollTo(0, 0);
  }

  // ---------------------------------------------------------------- live nav + polling
  function updateNav(st) {
    $('#net-name').textContent = st.network || 'cairn';
    $('#nav-height').textContent = fmtInt(st.height);
    $('#nav-epoch').textContent = st.epoch != null ? String(st.epoch) : '–';
  }
  function setLive(ok, msg) {
    const el = $('#live');
    el.classList.toggle('ok', ok);
    el.classList.toggle('down', !ok);
    $('#live-text').textContent = ok ? 'live' : 'offline';
    el.title = ok ? 'Updated ' + new Date().toLocaleTimeString() : (msg || 'The node is not answering');
  }
  let lastHeight = null, pollTimer = 0;
  async function poll() {
    clearTimeout(pollTimer);
    try {
      const st = await api('stats');
      stats = st;
      updateNav(st);
      setLive(true);
      const changed = st.height !== lastHeight;
      lastHeight = st.height;
      if (current && current.page.onStats && !document.hidden) current.page.onStats(st, changed);
    } catch (e) {
      setLive(false, e.message);
    } finally {
      pollTimer = setTimeout(poll, POLL_MS);
    }
  }

  function setMenu(open) {
    const tb = $('#topbar');
    tb.classList.toggle('open', open);
    $('#menu').setAttribute('aria-expanded', String(open));
  }
  async function search(text) {
    const v = text.trim();
    if (!v) return;
    if (/^\d+$/.test(v)) { location.hash = epochHref(v); return; }
    if (/^[0-9a-f]{15}$/i.test(v)) { location.hash = '#/map?cell=' + enc(v.toLowerCase()); return; }
    const did = v.startsWith('did:') ? v : (v.startsWith('z') ? 'did:key:' + v : v);
    try { await api('devices/' + enc(did)); location.hash = devHref(did); } catch (e) {
      if (e.status === 404 || e.status === 400) location.hash = accHref(did);
      else location.hash = devHref(did);
    }
  }

  function start() {
    $('#menu').addEventListener('click', () => setMenu(!$('#topbar').classList.contains('open')));
    $('#search').addEventListener('submit', (e) => { e.preventDefault(); const i = $('#search-input'); search(i.value); i.value = ''; });
    window.addEventListener('hashchange', route);
    document.addEventListener('visibilitychange', () => { if (!document.hidden) poll(); });
    route();
    poll();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
