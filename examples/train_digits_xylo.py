"""Train the digits demo reduced to 16 input channels and 8 classes (a Xylo Audio 2 fit).

    python examples/train_digits_xylo.py --out tests/fixtures/digits16

SynSense's Xylo Audio 2 takes at most 16 input channels, 1000 hidden neurons
and 8 output (readout) neurons. This is ``examples/train_digits.py`` cut to
that size: the same data and fixed split, each 8x8 image pooled to 4x4 = 16
channels, and only the classes 0..7, because the chip has 8 readout neurons
(one per class). Needs the optional dependencies:
``pip install -e '.[examples]'`` (scikit-learn, which bundles the data, so
nothing is downloaded; optax for Adam). Rerunning it with the defaults
reproduces the files (same split, same seeds, same weights up to the float
rounding of the machine's BLAS).

Data. ``sklearn.datasets.load_digits``: 1797 grey-level 8x8 images of
0..16. The FIXED split of train_digits.py, ``train_test_split(test_size=0.2,
random_state=0, stratify=y)``, THEN only the images of digits 0..7 of each
side are kept (1154 training, 289 test images). Each image is reduced to 16
channels by 2x2 sum pooling: channel ``4 r + c`` is the sum of the pixels
``(2r..2r+1, 2c..2c+1)``, an intensity 0..64.

Encoding: binary spikes, a Bernoulli rate code over ``T`` = 32 steps; at
every step channel k spikes with probability ``intensity_k / 64``. The test
set is ONE draw (seed 1), written to ``digits16_test.npz`` as ``x`` (uint8,
time-major ``[T, 289, 16]``) and ``y``; training draws fresh spike trains
every epoch; the reported training accuracy uses one draw (seed 2), whose
first 256 images are ``digits16_calibration.npz`` (same layout).

Network. 16 inputs -> Linear (no bias) -> 128 CubaLIF -> Linear (no bias) ->
8 CubaLIF -> output; the class is the output neuron with the most spikes over
the T steps (``argmax``, the first one on a tie). dt = 1 ms, tau_syn = 2 ms,
tau_mem = 8 ms in both layers: dt/tau = 1/2 and 1/8 are powers of two, as
Xylo's bit-shift decays (``a = 2^-dash``, dash_syn = 1, dash_mem = 3) need.
v_leak = 0, v_reset = 0, v_threshold = 1, r = 1, w_in = 1.

Dynamics: exactly what ``neurocc.simulators.reference`` computes for the
exported graph (forward Euler, float32, the current first and the membrane
seeing the new current):

    x   = W s_in                              (Linear)
    i'  = (1 - a_s) i + a_s w_in x            a_s = dt/tau_syn
    v'  = (1 - a_m) v + a_m v_leak + a_m r i' a_m = dt/tau_mem
    s   = v' > v_threshold;  v <- v_reset where s

written below in the reference's own (i, v) -> (i', v') form and with its
float32 coefficients; after export the script runs the reference simulator
on the saved file and checks that it reproduces this model's output spike
counts on the test set.

Xylo-friendliness. The chip resets by SUBTRACTING the threshold and may emit
several spikes in one step when v exceeds several thresholds (its readout
neurons at most one); this model resets to 0 and emits one. The two differ
less the less v crosses the threshold by, so training adds a small penalty on
how far v' rises above the threshold, ``OVERSHOOT_PENALTY * mean(relu(v' -
v_th)^2)``, and a small L2 penalty on the weights (Xylo's weights are 8-bit
integers). The script reports the fraction of spike events (both layers, test
set) with ``v' >= 2 v_th``: those are the events where the chip would emit
two or more spikes; and the reference's test accuracy with ``reset="subtract"``
(the chip's reset, still one spike a step).

Training: surrogate gradients (fast sigmoid / SuperSpike ``1 / (1 + beta
|v - v_th|)^2``), the reset not differentiated, loss = cross-entropy of the
scaled output spike counts plus the penalties, Adam (optax), fixed seeds.
About 20 s on two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import nir
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

# the surrogate spike, the reference's Linear, the rate code and the training loop are
# train_digits.py's (run from examples/, which Python puts on the path)
import train_digits
from train_digits import _matmul, encode, spike

DT = 1e-3            # seconds per step
T = 32               # steps per image
N_IN = 16            # Xylo Audio 2: at most 16 input channels
HIDDEN = 128         # at most 1000
N_OUT = 8            # at most 8 readout neurons, so the classes 0..7
CLASSES = 8
TAU_SYN = 2e-3       # dt/tau_syn = 1/2 (Xylo dash_syn = 1)
TAU_MEM = 8e-3       # dt/tau_mem = 1/8 (Xylo dash_mem = 3)
V_THRESHOLD = 1.0
MAX_INTENSITY = 64.0  # a 2x2 sum of pixels of 0..16
TEST_SEED = 1        # the one spike draw of the test set
TRAIN_EVAL_SEED = 2  # the one draw of the training set: reported accuracy, calibration file
CALIBRATION_SAMPLES = 256
EPOCHS = 200         # seeds (0), batch (64) and surrogate (beta 5): train_digits.py's
LR = 3e-3
LOGIT_SCALE = 1.0    # cross-entropy logits = LOGIT_SCALE * output spike counts
OVERSHOOT_PENALTY = 1.0  # * mean over neurons and steps of relu(v' - v_th)^2
WEIGHT_DECAY = 1e-4      # * sum of squared weights

STEM = "digits16"


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pooled intensities in [0, 1] (sum / 64) and labels 0..7 of train_digits.py's fixed split."""
    digits = load_digits()
    x = digits.data.astype(np.float32)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    keep_tr, keep_te = y_tr < CLASSES, y_te < CLASSES
    return (pool(x_tr[keep_tr]) / MAX_INTENSITY, pool(x_te[keep_te]) / MAX_INTENSITY,
            y_tr[keep_tr], y_te[keep_te])


