"""Calibration: measure, on sample inputs, how large each neuron's current gets.

A measurement of the float model, so it lives with the simulators; the
driver hands its result to the quantize pass (passes never run simulators).

The quantizer picks each group's integer threshold so that the 24-bit current
holds the observed peak. A percentile below 100 clips rare outliers instead of
shrinking every weight's resolution, but a current beyond the 24-bit range
WRAPS on some chips (it does not saturate), so the default is the maximum (100);
measured on Braille, percentile 99.9 let u wrap 695 times in 256k steps.
The float reference runs the samples; nothing here knows a chip.
"""

from __future__ import annotations

import numpy as np

from neurocc.ir import Graph, QuantizationError, dynamics
from .reference import ReferenceSimulator


def calibrate(graph: Graph, inputs: np.ndarray | dict[str, np.ndarray], dt: float,
              percentile: float = 100.0) -> dict[str, float]:
    """Peak synaptic current per neuron node, in units of (threshold - reset).

    CubaLIF: the current's contribution to v per step, ``a_mem r i`` (forward Euler,
    ``a_mem = dt/tau_mem`` from ``ir.dynamics``, as the reference and the quantizer).
    LIF and IF (no current state): the membrane itself bounds what one step adds.
    """
    if not 0 < percentile <= 100:
        raise QuantizationError(f"calibration percentile must be in (0, 100], got {percentile}")
    neurons = [n for n, node in graph.nodes.items() if node.kind in ("LIF", "CubaLIF", "IF")]
    sim = ReferenceSimulator(graph, dt, record=neurons, dtype="float64")
    result = sim.run(inputs)
    peaks = {}
    for n in neurons:
        node = graph.nodes[n]
        theta = np.asarray(node.v_threshold, np.float64) - node.reset_value()
        if node.kind == "CubaLIF":
            a_mem = dynamics.factors(node, sim.options.dt).a_mem
            current = result.traces[n]["i"] * a_mem * np.asarray(node.r)
        else:
            current = result.traces[n]["v"]
        peaks[n] = float(np.percentile(np.abs(current) / theta, percentile))
    return peaks
