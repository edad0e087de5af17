"""neurocc's Python API: compile a spiking network for a chip, run it, check it, profile it.

``import neurocc`` gives these functions::

    import neurocc
    from neurocc.compiler import demo

    x, y = demo.load_test_set()
    program = neurocc.compile(demo.model_path(), "loihi2", calibrate=demo.load_calibration_set()[0])
    out = neurocc.run(program, x).outputs["output"]          # aligned to the float model's steps
    print(demo.accuracy(out, y))                              # 0.9778 (352/360)

A model is a ``.nir`` path, an in-memory ``nir.NIRGraph`` (what snnTorch,
Norse, Spyx and Sinabs export) or a ``neurocc.ir.Graph``. A compiled
``Program`` keeps its float model and target in memory, so ``verify`` and
``save`` need nothing more; ``load`` reads an artifact back with both. Every
mistake in an argument is a ``neurocc.ir.NeuroccError`` with a message that
says what to change. The ``neurocc`` command calls the same functions.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neurocc import ir
from neurocc.ir import NeuroccError, Program

from . import checks
from .artifact import artifact_target, load_artifact, resolve_target, write_artifact
from .describe import describe_target, shipped_targets
from .errors import UsageError
from .inputs import program_inputs

__all__ = ["compile", "run", "verify", "profile", "save", "load", "targets", "RunResult",
           "NeuroccError", "UsageError", "Program"]

#: the attribute under which a Program compiled or loaded here carries its float model
#: (``(nir_bytes or path, Graph)``) and its target object
_SOURCE, _TARGET = "_neurocc_source", "_neurocc_target"


# --- models and targets ---------------------------------------------------------


def _model_source(model: Any, tmp: Path) -> tuple[ir.Graph, Path, str]:
    """(graph, a .nir file holding the model, where): from a path, nir.NIRGraph or Graph."""
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise UsageError(f"{path}: no such file (model)")
        return ir.load(path), path, str(path)
    file = tmp / "model.nir"
    if isinstance(model, ir.Graph):
        ir.save(model, file)
        return model, file, "<ir.Graph>"
    if type(model).__name__ == "NIRGraph" and type(model).__module__.startswith("nir"):
        import nir

        graph = ir.from_nir(model)
        try:
            nir.write(file, model)
        except Exception as e:  # nir's own writer: a graph it cannot store is the user's
            raise UsageError(f"model: nir.write could not store this nir.NIRGraph ({e}); "
                             "check it with nir.NIRGraph's own validation") from None
        return graph, file, "<nir.NIRGraph>"
    raise UsageError(f"model: expected a .nir path, a nir.NIRGraph or a neurocc.ir.Graph, got "
                     f"{type(model).__name__}")


def _quantize_options(options: dict[str, Any], calibration: dict[str, float]) -> Any:
    from neurocc.compiler.passes.quantize import QuantizeOptions

    known = [f.name for f in dataclasses.fields(QuantizeOptions) if f.name != "calibration"]
    unknown = sorted(set(options) - set(known))
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UsageError(f"compile: unknown option(s) {', '.join(unknown)}{hint}; the options are "
                         f"{', '.join(known)} (and dt, calibrate, calibrate_percentile)")
    return QuantizeOptions(**options, calibration=calibration)


def _source_bytes(program: Program) -> tuple[bytes, ir.Graph] | None:
    return getattr(program, _SOURCE, None)


def _target_of(program: Program, target: Any) -> Any:
    if target is not None:
        found = resolve_target(target, option="")
        if found.name != program.target:
            raise UsageError(f"target: the program was compiled for '{program.target}', not "
                             f"'{found.name}'")
        return found
    own = getattr(program, _TARGET, None)
    return own if own is not None else resolve_target(program.target, option="")


def _program(program: Any) -> Program:
    """A Program, or an artifact directory's (loaded with its model and target)."""
    if isinstance(program, Program):
        return program
    if isinstance(program, (str, os.PathLike)):
        return load(program)
    raise UsageError(f"program: expected a neurocc Program (from neurocc.compile or "
                     f"neurocc.load) or an artifact directory, got {type(program).__name__}")


