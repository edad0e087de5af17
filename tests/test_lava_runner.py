"""The Lava bridge (backends/loihi2/lava) against the Loihi 2 fixed-point spec.

Each network runs in Intel's Lava (lava-nc 0.10.0, fixed_pt CPU models, in the
separate ``.venv-lava``) through ``run_lava_net``, and is compared with
``spec_run`` below: an independent numpy re-implementation of
shared/docs/loihi2-fixed-point.md section 2, written from the text of the
spec, not from Lava's code. u, v and spikes must be equal at every step.

These tests need ``.venv-lava``; without it they FAIL (they do not skip) with
the message to run ``make lava``, which the Makefile runs before the tests.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from neurocc.backends.loihi2 import lava as lava_bridge
from neurocc.backends.loihi2.lava import (LavaRunError, LavaUnavailableError, lava_python,
                                          run_lava_net, write_net)
from neurocc.ir import NeuroccError

MAX_UV = 2**23


# --------------------------------------------------------------------------
# The spec, in numpy (section 2 of loihi2-fixed-point.md)
# --------------------------------------------------------------------------

def wrap32(x):
    """Two's-complement wrap to int32, kept in int64 for the arithmetic."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + 2**31) % 2**32) - 2**31


def trunc0(x):
    """Divide by 4096 rounding toward zero: sign(x) * (|x| >> 12)."""
    x = np.asarray(x, dtype=np.int64)
    return np.sign(x) * (np.abs(x) >> 12)


def effective_weights(w, sign_mode=None, num_weight_bits=8, truncate_mixed_lsb=True):
    """Dense weight preprocessing (spec 2.3), done once.

    ``truncate_mixed_lsb=False`` breaks the spec on purpose (for a test that
    shows the truncation is observable).
    """
    w = np.asarray(w, dtype=np.int64)
    mode = sign_mode or ("excitatory" if w.min() >= 0 else
                         "inhibitory" if w.max() <= 0 else "mixed")
    mixed = mode == "mixed"
    if mode == "inhibitory":
        w = -w
    w = np.clip(w, -256 * mixed, 255)
    k = 8 - num_weight_bits + (mixed and truncate_mixed_lsb)
    w = (w >> k) << k
    if mode == "inhibitory":
        w = -w
    return w


def shift(x, exp):
    return x << exp if exp > 0 else x >> -exp  # floor on the sum


