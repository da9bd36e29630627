/**
 * The stylesheet and the one small script, served from memory: no build step, no CDN (the server
 * may run with no internet). The script only adds live progress; every page works without it.
 */
export const CSS = `
:root { --fg:#1d2733; --muted:#5b6776; --bg:#f6f7f9; --card:#fff; --line:#dfe3e8; --accent:#1f5fbf; --accent-dark:#174a96;
  --ok:#1e7a46; --warn:#9a5b00; --err:#b3261e; --focus:#ffbf47; font-size:16px; }
* { box-sizing:border-box; }
body { margin:0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color:var(--fg); background:var(--bg); line-height:1.5; }
a { color:var(--accent); }
:focus-visible { outline:3px solid var(--focus); outline-offset:2px; }
.skip { position:absolute; left:-999px; } .skip:focus { left:8px; top:8px; background:#fff; padding:4px 8px; z-index:10; }
header.top { display:flex; align-items:center; gap:16px; padding:10px 24px; background:#fff; border-bottom:1px solid var(--line); }
header.top nav { margin-left:auto; display:flex; gap:14px; align-items:center; flex-wrap:wrap; }
.brand { font-weight:700; font-size:1.15rem; text-decoration:none; color:var(--fg); }
.demo { background:#fff3cd; color:#6b4b00; border:1px solid #e8c66a; border-radius:999px; padding:1px 10px; font-size:.85rem; font-weight:600; }
.who { color:var(--muted); font-size:.9rem; }
main { max-width:760px; margin:28px auto; padding:0 20px 60px; } main.wide { max-width:1100px; }
h1 { font-size:1.6rem; margin:.2em 0 .6em; } h2 { font-size:1.2rem; margin:1.6em 0 .5em; }
.card > h2:first-of-type, .card > h3:first-of-type { margin-top:0; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:18px 20px; margin:14px 0; }
label { display:block; font-weight:600; margin:12px 0 4px; }
.hint { color:var(--muted); font-size:.9rem; margin:2px 0 6px; }
input[type=text], input[type=email], input[type=password], input[type=number], input[type=search], select, textarea {
  width:100%; max-width:480px; padding:9px 11px; border:1px solid #aab3bf; border-radius:6px; font:inherit; background:#fff; }
textarea { min-height:80px; }
.check { display:flex; gap:10px; align-items:flex-start; font-weight:600; } .check input { width:20px; height:20px; margin-top:2px; }
button, .button { display:inline-block; font:inherit; font-weight:600; padding:9px 18px; border-radius:6px; border:1px solid var(--accent);
  background:var(--accent); color:#fff; cursor:pointer; text-decoration:none; }
button:hover, .button:hover { background:var(--accent-dark); }
button.secondary, .button.secondary { background:#fff; color:var(--accent); }
button.danger { background:#fff; color:var(--err); border-color:var(--err); }
button.link { background:none; border:none; color:var(--accent); padding:0; text-decoration:underline; font-weight:400; }
form.inline { display:inline; }
.actions { display:flex; gap:10px; margin-top:18px; flex-wrap:wrap; align-items:center; }
fieldset { border:1px solid var(--line); border-radius:8px; padding:10px 16px 14px; margin:14px 0; }
legend { font-weight:700; padding:0 6px; }
.choice { display:flex; gap:12px; align-items:center; border:1px solid var(--line); border-radius:8px; padding:12px 14px; margin:8px 0; background:#fff; cursor:pointer; }
.choice { font-weight:400; } .choice input { width:20px; height:20px; flex:none; } .choice strong { display:block; color:var(--fg); font-weight:600; } .choice > span > span { color:var(--muted); font-size:.9rem; }
.choice:has(input:checked) { border-color:var(--accent); box-shadow:0 0 0 1px var(--accent); }
.steps { display:flex; gap:6px; list-style:none; padding:0; margin:0 0 18px; flex-wrap:wrap; font-size:.85rem; counter-reset:s; }
.steps li { counter-increment:s; color:var(--muted); padding:3px 10px; border-radius:999px; background:#eceff3; }
.steps li::before { content:counter(s) ". "; } .steps li.current { background:var(--accent); color:#fff; font-weight:600; } .steps li.done { background:#dbe7f8; color:var(--fg); }
.error { background:#fdecea; border:1px solid #f3b8b2; color:#7a1a13; border-radius:8px; padding:10px 14px; margin:10px 0; }
.flash { background:#e7f4ec; border:1px solid #a9d8bb; border-radius:8px; padding:10px 14px; margin:0 0 14px; }
table { border-collapse:collapse; width:100%; background:#fff; } th, td { text-align:left; padding:8px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:.85rem; color:var(--muted); font-weight:600; }
.state { display:inline-block; border-radius:999px; padding:1px 10px; font-size:.85rem; font-weight:600; background:#eceff3; }
.state.ok { background:#e3f3e9; color:var(--ok); } .state.error { background:#fdecea; color:var(--err); }
.state.needs-sign-in { background:#fff3cd; color:var(--warn); } .state.syncing { background:#dbe7f8; color:var(--accent-dark); }
.spokes { display:grid; grid-template-columns:repeat(auto-fill, minmax(300px, 1fr)); gap:14px; }
.spoke h3 { margin:0 0 4px; font-size:1.05rem; } .muted { color:var(--muted); } .small { font-size:.88rem; }
.counts { display:flex; gap:18px; margin:8px 0; } .counts b { display:block; font-size:1.3rem; }
.chart { width:100%; height:auto; } .chart rect.in { fill:#1f5fbf; } .chart rect.out { fill:#7fb0ea; } .chart text { font-size:10px; fill:#5b6776; }
pre.mail { white-space:pre-wrap; background:#fff; border:1px solid var(--line); padding:12px; border-radius:8px; }
.kv dt { font-weight:600; } .kv dd { margin:0 0 8px; }
`;

export const JS = `
(function () {
  // Live progress of a running sync (the page also works without this: it shows the state it had).
  var el = document.querySelector('[data-progress-url]');
  if (!el) return;
  var url = el.getAttribute('data-progress-url');
  var wasRunning = el.getAttribute('data-running') === '1';
  function tick() {
    fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' }).then(function (r) { return r.json(); }).then(function (p) {
      if (p.running) {
        wasRunning = true;
        el.textContent = p.text;
        setTimeout(tick, 1000);
      } else if (wasRunning) {
        window.location.reload();
      } else {
        setTimeout(tick, 3000);
      }
    }).catch(function () { setTimeout(tick, 5000); });
  }
  tick();
})();
`;
