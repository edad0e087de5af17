"""Run a Program on Lava's fixed-point Loihi 2 models (the vendor's ground truth).

A batch runs as ONE Lava network: every population holds B copies of its
neurons, and every Dense or Sparse block becomes a block-diagonal Sparse matrix
(which Lava computes bit-identically to Dense), built from the block's chunks,
never from a dense matrix. Lava's per-step cost is dominated by its processes,
not their size, so B samples cost about as much as one.

A Conv block becomes Lava's Conv process, which cannot be block-diagonal; but
B copies of a convolution with g groups are one convolution with B g groups over
B times the channels (sample b's channels are groups b g .. b g + g - 1, and a
population's (b, c, y, x) layout is already (B C, y, x)), so the batch still
runs as one network with one Conv process per block. Lava holds the groups in
an int8, so ``run_on_lava`` runs a larger batch in parts of at most 127 // g
samples. The kernel Lava gets is the one the chip computes with: the effective
weights (``synapse.effective_weights``: clipped, low bits dropped, which Dense
does and Lava's Conv does not) shifted left by weight_exp (Lava's Conv has no
exponent), flipped (Lava convolves, NIR and PyTorch correlate) and transposed
into Lava's (C_out, kX, kY, C_in / groups); a 1-d conv runs as 2-d with a unit
height. A delayed Conv block goes through an identity DelaySparse after the Conv
(runner.py). What Lava's Conv cannot compute is refused (``rules.conv_problems``).
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import numpy as np

from neurocc.ir import NeuroccError, Program, QuantizationError, SynapseBlock
from neurocc.ir.blocks import Conv

from .lava import run_lava_net
from .rules import CONV_INT8_MAX, conv_problems, lava_conv_axes
from .synapse import effective_weights


@dataclasses.dataclass
class LavaResult:
    outputs: dict[str, np.ndarray]                   # [T, B, *shape]: int8 spikes, int32 voltages
    spikes: dict[str, np.ndarray]                    # [T, B, n] int8
    traces: dict[str, dict[str, np.ndarray]]         # group -> {"u", "v"}: [T, B, n] int32
    timing: dict[str, float]


def _csr(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> Any:
    order = np.lexsort((cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))]).astype(np.int32)
    csr = SimpleNamespace(data=vals.astype(np.int32), indices=cols.astype(np.int32), indptr=indptr,
                          shape=shape)
    csr.tocsr = lambda: csr
    return csr


def max_batch(program: Program) -> int | None:
    """The most samples one Lava network holds (None: any number): B samples of a conv with
    g groups are one Lava Conv with B g groups, an int8."""
    groups = [b.weights.geometry.groups for b in program.synapses if isinstance(b.weights, Conv)]
    return max(1, CONV_INT8_MAX // max(groups)) if groups else None  # > 127 groups: refused


def _conv_connection(block: SynapseBlock, batch: int) -> dict:
    """A Conv block, B samples at once, as the runner's "conv" connection (module doc)."""
    problems = conv_problems(block)
    if problems:
        raise QuantizationError("Lava's Conv process cannot run this program's convolution:\n"
                                + "\n".join(f"  - {p}" for p in problems))
    conv, g = block.weights, block.weights.geometry
    if batch * g.groups > CONV_INT8_MAX:
        raise NeuroccError(f"block '{block.name}': {batch} samples of a convolution with "
                           f"{g.groups} groups make {batch * g.groups} groups, beyond Lava's "
                           f"{CONV_INT8_MAX}; run at most {CONV_INT8_MAX // g.groups} samples "
                           f"at a time (run_on_lava does)")
    ax = lava_conv_axes(conv)
    kernel = effective_weights(conv.kernel, block.num_weight_bits, block.sign_mode)
    kernel = kernel.astype(np.int64).reshape(kernel.shape[:2] + ax["kernel"])
    kernel = kernel << int(block.weight_exp)
    # (C_out, C_in/g, kH, kW), correlated -> (C_out, kW, kH, C_in/g), convolved
    lava_kernel = kernel[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)
    xy = {k: tuple(ax[k][::-1]) for k in ("in", "stride", "padding", "dilation")}  # (W, H)
    return {"type": "conv", "source": block.source, "target": block.target,
            "weight": np.tile(lava_kernel, (batch, 1, 1, 1)).astype(np.int32),
            "input_shape": xy["in"] + (batch * g.in_shape[0],), "stride": xy["stride"],
            "padding": xy["padding"], "dilation": xy["dilation"], "groups": batch * g.groups,
            "delay": int(block.delay)}


