"""A DVS-Gesture-shaped spiking CNN as NIR, with seeded random weights.

    python examples/dvs_cnn.py --size 128 --out dvs.nir

The shape of the convolutional networks trained on DVS Gesture with Sinabs (and
deployed on Speck or Loihi): two polarity channels of a 128 x 128 event camera,
four convolutions with integrate-and-fire neurons and sum pooling, one linear
readout over 11 gestures. It is not trained: the weights are random, scaled so
that every layer fires (``rates`` checks it on random events). It is a size and
shape to compile and run, for benchmarks and tests (``bench/dvs_cnn.py``,
``tests/test_dvs_cnn.py``).

Network (``size`` = 128; any multiple of 32 keeps the same architecture)::

    Input 2 x 128 x 128
    Conv2d 16c5 stride 2 padding 2 -> IF        16 x 64 x 64
    SumPool2d 2 -> Conv2d 32c3 padding 1 -> IF  32 x 32 x 32
    SumPool2d 2 -> Conv2d 64c3 padding 1 -> IF  64 x 16 x 16
    SumPool2d 2 -> Conv2d 64c3 padding 1 -> IF  64 x  8 x  8
    SumPool2d 2 -> Flatten -> Affine 11 -> LI   11  (voltage readout) -> Output

Every spatial size a pooling sees is even, so each pooling folds exactly into the
convolution after it (neurocc's lower pass: a 2 x 2 sum pooling then a 3 x 3
convolution is one 6 x 6 convolution of stride 2): Loihi 2 gets every convolution
as a Conv block (a shared kernel) and the readout as one small dense block, never
an expanded convolution.

Neurons. Sinabs's ``IAF`` (what DVS Gesture nets use) adds its input to v every
step, spikes at the threshold and resets; its NIR export is an ``IF`` with r = 1
(dv/dt = r I), which at dt = 1 is exactly ``v += I`` per step (NIR's IF spikes on
v > v_threshold, strictly; Sinabs's on >=). Here
v_threshold = 1, v_reset = 0, no biases. The graph's metadata holds
``dt`` = 1.0: one step is one time bin of the event stream, as Sinabs's export
assumes (``neurocc compile dvs.nir`` needs no ``--dt``).

Readout: an ``LI`` (tau = 16 steps, r = 1), read by the Output as a voltage, not an
IF whose spikes are counted. Over a short window 11 spiking outputs fed by a
sparse layer tie often (most count 0 or 1), while a voltage ranks every class;
Loihi 2 lowers an LI read by an Output as a readout (its threshold never
reached, the voltage scaled back), and the bit-exact test compares that voltage
with Lava's. dt/tau = 1/16 is a power of two, so Loihi 2's 12-bit decay is exact.
``readout="if"`` (``--readout if``) gives Sinabs's spiking output layer instead.

Weights. Convolution kernels are ``m (1 + SPREAD z)`` with z standard normal (mixed
signs, as trained kernels have) and m chosen so that, at the expected input rate
(``DENSITY`` events per pixel and step into the first layer, ``TARGET_RATE``
spikes per neuron and step from every layer), each layer's mean drive is
``GAIN x TARGET_RATE`` thresholds per step: m = GAIN TARGET_RATE / (rate_in fan_in),
with fan_in the inputs a neuron reads on average (the kernel taps inside the image,
times the 4 inputs of the 2 x 2 pooling before it); GAIN makes up for what an IF
loses when it resets to 0 above its threshold. Measured (``--check``, float
reference, 40 steps): 0.10, 0.11, 0.12, 0.13 spikes per neuron and step in the
four layers at size 128, and about the same at 32. The readout's weights are
zero-mean, 1 / sqrt(fan_in). ``--check`` runs neurocc's float reference on
random events and prints each layer's spike rate.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nir
import numpy as np

DT = 1.0             # one step per time bin (Sinabs's IAF: v += I per step)
CHANNELS = (16, 32, 64, 64)
CLASSES = 11         # DVS Gesture's 11 gestures
DENSITY = 0.05       # events per pixel (each polarity) and step, for the weight scale
TARGET_RATE = 0.1    # spikes per neuron and step each layer is scaled for
#: an IF resetting to 0 loses what overshoots its threshold: drive a little harder
GAIN = 1.3
SPREAD = 2.0         # kernel weights: mean x (1 + SPREAD z), so about 30 % are negative
READOUT_TAU = 16.0   # steps; dt / tau = 1/16
#: the network halves the image five times (a stride-2 convolution, then four poolings)
SIZE_MULTIPLE = 32


def _taps_inside(n: int, k: int, stride: int, pad: int) -> float:
    """Kernel taps per axis that land inside an input of size n, averaged over outputs."""
    y = np.arange((n + 2 * pad - k) // stride + 1)[:, None] * stride - pad + np.arange(k)[None, :]
    return float(np.mean(((y >= 0) & (y < n)).sum(axis=1)))


def _if(shape: tuple[int, ...]) -> nir.IF:
    return nir.IF(r=np.ones(shape, np.float32), v_threshold=np.ones(shape, np.float32),
                  v_reset=np.zeros(shape, np.float32))


def build(size: int = 128, seed: int = 0, channels: tuple[int, ...] = CHANNELS,
          classes: int = CLASSES, readout: str = "li") -> nir.NIRGraph:
    """The network above for a 2 x `size` x `size` event camera, weights from `seed`;
    `readout` "li" (a voltage, the default) or "if" (spikes, as an IAF output layer)."""
    if readout not in ("li", "if"):
        raise ValueError(f"readout must be 'li' or 'if', got {readout!r}")
    if size < SIZE_MULTIPLE or size % SIZE_MULTIPLE:
        raise ValueError(f"size must be a multiple of {SIZE_MULTIPLE} (the network halves it "
                         f"five times, and every pooling needs an even size), got {size}")
    if len(channels) != len(CHANNELS) or min(channels) < 1:
        raise ValueError(f"channels: {len(CHANNELS)} positive channel counts, got {channels}")
    rng = np.random.default_rng(seed)
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type=np.array([2, size, size]))}
    edges: list[tuple[str, str]] = []
    prev, c_in, hw, rate_in = "input", 2, size, DENSITY
    for i, c_out in enumerate(channels):
        first = i == 0
        k, stride, pad = (5, 2, 2) if first else (3, 1, 1)
        # inputs a neuron reads on average: the taps inside the image (a small image's
        # border reads padding), times 4 inputs per pooled one (a 2 x 2 sum pooling)
        fan_in = c_in * _taps_inside(hw, k, stride, pad) ** 2 * (1 if first else 4)
        mean = GAIN * TARGET_RATE / (rate_in * fan_in)
        w = mean * (1.0 + SPREAD * rng.standard_normal((c_out, c_in, k, k)))
        out_hw = hw // stride
        conv, neuron, pool = f"conv{i + 1}", f"if{i + 1}", f"pool{i + 1}"
        nodes[conv] = nir.Conv2d(
            input_shape=(hw, hw), weight=w.astype(np.float32), stride=stride, padding=pad,
            dilation=1, groups=1, bias=np.zeros(c_out, np.float32))
        nodes[neuron] = _if((c_out, out_hw, out_hw))
        nodes[pool] = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                    padding=np.array([0, 0]))
        edges += [(prev, conv), (conv, neuron), (neuron, pool)]
        prev, c_in, hw, rate_in = pool, c_out, out_hw // 2, TARGET_RATE
    flat = c_in * hw * hw
    nodes["flatten"] = nir.Flatten(input_type={"input": np.array([c_in, hw, hw])}, start_dim=0,
                                   end_dim=-1)
    nodes["fc"] = nir.Affine(weight=(rng.standard_normal((classes, flat)) / np.sqrt(flat))
                             .astype(np.float32), bias=np.zeros(classes, np.float32))
    nodes["readout"] = (_if((classes,)) if readout == "if" else
                        nir.LI(tau=np.full(classes, READOUT_TAU, np.float32),
                               r=np.ones(classes, np.float32),
                               v_leak=np.zeros(classes, np.float32)))
    nodes["output"] = nir.Output(output_type=np.array([classes]))
    edges += [(prev, "flatten"), ("flatten", "fc"), ("fc", "readout"), ("readout", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def events(steps: int, batch: int, size: int = 128, density: float = DENSITY,
           seed: int = 0) -> np.ndarray:
    """Random events, bool [steps, batch, 2, size, size], each pixel on with `density`."""
    return np.random.default_rng(seed).random((steps, batch, 2, size, size)) < density


def rates(graph: nir.NIRGraph, x: np.ndarray) -> dict[str, float]:
    """Mean spikes per neuron and step of each IF layer (neurocc's float reference)."""
    from neurocc import ir
    from neurocc.simulators import reference

    g = ir.from_nir(graph)
    layers = [name for name in g.order if g.nodes[name].kind == "IF"]
    traces = reference.run(g, x.astype(np.float32), record=tuple(layers)).traces
    return {name: float(traces[name]["out"].mean()) for name in layers}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="the .nir file to write")
    ap.add_argument("--size", type=int, default=128, help="image side, a multiple of 32 (128)")
    ap.add_argument("--seed", type=int, default=0, help="weight seed (0)")
    ap.add_argument("--readout", choices=("li", "if"), default="li",
                    help="LI voltage readout (default) or IF spiking output")
    ap.add_argument("--check", type=int, default=0, metavar="STEPS",
                    help="also run the float reference on STEPS steps of random events "
                         f"(density {DENSITY}) and print each layer's spike rate")
    args = ap.parse_args(argv)
    graph = build(args.size, args.seed, readout=args.readout)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    nir.write(args.out, graph)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): 2 x {args.size} x {args.size} "
          f"-> {CLASSES} classes, dt = {DT}")
    if args.check:
        r = rates(graph, events(args.check, 1, args.size, seed=args.seed + 1))
        print(json.dumps({"spike_rate_per_step": r}))


if __name__ == "__main__":
    main()
