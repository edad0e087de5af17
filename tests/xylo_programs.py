"""Seeded random Xylo Programs for the conformance suite (tests/test_conformance.py).

Each seed is a whole Xylo network: 16 input channels -> one or two hidden layers
(recurrent, sometimes on Isyn2) -> readout, built directly from the ir.Program
dataclasses with the chip's formats. The kind (seed % len(KINDS)) aims it at one
of the traps of docs/xylo-arithmetic.md (its section 6 case groups):

    base          shifts 0..2, dash 1..5, thresholds 1000..32767 (log-uniform)
    bias          biases +-2000
    saturate      weights at +-127/-128, shifts 7, dense: saturating adds, in order
    dash_extremes dash 0 and 15 (synapses also 1)
    multispike    thresholds 1..19: the 31 (hidden) and 1 (readout) spike caps bind
    recurrent     dense recurrent weights at shift 6
    neg_floor     strong inhibition, dash_mem 0/1/15: Vmem reaches and sticks at -32768
    wide_shift    shifts 8..15: the shifted weight wraps in int16

Every program's first layer ends in three probe neurons, each pinned to a trap
(``probes``): one whose v lands exactly on its threshold every step (>= against
>), one that reaches its spike cap every step, and one that its input pins at
-32768 with dash_mem 0 in busy phases and that must stay there when the input
quietens. Besides its kind and the probes, every program mixes in each of these with probability 0.6, so
that most programs reach most traps (tests/mutation_xylo.py measures it): a
quarter of each layer's neurons with thresholds 1..19 (several spikes a step, the
31 cap, v landing exactly on the threshold), a quarter of the first layer with
dash_mem 0 and strong inhibition (the stuck -32768), and an input matrix shift of
9..15 (the shifted weight wraps in int16). Input counts (shared by every seed of a
chunk) reach 39 per step on some steps, beyond the chip's 15-event cap.
"""

from __future__ import annotations

import numpy as np

from neurocc.ir import InputPort, NeuronGroup, OutputPort, Program, SynapseBlock

#: the last neurons of every program's first layer, each pinned to one trap whatever the
#: rest of the network does (``probes``)
PROBES = ("lands on its threshold", "spike cap", "stuck at -32768")
KINDS = ("base", "bias", "saturate", "dash_extremes", "multispike", "recurrent", "neg_floor",
         "wide_shift")
N_IN = 16


def random_program(seed: int, target) -> tuple[Program, str]:
    rng = np.random.default_rng(seed)
    kind = KINDS[seed % len(KINDS)]
    f = target.formats
    syn = f.synapses
    n_layers = int(rng.integers(1, 3))
    sizes = [int(rng.integers(1, 33)) for _ in range(n_layers)]
    sizes[0] += len(PROBES)
    n_out = int(rng.integers(1, target.network.max_output_neurons + 1))
    tag = f"s{seed}"
    small, floor, wide = (rng.random(3) < 0.6)
    hidden = [f"{tag}.h{i}" for i in range(n_layers)]
    readout = f"{tag}.out"

    def thresholds(n: int) -> np.ndarray:
        if kind == "multispike":
            return rng.integers(1, 20, n)
        t = np.exp(rng.uniform(np.log(1000), np.log(32767), n)).astype(np.int64)
        return np.where(rng.random(n) < 0.25, rng.integers(1, 20, n), t) if small else t

    def dashes(n: int, low: int = 1) -> np.ndarray:
        if kind == "dash_extremes":
            return rng.choice([0, 15, low], n)
        if kind == "neg_floor":
            return rng.choice([0, 1, 15], n)
        return rng.integers(low, 6, n)

    def neuron(name: str, n: int, model: str) -> NeuronGroup:
        p = {"dash_mem": dashes(n, 0), "dash_syn": dashes(n), "threshold": thresholds(n),
             "bias": (rng.integers(-2000, 2001, n) if kind == "bias" else
                      rng.integers(-200, 201, n) * (rng.random(n) < 0.2))}
        if model == "xylo.lif":
            p["dash_syn2"] = dashes(n)
        return NeuronGroup(name, model, (n,), {k: np.asarray(v, np.int32) for k, v in p.items()},
                           name)

    groups = {h: neuron(h, n, "xylo.lif") for h, n in zip(hidden, sizes)}
    stuck = np.zeros(sizes[0], bool)
    if floor:   # some first-layer neurons forget nothing of their inhibition (dash_mem 0)
        stuck = rng.random(sizes[0]) < 0.25
        groups[hidden[0]].params["dash_mem"][stuck] = 0
    groups[readout] = neuron(readout, n_out, "xylo.readout")

    def shift() -> int:
        if kind == "saturate":
            return 7
        if kind == "recurrent":
            return 6
        if kind == "wide_shift":
            return int(rng.integers(8, 16))
        return int(rng.integers(0, 3))

    shifts = {"in": int(rng.integers(9, 16)) if wide and kind != "saturate" else shift(),
              "rec": shift(), "out": shift()}

    def weights(n_dst: int, n_src: int, density: float) -> np.ndarray:
        if kind == "saturate":
            w = rng.choice([127, -128, 100, -100], (n_dst, n_src))
        elif kind == "neg_floor":
            w = -rng.integers(60, 129, (n_dst, n_src))
        else:
            w = rng.integers(-128, 128, (n_dst, n_src))
        return (w * (rng.random((n_dst, n_src)) < density)).astype(np.int32)

    blocks: list[SynapseBlock] = []
    dense = 1.0 if kind in ("saturate", "recurrent") else rng.uniform(0.2, 0.9)

    def block(src: str, n_src: int, dst: str, n_dst: int, matrix: str, receptor: int = 0) -> None:
        name = f"{src}->{dst}" + (f"#{receptor + 1}" if receptor else "")
        blocks.append(SynapseBlock(name, src, dst, weights(n_dst, n_src, dense), shifts[matrix],
                                   8, "mixed", 0, "dense", receptor))

    # each target's blocks in the chip's presynaptic order: input, then hidden by index
    for i, (h, n) in enumerate(zip(hidden, sizes)):
        if i == 0:
            block("in", N_IN, h, n, "in")
            w = blocks[-1].weights.to_dense()
            w[stuck] = -np.abs(rng.integers(64, 129, (int(stuck.sum()), N_IN)))
            blocks[-1] = SynapseBlock(blocks[-1].name, "in", h, w.astype(np.int32),
                                      shifts["in"], 8, "mixed", 0, "dense")
            if syn == 2 and rng.random() < 0.5:
                block("in", N_IN, h, n, "in", 1)
        else:
            block(hidden[i - 1], sizes[i - 1], h, n, "rec", int(syn == 2 and rng.random() < 0.3))
        if kind in ("recurrent", "multispike") or rng.random() < 0.6:
            block(h, n, h, n, "rec", int(syn == 2 and rng.random() < 0.5))
    block(hidden[-1], sizes[-1], readout, n_out, "out")
    blocks = probes(rng, groups[hidden[0]], blocks, shifts["in"])
    program = Program(target.name, groups, blocks, [InputPort("in", (N_IN,))],
                      [OutputPort("out", readout, (n_out,))], {"dt": 1.0}, dt=1.0)
    program.check()
    return program, kind


