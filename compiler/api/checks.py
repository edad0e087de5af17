"""The verify policy: what an artifact's emulator run is compared with, and the verdict.

``default_against`` picks the comparisons (the float reference, plus the
target's vendor simulator when it is installed); ``require_oracle`` names the
missing piece when one is asked for; ``run_verification`` runs everything and
returns the verdict dict that ``neurocc verify`` prints and writes as JSON.
The comparisons themselves are ``neurocc.compiler.verification``'s.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neurocc import backends, ir
from neurocc.compiler import verification as V

from .errors import UsageError

#: the vendor simulators `run --backend` and `verify --against` may name (targets' oracles)
ORACLES = tuple(backends.ORACLES)
AGAINST = ("reference",) + ORACLES

#: ``step(label, fn) -> (fn(), seconds)``: how a long step is run (the CLI shows a spinner)
Step = Callable[[str, Callable[[], Any]], tuple[Any, float]]


def timed(label: str, fn: Callable[[], Any]) -> tuple[Any, float]:
    """fn() and its wall time, silently."""
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def default_against(target: Any) -> tuple[tuple[str, ...], str]:
    """(comparisons, why): the float reference, plus the target's oracle when it is found."""
    oracle = target.oracle
    if oracle is None:
        found, against = f"{target.name} has no vendor simulator", ("reference",)
    else:
        try:
            found = f"{oracle.label} because {oracle.locate()} was found"
            against = ("reference", oracle.name)
        except ir.NeuroccError as e:
            found = f"{oracle.label} skipped: {e}"
            against = ("reference",)
    return against, f"default: the float reference; {found}"


def check_against(against: Any) -> tuple[str, ...]:
    """A tuple of known comparison names, in order, without repeats."""
    items = (against,) if isinstance(against, str) else tuple(against)
    items = tuple(dict.fromkeys(items))
    bad = [s for s in items if s not in AGAINST]
    if not items or bad:
        raise UsageError(f"against: expected some of {', '.join(AGAINST)}; got {list(items)}")
    return items


def require_oracle(target: Any, name: str) -> Any:
    """The target's oracle's interpreter, or a user error with the install hint."""
    if target.oracle is None or target.oracle.name != name:
        have = f"its oracle is '{target.oracle.name}'" if target.oracle else "it has no oracle"
        raise UsageError(f"--backend/--against {name}: this artifact is for '{target.name}', "
                         f"and {have}")
    return target.oracle.locate()  # a NeuroccError that says how to build it


def reference_graph(source: Any, inputs: dict[str, np.ndarray]) -> ir.Graph:
    """The float model to compare with: a path (the artifact's copy) or a Graph."""
    if isinstance(source, ir.Graph):
        graph = source
    else:
        try:
            graph = ir.load(source)
        except (ir.ModelFileError, ir.GraphError) as e:
            raise V.VerificationError(
                f"the artifact's copy of its model is damaged ({e}); compile the model again "
                "(`neurocc compile MODEL ... -o DIR`), or verify with --against lava only"
            ) from None
    if sorted(graph.inputs) != sorted(inputs):
        raise V.VerificationError(f"{source}: its inputs {graph.inputs} are not the "
                                  f"artifact's {sorted(inputs)}")
    return graph


def run_verification(program: ir.Program, target: Any, inputs: dict[str, np.ndarray],
                     against: tuple[str, ...], source: Any = None,
                     source_warnings: list[str] | None = None, *, artifact: str = "",
                     input_desc: dict[str, Any] | None = None, step: Step = timed
                     ) -> dict[str, Any]:
    """Run the emulator and whatever `against` names; return the verdict.

    `source`: the float model (a .nir path or a Graph), needed when `against`
    holds "reference". The verdict's ``reference.outputs`` are aligned by each
    output's latency; an oracle's entry says whether every group's spikes and
    state are equal at every step (``bit_exact``), else the first difference.
    """
    from neurocc.simulators.emulator import Emulator

    source_warnings = list(source_warnings or [])
    oracles = [a for a in against if a != "reference"]
    oracle = target.oracle
    oracle_python = require_oracle(target, oracles[0]) if oracles else None
    steps, batch = (int(n) for n in next(iter(inputs.values())).shape[:2])
    dt = program.dt
    timings: dict[str, float] = {}
    emu, timings["emulator"] = step(
        "emulator: compiling and running",
        lambda: Emulator(program, target, tuple(program.groups) if oracles else ()).run(inputs))
    verdict: dict[str, Any] = {"artifact": artifact, "target": program.target, "dt": dt,
                               "input": dict(input_desc or {}) | {"steps": steps, "batch": batch},
                               "against": list(against)}
    if oracles:
        name = oracle.name
        other, timings[name] = step(f"{oracle.label}: building the network and running it in "
                                    "its own environment",
                                    lambda: oracle.run(program, inputs, tuple(program.groups)))
        runs = {}
        for who, res in (("emulator", emu), (name, other)):
            runs[who] = {g: {"spikes": res.spikes[g], **res.traces.get(g, {})}
                         for g in program.groups}
        report = V.compare_bit_exact(runs["emulator"], runs[name], list(program.groups))
        verdict[name] = report.to_json() | {"label": oracle.label, "python": str(oracle_python),
                                            f"{name}_timing_s": other.timing}
    if "reference" in against:
        from neurocc.simulators.reference import ReferenceSimulator

        if source is None:
            raise UsageError("comparing with the float reference needs the float model: give "
                             "model= (a .nir path, a nir.NIRGraph or an ir.Graph), or verify "
                             "an artifact directory, which carries its model")
        graph = reference_graph(source, inputs)
        sim = ReferenceSimulator(graph, dt)
        ref, timings["reference"] = step("float reference: compiling and running",
                                         lambda: sim.run(inputs))
        outputs = V.compare_outputs(emu.outputs, ref.outputs, program.output_latency,
                                    {p.name: p for p in program.outputs})
        verdict["reference"] = {
            "model": str(source) if not isinstance(source, ir.Graph) else "(in memory)",
            "latency_steps": {o.output: o.latency for o in outputs},
            "semantics": ref.semantics, "warnings": source_warnings + list(ref.warnings),
            "outputs": {o.output: o.to_json() for o in outputs}}
    verdict["overflow"] = emu.overflow_report()
    verdict["timings_s"] = timings
    return verdict


def source_of(artifact: Path, program: ir.Program, against: tuple[str, ...],
              oracle: str | None = None) -> tuple[Path | None, list[str]]:
    """The artifact's copy of its float model and warnings about it (None when not needed);
    `oracle`: the target's vendor simulator, named in the error as the fallback."""
    if "reference" not in against:
        return None, []
    return V.source_model(artifact, program, oracle)
