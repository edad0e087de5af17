"""One self-contained HTML page from a profile: tables plus four plotly figures.

plotly.js is embedded in the page (``include_plotlyjs=True``, once), so the
report opens offline and can be mailed as one file. Plotly is imported here
only, when a report is written.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from neurocc.ir import Program

from .profile import ACTIVITY_COLUMNS, STRUCTURE_COLUMNS, Energy, EnergyEstimate, Profile

#: the raster shows at most this many spikes (one sample), so a page stays light
MAX_RASTER_POINTS = 100_000

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; font-size: 1.25em; }
.lede { background: #f4f7fb; border-left: 4px solid #4a78c2; padding: 0.8em 1em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #f0f0f0; }
tr.total td { font-weight: bold; border-top: 2px solid #999; }
.note { color: #7a4b00; background: #fff6e0; padding: 0.5em 0.8em; border-radius: 4px; }
.meta { color: #555; font-size: 0.9em; } code { background: #f2f2f2; padding: 0 0.2em; }
"""


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and v != v:
        return "-"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e12):
        return f"{int(v):,}"
    return f"{v:.4f}" if abs(v) < 1 else f"{v:,.1f}"


def _energy_unit(joules: float) -> tuple[str, float]:
    for unit, k in (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9)):
        if joules >= k:
            return unit, k
    return "pJ", 1e-12


