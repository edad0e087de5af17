"""The xylosim bridge (backends/xylo/xylosim): SynSense's bit-accurate Xylo simulator,
run in its own venv (``.venv-xylo``) through ``run_xylosim``.

Expected values are worked out by hand from shared/docs/xylo-arithmetic.md (section
numbers in the comments), never taken from the runner's output. Decay of a state x by
``dash``: ``x - max(x >> dash, 1 if x > 0 else ...)`` (section 3); input of step t is
added before that step's decay; hidden -> readout/recurrent takes one step (section 4).

These tests need ``.venv-xylo``; without it they FAIL (they do not skip) with the
message to run ``make xylo``, which the Makefile runs before the tests.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from neurocc.backends.xylo import xylosim as bridge
from neurocc.backends.xylo.xylosim import (XylosimRunError, XylosimUnavailableError,
                                           run_xylosim, xylo_python, xylosim_available)
from neurocc.ir import NeuroccError

BIG = 32767  # a threshold no test state reaches


def quiet_spec(n_in: int, n_hid: int, n_out: int) -> dict[str, np.ndarray]:
    """No weights, no bias, dash 1 everywhere, thresholds out of reach, no aliases."""
    return {
        "weights_in": np.zeros((n_in, n_hid, 2), np.int8),
        "weights_rec": np.zeros((n_hid, n_hid, 2), np.int8),
        "weights_out": np.zeros((n_hid, n_out), np.int8),
        "dash_mem": np.ones(n_hid, np.int16), "dash_syn": np.ones(n_hid, np.int16),
        "dash_syn_2": np.ones(n_hid, np.int16), "threshold": np.full(n_hid, BIG, np.int16),
        "bias": np.zeros(n_hid, np.int16),
        "dash_mem_out": np.ones(n_out, np.int16), "dash_syn_out": np.ones(n_out, np.int16),
        "threshold_out": np.full(n_out, BIG, np.int16), "bias_out": np.zeros(n_out, np.int16),
        "weight_shift_in": np.array(0), "weight_shift_rec": np.array(0),
        "weight_shift_out": np.array(0),
        "aliases": np.full(n_hid, -1, np.int32),
    }


def test_the_venv_is_there():
    assert xylosim_available(), "run `make xylo` to build .venv-xylo"
    assert xylo_python().exists()


def test_single_events_decay_as_the_doc_says_and_samples_start_from_zero():
    # Section 3: one event w into Isyn = 0, dash 1: 3 -> 2 -> 1 -> 0, -3 -> -1 -> 0,
    # 10 -> 5 -> 3 -> 2 -> 1, -10 -> -5 -> -2 -> -1; the recorded state is after the
    # step's decay, so the first value is already decayed once. Counts clip at 15.
    spec = quiet_spec(n_in=5, n_hid=5, n_out=1)
    spec["weights_in"][0, 0, 0] = 3      # channel 0 -> neuron 0, synapse 1
    spec["weights_in"][1, 1, 1] = -3     # channel 1 -> neuron 1, synapse 2 (Isyn2)
    spec["weights_in"][2, 2, 0] = 10
    spec["weights_in"][3, 3, 0] = -10
    spec["weights_in"][4, 4, 0] = 1
    spec["dash_syn"][4] = 15             # one unit per step
    T = 4
    raster = np.zeros((T, 2, 5), np.uint8)
    raster[0, 0, :4] = 1                 # sample 0: one event each at t = 0
    raster[0, 0, 4] = 20                 # ... and 20 events on channel 4: 15 count
    raster[1, 1, 0] = 1                  # sample 1: one event on channel 0 at t = 1
    out = run_xylosim(spec, raster, chip="xylo_audio2")
    assert set(out) == set(bridge.STATE_KEYS)
    assert all(v.dtype == np.int32 for v in out.values())
    assert out["isyn"].shape == (T, 2, 5) and out["vmem_out"].shape == (T, 2, 1)
    isyn, isyn2, vmem = out["isyn"][:, 0], out["isyn2"][:, 0], out["vmem"][:, 0]
    assert isyn[:, 0].tolist() == [2, 1, 0, 0]
    assert isyn2[:, 1].tolist() == [-1, 0, 0, 0]
    assert isyn[:, 1].tolist() == [0, 0, 0, 0]          # synapse 2 only
    assert isyn[:, 2].tolist() == [5, 3, 2, 1]
    assert isyn[:, 3].tolist() == [-5, -2, -1, 0]
    assert isyn[:, 4].tolist() == [14, 13, 12, 11]      # 15 events (not 20), then -1 per step
    # Vmem (dash_mem 1): v += -d(v) + Isyn + Isyn2.
    assert vmem[:, 0].tolist() == [2, 2, 1, 0]          # 0+2, 2-1+1, 2-1+0, 1-1
    assert vmem[:, 1].tolist() == [-1, 0, 0, 0]         # -1, -1-(-1)+0
    assert not out["spikes"].any() and not out["spikes_out"].any()
    # Sample 1 starts from zero (sample 0 ended with Isyn 11 on neuron 4) and sees t = 1.
    assert out["isyn"][:, 1, 0].tolist() == [0, 2, 1, 0]
    assert out["isyn"][:, 1, 4].tolist() == [0, 0, 0, 0]
    assert out["vmem"][:, 1, 0].tolist() == [0, 2, 2, 1]


def test_a_hidden_spike_reaches_readout_and_recurrent_synapses_one_step_later():
    # Section 4. Neuron 0 (dash_mem 0, so Vmem = Isyn): 100 in at t=0 -> Isyn 50,
    # threshold 50: 1 spike at t=0, Vmem 0; then Isyn 25, 13, 7 stay below 50.
    spec = quiet_spec(n_in=1, n_hid=2, n_out=2)
    spec["weights_in"][0, 0, 0] = 100
    spec["dash_mem"][0] = 0
    spec["threshold"][0] = 50
    spec["weights_rec"][0, 1, 1] = -4    # neuron 0 -> neuron 1, synapse 2
    spec["weights_out"][0, :] = 5        # neuron 0 -> both readouts
    spec["threshold_out"][1] = 3
    raster = np.zeros((7, 1, 1), np.uint8)
    raster[0, 0, 0] = 1
    out = {k: v[:, 0] for k, v in run_xylosim(spec, raster, chip="xylo_audio2").items()}
    assert out["spikes"][:, 0].tolist() == [1, 0, 0, 0, 0, 0, 0]
    assert out["vmem"][:4, 0].tolist() == [0, 25, 13, 7]
    # Readout 0: 5 arrives at t=1, decays: 3, 2, 1, 0; Vmem 3, 3-1+2, 4-2+1, 3-1, 2-1, 1-1.
    assert out["isyn_out"][:, 0].tolist() == [0, 3, 2, 1, 0, 0, 0]
    assert out["vmem_out"][:, 0].tolist() == [0, 3, 4, 3, 2, 1, 0]
    # Readout 1 (threshold 3): spikes at t=1 and keeps 3-3 = 0, then 2, 2-1+1, 2-1, 1-1.
    assert out["spikes_out"][:, 1].tolist() == [0, 1, 0, 0, 0, 0, 0]
    assert out["vmem_out"][:, 1].tolist() == [0, 0, 2, 2, 1, 0, 0]
    assert out["spikes_out"][:, 0].sum() == 0
    # Recurrent: -4 into neuron 1's Isyn2 at t=1: -4-(-2) = -2, -2-(-1) = -1, 0.
    assert out["isyn2"][:, 1].tolist() == [0, -2, -1, 0, 0, 0, 0]
    assert out["isyn"][:, 1].tolist() == [0] * 7


@pytest.mark.parametrize("via", ["layer", "rockpool"])
def test_31_spike_cap_keeps_the_surplus_and_the_readout_spikes_once(via):
    # Section 3: Vmem 32767 with threshold 100 -> 31 spikes, 32767 - 3100 = 29667 left.
    # To get 32767: 127 << 8 = 32512 into each synapse at t=0, dash_syn 15 (one unit):
    # Isyn 32511 + Isyn2 32511 saturates to 32767. Readout: 31 events of 127 << 8 at
    # t=1 saturate its Isyn at 32767, -1 (dash 15) = 32766 >= 100: one spike, 32666 left.
    spec = quiet_spec(n_in=2, n_hid=1, n_out=1)
    spec["weights_in"][0, 0, 0] = 127
    spec["weights_in"][1, 0, 1] = 127
    spec["weight_shift_in"] = np.array(8)
    spec["dash_syn"][:] = 15
    spec["dash_syn_2"][:] = 15
    spec["threshold"][:] = 100
    spec["weights_out"][0, 0] = 127
    spec["weight_shift_out"] = np.array(8)
    spec["dash_syn_out"][:] = 15
    spec["dash_mem_out"][:] = 15
    spec["threshold_out"][:] = 100
    raster = np.zeros((2, 1, 2), np.uint8)
    raster[0, 0, :] = 1
    out = {k: v[:, 0, 0] for k, v in run_xylosim(spec, raster, "xylo_audio2", via).items()}
    assert out["isyn"][0] == 32511 and out["isyn2"][0] == 32511
    assert out["spikes"][0] == 31
    assert out["vmem"][0] == 29667
    assert out["isyn_out"].tolist() == [0, 32766]
    assert out["spikes_out"].tolist() == [0, 1]
    assert out["vmem_out"].tolist() == [0, 32666]


def test_vmem_at_minus_32768_with_dash_mem_0_is_stuck():
    # Section 7, trap 6: -d(-32768) with dash 0 is +32768, which wraps to -32768.
    # Neurons 0 (dash_mem 0) and 1 (dash_mem 1) get the same input: -128 << 8 into both
    # synapses at t=0 (each -32768 -> -16384 after decay: Vmem -32768), nothing at t=1,
    # then 127 << 8 into synapse 1 once at t=2 and twice at t=3.
    spec = quiet_spec(n_in=3, n_hid=2, n_out=1)
    spec["weights_in"][0, :, 0] = -128
    spec["weights_in"][1, :, 1] = -128
    spec["weights_in"][2, :, 0] = 127
    spec["weight_shift_in"] = np.array(8)
    spec["dash_mem"][:] = [0, 1]
    raster = np.zeros((4, 1, 3), np.uint8)
    raster[0, 0, :2] = 1
    raster[2, 0, 2] = 1
    raster[3, 0, 2] = 2
    out = {k: v[:, 0] for k, v in run_xylosim(spec, raster, chip="xylo_audio3").items()}
    # Isyn: -16384, -8192, sat(-8192+32512)=24320 -> 12160, sat(12160+2*32512)=32767 -> 16384.
    assert out["isyn"][:, 0].tolist() == [-16384, -8192, 12160, 16384]
    assert out["isyn2"][:, 0].tolist() == [-16384, -8192, -4096, -2048]
    assert out["vmem"][:, 0].tolist() == [-32768] * 4        # Isyn sum 8064, 14336: ignored
    # dash_mem 1: -32768 + 16384 - 16384, then -32768 + 16384 + 8064, -8320 + 4160 + 14336.
    assert out["vmem"][:, 1].tolist() == [-32768, -32768, -8320, 10176]


def test_bias_every_step_and_aliases_copy_spike_counts_on_imu():
    # Section 3: the bias is added every step (has_bias: some bias is non-zero).
    # Neuron 0: bias 5, dash_mem 1: 5, 5-2+5, 8-4+5, 9-4+5, 10-5+5.
    # Readout: bias_out -3: -3, -3+2-3, -4+2-3, -5+3-3 (negative decay floors).
    # Neuron 1 (dash_mem 0, threshold 10): 100 at t=0 -> Isyn 50 -> 5 spikes, Vmem 0;
    # t=1: Isyn 25 -> 2 spikes, Vmem 5. Its alias target, neuron 2 (no input, higher
    # index), spikes as often; neuron 3 aliases to neuron 0 (lower index), which gets 0.
    spec = quiet_spec(n_in=1, n_hid=4, n_out=1)
    spec["bias"][0] = 5
    spec["bias_out"][0] = -3
    spec["weights_in"][0, 1, 0] = 100
    spec["dash_mem"][1] = 0
    spec["threshold"][1] = 10
    spec["aliases"][:] = [-1, 2, -1, 0]
    del spec["dash_syn_2"]               # optional on the one-synapse chip
    raster = np.zeros((5, 1, 1), np.uint8)
    raster[0, 0, 0] = 1
    out = {k: v[:, 0] for k, v in run_xylosim(spec, raster, chip="xylo_imu").items()}
    assert out["vmem"][:, 0].tolist() == [5, 8, 9, 10, 10]
    assert out["vmem_out"][:, 0].tolist() == [-3, -4, -5, -5, -5]
    assert out["spikes"][:2, 1].tolist() == [5, 2]
    assert out["vmem"][:2, 1].tolist() == [0, 5]
    assert out["spikes"][:, 2].tolist() == out["spikes"][:, 1].tolist()
    assert out["vmem"][:, 2].tolist() == [0] * 5
    assert out["spikes"][:, 0].tolist() == [0] * 5
    assert not out["isyn2"].any()


def random_spec(rng, chip: str, n_hid: int, n_out: int) -> dict[str, np.ndarray]:
    """A lively but not explosive configuration within the chip's rules (section 2)."""
    n_in = 16
    spec = quiet_spec(n_in, n_hid, n_out)

    def sparse_int8(shape, density):
        return (rng.integers(-128, 128, shape) * (rng.random(shape) < density)).astype(np.int8)

    spec["weights_in"] = sparse_int8((n_in, n_hid, 2), 0.3)
    spec["weights_rec"] = sparse_int8((n_hid, n_hid, 2), 0.05)
    spec["weights_out"] = sparse_int8((n_hid, n_out), 0.3)
    if chip != "xylo_audio2":            # IEN: first 128 hidden; OEN: last 128 hidden
        spec["weights_in"][:, 128:] = 0
        spec["weights_out"][: max(n_hid - 128, 0)] = 0
    if chip == "xylo_imu":
        spec["weights_in"][..., 1] = 0
        spec["weights_rec"][..., 1] = 0
    spec.update(
        dash_mem=rng.integers(0, 16, n_hid), dash_syn=rng.integers(1, 8, n_hid),
        dash_syn_2=rng.integers(1, 8, n_hid), threshold=rng.integers(100, 8000, n_hid),
        bias=rng.integers(-30, 30, n_hid), dash_mem_out=rng.integers(1, 8, n_out),
        dash_syn_out=rng.integers(1, 8, n_out), threshold_out=rng.integers(100, 8000, n_out),
        bias_out=rng.integers(-30, 30, n_out),
        weight_shift_in=np.array(4), weight_shift_rec=np.array(2), weight_shift_out=np.array(3),
        aliases=np.where(rng.random(n_hid) < 0.2, rng.integers(0, n_hid, n_hid), -1))
    return spec