def spec_run(net: dict, steps: int, truncate_mixed_lsb: bool = True) -> dict[str, np.ndarray]:
    """Run ``net`` (run_lava_net's dict) under the spec; same keys as Lava's output."""
    pops = net["populations"]
    conns = net.get("connections", [])
    inp = np.asarray(net["input"], dtype=np.int64) if net.get("input") is not None else None
    state = {}
    for name, p in pops.items():
        n = p["n"]
        bias_mant = np.broadcast_to(np.asarray(p.get("bias_mant", 0), dtype=np.int64), (n,))
        bias_mant = ((bias_mant + 2**15) % 2**16) - 2**15  # stored as int16
        bias_exp = np.broadcast_to(np.asarray(p.get("bias_exp", 0), dtype=np.int64), (n,))
        bias = np.where(bias_exp >= 0, bias_mant << np.maximum(bias_exp, 0),
                        bias_mant >> np.maximum(-bias_exp, 0))
        state[name] = dict(
            u=wrap32(np.broadcast_to(p.get("u", 0), (n,))),
            v=wrap32(np.broadcast_to(p.get("v", 0), (n,))),
            bias=wrap32(bias), theta=int(p["vth"]) << 6,
            s=np.zeros(n, dtype=bool))
    weights = [effective_weights(c["weights"], c.get("sign_mode"), c.get("num_weight_bits", 8),
                                 truncate_mixed_lsb) for c in conns]
    # Delays (spec 2.5; plain Dense is delay 0 everywhere): a_buff has one
    # column per delay slot, zeros before the first step.
    delays = [np.broadcast_to(np.asarray(c.get("delays") if c.get("delays") is not None else 0),
                              w.shape) for c, w in zip(conns, weights)]
    a_buff = [np.zeros((len(w), int(d.max()) + 1), dtype=np.int64)
              for w, d in zip(weights, delays)]
    rec = {f"{k}.{name}": [] for name in pops for k in ("spikes", "u", "v")}
    for t in range(1, steps + 1):
        # 1. connections send what they computed at t-1 (int32 channel)
        sent = [wrap32(b[:, 0]) for b in a_buff]
        # 2. every LIF: receive, update, spike, reset, send s(t) in the same step
        for name, p in pops.items():
            st = state[name]
            a = np.zeros(p["n"], dtype=np.int64)
            for c, s in zip(conns, sent):
                if c["target"] == name:
                    a = wrap32(a + s)
            du, dv = int(p["du"]), int(p["dv"])
            u1 = wrap32(trunc0(st["u"] * (4096 - (du + 1))))
            u1 = wrap32(u1 + wrap32(a << 6))
            u = np.where(u1 > MAX_UV, u1 - 2**24, u1)  # one correction, not a modulo
            u = np.where(u <= -MAX_UV, u1 + 2**24, u)
            v1 = wrap32(trunc0(st["v"] * (4096 - dv)))
            v = np.clip(wrap32(v1 + u + st["bias"]), -(MAX_UV - 1), MAX_UV - 1)
            s = v > st["theta"]
            v = np.where(s, 0, v)
            st.update(u=u, v=v, s=s)
            rec[f"spikes.{name}"].append(s)
            rec[f"u.{name}"].append(u)
            rec[f"v.{name}"].append(v)
        # 3. connections receive this step's spikes and compute their next a_buff
        for i, c in enumerate(conns):
            assert c.get("num_message_bits", 0) == 0, "spec_run models binary spikes only"
            if c["source"] == "input":
                spikes = inp[:, (t - 1) % inp.shape[1]] != 0
            else:
                spikes = state[c["source"]]["s"]
            acc = np.stack([np.where(delays[i] == k, weights[i], 0)[:, spikes].sum(axis=1)
                            for k in range(a_buff[i].shape[1])], axis=1)
            acc = shift(acc, int(c.get("weight_exp", 0)))  # floor per delay slot
            rolled = np.zeros_like(a_buff[i])
            rolled[:, :-1] = a_buff[i][:, 1:]  # slot 0 was sent; the rest move up one
            a_buff[i] = wrap32(rolled + acc)
    out = {}
    for key, rows in rec.items():
        out[key] = np.array(rows, dtype=np.int8 if key.startswith("spikes") else np.int32)
    return out


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lava_py():
    """The Lava venv; a clear failure (not a skip) when it was not built."""
    try:
        return lava_python()
    except LavaUnavailableError as err:
        message = str(err)
    pytest.fail(f"the Lava venv is missing: run `make lava` first.\n{message}", pytrace=False)


def assert_traces_equal(lava_out: dict, spec_out: dict, names, what=("spikes", "u", "v")):
    for name in names:
        for k in what:
            key = f"{k}.{name}"
            got, want = lava_out[key], spec_out[key]
            assert got.shape == want.shape, key
            assert got.dtype == (np.int8 if k == "spikes" else np.int32), key
            bad = np.argwhere(got != want)
            assert bad.size == 0, (f"{key}: {len(bad)} values differ, first at step "
                                   f"{bad[0][0] + 1}, neuron {bad[0][1]}: lava {got[tuple(bad[0])]}"
                                   f", spec {want[tuple(bad[0])]}")