def pool(x: np.ndarray) -> np.ndarray:
    """[B, 64] 8x8 images -> [B, 16] 2x2 sums, channel 4 r + c (row-major 4x4)."""
    return x.reshape(-1, 4, 2, 4, 2).sum(axis=(2, 4)).reshape(-1, N_IN).astype(np.float32)


# --- the float model, written from the reference simulator's CubaLIF rule ---------------


def coefficients() -> dict[str, jnp.ndarray]:
    """The reference's Euler CubaLIF factors (ir.dynamics, float64), then float32."""
    a_s, a_m = DT / np.float64(TAU_SYN), DT / np.float64(TAU_MEM)
    r, w_in, v_leak = 1.0, 1.0, 0.0
    f32 = jnp.float32
    return {"i_keep": f32(1 - a_s), "i_gain": f32(a_s * w_in), "keep": f32(1 - a_m),
            "leak": f32(a_m * v_leak), "i_to_v": f32(a_m * r * (1 - a_s)),
            "x_to_v": f32(a_m * r * a_s * w_in), "vth": f32(V_THRESHOLD), "v_reset": f32(0.0)}


def _cuba(c: dict, i: jnp.ndarray, v: jnp.ndarray, x: jnp.ndarray):
    """One reference CubaLIF step; returns (i', v after reset, spikes, v' before reset)."""
    i_new = c["i_keep"] * i + c["i_gain"] * x
    v = c["keep"] * v + c["leak"] + c["i_to_v"] * i + c["x_to_v"] * x
    s = spike(v - c["vth"])
    sd = jax.lax.stop_gradient(s)  # the reset is not differentiated through
    return i_new, v * (1.0 - sd) + sd * c["v_reset"], s, v


def simulate(params: dict, spikes: jnp.ndarray):
    """Run [T, B, 16] input spikes; returns (output counts [B, 8], overshoot penalty,
    per-step records (v'1, s1, v'2, s2) with v' the membrane before the reset)."""
    c = coefficients()
    batch = spikes.shape[1]

    def step(state, s_in):
        i1, v1, i2, v2 = state
        i1, v1, s1, u1 = _cuba(c, i1, v1, _matmul(s_in, params["w1"]))
        i2, v2, s2, u2 = _cuba(c, i2, v2, _matmul(s1, params["w2"]))
        over = (jnp.sum(jax.nn.relu(u1 - c["vth"]) ** 2) + jnp.sum(jax.nn.relu(u2 - c["vth"]) ** 2))
        return (i1, v1, i2, v2), (s2, over, (u1, s1, u2, s2))

    z1, z2 = jnp.zeros((batch, HIDDEN), jnp.float32), jnp.zeros((batch, N_OUT), jnp.float32)
    _, (out, over, rec) = jax.lax.scan(step, (z1, z1, z2, z2), spikes.astype(jnp.float32))
    penalty = over.sum() / (spikes.shape[0] * batch * (HIDDEN + N_OUT))
    return out.sum(axis=0), penalty, rec


