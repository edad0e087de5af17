"""Run a Program on Lava's fixed-point Loihi 2 models (the vendor's ground truth).

A batch runs as ONE Lava network: every population holds B copies of its
neurons, and every synapse block becomes a block-diagonal Sparse matrix (which
Lava computes bit-identically to Dense). Lava's per-step cost is dominated by
its processes, not their size, so B samples cost about as much as one.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import numpy as np

from neurocc.ir import NeuroccError, Program

from .lava import run_lava_net


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


def run_on_lava(program: Program, inputs: np.ndarray | dict[str, np.ndarray],
                record: tuple[str, ...] | list[str] = (), timeout: float = 1200) -> LavaResult:
    """Run `program` on Lava fixed_pt; spikes of every group, u and v of `record`."""
    if not isinstance(inputs, dict):
        inputs = {program.data_inputs[0].name: inputs}
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