def compile(model: Any, target: Any = "loihi2", dt: float | None = None, calibrate: Any = None,
            *, calibrate_percentile: float = 100.0, tune: bool = False,
            on_pass: Callable[[str, Any, float], None] | None = None,
            **options: Any) -> Program:
    """Compile `model` for `target` and return the integer ``Program``.

    model: a ``.nir`` path, a ``nir.NIRGraph`` or a ``neurocc.ir.Graph``.
    target: a shipped chip's name (``neurocc.targets()``), a target .toml path, or a target.
    dt: seconds per step (default: the model's metadata).
    calibrate: sample inputs ``[T, B, *shape]`` (an array, or a dict by input name): the
    float model runs them and each layer's threshold is sized to the largest current seen.
    tune: also try the other mappings the target offers (Xylo: each decay rounded the other
    way, smaller or larger thresholds) on the `calibrate` samples and keep one only where it
    decides like the float model significantly more often (``compiler/api/tune.py``); the
    trials are in ``program.info["tuning"]``.
    options: ``force``, ``vth``, ``headroom``, ``weight_blocks`` as ``neurocc compile``'s
    flags (``force={"1": {"dv": 163}}``).

    >>> program = neurocc.compile("model.nir", "loihi2", dt=1e-3, calibrate=x_train)
    >>> program.output_latency
    {'output': 2}
    """
    from neurocc.compiler.pipeline import compile_graph
    from neurocc.ir.inputs import check_inputs, resolve_dt

    with tempfile.TemporaryDirectory(prefix="neurocc-") as tmp:
        graph, file, where = _model_source(model, Path(tmp))
        data = file.read_bytes()
    chip = resolve_target(target, option="")
    if dt is not None and (isinstance(dt, bool) or not isinstance(dt, (int, float))
                           or not np.isfinite(dt) or dt <= 0):
        raise UsageError(f"dt: must be a number of seconds > 0, got {dt!r}")
    step = resolve_dt(dt, graph.metadata, where=where)
    calibration: dict[str, float] = {}
    if calibrate is not None:
        from neurocc.simulators.calibration import calibrate as run_calibration

        samples = check_inputs({n: graph.shapes[n].output for n in graph.inputs},
                               calibrate if isinstance(calibrate, dict) else np.asarray(calibrate),
                               where="calibrate")
        calibration = run_calibration(graph, samples, step, calibrate_percentile)
    quantize = _quantize_options(options, calibration)
    trials = None
    if tune:
        if calibrate is None:
            raise UsageError("tune=True needs calibrate= samples: the mappings are compared on "
                             "them (never on the test set)")
        from .tune import tune as run_tune

        quantize, trials = run_tune(graph, chip, step, quantize, samples)
    program = compile_graph(graph, chip, step, quantize, source_hash=_hash(data), on_pass=on_pass)
    if trials is not None:
        program.info["tuning"] = trials
    chip.validate(program)
    setattr(program, _SOURCE, (data, graph))
    setattr(program, _TARGET, chip)
    return program