def output_counts(params: dict, spikes: jnp.ndarray) -> jnp.ndarray:
    return simulate(params, spikes)[0]


def init_params(key: jax.Array) -> dict:
    k1, k2 = jax.random.split(key)
    return {"w1": jax.random.normal(k1, (HIDDEN, N_IN), jnp.float32) * (2.0 / np.sqrt(N_IN)),
            "w2": jax.random.normal(k2, (N_OUT, HIDDEN), jnp.float32) * (2.0 / np.sqrt(HIDDEN))}


def loss_fn(params: dict, spikes: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
    counts, penalty, _ = simulate(params, spikes)
    ce = optax.softmax_cross_entropy_with_integer_labels(LOGIT_SCALE * counts, labels).mean()
    l2 = sum(jnp.sum(w ** 2) for w in params.values())
    return ce + OVERSHOOT_PENALTY * penalty + WEIGHT_DECAY * l2


def accuracy(params: dict, spikes: np.ndarray, labels: np.ndarray) -> float:
    counts = np.asarray(jax.jit(output_counts)(params, jnp.asarray(spikes)))
    return float(np.mean(counts.argmax(axis=1) == labels))


def overshoot_stats(params: dict, spikes: np.ndarray) -> dict:
    """Spike events and those with v' >= 2 v_th (where Xylo would emit 2+ spikes), per layer."""
    _, _, (u1, s1, u2, s2) = jax.jit(simulate)(params, jnp.asarray(spikes))
    out = {}
    for name, u, s in (("hidden", u1, s1), ("readout", u2, s2)):
        u, s = np.asarray(u), np.asarray(s) > 0
        events = int(s.sum())
        double = int(np.sum(s & (u >= 2 * V_THRESHOLD)))
        out[name] = {"spike_events": events, "events_v_ge_2vth": double,
                     "fraction": double / max(events, 1),
                     "max_v_over_vth": float(u[s].max() / V_THRESHOLD) if events else 0.0,
                     "spikes_per_neuron_step": events / s.size}
    total = out["hidden"]["spike_events"] + out["readout"]["spike_events"]
    doubles = out["hidden"]["events_v_ge_2vth"] + out["readout"]["events_v_ge_2vth"]
    out["all"] = {"spike_events": total, "events_v_ge_2vth": doubles, "fraction": doubles / max(total, 1)}
    return out


def train(x_tr: np.ndarray, y_tr: np.ndarray, log=print) -> dict:
    """train_digits.py's loop (Adam, fresh spike draws, its seeds and batch) on this model."""
    return train_digits.train(x_tr, y_tr, log, loss=loss_fn, init=init_params, epochs=EPOCHS,
                              lr=LR, log_every=20)


# --- export ---------------------------------------------------------------------------


def to_nir(params: dict) -> nir.NIRGraph:
    def cuba(n: int) -> nir.CubaLIF:
        return nir.CubaLIF(tau_syn=np.full(n, TAU_SYN, np.float32), tau_mem=np.full(n, TAU_MEM, np.float32),
                           r=np.ones(n, np.float32), v_leak=np.zeros(n, np.float32),
                           v_threshold=np.full(n, V_THRESHOLD, np.float32), v_reset=np.zeros(n, np.float32),
                           w_in=np.ones(n, np.float32))
    nodes = {
        "input": nir.Input(input_type=np.array([N_IN])),
        "fc1": nir.Linear(weight=params["w1"]),
        "lif1": cuba(HIDDEN),
        "fc2": nir.Linear(weight=params["w2"]),
        "lif2": cuba(N_OUT),
        "output": nir.Output(output_type=np.array([N_OUT])),
    }
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def check_with_reference(path: Path, params: dict, spikes: np.ndarray) -> np.ndarray:
    """neurocc's reference on the written file must give this model's output counts."""
    return train_digits.check_with_reference(path, params, spikes, output_counts)


def subtract_reset_accuracy(path: Path, spikes: np.ndarray, labels: np.ndarray) -> float:
    """Test accuracy of the reference with Xylo's reset (v <- v - v_th, still one spike a step)."""
    from neurocc import ir
    from neurocc.simulators import reference

    counts = reference.run(ir.load(path), spikes.astype(np.float32), reset="subtract").outputs["output"]
    return float(np.mean(counts.sum(axis=0).argmax(axis=1) == labels))


def versions() -> dict[str, str]:
    import sklearn
    return {"python": platform.python_version(), "numpy": np.__version__, "jax": jax.__version__,
            "optax": optax.__version__, "nir": nir.__version__, "scikit-learn": sklearn.__version__}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("tests/fixtures/digits16"),
                    help=f"directory for {STEM}.nir, {STEM}_test.npz, {STEM}_calibration.npz "
                         "(default: %(default)s)")
    args = ap.parse_args(argv)
    nir_path = args.out / f"{STEM}.nir"
    test_path = args.out / f"{STEM}_test.npz"
    cal_path = args.out / f"{STEM}_calibration.npz"

    x_tr, x_te, y_tr, y_te = load_split()
    print(f"digits 0..{CLASSES - 1}, 2x2-pooled to {N_IN} channels: {len(x_tr)} train, {len(x_te)} test; "
          f"T={T} steps of dt={DT:g} s, Bernoulli rate code")
    t0 = time.perf_counter()
    params = train(x_tr, y_tr)
    seconds = time.perf_counter() - t0

    s_tr = encode(x_tr, TRAIN_EVAL_SEED)
    s_te = encode(x_te, TEST_SEED)
    acc_tr, acc_te = accuracy(params, s_tr, y_tr), accuracy(params, s_te, y_te)
    print(f"trained in {seconds:.1f} s: train accuracy {acc_tr:.4f}, test accuracy {acc_te:.4f} "
          f"({int(round(acc_te * len(y_te)))}/{len(y_te)})")
    over = overshoot_stats(params, s_te)
    for layer in ("hidden", "readout", "all"):
        o = over[layer]
        print(f"{layer}: {o['events_v_ge_2vth']} of {o['spike_events']} spike events with v' >= 2 v_th "
              f"({100 * o['fraction']:.3f} %)"
              + (f", largest v'/v_th {o['max_v_over_vth']:.2f}" if "max_v_over_vth" in o else ""))

    args.out.mkdir(parents=True, exist_ok=True)
    nir.write(nir_path, to_nir(params))
    np.savez_compressed(test_path, x=s_te, y=y_te.astype(np.int64))
    n_cal = CALIBRATION_SAMPLES
    np.savez_compressed(cal_path, x=s_tr[:, :n_cal], y=y_tr[:n_cal].astype(np.int64))
    counts = check_with_reference(nir_path, params, s_te)
    ref_acc = float(np.mean(counts.argmax(axis=1) == y_te))
    for p in (nir_path, test_path, cal_path):
        print(f"wrote {p} ({p.stat().st_size} bytes)")
    print(f"neurocc.simulators.reference on the written file: test accuracy {ref_acc:.4f}")
    sub_acc = subtract_reset_accuracy(nir_path, s_te, y_te)
    print(f"the same with reset='subtract' (Xylo's reset, one spike a step): test accuracy {sub_acc:.4f}")
    print(json.dumps({"train_accuracy": acc_tr, "test_accuracy": ref_acc,
                      "test_correct": int(np.sum(counts.argmax(axis=1) == y_te)), "test_n": len(y_te),
                      "train_correct": int(round(acc_tr * len(y_tr))), "train_n": len(y_tr),
                      "train_seconds": round(seconds, 1), "test_accuracy_subtract_reset": sub_acc,
                      "overshoot": over, "weights_absmax": {k: float(np.abs(v).max()) for k, v in params.items()},
                      "versions": versions()}))


if __name__ == "__main__":
    main()
