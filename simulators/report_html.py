"""One self-contained HTML page from a profile: tables plus four plotly figures.

plotly.js is embedded in the page (``include_plotlyjs=True``, once), so the
report opens offline and can be mailed as one file. Plotly is imported here
only, when a report is written.

The page is written for someone who has never used neurocc: every table column has
a definition (a tooltip on its header and a glossary under the table), every figure
a title, labelled axes and a caption saying how to read it, and the energy section
says in words what kind of estimate it is (BORROWED constants, a system-power
estimate, the user's own constants) before giving any figure.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from neurocc.ir import Program

from .profile import (ACTIVITY_COLUMNS, ENERGY_TERMS, STRUCTURE_COLUMNS, Energy, EnergyEstimate,
                      Profile)

#: the raster shows at most this many spikes (one sample), so a page stays light
MAX_RASTER_POINTS = 100_000

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; font-size: 1.25em; }
.lede { background: #f4f7fb; border-left: 4px solid #4a78c2; padding: 0.8em 1em; }
.lede ul { margin: 0.3em 0 0.3em 0; padding-left: 1.3em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; white-space: nowrap; }
td.text, th.text { text-align: left; } th { background: #f0f0f0; }
td.nowrap { white-space: nowrap; }
th[title] { cursor: help; text-decoration: underline dotted #999; }
tr.total td { font-weight: bold; border-top: 2px solid #999; }
.note { color: #7a4b00; background: #fff6e0; padding: 0.5em 0.8em; border-radius: 4px; }
.kind { border-left: 4px solid #c77d00; background: #fff6e0; padding: 0.6em 1em; }
.badge { display: inline-block; font-weight: bold; font-size: 0.85em; letter-spacing: 0.03em;
         color: #fff; background: #c77d00; border-radius: 3px; padding: 0.05em 0.5em; }
.meta { color: #555; font-size: 0.9em; } code { background: #f2f2f2; padding: 0 0.2em; }
.caption { color: #333; font-size: 0.92em; margin: 0 0 1em 0; max-width: 60em; }
dl.glossary { font-size: 0.88em; color: #444; display: grid; grid-template-columns: max-content 1fr;
              gap: 0.15em 1em; margin: 0.4em 0 1em 0; }
dl.glossary dt { font-weight: bold; } dl.glossary dd { margin: 0; }
details summary { cursor: pointer; }
"""

#: what each table column means, in words (header tooltip and glossary)
COLUMN_HELP = {
    "spikes": "spikes the neurons sent, per sample (mean over the samples, hence decimals)",
    "activation_sparsity": "activation sparsity: fraction of neuron-steps with no spike, 0 to 1 "
                           "(1 = silent; higher means less work for the chip)",
    "synaptic_ops": "synaptic operations: each incoming spike times the non-zero weights it "
                    "reaches, per sample; the work an event-driven chip actually does",
    "dense_macs": "dense multiply-accumulates: every connection every step, per sample; what a "
                  "non-event-driven accelerator (e.g. a GPU) would compute for the same layer",
    "membrane_updates": "neuron-steps in which a neuron's membrane voltage changed (or it "
                        "spiked), per sample",
    "mean_hops": "mesh links crossed per spike, on average, summed over the packets it sends "
                 "(one per core it feeds); 0: it stays on its own core, or the program is not "
                 "placed",
    "neurons": "neurons in the layer or on the core",
    "weights": "connections (synapses) stored, zero or not",
    "connection_sparsity": "connection sparsity: fraction of the stored weights that are zero, "
                           "0 to 1",
    "footprint_bytes": "memory the weights, neuron parameters and neuron state take at the "
                       "chip's stored bit widths, in bytes",
    "layers": "the layers whose neurons the compiler placed on this core",
}

#: the energy components (Energy's fields), in words
COMPONENTS = {"synops": "synaptic ops", "updates_active": "neuron updates, active",
              "updates_idle": "neuron updates, idle", "spikes": "spikes sent",
              "hops": "hops over mesh links"}


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
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


