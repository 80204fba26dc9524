/// The console's script: signs in with the admin token (sessionStorage), long-polls the map,
/// polls the scaling view and history once a second, and draws (SVG diagram, canvas charts).
/// Served by `GET /console` (docs/ARCHITECTURE.md, "Console").
enum ConsoleScript {
    static let source = #"""
// machdb console: reads this node's admin API with the token kept in sessionStorage and draws
// the cluster (docs/ARCHITECTURE.md, "Console"). Every request goes to this page's own origin.
'use strict';
(function () {
  const TOKEN_KEY = 'machdb.adminToken';
  const HISTORY_MS = 10 * 60 * 1000;
  const STALE_MS = 5000;
  const CATCHUP_ENTRIES = 100;
  const ROLE_NAMES = { writer: 'Writer', replica: 'Read Replica', load_manager: 'Load Manager' };
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  const st = {
    token: null, open: false, running: false, view: null, version: 0, viewAt: 0, scaling: null,
    samples: [], lastAt: 0, recs: [], metrics: {}, prev503: null, rate503: null, self: null,
    ready: null, lastContact: 0, catchup: {}, tables: false, bannerKey: '',
  };

  // ---------- formatting: every number with its unit, times in the viewer's time zone
  const int = (n) => (n == null ? '–' : Number(n).toLocaleString());
  const SINGULAR = { entries: 'entry', requests: 'request', writes: 'write', reads: 'read', commands: 'command', jobs: 'job' };
  const count = (n, unit) => int(n) + ' ' + (n === 1 ? SINGULAR[unit] || unit : unit);
  function dur(s) {
    if (s == null || !isFinite(s)) return '–';
    if (s >= 1) return s.toFixed(s >= 10 ? 1 : 2) + ' s';
    const ms = s * 1000;
    return ms.toFixed(ms < 1 ? 3 : ms < 10 ? 2 : 1) + ' ms';
  }
  const pct = (r) => (r == null || !isFinite(r) ? '–' : (r * 100).toFixed(r * 100 < 10 ? 2 : 1) + ' %');
  const size = (b) => (b >= 1048576 ? (b / 1048576).toFixed(1) + ' MiB' : Math.round(b / 1024) + ' KiB');
  const time = (ms) => new Date(ms).toLocaleTimeString(undefined, { timeZoneName: 'short' });
  const dateTime = (ms) => new Date(ms).toLocaleString(undefined, { timeZoneName: 'short' });
  const secs = (s) => (s == null ? 'unknown' : s < 90 ? Math.round(s) + ' s' : (s / 60).toFixed(1) + ' min');
  const roles = (n) => (n.roles || []).map((r) => ROLE_NAMES[r] || r);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v != null) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  }

  // ---------- requests (same origin only)
  class Unauthorized extends Error {}
  async function api(path) {
    const headers = { Accept: 'application/json' };
    if (st.token) headers.Authorization = 'Bearer ' + st.token;
    const r = await fetch(path, { headers, cache: 'no-store', credentials: 'omit', redirect: 'error' });
    if (r.status === 401) throw new Unauthorized();
    if (!r.ok) {
      let detail = r.status + '';
      try { detail = (await r.json()).detail || detail; } catch (e) { /* not JSON */ }
      throw new Error(detail);
    }
    return r.json();
  }