def program_to_net(program: Program, inputs: dict[str, np.ndarray]) -> tuple[dict, int, int]:
    """The Lava network (see ``lava.run_lava_net``) for a batch of inputs."""
    steps, batch = next(iter(inputs.values())).shape[:2]
    rows: list[np.ndarray] = []
    offset: dict[str, int] = {}
    at = 0
    for p in program.inputs:
        offset[p.name] = at
        if p.kind == "data":
            x = (np.asarray(inputs[p.name]).reshape(steps, batch, p.size) != 0).astype(np.int32)
            rows.append(x.transpose(1, 2, 0).reshape(batch * p.size, steps))
        else:
            on = (np.arange(steps) >= p.start).astype(np.int32)
            rows.append(np.tile(on, (batch * p.size, 1)))
        at += batch * p.size
    total_in = at
    pops = {}
    for g in program.groups.values():
        prm = g.params
        if any(np.ndim(prm[k]) for k in ("du", "dv", "vth")):
            raise NeuroccError(f"group '{g.name}': Lava needs du, dv, vth shared by the population")
        pop = {"n": g.size * batch, "du": int(prm["du"]), "dv": int(prm["dv"]), "vth": int(prm["vth"]),
               "bias_mant": np.tile(np.broadcast_to(prm.get("bias_mant", 0), (g.size,)), batch),
               "bias_exp": np.tile(np.broadcast_to(prm.get("bias_exp", 0), (g.size,)), batch)}
        for k in ("u0", "v0"):
            if k in prm:
                pop[k[0]] = np.tile(np.broadcast_to(prm[k], (g.size,)), batch)
        pops[g.name] = pop
    conns = []
    for b in program.synapses:
        if isinstance(b.weights, Conv):
            conv = _conv_connection(b, batch)
            if b.source not in pops:
                size = program.port(b.source).size
                conv.update(source="input", source_rows=(offset[b.source],
                                                         offset[b.source] + batch * size))
            conns.append(conv)
            continue
        chunks = list(b.weights.chunks()) or [(np.zeros(0, np.int64),) * 3]
        r, c, vals = (np.concatenate(parts) for parts in zip(*chunks))
        n_t = program.groups[b.target].size
        if b.source in pops:
            n_s, base, n_cols = program.groups[b.source].size, 0, program.groups[b.source].size * batch
        else:
            n_s, base, n_cols = program.port(b.source).size, offset[b.source], total_in
        rr = np.concatenate([r + k * n_t for k in range(batch)])
        cc = np.concatenate([c + base + k * n_s for k in range(batch)])
        vv = np.tile(vals, batch)
        conns.append({"source": b.source if b.source in pops else "input", "target": b.target,
                      "weights": _csr(rr, cc, vv, (n_t * batch, n_cols)), "sparse": True,
                      "weight_exp": int(b.weight_exp), "num_weight_bits": int(b.num_weight_bits),
                      "sign_mode": b.sign_mode,
                      # DelaySparse: a spike reaches the target 1 + delay steps later
                      "delays": int(b.delay) if b.delay else None})
    net = {"input": np.concatenate(rows, axis=0) if rows else None, "populations": pops,
           "connections": conns}
    return net, steps, batch


def _concat_batches(parts: list[LavaResult]) -> LavaResult:
    def cat(dicts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {k: np.concatenate([d[k] for d in dicts], axis=1) for k in dicts[0]}

    return LavaResult(cat([p.outputs for p in parts]), cat([p.spikes for p in parts]),
                      {g: cat([p.traces[g] for p in parts]) for g in parts[0].traces},
                      {k: sum(p.timing[k] for p in parts) for k in parts[0].timing})


def run_on_lava(program: Program, inputs: np.ndarray | dict[str, np.ndarray],
                record: tuple[str, ...] | list[str] = (), timeout: float = 1200) -> LavaResult:
    """Run `program` on Lava fixed_pt; spikes of every group, u and v of `record`."""
    if not isinstance(inputs, dict):
        inputs = {program.data_inputs[0].name: inputs}
    batch, per = next(iter(inputs.values())).shape[1], max_batch(program)
    if per is not None and batch > per:
        parts = [run_on_lava(program, {k: np.asarray(v)[:, i:i + per] for k, v in inputs.items()},
                             record, timeout) for i in range(0, batch, per)]
        return _concat_batches(parts)
    net, steps, batch = program_to_net(program, inputs)
    traced = tuple(dict.fromkeys(tuple(record) + program.readout_groups))
    monitor = {g: ["spikes"] + (["u", "v"] if g in traced else []) for g in program.groups}
    out = run_lava_net(net, steps, monitor, timeout=timeout)
    spikes = {g.name: out[f"spikes.{g.name}"].reshape(steps, batch, g.size) for g in program.groups.values()}
    traces = {g: {k: out[f"{k}.{g}"].reshape(steps, batch, program.groups[g].size) for k in ("u", "v")}
              for g in traced}
    outputs = program.collect_outputs(spikes, {g: traces[g]["v"] for g in program.readout_groups})
    traces = {g: traces[g] for g in record}
    timing = {k[5:]: float(v) for k, v in out.items() if k.startswith("time.")}
    return LavaResult(outputs, spikes, traces, timing)
