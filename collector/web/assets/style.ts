// The console's style sheet: system fonts only (nothing loaded from elsewhere), text contrast at least
// 4.5:1 (WCAG AA) in both colour schemes, a visible focus ring, one column below 760 px.
export const CONSOLE_CSS = `
:root { --bg: #ffffff; --fg: #1a1d21; --muted: #4f5761; --line: #d0d5db; --panel: #f5f7f9; --accent: #0b57d0;
  --accent-fg: #ffffff; --bad: #b3261e; --ok: #1e6b34; --warn: #8a4b00; --changed: #fff1c2; --focus: #0b57d0;
  color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #15181c; --fg: #e8eaed; --muted: #aab1ba; --line: #3b424b; --panel: #1e2228; --accent: #8ab4f8;
    --accent-fg: #0b1a33; --bad: #f2b8b5; --ok: #9fd7a9; --warn: #f5c26b; --changed: #4a3d12; --focus: #8ab4f8; }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
body { margin: 0; background: var(--bg); color: var(--fg); }
code, pre, .mono, .c-id, .c-path, .c-time, .num, textarea, .gutter, .json { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 13px; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
h1 { font-size: 1.35rem; margin: 0.2rem 0 0.8rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin: 0 0 0.5rem; }
h3 { font-size: 1rem; margin: 0.8rem 0 0.4rem; }
h4 { font-size: 0.95rem; margin: 0.6rem 0 0.3rem; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.skip { position: absolute; left: -999px; top: 0.5rem; background: var(--bg); padding: 0.3rem 0.6rem; }
.skip:focus { left: 0.5rem; }
.top { display: flex; flex-wrap: wrap; align-items: center; gap: 0.4rem 1.2rem; padding: 0.5rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel); }
.brand { font-weight: 700; }
.top ul { display: flex; flex-wrap: wrap; gap: 0.2rem 1rem; list-style: none; margin: 0; padding: 0; }
.top nav a { text-decoration: none; padding: 0.2rem 0.1rem; }
.top nav a[aria-current="page"] { font-weight: 700; text-decoration: underline; text-underline-offset: 4px; }
.live { margin-left: auto; font-size: 0.85rem; color: var(--muted); }
.live.on::before { content: "● "; color: var(--ok); }
.live.off::before { content: "○ "; }
main { padding: 1rem; max-width: 1600px; margin: 0 auto; outline: none; }
button, .button { font: inherit; border: 1px solid var(--line); background: var(--panel); color: var(--fg); border-radius: 6px; padding: 0.35rem 0.8rem; cursor: pointer; text-decoration: none; display: inline-block; }
button.primary, .button.primary { background: var(--accent); color: var(--accent-fg); border-color: var(--accent); }
button.danger { color: var(--bad); border-color: var(--bad); background: transparent; }
button.link { border: none; background: none; color: var(--accent); padding: 0; text-decoration: underline; }
button:disabled { opacity: 0.6; cursor: progress; }
input, select, textarea { font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--muted); border-radius: 5px; padding: 0.3rem 0.45rem; max-width: 100%; }
textarea { width: 100%; }
label { font-weight: 600; font-size: 0.9rem; }
.field { display: flex; flex-direction: column; gap: 0.2rem; min-width: 9rem; }
.help, .muted { color: var(--muted); font-size: 0.88rem; }
.error { color: var(--bad); font-weight: 600; }
.ok { color: var(--ok); font-weight: 600; }
.actions { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: flex-end; margin: 0.6rem 0; }
.signin { max-width: 26rem; margin: 12vh auto; padding: 1.5rem; border: 1px solid var(--line); border-radius: 10px; background: var(--panel); display: flex; flex-direction: column; gap: 0.5rem; }
.filters { display: flex; flex-wrap: wrap; gap: 0.6rem 1rem; align-items: flex-end; padding: 0.7rem; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
.filters .actions { margin: 0; }
.bar { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; }
.pending { border-color: var(--accent); }
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.3rem 0.55rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { position: sticky; top: 0; background: var(--panel); font-size: 0.85rem; }
.captures tbody tr { cursor: pointer; }
.captures tbody tr:hover { background: var(--panel); }
.captures tr.new { animation: fresh 3s ease-out; }
@keyframes fresh { from { background: var(--changed); } to { background: transparent; } }
.c-path { overflow-wrap: anywhere; }
.num { text-align: right; white-space: nowrap; }
.empty { color: var(--muted); text-align: center; padding: 1.5rem; }
.pager { display: flex; gap: 0.6rem; margin: 0.7rem 0; }
.st { display: inline-block; min-width: 2.8rem; padding: 0 0.35rem; border-radius: 4px; font-weight: 700; text-align: center; border: 1px solid currentColor; }
.st-2 { color: var(--ok); } .st-3 { color: var(--muted); } .st-4 { color: var(--warn); } .st-5, .st-0 { color: var(--bad); } .st-1 { color: var(--muted); }
.title .method { font-weight: 700; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 1rem; margin: 0.6rem 0 1rem; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.panel { border: 1px solid var(--line); border-radius: 8px; padding: 0.7rem 0.9rem; margin: 0 0 1rem; background: var(--bg); min-width: 0; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.headers th { font-weight: 600; white-space: nowrap; width: 1%; }
.headers td { overflow-wrap: anywhere; }
.redacted { background: var(--panel); border: 1px dashed var(--muted); padding: 0 0.2rem; }
.marker { margin-left: 0.4rem; font-size: 0.75rem; text-transform: uppercase; letter-spacing: 0.04em; color: var(--warn); font-weight: 700; }
pre { margin: 0; padding: 0.5rem; background: var(--panel); border-radius: 6px; overflow-x: auto; }
pre.text, pre.stack, pre.curl { white-space: pre-wrap; overflow-wrap: anywhere; }
pre.hex { white-space: pre; }
.body-meta { margin: 0 0 0.3rem; color: var(--muted); font-size: 0.85rem; }
.json { background: var(--panel); border-radius: 6px; padding: 0.4rem 0.6rem; overflow-x: auto; }
.json summary { cursor: pointer; list-style-position: inside; }
.j-children { padding-left: 1.2rem; border-left: 1px dotted var(--line); margin-left: 0.3rem; }
.j-key { color: var(--fg); font-weight: 600; } .j-string { color: var(--ok); } .j-number, .j-boolean { color: var(--accent); } .j-null, .j-count { color: var(--muted); }
.j-line, .j-close { overflow-wrap: anywhere; }
.outbound { padding-left: 1.4rem; } .outbound summary { cursor: pointer; overflow-wrap: anywhere; }
.waterfall { border: 1px solid var(--line); border-radius: 8px; }
.wf-row { display: grid; grid-template-columns: minmax(14rem, 38%) 1fr; align-items: center; border-bottom: 1px solid var(--line); min-height: 2rem; }
.wf-head { background: var(--panel); font-weight: 600; font-size: 0.85rem; }
.wf-label { padding: 0.25rem; overflow-wrap: anywhere; }
.wf-track { position: relative; height: 1.4rem; margin: 0 0.6rem; }
.wf-bar { position: absolute; top: 0.25rem; height: 0.9rem; border-radius: 3px; background: currentColor; min-width: 3px; border: none; padding: 0; }
.scale span { position: absolute; transform: translateX(-50%); font-size: 0.75rem; color: var(--muted); white-space: nowrap; }
.scale span:first-child { transform: none; } .scale span:last-child { transform: translateX(-100%); }
.verdict { font-weight: 700; padding: 0.5rem 0.7rem; border-radius: 6px; border: 2px solid currentColor; }
.verdict.same { color: var(--ok); } .verdict.differs { color: var(--bad); }
.lines { margin: 0; padding: 0 0 0 3.2rem; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; background: var(--panel); border-radius: 6px; overflow-x: auto; }
.lines li { white-space: pre-wrap; overflow-wrap: anywhere; padding-left: 0.4rem; }
.lines li::marker { color: var(--muted); }
.changed, tr.changed td, tr.changed th { background: var(--changed); }
.editor { display: grid; grid-template-columns: auto 1fr; border: 1px solid var(--muted); border-radius: 5px; overflow: hidden; }
.editor textarea { border: none; border-radius: 0; resize: vertical; line-height: 1.45; white-space: pre; }
.gutter { margin: 0; padding: 0.3rem 0.4rem; text-align: right; color: var(--muted); background: var(--panel); border-radius: 0; overflow: hidden; line-height: 1.45; user-select: none; }
.gutter .bad { color: var(--bad); font-weight: 700; background: var(--changed); }
.problems { color: var(--bad); }
.hops { list-style: none; padding: 0; }
.check { display: flex; gap: 0.4rem; align-items: center; align-self: end; }
.replay-form, .diag-form { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 0.6rem 1rem; align-items: start; }
@media (max-width: 760px) {
  .pair { grid-template-columns: 1fr; }
  .c-destination, .c-time, .c-duration { display: none; }
  .c-path { min-width: 9rem; }
  main { padding: 0.6rem; }
  .wf-row { grid-template-columns: 1fr; }
  .wf-track { margin: 0 0.3rem 0.3rem; }
  .facts { grid-template-columns: 1fr; } .facts dt { margin-top: 0.3rem; }
}
`;
