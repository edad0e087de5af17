"""Input spike trains for a model or an artifact: read from files, drawn at random, checked.

The messages name the command-line option a file came from (``--input`` by
default), since that is where most files come from; the Python API passes
arrays and gets the same checks through ``program_inputs``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from neurocc import ir
from neurocc.ir.inputs import check_inputs

from .errors import UsageError


def load_numpy(path: Path) -> Any:
    """np.load without pickles; a file it cannot read is a UsageError naming the file."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        # numpy says "pickled" both for object arrays and for files that are no numpy file
        why = ("it holds Python objects, or is no numpy file at all; save an array of numbers "
               "with numpy.save or numpy.savez" if "pickle" in str(e) else str(e))
        raise UsageError(f"{path}: not a numpy .npy/.npz file of numbers ({why})") from None


def load_graph_inputs(path: Path, graph: ir.Graph, option: str = "--input"
                      ) -> dict[str, np.ndarray]:
    """A model's inputs from a file: an .npy for a single Input node, or an .npz keyed by
    input name."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file ({option})")
    data = load_numpy(path)
    if isinstance(data, np.ndarray):
        if len(graph.inputs) != 1:
            raise UsageError(f"{path}: the model has {len(graph.inputs)} Input nodes "
                             f"{graph.inputs}; give an .npz with one array per input name")
        arrays = {graph.inputs[0]: data}
    else:
        with data:
            keys = sorted(data.files)
            if keys != sorted(graph.inputs):
                raise UsageError(f"{path}: has arrays {keys}, expected one per Input node: "
                                 f"{graph.inputs}")
            arrays = {k: data[k] for k in keys}
    # checked here too, so that a wrong shape or dtype names the file it came from
    return check_inputs({n: graph.shapes[n].output for n in graph.inputs}, arrays, where=str(path))


def random_graph_inputs(graph: ir.Graph, rate: float, steps: int, batch: int, seed: int
                        ) -> dict[str, np.ndarray]:
    """Bernoulli(rate) spike trains, float32, [steps, batch, *shape] per Input node."""
    rng = np.random.default_rng(seed)
    return {name: (rng.random((steps, batch, *graph.shapes[name].output)) < rate)
            .astype(np.float32) for name in graph.inputs}


def random_program_inputs(program: ir.Program, rate: float, steps: int, batch: int, seed: int
                          ) -> dict[str, np.ndarray]:
    """Bernoulli(rate) spikes, float32 [steps, batch, *shape], per data input port."""
    rng = np.random.default_rng(seed)
    return {p.name: (rng.random((steps, batch, *p.shape)) < rate).astype(np.float32)
            for p in program.data_inputs}


def load_program_inputs(path: Path, program: ir.Program) -> dict[str, np.ndarray]:
    """--input for an artifact: .npy for one data input, .npz keyed by input name.

    Checked here, once, for every backend: [T, B, *shape] of numbers.
    """
    names = [p.name for p in program.data_inputs]
    if not path.is_file():
        raise UsageError(f"{path}: no such file (--input)")
    data = load_numpy(path)
    if isinstance(data, np.ndarray):
        if len(names) != 1:
            raise UsageError(f"{path}: the program has {len(names)} inputs {names}; give an "
                             ".npz with one array per input name")
        arrays = {names[0]: data}
    else:
        with data:
            if sorted(data.files) != sorted(names):
                raise UsageError(f"{path}: has arrays {sorted(data.files)}, expected one per "
                                 f"input: {names}")
            arrays = {k: data[k] for k in data.files}
    return program_inputs(arrays, program, where=str(path))


def program_inputs(inputs: Any, program: ir.Program, where: str = "inputs"
                   ) -> dict[str, np.ndarray]:
    """An array (one data input) or a dict by input name, checked against the program's
    data input ports: [T, B, *shape] of numbers."""
    ports = program.data_inputs
    names = [p.name for p in ports]
    if isinstance(inputs, (str, Path)):
        return load_program_inputs(Path(inputs), program)
    if isinstance(inputs, dict):
        if sorted(inputs) != sorted(names):
            raise UsageError(f"{where}: has arrays {sorted(inputs)}, expected one per input: "
                             f"{names}")
        arrays = dict(inputs)
    else:
        if len(ports) != 1:
            raise UsageError(f"{where}: the program has {len(ports)} inputs {names}; give a dict "
                             "with one array per input name")
        arrays = {names[0]: inputs}
    return check_inputs({p.name: p.shape for p in ports}, arrays, where=where)