@pytest.mark.parametrize("chip,n_hid,n_out", [("xylo_audio2", 60, 8), ("xylo_imu", 150, 16),
                                              ("xylo_audio3", 150, 32)])
def test_layer_and_rockpool_agree_bit_for_bit(chip, n_hid, n_out):
    # Rockpool's own XyloSim.from_specification for the chip loads our spec format and
    # simulates exactly what the runner's XyloLayer does.
    rng = np.random.default_rng(sum(map(ord, chip)))
    spec = random_spec(rng, chip, n_hid, n_out)
    raster = rng.poisson(0.3, (150, 2, 16)).astype(np.uint8)
    ours = run_xylosim(spec, raster, chip=chip, via="layer")
    theirs = run_xylosim(spec, raster, chip=chip, via="rockpool")
    for key in bridge.STATE_KEYS:
        assert ours[key].shape == theirs[key].shape, key
        assert np.array_equal(ours[key], theirs[key]), key
    assert ours["spikes"].sum() > 100 and ours["spikes_out"].sum() > 0  # not a silent net
    assert ours["spikes"].max() > 1                                       # multi-spikes occur
    assert ours["isyn2"].any() == (chip != "xylo_imu")
    assert not np.array_equal(ours["vmem"][:, 0], ours["vmem"][:, 1])    # two samples differ