def _hash(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def save(program: Program, path: Any, model: Any = None, target: Any = None) -> Path:
    """Write `program` as an artifact directory (what ``neurocc run/verify/profile`` read).

    The float model goes in beside it (source.nir): the one the program was compiled from,
    or `model` (a .nir path) for a program that carries none. Same program, same files.

    >>> neurocc.save(program, "out/digits")
    PosixPath('out/digits')
    """
    program = _program(program)
    chip = _target_of(program, target)
    out = Path(path)
    with tempfile.TemporaryDirectory(prefix="neurocc-") as tmp:
        if model is not None:
            if not isinstance(model, (str, os.PathLike)):
                raise UsageError("model: give the .nir path the program was compiled from")
            source = Path(model)
            if not source.is_file():
                raise UsageError(f"{source}: no such file (model)")
        elif _source_bytes(program) is not None:
            source = Path(tmp) / "source.nir"
            source.write_bytes(_source_bytes(program)[0])
        else:
            raise UsageError("save: this program carries no float model; pass model=PATH, the "
                             ".nir file it was compiled from")
        write_artifact(program, source, out, chip)
    return out


def load(path: Any) -> Program:
    """Read an artifact directory back, with its float model and its target.

    >>> program = neurocc.load("out/digits")
    """
    from neurocc.compiler.verification import SOURCE_NAME

    path = Path(path)
    program = load_artifact(path)
    setattr(program, _TARGET, artifact_target(path, program))
    source = path / SOURCE_NAME
    if source.is_file():
        setattr(program, _SOURCE, (source.read_bytes(), None))
    setattr(program, "_neurocc_artifact", path)
    return program


def targets() -> dict[str, dict[str, Any]]:
    """The shipped chips by name, each as ``neurocc targets --json`` describes it.

    >>> sorted(neurocc.targets())
    ['loihi2', 'speck', 'spinnaker2', 'xylo_audio2']
    """
    return {t.name: describe_target(t) for t in shipped_targets()}


# --- running ----------------------------------------------------------------------


@dataclasses.dataclass
class RunResult:
    """What ``neurocc.run`` returns.

    outputs: by output name, ``[T, B, ...]`` on the float model's time axis when the run
    was aligned (spikes; a voltage readout in the model's units). raw: the simulator's
    own result (``.spikes``, ``.traces``, ``.outputs`` as the chip produced them, and on
    the emulator ``.counters`` and ``.overflow_report()``). latency: steps each output
    answers after the float model; padding: silent steps appended to the input.
    """

    outputs: dict[str, np.ndarray]
    raw: Any
    latency: dict[str, int]
    padding: int
    aligned: bool

    @property
    def overflow(self) -> list[str]:
        report = getattr(self.raw, "overflow_report", None)
        return report() if report is not None else []


def run(program: Any, inputs: Any, target: Any = None, aligned: bool = True,
        record: tuple[str, ...] | list[str] = (), backend: str = "emulator") -> RunResult:
    """Run `program` on `inputs` (``[T, B, *shape]``, or a dict by input name).

    aligned=True: the input gets ``latency`` silent steps appended and each output is read
    from its own latency on, so ``outputs`` have the float model's T steps, step for step.
    aligned=False: outputs exactly as the chip emits them (``latency`` steps late).
    backend: "emulator" (bit-accurate, JAX) or the target's vendor simulator ("lava").

    >>> res = neurocc.run(program, x)           # x: [32, 360, 64]
    >>> res.outputs["output"].shape, res.latency
    ((32, 360, 10), {'output': 2})
    """
    program = _program(program)
    chip = _target_of(program, target)
    arrays = program_inputs(inputs, program)
    record = (record,) if isinstance(record, str) else tuple(record)
    unknown = [g for g in record if g not in program.groups]
    if unknown:
        raise UsageError(f"record: no such group {', '.join(unknown)}; groups are "
                         f"{', '.join(program.groups)}")
    latency = program.output_latency
    pad = max(latency.values(), default=0) if aligned else 0
    if pad:
        arrays = {k: np.concatenate([v, np.zeros((pad,) + v.shape[1:], v.dtype)])
                  for k, v in arrays.items()}
    if backend == "emulator":
        from neurocc.simulators.emulator import Emulator

        raw = Emulator(program, chip, record).run(arrays)
    elif chip.oracle is not None and backend == chip.oracle.name:
        checks.require_oracle(chip, backend)
        raw = chip.oracle.run(program, arrays, record)
    else:
        names = ["emulator"] + ([chip.oracle.name] if chip.oracle is not None else [])
        raise UsageError(f"backend: {backend!r} is not one of {', '.join(names)} for "
                         f"'{chip.name}'")
    ports = {p.name: p for p in program.outputs}
    outputs = {}
    for name, arr in raw.outputs.items():
        arr = np.asarray(arr)
        if aligned:
            arr = arr[latency[name]:latency[name] + arr.shape[0] - pad]
            arr = ports[name].to_float(arr) if ports[name].kind == "voltage" else arr
        outputs[name] = arr
    return RunResult(outputs, raw, latency, pad, aligned)


def verify(program: Any, inputs: Any, against: Any = None, model: Any = None,
           target: Any = None) -> dict[str, Any]:
    """Run `program` on the emulator and compare it; return the verdict ``neurocc verify`` prints.

    against: "reference" (the float model, outputs aligned by their latency) and/or the
    target's vendor simulator ("lava", bit for bit); default: the reference, plus the
    vendor simulator when it is installed. model: the float model, for a program that
    does not carry one.

    >>> v = neurocc.verify(program, x, against=("reference",))
    >>> v["reference"]["outputs"]["output"]["argmax_agreement"]
    """
    program = _program(program)
    chip = _target_of(program, target)
    arrays = program_inputs(inputs, program)
    against = (checks.default_against(chip)[0] if against is None
               else checks.check_against(against))
    warnings: list[str] = []
    source: Any = None
    if "reference" in against:
        if model is not None:
            with tempfile.TemporaryDirectory(prefix="neurocc-") as tmp:
                source = _model_source(model, Path(tmp))[0]
        elif getattr(program, "_neurocc_artifact", None) is not None:
            from neurocc.compiler import verification as V

            source, warnings = V.source_model(program._neurocc_artifact, program)
        elif _source_bytes(program) is not None and _source_bytes(program)[1] is not None:
            source = _source_bytes(program)[1]
    return checks.run_verification(
        program, chip, arrays, against, source, warnings,
        artifact=str(getattr(program, "_neurocc_artifact", "")), input_desc={})


def profile(program: Any, inputs: Any, target: Any = None, energy_from: str | None = None,
            energy_file: Any = None, energy: Any = ()) -> dict[str, Any]:
    """Profile one emulator run: activity, sparsity, synaptic ops, memory, traffic, energy.

    Returns the report ``neurocc profile --json`` writes (figures per sample). Energy is
    estimated only from published constants: the target's, ``energy_from`` (e.g. "loihi1"),
    an ``energy_file`` or ``energy`` overrides such as ``"synop=20pJ"``.

    >>> report = neurocc.profile(program, x, energy_from="loihi1")
    >>> report["profile"]["network"]["synops"], report["energy"]["total"]["total"]
    """
    from .profiling import energy_model, run_profile

    program = _program(program)
    chip = _target_of(program, target)
    arrays = program_inputs(inputs, program)
    constants, label, other, why = energy_model(
        program, chip, energy_from, None if energy_file is None else Path(energy_file), energy)
    return run_profile(program, chip, arrays, constants, label, other, why,
                       artifact=str(getattr(program, "_neurocc_artifact", "")),
                       input_desc={})[0]