def _seconds_text(seconds: float) -> str:
    """1.0 -> '1 s', 0.001 -> '1 ms', 1e-4 -> '100 µs'."""
    for unit, k in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= k:
            return f"{seconds / k:.4g} {unit}"
    return f"{seconds / 1e-9:.4g} ns"


def _step_text(prof: Profile) -> str:
    """'1 step = 1 ms' or '' without a dt."""
    return f"1 step = {_seconds_text(prof.dt)}" if prof.dt else ""


def _table(rows: list[tuple[str, dict[str, Any]]], total_last: bool = True,
           cols: Any = ACTIVITY_COLUMNS + STRUCTURE_COLUMNS, first: str = "name") -> str:
    def th(key: str, label: str) -> str:
        tip = COLUMN_HELP.get(key)
        cls = " class='text'" if key == "layers" else ""
        return (f"<th{cls} title='{html.escape(tip, quote=True)}'>{html.escape(label)}</th>" if tip
                else f"<th{cls}>{html.escape(label)}</th>")

    head = f"<tr><th>{html.escape(first)}</th>" + "".join(th(k, h) for k, h in cols) + "</tr>"
    body = []
    for i, (name, rec) in enumerate(rows):
        cls = ' class="total"' if total_last and i == len(rows) - 1 else ""
        body.append(f"<tr{cls}><td>{html.escape(name)}</td>"
                    + "".join((f"<td class='text'>{html.escape(_fmt(rec[k]))}</td>"
                               if isinstance(rec[k], str) else f"<td>{_fmt(rec[k])}</td>")
                              for k, _ in cols) + "</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _glossary(cols: Any) -> str:
    return ("<dl class='glossary'>"
            + "".join(f"<dt>{html.escape(label)}</dt><dd>{html.escape(COLUMN_HELP[key])}</dd>"
                      for key, label in cols if key in COLUMN_HELP)
            + "</dl>")


def _is_slice(prof: Profile, group: str) -> bool:
    return prof.layer_of.get(group, group) != group


def _raster(program: Program, result: Any, prof: Profile) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    offset = 0
    budget = MAX_RASTER_POINTS
    total = sum(gr.size for gr in program.groups.values())
    for name, g in program.groups.items():
        s = np.asarray(result.spikes[name])[:, 0, :] != 0        # sample 0: [T, n]
        t, n = np.nonzero(s)
        t, n = t[:budget], n[:budget]
        budget -= len(t)
        layer = prof.layer_of.get(name, name)
        what = (f"layer {layer}, a slice of it" if _is_slice(prof, name) else f"layer {layer}")
        core = prof.core_of.get(name)
        where = f", chip {core[0]} core {core[1]}" if core else ""
        fig.add_trace(go.Scatter(x=t, y=n + offset, mode="markers", name=name,
                                 marker={"size": 7, "symbol": "line-ns-open", "line": {"width": 1.5}},
                                 hovertemplate=f"group {html.escape(name)} ({html.escape(what)}"
                                               f"{where})<br>step %{{x}}"
                                               f"<br>neuron %{{customdata}} of the group"
                                               "<extra></extra>",
                                 customdata=n))
        offset += g.size
        if offset < total:
            fig.add_hline(y=offset - 0.5, line={"color": "#888", "width": 1, "dash": "dot"})
    step = _step_text(prof)
    fig.update_layout(title="Spike raster of input sample 0 (one mark = one spike)", height=440,
                      xaxis_title=f"time step (0 to {prof.steps - 1}"
                                  + (f"; {step})" if step else ")"),
                      yaxis_title="neuron (groups stacked)",
                      legend_title="neuron group", margin={"t": 50})
    fig.update_xaxes(range=[-0.5, prof.steps - 0.5])
    fig.update_yaxes(range=[-0.5, offset - 0.5])
    return fig


def _sparsity_floor(prof: Profile) -> float:
    lowest = min((float(np.nanmin(v)) for v in prof.layer_sparsity_over_time().values()
                  if np.size(v)), default=0.0)
    # a sparse network sits near 1: zoom in so layers can be told apart (the caption says so)
    return max(0.0, lowest - 0.05) if lowest > 0.5 else -0.02


def _sparsity(prof: Profile) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for layer, series in prof.layer_sparsity_over_time().items():
        fig.add_trace(go.Scatter(x=np.arange(prof.steps), y=series, mode="lines", name=layer,
                                 hovertemplate=f"layer {html.escape(layer)}<br>step %{{x}}<br>"
                                               "sparsity %{y:.4f}<extra></extra>"))
    step = _step_text(prof)
    fig.update_layout(title=f"Activation sparsity per layer over time (mean of {prof.samples} "
                            "samples)", height=400, legend_title="layer",
                      xaxis_title="time step" + (f" ({step})" if step else ""), margin={"t": 50},
                      yaxis_title="fraction of neurons silent")
    fig.update_yaxes(range=[_sparsity_floor(prof), 1.01])
    return fig


def _layers_on(prof: Profile) -> dict[tuple[int, int], list[str]]:
    layers_on: dict[tuple[int, int], list[str]] = {}
    for g, cc in prof.core_of.items():
        layers_on.setdefault(cc, [])
        if prof.layer_of[g] not in layers_on[cc]:
            layers_on[cc].append(prof.layer_of[g])
    return layers_on


def _short(names: list[str], width: int = 16) -> str:
    text = ", ".join(names)
    return text if len(text) <= width else text[: width - 1] + "…"


def _mesh(prof: Profile, target: Any) -> Any:
    import plotly.graph_objects as go

    cores = prof.cores
    mesh = getattr(getattr(target, "topology", None), "core_mesh", None)
    chips = sorted({c for c, _ in cores})
    mx, my = mesh if mesh else (int(np.ceil(np.sqrt(max(k for _, k in cores) + 1))),) * 2
    # rows below the last used one are empty: drawn, they would shrink the used cores to dots
    rows = min(my, max(k // mx for _, k in cores) + 1)
    width = mx * len(chips)
    roomy = width <= 12                       # cells wide enough for the layers' names
    used = np.full((rows, width), np.nan)
    unused = np.full((rows, width), np.nan)
    label = np.full(used.shape, "", dtype=object)
    text = np.full(used.shape, "", dtype=object)
    layers_on = _layers_on(prof)

    def name(chip: int, core: int) -> str:
        return f"chip {chip} core {core}" if len(chips) > 1 else f"core {core}"

    for i, chip in enumerate(chips):
        for core in range(mx * rows):
            y, x = divmod(core, mx)
            unused[y, i * mx + x] = 0.0
            label[y, i * mx + x] = f"{name(chip, core)}<br>unused: no neurons placed here"
            text[y, i * mx + x] = f"{core}"
    for (chip, core), a in cores.items():
        y, x = divmod(core, mx)
        if y < rows:
            spikes = a.spikes / prof.samples
            col = chips.index(chip) * mx + x
            used[y, col], unused[y, col] = spikes, np.nan
            on = layers_on.get((chip, core), [])
            label[y, col] = (f"{name(chip, core)}<br>layer{'s' if len(on) > 1 else ''}: "
                             f"{', '.join(on)}")
            text[y, col] = (f"core {core}<br>layer{'s' if len(on) > 1 else ''} {_short(on)}"
                            f"<br>{spikes:,.0f} spikes" if roomy else f"{core}<br>{spikes:,.0f}")
    grey = [[0, "#dcdcdc"], [1, "#dcdcdc"]]
    fig = go.Figure([
        go.Heatmap(z=unused, colorscale=grey, showscale=False, hoverongaps=False, xgap=3, ygap=3,
                   text=np.where(np.isnan(unused), "", text), texttemplate="%{text}",
                   textfont={"size": 10, "color": "#777"}, customdata=label,
                   hovertemplate="%{customdata}<extra></extra>"),
        go.Heatmap(z=used, colorscale="Viridis", hoverongaps=False, xgap=3, ygap=3,
                   zmin=0, zmax=max(float(np.nanmax(used)), 1.0),
                   text=np.where(np.isnan(used), "", text), texttemplate="%{text}",
                   textfont={"size": 11 if roomy else 9}, customdata=label,
                   colorbar={"title": "spikes sent<br>per sample"},
                   hovertemplate="%{customdata}<br>%{z:,.1f} spikes sent per sample"
                                 "<extra></extra>")])
    ticks = list(range(width))
    fig.update_xaxes(showgrid=False, zeroline=False, constrain="domain", tickvals=ticks,
                     ticktext=[str(t % mx) for t in ticks], range=[-0.5, width - 0.5])
    fig.update_yaxes(showgrid=False, zeroline=False, scaleanchor="x", autorange="reversed",
                     tickvals=list(range(rows)), range=[rows - 0.5, -0.5])
    for i in range(1, len(chips)):
        fig.add_vline(x=i * mx - 0.5, line={"color": "#c00", "width": 2})
    if len(chips) > 1:
        for i, chip in enumerate(chips):
            fig.add_annotation(x=i * mx + (mx - 1) / 2, y=-0.5, yshift=12, showarrow=False,
                               text=f"chip {chip}")
    shape = f"{mesh[0]} x {mesh[1]}" if mesh else f"{mx} x {my}"
    fig.update_layout(plot_bgcolor="#ffffff",
                      title=f"Spikes sent per core, on {'each' if len(chips) > 1 else 'the'} "
                            f"chip's {shape} core mesh"
                            + (" (top rows only)" if rows < my else "")
                            + (f"; chips {', '.join(map(str, chips))} side by side"
                               if len(chips) > 1 else ""),
                      height=max(320, (110 if roomy else 60) * rows + 200),
                      xaxis_title=f"core x (mesh column, 0 to {mx - 1})",
                      yaxis_title="core y (mesh row)", margin={"t": 60})
    return fig


def _energy(est: EnergyEstimate, kind: str) -> Any:
    """Dynamic energy per layer, stacked by component; the static term is stated beside it
    (on a small network it dwarfs the rest and would flatten every layer's bar)."""
    import plotly.graph_objects as go

    dynamic = sum(est.layers.values(), Energy())
    unit, k = _energy_unit(dynamic.total)
    fig = go.Figure()
    layers = list(est.layers)
    for c, words in COMPONENTS.items():
        fig.add_trace(go.Bar(x=layers, y=[getattr(r, c) / k for r in est.layers.values()],
                             name=words, hovertemplate=f"layer %{{x}}<br>{words}: %{{y:.3g}} "
                                                       f"{unit}<extra></extra>"))
    # each bar's total above it: a layer whose bar is too small to see still shows its figure
    dyn = [sum(getattr(r, c) for c in COMPONENTS) for r in est.layers.values()]
    fig.add_trace(go.Scatter(x=layers, y=[d / k for d in dyn], mode="text",
                             text=[_joules_text(d) for d in dyn], textposition="top center",
                             showlegend=False, hoverinfo="skip"))
    fig.update_layout(barmode="stack", height=420, margin={"t": 60}, legend_title="spent on",
                      title=f"Dynamic energy per sample by layer ({kind}; sum "
                            f"{dynamic.total / k:.3g} {unit})",
                      xaxis_title="layer", yaxis_title=f"dynamic energy per sample ({unit})")
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, max(dyn, default=0.0) / k * 1.15 or 1.0])
    return fig


def _constants_table(est: EnergyEstimate) -> str:
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(c.name)}</td><td class='text'>"
                   f"{esc(ENERGY_TERMS[c.name][1] if c.name in ENERGY_TERMS else '')}</td>"
                   f"<td class='nowrap'>{c.value:g} {esc(c.unit)}</td>"
                   f"<td>{esc(c.basis)}</td><td class='text'>{esc(c.source)}</td>"
                   f"<td>{esc(c.confidence)}</td></tr>" for c in est.constants.values())
    return ("<table><tr><th>constant</th><th class='text'>what it is</th><th>value</th>"
            "<th>basis</th><th class='text'>source</th><th>confidence</th></tr>"
            f"{rows}</table><p class='meta'>basis: how the source obtained the figure: simulated "
            "(pre-silicon), measured (on silicon), calibrated (fitted to silicon), derived (worked "
            "out from other published figures) or user (given on the command line or in your own "
            "file). confidence: V checked against the source's own text or code, Q transcribed "
            "with a page reference, C widely cited, user given by you.</p>")