def test_a_missing_venv_says_make_xylo(monkeypatch, tmp_path):
    monkeypatch.setenv(bridge.ENV_VAR, str(tmp_path / "nowhere" / "python"))
    with pytest.raises(XylosimUnavailableError, match="make xylo"):
        xylo_python()
    assert not xylosim_available()
    monkeypatch.delenv(bridge.ENV_VAR)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bridge, "HERE", tmp_path)
    with pytest.raises(XylosimUnavailableError, match="make xylo") as err:
        run_xylosim(quiet_spec(1, 1, 1), np.zeros((1, 1, 1), np.uint8))
    assert isinstance(err.value, NeuroccError)
    # A venv without the stamp (a build that stopped half-way) is not taken.
    python = tmp_path / ".venv-xylo" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    with pytest.raises(XylosimUnavailableError, match=r"\.neurocc-xylo-ok.*make xylo"):
        xylo_python()


def test_an_interpreter_without_xylosim_is_not_taken(monkeypatch):
    monkeypatch.setenv(bridge.ENV_VAR, sys.executable)  # the main venv: numpy, no xylosim
    with pytest.raises(XylosimUnavailableError, match="xylosim"):
        run_xylosim(quiet_spec(1, 1, 1), np.zeros((1, 1, 1), np.uint8))


