/** The viewer's HTML shell and styles; the script (ui/app.ts) renders everything else. */

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

/** The one page every route serves; `label` names the directory in the title. */
export function pageHtml(label: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rlm-obs · ${escapeHtml(label)}</title>
<link rel="stylesheet" href="/assets/app.css">
<link rel="icon" href="data:,">
</head>
<body>
<header class="top">
  <a class="brand" href="/" data-nav>rlm-obs</a>
  <span class="dir" id="dir"></span>
  <span class="live" id="live" title="new records appear without a reload">● live</span>
</header>
<main id="app"><p class="muted">Loading…</p></main>
<script src="/assets/app.js"></script>
</body>
</html>
`;
}

export const PAGE_CSS = `
:root {
  --bg: #fbfbfd; --fg: #1d1d27; --muted: #6b6b7b; --line: #e3e3ea; --card: #fff;
  --run: #6d5bd0; --ok: #2f9e6b; --bad: #d64545; --open: #c98a12; --accent: #3b6fd8;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.top { display: flex; gap: 12px; align-items: baseline; padding: 10px 20px; border-bottom: 1px solid var(--line); background: var(--card); position: sticky; top: 0; z-index: 2; }
.brand { font-weight: 700; color: var(--fg); }
.dir { color: var(--muted); font-family: ui-monospace, monospace; font-size: 12px; }
.live { margin-left: auto; color: var(--muted); font-size: 12px; }
.live.on { color: var(--ok); }
main { padding: 16px 20px 40px; max-width: 1400px; margin: 0 auto; }
.muted { color: var(--muted); }
.filters { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; margin-bottom: 12px; }
.filters input[type=search] { flex: 1 1 280px; padding: 6px 10px; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
.filters select { padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px; font: inherit; background: var(--card); }
table.runs { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
table.runs th, table.runs td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
table.runs td.task { white-space: normal; max-width: 420px; }
table.runs th { font-size: 12px; color: var(--muted); font-weight: 600; background: #f6f6f9; }
table.runs td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.runs tr:hover td { background: #f7f7fc; }
.id { font-family: ui-monospace, monospace; font-size: 12px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; color: #fff; }
.badge.ok { background: var(--ok); } .badge.bad { background: var(--bad); } .badge.open { background: var(--open); }
.nested { color: var(--muted); margin-right: 4px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 16px; margin: 16px 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card h3 { margin: 0 0 8px; font-size: 13px; color: var(--muted); font-weight: 600; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 6px 0 12px; }
.meta span b { font-weight: 600; }
h1 { font-size: 18px; margin: 8px 0 4px; }
.waterfall { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 6px 0; }
.wf-row { display: grid; grid-template-columns: 340px 1fr 80px; align-items: center; gap: 8px; padding: 2px 12px; cursor: pointer; }
.wf-row:hover, .wf-row.selected { background: #f1f0fb; }
.wf-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-size: 13px; }
.wf-track { position: relative; height: 16px; background: #f4f4f8; border-radius: 3px; }
.wf-bar { position: absolute; top: 2px; bottom: 2px; min-width: 2px; border-radius: 2px; background: var(--ok); }
.wf-row.run .wf-bar { background: var(--run); }
.wf-row.failed .wf-bar { background: var(--bad); }
.wf-row.failed .wf-label { color: var(--bad); }
.wf-dur { text-align: right; color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
.layout { display: grid; grid-template-columns: minmax(0, 1fr) 420px; gap: 16px; align-items: start; }
.panel { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; position: sticky; top: 56px; }
.panel h2 { font-size: 15px; margin: 0 0 8px; }
.panel pre { background: #f6f6f9; border: 1px solid var(--line); border-radius: 6px; padding: 8px; overflow: auto; max-height: 260px; font-size: 12px; white-space: pre-wrap; word-break: break-word; }
.panel pre.error { background: #fdf0f0; border-color: #f2c6c6; color: #8f1f1f; }
.kv { display: grid; grid-template-columns: 130px 1fr; gap: 2px 10px; font-size: 13px; }
.kv dt { color: var(--muted); } .kv dd { margin: 0; font-variant-numeric: tabular-nums; }
svg.chart { width: 100%; height: 180px; display: block; }
svg.chart text { font-size: 10px; fill: var(--muted); }
.legend { display: flex; gap: 12px; flex-wrap: wrap; font-size: 12px; color: var(--muted); margin-top: 4px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
@media (max-width: 1000px) { .layout { grid-template-columns: 1fr; } .wf-row { grid-template-columns: 200px 1fr 60px; } }
`;