def _kind(est: EnergyEstimate, target_name: str) -> tuple[str, str]:
    """(badge, explanation) of the kind of estimate, from its label."""
    label = est.label
    user = "user constants" in label or "overridden on the command line" in label
    also_user = (" Some constants were given by you (basis 'user' in the constants table) and "
                 "replace the published ones." if user else "")
    if "SYSTEM-POWER ESTIMATE" in label:
        return ("SYSTEM-POWER ESTIMATE",
                "This is a system-power estimate, not a per-operation model: a chip's "
                "whole-system power, measured by its authors on their own workload, multiplied "
                "by how long this run lasts. It is not built from this network's operations: it "
                "does not change with the spikes, synaptic ops or sparsity above, so it has no "
                "breakdown by layer. Read it as the order of magnitude of that chip's energy for "
                "a run this long." + also_user)
    if "BORROWED" in label:
        return ("BORROWED",
                f"The operation counts are this {target_name} program's, but the energy per "
                "operation comes from another chip's published figures (see the constants "
                "table), because none are published for this one. The result is an estimate "
                f"of what the work would cost at the other chip's prices, not a measured or "
                f"expected {target_name} figure; use it to compare networks or settings, not as "
                "a prediction." + also_user)
    if user:
        return ("YOUR CONSTANTS",
                "Some or all constants were given by you (basis 'user' in the table below); the "
                "estimate is only as good as they are.")
    return ("ESTIMATE", "A model estimate from per-operation energy constants, not a measurement.")


