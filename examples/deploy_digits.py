"""Compile the bundled digits model for Loihi 2 and score it on the emulator.

    python examples/deploy_digits.py

Calibrates on the shipped TRAINING spike trains (never the test set),
compiles for ``loihi2``, runs the bit-accurate emulator on the 360 test
spike trains and prints the test accuracy of the float reference and of the
emulator. The emulator's output neurons answer ``latency`` steps (one per
synapse layer, here 2) after the float model; ``neurocc.run`` pads the input
with that many silent steps and reads each output from its latency on, so
both count spikes over the same 32 model steps. Needs only neurocc (no
scikit-learn).
"""


from __future__ import annotations

import time

import numpy as np

import neurocc
from neurocc import ir
from neurocc.compiler import demo
from neurocc.simulators import reference


def evaluate() -> dict[str, object]:
    x, y = demo.load_test_set()
    program = neurocc.compile(demo.model_path(), "loihi2", calibrate=demo.load_calibration_set()[0])
    run = neurocc.run(program, x)   # outputs aligned to the float model's time axis
    chip_out = run.outputs["output"]
    float_out = reference.run(ir.load(demo.model_path()), x.astype(np.float32)).outputs["output"]
    return {"float_accuracy": demo.accuracy(float_out, y), "emulator_accuracy": demo.accuracy(chip_out, y),
            "decisions_agree": float(np.mean(float_out.sum(0).argmax(1) == chip_out.sum(0).argmax(1))),
            "latency_steps": run.latency["output"], "overflow": run.overflow, "samples": len(y)}


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
