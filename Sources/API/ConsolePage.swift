/// The console's HTML page: structure only, no data and no inline script or style (the
/// Content-Security-Policy forbids both).
/// Served by `GET /console` (docs/ARCHITECTURE.md, "Console").
enum ConsolePage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>machdb console</title>
<link rel="stylesheet" href="/console/console.css">
<script src="/console/console.js" defer></script>
</head>
<body>
<header class="top">
  <h1>machdb console</h1>
  <span id="origin" class="muted"></span>
  <span id="status" class="pill" role="status" aria-live="polite">starting</span>
  <span class="spacer"></span>
  <button id="view-toggle" type="button" aria-pressed="false" hidden>Table view</button>
  <button id="sign-out" type="button" hidden>Sign out</button>
</header>
<div id="banners" aria-live="assertive"></div>
<section id="login" class="card" hidden aria-labelledby="login-title">
  <h2 id="login-title">Admin token</h2>
  <p>This console reads the node's admin API. Enter the admin token the node was started with
  (<code>--admin-token</code>). It is kept in this browser tab's session storage only, and
  sent as <code>Authorization: Bearer</code> to this node; it never appears in a URL.</p>
  <form id="login-form" autocomplete="off">
    <label for="token">Admin token</label>
    <input id="token" name="token" type="password" required autocomplete="off" spellcheck="false">
    <button type="submit">Open the console</button>
  </form>
  <p id="login-error" class="error" role="alert"></p>
</section>
<main id="app" hidden>
  <section class="card" aria-labelledby="stage-title">
    <h2 id="stage-title">Stage</h2>
    <p id="stage-summary"></p>
    <p id="entry-point"></p>
    <div id="stage-diagram" class="picture"></div>
    <div id="stage-empty" class="empty" hidden></div>
    <div class="table-view"><table id="nodes-table"><caption>Nodes</caption><thead><tr>
      <th scope="col">node</th><th scope="col">roles</th><th scope="col">level</th><th scope="col">state</th>
      <th scope="col">Raft state</th><th scope="col">applied index</th><th scope="col">lag</th><th scope="col">URL</th>
    </tr></thead><tbody></tbody></table></div>
    <h3>Shards</h3>
    <div class="scroll"><table id="shards-table"><thead><tr>
      <th scope="col">shard</th><th scope="col">buckets</th><th scope="col">Writer</th><th scope="col">voters</th>
      <th scope="col">learners</th><th scope="col">placement</th><th scope="col">term</th><th scope="col">commit index</th>
    </tr></thead><tbody></tbody></table></div>
  </section>
  <section class="card" aria-labelledby="transfers-title">
    <h2 id="transfers-title">Catch-up and snapshots</h2>
    <div id="transfers"></div>
  </section>
  <section class="card" aria-labelledby="latency-title">
    <h2 id="latency-title">Response time</h2>
    <p id="latency-scope" class="muted"></p>
    <div class="controls">
      <label for="latency-class">Class</label>
      <select id="latency-class">
        <option value="all">all requests</option><option value="read">reads</option>
        <option value="write">writes</option><option value="query">queries</option>
      </select>
    </div>
    <p id="latency-summary"></p>
    <div class="picture">
      <canvas id="latency-chart" width="900" height="240" role="img" aria-label="Response time chart"></canvas>
      <p class="legend" id="latency-legend"></p>
      <canvas id="timeout-chart" width="900" height="120" role="img" aria-label="Timeout rate chart"></canvas>
      <canvas id="mix-chart" width="900" height="120" role="img" aria-label="Read and write mix chart"></canvas>
    </div>
    <div id="latency-empty" class="empty" hidden></div>
    <div class="table-view scroll"><table id="windows-table"><caption>Measured windows (this node)</caption><thead><tr>
      <th scope="col">window</th><th scope="col">class</th><th scope="col">requests</th><th scope="col">average</th>
      <th scope="col">p50</th><th scope="col">p95</th><th scope="col">p99</th><th scope="col">timeout rate</th>
      <th scope="col">reads</th>
    </tr></thead><tbody></tbody></table>
    <table id="seconds-table"><caption>The last 10 seconds, one row per second (the charts' points)</caption><thead><tr>
      <th scope="col">second ending</th><th scope="col">requests</th><th scope="col">average</th><th scope="col">p50</th>
      <th scope="col">p95</th><th scope="col">p99</th><th scope="col">timeout rate</th><th scope="col">reads (all classes)</th>
    </tr></thead><tbody></tbody></table></div>
  </section>
  <section class="card" aria-labelledby="pressure-title">
    <h2 id="pressure-title">Back pressure</h2>
    <div id="pressure"></div>
  </section>
  <section class="card" aria-labelledby="recs-title">
    <h2 id="recs-title">Recommendations</h2>
    <p id="hook-status"></p>
    <p id="evaluation"></p>
    <ol id="recommendations" class="timeline"></ol>
    <div id="recs-empty" class="empty" hidden></div>
  </section>
  <p class="muted" id="updated"></p>
</main>
<noscript><p>The console needs JavaScript (served by this node; nothing is loaded from elsewhere).</p></noscript>
</body>
</html>
"""#
}
