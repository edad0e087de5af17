"""Intel Loihi 2: the first complete target (see ``ir.target.Target``).

A newcomer changing Loihi 2 opens one file per part:

    loihi2.toml   the chip as data: formats, capacities, mesh, energy (with sources)
    formats.py    the [formats] table, typed and validated
    quantize.py   quantize rules: CUBA-LIF mapping, scales, decays, thresholds, weights
    kernel.py     the neuron update (CUBA LIF, as Lava's PyLifModelBitAcc)
    synapse.py    synapse arithmetic: effective weights, weight exponent, latency
    rules.py      design rules (small named checks); emit is the plain artifact after them
                  (``ChipTarget.emit``): Lava loads no file of its own
    oracle.py     Lava, the vendor's bit-exact simulator (lava/: its venv and runner)

``make_target(spec)`` also serves a user-described chip that says
``arithmetic = "loihi2"`` in its TOML: its own capacities, mesh and energy
figures over this arithmetic.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from neurocc.ir.target import ChipTarget, TargetSpec, load_target

from .formats import NumericFormats, parse_formats
from .kernel import KERNELS
from .oracle import LavaOracle
from .quantize import Loihi2Rules
from .rules import DESIGN_RULES
from .synapse import DenseSynapses

SPEC_PATH = Path(__file__).with_name("loihi2.toml")

__all__ = ["SPEC_PATH", "NumericFormats", "make_target", "target"]


def make_target(spec: TargetSpec) -> ChipTarget:
    """A target with Loihi 2's arithmetic over `spec` (its [formats] parsed here)."""
    formats = parse_formats(spec.formats, spec.path)
    spec = dataclasses.replace(spec, formats=formats)
    return ChipTarget(spec, kernels=KERNELS,
                      synapses=DenseSynapses(spec.synaptic_latency, formats.max_delay),
                      rules=Loihi2Rules(formats), design_rules=DESIGN_RULES, oracle=LavaOracle())


def target() -> ChipTarget:
    """The shipped Loihi 2 target (loihi2.toml)."""
    return make_target(load_target(SPEC_PATH))