  // ---------- sign in and out
  function showLogin(message) {
    st.running = false;
    $('app').hidden = true;
    $('view-toggle').hidden = true;
    $('sign-out').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    setStatus('signed out', '');
    $('token').focus();
  }
  async function probeOpen() {
    // A node without an admin token serves admin routes without one (on loopback only).
    const r = await fetch('/admin/v1/scaling', { cache: 'no-store', credentials: 'omit' });
    if (r.status === 200) { st.open = true; return true; }
    return false;
  }
  async function signIn(token) {
    st.token = token;
    try {
      await api('/admin/v1/scaling');
    } catch (e) {
      st.token = null;
      showLogin(e instanceof Unauthorized ? 'This node refused that token (401). Check --admin-token.' : 'The node did not answer: ' + e.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    start();
  }
  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    st.token = null;
    showLogin(message);
  }

  function start() {
    $('login').hidden = true;
    $('app').hidden = false;
    $('view-toggle').hidden = false;
    $('sign-out').hidden = st.open;
    st.running = true;
    mapLoop();
    tickLoop();
  }

  function failed(e) {
    if (e instanceof Unauthorized) { signOut('The node no longer accepts this token (401); enter it again.'); return true; }
    return false;
  }

  // ---------- the map: long-poll, as nodes do
  async function mapLoop() {
    while (st.running) {
      try {
        const view = await api('/admin/v1/cluster?after=' + st.version + '&wait=25');
        setView(view);
      } catch (e) {
        if (failed(e)) return;
        await sleep(1000);
      }
    }
  }
  // ---------- live figures: once a second
  async function tickLoop() {
    let n = 0;
    while (st.running) {
      const started = Date.now();
      await tick(n++);
      await sleep(Math.max(100, 1000 - (Date.now() - started)));
    }
  }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function tick(n) {
    const jobs = [readiness(), scaling(), history(), clusterNow()];
    if (n % 2 === 0) jobs.push(recommendations(), metrics());
    await Promise.all(jobs);
    render();
  }
  async function readiness() {
    try {
      const r = await fetch('/readyz', { cache: 'no-store', credentials: 'omit' });
      st.self = r.headers.get('X-Machdb-Served-By') || st.self;
      let detail = '';
      if (!r.ok) { try { detail = (await r.json()).detail || ''; } catch (e) { /* not JSON */ } }
      st.ready = { ok: r.ok, detail };
      st.lastContact = Date.now();
    } catch (e) {
      st.ready = { ok: false, detail: 'no answer from this node', down: true };
    }
  }
  async function clusterNow() {
    try { setView(await api('/admin/v1/cluster')); } catch (e) { failed(e); }
  }
  async function scaling() {
    try { st.scaling = await api('/admin/v1/scaling'); } catch (e) { failed(e); }
  }
  async function history() {
    try {
      const h = await api('/admin/v1/scaling/history?after=' + st.lastAt);
      for (const s of h.samples) if (s.at > st.lastAt) { st.samples.push(s); st.lastAt = s.at; }
      const oldest = Date.now() - HISTORY_MS;
      while (st.samples.length && (st.samples[0].at < oldest || st.samples.length > 600)) st.samples.shift();
    } catch (e) { failed(e); }
  }
  async function recommendations() {
    try { st.recs = (await api('/admin/v1/scaling/recommendations?limit=50')).recommendations; } catch (e) { failed(e); }
  }
  async function metrics() {
    try {
      const r = await fetch('/metrics', { cache: 'no-store', credentials: 'omit' });
      const text = await r.text();
      const m = {};
      let total503 = 0;
      for (const line of text.split('\n')) {
        if (!line || line[0] === '#') continue;
        const sp = line.lastIndexOf(' ');
        const name = line.slice(0, sp);
        const value = Number(line.slice(sp + 1));
        m[name] = value;
        if (name.startsWith('machdb_http_requests_total{') && name.includes('code="503"')) total503 += value;
      }
      const now = Date.now();
      if (st.prev503) st.rate503 = Math.max(0, (total503 - st.prev503.n) / ((now - st.prev503.t) / 1000));
      st.prev503 = { n: total503, t: now };
      m.total503 = total503;
      st.metrics = m;
    } catch (e) { /* shown as missing figures */ }
  }

  function setView(view) {
    const now = Date.now();
    for (const n of view.nodes || []) {
      if (n.lag == null) continue;
      const prev = st.catchup[n.id];
      let rate = prev ? prev.rate : null;
      if (prev && now > prev.t && n.lag < prev.lag) rate = (prev.lag - n.lag) / ((now - prev.t) / 1000);
      else if (prev && n.lag >= prev.lag && now - prev.t > 3000) rate = null;
      st.catchup[n.id] = { lag: n.lag, t: now, rate };
    }
    st.view = view;
    st.version = Math.max(st.version, view.version || 0);
    st.viewAt = now;
    render();
  }

  // ---------- rendering
  function setStatus(text, kind) {
    const s = $('status');
    if (s.textContent !== text) s.textContent = text;
    s.className = 'pill ' + (kind || '');
  }
  function render() {
    if (!st.running) return;
    banners();
    if (st.view) { stage(); transfers(); }
    if (st.scaling) { pressure(); latency(); }
    timeline();
    $('updated').textContent = st.viewAt ? 'Map version ' + int(st.version) + ', view updated ' + time(st.viewAt) +
      (st.view && st.view.served_by ? ' (answered by ' + st.view.served_by + ')' : '') : '';
  }

  function banners() {
    const out = [];
    const view = st.view;
    const me = view && (view.nodes || []).find((n) => n.id === st.self);
    if (st.ready && st.ready.down) out.push(['bad', 'This node does not answer: the picture below is frozen at ' + (st.lastContact ? time(st.lastContact) : 'its last update') + '.']);
    else if (st.ready && !st.ready.ok) {
      if (/removed/.test(st.ready.detail)) out.push(['bad', 'This node was removed from its cluster: ' + st.ready.detail + '.']);
      else out.push(['bad', 'This node is not ready: ' + (st.ready.detail || 'GET /readyz answered an error') + '.']);
    }
    if (me && me.raft_state === 'removed' && !(st.ready && /removed/.test(st.ready.detail))) out.push(['bad', 'This node was removed from its cluster (its Raft group no longer lists it).']);
    if (st.viewAt && Date.now() - st.viewAt > STALE_MS) out.push(['warn', 'The map is stale: no new view of the cluster since ' + time(st.viewAt) + ' (more than ' + STALE_MS / 1000 + ' s).']);
    else if (view && view.served_by && me && me.raft_state !== 'standalone') {
      const server = (view.nodes || []).find((n) => n.id === view.served_by);
      if (server && server.raft_state !== 'leader') out.push(['warn', 'The map may be stale: the leader did not answer, so this is ' + view.served_by + "'s own copy (version " + int(view.version) + ').']);
    }
    const shard = view && (view.shards || [])[0];
    if (shard && shard.leader === null && view.stage_number > 1) out.push(['warn', 'Shard ' + shard.id + ' has no leader right now (an election is under way): writes wait, then get 503.']);
    // Replaced only when they change, so that screen readers announce each once.
    const key = JSON.stringify(out);
    if (key !== st.bannerKey) {
      st.bannerKey = key;
      $('banners').replaceChildren(...out.map(([kind, text]) => el('div', { class: 'banner ' + kind, role: 'alert', text })));
    }
    const worst = out.some((b) => b[0] === 'bad') ? 'bad' : out.length ? 'warn' : 'ok';
    setStatus(worst === 'ok' ? 'live' : worst === 'bad' ? 'attention' : 'degraded', worst);
  }

  function stage() {
    const v = st.view;
    const nodes = (v.nodes || []).slice().sort((a, b) => (a.join_order || 0) - (b.join_order || 0));
    const active = nodes.filter((n) => n.state === 'active');
    const entry = nodes.find((n) => n.primary_load_manager);
    $('stage-title').textContent = 'Stage: ' + (v.stage || '?');
    const summary = $('stage-summary');
    summary.dataset.stage = v.stage || '';
    summary.textContent = (v.stage || '?') + ': ' + active.length + ' active node' + (active.length === 1 ? '' : 's') +
      ' of ' + nodes.length + ' listed; ' + (v.shards || []).length + ' shard' + ((v.shards || []).length === 1 ? '' : 's') + '.';
    const ep = $('entry-point');
    ep.dataset.node = entry ? entry.id : '';
    ep.textContent = entry ? 'Entry point (primary Load Manager): ' + entry.id + ' at ' + entry.url + ' — clients should send requests there; every node also relays.' : 'No entry point in the map yet.';
    const empty = $('stage-empty');
    const join = st.scaling && st.scaling.cluster && st.scaling.cluster.join_url;
    empty.hidden = (v.stage_number || nodes.length) > 1;
    empty.textContent = 'Mach I: one node does everything (Writer, Read Replica and Load Manager); start another with --join to grow, e.g. machdb serve --node-id n2 --data-dir ./data/n2 --listen 127.0.0.1:7002 --advertise http://127.0.0.1:7002 --join ' + (join || (entry && entry.url) || location.origin) + ' (and the same --admin-token / --cluster-token).';
    diagram(v, nodes);
    const tbody = $('nodes-table').tBodies[0];
    tbody.replaceChildren(...nodes.map((n) => el('tr', { 'data-node': n.id, 'data-roles': (n.roles || []).join(' ') },
      el('th', { scope: 'row', text: n.id + (n.id === st.self ? ' (this node)' : '') }),
      el('td', { text: roles(n).concat(n.primary_load_manager ? ['entry point'] : []).join(', ') || 'none yet' }),
      el('td', { text: 'level ' + n.level }), el('td', { text: n.state }), el('td', { text: n.raft_state || '–' }),
      el('td', { text: n.applied_index == null ? '–' : int(n.applied_index) }),
      el('td', { text: n.lag == null ? '–' : count(n.lag, 'entries') }), el('td', { text: n.url }))));
    const sb = $('shards-table').tBodies[0];
    sb.replaceChildren(...(v.shards || []).map((s) => el('tr', { 'data-shard': s.id },
      el('th', { scope: 'row', text: String(s.id) }),
      el('td', { text: (s.buckets ? s.buckets[0] + '–' + s.buckets[1] : '–') + ' (' + (s.buckets ? int(s.buckets[1] - s.buckets[0] + 1) : '?') + ' buckets)' }),
      el('td', { text: s.writer || s.leader || 'none' }), el('td', { text: (s.voters || []).join(', ') || '–' }),
      el('td', { text: (s.learners || []).join(', ') || 'none' }),
      el('td', { text: placement(s) }), el('td', { text: s.term == null ? '–' : int(s.term) }),
      el('td', { text: s.commit_index == null ? '–' : int(s.commit_index) }))));
  }

  // Where a shard lives: every node, or the nodes it was moved to (and whether it is still on its way).
  function placement(s) {
    if (!s.placement) return 'every node';
    return s.placement.nodes.join(', ') + (s.moving ? ' (moving)' : '');
  }

  function diagram(v, nodes) {
    const shards = v.shards || [];
    const lines = Math.max(1, ...nodes.map((n) => (n.roles || []).length + (n.primary_load_manager ? 1 : 0) + (shards.length > 1 ? 1 : 0)));
    const perRow = 5, w = 178, h = Math.max(132, 18 + 15 * (1 + lines) + 48), gap = 14, top = 40 + (shards.length > 1 ? 34 : 0);
    const rows = Math.max(1, Math.ceil(nodes.length / perRow));
    const width = Math.max(perRow, Math.min(nodes.length, perRow)) * (w + gap) + gap;
    const height = top + rows * (h + gap) + 10;
    const root = svg('svg', { viewBox: '0 0 ' + width + ' ' + height, width, height, role: 'img',
      'aria-label': (v.stage || '') + ': ' + nodes.map((n) => n.id + ' ' + (roles(n).join(' and ') || 'no role')).join('; ') });
    root.append(svg('title', {}, 'Cluster diagram: ' + (v.stage || '')));
    if (shards.length > 1) {
      const sw = (width - gap) / shards.length;
      shards.forEach((s, i) => {
        const g = svg('g', { class: 'shard', 'data-shard': s.id });
        g.append(svg('rect', { x: gap + i * sw, y: 6, width: sw - gap, height: 28, rx: 4 }));
        g.append(svg('text', { x: gap + i * sw + 8, y: 24 }, 'shard ' + s.id + ': buckets ' + s.buckets[0] + '–' + s.buckets[1] + ', Writer ' + (s.writer || 'none')
          + (s.placement ? ', on ' + placement(s) : '')));
        root.append(g);
      });
    }
    const entryIndex = nodes.findIndex((n) => n.primary_load_manager);
    nodes.forEach((n, i) => {
      const x = gap + (i % perRow) * (w + gap), y = top + Math.floor(i / perRow) * (h + gap);
      const down = n.state !== 'active' || n.raft_state === 'removed';
      const g = svg('g', { class: 'node' + (down ? ' down' : '') + (n.primary_load_manager ? ' entry' : '') + (n.id === st.self ? ' self' : ''),
        'data-node': n.id, 'data-roles': (n.roles || []).join(' '), 'data-entry': n.primary_load_manager ? 'true' : 'false' });
      g.append(svg('rect', { x, y, width: w, height: h, rx: 6 }));
      let line = y + 18;
      const text = (t, cls) => { g.append(svg('text', { x: x + 8, y: line, class: cls }, t)); line += 15; };
      text(n.id + (n.id === st.self ? ' (this node)' : ''), 'title');
      const rs = n.roles || [];
      if (!rs.length) text(n.state === 'active' ? 'no role yet (catching up)' : 'no role', 'muted');
      for (const r of rs) text(ROLE_NAMES[r] || r, 'role-' + r);
      // With several shards a node may be the Writer of one it holds only a replica role for in the map.
      const writes = shards.length > 1 ? shards.filter((s) => (s.writer || s.leader) === n.id).map((s) => s.id) : [];
      if (writes.length) text('Writer of shard ' + writes.join(', '), 'role-writer');
      if (n.primary_load_manager) text('entry point', 'role-entry');
      line = Math.max(line, y + h - 48);
      text('level ' + n.level + ' · ' + n.state);
      text('Raft ' + (n.raft_state || '–') + (n.priority === 0 ? ' (priority 0)' : ''));
      text('applied ' + (n.applied_index == null ? '–' : int(n.applied_index)) + ' · lag ' + (n.lag == null ? '–' : int(n.lag)));
      root.append(g);
    });
    if (entryIndex >= 0) {
      const x = gap + (entryIndex % perRow) * (w + gap) + w / 2, y = top + Math.floor(entryIndex / perRow) * (h + gap);
      root.append(svg('line', { class: 'link', x1: x, y1: y - 16, x2: x, y2: y }));
      root.append(svg('text', { x: x - 22, y: y - 20, class: 'role-entry' }, 'clients'));
    }
    $('stage-diagram').replaceChildren(root);
  }

  function bar(label, value, max, extra) {
    const p = el('progress', { max: String(max), value: String(Math.min(value, max)), 'aria-label': label });
    return el('div', { class: 'bar' }, el('span', { class: 'label', text: label + (extra ? ' — ' + extra : '') }), p);
  }

  function transfers() {
    const out = [];
    for (const s of st.view.shards || []) {
      const t = s.snapshot_transfer;
      if (t) out.push(bar('Snapshot ' + t.direction + ' (shard ' + s.id + ', ' + t.token + '): ' + size(t.bytes) + ' of ' + size(t.total) + ' (' + t.percent + ' %)',
        t.bytes, Math.max(1, t.total), 'ETA ' + secs(t.eta_seconds)));
    }
    for (const n of st.view.nodes || []) {
      // A follower under load is always a few entries behind: a bar only for real catch-up.
      const behind = (n.lag || 0) >= CATCHUP_ENTRIES || n.caught_up === false || n.replication === 'snapshot';
      if (!behind || n.state !== 'active' || n.raft_state === 'removed') continue;
      const applied = n.applied_index || 0, lag = n.lag || 0;
      const c = st.catchup[n.id];
      const eta = c && c.rate ? lag / c.rate : null;
      out.push(bar('Catch-up of ' + n.id + ': applied ' + int(applied) + ', ' + int(lag) + ' entries behind' + (n.replication ? ' (' + n.replication + ')' : ''),
        applied, Math.max(1, applied + lag), eta == null ? 'ETA unknown (lag not shrinking yet)' : 'ETA ' + secs(eta) + ' at ' + int(Math.round(c.rate)) + ' entries/s'));
    }
    if (!out.length) out.push(el('div', { class: 'empty', text: 'Nothing to catch up: every active member is within ' + CATCHUP_ENTRIES + ' entries of what the Writer committed, and no snapshot is being sent. A node that joins or falls behind shows a progress bar here, with its ETA.' }));
    $('transfers').replaceChildren(...out);
  }

  function pressure() {
    const g = st.scaling.gateway || {};
    const m = st.metrics;
    const out = [];
    const targets = Object.entries(g.outstanding || {});
    const rows = targets.map(([t, n]) => el('tr', {}, el('th', { scope: 'row', text: 'relays in flight to ' + t }), el('td', { text: count(n, 'requests') }),
      el('td', { text: count(g.max_upstream_per_target, 'requests') }), el('td', {}, el('meter', { min: '0', max: String(g.max_upstream_per_target || 1), value: String(n), 'aria-label': 'relays to ' + t }))));
    const waiting = Object.values(g.waiting || {}).reduce((a, b) => a + b, 0);
    const q = (label, depth, cap, unit) => (depth == null ? null : el('tr', {}, el('th', { scope: 'row', text: label }), el('td', { text: count(depth, unit) }),
      el('td', { text: cap == null ? '–' : count(cap, unit) }), el('td', {}, cap ? el('meter', { min: '0', max: String(cap), value: String(depth), 'aria-label': label }) : null)));
    rows.push(q('relay wait queue (' + Object.entries(g.waiting || {}).map(([k, v]) => k + ' ' + v).join(', ') + ')', waiting, g.max_waiting, 'requests'));
    rows.push(q('writes waiting for a leader', g.leaderless_waiting, g.leaderless_buffer, 'writes'));
    rows.push(q('write queue (group commit)', m.machdb_write_queue_depth, m.machdb_write_queue_capacity, 'commands'));
    rows.push(q('Raft request lane', m.machdb_raft_mailbox_depth, m.machdb_raft_mailbox_capacity, 'requests'));
    rows.push(q('writes forwarded to the leader', m.machdb_forwarded_writes_waiting, m.machdb_forwarded_writes_capacity, 'writes'));
    rows.push(q('worker queue (queries, backups)', m.machdb_worker_queue_depth, m.machdb_worker_queue_capacity, 'jobs'));
    rows.push(q('reads parked for an index', m.machdb_index_waiters, m.machdb_index_waiters_capacity, 'reads'));
    out.push(el('div', { class: 'scroll' }, el('table', { id: 'pressure-table' }, el('caption', { text: 'Queues and bounds on this node' }),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'what' }), el('th', { scope: 'col', text: 'now' }), el('th', { scope: 'col', text: 'bound' }), el('th', { scope: 'col', text: 'fill' }))),
      el('tbody', {}, ...rows.filter(Boolean)))));
    if (!targets.length) out.push(el('p', { class: 'muted', text: 'No relays so far: this node has answered its requests itself (relays to the Writer or a Read Replica appear here per target).' }));
    out.push(el('p', { id: 'refusals', text: '503 answers: ' + int(m.total503 || 0) + ' since start' + (st.rate503 != null ? ' (' + st.rate503.toFixed(1) + ' per s now)' : '') +
      '; refused by the gateway: ' + int(g.refused_full) + ' queue full, ' + int(g.evicted) + ' pushed out by higher priority, ' + int(g.expired) + ' past their deadline.' }));
    $('pressure').replaceChildren(...out);
  }

  // ---------- charts (canvas, drawn here)
  const COLORS = { avg: '#0b5cad', p50: '#1192e8', p95: '#b28600', p99: '#da1e28' };
  // Canvases take the width they are laid out at (the drawing is redone every second).
  function fit(canvas) {
    const w = Math.round(Math.min(1600, canvas.clientWidth || 0));
    if (w >= 300 && canvas.width !== w) canvas.width = w;
    return canvas;
  }
  function axes(ctx, W, H, pad, t0, t1) {
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, W, H);
    ctx.strokeStyle = '#d0d7de'; ctx.lineWidth = 1;
    ctx.strokeRect(pad.l, pad.t, W - pad.l - pad.r, H - pad.t - pad.b);
    ctx.fillStyle = '#5b6470'; ctx.font = '11px system-ui, sans-serif';
    for (let i = 0; i <= 5; i++) {
      const t = t0 + (t1 - t0) * i / 5, x = pad.l + (W - pad.l - pad.r) * i / 5;
      const label = new Date(t).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
      const width = ctx.measureText(label).width;
      ctx.fillText(label, Math.max(2, Math.min(x - width / 2, W - width - 2)), H - 4);
    }
  }
  function latency() {
    const kind = $('latency-class').value;
    const policy = st.scaling.policy || {};
    const t1 = Date.now(), t0 = t1 - HISTORY_MS;
    const pts = st.samples.filter((s) => s.at >= t0 && s[kind] && s[kind].requests > 0);
    // Response time, log scale so that both milliseconds and the policy's seconds show.
    const c = fit($('latency-chart')), ctx = c.getContext('2d'), W = c.width, H = c.height, pad = { l: 62, r: 10, t: 10, b: 18 };
    axes(ctx, W, H, pad, t0, t1);
    const vals = pts.flatMap((s) => [s[kind].p99_seconds, s[kind].average_seconds]).filter((x) => x > 0);
    const lo = Math.pow(10, Math.floor(Math.log10(Math.max(1e-5, Math.min(1e-4, ...vals)))));
    const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(policy.up_average_seconds || 1, ...vals) * 1.5)));
    const y = (s) => pad.t + (H - pad.t - pad.b) * (1 - (Math.log10(Math.max(s, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)));
    const x = (t) => pad.l + (W - pad.l - pad.r) * (t - t0) / (t1 - t0);
    ctx.fillStyle = '#5b6470';
    for (let d = lo; d <= hi * 1.001; d *= 10) { ctx.fillText(dur(d), 4, y(d) + 4); ctx.strokeStyle = '#eef1f4'; ctx.beginPath(); ctx.moveTo(pad.l, y(d)); ctx.lineTo(W - pad.r, y(d)); ctx.stroke(); }
    const threshold = (value, color, label) => {
      if (!value) return;
      ctx.save(); ctx.setLineDash([6, 4]); ctx.strokeStyle = color; ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.moveTo(pad.l, y(value)); ctx.lineTo(W - pad.r, y(value)); ctx.stroke(); ctx.restore();
      ctx.fillStyle = color; ctx.fillText(label + ' ' + dur(value), pad.l + 6, y(value) - 3);
    };
    threshold(policy.up_average_seconds, '#da1e28', 'scale up: average above');
    threshold(policy.down_average_seconds, '#198038', 'scale down: average below');
    for (const [key, field] of [['avg', 'average_seconds'], ['p50', 'p50_seconds'], ['p95', 'p95_seconds'], ['p99', 'p99_seconds']]) {
      ctx.strokeStyle = COLORS[key]; ctx.lineWidth = key === 'avg' ? 2 : 1.2; ctx.beginPath();
      let prev = null;
      for (const s of pts) {
        const px = x(s.at), py = y(s[kind][field]);
        if (prev != null && s.at - prev > 1500) ctx.moveTo(px, py); else if (prev == null) ctx.moveTo(px, py); else ctx.lineTo(px, py);
        prev = s.at;
      }
      ctx.stroke();
    }
    c.dataset.points = String(pts.length);
    c.dataset.lastAt = pts.length ? String(pts[pts.length - 1].at) : '';
    c.setAttribute('aria-label', 'Response time of ' + kind + ' requests per second over the last 10 min, log scale: ' + pts.length + ' seconds with requests.');
    $('latency-legend').replaceChildren(...Object.entries(COLORS).map(([k, col]) => { const i = el('i'); i.style.background = col; return el('span', {}, i, k === 'avg' ? 'average' : k); }),
      el('span', { text: 'dashed: the policy’s thresholds; one point per second; log scale' }));
    // Timeout rate.
    const tc = fit($('timeout-chart')), tx = tc.getContext('2d'), TW = tc.width, TH = tc.height;
    axes(tx, TW, TH, pad, t0, t1);
    const limit = policy.up_timeout_rate || 0.01;
    const top = Math.max(limit * 2, ...pts.map((s) => s[kind].timeouts / s[kind].requests));
    const ty = (r) => pad.t + (TH - pad.t - pad.b) * (1 - r / top);
    tx.fillStyle = '#5b6470'; tx.fillText(pct(top), 4, ty(top) + 10); tx.fillText('0 %', 4, ty(0));
    tx.fillStyle = '#da1e28';
    for (const s of pts) { const r = s[kind].timeouts / s[kind].requests; if (r > 0) tx.fillRect(x(s.at) - 1, ty(r), 2, ty(0) - ty(r)); }
    tx.save(); tx.setLineDash([6, 4]); tx.strokeStyle = '#da1e28'; tx.beginPath(); tx.moveTo(pad.l, ty(limit)); tx.lineTo(TW - pad.r, ty(limit)); tx.stroke(); tx.restore();
    tx.fillText('timeout rate; scale up above ' + pct(limit), pad.l + 6, ty(limit) - 3);
    tc.setAttribute('aria-label', 'Timeout rate per second over the last 10 min; the policy scales up above ' + pct(limit) + '.');
    // Read/write mix (all requests).
    const mc = fit($('mix-chart')), mx = mc.getContext('2d'), MW = mc.width, MH = mc.height;
    axes(mx, MW, MH, pad, t0, t1);
    const my = (r) => pad.t + (MH - pad.t - pad.b) * (1 - r);
    for (const s of st.samples) {
      if (s.at < t0 || !s.all.requests) continue;
      const reads = (s.all.reads + s.all.queries) / s.all.requests;
      mx.fillStyle = '#1192e8'; mx.fillRect(x(s.at) - 1, my(reads), 2, my(0) - my(reads));
      mx.fillStyle = '#8a3ffc'; mx.fillRect(x(s.at) - 1, my(1), 2, my(reads) - my(1));
    }
    mx.fillStyle = '#5b6470'; mx.fillText('100 %', 4, my(1) + 10); mx.fillText('0 %', 4, my(0));
    mx.fillText('blue: reads and queries; violet: writes (share of requests per second)', pad.l + 6, pad.t + 12);
    mc.setAttribute('aria-label', 'Read and write mix per second over the last 10 min.');
    // Summary and the text alternative.
    const windows = (st.scaling.measurement || {}).windows || {};
    const w10 = (windows['10'] || {})[kind];
    const summary = $('latency-summary');
    summary.dataset.requests = w10 ? String(w10.requests) : '0';
    summary.textContent = w10 && w10.requests ? 'Last 10 s (' + kind + '): ' + int(w10.requests) + ' requests (' + (w10.requests / 10).toFixed(1) + ' per s), average ' + dur(w10.average_seconds) +
      ', p50 ' + dur(w10.p50_seconds) + ', p95 ' + dur(w10.p95_seconds) + ', p99 ' + dur(w10.p99_seconds) + ', timeouts ' + pct(w10.timeout_rate) +
      '; reads ' + pct(w10.read_fraction) + ', writes ' + pct(w10.write_fraction) + '.' : 'Last 10 s (' + kind + '): no requests.';
    const empty = $('latency-empty');
    empty.hidden = pts.length > 0;
    empty.textContent = 'No ' + (kind === 'all' ? '' : kind + ' ') + 'requests answered by this node in the last 10 min. Send some (e.g. curl -X PUT ' + location.origin + '/v1/collections/demo/docs/1 -d \'{"hello":"world"}\' -H "Content-Type: application/json") and the charts fill in, one point per second.';
    const evaluator = st.scaling.evaluator;
    const entry = st.view && (st.view.nodes || []).find((n) => n.primary_load_manager);
    $('latency-scope').textContent = 'Measured on this node (' + (st.scaling.node || st.self) + ') for the requests it answered.' +
      (evaluator ? ' This node evaluates the scaling policy.' : entry ? ' The policy is evaluated on the entry point ' + entry.id + ' with its own measurements (open ' + entry.url + '/console).' : '');
    const rowsOut = [];
    for (const [win, label] of [['10', '10 s'], ['60', '1 min'], ['300', '5 min'], ['3600', '1 h']]) {
      for (const k of ['all', 'read', 'write', 'query']) {
        const s = (windows[win] || {})[k];
        if (!s) continue;
        const none = !s.requests;
        rowsOut.push(el('tr', {}, el('th', { scope: 'row', text: label }), el('td', { text: k }), el('td', { text: count(s.requests, 'requests') }),
          el('td', { text: none ? '–' : dur(s.average_seconds) }), el('td', { text: none ? '–' : dur(s.p50_seconds) }), el('td', { text: none ? '–' : dur(s.p95_seconds) }),
          el('td', { text: none ? '–' : dur(s.p99_seconds) }), el('td', { text: none ? '–' : pct(s.timeout_rate) }), el('td', { text: none ? '–' : pct(s.read_fraction) })));
      }
    }
    $('windows-table').tBodies[0].replaceChildren(...rowsOut);
    const recent = st.samples.slice(-10).reverse();
    $('seconds-table').tBodies[0].replaceChildren(...recent.map((s) => {
      const c = s[kind] || { requests: 0 };
      const none = !c.requests;
      return el('tr', {}, el('th', { scope: 'row', text: time(s.at) }), el('td', { text: count(c.requests || 0, 'requests') }),
        el('td', { text: none ? '–' : dur(c.average_seconds) }), el('td', { text: none ? '–' : dur(c.p50_seconds) }), el('td', { text: none ? '–' : dur(c.p95_seconds) }),
        el('td', { text: none ? '–' : dur(c.p99_seconds) }), el('td', { text: none ? '–' : pct(c.timeouts / c.requests) }),
        el('td', { text: s.all.requests ? pct((s.all.reads + s.all.queries) / s.all.requests) : '–' }));
    }));
  }

  function evidence(obj) {
    const dl = el('dl');
    for (const [k, v] of Object.entries(obj || {})) {
      let text;
      if (typeof v === 'number') text = /seconds$/.test(k) && !/window/.test(k) ? dur(v) : /window/.test(k) ? secs(v) : /(rate|fraction|share)$/.test(k) ? pct(v) : int(v) + (/requests$/.test(k) ? ' requests' : '');
      else text = typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
      dl.append(el('dt', { text: k.replace(/_/g, ' ') }), el('dd', { text }));
    }
    return dl;
  }

  function timeline() {
    const s = st.scaling;
    const hook = s && s.hook;
    $('hook-status').textContent = !s ? '' : hook ? 'Operator hook ' + hook.url + ': ' + (hook.running ? 'running' : 'stopped') + '; ' + int(hook.pending) + ' pending, ' + int(hook.delivered) + ' delivered, ' +
      int(hook.dropped) + ' dropped' + (hook.last_error ? '; last error: ' + hook.last_error : '') + (hook.next_attempt_in_ms != null ? '; next attempt in ' + dur(hook.next_attempt_in_ms / 1000) : '') + '.'
      : 'No operator hook on this node (--hook-url): recommendations are kept in its outbox and listed here.';
    const e = s && s.evaluation;
    $('evaluation').textContent = !s ? '' : !s.evaluator ? 'This node does not evaluate the policy (the entry point does); its own recommendations, if any, are listed.' :
      e ? 'Policy now: workload ' + e.workload + (e.surging ? ', surge under way (absorbed by back pressure)' : '') + (e.up ? ', scale-up condition holds' : '') + (e.down ? ', scale-down condition holds' : '') + '.' : 'The policy has not been evaluated yet.';
    const items = [];
    for (const r of st.recs || []) {
      const b = r.body || {};
      items.push({ at: b.created_at || r.created_at, li: el('li', { class: (r.state === 'pending' ? 'pending ' : '') + (r.kind === 'surge' ? 'surge' : ''), 'data-kind': r.kind },
        el('div', {}, el('time', { datetime: new Date(r.created_at).toISOString(), text: dateTime(r.created_at) }), ' · ', el('span', { class: 'kind', text: r.kind }),
          ' · ' + (b.stage || '') + (b.target ? ' · target ' + JSON.stringify(b.target) : '')),
        el('div', { text: b.reason || '' }), evidence(b.evidence),
        el('div', { class: 'muted', text: 'delivery: ' + r.state + ', ' + int(r.attempts) + ' attempt' + (r.attempts === 1 ? '' : 's') +
          (r.delivered_at ? ', delivered ' + dateTime(r.delivered_at) : '') + (r.last_error ? ', last error: ' + r.last_error : '') +
          (r.state === 'pending' && r.next_attempt_at ? ', next attempt ' + time(r.next_attempt_at) : '') + ' (seq ' + r.seq + ', id ' + r.id + ')' })) });
    }
    const mapRecs = (st.view && st.view.recommendations) || [];
    for (const r of mapRecs) {
      if ((st.recs || []).some((x) => x.id === 'map-' + r.seq + '-v' + r.map_version)) continue;
      items.push({ at: 0, li: el('li', { 'data-kind': r.kind }, el('div', {}, el('span', { class: 'kind', text: r.kind }), ' · from the cluster map (planner), Mach ' + r.stage + (r.target ? ' · target ' + r.target : '')),
        el('div', { text: r.reason }), el('div', { class: 'muted', text: 'map version ' + r.map_version + ', seq ' + r.seq + '; handed to the hook by the entry point' })) });
    }
    $('recommendations').replaceChildren(...items.map((i) => i.li));
    const empty = $('recs-empty');
    empty.hidden = items.length > 0;
    const p = (s && s.policy) || {};
    empty.textContent = 'No recommendations yet. The policy recommends add_node when the average response time stays above ' + dur(p.up_average_seconds) + ' over ' + secs(p.up_average_window_seconds) +
      ' or timeouts exceed ' + pct(p.up_timeout_rate) + ' over ' + secs(p.up_timeout_window_seconds) + ' (sustained ' + secs(p.sustain_up_seconds) + '); remove_node below ' + dur(p.down_average_seconds) +
      '; a lost node gives replace_node. Configure --hook-url to have them delivered to an operator.';
  }

  // ---------- wiring
  function toggleTables() {
    st.tables = !st.tables;
    document.body.classList.toggle('tables', st.tables);
    const b = $('view-toggle');
    b.setAttribute('aria-pressed', String(st.tables));
    b.textContent = st.tables ? 'Picture view' : 'Table view';
  }

  async function boot() {
    $('origin').textContent = location.host;
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = $('token');
      const token = input.value.trim();
      input.value = '';
      if (token) signIn(token);
    });
    $('sign-out').addEventListener('click', () => signOut('Signed out: the token was removed from this tab.'));
    $('view-toggle').addEventListener('click', toggleTables);
    $('latency-class').addEventListener('change', render);
    st.token = sessionStorage.getItem(TOKEN_KEY);
    if (st.token) return signIn(st.token);
    try {
      if (await probeOpen()) return start();
    } catch (e) { /* the node is down: ask for the token anyway */ }
    showLogin('');
  }
  document.addEventListener('DOMContentLoaded', boot);
}());
"""#
}