def _energy_section(est: EnergyEstimate, prof: Profile, target_name: str) -> list[str]:
    esc = html.escape
    parts: list[str] = []
    if not est.available:
        return ["<p class='note'><b>No energy estimate.</b> "
                + "<br>".join(esc(a) for a in est.assumptions) + "</p>"]
    badge, why = _kind(est, target_name)
    parts.append(f"<div class='kind'><span class='badge'>{esc(badge)}</span> "
                 f"<b>What kind of figure this is.</b> {esc(why)}"
                 f"<br><span class='meta'>Constants used: {esc(est.label)}</span></div>")
    run = (f" T = {prof.steps} steps x {_seconds_text(prof.dt)} = "
           f"{_seconds_text(prof.steps * prof.dt)} per sample." if prof.dt else "")
    if est.method != "per-op":
        tu, tk = _energy_unit(est.total.total)
        parts.append(f"<p><b>Total per sample: {est.total.total / tk:.3g} {tu}</b> "
                     f"({esc(est.method)}).{esc(run)}</p>")
    else:
        total, static = est.total.total, est.static.static
        tu, tk = _energy_unit(total)
        share = 100 * static / total if total else 0.0
        parts.append(f"<p><b>Total per sample: {total / tk:.3g} {tu}</b>, the sum of two parts:"
                     "</p><ul>"
                     f"<li><b>dynamic (activity): {_joules_text(total - static)}</b>, the "
                     "network's spikes, synaptic ops and neuron updates times the energy of each; "
                     "the part that the network's sparsity controls, drawn by layer below;</li>"
                     f"<li><b>static (chip power x run time): {static / tk:.3g} {tu} "
                     f"({share:.1f}%)</b>, what the chip draws just by being on for the run, "
                     "whatever the network does"
                     + (f" (P x T x chips; the assumptions below give the figures).{esc(run)}"
                        if prof.dt else ": not counted, the program has no dt and so the run "
                        "has no duration.") + "</li></ul>")
        if share > 50:
            parts.append("<p class='note'>Static energy is most of the total here: at this step "
                         "length the chip spends more on staying on than on the network's "
                         "activity. It grows with dt (set when compiling, <code>--dt</code>): if "
                         "a time step is not a real duration (an abstract simulation step), the "
                         "static part and the total mean nothing, while the dynamic part, which "
                         "does not depend on dt, still holds.</p>")
        parts.append(_energy(est, {"BORROWED": "BORROWED constants",
                                   "YOUR CONSTANTS": "your constants"}.get(badge, "estimate"))
                     .to_html(full_html=False, include_plotlyjs=False,
                              config={"displaylogo": False}))
        parts.append("<p class='caption'>The energy the network's activity costs per sample, "
                     "per layer (the number above each bar is its sum), split by what spends it: "
                     "synaptic operations (a spike reaching a weight), neuron updates (active: the "
                     "membrane changed; idle: it did not), spikes sent, and hops over mesh links. "
                     "Each is a count from the tables above times its constant below. The static "
                     "part is stated above, not drawn: it would dwarf every bar.</p>")
    parts.append("<h3>Constants</h3>")
    parts.append(_constants_table(est))
    parts.append("<h3>How it was computed (assumptions)</h3><ul>"
                 + "".join(f"<li>{esc(a)}</li>" for a in est.assumptions) + "</ul>")
    return parts


