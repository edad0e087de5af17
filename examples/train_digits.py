"""Train a small spiking network on scikit-learn's 8x8 digits and export it to NIR.

    python examples/train_digits.py --out compiler/demo/digits.nir

This is how neurocc's bundled demo model (``neurocc.compiler.demo``) was made;
rerunning it with the defaults reproduces it (same split, same seeds, same
weights up to the float rounding of the machine's BLAS). Needs the optional
dependencies: ``pip install -e '.[examples]'`` (scikit-learn for the data,
which it bundles, so nothing is downloaded; optax for Adam).

Data. ``sklearn.datasets.load_digits``: 1797 grey-level 8x8 images, pixel
intensities 0..16. A FIXED split: ``train_test_split(test_size=0.2,
random_state=0, stratify=y)``, 1437 training and 360 test images.

Encoding (what the chip sees must be binary spikes). Each of the 64 pixels
drives one input channel over ``T`` = 32 steps as a Bernoulli rate code: at
every step the channel spikes with probability ``intensity / 16`` (so a white
pixel, 16, spikes at every step and a black one, 0, never). The test set is
ONE draw with a fixed seed, written to ``digits_test.npz`` as ``x`` (uint8,
time-major ``[T, 360, 64]``) and ``y`` (labels); training draws fresh spike
trains every epoch (a free data augmentation), and the reported training
accuracy is measured on one fixed draw too. The first 256 training images of
that draw are written to ``digits_calibration.npz`` (same layout): spike
trains for ``neurocc.simulators.calibration`` that are not the test set, so a
deployment can be calibrated without scikit-learn.

Network. 64 inputs -> Linear -> 128 LIF -> Linear -> 10 LIF -> output; the
class is the output neuron with the most spikes over the T steps (``argmax``,
the first one on a tie). No biases (nothing to route through a constant
source on a chip), v_leak = 0, v_reset = 0, v_threshold = 1, r = 1.

Dynamics: exactly what ``neurocc.simulators.reference`` computes for the
exported graph at ``dt`` = 1 ms, forward Euler, float32:

    x_l = W_l s_{l-1}                        (Linear, s_0 = input spikes)
    v  <- (1 - dt/tau) v + (dt/tau) v_leak + (dt/tau) r x_l
    s_l = v > v_threshold;  v <- v_reset where s_l

with tau = 8 ms in both layers (dt/tau = 1/8: a power of two, so the
coefficients are exact in float and Loihi 2's 12-bit voltage decay
``dv = 4096 dt/tau = 512`` is exact too). The forward pass below is written
from these equations with the same float32 coefficients; after export the
script runs the reference simulator on the saved file and checks that it
reproduces this model's output spike counts on the test set.

Training: surrogate gradients (the fast sigmoid / SuperSpike derivative
``1 / (1 + beta |v - v_threshold|)^2`` replaces the step's), the reset is not
differentiated through, loss = cross-entropy of the output spike counts
(scaled), Adam (optax), fixed seeds. About 15 s on two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import nir
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

DT = 1e-3            # seconds per step
T = 32               # steps per image
HIDDEN = 128
TAU = 8e-3           # both layers; dt/tau = 1/8
V_THRESHOLD = 1.0
SEED = 0             # weights, batch order and training spike draws
TEST_SEED = 1        # the one spike draw of the test set (digits_test.npz)
TRAIN_EVAL_SEED = 2  # the one draw of the training set used for the reported accuracy
CALIBRATION_SAMPLES = 256  # of that draw, shipped for calibrating a deployment
EPOCHS = 150
BATCH = 64
LR = 2e-3
BETA = 5.0           # surrogate sharpness
LOGIT_SCALE = 0.5    # cross-entropy logits = LOGIT_SCALE * output spike counts


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Intensities in [0, 1] (pixel / 16) and labels, the fixed 80/20 stratified split."""
    digits = load_digits()
    x = digits.data.astype(np.float32) / 16.0
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return x_tr, x_te, y_tr, y_te


def encode(intensity: np.ndarray, seed: int, steps: int = T) -> np.ndarray:
    """Bernoulli rate code: [B, 64] intensities in [0, 1] -> uint8 spikes [T, B, 64]."""
    rng = np.random.default_rng(seed)
    return (rng.random((steps,) + intensity.shape) < intensity[None]).astype(np.uint8)


