"""Bridge to Intel's Lava (lava-nc 0.10.0), the vendor's bit-accurate Loihi 2 model.

Lava needs Python <3.11 semantics and numpy<2, neurocc needs numpy>=2, so Lava
lives in its own virtualenv (``.venv-lava``, built by ``make lava``, i.e.
``build_venv.sh``) and is never imported here. ``run_lava_net`` writes a
network description to a temporary ``net.npz``, runs ``runner.py`` with the
Lava venv's interpreter in a subprocess, and reads the traces back from
``out.npz``. The file format is documented at the top of ``runner.py``.

A network, as ``run_lava_net`` takes it::

    net = {
        "input": int array (N_in, T_data),        # optional; RingBuffer, column t-1 at step t
        "populations": {                          # LIF processes (dict order is kept)
            "l1": {"n": 32, "du": 100, "dv": 200, "vth": 300,
                   "bias_mant": int or (n,) ints, "bias_exp": int or (n,) ints,
                   "u": optional (n,) ints, "v": optional (n,) ints},
        },
        "connections": [                          # Dense, or Sparse with "sparse": True
            {"source": "input" | POP, "target": POP,
             "weights": int array (N_target, N_source), or a scipy sparse matrix,
             "weight_exp": 0, "num_weight_bits": 8, "sign_mode": None | "mixed" |
             "excitatory" | "inhibitory", "num_message_bits": 0, "sparse": False,
             "delays": None | int | int array},   # optional: DelayDense / DelaySparse
            {"type": "conv", "source": "input" | POP, "target": POP,   # Lava's Conv
             "weight": int array (C_out, kX, kY, C / groups),  # Lava's layout, used as is
             "input_shape": (X, Y, C), "stride": (sx, sy), "padding": (px, py),
             "dilation": (dx, dy), "groups": 1,   # stride, padding, dilation: int or pair
             "source_rows": (a, b),               # optional, from "input" only
             "delay": 0, "num_message_bits": 0},
        ],
    }

``delays`` (0..63) is one int for every synapse, an array shaped like the
dense weights, or, for sparse weights, an array with one delay per stored
weight (parallel to the CSR ``data``). A spike sent at step t through a
synapse with delay d reaches its neuron at step t + 1 + d.

A "conv" connection is Lava's Conv process from a flat, channel-major (C, Y, X)
source population (or rows a..b-1 of the input) to a flat (C_out, Y', X')
target; ``runner.py``'s docstring says what Lava computes (a true convolution,
a 24-bit wrap of the sum, no weight exponent or clipping) and what it takes.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from neurocc.backends.vendor_venv import VendorVenv
from neurocc.ir import NeuroccError

__all__ = ["LavaUnavailableError", "LavaRunError", "lava_python", "lava_available",
           "run_lava_net", "write_net", "RUNNER", "VENV_NAME", "STAMP_NAME"]

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "runner.py"
BUILD_SCRIPT = HERE / "build_venv.sh"
VENV_NAME = ".venv-lava"
STAMP_NAME = ".neurocc-lava-ok"
ENV_VAR = "NEUROCC_LAVA_PYTHON"
PROBES = ("spikes", "u", "v")
_FORMAT, _VERSION = "neurocc-lava-net", 2  # 2: conv connections


class LavaUnavailableError(NeuroccError):
    """The Lava virtualenv is missing or not finished."""


class LavaRunError(NeuroccError):
    """Lava (the runner subprocess) failed on a network."""


#: the venv, its stamp and its make target (``backends.vendor_venv``)
VENV = VendorVenv("Lava", VENV_NAME, STAMP_NAME, ENV_VAR, "lava", "lava-nc 0.10.0", BUILD_SCRIPT,
                  LavaUnavailableError)


def _candidates() -> list[Path]:
    return VENV.candidates(HERE)


def lava_python() -> Path:
    """The Lava venv's interpreter.

    ``$NEUROCC_LAVA_PYTHON`` wins when set. Otherwise the first ``.venv-lava``
    found in the current directory or a parent of it, then in this package's
    folder or a parent of it (the repository root, in a checkout), that
    holds ``bin/python`` and the stamp ``build_venv.sh`` writes when done.
    """
    return VENV.python(_candidates())


def lava_available() -> bool:
    """Whether a finished Lava venv can be found (does not start it)."""
    return VENV.available(_candidates())


def _per_neuron(value, n: int, what: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = np.full((n,), arr)
    if arr.shape != (n,):
        raise ValueError(f"{what} must be a scalar or have shape ({n},), got {arr.shape}")
    return _ints(arr, what).astype(np.int32)


def _ints(arr, what: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind == "b":
        return arr.astype(np.int32)
    if arr.dtype.kind == "f":
        if not np.array_equal(arr, np.trunc(arr)):
            raise ValueError(f"{what} must hold integers, got non-integer floats")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{what} must hold integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < np.iinfo(np.int32).min or arr.max() > np.iinfo(np.int32).max):
        raise ValueError(f"{what} has values outside int32")
    return arr.astype(np.int32)


def _monitor_spec(monitor, populations: Iterable[str]) -> dict[str, list[str]]:
    pops = list(populations)
    if monitor is None or monitor == "all":
        return {p: list(PROBES) for p in pops}
    if isinstance(monitor, str):
        monitor = [monitor]
    if isinstance(monitor, Mapping):
        spec = {name: [what] if isinstance(what, str) else list(what)
                for name, what in monitor.items()}
    else:
        spec = {name: list(PROBES) for name in monitor}
    for name, what in spec.items():
        if name not in pops:
            raise ValueError(f"monitor: no population named {name!r} (have {pops})")
        bad = [w for w in what if w not in PROBES]
        if bad:
            raise ValueError(f"monitor {name!r}: unknown probe(s) {bad}; use {PROBES}")
    return spec


def _pair(value, what: str) -> list[int]:
    pair = [value, value] if np.ndim(value) == 0 else list(value)
    if len(pair) != 2:
        raise ValueError(f"{what} must be an int or a pair, got {value!r}")
    return [int(v) for v in pair]


def _conv_entry(i: int, conn: Mapping, arrays: dict[str, np.ndarray]) -> dict:
    what = f"connection {i} ({conn['source']} -> {conn['target']})"
    weight = _ints(conn["weight"], f"{what}: weight")
    if weight.ndim != 4:
        raise ValueError(f"{what}: a conv kernel has shape (C_out, kX, kY, C / groups), got "
                         f"{weight.shape}")
    arrays[f"conn.{i}.weight"] = weight
    entry = {"type": "conv", "source": conn["source"], "target": conn["target"],
             "input_shape": [int(n) for n in conn["input_shape"]],
             "stride": _pair(conn.get("stride", 1), f"{what}: stride"),
             "padding": _pair(conn.get("padding", 0), f"{what}: padding"),
             "dilation": _pair(conn.get("dilation", 1), f"{what}: dilation"),
             "groups": int(conn.get("groups", 1)), "delay": int(conn.get("delay", 0)),
             "num_message_bits": int(conn.get("num_message_bits", 0))}
    if conn.get("source_rows") is not None:
        entry["source_rows"] = [int(r) for r in conn["source_rows"]]
    return entry


def write_net(path: str | Path, net: Mapping, steps: int, monitor=None,
              probe_with: str = "recorder") -> dict:
    """Write ``net`` as NET.npz (see runner.py); returns the JSON spec written."""
    if probe_with not in ("recorder", "monitor"):
        raise ValueError(f"probe_with must be 'recorder' or 'monitor', got {probe_with!r}")
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    arrays: dict[str, np.ndarray] = {}
    if net.get("input") is not None:
        inp = _ints(net["input"], "input")
        if inp.ndim != 2:
            raise ValueError(f"input must have shape (N_in, T_data), got {inp.shape}")
        arrays["input"] = inp
    pops = []
    for name, pop in net.get("populations", {}).items():
        n = int(pop["n"])
        entry = {"name": name, "n": n}
        for key in ("du", "dv", "vth"):
            value = pop[key]
            if int(value) != value:
                raise ValueError(f"population {name!r}: {key} must be an integer, got {value!r}")
            entry[key] = int(value)
        pops.append(entry)
        for key, default in (("bias_mant", 0), ("bias_exp", 0), ("u", None), ("v", None)):
            value = pop.get(key, default)
            if value is not None:
                arrays[f"pop.{name}.{key}"] = _per_neuron(value, n, f"population {name!r}: {key}")
    conns = []
    for i, conn in enumerate(net.get("connections", [])):
        if conn.get("type") == "conv":
            conns.append(_conv_entry(i, conn, arrays))
            continue
        w = conn["weights"]
        is_sparse = bool(conn.get("sparse", False)) or hasattr(w, "tocsr")
        entry = {"source": conn["source"], "target": conn["target"], "sparse": is_sparse,
                 "weight_exp": int(conn.get("weight_exp", 0)),
                 "num_weight_bits": int(conn.get("num_weight_bits", 8)),
                 "sign_mode": conn.get("sign_mode"),
                 "num_message_bits": int(conn.get("num_message_bits", 0))}
        what = f"connection {i} ({conn['source']} -> {conn['target']}): weights"
        if is_sparse:
            if hasattr(w, "tocsr"):
                csr = w.tocsr()
                data, indices, indptr = csr.data, csr.indices, csr.indptr
            else:  # a dense array flagged sparse: compress it here, without scipy
                dense = _ints(w, what)
                rows, cols = np.nonzero(dense)
                data, indices = dense[rows, cols], cols
                indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=dense.shape[0]))])
            arrays[f"conn.{i}.data"] = _ints(data, what)
            arrays[f"conn.{i}.indices"] = np.asarray(indices, dtype=np.int32)
            arrays[f"conn.{i}.indptr"] = np.asarray(indptr, dtype=np.int32)
        else:
            arrays[f"conn.{i}.weights"] = _ints(w, what)
        delays = conn.get("delays")
        if delays is not None:
            entry["delays"] = True
            d = _ints(delays, what.replace("weights", "delays"))
            if is_sparse:
                nnz = len(arrays[f"conn.{i}.data"])
                if d.ndim == 0:
                    d = np.full(nnz, d, dtype=np.int32)
                elif d.ndim == 2:  # dense-shaped: take the stored positions
                    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(np.asarray(indptr)))
                    d = d[rows, np.asarray(indices)]
                if d.shape != (nnz,):
                    raise ValueError(f"{what}: sparse delays need one value per stored weight "
                                     f"({nnz}), or the dense shape; got {d.shape}")
            else:
                shape = arrays[f"conn.{i}.weights"].shape
                d = np.broadcast_to(d, shape).astype(np.int32) if d.ndim == 0 else d
                if d.shape != shape:
                    raise ValueError(f"{what}: delays must have the weights' shape {shape}, "
                                     f"got {d.shape}")
            if d.size and (d.min() < 0 or d.max() > 63):
                raise ValueError(f"{what}: delays must be in 0..63, got {d.min()}..{d.max()}")
            arrays[f"conn.{i}.delays"] = d
        conns.append(entry)
    spec = {"format": _FORMAT, "version": _VERSION, "steps": steps, "populations": pops,
            "connections": conns, "monitor": _monitor_spec(monitor, (p["name"] for p in pops)),
            "probe_with": probe_with}
    arrays["spec"] = np.array(json.dumps(spec))
    np.savez(path, **arrays)
    return spec


def run_lava_net(net: Mapping, steps: int, monitor=None, *, probe_with: str = "recorder",
                 timeout: float | None = 600,
                 python: str | Path | None = None) -> dict[str, np.ndarray]:
    """Run ``net`` for ``steps`` steps on Lava's fixed-point CPU models.

    ``monitor``: None or "all" (every population, spikes, u and v), a list of
    population names (all three each), or ``{name: ["spikes", "u", "v"]}``.
    Each probe costs Lava time every step: ask only for what you use.
    ``probe_with``: "recorder" (default; one extra process per connected
    component, recording saved to a file) or "monitor" (lava's Monitor, one
    process per probe and ~27 us per value read back; for cross-checks).

    Returns ``spikes.<name>`` int8 (steps, n), ``u.<name>``/``v.<name>``
    int32 (steps, n) (row t-1 = step t, u/v after spike and reset), and the
    runner's timings ``time.import``, ``time.build``, ``time.run``,
    ``time.readback``, ``time.stop`` plus ``time.subprocess`` (the whole
    call, interpreter start included), float64 seconds.
    """
    interpreter = Path(python) if python is not None else lava_python()
    with tempfile.TemporaryDirectory(prefix="neurocc-lava-") as tmp:
        net_path, out_path = Path(tmp) / "net.npz", Path(tmp) / "out.npz"
        write_net(net_path, net, steps, monitor, probe_with)
        t0 = time.perf_counter()
        proc = VENV.run(interpreter, [str(RUNNER), str(net_path), str(out_path)], timeout,
                        LavaRunError, f"Lava did not finish {steps} steps within {timeout} s "
                        f"({interpreter} {RUNNER})")
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not out_path.exists():
            tail = (proc.stderr or "")[-4000:]
            raise LavaRunError(f"Lava runner failed (exit status {proc.returncode}; "
                               f"{interpreter} {RUNNER}). stderr tail:\n{tail}")
        with np.load(out_path, allow_pickle=False) as npz:
            out = {k: npz[k] for k in npz.files}
    out["time.subprocess"] = np.float64(wall)
    return out
