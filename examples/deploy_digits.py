"""Compile the bundled digits model for Loihi 2 and score it on the emulator.

    python examples/deploy_digits.py

Calibrates on the shipped TRAINING spike trains (never the test set),
compiles for ``loihi2``, runs the bit-accurate emulator on the 360 test
spike trains and prints the test accuracy of the float reference and of the
emulator. The emulator's output neurons run ``latency`` steps (one per
synapse layer, here 2) behind the float model, so the input is padded with
``latency`` silent steps and the emulator's outputs are read from step
``latency`` on: both then count spikes over the same 32 model steps, and
nothing is cut off. Needs only neurocc (no scikit-learn).
"""

from __future__ import annotations

import time

import numpy as np

from neurocc import ir
from neurocc.backends import loihi2
from neurocc.compiler import demo
from neurocc.simulators.calibration import calibrate
from neurocc.compiler.pipeline import compile_graph
from neurocc.compiler.passes.quantize import QuantizeOptions
from neurocc.simulators import emulator, reference


def evaluate() -> dict[str, object]:
    graph = ir.load(demo.model_path())
    dt = float(graph.metadata["dt"])
    x, y = demo.load_test_set()
    x_cal, _ = demo.load_calibration_set()
    program = compile_graph(graph, loihi2.target(), dt,
                            QuantizeOptions(calibration=calibrate(graph, x_cal.astype(np.float32), dt)))
    latency = program.output_latency["output"]
    float_out = reference.run(graph, x.astype(np.float32), dt).outputs["output"]
    padded = np.concatenate([x, np.zeros((latency,) + x.shape[1:], x.dtype)])
    result = emulator.run(program, loihi2.target(), padded)
    chip_out = result.outputs["output"][latency:]
    return {"float_accuracy": demo.accuracy(float_out, y), "emulator_accuracy": demo.accuracy(chip_out, y),
            "decisions_agree": float(np.mean(float_out.sum(0).argmax(1) == chip_out.sum(0).argmax(1))),
            "latency_steps": latency, "overflow": result.overflow_report(), "samples": len(y)}


def main() -> None:
    t0 = time.perf_counter()
    r = evaluate()
    n = r["samples"]
    print(f"digits test set, {n} samples (emulator aligned by {r['latency_steps']} steps of latency)")
    print(f"  float reference: {r['float_accuracy']:.4f} ({round(r['float_accuracy'] * n)}/{n})")
    print(f"  loihi2 emulator: {r['emulator_accuracy']:.4f} ({round(r['emulator_accuracy'] * n)}/{n})")
    print(f"  same decision on {r['decisions_agree']:.4f} of the samples; "
          f"overflow: {r['overflow'] or 'none'}; {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
