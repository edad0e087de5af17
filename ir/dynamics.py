"""TEMPORARY: replaced by the dynamics branch."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .errors import QuantizationError
from .graph import Graph


@dataclasses.dataclass(frozen=True)
class Discretized:
    """Per-step decay fractions of each neuron node for a given dt."""

    dt: float
    a_syn: dict[str, np.ndarray]  # dt / tau_syn (CubaLIF)
    a_mem: dict[str, np.ndarray]  # dt / tau or dt / tau_mem (0 for IF)


def discretize(graph: Graph, dt: float) -> Discretized:
    """Time constants to per-step decay fractions (forward Euler, as the reference)."""
    if not (dt > 0 and math.isfinite(dt)):
        raise QuantizationError(f"dt must be a positive number of seconds, got {dt}")
    a_syn, a_mem = {}, {}
    for name, node in graph.nodes.items():
        if node.kind in ("CubaLIF", "CubaLI"):
            a_syn[name] = dt / np.asarray(node.tau_syn, np.float64)
            a_mem[name] = dt / np.asarray(node.tau_mem, np.float64)
        elif node.kind in ("LIF", "LI"):
            a_mem[name] = dt / np.asarray(node.tau, np.float64)
        elif node.kind == "IF":
            a_mem[name] = np.zeros(np.shape(node.r))
    for name, a in list(a_syn.items()) + list(a_mem.items()):
        if np.any(a > 1):
            raise QuantizationError(
                f"node '{name}': dt = {dt:g} s is longer than a time constant (dt/tau up to "
                f"{float(np.max(a)):.3g}); forward Euler overshoots and no decay can express it. "
                "Use a smaller --dt.")
    return Discretized(dt, a_syn, a_mem)


