"""Xylo's design rules: small named checks of a Program, each line with its fix.

``ChipTarget.validate`` raises them together, before anything is written.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from neurocc.ir import Program

from .kernel import HIDDEN, READOUT
from .spec import layout, matrix_of


def _models(program: Program, t: Any) -> list[str]:
    return [f"rule 'neuron models': group '{g.name}' has model '{g.model}'; {t.name} runs "
            f"{HIDDEN} (hidden) and {READOUT} (readout) neurons: compile the model for it"
            for g in program.groups.values() if g.model not in (HIDDEN, READOUT)]


def _layers(program: Program, t: Any) -> list[str]:
    where = layout(program)
    out = []
    if not where.hidden or not where.readout:
        out.append(f"rule 'at least two neuron layers': {len(where.hidden)} hidden and "
                   f"{len(where.readout)} readout group(s); a Xylo network is hidden neurons "
                   "feeding readout neurons: add the missing layer")
    for p in program.outputs:
        if p.kind != "spikes" or any(g not in where.readout for g in p.groups):
            out.append(f"rule 'outputs come from readout neurons': output '{p.name}' reads "
                       f"{p.kind} of {list(p.groups)}; Xylo reports its readout neurons' spikes: "
                       "read the spikes of the last layer")
    return out


def _wiring(program: Program, t: Any) -> list[str]:
    where = layout(program)
    out = []
    fix = {"in->readout": "'inputs reach hidden neurons only': put a hidden layer between them",
           "from-readout": "'readout neurons not recurrent': readout spikes go nowhere else; "
                           "remove the block",
           "from-constant": "'no constant sources': Xylo has a bias per neuron instead; "
                            "compile the model again"}
    seen: dict[str, int] = {}
    for b in program.synapses:
        kind = matrix_of(b, where)
        if kind in fix:
            out.append(f"rule {fix[kind].split(':')[0]}: block '{b.name}' ({b.source} -> "
                       f"{b.target}):{fix[kind].split(':', 1)[1]}")
            continue
        if b.delay:
            out.append(f"rule 'no delays': block '{b.name}' has delay {b.delay}; Xylo delivers "
                       "every event after its fixed latency: remove the delay")
        # presynaptic order: input channels, then hidden neurons by index, per target
        rank = (where.inputs[b.source][0] if b.source in where.inputs
                else (1 << 20) + where.hidden[b.source][0])
        if rank < seen.get(b.target, -1):
            out.append(f"rule 'presynaptic order': block '{b.name}' comes after a block from a "
                       f"later source into '{b.target}'; list a group's blocks inputs first, "
                       "then by hidden index (the chip's event order)")
        seen[b.target] = max(seen.get(b.target, -1), rank)
    return out


def _capacities(program: Program, t: Any) -> list[str]:
    n_in, n_hid, n_out = layout(program).sizes
    net = t.network
    out = []
    for what, got, most, fix in (
            ("input channels", n_in, net.max_input_channels, "reduce the inputs (pool or select "
             "channels) before the first layer"),
            ("hidden neurons", n_hid, net.max_hidden_neurons, "shrink the hidden layers"),
            ("readout neurons", n_out, net.max_output_neurons, "reduce the outputs (classes)")):
        if most and got > most:
            out.append(f"rule 'capacity': {got} {what}, {t.name} has {most}; {fix}")
    return out


def _windows(program: Program, t: Any) -> list[str]:
    f, where = t.formats, layout(program)
    n_hid = where.sizes[1]
    out = []
    for b in program.synapses:
        kind = matrix_of(b, where)
        if kind == "in" and f.input_window:
            a = where.hidden[b.target][0]
            rows = np.nonzero(np.any(b.weights.to_dense() != 0, axis=1))[0]
            if rows.size and a + rows.max() >= f.input_window:
                out.append(f"rule 'input window': block '{b.name}' reaches hidden neuron "
                           f"{a + int(rows.max())}; {t.name}'s inputs reach only the first "
                           f"{f.input_window}: make the first hidden layer at most "
                           f"{f.input_window} neurons")
        if kind == "out" and f.output_window:
            a = where.hidden[b.source][0]
            cols = np.nonzero(np.any(b.weights.to_dense() != 0, axis=0))[0]
            if cols.size and a + cols.min() < n_hid - f.output_window:
                out.append(f"rule 'output window': block '{b.name}' leaves hidden neuron "
                           f"{a + int(cols.min())}; {t.name}'s readouts read only the last "
                           f"{f.output_window} of {n_hid}: make the last hidden layer at most "
                           f"{f.output_window} neurons and the only one feeding the readout")
    return out


def _weights(program: Program, t: Any) -> list[str]:
    f, where = t.formats, layout(program)
    out, shifts = [], {}
    for b in program.synapses:
        kind = matrix_of(b, where)
        low, high = b.weights.value_range()
        if b.weights.nnz() and (low < -f.weight_max - 1 or high > f.weight_max):
            out.append(f"rule 'int8 weights': block '{b.name}' holds {low}..{high}")
        if not 0 <= b.weight_exp <= f.weight_shift_max:
            out.append(f"rule 'weight shift': block '{b.name}' has shift {b.weight_exp}, "
                       f"outside 0..{f.weight_shift_max}")
        if kind in ("in", "rec", "out"):
            shifts.setdefault(kind, set()).add(int(b.weight_exp))
        if b.receptor and (kind not in ("in", "rec") or f.synapses < 2):
            out.append(f"rule 'synapses per neuron': block '{b.name}' feeds synapse 2, which "
                       f"{t.name}'s {'readout' if kind == 'out' else 'hidden'} neurons lack")
    for kind, values in shifts.items():
        if len(values) > 1:
            out.append(f"rule 'one shift per matrix': the {kind} blocks use shifts "
                       f"{sorted(values)}; Xylo has one per matrix: quantize them together")
    return out


def _parameters(program: Program, t: Any) -> list[str]:
    f = t.formats
    out = []
    for g in program.groups.values():
        p = g.params
        for k in ("dash_mem", "dash_syn", "dash_syn2"):
            if k in p and (np.any(np.asarray(p[k]) < 0) or np.any(np.asarray(p[k]) > f.dash_max)):
                out.append(f"rule 'decays': group '{g.name}' {k} outside 0..{f.dash_max}")
        thr = np.asarray(p.get("threshold", 1))
        if np.any(thr < 1) or np.any(thr > f.state_max):
            out.append(f"rule 'thresholds': group '{g.name}' thresholds {int(thr.min())}.."
                       f"{int(thr.max())} outside 1..{f.state_max}")
        bias = np.asarray(p.get("bias", 0))
        if np.any(bias < f.state_min) or np.any(bias > f.state_max):
            out.append(f"rule 'biases': group '{g.name}' biases outside int16")
    return out


#: each rule returns one readable line per problem; ``ChipTarget.validate`` joins them
DESIGN_RULES: tuple[Callable[[Program, Any], list[str]], ...] = (
    _models, _layers, _wiring, _capacities, _windows, _weights, _parameters)
