"""What ``neurocc verify`` compares, as plain functions over arrays.

Two questions, asked of one compiled artifact:

1. **Does the emulator compute what the chip computes?** Compared with the
   target's oracle (the vendor's bit-accurate simulator), every group's spikes
   and recorded state (its kernel's fields) must be equal at every step,
   sample and neuron. Anything else is a bug; the first difference (earliest
   step) names where to look.
2. **How close is the integer program to the float model it came from?**
   Quantization changes numbers, so this is measured, not pass/fail: the
   emulator's output spikes against the float reference simulator's.

Alignment: every synapse block on the chip adds ``synaptic_latency`` steps, so
an output whose neuron group sits at feed-forward depth ``d`` answers
``D = d * latency`` steps after the float model (the compiler records ``D`` per
output port as its ``latency``). Emulator step ``D + k`` is
compared with reference step ``k``, for ``k = 0 .. T-1-D``; the last ``D``
reference steps have no emulator counterpart inside the run and are dropped.

This module runs no simulator (the ``neurocc`` driver does, and hands over the
arrays), so it imports numpy and ``neurocc.ir`` only, as a compiler module may.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurocc.ir import NeuroccError, Program, file_hash

class VerificationError(NeuroccError):
    """Inputs to a comparison that cannot be compared (too few steps, missing outputs)."""


# --- emulator vs the oracle: bit exactness -------------------------------------


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """One entry where two bit-accurate runs disagree."""

    group: str
    variable: str  # spikes | u | v
    step: int
    sample: int
    neuron: int
    emulator: int
    other: int


@dataclasses.dataclass(frozen=True)
class BitExactReport:
    bit_exact: bool
    #: "group.variable" compared, in order
    compared: tuple[str, ...]
    #: number of differing entries per "group.variable" (only those that differ)
    differing: dict[str, int]
    #: the earliest difference (smallest step; then group order, then spikes/u/v)
    first: Mismatch | None
    steps: int
    batch: int

    def to_json(self) -> dict[str, Any]:
        return {"bit_exact": self.bit_exact, "compared": list(self.compared),
                "differing_entries": dict(self.differing),
                "first_difference": None if self.first is None else dataclasses.asdict(self.first),
                "steps": self.steps, "batch": self.batch}


def compare_bit_exact(emulator: Mapping[str, Mapping[str, np.ndarray]],
                      other: Mapping[str, Mapping[str, np.ndarray]],
                      groups: Sequence[str] | None = None) -> BitExactReport:
    """Compare two runs entry by entry: ``run[group][variable]`` arrays [T, B, n].

    ``groups`` fixes the order (default: the emulator's); every variable (spikes and
    each state variable the chip's kernel has, e.g. u and v) is compared. A variable present in only
    one run, or arrays of different shapes, are a VerificationError: the runs
    did not record the same thing.
    """
    groups = list(emulator) if groups is None else list(groups)
    compared: list[str] = []
    differing: dict[str, int] = {}
    candidates: list[tuple[int, int, int, Mismatch]] = []
    steps = batch = 0
    for gi, g in enumerate(groups):
        if g not in emulator or g not in other:
            raise VerificationError(f"group '{g}' was not recorded by both runs")
        # spikes, then each state variable in the order either run recorded it
        names = list(dict.fromkeys(["spikes", *emulator[g], *other[g]]))
        for vi, var in enumerate(names):
            has_a, has_b = var in emulator[g], var in other[g]
            if not (has_a or has_b):
                continue
            if has_a != has_b:
                raise VerificationError(f"'{g}.{var}' was recorded by only one run")
            a, b = np.asarray(emulator[g][var]), np.asarray(other[g][var])
            if a.shape != b.shape:
                raise VerificationError(f"'{g}.{var}': shapes differ, {list(a.shape)} vs "
                                        f"{list(b.shape)}")
            a = a.reshape(a.shape[0], a.shape[1], -1)
            b = b.reshape(a.shape)
            steps, batch = a.shape[:2]
            compared.append(f"{g}.{var}")
            # compare as int64: spikes are int8 on one side and maybe bool on the other
            diff = a.astype(np.int64) != b.astype(np.int64)
            count = int(np.count_nonzero(diff))
            if count:
                differing[f"{g}.{var}"] = count
                t, s, n = (int(i) for i in np.argwhere(diff)[0])  # C order: earliest step first
                candidates.append((t, gi, vi, Mismatch(g, var, t, s, n, int(a[t, s, n]),
                                                       int(b[t, s, n]))))
    first = min(candidates, key=lambda c: c[:3])[3] if candidates else None
    return BitExactReport(not differing, tuple(compared), differing, first, int(steps), int(batch))


# --- emulator vs float reference: agreement after alignment ----------------------


def align(emulator: np.ndarray, reference: np.ndarray, latency: int) -> tuple[np.ndarray, np.ndarray]:
    """Emulator steps D..T-1 and reference steps 0..T-1-D, as float64 [T-D, B, n]."""
    emulator, reference = np.asarray(emulator), np.asarray(reference)
    if emulator.shape != reference.shape:
        raise VerificationError(f"emulator output {list(emulator.shape)} and reference output "
                                f"{list(reference.shape)} differ in shape")
    steps = emulator.shape[0]
    if not 0 <= latency < steps:
        raise VerificationError(
            f"the output latency is {latency} steps but the run has only {steps}; give at least "
            f"{latency + 1} steps (--steps) so that something can be compared")
    tail = steps - latency
    e = emulator[latency:].reshape(tail, emulator.shape[1], -1).astype(np.float64)
    r = reference[:tail].reshape(tail, reference.shape[1], -1).astype(np.float64)
    return e, r


def spike_agreement(emulator: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of (step, sample, neuron) entries where both spike or both stay silent."""
    e, r = np.asarray(emulator) != 0, np.asarray(reference) != 0
    return float(np.mean(e == r)) if e.size else math.nan


def count_correlation(emulator_counts: np.ndarray, reference_counts: np.ndarray) -> float | None:
    """Pearson correlation of spike counts over all (sample, neuron) pairs.

    None when either side has the same count everywhere (the correlation is undefined).
    """
    a = np.asarray(emulator_counts, np.float64).ravel()
    b = np.asarray(reference_counts, np.float64).ravel()
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


@dataclasses.dataclass(frozen=True)
class ArgmaxAgreement:
    #: fraction of `decided` samples whose emulator winner is the reference's (None if none decided)
    agreement: float | None
    agreed: int
    #: samples where the reference has a unique most-spiking neuron
    decided: int
    #: samples where several reference neurons share the top count (all silent included)
    ties: int


def argmax_agreement(emulator_counts: np.ndarray, reference_counts: np.ndarray) -> ArgmaxAgreement:
    """Per sample (rows of [B, n] counts): does the emulator pick the reference's winner?

    Only samples where the float reference has a unique winner count; the
    emulator agrees when that neuron is its unique maximum too (a tie on the
    emulator side is not an agreement: a classifier reading it would guess).
    """
    e = np.asarray(emulator_counts).reshape(np.shape(emulator_counts)[0], -1)
    r = np.asarray(reference_counts).reshape(e.shape)
    r_top = r.max(axis=1, keepdims=True)
    unique = np.count_nonzero(r == r_top, axis=1) == 1
    winner = r.argmax(axis=1)
    e_top = e.max(axis=1, keepdims=True)
    e_unique = np.count_nonzero(e == e_top, axis=1) == 1
    agreed = unique & e_unique & (e.argmax(axis=1) == winner)
    decided = int(np.count_nonzero(unique))
    n_agreed = int(np.count_nonzero(agreed))
    return ArgmaxAgreement(n_agreed / decided if decided else None, n_agreed, decided,
                           int(e.shape[0]) - decided)


@dataclasses.dataclass(frozen=True)
class OutputAgreement:
    """The emulator's output against the float reference's, for one Output."""

    output: str
    latency: int
    steps_compared: int
    spike_agreement: float
    count_correlation: float | None
    argmax: ArgmaxAgreement
    emulator_spikes: int
    reference_spikes: int

    @property
    def alignment(self) -> str:
        last = self.latency + self.steps_compared - 1
        return (f"emulator steps {self.latency}..{last} vs reference steps "
                f"0..{self.steps_compared - 1} (output latency {self.latency} steps)")

    def to_json(self) -> dict[str, Any]:
        return {"latency_steps": self.latency, "steps_compared": self.steps_compared,
                "alignment": self.alignment, "spike_agreement": self.spike_agreement,
                "count_correlation": self.count_correlation,
                "argmax_agreement": self.argmax.agreement, "argmax_agreed": self.argmax.agreed,
                "argmax_decided_samples": self.argmax.decided,
                "argmax_tied_samples": self.argmax.ties,
                "emulator_spikes": self.emulator_spikes,
                "reference_spikes": self.reference_spikes}


def compare_output(name: str, emulator: np.ndarray, reference: np.ndarray,
                   latency: int) -> OutputAgreement:
    """Align one output by its latency and measure how well the spikes agree."""
    e, r = align(emulator, reference, latency)
    if np.any((r != 0) & (r != 1)):
        raise VerificationError(f"reference output '{name}' is not spikes (values other than "
                                "0 and 1); verify compares spiking outputs")
    e_counts, r_counts = e.sum(axis=0), r.sum(axis=0)  # [B, n]
    return OutputAgreement(name, int(latency), int(e.shape[0]), spike_agreement(e, r),
                           count_correlation(e_counts, r_counts),
                           argmax_agreement(e_counts, r_counts),
                           int(np.count_nonzero(e)), int(np.count_nonzero(r)))


@dataclasses.dataclass(frozen=True)
class VoltageAgreement:
    """A readout's voltage (chip integers in the model's units) against the float model's."""

    output: str
    latency: int
    steps_compared: int
    #: Pearson over every (step, sample, neuron) entry
    correlation: float | None
    #: root-mean-square and largest difference, in the model's voltage units
    rmse: float
    max_abs_error: float
    #: the largest |v| the float model reached, for scale
    reference_peak: float
    #: per sample, the neuron whose voltage peaks highest over time (a readout's usual decision)
    argmax: ArgmaxAgreement
    #: chip v units per float unit (the Output port's)
    scale: float = 1.0

    alignment = OutputAgreement.alignment

    def to_json(self) -> dict[str, Any]:
        return {"kind": "voltage", "scale": self.scale, "latency_steps": self.latency,
                "steps_compared": self.steps_compared, "alignment": self.alignment,
                "voltage_correlation": self.correlation, "rmse": self.rmse,
                "max_abs_error": self.max_abs_error, "reference_peak": self.reference_peak,
                "argmax_agreement": self.argmax.agreement, "argmax_agreed": self.argmax.agreed,
                "argmax_decided_samples": self.argmax.decided,
                "argmax_tied_samples": self.argmax.ties}


def compare_voltage(name: str, emulator: np.ndarray, reference: np.ndarray, latency: int,
                    scale: float) -> VoltageAgreement:
    """Align a readout's voltage (the chip's integers, `scale` units per float unit) with the
    float model's and measure the difference."""
    e, r = align(np.asarray(emulator, np.float64) / scale, np.asarray(reference, np.float64),
                 latency)
    diff = e - r
    return VoltageAgreement(name, int(latency), int(e.shape[0]), count_correlation(e, r),
                            float(np.sqrt(np.mean(diff ** 2))), float(np.max(np.abs(diff))),
                            float(np.max(np.abs(r))), argmax_agreement(e.max(axis=0), r.max(axis=0)),
                            float(scale))


def compare_outputs(emulator: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray],
                    latency: Mapping[str, int], ports: Mapping[str, Any] | None = None
                    ) -> list[OutputAgreement | VoltageAgreement]:
    """``compare_output`` for every output, by name (sorted); ``compare_voltage`` for the
    voltage ports among `ports` (OutputPorts by name), whose integers they convert."""
    missing = sorted(set(emulator) ^ set(reference))
    if missing:
        raise VerificationError(f"outputs {missing} exist in only one of the two runs "
                                f"(emulator: {sorted(emulator)}, reference: {sorted(reference)})")
    out = []
    for name in sorted(emulator):
        if name not in latency:
            raise VerificationError(f"the artifact records no output latency for '{name}'")
        port = (ports or {}).get(name)
        if port is not None and port.kind == "voltage":
            out.append(compare_voltage(name, emulator[name], reference[name], int(latency[name]),
                                       port.scale))
        else:
            out.append(compare_output(name, emulator[name], reference[name], int(latency[name])))
    return out


