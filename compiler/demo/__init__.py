"""neurocc's bundled demo model: a spiking network trained on 8x8 handwritten digits.

``digits.nir``: 64 inputs -> Linear -> 128 LIF -> Linear -> 10 LIF, tau 8 ms,
``dt`` = 1 ms in the graph's metadata, 32 steps per image; the class is the
output neuron with the most spikes. Trained by ``examples/train_digits.py``
on scikit-learn's digits (see PROVENANCE.md for how, and the accuracy;
LICENSE for the data's origin and license).

``load_test_set()``: the 360 test images of the fixed split as binary spike
trains (Bernoulli rate code, one seeded draw), time-major ``uint8 [32, 360,
64]``, and their labels. ``load_calibration_set()``: 256 TRAINING images
encoded the same way, for ``neurocc.simulators.calibration``, so a deployment is
never sized on the data it is scored on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_HERE = Path(__file__).parent

#: seconds per step the model was trained at (also in the .nir metadata)
DT = 1e-3
#: steps per image
STEPS = 32


def model_path() -> Path:
    """The trained model, a NIR file: ``neurocc.ir.load(model_path())``."""
    return _HERE / "digits.nir"


def _load(name: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(_HERE / name, allow_pickle=False) as d:
        return d["x"], d["y"]


def load_test_set() -> tuple[np.ndarray, np.ndarray]:
    """(spikes uint8 [T=32, 360, 64], labels int64 [360]): the held-out test split."""
    return _load("digits_test.npz")


def load_calibration_set() -> tuple[np.ndarray, np.ndarray]:
    """(spikes uint8 [T=32, 256, 64], labels int64 [256]): training images, for calibration."""
    return _load("digits_calibration.npz")


def accuracy(output_spikes: np.ndarray, labels: np.ndarray) -> float:
    """Fraction right when the class is the argmax of the spike counts ([T, B, 10]); a tie goes to
    the lowest index, as ``numpy.argmax`` decides it."""
    return float(np.mean(np.asarray(output_spikes).sum(axis=0).argmax(axis=1) == labels))
