"""The network as partitioning sees it: group sizes, input ports, non-zero patterns, spike rates.

A Structure is built from a Program (each block's pattern through its
encoding), from a float graph without quantizing (`neurocc fit`), or directly
from patterns (bench/partition.py). Every planner reads only this.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from neurocc.ir import Program

from ..passes.lower import BIAS, lower_synapses
from .graph_patterns import direct_patterns
from .layers import LayerShape, layer_shapes
from .patterns import Pattern


@dataclasses.dataclass
class Structure:
    """A network as partitioning sees it: group sizes, input ports, patterns.

    Built from a Program (``from_program``), from a float graph without
    quantizing (``from_graph``), or directly from patterns (bench/partition.py).
    """

    groups: dict[str, int]
    ports: dict[str, int]
    patterns: list[Pattern]
    #: per group, the convolution that feeds it (from the float graph), for targets that
    #: map whole layers to cores; None when not known (a Program, a synthetic network)
    layers: dict[str, LayerShape] | None = None
    #: the groups an Output node reads (for a target's [network] output-neuron limit)
    outputs: tuple[str, ...] = ()
    #: the ports that are constant sources (a bias), not external input channels
    constants: tuple[str, ...] = ()

    @classmethod
    def from_program(cls, program: Program) -> "Structure":
        """Each block's pattern through its encoding's API (``Pattern.of_weights``): a
        Sparse block's CSR, a Conv block's chunks, a block without a zero as full."""
        patterns = [Pattern.of_weights(b.name, b.source, b.target, b.weights)
                    for b in program.synapses]
        outputs = tuple(dict.fromkeys(g for p in program.outputs for g in p.groups))
        return cls({g.name: g.size for g in program.groups.values()},
                   {p.name: p.size for p in program.inputs}, patterns, outputs=outputs,
                   constants=tuple(p.name for p in program.inputs if p.kind == "const"))

    @classmethod
    def from_graph(cls, graph: Any) -> "Structure":
        """The float graph's structure: one block per connection, biases as a 1-neuron port.

        Used for targets neurocc cannot quantize for (`neurocc fit`): the
        compiled Program may hold more blocks per connection (quantize's
        residual blocks), so this is an estimate from below of synapse memory.
        A graph whose every connection is one Affine / Linear node is read node by
        node (``graph_patterns``); any other is lowered first.
        """
        direct = direct_patterns(graph)
        if direct is not None:
            groups, ports, patterns, outputs, constants = direct
            return cls(groups, ports, patterns, layer_shapes(graph), outputs=outputs,
                       constants=constants)
        lowered = lower_synapses(graph)
        size = lambda n: int(np.prod(graph.shapes[n].output))  # noqa: E731
        ports = {n: size(n) for n in lowered.inputs}
        patterns = []
        for g in lowered.groups:
            for c in lowered.incoming[g]:
                source = "bias" if c.source == BIAS else c.source
                if c.source == BIAS:
                    ports["bias"] = 1
                hops = f"@{c.hops}" if c.hops else ""
                # a dense matrix, or a Conv or Sparse map: its pattern, never expanded
                patterns.append(Pattern.of_weights(f"{source}->{g}{hops}", source, g, c.matrix))
        return cls({g: size(g) for g in lowered.groups}, ports, patterns, layer_shapes(graph),
                   outputs=tuple(dict.fromkeys(lowered.outputs.values())),
                   constants=tuple(p for p in ports if p not in lowered.inputs))

    def check(self) -> None:
        for p in self.patterns:
            if p.target not in self.groups:
                raise ValueError(f"pattern '{p.name}': target '{p.target}' is no group")
            if p.source not in self.groups and p.source not in self.ports:
                raise ValueError(f"pattern '{p.name}': source '{p.source}' is no group or port")


def activity_from_spikes(spikes: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Mean spikes per neuron per step by group, from [T, B, n] spike arrays.

    Keys may be slices (``"fc1@3"``, ``"spikes.fc1@3"`` as `neurocc run` writes
    them): slices of one group are pooled, weighted by their neurons.
    """
    total: dict[str, list[float]] = {}
    for key, arr in spikes.items():
        name = key[len("spikes."):] if key.startswith("spikes.") else key
        base, at, k = name.rpartition("@")
        if at and k.isdigit():
            name = base
        a = np.asarray(arr)
        s = total.setdefault(name, [0.0, 0.0])
        s[0] += float(np.count_nonzero(a))
        s[1] += float(a.size)
    return {g: (s / n if n else 0.0) for g, (s, n) in total.items()}


def spike_rates(structure: Structure, activity: Mapping[str, float] | None) -> dict[str, float]:
    """Expected spikes per neuron per step by group: measured where `activity` says, else 1.

    Groups `activity` does not name get the mean of those it does.
    """
    if not activity:
        return {g: 1.0 for g in structure.groups}
    known = [float(activity[g]) for g in structure.groups if g in activity]
    default = float(np.mean(known)) if known else 1.0
    return {g: float(activity.get(g, default)) for g in structure.groups}
