"""SynSense Xylo: Audio 2 (SYNS61201), IMU (SYNS63300), Audio 3 (SYNS65302).

One arithmetic, three chips' sizes (xylo_audio2.toml, xylo_imu.toml,
xylo_audio3.toml). A newcomer changing Xylo opens one file per part:

    formats.py    the [formats] table, typed and validated
    quantize.py   quantize rules: decays as bit shifts, thresholds, one shift per matrix
    kernel.py     the neuron update (hidden and readout, as xylosim.v2 computes it)
    synapse.py    synapse arithmetic: effective weights, per-event saturation in order
    rules.py      design rules (small named checks, each with its fix)
    spec.py       the folded chip: Rockpool's specification, emitted with the artifact
    oracle.py     XyloSim, the vendor's bit-accurate simulator (xylosim/: its venv)

``make_target(spec)`` also serves a user-described chip that says
``arithmetic = "xylo"`` in its TOML.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from neurocc.ir.program import save_program
from neurocc.ir.target import ChipTarget, TargetSpec, load_target

from .formats import XyloFormats, parse_formats
from .kernel import kernels
from .oracle import XylosimOracle
from .quantize import XyloRules
from .rules import DESIGN_RULES
from .spec import SPEC_FILE, fold, spec_bytes
from .synapse import XyloSynapses

HERE = Path(__file__).parent
SPEC_PATH = HERE / "xylo_audio2.toml"
SPEC_PATHS = {"xylo_audio2": SPEC_PATH, "xylo_imu": HERE / "xylo_imu.toml",
              "xylo_audio3": HERE / "xylo_audio3.toml"}

__all__ = ["SPEC_PATH", "SPEC_PATHS", "XyloFormats", "XyloTarget", "make_target", "target"]


@dataclasses.dataclass(frozen=True)
class XyloTarget(ChipTarget):
    """A Xylo chip: the plain target, whose artifact also carries the chip's configuration
    in Rockpool's specification form (``xylo_spec.npz``)."""

    def emit(self, program: Any, path: Any) -> Any:
        self.validate(program)
        return save_program(program, path, extra={SPEC_FILE: spec_bytes(fold(program))})


def make_target(spec: TargetSpec) -> XyloTarget:
    """A target with Xylo's arithmetic over `spec` (its [formats] parsed here)."""
    formats = parse_formats(spec.formats, spec.path)
    spec = dataclasses.replace(spec, formats=formats)
    chip = spec.description.split(":")[0].removeprefix("SynSense ") or spec.name
    return XyloTarget(spec, kernels=kernels(formats.max_hidden_spikes),
                      synapses=XyloSynapses(formats.max_input_count),
                      rules=XyloRules(formats, chip), design_rules=DESIGN_RULES,
                      oracle=XylosimOracle(formats.synapses, spec.name))


def target(name: str = "xylo_audio2") -> XyloTarget:
    """A shipped Xylo target (default Audio 2)."""
    return make_target(load_target(SPEC_PATHS[name]))


def limits(name: str = "xylo_audio2") -> XyloFormats:
    """The chip's arithmetic formats (spike caps, windows, synapses per neuron)."""
    return target(name).formats
