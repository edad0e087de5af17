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
.caption { color: #333; font-size: 0.92em; margin: 0 0 1em 0; max-width: 60em; }
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


def _joules_text(joules: float) -> str:
    unit, k = _energy_unit(joules)
    return f"{joules / k:.3g} {unit}"


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
    lowest = min((float(np.nanmin(v)) for v in prof.layer_sparsity_over_time().values()
                  if np.size(v)), default=0.0)
    # a sparse network sits near 1: zoom in so layers can be told apart (the caption says so)
    fig.update_yaxes(range=[max(0.0, lowest - 0.05) if lowest > 0.5 else -0.02, 1.01])
    return fig


def _mesh(prof: Profile, target: Any) -> Any:
    import plotly.graph_objects as go

    cores = prof.cores
    mesh = getattr(getattr(target, "topology", None), "core_mesh", None)
    chips = sorted({c for c, _ in cores})
    mx, my = mesh if mesh else (int(np.ceil(np.sqrt(max(k for _, k in cores) + 1))),) * 2
    # rows below the last used one are empty: drawn, they would shrink the used cores to dots
    rows = min(my, max(k // mx for _, k in cores) + 1)
    grid = np.full((rows, mx * len(chips)), np.nan)
    label = np.full(grid.shape, "", dtype=object)
    text = np.full(grid.shape, "", dtype=object)
    layers_on: dict[tuple[int, int], list[str]] = {}
    for g, cc in prof.core_of.items():
        layers_on.setdefault(cc, [])
        if prof.layer_of[g] not in layers_on[cc]:
            layers_on[cc].append(prof.layer_of[g])
    for i, chip in enumerate(chips):
        for core in range(mx * rows):
            y, x = divmod(core, mx)
            label[y, i * mx + x] = (f"chip {chip} core {core}" if len(chips) > 1 else f"core {core}")
            label[y, i * mx + x] += "<br>unused"
    for (chip, core), a in cores.items():
        y, x = divmod(core, mx)
        if y < rows:
            spikes = a.spikes / prof.samples
            grid[y, chips.index(chip) * mx + x] = spikes
            name = f"chip {chip} core {core}" if len(chips) > 1 else f"core {core}"
            label[y, chips.index(chip) * mx + x] = (
                f"{name}<br>layers: {', '.join(layers_on.get((chip, core), []))}")
            text[y, chips.index(chip) * mx + x] = f"{core}<br>{spikes:,.0f}"
    fig = go.Figure(go.Heatmap(z=grid, colorscale="Viridis", hoverongaps=False, xgap=2, ygap=2,
                               zmin=0, zmax=max(float(np.nanmax(grid)), 1.0), text=text, texttemplate="%{text}",
                               textfont={"size": 10},
                               customdata=label, colorbar={"title": "spikes<br>per sample"},
                               hovertemplate="%{customdata}<br>%{z:,.1f} spikes per sample"
                                             "<extra></extra>"))
    fig.update_xaxes(showgrid=False, zeroline=False, constrain="domain", dtick=1)
    fig.update_yaxes(showgrid=False, zeroline=False, scaleanchor="x", autorange="reversed", dtick=1)
    fig.update_layout(plot_bgcolor="#eeeeee")
    fig.update_layout(title="Spikes per core on the chip mesh (number in a cell: core id, then "
                            "spikes per sample; grey: unused core)"
                            + (f"; chips {chips} side by side" if len(chips) > 1 else ""),
                      height=max(300, 60 * rows + 160),
                      xaxis_title=f"core x (mesh column, 0 to {mx - 1})",
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


def _constants_table(est: EnergyEstimate) -> str:
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(c.name)}</td><td>{c.value:g} {esc(c.unit)}</td>"
                   f"<td>{esc(c.basis)}</td><td style='text-align:left'>{esc(c.source)}</td>"
                   f"<td>{esc(c.confidence)}</td></tr>" for c in est.constants.values())
    return ("<table><tr><th>constant</th><th>value</th><th>basis</th>"
            "<th style='text-align:left'>source</th><th>confidence</th></tr>"
            f"{rows}</table><p class='meta'>basis: simulated (pre-silicon), measured, calibrated "
            "(fitted to silicon) or derived; confidence: V checked against the source's own text "
            "or code, Q transcribed with a page reference, C widely cited.</p>")


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
    dt_text = f" ({prof.dt * 1e3:g} ms each)" if prof.dt else ""
    figures = [("Spike raster", _raster(program, result, prof),
                f"Every spike of the first input sample: time step{dt_text} across, neuron down, "
                "one colour per neuron group (a layer, or a slice of a layer that the partitioner "
                "put on its own core). Empty columns are steps where nothing fired; a dense band is "
                "a busy layer."),
               ("Sparsity over time", _sparsity(prof),
                f"For each layer and time step, the fraction of its neurons that did NOT spike, "
                f"averaged over the {prof.samples} samples. 1 means silent; the closer to 1, the "
                "fewer synaptic operations and the less energy. The vertical axis is zoomed to the "
                "range the layers occupy.")]
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
    for i, (title, fig, caption) in enumerate(figures):
        body.append(f"<h2>{esc(title)}</h2>")
        body.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0),
                                config={"displaylogo": False}))
        body.append(f"<p class='caption'>{esc(caption)}</p>")
    parts += body
    parts.append("<h2>Activity on the chip</h2>")
    if prof.cores:
        used = len(prof.cores)
        mesh = getattr(getattr(target, "topology", None), "core_mesh", None)
        last_row = max(k for _, k in prof.cores) // mesh[0] if mesh else None
        hidden = (f" Rows {last_row + 1} to {mesh[1] - 1} of the {mesh[0]} x {mesh[1]} mesh hold "
                  "no used core and are not drawn." if mesh and last_row + 1 < mesh[1] else "")
        parts.append(_mesh(prof, target).to_html(full_html=False, include_plotlyjs=False,
                                                 config={"displaylogo": False}))
        parts.append(f"<p class='caption'>The chip's neurocores laid out as its mesh; each "
                     f"coloured cell is a core the compiler placed neurons on ({used} used), its "
                     "colour the spikes its neurons sent per sample. Spikes between cores travel "
                     "over the mesh links, one hop per link; hover a core for the layers on it. "
                     f"The table below gives every used core's figures.{hidden}</p>")
        parts.append(_table([(f"chip {c['chip']} core {c['core']}", c) for c in pj["cores"]],
                            total_last=False))
        if pj["link_traffic"]:
            rows = "".join(f"<tr><td>{esc(r['from'])}</td><td>{esc(r['to'])}</td>"
                           f"<td>{_fmt(r['spikes'])}</td></tr>"
                           for r in sorted(pj["link_traffic"], key=lambda r: -r["spikes"])[:20])
            parts.append("<p>Busiest mesh links (spikes per sample that cross each link; a "
                         "link joins two neighbouring cores, named by their (x, y) on the mesh):"
                         "</p><table><tr><th>from</th>"
                         f"<th>to</th><th>spikes</th></tr>{rows}</table>")
    else:
        parts.append("<p class='note'>The program is unplaced: no partition or placement pass "
                     "assigned its neuron groups to cores, so there is no per-core activity or "
                     "link traffic to show.</p>")
    parts.append("<h2>Energy</h2>")
    if est.available and est.method != "per-op":
        tu, tk = _energy_unit(est.total.total)
        parts.append(f"<p><b>Constants:</b> {esc(est.label)}</p>")
        parts.append(f"<p><b>Total per sample: {est.total.total / tk:.3g} {tu}</b> "
                     f"({esc(est.method)}). This is a system-power estimate, not a per-operation "
                     "model: the chip's measured power on another workload times how long this "
                     "run lasts. It does not change with this network's spikes or sparsity, so "
                     "there is no breakdown by layer.</p>")
        parts.append(_constants_table(est))
        parts.append("<p>Assumptions:</p><ul>"
                     + "".join(f"<li>{esc(a)}</li>" for a in est.assumptions) + "</ul>")
    elif est.available:
        total, static = est.total.total, est.static.static
        tu, tk = _energy_unit(total)
        parts.append(f"<p><b>Constants:</b> {esc(est.label)}</p>")
        parts.append(f"<p><b>Total per sample: {total / tk:.3g} {tu}</b>, of which static "
                     f"(chip power x run time) {static / tk:.3g} {tu} "
                     f"({100 * static / total if total else 0:.1f}%) and dynamic (activity) "
                     f"{_joules_text(total - static)}.</p>")
        parts.append(_energy(est).to_html(full_html=False, include_plotlyjs=False,
                                          config={"displaylogo": False}))
        parts.append("<p class='caption'>The energy the network's activity costs per sample, "
                     "per layer, split by what spends it: synaptic operations (a spike reaching a "
                     "weight), neuron updates (active: the membrane changed; idle: it did not), "
                     "spikes sent, and hops over mesh links. Each count above times its constant "
                     "below. The static power of the chip is stated above, not drawn: it would "
                     "dwarf every bar.</p>")
        parts.append(_constants_table(est))
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
