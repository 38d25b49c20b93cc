"""The run report: one self-contained HTML file (no server, no network) of a run's scores and tasks.

The table and each task's text are written here; the grids travel as one JSON object and a small
script draws a task's grids as SVG when the task is opened, so a 240-task report stays a few MB. The
page reads its state from the URL fragment (`#filter=failed&task=ID`), so a link, a teammate or a
headless browser opens the same view.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from arcforge_solver.report.highlight import highlight_python
from arcforge_solver.report.run_view import RunView, TaskView, wrong_cells
from arcforge_solver.runtime.submission import write_text_atomic

# The ARC palette, colour 0 to 9, as the ARC Prize site draws it.
ARC_PALETTE = (
    "#000000",
    "#0074D9",
    "#FF4136",
    "#2ECC40",
    "#FFDC00",
    "#AAAAAA",
    "#F012BE",
    "#FF851B",
    "#7FDBFF",
    "#870C25",
)
FILTERS = ("all", "solved", "failed", "timeout")

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .3em} h2{font-size:1.15em;margin:1.2em 0 .4em}
.scores{display:flex;gap:1.5em;margin:.6em 0}.score{background:#fff;border:1px solid #ddd;padding:.5em .9em;border-radius:6px}
.score b{display:block;font-size:1.5em}.muted{color:#777}.warn{color:#a15c00}
.filters button{margin-right:.4em;padding:.3em .8em;border:1px solid #bbb;background:#fff;border-radius:4px;cursor:pointer}
.filters button.on{background:#333;color:#fff}
table{border-collapse:collapse;background:#fff;margin-top:.6em}th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}
tr.solved td.state{color:#1a7f37}tr.failed td.state{color:#b42318}tr.timeout td.state{color:#a15c00}
.layout{display:flex;gap:1.2em;align-items:flex-start}.detail{flex:1;min-width:0;position:sticky;top:.5em}
.task{background:#fff;border:1px solid #ccc;border-radius:6px;padding:1em;margin-top:.6em}
.pairs{display:flex;flex-wrap:wrap;gap:1.2em}.pair{display:flex;gap:.5em;align-items:flex-start}
figure{margin:0}figcaption{font-size:.8em;color:#555}svg.grid{display:block;border:1px solid #888}
rect.wrong{stroke:#fff;stroke-width:.22}line.wrong{stroke:#fff;stroke-width:.18}
pre.program{background:#1e1e1e;color:#ddd;padding:.8em;border-radius:6px;overflow:auto}
.keyword{color:#c586c0}.builtin{color:#4ec9b0}.string{color:#ce9178}.number{color:#b5cea8}.comment{color:#6a9955}.name{color:#9cdcfe}.op{color:#d4d4d4}
"""

_SCRIPT = """
const PALETTE = %(palette)s;
const GRIDS = JSON.parse(document.getElementById('grids').textContent);
function svgGrid(grid, wrong) {
  const ns = 'http://www.w3.org/2000/svg', h = grid.length, w = grid[0].length, s = Math.max(4, Math.min(14, 130 / Math.max(h, w)));
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'grid'); svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('width', w * s); svg.setAttribute('height', h * s);
  const bad = new Set((wrong || []).map(([r, c]) => r + ',' + c));
  grid.forEach((row, r) => row.forEach((v, c) => {
    const rect = document.createElementNS(ns, 'rect');
    rect.setAttribute('x', c); rect.setAttribute('y', r); rect.setAttribute('width', 1); rect.setAttribute('height', 1);
    rect.setAttribute('fill', PALETTE[v] || '#ffffff');
    if (bad.has(r + ',' + c)) {
      rect.setAttribute('class', 'wrong cell');
      svg.appendChild(rect);
      const cross = document.createElementNS(ns, 'line');
      cross.setAttribute('class', 'wrong'); cross.setAttribute('x1', c + .2); cross.setAttribute('y1', r + .2);
      cross.setAttribute('x2', c + .8); cross.setAttribute('y2', r + .8); svg.appendChild(cross);
    } else { rect.setAttribute('class', 'cell'); svg.appendChild(rect); }
  }));
  return svg;
}
function figure(label, grid, wrong) {
  const fig = document.createElement('figure');
  if (grid) fig.appendChild(svgGrid(grid, wrong)); else fig.appendChild(document.createTextNode('(none)'));
  const cap = document.createElement('figcaption'); cap.textContent = label; fig.appendChild(cap);
  return fig;
}
function drawTask(id) {
  const box = document.querySelector(`[data-grids-for="${CSS.escape(id)}"]`);
  if (!box || box.dataset.drawn) return;
  const t = GRIDS[id];
  const pairs = document.createElement('div'); pairs.className = 'pairs';
  t.train.forEach(([i, o], n) => { const p = document.createElement('div'); p.className = 'pair train';
    p.append(figure(`train ${n + 1} input`, i), figure(`train ${n + 1} output`, o)); pairs.appendChild(p); });
  box.appendChild(pairs);
  t.tests.forEach((test, n) => { const p = document.createElement('div'); p.className = 'pair test';
    p.append(figure(`test ${n + 1} input`, test.input));
    test.attempts.forEach((a, k) => p.append(figure(`attempt ${k + 1}` + (test.expected ? (test.wrong[k].length ? ` (${test.wrong[k].length} wrong cells)` : ' (right)') : ''), a, test.wrong[k])));
    if (test.expected) p.append(figure('expected', test.expected));
    box.appendChild(p); });
  box.dataset.drawn = '1';
}
function apply() {
  const state = new URLSearchParams(location.hash.slice(1));
  const filter = state.get('filter') || 'all', task = state.get('task');
  document.querySelectorAll('.filters button').forEach(b => b.classList.toggle('on', b.dataset.filter === filter));
  document.querySelectorAll('tbody tr').forEach(tr => { tr.hidden = !(filter === 'all' || tr.dataset.outcome === filter); });
  document.querySelectorAll('section.task').forEach(s => { s.hidden = s.dataset.task !== task; });
  if (task) { drawTask(task); }
}
function go(changes) {
  const state = new URLSearchParams(location.hash.slice(1));
  Object.entries(changes).forEach(([k, v]) => v === null ? state.delete(k) : state.set(k, v));
  location.hash = state.toString();
}
document.querySelectorAll('.filters button').forEach(b => b.addEventListener('click', () => go({filter: b.dataset.filter})));
document.querySelectorAll('a.open').forEach(a => a.addEventListener('click', e => { e.preventDefault(); go({task: a.dataset.task}); }));
window.addEventListener('hashchange', apply);
apply();
"""