def chain_net(seed: int, steps: int = 50) -> dict:
    """RingBuffer(16) -> Dense -> LIF(32) -> Dense -> LIF(8), random parameters."""
    rng = np.random.default_rng(seed)
    return {
        "input": (rng.random((16, steps)) < 0.3).astype(np.int32),
        "populations": {
            "l1": {"n": 32, "du": int(rng.integers(0, 4096)), "dv": int(rng.integers(0, 4096)),
                   "vth": int(rng.integers(50, 1500)),
                   "bias_mant": rng.integers(-4096, 4096, 32), "bias_exp": rng.integers(0, 8, 32)},
            "l2": {"n": 8, "du": int(rng.integers(0, 4096)), "dv": int(rng.integers(0, 4096)),
                   "vth": int(rng.integers(50, 1500)),
                   "bias_mant": int(rng.integers(-200, 200)), "bias_exp": 0},
        },
        "connections": [
            {"source": "input", "target": "l1", "weights": rng.integers(-128, 128, (32, 16))},
            {"source": "l1", "target": "l2", "weights": rng.integers(-128, 128, (8, 32))},
        ],
    }


# --------------------------------------------------------------------------
# Lava vs. spec
# --------------------------------------------------------------------------

@pytest.mark.parametrize("seed,weight_exp,num_weight_bits", [(0, 0, 8), (1, 0, 8), (2, -3, 7)])
def test_chain_matches_spec_every_step(lava_py, seed, weight_exp, num_weight_bits):
    net = chain_net(seed)
    if weight_exp < 0:  # the right shift floors the accumulated sum, not each weight
        net["connections"][0].update(weight_exp=weight_exp, num_weight_bits=num_weight_bits)
        net["connections"][0]["weights"] = 4 * np.asarray(net["connections"][0]["weights"]) // 3
    got = run_lava_net(net, 50, python=lava_py)
    want = spec_run(net, 50)
    assert_traces_equal(got, want, ["l1", "l2"])
    # a test that could be wrong: both layers are active and input reaches layer 2
    assert got["spikes.l1"].sum() > 20
    assert np.abs(got["u.l2"]).max() > 0
    # the first step's LIF input is 0 (each Dense adds one step): u(1) is pure decay of 0
    assert not got["u.l1"][0].any() and not got["u.l2"][0].any()


def test_mixed_sign_weights_lose_their_lsb(lava_py):
    # One input spike at t=1; du=4095 gives u no memory, so u(2) = 64 * W_effective.
    w = np.array([[3], [-3], [127], [-128], [1], [-1]])
    net = {"input": np.array([[1, 0, 0]]),
           "populations": {"p": {"n": 6, "du": 4095, "dv": 4096, "vth": 100000}},
           "connections": [{"source": "input", "target": "p", "weights": w}]}
    got = run_lava_net(net, 3, monitor={"p": ["u"]}, python=lava_py)
    assert set(k for k in got if not k.startswith("time.")) == {"u.p"}  # only what was asked
    assert got["u.p"][1].tolist() == [64 * x for x in (2, -4, 126, -128, 0, -2)]
    assert not got["u.p"][0].any() and not got["u.p"][2].any()
    assert_traces_equal(got, spec_run(net, 3), ["p"], what=("u",))
    # The same weights, all positive (EXCITATORY): no truncation at 8 bits.
    net["connections"][0]["weights"] = np.abs(w)
    got = run_lava_net(net, 3, monitor={"p": "u"}, python=lava_py)
    assert got["u.p"][1].tolist() == [64 * x for x in (3, 3, 127, 128, 1, 1)]


def test_mixed_sign_chain_differs_from_untruncated_weights(lava_py):
    """The LSB truncation is visible in a random net, not only in a unit case."""
    net = chain_net(3)
    got = run_lava_net(net, 50, monitor={"l1": ["u"]}, python=lava_py)
    assert_traces_equal(got, spec_run(net, 50), ["l1"], what=("u",))
    # the spec without the truncation gives other traces; with even weights only
    # (all MIXED mode keeps) it gives the same
    assert not np.array_equal(spec_run(net, 50, truncate_mixed_lsb=False)["u.l1"], got["u.l1"])
    even = dict(net, connections=[dict(c, weights=(np.asarray(c["weights"]) >> 1) << 1)
                                  for c in net["connections"]])
    assert np.array_equal(spec_run(even, 50, truncate_mixed_lsb=False)["u.l1"], got["u.l1"])


