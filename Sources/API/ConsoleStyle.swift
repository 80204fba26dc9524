/// The console's style sheet.
/// Served by `GET /console` (docs/ARCHITECTURE.md, "Console").
enum ConsoleStyle {
    static let css = #"""
:root { --fg: #1b1f24; --muted: #5b6470; --bg: #f4f6f8; --card: #fff; --line: #d0d7de; --accent: #0b5cad;
  --writer: #8a3ffc; --replica: #1192e8; --lm: #198038; --warn: #b28600; --bad: #da1e28; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
.top { display: flex; align-items: center; gap: 12px; padding: 10px 16px; background: #14171a; color: #fff; flex-wrap: wrap; }
.top h1 { font-size: 18px; margin: 0; }
.top .muted { color: #c5ccd3; }
.spacer { flex: 1; }
button { font: inherit; padding: 5px 12px; border: 1px solid var(--line); border-radius: 4px; background: #fff; color: var(--fg); cursor: pointer; }
button:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #ffb000; outline-offset: 1px; }
.pill { padding: 2px 10px; border-radius: 10px; background: #394049; font-size: 12px; }
.pill.ok { background: var(--lm); } .pill.bad { background: var(--bad); } .pill.warn { background: var(--warn); }
.card { background: var(--card); margin: 12px 16px; padding: 12px 16px; border: 1px solid var(--line); border-radius: 6px; }
.card h2 { margin: 0 0 8px; font-size: 16px; } .card h3 { font-size: 14px; margin: 12px 0 4px; }
.muted { color: var(--muted); }
.error { color: var(--bad); font-weight: 600; }
.banner { margin: 8px 16px 0; padding: 10px 14px; border-radius: 6px; font-weight: 600; border: 2px solid; }
.banner.bad { background: #fff1f1; border-color: var(--bad); color: #750e13; }
.banner.warn { background: #fcf4d6; border-color: var(--warn); color: #483700; }
#login form { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
#login input { padding: 5px 8px; min-width: 280px; font: inherit; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
.scroll { overflow-x: auto; }
.table-view { display: none; }
body.tables .table-view { display: block; }
body.tables .picture { display: none; }
svg { max-width: 100%; height: auto; }
svg .node rect { fill: #fff; stroke: #6f7782; stroke-width: 1.5; }
svg .node.down rect { fill: #fff1f1; stroke: var(--bad); stroke-dasharray: 5 3; }
svg .node.entry rect { stroke: var(--lm); stroke-width: 3; }
svg .node.self rect { fill: #f2f8ff; }
svg text { font: 12px system-ui, sans-serif; fill: var(--fg); }
svg text.title { font-weight: 700; font-size: 14px; }
svg text.role-writer { fill: var(--writer); font-weight: 600; }
svg text.role-replica { fill: var(--replica); font-weight: 600; }
svg text.role-load_manager, svg text.role-entry { fill: var(--lm); font-weight: 600; }
svg .shard rect { fill: #f6f0ff; stroke: var(--writer); }
svg line.link { stroke: #9aa3ad; stroke-dasharray: 4 3; }
.empty { padding: 10px 12px; background: #f2f8ff; border-left: 4px solid var(--accent); margin: 6px 0; }
.controls { display: flex; gap: 8px; align-items: center; margin-bottom: 6px; }
canvas { display: block; width: 100%; border: 1px solid var(--line); margin: 6px 0; background: #fff; }
.legend span { margin-right: 14px; white-space: nowrap; }
.legend i { display: inline-block; width: 18px; height: 3px; vertical-align: middle; margin-right: 4px; }
.bar { margin: 6px 0 10px; }
.bar progress, .bar meter { width: min(520px, 100%); height: 16px; vertical-align: middle; }
.bar .label { display: block; }
.timeline { list-style: none; padding: 0; margin: 0; }
.timeline li { border-left: 3px solid var(--accent); padding: 4px 10px; margin: 0 0 8px; }
.timeline li.pending { border-color: var(--warn); }
.timeline li.surge { border-color: #6929c4; }
.timeline .kind { font-weight: 700; }
.timeline dl { display: grid; grid-template-columns: max-content auto; gap: 0 10px; margin: 4px 0; }
.timeline dt { color: var(--muted); } .timeline dd { margin: 0; }
"""#
}