def _figures(figures: dict[str, Any]) -> list[str]:
    lines = []
    for name, f in figures.items():
        if isinstance(f, dict):
            tags = "; ".join(str(f[k]) for k in ("role", "platform", "basis", "source") if k in f)
            lines.append(f"{name} = {f.get('value', '?')} {f.get('unit', '')} ({tags})")
        else:
            lines.append(f"{name} = {f}")
    return lines


def _lede(prof: Profile, report: dict[str, Any], est: EnergyEstimate) -> str:
    net = report["profile"]["network"]
    cores = len(prof.cores)
    where = (f"on {cores} core{'s' if cores != 1 else ''} of the chip" if cores
             else "(not placed on cores)")
    if est.available:
        badge, _ = _kind(est, str(report["target"]))
        what = {"BORROWED": "an estimate with <b>BORROWED</b> constants",
                "SYSTEM-POWER ESTIMATE": "a <b>SYSTEM-POWER ESTIMATE</b>",
                "YOUR CONSTANTS": "an estimate with <b>your constants</b>"
                }.get(badge, "an estimate")
        energy = (f"{what}, {_joules_text(est.total.total)} per sample"
                  + (f", of which {_joules_text(est.total.total - est.static.static)} from the "
                     "network's activity" if est.method == "per-op" else "")
                  + " (the Energy section says what kind of figure this is)")
    else:
        energy = "not estimated (the Energy section says why)"
    return (
        "<div class='lede'><b>What am I looking at?</b> The compiled network was run, bit for "
        "bit as the chip would compute it, on neurocc's emulator with the input above. This page "
        "counts what the chip would do, per sample (one input sequence, averaged over the "
        "samples), following NeuroBench's definitions and counted on the integer program the "
        "chip runs. In short, per sample:<ul>"
        f"<li>the network's neurons sent <b>{_fmt(net['spikes'])} spikes</b> "
        f"{where}; <b>activation sparsity {_fmt(net['activation_sparsity'])}</b> is the fraction "
        "of neuron-steps with no spike (1 = silent);</li>"
        f"<li>those spikes triggered <b>{_fmt(net['synaptic_ops'])} synaptic operations</b> "
        "(each spike times the non-zero weights it reaches), the work an event-driven chip does; "
        f"a conventional accelerator would compute {_fmt(net['dense_macs'])} dense "
        "multiply-accumulates for the same network;</li>"
        f"<li>weights, parameters and state take {_fmt(net['footprint_bytes'])} bytes;</li>"
        f"<li>energy: {energy}.</li></ul>"
        "Sections: <a href='#layers'>per layer</a>, <a href='#raster'>spike raster</a>, "
        "<a href='#sparsity'>sparsity over time</a>, <a href='#chip'>activity on the chip</a>, "
        "<a href='#energy'>energy</a>. Hover a column header for its definition. Plots are "
        "interactive: hover for values, drag to zoom, double-click to reset, click a legend "
        "entry to hide it.</div>")