def render_html(view: RunView) -> str:
    """The whole report page."""
    counts = {name: sum(1 for t in view.tasks if name in ("all", t.outcome)) for name in FILTERS}
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>arcforge run report: {_e(view.submission.name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>arcforge run report</h1><div class='muted'>{_e(str(view.submission))}</div>",
        _scores_html(view),
        _sources_html(view),
        "<h2>Tasks</h2><div class='filters'>",
        *(
            f"<button data-filter='{name}'>{name} <span class='count'>{counts[name]}</span></button>"
            for name in FILTERS
        ),
        "</div>",
        "<div class='layout'><div class='table'>",
        _table_html(view.tasks),
        "</div><div class='detail'>",
        *(_task_html(task) for task in view.tasks),
        "</div></div>",
        f"<script type='application/json' id='grids'>{_grids_json(view.tasks)}</script>",
        f"<script>{_SCRIPT % {'palette': json.dumps(list(ARC_PALETTE))}}</script>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(view: RunView, path: Path) -> Path:
    """Write the page atomically (a reader never sees half a report)."""
    write_text_atomic(path, render_html(view))
    return path


def report_path_for(submission: Path) -> Path:
    return submission.with_name(submission.stem + ".report.html")


def _scores_html(view: RunView) -> str:
    if view.scores is None:
        return "<p class='muted'>No solutions known for these tasks: no scores.</p>"
    s = view.scores
    boxes = [
        ("Kaggle score", s.kaggle, f"{s.outputs_correct}/{s.outputs} test outputs"),
        ("per-task fraction", s.task_fraction, f"over {s.tasks} tasks"),
        ("tasks fully solved", s.tasks_fully_solved, f"{s.tasks_solved}/{s.tasks} tasks"),
    ]
    inner = "".join(
        f"<div class='score' data-score='{_e(name)}'>{_e(name)}<b>{value:.4f}</b>"
        f"<span class='muted'>{_e(note)}</span></div>"
        for name, value, note in boxes
    )
    return f"<div class='scores'>{inner}</div>"


def _sources_html(view: RunView) -> str:
    rows = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in view.sources.items())
    warnings = "".join(f"<li class='warn'>{_e(w)}</li>" for w in view.warnings[:20])
    return f"<ul class='muted sources'>{rows}{warnings}</ul>"


def _table_html(tasks: list[TaskView]) -> str:
    head = (
        "<table id='tasks'><thead><tr><th>task</th><th>state</th><th>seconds</th><th>train fitness</th>"
        "<th>correct</th><th>engine</th><th>found by</th></tr></thead><tbody>"
    )
    rows = []
    for t in tasks:
        correct = "" if t.correct is None else ("yes" if t.correct else "no")
        rows.append(
            f"<tr class='{t.outcome}' data-outcome='{t.outcome}' data-task='{_e(t.task_id)}'>"
            f"<td><a class='open' href='#task={_e(t.task_id)}' data-task='{_e(t.task_id)}'>{_e(t.task_id)}</a></td>"
            f"<td class='state'>{_e(t.state)}</td><td>{_num(t.seconds, 2)}</td><td>{_num(t.fitness, 3)}</td>"
            f"<td class='correct'>{correct}</td><td>{_e(t.engine or '')}</td><td>{_e(t.found_by or '')}</td></tr>"
        )
    return head + "".join(rows) + "</tbody></table>"


def _task_html(task: TaskView) -> str:
    program = (
        "<pre class='program'>"
        + "".join(_span(kind, text) for kind, text in highlight_python(task.program))
        + "</pre>"
        if task.program
        else "<p class='muted'>No program was recorded for this task.</p>"
    )
    error = f"<p class='warn error'>{_e(task.error)}</p>" if task.error else ""
    return (
        f"<section class='task' id='task-{_e(task.task_id)}' data-task='{_e(task.task_id)}' hidden>"
        f"<h2>{_e(task.task_id)} <span class='muted'>{_e(task.state)}, {task.outcome}</span></h2>{error}"
        f"<div class='grids' data-grids-for='{_e(task.task_id)}'></div><h3>Best program</h3>{program}</section>"
    )


def _grids_json(tasks: list[TaskView]) -> str:
    data = {
        t.task_id: {
            "train": [[i, o] for i, o in t.train],
            "tests": [
                {
                    "input": test.input,
                    "attempts": list(test.attempts),
                    "expected": test.expected,
                    "wrong": [sorted(wrong_cells(a, test.expected)) for a in test.attempts],
                }
                for test in t.tests
            ],
        }
        for t in tasks
    }
    # `</` cannot end the script element early once escaped.
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def _span(kind: str, text: str) -> str:
    return _e(text) if kind == "text" else f"<span class='{kind}'>{_e(text)}</span>"


def _num(value: float | None, digits: int) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