def merged(programs: list[Program], name: str) -> Program:
    """Disjoint programs as one (one emulator compile): groups and blocks side by side,
    sharing the input port."""
    groups, blocks = {}, []
    for p in programs:
        groups.update(p.groups)
        blocks += p.synapses
    return Program(name, groups, blocks, [InputPort("in", (N_IN,))], [], {"dt": 1.0}, dt=1.0)


def raster(seed: int, steps: int, batch: int) -> np.ndarray:
    """Input event counts [T, B, 16]: Poisson, quiet and busy phases, and steps of 0..39."""
    rng = np.random.default_rng(seed)
    rate = np.where(np.arange(steps) // 10 % 2 == 0, 0.3, 3.0)[:, None, None]
    x = rng.poisson(rate * rng.uniform(0.2, 1.5, N_IN), (steps, batch, N_IN))
    big = rng.random((steps, 1, 1)) < 0.1
    x = np.where(big, rng.integers(0, 40, (steps, batch, N_IN)), x)
    return np.minimum(x, 255).astype(np.int64)


def probes(rng: np.random.Generator, group: NeuronGroup, blocks: list[SynapseBlock],
           in_shift: int) -> list[SynapseBlock]:
    """Pin the first layer's last three neurons (dash_mem 0: v = the step's drive):

    * "lands on its threshold": no input, bias = threshold: v equals the threshold every
      step (it spikes, drops to 0 and the bias lifts it back);
    * "spike cap": no input, threshold 1..3, bias 32767: the cap binds every step (its
      outgoing weights are zeroed, or its 31 events a step would swamp the layers after);
    * "stuck at -32768": bias -20000, dash_syn 3, every input channel inhibiting it with
      the strongest effective weight: the busy phases of the input pin v at -32768,
      and in the quiet ones it must stay there (-d(-32768) wraps to -32768).
    """
    n = group.size
    a, b, c = n - 3, n - 2, n - 1
    p = group.params
    p["dash_mem"][[a, b, c]] = 0
    p["threshold"][a] = p["bias"][a] = int(rng.integers(100, 20000))
    p["threshold"][b], p["bias"][b] = int(rng.integers(1, 4)), 32767
    p["threshold"][c], p["bias"][c], p["dash_syn"][c] = 32767, -20000, 3
    # an int8 weight whose shifted value is strongly negative, wrapped or not
    strongest = -128 if in_shift <= 7 else -(1 << max(0, 14 - in_shift))
    out = []
    for blk in blocks:
        w = blk.weights.to_dense().copy()
        if blk.target == group.name:
            w[[a, b, c]] = 0
            if blk.source == "in" and blk.receptor == 0:
                w[c] = strongest
        if blk.source == group.name:
            w[:, b] = 0
        out.append(SynapseBlock(blk.name, blk.source, blk.target, w.astype(np.int32),
                                blk.weight_exp, 8, "mixed", 0, "dense", blk.receptor))
    return out