def _table(rows: list[tuple[str, dict[str, Any]]], total_last: bool = True,
           cols: Any = ACTIVITY_COLUMNS + STRUCTURE_COLUMNS) -> str:
    head = "<tr><th>name</th>" + "".join(f"<th>{html.escape(h)}</th>" for _, h in cols) + "</tr>"
    body = []
    for i, (name, rec) in enumerate(rows):
        cls = ' class="total"' if total_last and i == len(rows) - 1 else ""
        body.append(f"<tr{cls}><td>{html.escape(name)}</td>"
                    + "".join(f"<td>{_fmt(rec[k])}</td>" for k, _ in cols) + "</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _raster(program: Program, result: Any, prof: Profile) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    offset = 0
    budget = MAX_RASTER_POINTS
    for name, g in program.groups.items():
        s = np.asarray(result.spikes[name])[:, 0, :] != 0        # sample 0: [T, n]
        t, n = np.nonzero(s)
        t, n = t[:budget], n[:budget]
        budget -= len(t)
        fig.add_trace(go.Scatter(x=t, y=n + offset, mode="markers", name=name,
                                 marker={"size": 7, "symbol": "line-ns-open", "line": {"width": 1.5}},
                                 hovertemplate=f"{html.escape(name)}<br>step %{{x}}"
                                               f"<br>neuron %{{customdata}}<extra></extra>",
                                 customdata=n))
        offset += g.size
        if offset < sum(gr.size for gr in program.groups.values()):
            fig.add_hline(y=offset - 0.5, line={"color": "#888", "width": 1, "dash": "dot"})
    dt_ms = f"; 1 step = {prof.dt * 1e3:g} ms" if prof.dt else ""
    fig.update_layout(title="Spike raster, sample 0 (one mark = one spike; dotted lines "
                            "separate the groups)", height=420,
                      xaxis_title=f"time step (0 to {prof.steps - 1}{dt_ms})",
                      yaxis_title="neuron (index across the network, groups stacked)",
                      legend_title="neuron group", margin={"t": 50})
    fig.update_xaxes(range=[-0.5, prof.steps - 0.5])
    fig.update_yaxes(range=[-0.5, offset - 0.5])
    return fig


def _sparsity(prof: Profile) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for layer, series in prof.layer_sparsity_over_time().items():
        fig.add_trace(go.Scatter(x=np.arange(prof.steps), y=series, mode="lines", name=layer))
    fig.update_layout(title=f"Activation sparsity per layer over time (mean of {prof.samples} "
                            "samples)", height=360, legend_title="layer",
                      xaxis_title="time step", margin={"t": 50},
                      yaxis_title="activation sparsity (fraction of neurons silent, 0 to 1)")
    fig.update_yaxes(range=[-0.02, 1.02])
    return fig


def _mesh(prof: Profile, target: Any) -> Any:
    import plotly.graph_objects as go

    cores = prof.cores
    mesh = getattr(getattr(target, "topology", None), "core_mesh", None)
    chips = sorted({c for c, _ in cores})
    mx, my = mesh if mesh else (int(np.ceil(np.sqrt(max(k for _, k in cores) + 1))),) * 2
    grid = np.full((my, mx * len(chips)), np.nan)
    label = np.full(grid.shape, "", dtype=object)
    for i, chip in enumerate(chips):
        for core in range(mx * my):
            y, x = divmod(core, mx)
            label[y, i * mx + x] = f"chip {chip}<br>core {core}" if len(chips) > 1 else f"core {core}"
    for (chip, core), a in cores.items():
        y, x = divmod(core, mx)
        if y < my:
            grid[y, chips.index(chip) * mx + x] = a.spikes / prof.samples
    fig = go.Figure(go.Heatmap(z=grid, colorscale="Viridis", hoverongaps=False, xgap=2, ygap=2,
                               customdata=label, colorbar={"title": "spikes per sample"},
                               hovertemplate="%{customdata}<br>%{z} spikes/sample<extra></extra>"))
    fig.update_xaxes(showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(showgrid=False, zeroline=False, scaleanchor="x", autorange="reversed")
    fig.update_layout(plot_bgcolor="#eeeeee")
    fig.update_layout(title="Spikes per core on the chip mesh (blank: unused core)"
                            + (f"; chips {chips} side by side" if len(chips) > 1 else ""),
                      height=max(360, 40 * my + 120), xaxis_title="core x (mesh column)",
                      yaxis_title="core y (mesh row)", margin={"t": 50})
    return fig


def _energy(est: EnergyEstimate) -> Any:
    """Dynamic energy per layer, stacked by component; the static term is stated beside it
    (on a small network it dwarfs the rest and would flatten every layer's bar)."""
    import plotly.graph_objects as go

    dynamic = sum(est.layers.values(), Energy())
    unit, k = _energy_unit(dynamic.total)
    fig = go.Figure()
    for c in ("synops", "updates_active", "updates_idle", "spikes", "hops"):
        fig.add_trace(go.Bar(x=list(est.layers), y=[getattr(r, c) / k for r in est.layers.values()],
                             name=c))
    fig.update_layout(barmode="stack", height=380, margin={"t": 50}, legend_title="component",
                      title=f"Dynamic energy per sample by layer and component (sum "
                            f"{dynamic.total / k:.3g} {unit}; static not shown)",
                      xaxis_title="layer", yaxis_title=f"energy per sample ({unit})")
    return fig


def _figures(figures: dict[str, Any]) -> list[str]:
    lines = []
    for name, f in figures.items():
        if isinstance(f, dict):
            tags = "; ".join(str(f[k]) for k in ("role", "platform", "basis", "source") if k in f)
            lines.append(f"{name} = {f.get('value', '?')} {f.get('unit', '')} ({tags})")
        else:
            lines.append(f"{name} = {f}")
    return lines


def render(program: Program, result: Any, prof: Profile, est: EnergyEstimate,
           report: dict[str, Any], target: Any = None) -> str:
    """The page as a string."""
    figures = [("Spike raster", _raster(program, result, prof)),
               ("Sparsity over time", _sparsity(prof))]
    esc = html.escape
    pj = report["profile"]
    parts = [f"<h1>neurocc profile: {esc(report['artifact'])} on {esc(report['target'])}</h1>",
             f"<p class='meta'>input {esc(report['input']['file'])}: {prof.steps} time steps x "
             f"{prof.samples} samples, dt = {prof.dt} s. Generated by <code>neurocc profile</code>."
             "</p>",
             "<div class='lede'><b>What am I looking at?</b> The compiled network was run, bit for "
             "bit as the chip would compute it, on neurocc's emulator with the input above. This "
             "page counts what the chip would do: how many neurons fire (spikes; activation "
             "sparsity is the fraction of neuron-steps with no spike), how many synaptic "
             "operations the spikes trigger (each spike times the non-zero weights it reaches), "
             "how much memory the weights and neuron parameters take, where on the chip the "
             "activity happens, and what energy that costs when per-operation energy constants "
             "are known. Activity figures are per sample (one input sequence), following "
             "NeuroBench's definitions, counted on the integer program the chip runs. Plots are "
             "interactive: hover for values, drag to zoom, double-click to reset.</div>",
             "<h2>Per layer (per sample)</h2>",
             _table(list(pj["layers"].items()) + [("network", pj["network"])]),
             "<p class='meta'>spikes, synaptic ops, dense MACs, membrane updates: counts per "
             "sample; sparsities: fractions 0 to 1; memory: bytes at the chip's stored widths; "
             "mean hops: mesh links a spike crosses on average.</p>",
             "<p class='meta'>A layer's synaptic ops, dense MACs, weights and memory are those of "
             "the synapse blocks that feed it. Dense MACs: every connection every step, what a "
             "non-event-driven accelerator would compute.</p>"]
    body: list[str] = []
    for i, (title, fig) in enumerate(figures):
        body.append(f"<h2>{esc(title)}</h2>")
        body.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0),
                                config={"displaylogo": False}))
    parts += body
    parts.append("<h2>Activity on the chip</h2>")
    if prof.cores:
        parts.append(_mesh(prof, target).to_html(full_html=False, include_plotlyjs=False,
                                                 config={"displaylogo": False}))
        parts.append(_table([(f"chip {c['chip']} core {c['core']}", c) for c in pj["cores"]],
                            total_last=False))
        if pj["link_traffic"]:
            rows = "".join(f"<tr><td>{esc(r['from'])}</td><td>{esc(r['to'])}</td>"
                           f"<td>{_fmt(r['spikes'])}</td></tr>"
                           for r in sorted(pj["link_traffic"], key=lambda r: -r["spikes"])[:20])
            parts.append("<p>Busiest links (spikes per sample):</p><table><tr><th>from</th>"
                         f"<th>to</th><th>spikes</th></tr>{rows}</table>")
    else:
        parts.append("<p class='note'>The program is unplaced: no partition or placement pass "
                     "assigned its neuron groups to cores, so there is no per-core activity or "
                     "link traffic to show.</p>")
    parts.append("<h2>Energy</h2>")
    if est.available:
        total, static = est.total.total, est.static.static
        tu, tk = _energy_unit(total)
        parts.append(f"<p><b>Constants:</b> {esc(est.label)}</p>")
        parts.append(f"<p><b>Total per sample: {total / tk:.3g} {tu}</b>, of which static "
                     f"(chip power x run time) {static / tk:.3g} {tu} "
                     f"({100 * static / total if total else 0:.1f}%) and dynamic (activity) "
                     f"{(total - static) / tk:.3g} {tu}.</p>")
        parts.append(_energy(est).to_html(full_html=False, include_plotlyjs=False,
                                          config={"displaylogo": False}))
        rows = "".join(f"<tr><td>{esc(c.name)}</td><td>{c.value:g} {esc(c.unit)}</td>"
                       f"<td>{esc(c.basis)}</td><td style='text-align:left'>{esc(c.source)}</td>"
                       f"<td>{esc(c.confidence)}</td></tr>" for c in est.constants.values())
        parts.append("<table><tr><th>constant</th><th>value</th><th>basis</th><th>source</th>"
                     f"<th>confidence</th></tr>{rows}</table>")
        parts.append("<p>Assumptions:</p><ul>"
                     + "".join(f"<li>{esc(a)}</li>" for a in est.assumptions) + "</ul>")
    else:
        parts.append("<p class='note'><b>No energy estimate.</b> "
                     + "<br>".join(esc(a) for a in est.assumptions) + "</p>")
    if est.other_figures:
        parts.append("<details><summary>Other figures in the target file (system measurements "
                     "and other chips' figures, not used as per-op constants)</summary><ul>"
                     + "".join(f"<li>{esc(line)}</li>" for line in _figures(est.other_figures))
                     + "</ul></details>")
    notes = list(pj["notes"]) + [f"overflow: {line}" for line in report.get("overflow", [])]
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    title = f"neurocc profile: {report['artifact']}"
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