def test_recurrent_population_and_cycle(lava_py):
    rng = np.random.default_rng(7)
    net = {
        "input": (rng.random((16, 40)) < 0.3).astype(np.int32),
        "populations": {
            "r": {"n": 20, "du": 300, "dv": 500, "vth": 200, "bias_mant": 50, "bias_exp": 2},
            "q": {"n": 6, "du": 1000, "dv": 100, "vth": 150},
        },
        "connections": [
            {"source": "input", "target": "r", "weights": rng.integers(0, 128, (20, 16))},
            {"source": "r", "target": "r", "weights": rng.integers(-128, 128, (20, 20))},  # self
            {"source": "r", "target": "q", "weights": rng.integers(0, 128, (6, 20))},
            {"source": "q", "target": "r", "weights": rng.integers(-128, 0, (20, 6))},  # cycle
        ],
    }
    got = run_lava_net(net, 60, python=lava_py)
    want = spec_run(net, 60)
    assert_traces_equal(got, want, ["r", "q"])
    assert got["spikes.r"].sum() > 20 and got["spikes.q"].sum() > 0
    # the recurrent edges matter: without them the spec gives other traces
    feedforward = dict(net, connections=[net["connections"][0], net["connections"][2]])
    assert not np.array_equal(spec_run(feedforward, 60)["u.r"], got["u.r"])


def test_du4095_dv0_no_current_memory_no_voltage_leak(lava_py):
    rng = np.random.default_rng(11)
    net = {
        "input": (rng.random((16, 30)) < 0.4).astype(np.int32),
        "populations": {"p": {"n": 10, "du": 4095, "dv": 0, "vth": 3000,
                              "bias_mant": rng.integers(-20, 20, 10), "bias_exp": 0}},
        "connections": [{"source": "input", "target": "p",
                         "weights": rng.integers(-60, 60, (10, 16)), "weight_exp": 1}],
    }
    got = run_lava_net(net, 30, python=lava_py)
    assert_traces_equal(got, spec_run(net, 30), ["p"])
    # u(t) is exactly this step's input: 64 * (W_eff @ x(t-1)) << weight_exp, with u(1) = 0
    w = effective_weights(net["connections"][0]["weights"])
    a = [(w @ (net["input"][:, t - 2] != 0)) << 1 for t in range(2, 31)]
    assert np.array_equal(got["u.p"][1:], 64 * np.array(a))
    # v(t) = v(t-1) + u(t) + bias, reset to 0 after a spike: no leak
    v, u, s = got["v.p"].astype(np.int64), got["u.p"], got["spikes.p"]
    bias = np.asarray(net["populations"]["p"]["bias_mant"])
    pre = np.vstack([np.zeros(10, np.int64), v[:-1]]) + u + bias
    assert np.array_equal(np.where(s == 1, 0, pre), v)
    assert s.sum() > 0


def test_overflow_u_wraps_v_saturates(lava_py):
    rng = np.random.default_rng(5)
    net = {
        "input": (rng.random((16, 40)) < 0.5).astype(np.int32),
        # vth << 6 = 2^23 is above the largest v, so nothing spikes and saturation shows
        "populations": {"p": {"n": 12, "du": 0, "dv": 0, "vth": 2**17}},
        "connections": [{"source": "input", "target": "p",
                         "weights": np.where(np.arange(12)[:, None] % 2 == 0, 1, -1)
                         * rng.integers(100, 128, (12, 16)),
                         "weight_exp": 6}],
    }
    got = run_lava_net(net, 40, python=lava_py)
    assert_traces_equal(got, spec_run(net, 40), ["p"])
    u, v = got["u.p"].astype(np.int64), got["v.p"]
    # u wraps: it changes sign against the direction of its (one-signed) input
    grows_pos, grows_neg = np.arange(12) % 2 == 0, np.arange(12) % 2 == 1
    du = np.diff(u, axis=0)
    assert (du[:, grows_pos] < -2**23).any(), "no positive u wrap happened"
    assert (du[:, grows_neg] > 2**23).any(), "no negative u wrap happened"
    assert np.abs(u).max() <= 2**23
    # v saturates at +-(2^23 - 1), never beyond
    assert (v == -(2**23 - 1)).any() and (v == 2**23 - 1).any()
    assert np.abs(v).max() == 2**23 - 1
    assert got["spikes.p"].sum() == 0