@pytest.mark.parametrize("change,chip,message", [
    (lambda s, r: s["weights_in"].__setitem__((0, 0, 0), 200), "xylo_audio2", "weights_in.*200"),
    (lambda s, r: s["weights_rec"].__setitem__((0, 1, 1), 5), "xylo_imu", "one synaptic state"),
    (lambda s, r: s["weights_out"].__setitem__((0, 0), 5), "xylo_audio3", "last 128"),
    (lambda s, r: s["threshold"].__setitem__(0, 40000), "xylo_audio2", "threshold.*40000"),
    (lambda s, r: r.__setitem__((0, 0, 0), 256), "xylo_audio2", "raster.*256"),
    (lambda s, r: s.__setitem__("bias", np.zeros(3)), "xylo_audio2", r"bias.*shape \(130,\)"),
    (lambda s, r: s["aliases"].__setitem__(0, 130), "xylo_audio2", "aliases.*130"),
])
def test_malformed_input_is_refused_with_one_line(change, chip, message):
    spec = {k: v.astype(np.int64) for k, v in quiet_spec(n_in=2, n_hid=130, n_out=1).items()}
    raster = np.zeros((3, 1, 2), np.int64)
    change(spec, raster)
    with pytest.raises(XylosimRunError, match=message) as err:
        run_xylosim(spec, raster, chip=chip)
    assert "refused the input" in str(err.value)
    assert "Traceback" not in str(err.value)


def test_too_many_neurons_for_the_chip_is_refused():
    spec = quiet_spec(n_in=16, n_hid=497, n_out=1)  # IMU has 496 hidden neurons
    with pytest.raises(XylosimRunError, match="496"):
        run_xylosim(spec, np.zeros((1, 1, 16), np.uint8), chip="xylo_imu")
