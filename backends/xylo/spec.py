"""A Xylo Program as the chip's one configuration: Rockpool's specification.

Xylo holds one hidden population and one readout population, so the Program's
groups are folded: hidden groups (model ``xylo.lif``) in program order take hidden
indices 0, 1, ..., readout groups likewise, and data input ports the input
channels. The result uses the argument names of Rockpool 3.1.0's
``XyloSim.from_specification`` (and ``backends/xylo/xylosim``'s), with two
differences a Rockpool user must bridge: ``aliases`` is one int per hidden neuron
(-1 for none) where Rockpool takes a list of target lists
(``[[a] if a >= 0 else [] for a in aliases]``; neurocc makes no aliases, so
leaving it out is the same), and ``config_from_specification`` calls the hidden
bias ``bias_hidden`` (it would silently ignore ``bias``). ``run_xylosim(spec, raster,
chip, via="rockpool")`` does that conversion and runs Rockpool's XyloSim on it.
``fold`` also says where each group sits, so results on the folded chip can be
split back per group.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from neurocc.ir import Program
from neurocc.ir.program import npz_bytes

from .kernel import HIDDEN, READOUT

#: the artifact member that holds the specification
SPEC_FILE = "xylo_spec.npz"


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where each port and group sits on the folded chip: name -> (start, stop)."""

    inputs: dict[str, tuple[int, int]]
    hidden: dict[str, tuple[int, int]]
    readout: dict[str, tuple[int, int]]

    @property
    def sizes(self) -> tuple[int, int, int]:
        return tuple(max((stop for _, stop in d.values()), default=0)  # type: ignore[return-value]
                     for d in (self.inputs, self.hidden, self.readout))


def layout(program: Program) -> Layout:
    def offsets(names: list[str], size: Any) -> dict[str, tuple[int, int]]:
        out, at = {}, 0
        for n in names:
            out[n] = (at, at + size(n))
            at += size(n)
        return out
    groups = program.groups
    return Layout(offsets([p.name for p in program.data_inputs], lambda n: program.port(n).size),
                  offsets([g for g in groups if groups[g].model == HIDDEN], lambda n: groups[n].size),
                  offsets([g for g in groups if groups[g].model == READOUT], lambda n: groups[n].size))


def matrix_of(block: Any, where: Layout) -> str:
    """Which of the chip's three matrices a block belongs to (or what it is instead)."""
    if block.source in where.inputs:
        return "in" if block.target in where.hidden else "in->readout"
    if block.source in where.hidden:
        return "rec" if block.target in where.hidden else "out"
    return "from-readout" if block.source in where.readout else "from-constant"


def fold(program: Program) -> dict[str, np.ndarray]:
    """The specification (int arrays by Rockpool's names) of a program the design rules
    accept; synapse index 1 of weights_in and weights_rec is Isyn2."""
    where = layout(program)
    n_in, n_hid, n_out = where.sizes
    w_in = np.zeros((n_in, n_hid, 2), np.int64)
    w_rec = np.zeros((n_hid, n_hid, 2), np.int64)
    w_out = np.zeros((n_hid, n_out), np.int64)
    shifts = {"in": 0, "rec": 0, "out": 0}
    for b in program.synapses:
        kind = matrix_of(b, where)
        src = {"in": where.inputs, "rec": where.hidden, "out": where.hidden}[kind][b.source]
        dst = (where.readout if kind == "out" else where.hidden)[b.target]
        w = b.weights.to_dense().T      # (sources, targets)
        if kind == "out":
            w_out[src[0]:src[1], dst[0]:dst[1]] += w
        else:
            (w_in if kind == "in" else w_rec)[src[0]:src[1], dst[0]:dst[1], b.receptor] += w
        shifts[kind] = int(b.weight_exp)

    def param(groups: dict[str, tuple[int, int]], key: str, fallback: str | None = None) -> np.ndarray:
        size = max((stop for _, stop in groups.values()), default=0)
        out = np.zeros(size, np.int64)
        for g, (a, z) in groups.items():
            p = program.groups[g].params
            out[a:z] = np.broadcast_to(p.get(key, p.get(fallback) if fallback else 0), (z - a,))
        return out

    return {
        "weights_in": w_in, "weights_rec": w_rec, "weights_out": w_out,
        "dash_mem": param(where.hidden, "dash_mem"), "dash_syn": param(where.hidden, "dash_syn"),
        "dash_syn_2": param(where.hidden, "dash_syn2", "dash_syn"),
        "threshold": param(where.hidden, "threshold"), "bias": param(where.hidden, "bias"),
        "dash_mem_out": param(where.readout, "dash_mem"),
        "dash_syn_out": param(where.readout, "dash_syn"),
        "threshold_out": param(where.readout, "threshold"), "bias_out": param(where.readout, "bias"),
        "weight_shift_in": np.array(shifts["in"]), "weight_shift_rec": np.array(shifts["rec"]),
        "weight_shift_out": np.array(shifts["out"]),
    }
    # no aliases: neurocc never makes one, and Rockpool takes them as a list of lists
    # (an array here would not load), so the key is left out


def spec_bytes(spec: dict[str, np.ndarray]) -> bytes:
    """The specification as .npz bytes (integer arrays only; the same bytes every time)."""
    return npz_bytes({k: np.asarray(v) for k, v in spec.items()})


def unfold(where: Layout, chip: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Per-group spikes and traces from the folded chip's records ([T, B, n] arrays:
    spikes, isyn, isyn2, vmem for hidden; spikes_out, isyn_out, vmem_out for readout)."""
    spikes, traces = {}, {}
    for g, (a, z) in where.hidden.items():
        spikes[g] = chip["spikes"][..., a:z]
        traces[g] = {"isyn": chip["isyn"][..., a:z], "isyn2": chip["isyn2"][..., a:z],
                     "v": chip["vmem"][..., a:z]}
    for g, (a, z) in where.readout.items():
        spikes[g] = chip["spikes_out"][..., a:z]
        traces[g] = {"isyn": chip["isyn_out"][..., a:z], "v": chip["vmem_out"][..., a:z]}
    return spikes, traces