def test_threshold_is_strict_and_u_wrap_is_one_correction(lava_py):
    net = {
        "input": np.array([[1, 0, 0, 0]]),
        "populations": {
            # dv=4096: v(t) = u(t) + bias, so v sits exactly at, below, above vth << 6
            "th": {"n": 3, "du": 4095, "dv": 4096, "vth": 100, "bias_mant": [6399, 6400, 6401]},
            # du=-1: no current decay; u is corrected once by -+2^24, not taken modulo 2^24
            "ub": {"n": 4, "du": -1, "dv": 4096, "vth": 2**17,
                   "u": [2**23, -2**23, 2**23 - 1, 0]},
        },
        "connections": [{"source": "input", "target": "ub", "weights": [[0], [0], [0], [255]],
                         "weight_exp": 11}],
    }
    got = run_lava_net(net, 4, python=lava_py)
    assert_traces_equal(got, spec_run(net, 4), ["th", "ub"])
    assert got["spikes.th"].tolist() == [[0, 0, 1]] * 4  # spikes on v > vth<<6, not >=
    assert got["v.th"].tolist() == [[6399, 6400, 0]] * 4
    # +2^23 is kept, -2^23 becomes +2^23; an input of 255<<11<<6 = 33423360 is corrected
    # once to 33423360 - 2^24 = 16646144, still outside 24 bits, and only on the next
    # step (no input, no decay) to 16646144 - 2^24 = -131072
    assert got["u.ub"][:, :3].tolist() == [[2**23, 2**23, 2**23 - 1]] * 4
    assert got["u.ub"][:, 3].tolist() == [0, 16646144, -131072, -131072]
    assert got["v.ub"][:, 3].tolist() == [0, 2**23 - 1, -131072, -131072]


@pytest.mark.parametrize("sparse", [False, True])
def test_synaptic_delays(lava_py, sparse):
    # a unit case: delay d carries a spike sent at t=1 to the neuron at t = 2 + d
    net = {"input": np.array([[1, 0, 0, 0, 0, 0, 0, 0]]),
           "populations": {"p": {"n": 4, "du": 4095, "dv": 4096, "vth": 100000}},
           "connections": [{"source": "input", "target": "p", "weights": [[10], [20], [30], [40]],
                            "delays": np.array([[0], [1], [3], [6]]), "sparse": sparse}]}
    got = run_lava_net(net, 8, monitor={"p": ["u"]}, python=lava_py)
    first = [int(np.flatnonzero(got["u.p"][:, j])[0]) + 1 for j in range(4)]
    assert first == [2, 3, 5, 8]
    assert got["u.p"].sum(axis=0).tolist() == [640, 1280, 1920, 2560]
    assert_traces_equal(got, spec_run(net, 8), ["p"], what=("u",))
    # a random chain with delays 0..5 and 0..3, weight_exp < 0 (floor per delay slot)
    net = chain_net(6, steps=40)
    rng = np.random.default_rng(6)
    net["connections"][0].update(delays=rng.integers(0, 6, (32, 16)), sparse=sparse,
                                 weight_exp=-1)
    net["connections"][1].update(delays=rng.integers(0, 4, (8, 32)), sparse=sparse)
    got = run_lava_net(net, 40, python=lava_py)
    assert_traces_equal(got, spec_run(net, 40), ["l1", "l2"])
    assert got["spikes.l1"].sum() > 20 and got["spikes.l2"].sum() > 0
    undelayed = dict(net, connections=[{k: v for k, v in c.items() if k != "delays"}
                                       for c in net["connections"]])
    assert not np.array_equal(spec_run(undelayed, 40)["u.l1"], got["u.l1"])


