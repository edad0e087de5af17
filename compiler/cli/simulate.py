"""``neurocc simulate``: run a model in the float reference simulator and save the results."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from neurocc import ir
from neurocc.compiler.api.describe import RECURRENCE_RULE
from neurocc.compiler.api.inputs import load_graph_inputs, random_graph_inputs

from .common import (Command, UsageError, check_writable_dir, make_console, positive_float,
                     positive_int, probability, shape_str, write_atomically)


def _add_simulate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", type=Path, help="a NIR graph file (.nir)")
    p.add_argument("--dt", type=positive_float, default=None, metavar="SECONDS",
                   help="seconds per simulation step. NIR neurons are continuous-time, so a "
                        "step size is needed; without --dt the model's metadata must carry "
                        "'dt', else this is an error")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, metavar="IN.npy",
                        help="input array, time-major [T, B, *input_shape]; for a model with "
                             "several Input nodes an .npz with one such array per input name")
    source.add_argument("--random-input", type=probability, metavar="RATE",
                        help="instead of --input: Bernoulli(RATE) spikes (0/1, float32) on "
                             "every input, for --steps steps and --batch samples")
    p.add_argument("--steps", type=positive_int, default=None, metavar="T",
                   help="time steps of random input (required with --random-input)")
    p.add_argument("--batch", type=positive_int, default=1, metavar="B",
                   help="samples of random input run side by side")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random input, so a run can be repeated")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.npz",
                   help="where to write the results: 'output.NAME' [T, B, ...] per Output "
                        "node, 'trace.NODE.VAR' per recorded state, 'input.NAME' (the inputs "
                        "used) and 'semantics' (JSON text)")
    p.add_argument("--record", nargs="+", action="extend", default=[], metavar="NODE",
                   help="node(s) whose state (e.g. v, i, out) to record as traces")
    p.add_argument("--integrator", choices=("euler", "exact"), default="euler",
                   help="'euler': forward Euler, as snnTorch and Norse step; 'exact': the "
                        "exponential (exact) solution of the linear ODE over one step")
    p.add_argument("--float64", action="store_true",
                   help="compute in float64 instead of float32 (JAX stays 32-bit elsewhere)")
    p.add_argument("--threshold", choices=(">", ">="), default=">",
                   help="spike when v > threshold (NIR) or when v >= threshold (some chips)")
    p.add_argument("--reset", choices=("nir", "subtract"), default="nir",
                   help="after a spike: 'nir' sets v to v_reset (the NIR rule); 'subtract' "
                        "lowers v by the threshold (what snnTorch's reset by subtraction did)")


def _npz_payload(result: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for name, arr in result.outputs.items():
        arrays[f"output.{name}"] = np.asarray(arr)
    for node, variables in result.traces.items():
        for var, arr in variables.items():
            arrays[f"trace.{node}.{var}"] = np.asarray(arr)
    for name, arr in inputs.items():
        arrays[f"input.{name}"] = np.asarray(arr)
    # a 0-d unicode array: readable with allow_pickle=False, unlike a dict
    arrays["semantics"] = np.array(json.dumps(result.semantics, sort_keys=True, default=str))
    return arrays


def _print_simulation_summary(result: Any, out: Path, steps: int, batch: int) -> None:
    from rich.table import Table
    from rich.text import Text

    console = make_console()
    table = Table(title=Text(f"{steps} steps x {batch} samples -> {out}"), title_justify="left")
    for col in ("output", "shape [T, B, ...]", "spikes", "spikes/sample", "rate/neuron/step"):
        table.add_column(col, justify="left" if col == "output" else "right", no_wrap=True)
    for name in sorted(result.outputs):
        arr = np.asarray(result.outputs[name])
        spiking = bool(np.all((arr == 0) | (arr == 1)))
        total = float(arr.sum())
        shape = shape_str(arr.shape)
        if spiking:
            per_neuron = total / max(arr.size, 1)
            table.add_row(Text(name), shape, str(int(total)), f"{total / batch:.1f}",
                          f"{per_neuron:.4f}")
        else:  # a leaky integrator's membrane value, not spikes
            table.add_row(Text(name), shape, "(values)", f"mean {arr.mean():.4g}",
                          f"max {arr.max():.4g}")
    console.print(table)
    for warning in getattr(result, "warnings", []):
        console.print(f"warning: {warning}", markup=False)
    console.print("semantics used (also stored in the .npz as 'semantics'):", markup=False)
    for key, value in sorted(result.semantics.items()):
        console.print(f"  {key}: {value}", markup=False)


def run_simulate(args: argparse.Namespace) -> int:
    if args.random_input is not None and args.steps is None:
        raise UsageError("--random-input needs --steps T (and optionally --batch B, --seed S)")
    if args.input is not None and args.steps is not None:
        # T comes from the file; silently ignoring --steps would surprise
        raise UsageError("--steps only applies to --random-input; with --input the number "
                         "of steps is the first dimension of the input array")
    check_writable_dir(args.output)
    graph = ir.load(args.model)
    if args.input is not None:
        inputs = load_graph_inputs(args.input, graph)
    else:
        inputs = random_graph_inputs(graph, args.random_input, args.steps, args.batch, args.seed)

    from neurocc.simulators import reference  # imports JAX: only commands that simulate pay

    # dt=None lets the library take the graph's metadata, or raise saying to pass --dt;
    # the library also checks the inputs' shapes and dtypes
    result = reference.run(graph, inputs, args.dt, integrator=args.integrator,
                           dtype="float64" if args.float64 else "float32",
                           record=tuple(args.record), threshold=args.threshold,
                           reset=args.reset)
    arrays = _npz_payload(result, inputs)
    write_atomically(args.output, lambda f: np.savez(f, **arrays), suffix=".npz.tmp")
    steps, batch = next(iter(inputs.values())).shape[:2]
    _print_simulation_summary(result, args.output, int(steps), int(batch))
    return 0


COMMAND = Command(
    name="simulate",
    help="run a model in the float reference simulator (NIR semantics) and save spikes",
    description="Simulate a NIR graph step by step in float (the reference every chip "
                "deployment is verified against). Inputs and outputs are time-major: "
                "[T, B, *shape]. The semantics are decided once and recorded in the output: "
                "dt must be known; forward Euler unless --integrator exact; spike when v > "
                "threshold; reset to v_reset; " + RECURRENCE_RULE + "; CubaLIF updates its "
                "current first, then its voltage (as snnTorch and Lava do).",
    epilog="examples:\n"
           "  neurocc simulate tests/fixtures/nir-paper/braille_noDelay_bias_zero.nir \\\n"
           "      --dt 1e-4 --random-input 0.1 --steps 100 --batch 8 -o braille.npz\n"
           "  neurocc simulate model.nir --dt 1e-4 --input spikes.npy -o out.npz "
           "--record lif1 --integrator exact\n"
           "  neurocc simulate tests/fixtures/nir-paper/cnn_sinabs.nir --dt 1 \\\n"
           "      --random-input 0.1 --steps 50 --batch 4 -o cnn.npz"
           "   # Sinabs IF neurons are discrete-time\n\n"
           "Read the results with numpy.load('out.npz'); json.loads(str(f['semantics'])) "
           "gives the semantics used.",
    add_arguments=_add_simulate_arguments,
    run=run_simulate,
)

