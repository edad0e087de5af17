"""Float reference simulator of an ``ir.Graph`` (JAX). API contract; body being written."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass
class Result:
    #: output spikes/values per Output node, time-major [T, B, *shape], numpy
    outputs: dict[str, np.ndarray]
    #: recorded state per node: {node: {"v": [T,B,...], "i": [T,B,...], "out": [T,B,...]}}
    traces: dict[str, dict[str, np.ndarray]]
    #: the semantics used, as a JSON-able dict (dt, integrator, reset, threshold, recurrence, ...)
    semantics: dict[str, Any]


def run(graph, inputs, dt: float | None = None, *, integrator: str = "euler",
        dtype: str = "float32", record: tuple[str, ...] = (), threshold: str = ">",
        reset: str = "nir") -> Result:
    """Simulate `graph` on `inputs` ([T, B, *input_shape] array, or {input_name: array}).

    dt: seconds per step (None: graph.metadata['dt'], else SimulationError saying to pass --dt).
    integrator: 'euler' (forward Euler, snnTorch/Norse) or 'exact' (exponential integrator).
    dtype: 'float32' or 'float64' (float64 without switching JAX to 64-bit globally).
    record: node names whose state traces to return.
    threshold: '>' (NIR spec) or '>='.  reset: 'nir' (to v_reset) or 'subtract'.
    Raises ir.SimulationError for bad dt / input shape / dtype / unknown node in record.
    """
    raise NotImplementedError