def test_sparse_equals_dense(lava_py):
    net = chain_net(4, steps=30)
    w = np.asarray(net["connections"][0]["weights"])
    w = np.where(np.random.default_rng(0).random(w.shape) < 0.5, 0, w)
    net["connections"][0]["weights"] = w
    dense = run_lava_net(net, 30, monitor={"l1": ["u", "spikes"]}, python=lava_py)
    net["connections"][0]["sparse"] = True
    sparse = run_lava_net(net, 30, monitor={"l1": ["u", "spikes"]}, python=lava_py)
    assert_traces_equal(sparse, dense, ["l1"], what=("u", "spikes"))
    assert_traces_equal(sparse, spec_run(net, 30), ["l1"], what=("u", "spikes"))


def test_recorder_reads_what_lava_monitor_reads(lava_py):
    """The default recorder and lava's own Monitor give the same traces,
    also for a second, unconnected component (run separately)."""
    net = chain_net(5, steps=40)
    net["populations"]["iso"] = {"n": 3, "du": 0, "dv": 0, "vth": 10, "bias_mant": [100, 200, 300]}
    monitor = {"l1": ["spikes", "v"], "l2": ["u"], "iso": ["v", "spikes"]}
    rec = run_lava_net(net, 40, monitor=monitor, python=lava_py)
    mon = run_lava_net(net, 40, monitor=monitor, probe_with="monitor", python=lava_py)
    keys = {"spikes.l1", "v.l1", "u.l2", "v.iso", "spikes.iso"}
    assert {k for k in rec if not k.startswith("time.")} == keys
    assert {k for k in mon if not k.startswith("time.")} == keys
    for key in keys:
        assert rec[key].dtype == mon[key].dtype and np.array_equal(rec[key], mon[key]), key
    assert rec["v.iso"][:3].tolist() == [[100, 200, 300], [200, 400, 600], [300, 600, 0]]
    want = spec_run(net, 40)
    for key in keys:
        assert np.array_equal(rec[key], want[key]), key


def test_initial_state_and_timings(lava_py):
    net = {"populations": {"p": {"n": 4, "du": 2048, "dv": 1024, "vth": 1000,
                                 "u": [4096, -4096, 1000, 0], "v": [64000, -5000, 0, 63999],
                                 "bias_mant": [0, 0, 0, 40000]}}}  # stored as int16: -25536
    got = run_lava_net(net, 5, python=lava_py)
    assert_traces_equal(got, spec_run(net, 5), ["p"])
    assert got["u.p"][0].tolist() == [2047, -2047, 499, 0]  # trunc0(u * 2047 / 4096)
    assert got["v.p"][0].tolist() == [50047, -5797, 499, 47999 - 25536]
    for key in ("import", "build", "run", "readback", "stop", "subprocess"):
        assert got[f"time.{key}"].shape == () and got[f"time.{key}"] >= 0
    # nothing probed: the net still runs (for timing), and only timings come back
    for probe_with in ("recorder", "monitor"):
        got = run_lava_net(chain_net(0), 20, monitor={}, probe_with=probe_with, python=lava_py)
        assert all(k.startswith("time.") for k in got) and got["time.run"] > 0


# --------------------------------------------------------------------------
# The bridge itself
# --------------------------------------------------------------------------