def render(program: Program, result: Any, prof: Profile, est: EnergyEstimate,
           report: dict[str, Any], target: Any = None) -> str:
    """The page as a string."""
    step = f" ({_step_text(prof)})" if prof.dt else ""
    sliced = any(_is_slice(prof, g) for g in program.groups)
    floor = _sparsity_floor(prof)
    figures = [("raster", "Spike raster", _raster(program, result, prof),
                f"Every spike of the first input sample: time step{step} along the horizontal "
                "axis, neurons up the vertical one, one mark per spike and one colour per neuron "
                "group. The groups are stacked bottom to top in the legend's order, separated by "
                "dotted lines. A group is a layer"
                + (", or a slice of a layer that the partitioner put on its own core: a name "
                   "like 3@1 is slice 1 of layer 3" if sliced else "")
                + ". Empty columns are steps where nothing fired; a dense band is a busy layer."),
               ("sparsity", "Sparsity over time", _sparsity(prof),
                f"For each layer and time step, the fraction of its neurons that did NOT spike "
                f"(activation sparsity), averaged over the {prof.samples} samples. 1 means "
                "silent; the closer to 1, the fewer synaptic operations and the less energy. "
                + (f"The vertical axis starts at {floor:.2f}, not 0, so that the layers can be "
                   "told apart." if floor > 0 else ""))]
    esc = html.escape
    pj = report["profile"]
    run = (f"{prof.steps} time steps of {_seconds_text(prof.dt)} "
           f"({_seconds_text(prof.steps * prof.dt)} per sample)" if prof.dt
           else f"{prof.steps} time steps (no dt: no duration)")
    cols = ACTIVITY_COLUMNS + STRUCTURE_COLUMNS
    parts = [f"<h1>neurocc profile: {esc(report['artifact'])} on {esc(report['target'])}</h1>",
             f"<p class='meta'>input {esc(report['input']['file'])}: {prof.samples} samples x "
             f"{esc(run)}. Generated by <code>neurocc profile</code>.</p>",
             _lede(prof, report, est),
             "<h2 id='layers'>Per layer (per sample)</h2>",
             _table(list(pj["layers"].items()) + [("network", pj["network"])], first="layer"),
             "<p class='meta'>Activity columns are per sample: mean counts over the "
             f"{prof.samples} samples, hence the decimals. A layer's synaptic ops, dense MACs, "
             "weights and memory are those of the synapse blocks that feed it. The last row is "
             "the whole network.</p>",
             _glossary(cols)]
    body: list[str] = []
    for i, (anchor, title, fig, caption) in enumerate(figures):
        body.append(f"<h2 id='{anchor}'>{esc(title)}</h2>")
        body.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0),
                                config={"displaylogo": False}))
        body.append(f"<p class='caption'>{esc(caption)}</p>")
    parts += body
    parts.append("<h2 id='chip'>Activity on the chip</h2>")
    if prof.cores:
        used = len(prof.cores)
        mesh = getattr(getattr(target, "topology", None), "core_mesh", None)
        last_row = max(k for _, k in prof.cores) // mesh[0] if mesh else None
        hidden = (f" Rows {last_row + 1} to {mesh[1] - 1} of the {mesh[0]} x {mesh[1]} mesh hold "
                  "no used core and are not drawn." if mesh and last_row + 1 < mesh[1] else "")
        numbering = (f" A core's id is its row x {mesh[0]} + its column." if mesh else "")
        parts.append(_mesh(prof, target).to_html(full_html=False, include_plotlyjs=False,
                                                 config={"displaylogo": False}))
        parts.append(f"<p class='caption'>A chip is a grid (mesh) of neurocores, each with its "
                     "own neurons and synapse memory; the compiler places every layer, or slice "
                     "of one, on a core. Each cell here is a core at its place on the mesh: "
                     f"coloured if the compiler put neurons on it ({used} used), its colour and "
                     "number the spikes its neurons sent per sample; grey if unused (number: its "
                     f"core id).{numbering} A spike bound for another core travels over the "
                     "links between neighbouring cores, one hop per link: placing layers that "
                     f"talk to each other close together saves hops.{hidden} Hover a core for "
                     "its layers; the table below gives every used core's figures.</p>")
        layers_on = _layers_on(prof)
        core_cols = (("layers", "layers"),) + cols
        parts.append(_table([(f"chip {c['chip']} core {c['core']}",
                              c | {"layers": ", ".join(layers_on.get((c["chip"], c["core"]), []))})
                             for c in pj["cores"]], total_last=False, cols=core_cols,
                            first="core"))
        if pj["link_traffic"]:
            rows = "".join(f"<tr><td>{esc(r['from'])}</td><td>{esc(r['to'])}</td>"
                           f"<td>{_fmt(r['spikes'])}</td></tr>"
                           for r in sorted(pj["link_traffic"], key=lambda r: -r["spikes"])[:20])
            shown = min(20, len(pj["link_traffic"]))
            parts.append("<p>Busiest mesh links: the spikes per sample that cross each link on "
                         "their way between cores. A link joins two neighbouring cores, named "
                         "by their (x, y) position on the mesh (column, row), or by core id; "
                         f"{shown} of {len(pj['link_traffic'])} links, busiest first.</p>"
                         "<table><tr><th>from core</th><th>to core</th>"
                         f"<th>spikes per sample</th></tr>{rows}</table>")
    else:
        parts.append("<p class='note'>The program is unplaced: no partition or placement pass "
                     "assigned its neuron groups to cores, so there is no per-core activity or "
                     "link traffic to show.</p>")
    parts.append("<h2 id='energy'>Energy</h2>")
    parts += _energy_section(est, prof, str(report["target"]))
    if est.other_figures:
        parts.append("<details><summary>Other figures in the target file (system measurements "
                     "and other chips' figures, for comparison only; not used in the estimate)"
                     "</summary><ul>"
                     + "".join(f"<li>{esc(line)}</li>" for line in _figures(est.other_figures))
                     + "</ul></details>")
    overflow = report.get("overflow", [])
    notes = list(pj["notes"]) + [f"overflow: {line}" for line in overflow]
    if notes:
        intro = ("<p class='meta'>What the count or the run flagged."
                 + (" <b>overflow</b>: an integer state of the neuron (current u, membrane "
                    "voltage v) went past what its stored bits can hold, and was clipped "
                    "(saturated) or wrapped, as the chip would do it; the counts above include "
                    "this. Many such events can mean the network behaves differently from the "
                    "model it was compiled from (see <code>neurocc verify</code>)."
                    if overflow else "") + "</p>")
        parts.append("<h2>Notes</h2>" + intro + "<ul>"
                     + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    title = f"neurocc profile: {report['artifact']}"
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
