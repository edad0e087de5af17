"""Accuracy kept: the compiled Loihi 2 program decides like the float model.

The Braille test set is not available, so the inputs are random spike trains:
1000 trains of 256 steps, each of the 12 taxel channels a Bernoulli(0.1)
process (a sparse event stream, as tactile event sensors produce). The
program is calibrated on 256 OTHER trains of the same kind (a different seed),
so the test inputs never shaped the compilation. Decisions are the argmax of
output spike counts, compared over the samples where the float model has a
unique winner; the emulator runs the target's latency behind the float model
and is aligned by it.

The NIR paper's own Loihi mapping of braille_noDelay_bias_zero kept 48.6 %
accuracy where float had 95 %; the goal here is to lose nothing (>= 99 %
agreement).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurocc import ir
from neurocc.backends import loihi2
from neurocc.simulators.calibration import calibrate
from neurocc.compiler.pipeline import compile_graph
from neurocc.compiler.passes.quantize import QuantizeOptions
from neurocc.simulators import emulator, reference
from neurocc.backends import get_target as _get_target  # noqa: E402

LOIHI2 = _get_target("loihi2")

FIX = Path(__file__).parent / "fixtures" / "nir-paper"
STEPS, SAMPLES, RATE = 256, 1000, 0.1


def decisions(float_out: np.ndarray, chip_out: np.ndarray, latency: int) -> dict[str, float]:
    f = float_out[:float_out.shape[0] - latency].sum(axis=0)
    c = chip_out[latency:].sum(axis=0)
    top2 = np.sort(f, axis=1)[:, -2:]
    unique = top2[:, 1] > top2[:, 0]
    agree = f.argmax(axis=1) == c.argmax(axis=1)
    return {"agreement": float(agree[unique].mean()), "unique": int(unique.sum()),
            "correlation": float(np.corrcoef(f.ravel(), c.ravel())[0, 1])}


@pytest.mark.parametrize("name", ["braille_noDelay_bias_zero", "braille_noDelay_noBias_subtract"])
def test_braille_argmax_agreement_at_least_99_percent(name: str) -> None:
    graph = ir.load(FIX / f"{name}.nir")
    dt = 1e-4
    cal = (np.random.default_rng(99).random((200, 256, 12)) < RATE).astype(np.float32)
    program = compile_graph(graph, loihi2.target(), dt,
                            QuantizeOptions(calibration=calibrate(graph, cal, dt)))
    x = np.random.default_rng(0).random((STEPS, SAMPLES, 12)) < RATE
    float_out = reference.run(graph, x.astype(np.float32), dt).outputs["output"]
    result = emulator.run(program, LOIHI2, x)
    assert result.overflow_report() == [] or all("saturated" in line for line in result.overflow_report()), \
        "the current must never wrap (calibration sizes the threshold for it)"
    latency = program.output_latency["output"]
    assert latency == 2  # two synapse layers between the input and the output neurons
    d = decisions(float_out, result.outputs["output"], latency)
    assert d["unique"] > 0.8 * SAMPLES, "too many ties for the comparison to mean much"
    assert d["agreement"] >= 0.99, d
    assert d["correlation"] > 0.99, d


def test_uncalibrated_compile_is_still_close() -> None:
    """Without calibration the default threshold (1024) loses a little, not a lot."""
    graph = ir.load(FIX / "braille_noDelay_bias_zero.nir")
    program = compile_graph(graph, loihi2.target(), 1e-4)
    x = np.random.default_rng(1).random((STEPS, 300, 12)) < RATE
    float_out = reference.run(graph, x.astype(np.float32), 1e-4).outputs["output"]
    d = decisions(float_out, emulator.run(program, LOIHI2, x).outputs["output"], 2)
    assert d["agreement"] >= 0.95, d


def test_cnn_sinabs_compiles_and_agrees_on_random_events() -> None:
    graph = ir.load(FIX / "cnn_sinabs.nir")
    program = compile_graph(graph, loihi2.target(), 1.0)
    x = np.random.default_rng(2).random((100, 16, 2, 34, 34)) < 0.05
    float_out = reference.run(graph, x.astype(np.float32), 1.0).outputs["output"]
    latency = program.output_latency["output"]
    assert latency == 5  # five neuron layers, one synapse step each
    d = decisions(float_out, emulator.run(program, LOIHI2, x).outputs["output"], latency)
    # the issue asks only that it is reported (README); the counts must track the float model
    print(f"cnn_sinabs argmax agreement {d['agreement']:.3f} over {d['unique']} samples")
    assert d["correlation"] > 0.95, d