def test_missing_venv_says_make_lava(monkeypatch, tmp_path):
    monkeypatch.delenv("NEUROCC_LAVA_PYTHON", raising=False)
    monkeypatch.setattr(lava_bridge, "_candidates", lambda: [tmp_path / ".venv-lava"])
    with pytest.raises(NeuroccError, match="make lava"):
        lava_python()
    assert lava_bridge.lava_available() is False
    with pytest.raises(LavaUnavailableError, match="make lava"):
        run_lava_net({"populations": {"p": {"n": 1, "du": 0, "dv": 0, "vth": 1}}}, 1)
    # a venv without the stamp is not finished
    (tmp_path / ".venv-lava" / "bin").mkdir(parents=True)
    (tmp_path / ".venv-lava" / "bin" / "python").touch()
    with pytest.raises(LavaUnavailableError, match="not finished"):
        lava_python()
    monkeypatch.setenv("NEUROCC_LAVA_PYTHON", str(tmp_path / "nope"))
    with pytest.raises(LavaUnavailableError, match="make lava"):
        lava_python()


def test_runner_failure_reports_stderr(lava_py):
    net = {"populations": {"p": {"n": 2, "du": 0, "dv": 0, "vth": 1}},
           "connections": [{"source": "input", "target": "p", "weights": np.ones((2, 2))}]}
    with pytest.raises(LavaRunError, match="unknown source 'input'"):
        run_lava_net(net, 3, python=lava_py)


def test_net_file_format(tmp_path):
    net = chain_net(0, steps=7)
    net["connections"][1]["sparse"] = True
    spec = write_net(tmp_path / "net.npz", net, 7, monitor=["l2"])
    with np.load(tmp_path / "net.npz", allow_pickle=False) as npz:
        assert json.loads(str(npz["spec"])) == spec
        assert npz["input"].dtype == np.int32 and npz["input"].shape == (16, 7)
        assert npz["conn.0.weights"].shape == (32, 16)
        w = np.asarray(net["connections"][1]["weights"])
        dense = np.zeros((8, 32), dtype=np.int64)
        for r in range(8):
            lo, hi = npz["conn.1.indptr"][r:r + 2]
            dense[r, npz["conn.1.indices"][lo:hi]] = npz["conn.1.data"][lo:hi]
        assert np.array_equal(dense, w)
        assert npz["pop.l2.bias_mant"].shape == (8,)
    assert spec["monitor"] == {"l2": ["spikes", "u", "v"]}
    assert [p["name"] for p in spec["populations"]] == ["l1", "l2"]
    # sparse delays are stored one per stored weight, in CSR order
    net["connections"][1]["delays"] = np.arange(8 * 32).reshape(8, 32) % 64
    write_net(tmp_path / "net2.npz", net, 7)
    with np.load(tmp_path / "net2.npz", allow_pickle=False) as npz:
        rows = np.repeat(np.arange(8), np.diff(npz["conn.1.indptr"]))
        assert np.array_equal(npz["conn.1.delays"], (rows * 32 + npz["conn.1.indices"]) % 64)
    net["connections"][1]["delays"] = 64
    with pytest.raises(ValueError, match="0..63"):
        write_net(tmp_path / "net3.npz", net, 7)


def test_shim_patches_var_model_without_touching_lava(lava_py):
    code = r"""
import base64, csv, hashlib, importlib.metadata as md, sys
import lava.magma.compiler.var_model as vm
import lava311_shim
assert type(vm.__spec__.loader).__name__ == "_PatchingLoader", vm.__spec__.loader
assert vm.CoreEncoder().x is not vm.CoreEncoder().x
assert sum(type(f).__name__ == "Lava311Finder" for f in sys.meta_path) == 1
lava311_shim.install()
assert sum(type(f).__name__ == "Lava311Finder" for f in sys.meta_path) == 1
assert lava311_shim.patch_source("x = 1\n") == "x = 1\n"
rec = {r[0]: r[1] for r in csv.reader(md.distribution("lava-nc").read_text("RECORD").splitlines())}
digest = base64.urlsafe_b64encode(hashlib.sha256(open(vm.__file__, "rb").read()).digest()).rstrip(b"=")
assert rec["lava/magma/compiler/var_model.py"] == "sha256=" + digest.decode(), "var_model.py was edited"
print("ok")
"""
    proc = subprocess.run([str(lava_py), "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
