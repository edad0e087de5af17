"""The bundled demo model (neurocc.compiler.demo): a trained SNN on 8x8 digits.

Float accuracy is recomputed with neurocc's reference on the shipped test
spike trains and must equal the number PROVENANCE.md states, to the sample.
The Loihi 2 deployment is calibrated on the shipped TRAINING spike trains,
never on the test set; the emulator's input is padded with `latency` silent
steps and its output read from step `latency` on, so both count spikes over
the same 32 model steps.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from neurocc import ir
from neurocc.backends import loihi2
from neurocc.compiler import demo
from neurocc.simulators.calibration import calibrate
from neurocc.compiler.pipeline import compile_graph
from neurocc.compiler.passes.quantize import QuantizeOptions
from neurocc.simulators import emulator, reference
from neurocc.backends import get_target as _get_target  # noqa: E402

LOIHI2 = _get_target("loihi2")

PROVENANCE = Path(demo.__file__).with_name("PROVENANCE.md")


def stated(label: str) -> int:
    """The 'N/360' that PROVENANCE.md gives after `label:`."""
    m = re.search(rf"{re.escape(label)}:\s*\**\s*(\d+)\s*/\s*360", PROVENANCE.read_text())
    assert m, f"PROVENANCE.md states no '{label}: N/360'"
    return int(m.group(1))


@pytest.fixture(scope="module")
def model() -> ir.Graph:
    return ir.load(demo.model_path())


@pytest.fixture(scope="module")
def test_set() -> tuple[np.ndarray, np.ndarray]:
    return demo.load_test_set()


@pytest.fixture(scope="module")
def float_out(model: ir.Graph, test_set) -> np.ndarray:
    x, _ = test_set
    return reference.run(model, x.astype(np.float32)).outputs["output"]  # dt from the metadata


def test_shipped_files_load_and_are_small(model: ir.Graph, test_set) -> None:
    assert demo.model_path().stat().st_size < 200_000
    assert float(model.metadata["dt"]) == demo.DT == 1e-3
    assert [model.nodes[n].kind for n in model.order] == ["Input", "Linear", "LIF", "Linear", "LIF", "Output"]
    assert model.shapes["input"].output == (64,) and model.shapes["output"].output == (10,)
    x, y = test_set
    assert x.dtype == np.uint8 and x.shape == (demo.STEPS, 360, 64) and set(np.unique(x)) <= {0, 1}
    assert y.shape == (360,) and np.array_equal(np.bincount(y), [36, 36, 35, 37, 36, 37, 36, 36, 35, 36])
    xc, yc = demo.load_calibration_set()
    assert xc.dtype == np.uint8 and xc.shape == (demo.STEPS, 256, 64) and yc.shape == (256,)


def test_float_accuracy_is_the_stated_one(float_out: np.ndarray, test_set) -> None:
    _, y = test_set
    correct = int(np.sum(float_out.sum(axis=0).argmax(axis=1) == y))
    assert correct == stated("float test accuracy")
    assert correct / len(y) > 0.85  # chance is 10 %


def test_loihi2_emulator_keeps_the_accuracy(model: ir.Graph, float_out: np.ndarray, test_set) -> None:
    x, y = test_set
    x_cal, _ = demo.load_calibration_set()
    dt = float(model.metadata["dt"])
    program = compile_graph(model, loihi2.target(), dt,
                            QuantizeOptions(calibration=calibrate(model, x_cal.astype(np.float32), dt)))
    latency = program.output_latency["output"]
    assert latency == 2  # two synapse layers
    padded = np.concatenate([x, np.zeros((latency,) + x.shape[1:], x.dtype)])
    result = emulator.run(program, LOIHI2, padded)
    assert result.overflow_report() == []
    chip = result.outputs["output"][latency:].sum(axis=0)
    flt = float_out.sum(axis=0)
    chip_correct = int(np.sum(chip.argmax(axis=1) == y))
    float_correct = int(np.sum(flt.argmax(axis=1) == y))
    assert abs(chip_correct - float_correct) <= 0.01 * len(y), (chip_correct, float_correct)
    assert chip_correct == stated("loihi2 emulator test accuracy")
    # the counts themselves track the float model, not just the argmax
    assert np.corrcoef(flt.ravel(), chip.ravel())[0, 1] > 0.99
