"""The emulator on Conv and Sparse blocks against the same blocks expanded to Dense.

Cases (Loihi 2 CUBA-LIF, Bernoulli(0.05) input, thresholds tuned so each layer fires
a few percent of the time; each program is run once with its blocks as stored and
once with every block converted to ``Dense(block.weights.to_dense())``, which the
emulator sums with its dense products and event-driven loop):
  * conv small:  in (4, 16, 16) -> 3x3 conv, pad 1 -> (8, 16, 16), 200 steps
  * conv large:  in (4, 32, 32) -> 3x3 conv, pad 1 -> (8, 32, 32) (dense: 8192 x 4096)
  * conv recurrent: the small layer plus a 3x3 recurrent conv on it (summed inside the
    scan; its dense matrix, 2048 x 2048, goes event-driven at batch 1)
  * sparse: 1000 -> 1000 at 5 % plus a 1000 x 1000 recurrent block at 5 %
at batch 1 and 64. Both runs are checked bit-identical (spikes). Times are the median
of repeated calls after the first (which compiles).

The sparse accumulator's options are also timed alone on a 1000 x 1000 block at 5 %
(segment sums, ``jax.experimental.sparse`` BCSR and BCOO products, the dense float32
product), and with ``--large`` on a 1M x 1M block of 100M synapses (segment sums and
BCSR only; about 3 GB of memory and a few minutes).

Usage: python bench/emulator_encodings.py [--quick] [--large]
Writes bench/results/emulator_encodings.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse as jsparse
from rich.console import Console
from rich.table import Table

from neurocc import ir
from neurocc.backends import get_target
from neurocc.ir.block_conv import Conv, ConvGeometry
from neurocc.ir.block_sparse import Sparse
from neurocc.ir.blocks import Dense
from neurocc.simulators.emulator import Emulator
from helpers.timing import time_runs  # bench/helpers (this script's folder is on sys.path)

LOIHI2 = get_target("loihi2")
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "emulator_encodings.json"


def lif(name: str, n: int) -> ir.NeuronGroup:
    return ir.NeuronGroup(name, "loihi2.cuba_lif", (n,), {
        "du": np.array(4095, np.int32), "dv": np.array(256, np.int32),
        "vth": np.array((1 << 17) - 1, np.int32),
        "bias_mant": np.zeros(n, np.int32), "bias_exp": np.zeros(n, np.int32)})


def conv3x3(rng: np.random.Generator, c_in: int, c_out: int, side: int) -> Conv:
    kernel = rng.integers(-64, 72, (c_out, c_in, 3, 3)).astype(np.int32)
    return Conv(kernel, ConvGeometry((c_in, side, side), (c_out, side, side), (1, 1), (1, 1),
                                     (1, 1), 1))


def random_sparse(rng: np.random.Generator, n_t: int, n_s: int, density: float) -> Sparse:
    w = rng.integers(-64, 64, (n_t, n_s)).astype(np.int32)
    w[rng.random(w.shape) >= density] = 0
    return Sparse.from_dense(w)


def conv_program(c_in: int, c_out: int, side: int, recurrent: bool, seed: int = 0) -> ir.Program:
    rng = np.random.default_rng(seed)
    n_in, n = c_in * side * side, c_out * side * side
    blocks = [ir.SynapseBlock("in->a", "in", "a", conv3x3(rng, c_in, c_out, side))]
    if recurrent:
        blocks.append(ir.SynapseBlock("a->a", "a", "a", conv3x3(rng, c_out, c_out, side)))
    return ir.Program("loihi2", {"a": lif("a", n)}, blocks, [ir.InputPort("in", (n_in,))],
                      [ir.OutputPort("out", "a", (n,))], {"dt": 1.0})


def sparse_program(seed: int = 0) -> ir.Program:
    rng = np.random.default_rng(seed)
    blocks = [ir.SynapseBlock("in->a", "in", "a", random_sparse(rng, 1000, 1000, 0.05)),
              ir.SynapseBlock("a->a", "a", "a", random_sparse(rng, 1000, 1000, 0.05))]
    return ir.Program("loihi2", {"a": lif("a", 1000)}, blocks, [ir.InputPort("in", (1000,))],
                      [ir.OutputPort("out", "a", (1000,))], {"dt": 1.0})


def as_dense(prog: ir.Program) -> ir.Program:
    return dataclasses.replace(prog, synapses=[
        dataclasses.replace(b, weights=Dense(b.weights.to_dense())) for b in prog.synapses])


def tune_thresholds(prog: ir.Program, rate: float = 0.05, steps: int = 60) -> None:
    """Each group's vth at the 75th percentile of its free membrane (a few % firing)."""
    x = np.random.default_rng(1).random((steps, 1, prog.data_inputs[0].size)) < rate
    for name, group in prog.groups.items():
        group.params["vth"] = np.array((1 << 17) - 1, np.int32)
        v = Emulator(prog, LOIHI2, record=(name,)).run(x).traces[name]["v"][steps // 3:]
        q = float(np.quantile(v, 0.75)) / 64
        group.params["vth"] = np.array(int(np.clip(q, 1, (1 << 17) - 1)), np.int32)


def time_run(prog: ir.Program, x: np.ndarray, repeats: int):
    emu = Emulator(prog, LOIHI2)
    first, times, res = time_runs(emu, x, repeats)
    med = statistics.median(times)
    return med, max(first - med, 0.0), emu, res


def median_time(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def sparse_options(sp: Sparse, batches: tuple[int, ...], repeats: int, dense: bool) -> list[dict]:
    """One block's sums alone, each way the sparse accumulator could form them."""
    n_t, n_s = sp.shape
    idx = jnp.asarray(sp.indices.astype(np.int32))
    data = jnp.asarray(sp.data.astype(np.int32))
    indptr = jnp.asarray(sp.indptr.astype(np.int32))
    rows = jnp.asarray(np.repeat(np.arange(n_t, dtype=np.int32), np.diff(sp.indptr)))

    def segments(s, idx, data, rows):
        terms = s.T.astype(jnp.int32)[idx] * data[:, None]
        return jax.ops.segment_sum(terms, rows, n_t, indices_are_sorted=True).T

    def bcsr(s, data, idx, indptr):
        return (jsparse.BCSR((data, idx, indptr), shape=(n_t, n_s)) @ s.T.astype(jnp.int32)).T

    def bcoo(s, data, idx, rows):
        m = jsparse.BCOO((data, jnp.stack([rows, idx], axis=1)), shape=(n_t, n_s))
        return (m @ s.T.astype(jnp.int32)).T

    options = {"segment sums": (jax.jit(segments), (idx, data, rows)),
               "BCSR @ (CSR custom call)": (jax.jit(bcsr), (data, idx, indptr))}
    if dense:
        options["BCOO @"] = (jax.jit(bcoo), (data, idx, rows))
        w = jnp.asarray(sp.to_dense().T.astype(np.float32))
        options["dense float32 product"] = (jax.jit(lambda s, w: jnp.dot(s.astype(jnp.float32), w)), (w,))
    out = []
    rng = np.random.default_rng(2)
    for batch in batches:
        s = jnp.asarray(rng.random((batch, n_s)) < 0.05)
        for name, (fn, args) in options.items():
            t = median_time(fn, s, *args, repeats=repeats)
            out.append({"block": f"{n_t}x{n_s}, {sp.indices.size:,} synapses", "batch": batch,
                        "method": name, "ms_per_step": t * 1e3})
    return out


def large_sparse(n: int = 1_000_000, nnz: int = 100_000_000, seed: int = 0) -> Sparse:
    """A random CSR block built directly (Sparse.from_coo would sort 100M pairs)."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(nnz / n, n)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = rng.integers(0, n, int(indptr[-1]), dtype=np.int32)
    data = rng.integers(-64, 64, int(indptr[-1]), dtype=np.int32)
    return Sparse(indptr, indices, data, (n, n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats (smoke run)")
    ap.add_argument("--large", action="store_true",
                    help="also time the sparse accumulator on 1M neurons and 100M synapses")
    args = ap.parse_args()
    repeats = 2 if args.quick else 3
    steps = 40 if args.quick else 200
    rng = np.random.default_rng(0)
    cases = [("conv small", conv_program(4, 8, 16, False)),
             ("conv large", conv_program(4, 8, 32, False)),
             ("conv recurrent", conv_program(4, 8, 16, True)),
             ("sparse", sparse_program())]
    records = []
    for case, prog in cases:
        tune_thresholds(prog)
        dense = as_dense(prog)
        for batch in (1, 64):
            x = rng.random((steps, batch, prog.data_inputs[0].size)) < 0.05
            row = {"case": case, "batch": batch, "steps": steps,
                   "neurons": sum(g.size for g in prog.groups.values()),
                   "synapses": sum(b.weights.nnz() for b in prog.synapses)}
            spikes = {}
            for how, p in (("structured", prog), ("dense", dense)):
                t, comp, emu, res = time_run(p, x, repeats)
                spikes[how] = res.spikes["a"]
                row |= {f"{how}_s": t, f"{how}_compile_s": comp, f"{how}_steps_per_s": steps / t,
                        f"{how}_summation": {n: m + (" before the scan" if n in emu.hoisted else "")
                                             for n, m in emu.summation.items()}}
            row["speedup"] = row["dense_s"] / row["structured_s"]
            row["bit_identical"] = bool(np.array_equal(spikes["structured"], spikes["dense"]))
            row["firing_rate"] = float(spikes["structured"].mean())
            records.append(row)
    options = sparse_options(random_sparse(np.random.default_rng(3), 1000, 1000, 0.05), (1, 8, 64),
                             repeats=20, dense=True)
    if args.large:
        options += sparse_options(large_sparse(), (1, 8), repeats=2, dense=False)

    console = Console(width=200)
    table = Table(title=f"Emulator, Conv and Sparse blocks against Dense ({jax.default_backend()}, "
                        f"{platform.machine()})")
    for col in ("case", "batch", "steps", "neurons", "synapses", "structured steps/s",
                "dense steps/s", "speedup", "compile (structured / dense)", "bit-identical"):
        table.add_column(col, justify="right")
    for r in records:
        table.add_row(r["case"], str(r["batch"]), str(r["steps"]), f"{r['neurons']:,}",
                      f"{r['synapses']:,}", f"{r['structured_steps_per_s']:,.0f}",
                      f"{r['dense_steps_per_s']:,.0f}", f"{r['speedup']:.2f}x",
                      f"{r['structured_compile_s']:.2f} s / {r['dense_compile_s']:.2f} s",
                      "yes" if r["bit_identical"] else "NO")
    console.print(table)
    console.print("Summation per block (structured | dense):")
    for r in records:
        console.print(f"  {r['case']} b{r['batch']}: "
                      + ", ".join(f"{k} {v}" for k, v in r["structured_summation"].items()) + " | "
                      + ", ".join(f"{k} {v}" for k, v in r["dense_summation"].items()))
    opt = Table(title="Sparse accumulator options, one block's sums alone (median per step)")
    for col in ("block", "batch", "method", "ms/step"):
        opt.add_column(col, justify="right")
    for o in options:
        opt.add_row(o["block"], str(o["batch"]), o["method"], f"{o['ms_per_step']:.3f}")
    console.print(opt)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"backend": jax.default_backend(), "machine": platform.machine(),
                                   "results": records, "sparse_options": options}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