# --- the float model, written from the reference simulator's LIF rule --------------------


def coefficients() -> dict[str, jnp.ndarray]:
    """keep, leak, gain as neurocc's reference prepares them (float64), then float32."""
    a = DT / np.float64(TAU)
    return {"keep": jnp.float32(1.0 - a), "leak": jnp.float32(a * 0.0), "gain": jnp.float32(a * 1.0),
            "vth": jnp.float32(V_THRESHOLD), "v_reset": jnp.float32(0.0)}


@jax.custom_vjp
def spike(v_minus_th: jnp.ndarray) -> jnp.ndarray:
    return (v_minus_th > 0).astype(v_minus_th.dtype)


def _spike_fwd(z):
    return spike(z), z


def _spike_bwd(z, g):
    return (g / (1.0 + BETA * jnp.abs(z)) ** 2,)


spike.defvjp(_spike_fwd, _spike_bwd)


def _matmul(x: jnp.ndarray, w: jnp.ndarray) -> jnp.ndarray:
    # the reference's Linear: x @ W^T at HIGHEST precision
    return jnp.matmul(x, w.T, precision=jax.lax.Precision.HIGHEST)


def _lif(c: dict, v: jnp.ndarray, x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    v = c["keep"] * v + c["leak"] + c["gain"] * x
    s = spike(v - c["vth"])
    # v <- v_reset where spiking; the reset is not differentiated through
    sd = jax.lax.stop_gradient(s)
    v = v * (1.0 - sd) + sd * c["v_reset"]
    return v, s


def output_counts(params: dict, spikes: jnp.ndarray) -> jnp.ndarray:
    """Output spike counts [B, 10] for input spikes [T, B, 64]."""
    c = coefficients()
    batch = spikes.shape[1]

    def step(state, s_in):
        v1, v2 = state
        v1, s1 = _lif(c, v1, _matmul(s_in, params["w1"]))
        v2, s2 = _lif(c, v2, _matmul(s1, params["w2"]))
        return (v1, v2), s2

    init = (jnp.zeros((batch, HIDDEN), jnp.float32), jnp.zeros((batch, 10), jnp.float32))
    _, out = jax.lax.scan(step, init, spikes.astype(jnp.float32))
    return out.sum(axis=0)


def init_params(key: jax.Array) -> dict:
    k1, k2 = jax.random.split(key)
    return {"w1": jax.random.normal(k1, (HIDDEN, 64), jnp.float32) * (2.0 / np.sqrt(64)),
            "w2": jax.random.normal(k2, (10, HIDDEN), jnp.float32) * (2.0 / np.sqrt(HIDDEN))}


def loss_fn(params: dict, spikes: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
    logits = LOGIT_SCALE * output_counts(params, spikes)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def accuracy(params: dict, spikes: np.ndarray, labels: np.ndarray) -> float:
    counts = np.asarray(jax.jit(output_counts)(params, jnp.asarray(spikes)))
    return float(np.mean(counts.argmax(axis=1) == labels))


def train(x_tr: np.ndarray, y_tr: np.ndarray, log=print, *, loss=None, init=None,
          epochs: int = EPOCHS, lr: float = LR, log_every: int = 10) -> dict:
    """Adam on fresh spike draws of each batch; `loss(params, spikes, labels)` and
    `init(key)` default to this model's (train_digits_xylo.py passes its own)."""
    loss = loss or loss_fn
    key = jax.random.PRNGKey(SEED)
    key, k_init = jax.random.split(key)
    params = (init or init_params)(k_init)
    opt = optax.adam(lr)
    state = opt.init(params)

    @jax.jit
    def update(params, state, key, intensity, labels):
        # a fresh Bernoulli draw of this batch's spike trains
        spikes = (jax.random.uniform(key, (T,) + intensity.shape) < intensity[None]).astype(jnp.float32)
        value, grads = jax.value_and_grad(loss)(params, spikes, labels)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    rng = np.random.default_rng(SEED)
    n = len(x_tr)
    for epoch in range(epochs):
        order = rng.permutation(n)
        losses = []
        for start in range(0, n - BATCH + 1, BATCH):  # whole batches only: one compiled shape
            idx = order[start:start + BATCH]
            key, k = jax.random.split(key)
            params, state, value = update(params, state, k, jnp.asarray(x_tr[idx]), jnp.asarray(y_tr[idx]))
            losses.append(float(value))
        if epoch % log_every == log_every - 1 or epoch == epochs - 1:
            log(f"epoch {epoch + 1:3d}  loss {np.mean(losses):.4f}")
    return {k: np.asarray(v, np.float32) for k, v in params.items()}


# --- export ---------------------------------------------------------------------------


def to_nir(params: dict) -> nir.NIRGraph:
    def lif(n: int) -> nir.LIF:
        return nir.LIF(tau=np.full(n, TAU, np.float32), r=np.ones(n, np.float32),
                       v_leak=np.zeros(n, np.float32), v_threshold=np.full(n, V_THRESHOLD, np.float32),
                       v_reset=np.zeros(n, np.float32))
    nodes = {
        "input": nir.Input(input_type=np.array([64])),
        "fc1": nir.Linear(weight=params["w1"]),
        "lif1": lif(HIDDEN),
        "fc2": nir.Linear(weight=params["w2"]),
        "lif2": lif(10),
        "output": nir.Output(output_type=np.array([10])),
    }
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def check_with_reference(path: Path, params: dict, spikes: np.ndarray, counts=None) -> np.ndarray:
    """neurocc's reference on the written file must give this model's output counts
    (`counts(params, spikes)`, default this model's ``output_counts``)."""
    from neurocc import ir
    from neurocc.simulators import reference

    graph = ir.load(path)
    dt = graph.metadata.get("dt")
    if dt is None or float(dt) != DT:
        raise SystemExit(f"{path}: neurocc reads dt = {dt!r} from the metadata, expected {DT}")
    ref = reference.run(graph, spikes.astype(np.float32)).outputs["output"].sum(axis=0)
    mine = np.asarray(jax.jit(counts or output_counts)(params, jnp.asarray(spikes)))
    if not np.array_equal(ref, mine):
        # float32 sums in another order (another BLAS) may move a spike that sits
        # exactly at threshold; anything more means the equations differ
        differ = int(np.count_nonzero(ref != mine))
        if differ > 0.001 * ref.size or np.any(ref.argmax(axis=1) != mine.argmax(axis=1)):
            raise SystemExit(f"reference and training model disagree: {differ} of {ref.size} counts "
                             f"differ (largest by {np.abs(ref - mine).max():g})")
        print(f"note: {differ} of {ref.size} output counts differ by float32 rounding; decisions agree")
    else:
        print(f"neurocc's reference reproduces all {ref.size} output spike counts of the test set exactly")
    return ref


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True,
                    help="the .nir file to write; digits_test.npz and digits_calibration.npz go beside it")
    args = ap.parse_args(argv)
    test_path = args.out.with_name("digits_test.npz")
    cal_path = args.out.with_name("digits_calibration.npz")

    x_tr, x_te, y_tr, y_te = load_split()
    print(f"digits: {len(x_tr)} train, {len(x_te)} test; T={T} steps of dt={DT:g} s, Bernoulli rate code")
    t0 = time.perf_counter()
    params = train(x_tr, y_tr)
    seconds = time.perf_counter() - t0

    s_tr = encode(x_tr, TRAIN_EVAL_SEED)
    s_te = encode(x_te, TEST_SEED)
    acc_tr, acc_te = accuracy(params, s_tr, y_tr), accuracy(params, s_te, y_te)
    print(f"trained in {seconds:.1f} s: train accuracy {acc_tr:.4f}, test accuracy {acc_te:.4f} "
          f"({int(round(acc_te * len(y_te)))}/{len(y_te)})")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    nir.write(args.out, to_nir(params))
    np.savez_compressed(test_path, x=s_te, y=y_te.astype(np.int64))
    n_cal = CALIBRATION_SAMPLES
    np.savez_compressed(cal_path, x=s_tr[:, :n_cal], y=y_tr[:n_cal].astype(np.int64))
    counts = check_with_reference(args.out, params, s_te)
    ref_acc = float(np.mean(counts.argmax(axis=1) == y_te))
    for p in (args.out, test_path, cal_path):
        print(f"wrote {p} ({p.stat().st_size} bytes)")
    print(f"neurocc.simulators.reference on the written file: test accuracy {ref_acc:.4f}")
    print(json.dumps({"train_accuracy": acc_tr, "test_accuracy": ref_acc,
                      "test_correct": int(np.sum(counts.argmax(axis=1) == y_te)),
                      "train_seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main()
