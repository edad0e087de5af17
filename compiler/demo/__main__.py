"""`python -m neurocc.compiler.demo export DIR | accuracy ARTIFACT`: the steps of `make demo`.

export: writes the bundled model and its spike trains as plain files, so the
demo can use the ordinary `neurocc` commands on them (DIR/digits.nir,
DIR/test_spikes.npy [32, 360, 64], DIR/test_labels.npy, DIR/calibration.npy,
which holds TRAINING images only).
accuracy: the test accuracy of the float model (the artifact's source.nir) and
of the Loihi 2 emulator running the artifact, on the 360 test images.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

from neurocc import ir
from neurocc.compiler import demo
from neurocc.simulators import reference


def export(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo.model_path(), out / "digits.nir")
    x, y = demo.load_test_set()
    np.save(out / "test_spikes.npy", x)
    np.save(out / "test_labels.npy", y)
    np.save(out / "calibration.npy", demo.load_calibration_set()[0])
    print(f"exported the bundled model and its spike trains to {out}/")


def accuracy(artifact: Path) -> None:
    import neurocc

    program = neurocc.load(artifact)
    x, y = demo.load_test_set()
    float_out = reference.run(ir.load(artifact / "source.nir"), x.astype(np.float32),
                              program.dt).outputs["output"]
    run = neurocc.run(program, x)   # outputs aligned to the float model's time axis
    latency = run.latency["output"]
    f, c = demo.accuracy(float_out, y), demo.accuracy(run.outputs["output"], y)
    n = len(y)
    print(f"digits test set ({n} images, {x.shape[0]} steps each; emulator aligned by {latency} steps)")
    print(f"  float reference test accuracy: {f:.2%} ({round(f * n)}/{n})")
    print(f"  loihi2 emulator test accuracy: {c:.2%} ({round(c * n)}/{n})  "
          f"difference {100 * (c - f):+.2f} percentage points")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("export", "accuracy"):
        print(__doc__)
        return 2
    (export if argv[0] == "export" else accuracy)(Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
