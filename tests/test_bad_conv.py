"""Convolutions Loihi 2 cannot take: one clear error each, through the command line,
naming the layer, the number, the limit and the fix, and leaving no artifact."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np

from cli_helpers import assert_user_error
from test_bad_inputs import compile_fails


def _conv_model(path: Path, c_in: int, size: int, k: int = 1, stride: int = 1,
                pad: int = 0) -> Path:
    """Input(c_in, size, size) -> Conv2d(2 channels) -> IF -> Output, written by nir."""
    w = np.random.default_rng(0).normal(size=(2, c_in, k, k)) * 0.01
    out = (size + 2 * pad - k) // stride + 1
    shape = (2, out, out)
    nodes = {"in": nir.Input(input_type=np.array([c_in, size, size])),
             "conv1": nir.Conv2d(input_shape=(size, size), weight=w, stride=stride,
                                 padding=pad, dilation=1, groups=1, bias=np.zeros(2)),
             "lif": nir.IF(r=np.ones(shape), v_threshold=np.ones(shape)),
             "out": nir.Output(output_type=np.array(shape))}
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=[("in", "conv1"), ("conv1", "lif"),
                                                     ("lif", "out")], type_check=False))
    return path


def test_a_stride_lavas_conv_cannot_hold_names_layer_limit_and_fix(capsys, tmp_path):
    model = _conv_model(tmp_path / "m.nir", c_in=2, size=400, k=3, stride=200)
    err = compile_fails(capsys, tmp_path, model, dt="1")
    assert_user_error(2, err, "design rules", "stride (200, 200) beyond 127",
                      "layer 'lif'", "a stride of at most 127")
    assert err.count("beyond 127") == 1        # said once, not per residual block


def test_a_convolution_no_core_can_hold_even_one_output_channel_of(capsys, tmp_path):
    # a 1x1 convolution reading 5000 channels: every neuron has 4829..5000 inputs (the
    # kernel's zeros drop a few), above the 4096 a core takes, so no slicing helps
    model = _conv_model(tmp_path / "m.nir", c_in=5000, size=2)
    err = compile_fails(capsys, tmp_path, model, dt="1")
    assert_user_error(2, err, "CapacityError", "layer 'lif'", "at most 4096 (max_fan_in)",
                      "no cut by output channel or position helps",
                      "input channels per group times kernel taps at most 4096",
                      "in pass 'partition'")
