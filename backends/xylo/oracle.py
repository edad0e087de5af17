"""Xylo's oracle: SynSense's XyloSim (xylosim 0.1.3), in its own virtualenv.

``xylosim/`` builds the venv (``make xylo``) and runs the simulator through a
subprocess and files; this file folds a Program into the chip's one
configuration (``spec.fold``), runs it and splits the records back per group.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from neurocc.ir import Program
from neurocc.ir.inputs import check_inputs

from .spec import fold, layout, unfold


@dataclasses.dataclass
class XylosimResult:
    outputs: dict[str, np.ndarray]                   # [T, B, *shape] spike counts
    spikes: dict[str, np.ndarray]                    # [T, B, n] counts per step
    traces: dict[str, dict[str, np.ndarray]]         # group -> isyn, (isyn2,) v
    timing: dict[str, float]


class XylosimOracle:
    """Runs a Program on xylosim's XyloLayer (``ir.target.Oracle``)."""

    name = "xylosim"
    label = "XyloSim"

    def __init__(self, synapses: int = 2, chip: str = "xylo_audio2") -> None:
        self.synapses = synapses
        self.chip = chip

    @staticmethod
    def locate() -> Path:
        """The venv's interpreter; a XylosimUnavailableError (a NeuroccError) says `make xylo`."""
        from .xylosim import xylo_python

        return xylo_python()

    def run(self, program: Program, inputs: Any, record: tuple[str, ...] = (),
            timeout: float = 1200, via: str = "layer") -> XylosimResult:
        from .xylosim import run_xylosim

        data = check_inputs({p.name: p.shape for p in program.data_inputs}, inputs)
        where = layout(program)
        steps, batch = next(iter(data.values())).shape[:2]
        raster = np.zeros((steps, batch, where.sizes[0]), np.int64)
        for name, (a, z) in where.inputs.items():
            raster[..., a:z] = np.asarray(data[name]).reshape(steps, batch, -1)
        t0 = time.perf_counter()
        from .xylosim import CHIPS

        # a user-described Xylo: the shipped chip with its synapses (the runner checks sizes)
        chip = self.chip if self.chip in CHIPS else (
            "xylo_audio2" if self.synapses == 2 else "xylo_imu")
        raw = run_xylosim(fold(program), raster, chip=chip, via=via, timeout=timeout)
        spikes, traces = unfold(where, raw)   # isyn2: all zero on a one-synapse chip
        spikes = {g: np.asarray(s, np.int8) for g, s in spikes.items()}
        outputs = program.collect_outputs(spikes, {})
        wanted = set(record)
        return XylosimResult(outputs, spikes, {g: t for g, t in traces.items() if g in wanted},
                             {"total_s": time.perf_counter() - t0})