# --- the source model an artifact carries -------------------------------------


SOURCE_NAME = "source.nir"


def source_model(artifact: str | Path, program: Program, oracle: str | None = None
                 ) -> tuple[Path, list[str]]:
    """The float model copied into the artifact, and warnings about it.

    `oracle`: the name of the target's vendor simulator, which the error offers as
    what can still be verified against without the model.

    A VerificationError when the artifact has none (compiled by an older
    neurocc, or edited); a warning when its hash differs from the one
    recorded at compile time (the comparison then may not be of the model
    that was compiled).
    """
    path = Path(artifact) / SOURCE_NAME
    if not path.is_file():
        raise VerificationError(
            f"{path}: missing, so there is no float model to compare with; recompile with "
            "`neurocc compile MODEL ... -o DIR` (it copies the model in)"
            + (f", or verify with --against {oracle} only" if oracle else ""))
    warnings = []
    recorded = program.source_hash
    actual = file_hash(path)
    if not recorded:
        warnings.append(f"{path}: the manifest records no source hash; cannot confirm it is the "
                        "model that was compiled")
    elif recorded != actual:
        warnings.append(f"{path} has hash {actual[:19]}... but the manifest recorded "
                        f"{recorded[:19]}... at compile time: the float model was changed after "
                        "compiling, so the comparison may not be of the compiled model")
    return path, warnings


def random_inputs(program: Program, rate: float, steps: int, batch: int, seed: int
                  ) -> dict[str, np.ndarray]:
    """Bernoulli(rate) spikes, float32 [steps, batch, *shape], per data input port."""
    rng = np.random.default_rng(seed)
    return {p.name: (rng.random((steps, batch, *p.shape)) < rate).astype(np.float32)
            for p in program.data_inputs}
