"""Throughput of the float reference simulator on the shared NIR-paper models.

For each case: random Bernoulli(0.1) spikes, 100 steps. The first call of a
``ReferenceSimulator`` traces and compiles (JAX); later calls with the same
input shape reuse the compiled program, so the first call minus the median of
the later ones is the compile time, and the median is the steady-state run
time. ``run`` returns numpy arrays, so every timed call has finished its work.
(The module-level ``reference.run`` builds a new simulator, and compiles
again, on every call; that is the cost a one-shot ``neurocc simulate`` pays.)

Prints a table and writes ``bench/results/reference.json``.
Usage: python bench/reference.py [--repeats N] [--steps T]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import jax
import numpy as np
from rich.console import Console
from rich.table import Table

from neurocc import ir
from neurocc.simulators.reference import ReferenceSimulator
from helpers.timing import time_runs  # bench/helpers (this script's folder is on sys.path)

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "nir-paper"
RESULTS = Path(__file__).resolve().parent / "results" / "reference.json"

#: (label, model file, dt in seconds, batch sizes). cnn_sinabs holds discrete-time
#: Sinabs IF neurons (r = 1), so one step is dt = 1.
CASES = [
    ("braille bias_zero", "braille_noDelay_bias_zero.nir", 1e-4, (1, 256)),
    ("cnn_sinabs", "cnn_sinabs.nir", 1.0, (1, 64)),
]
RATE = 0.1


def bernoulli_inputs(graph: ir.Graph, steps: int, batch: int, seed: int = 0
                     ) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: (rng.random((steps, batch, *graph.shapes[name].output)) < RATE)
            .astype(np.float32) for name in graph.inputs}


def time_case(graph: ir.Graph, dt: float, batch: int, steps: int, repeats: int) -> dict:
    """Seconds to compile and to run once compiled, and neuron-steps per second."""
    sim = ReferenceSimulator(graph, dt)
    inputs = bernoulli_inputs(graph, steps, batch)
    first_s, runs, first = time_runs(sim, inputs, repeats)
    run_s = statistics.median(runs)
    # when a run takes seconds, its jitter can exceed the compile time; say so
    # rather than report a difference that is noise
    compile_s = first_s - run_s
    within_noise = compile_s <= max(runs) - min(runs)
    neuron_steps = graph.n_neurons() * steps * batch
    spikes = int(sum(np.asarray(o).sum() for o in first.outputs.values()))
    return {
        "batch": batch, "steps": steps, "dt": dt, "neurons": graph.n_neurons(),
        "first_call_s": first_s, "compile_s": compile_s, "compile_within_noise": within_noise,
        "run_s_median": run_s, "run_s_all": runs,
        "neuron_steps_per_s": neuron_steps / run_s, "output_spikes": spikes,
    }


def environment() -> dict:
    device = jax.devices()[0]
    return {
        "jax": jax.__version__, "backend": jax.default_backend(),
        "device": getattr(device, "device_kind", str(device)),
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "machine": platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs after compiling")
    parser.add_argument("--steps", type=int, default=100, help="time steps per run")
    args = parser.parse_args()

    results = []
    for label, filename, dt, batches in CASES:
        graph = ir.load(FIXTURES / filename)
        for batch in batches:
            row = time_case(graph, dt, batch, args.steps, args.repeats)
            results.append({"case": label, "model": filename, **row})

    env = environment()
    table = Table(title=f"reference simulator, {args.steps} steps, Bernoulli({RATE}) input, "
                        f"{env['backend']} ({env['device']}), median of {args.repeats}")
    for col in ("case", "batch", "neurons", "first call s", "compile s", "run ms",
                "neuron-steps/s"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in results:
        compile_text = "< noise" if r["compile_within_noise"] else f"{r['compile_s']:.2f}"
        table.add_row(r["case"], str(r["batch"]), str(r["neurons"]), f"{r['first_call_s']:.2f}",
                      compile_text,
                      f"{r['run_s_median'] * 1e3:.1f}",
                      f"{r['neuron_steps_per_s']:.3g}")
    # a pipe has no width; 120 columns keeps the table unwrapped in logs
    Console(highlight=False, width=None if sys.stdout.isatty() else 120).print(table)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "reference simulator throughput",
                                   "input_rate": RATE, "environment": env,
                                   "results": results}, indent=2) + "\n")
    print(f"wrote {os.path.relpath(RESULTS)}")


if __name__ == "__main__":
    main()
