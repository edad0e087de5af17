"""Run a network description on Intel Lava's fixed-point CPU models.

Run with the Lava venv's interpreter (never imported by neurocc's main
environment, which has numpy>=2 and no Lava):

    .venv-lava/bin/python backends/loihi2/lava/runner.py NET.npz OUT.npz

Imports only the standard library, numpy, scipy, lava and (first, so that Lava
imports on Python 3.11) the import hook ``lava311_shim`` that sits next to this
file. Exit status 0 on success, 2 for a malformed NET.npz (message on stderr),
1 for anything else (traceback on stderr).

NET.npz (format "neurocc-lava-net", version 2; loaded with allow_pickle=False)
-----------------------------------------------------------------------------
``spec``: a 0-d unicode array holding one JSON object::

    {
      "format": "neurocc-lava-net", "version": 2,
      "steps": T,                              # number of time steps to run
      "populations": [                         # LIF processes, in this order
        {"name": "l1", "n": 32, "du": 100, "dv": 200, "vth": 300}, ...
      ],
      "connections": [                         # Dense/Sparse/DelayDense/DelaySparse
        {"source": "input" | POP, "target": POP,
         "sparse": false,                      # true: Sparse (csr) instead of Dense
         "delays": false,                      # true: DelayDense/DelaySparse
         "weight_exp": 0, "num_weight_bits": 8,
         "sign_mode": null | "mixed" | "excitatory" | "inhibitory",  # null: Lava's auto
         "num_message_bits": 0},                # 0: binary spikes; >0: graded
        {"type": "conv",                       # Lava's Conv (version 2), see below
         "source": "input" | POP, "target": POP,
         "input_shape": [X, Y, C],             # Lava's order: width, height, channels
         "stride": [sx, sy], "padding": [px, py], "dilation": [dx, dy], "groups": g,
         "source_rows": [a, b],                # optional, source "input" only
         "delay": 0,                           # optional, 0..63
         "num_message_bits": 0},
        ...
      ],
      "monitor": {"l1": ["spikes", "u", "v"], "l2": ["spikes"]},
      "probe_with": "recorder"                 # optional; or "monitor"
    }

Only what "monitor" names is recorded and read back. "recorder" (the
default) records every probe of a connected component in one extra Lava
process that saves its recording to a file after the last step (see
``_make_recorder``); "monitor" uses lava's own ``Monitor``, one process per
probe, read back at ~27 us per value (for cross-checks: both read the same
values at the same phase). Lava runs the processes connected to the process
``run`` is called on, so connected components run one after the other; an
empty "monitor" runs every component and returns only timings.

Arrays (connection ``i`` is its index in "connections"):

* ``input``: int32 (N_in, T_data), optional. Played by a
  ``lava.proc.io.source.RingBuffer``: column (t-1) mod T_data at step t = 1..T.
  Required when a connection's source is "input" ("input" is reserved and
  cannot name a population).
* ``pop.<name>.bias_mant``, ``pop.<name>.bias_exp``: int (n,), per neuron.
* ``pop.<name>.u``, ``pop.<name>.v``: int32 (n,), optional initial state
  (default 0).
* Dense connection: ``conn.<i>.weights`` int32 (N_target, N_source).
* Sparse connection: ``conn.<i>.data`` int32, ``conn.<i>.indices`` int32,
  ``conn.<i>.indptr`` int32, a CSR matrix of shape (N_target, N_source).
* Connection with "delays": ``conn.<i>.delays``, ints in 0..63: (N_target,
  N_source) for Dense, or one per stored weight (parallel to
  ``conn.<i>.data``) for Sparse. A spike sent at step t through a synapse
  with delay d reaches its neuron at step t + 1 + d.
* Conv connection: ``conn.<i>.weight`` int32 (C_out, kX, kY, C / groups),
  Lava's layout, handed to ``lava.proc.conv.process.Conv`` as it is.

A conv connection (version 2) is Lava's ``Conv`` process between two flat
populations. Lava computes a true 2-d convolution (the kernel flipped, unlike
PyTorch's and NIR's cross-correlation) over an (X, Y, C) input with the same
``padding`` zeros on both sides of each axis, so the target's size must be
prod(Lava's output shape: X' = floor((X + 2 px - dx (kX - 1) - 1) / sx) + 1,
likewise Y', and C' = C_out), and the source's size (or b - a) prod(X, Y, C).
Both populations are flat vectors laid out channel-major, (C, Y, X) row-major
(as PyTorch's and NIR's (C, H, W)); the runner reshapes and transposes the
ports into Lava's (X, Y, C) and back. Lava's fixed-point Conv ignores
weight_exp and num_weight_bits and neither clips nor truncates the weights:
the kernel must already hold the weights the chip uses, exponent folded in.
Each step it computes the sum in float64 (exact), casts it to int32 and wraps
it to 24 bits (``(x + 2**23) mod 2**24 - 2**23``). ``kX, kY``, the stride, padding,
dilation and groups are int8 Vars in Lava: each must lie in 1..127 (padding
0..127). From "input", ``source_rows`` [a, b] takes rows a..b-1 of ``input``
(a RingBuffer of their own: Lava ports cannot be sliced); by default all of
them. ``delay`` d >= 1 sends the conv's sums through an identity DelaySparse
with graded messages and delays d - 1, so a spike sent at step t reaches its
neuron at step t + 1 + d, as through a DelayDense with delay d (d = 0: the
Conv alone, t + 1).

du, dv and vth are scalars shared by the population (Lava allows no more);
they are handed to Lava as Python ints, which is what its fixed-point model
expects. Every connection process adds one step of delay (which is what lets
recurrent connections and cycles run), plus its synapse's delay for the
Delay variants; the neuron adds none.

OUT.npz
-------
For each monitored population and requested variable: ``spikes.<name>``
int8 (T, n), ``u.<name>`` and ``v.<name>`` int32 (T, n). Row t-1 holds step
t; u and v are read after spike and reset. Timing, float64 scalars in
seconds: ``time.import`` (importing lava), ``time.build`` (building the
process graph), ``time.run`` (compile + runtime start + T steps),
``time.readback`` (loading the recording, or Monitor.get_data), ``time.stop``.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

FORMAT = "neurocc-lava-net"
#: 2: conv connections ("type": "conv")
VERSION = 2
INPUT = "input"
PROBES = ("spikes", "u", "v")
SIGN_MODES = ("mixed", "excitatory", "inhibitory")
INT8_MAX = 127
MAX_DELAY = 63          # Loihi 2 has 6 delay bits


_RECORDER_IDS = itertools.count()


class NetFormatError(Exception):
    """NET.npz does not follow the format above."""


def _scalar_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NetFormatError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _per_neuron(arrays, key: str, n: int, default: int | None, dtype) -> np.ndarray:
    if key not in arrays:
        if default is None:
            raise NetFormatError(f"array '{key}' is missing")
        return np.full((n,), default, dtype=dtype)
    arr = np.asarray(arrays[key])
    if arr.shape != (n,) or arr.dtype.kind not in "iu":
        raise NetFormatError(f"'{key}' must be an integer array of shape ({n},), "
                             f"got {arr.dtype} {arr.shape}")
    return arr.astype(dtype)


def _int_list(value, n: int, what: str, least: int) -> list[int]:
    if not isinstance(value, list) or len(value) != n:
        raise NetFormatError(f"{what} must be a list of {n} integers, got {value!r}")
    out = [_scalar_int(v, what) for v in value]
    if min(out) < least:
        raise NetFormatError(f"{what} must be >= {least}, got {value!r}")
    return out


def conv_shapes(conn: dict, weight_shape: tuple[int, ...], what: str
                ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A conv connection's Lava input and output shapes (X, Y, C), checked as Lava's
    Conv needs them (its kernel size, stride, padding, dilation and groups are int8)."""
    x, y, c = _int_list(conn.get("input_shape"), 3, f"{what}: input_shape", 1)
    stride = _int_list(conn.get("stride", [1, 1]), 2, f"{what}: stride", 1)
    padding = _int_list(conn.get("padding", [0, 0]), 2, f"{what}: padding", 0)
    dilation = _int_list(conn.get("dilation", [1, 1]), 2, f"{what}: dilation", 1)
    groups = _scalar_int(conn.get("groups", 1), f"{what}: groups")
    if len(weight_shape) != 4 or min(weight_shape) < 1:
        raise NetFormatError(f"{what}: the kernel must have shape (C_out, kX, kY, C / groups), "
                             f"got {weight_shape}")
    c_out, kx, ky, c_in_g = weight_shape
    if groups < 1 or c % groups or c_out % groups or c_in_g * groups != c:
        raise NetFormatError(f"{what}: kernel {weight_shape} and groups {groups} do not fit "
                             f"{c} input channels")
    for name, values in (("kernel size", [kx, ky]), ("stride", stride), ("padding", padding),
                         ("dilation", dilation), ("groups", [groups])):
        if max(values) > INT8_MAX:
            raise NetFormatError(f"{what}: {name} {values} beyond {INT8_MAX} (Lava's Conv holds "
                                 "it in an int8 Var)")
    out = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                for n, p, d, k, s in zip((x, y), padding, dilation, (kx, ky), stride))
    if min(out) < 1:
        raise NetFormatError(f"{what}: the kernel reaches beyond the padded input {x, y}")
    return (x, y, c), (out[0], out[1], c_out)


def load_net(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and check NET.npz; returns (spec, arrays)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if "spec" not in arrays:
        raise NetFormatError("no 'spec' entry (the JSON description)")
    spec = json.loads(str(arrays.pop("spec")))
    if spec.get("format") != FORMAT or spec.get("version") != VERSION:
        raise NetFormatError(f"expected format {FORMAT!r} version {VERSION}, got "
                             f"{spec.get('format')!r} version {spec.get('version')!r}")
    steps = _scalar_int(spec.get("steps"), "steps")
    if steps < 1:
        raise NetFormatError(f"steps must be >= 1, got {steps}")
    sizes: dict[str, int] = {}
    if INPUT in arrays:
        inp = arrays[INPUT]
        if inp.ndim != 2 or inp.shape[1] < 1 or inp.dtype.kind not in "iub":
            raise NetFormatError(f"'input' must be an integer array (N_in, T_data), "
                                 f"got {inp.dtype} {inp.shape}")
        sizes[INPUT] = inp.shape[0]
    for pop in spec.get("populations", []):
        name = pop.get("name")
        if not isinstance(name, str) or not name or name == INPUT or name in sizes:
            raise NetFormatError(f"bad or duplicate population name {name!r}")
        sizes[name] = _scalar_int(pop.get("n"), f"population '{name}': n")
        if sizes[name] < 1:
            raise NetFormatError(f"population '{name}': n must be >= 1")
        for key in ("du", "dv", "vth"):
            _scalar_int(pop.get(key), f"population '{name}': {key}")
    for i, conn in enumerate(spec.get("connections", [])):
        src, dst = conn.get("source"), conn.get("target")
        if src not in sizes:
            raise NetFormatError(f"connection {i}: unknown source {src!r}")
        if dst not in sizes or dst == INPUT:
            raise NetFormatError(f"connection {i}: unknown target population {dst!r}")
        shape = (sizes[dst], sizes[src])
        if conn.get("type", "synapses") not in ("synapses", "conv"):
            raise NetFormatError(f"connection {i}: type must be 'synapses' or 'conv', got "
                                 f"{conn.get('type')!r}")
        if conn.get("type") == "conv":
            _check_conv(conn, i, arrays, sizes)
            continue
        if conn.get("sparse", False):
            for part in ("data", "indices", "indptr"):
                if f"conn.{i}.{part}" not in arrays:
                    raise NetFormatError(f"connection {i}: sparse, but 'conn.{i}.{part}' is missing")
            data, indices = arrays[f"conn.{i}.data"], arrays[f"conn.{i}.indices"]
            indptr = arrays[f"conn.{i}.indptr"]
            if (indptr.shape != (shape[0] + 1,) or data.shape != indices.shape
                    or data.ndim != 1 or indptr[-1] != len(data) or (np.diff(indptr) < 0).any()
                    or (len(indices) and (indices.min() < 0 or indices.max() >= shape[1]))):
                raise NetFormatError(f"connection {i} ({src} -> {dst}): not a CSR matrix of "
                                     f"shape {shape}")
        else:
            w = arrays.get(f"conn.{i}.weights")
            if w is None or w.shape != shape or w.dtype.kind not in "iu":
                raise NetFormatError(f"connection {i} ({src} -> {dst}): 'conn.{i}.weights' must be "
                                     f"an integer array of shape {shape}, got "
                                     f"{None if w is None else (w.dtype, w.shape)}")
        if conn.get("sign_mode") not in (None,) + SIGN_MODES:
            raise NetFormatError(f"connection {i}: sign_mode must be null or one of "
                                 f"{SIGN_MODES}, got {conn.get('sign_mode')!r}")
        for key, default in (("weight_exp", 0), ("num_weight_bits", 8), ("num_message_bits", 0)):
            _scalar_int(conn.get(key, default), f"connection {i}: {key}")
        if conn.get("delays", False):
            d = arrays.get(f"conn.{i}.delays")
            want = arrays[f"conn.{i}.data"].shape if conn.get("sparse", False) else shape
            if d is None or d.shape != want or d.dtype.kind not in "iu":
                raise NetFormatError(f"connection {i} ({src} -> {dst}): 'conn.{i}.delays' must be "
                                     f"an integer array of shape {want}")
            if d.size and (d.min() < 0 or d.max() > 63):
                raise NetFormatError(f"connection {i} ({src} -> {dst}): delays must be in 0..63 "
                                     f"(Loihi 2 has 6 delay bits), got {d.min()}..{d.max()}")
    if spec.get("probe_with", "recorder") not in ("recorder", "monitor"):
        raise NetFormatError(f"probe_with must be 'recorder' or 'monitor', "
                             f"got {spec.get('probe_with')!r}")
    for name, what in spec.get("monitor", {}).items():
        if name not in sizes or name == INPUT:
            raise NetFormatError(f"monitor: unknown population {name!r}")
        bad = [w for w in what if w not in PROBES]
        if bad:
            raise NetFormatError(f"monitor '{name}': unknown probe(s) {bad}; use {PROBES}")
    return spec, arrays


def _check_conv(conn: dict, i: int, arrays: dict[str, np.ndarray], sizes: dict[str, int]) -> None:
    src, dst = conn["source"], conn["target"]
    what = f"connection {i} ({src} -> {dst})"
    w = arrays.get(f"conn.{i}.weight")
    if w is None or w.dtype.kind not in "iu":
        raise NetFormatError(f"{what}: 'conn.{i}.weight' must be an integer array")
    (x, y, c), (xo, yo, co) = conv_shapes(conn, w.shape, what)
    n_src = sizes[src]
    if "source_rows" in conn:
        if src != INPUT:
            raise NetFormatError(f"{what}: source_rows takes rows of 'input' only")
        a, b = _int_list(conn["source_rows"], 2, f"{what}: source_rows", 0)
        if not a < b <= sizes[src]:
            raise NetFormatError(f"{what}: source_rows {[a, b]} outside 0..{sizes[src]}")
        n_src = b - a
    if n_src != x * y * c or sizes[dst] != xo * yo * co:
        raise NetFormatError(f"{what}: a conv from {(x, y, c)} to {(xo, yo, co)} needs "
                             f"{x * y * c} sources and {xo * yo * co} targets, got {n_src} and "
                             f"{sizes[dst]}")
    delay = _scalar_int(conn.get("delay", 0), f"{what}: delay")
    if not 0 <= delay <= MAX_DELAY:
        raise NetFormatError(f"{what}: delay must be in 0..{MAX_DELAY}, got {delay}")
    _scalar_int(conn.get("num_message_bits", 0), f"{what}: num_message_bits")


def _source_node(conn: dict) -> str:
    """The process a connection reads: a population, the input, or a slice of the input
    (a RingBuffer of its own)."""
    rows = conn.get("source_rows")
    return f"{INPUT}[{rows[0]}:{rows[1]}]" if rows else conn["source"]


def _components(spec: dict, monitored: list[str]) -> list[set[str]]:
    """Connected components (input and populations) that contain a monitored population."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for conn in spec.get("connections", []):
        parent[find(_source_node(conn))] = find(conn["target"])
    groups: dict[str, set[str]] = {}
    for name in list(parent) + monitored:
        groups.setdefault(find(name), set()).add(name)
    seen, result = set(), []
    for name in monitored:
        root = find(name)
        if root not in seen:
            seen.add(root)
            result.append(groups[root])
    return result


def _make_recorder(targets: list, steps: int, path: Path):
    """One Lava process that records every target and saves them to ``path``.

    lava's Monitor needs one process per probe (each an OS process that
    synchronises every step) and reads its data back one value at a time
    (``PyLoihiProcessModel._get_var``, ~27 us per value: 80 s for u, v and
    spikes of 1000 neurons over 1000 steps). This recorder reads exactly as
    Monitor does (OutPorts received in the spike phase, Vars read through
    RefPorts in the post-management phase, i.e. after spike and reset) but
    writes its whole recording to an npz file after the last step.

    Its Process and ProcessModel classes are made per call (the ports depend
    on the targets) and bound as globals of this module, because lava looks
    up a Process's models among the classes of the module that defines it.
    (Lava then also executes the other modules of this folder while it
    searches; they must stay importable, or harmlessly fail, in the Lava venv.)
    """
    from lava.magma.core.decorator import implements, requires
    from lava.magma.core.model.py.model import PyLoihiProcessModel
    from lava.magma.core.model.py.ports import PyInPort, PyRefPort
    from lava.magma.core.model.py.type import LavaPyType
    from lava.magma.core.process.ports.ports import InPort, OutPort, RefPort
    from lava.magma.core.process.process import AbstractProcess
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

    kinds = ["port" if isinstance(t, OutPort) else "var" for t in targets]
    shapes = [tuple(t.shape) for t in targets]

    def proc_init(self):
        AbstractProcess.__init__(self, steps=steps, path=str(path), kinds=kinds)
        for i, kind in enumerate(kinds):
            setattr(self, f"rec_{i}", (InPort if kind == "port" else RefPort)(shape=shapes[i]))

    n = next(_RECORDER_IDS)
    proc_cls = type(f"NeuroccRecorder{n}", (AbstractProcess,),
                    {"__module__": __name__, "__init__": proc_init})

    def model_init(self, proc_params):
        PyLoihiProcessModel.__init__(self, proc_params)
        self.recording = [[] for _ in proc_params["kinds"]]

    def run_spk(self):
        for i, kind in enumerate(self.proc_params["kinds"]):
            if kind == "port":
                self.recording[i].append(np.array(getattr(self, f"rec_{i}").recv()))

    def run_post_mgmt(self):
        for i, kind in enumerate(self.proc_params["kinds"]):
            if kind == "var":
                self.recording[i].append(np.array(getattr(self, f"rec_{i}").read()))
        if self.time_step == self.proc_params["steps"]:
            final = Path(self.proc_params["path"])
            tmp = final.with_name(final.name + ".tmp.npz")
            np.savez(tmp, **{f"r{i}": np.array(r) for i, r in enumerate(self.recording)})
            tmp.replace(final)

    attrs = {f"rec_{i}": LavaPyType(PyInPort.VEC_DENSE if kind == "port" else PyRefPort.VEC_DENSE,
                                    np.int32)
             for i, kind in enumerate(kinds)}
    attrs.update({"__module__": __name__, "__init__": model_init, "run_spk": run_spk,
                  "post_guard": lambda self: True, "run_post_mgmt": run_post_mgmt})
    model_cls = type(f"PyNeuroccRecorder{n}Model", (PyLoihiProcessModel,), attrs)
    model_cls = implements(proc=proc_cls, protocol=LoihiProtocol)(requires(CPU)(model_cls))
    globals()[proc_cls.__name__] = proc_cls
    globals()[model_cls.__name__] = model_cls

    recorder = proc_cls()
    for i, target in enumerate(targets):
        if kinds[i] == "port":
            target.connect(getattr(recorder, f"rec_{i}"))
        else:
            getattr(recorder, f"rec_{i}").connect_var(target)
    return recorder


def _read_recording(path: Path, count: int, timeout: float = 60.0) -> list[np.ndarray]:
    # The recorder writes at its last post-management phase, which the
    # blocking run() has waited for; the wait only guards against a slow disk.
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the recorder did not write {path}")
        time.sleep(0.01)
    with np.load(path, allow_pickle=False) as npz:
        values = [npz[f"r{i}"] for i in range(count)]
    path.unlink()
    return values


def _build_conv(conn: dict, i: int, arrays: dict[str, np.ndarray], procs: dict) -> None:
    """Lava's Conv between two flat, channel-major populations (see the format above)."""
    from scipy import sparse as sp  # (imported, and timed, by run_net already)

    from lava.proc.conv.process import Conv
    from lava.proc.io.source import RingBuffer
    from lava.proc.sparse.process import DelaySparse, Sparse
    from lava.utils.weightutils import SignMode

    weight = arrays[f"conn.{i}.weight"].astype(np.int32)
    (x, y, c), (xo, yo, co) = conv_shapes(conn, weight.shape, f"connection {i}")
    conv = Conv(weight=weight, input_shape=(x, y, c), stride=tuple(conn.get("stride", [1, 1])),
                padding=tuple(conn.get("padding", [0, 0])),
                dilation=tuple(conn.get("dilation", [1, 1])), groups=int(conn.get("groups", 1)),
                num_message_bits=int(conn.get("num_message_bits", 0)), name=f"neurocc_conn_{i}")
    node = _source_node(conn)
    if node not in procs:    # a slice of the input: its own RingBuffer (ports cannot be sliced)
        a, b = conn["source_rows"]
        procs[node] = RingBuffer(data=np.asarray(arrays[INPUT][a:b], dtype=np.int32))
    procs[node].s_out.reshape((c, y, x)).transpose((2, 1, 0)).connect(conv.s_in)
    n_out = xo * yo * co
    out = conv.a_out.transpose((2, 1, 0)).reshape((n_out,))
    delay = int(conn.get("delay", 0))
    if delay:
        # Lava has no delayed Conv: an identity (Delay)Sparse passes the sums on as graded
        # messages (exact: they are 24-bit) and adds 1 + (delay - 1) steps.
        eye = sp.identity(n_out, dtype=np.int32, format="csr")
        kwargs = dict(weights=eye, num_message_bits=24, sign_mode=SignMode.EXCITATORY,
                      name=f"neurocc_conn_{i}_delay")
        line = (Sparse(**kwargs) if delay == 1
                else DelaySparse(delays=(eye * (delay - 1)).astype(int), **kwargs))
        out.connect(line.s_in)
        out = line.a_out
    out.connect(procs[conn["target"]].a_in)


def run_net(spec: dict, arrays: dict[str, np.ndarray], out_dir: str | Path = ".") -> dict[str, np.ndarray]:
    """Build the Lava process graph, run it, and return OUT.npz's entries.

    ``out_dir``: where the recorder may write its temporary files.
    """
    t0 = time.perf_counter()
    from scipy import sparse as sp

    import lava311_shim  # noqa: F401  (before any lava import; the venv's .pth does it too)
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.conv.process import Conv  # noqa: F401  (for _build_conv; timed here)
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor  # only for "probe_with": "monitor"
    from lava.proc.sparse.process import DelaySparse, Sparse
    from lava.utils.weightutils import SignMode
    t_import = time.perf_counter() - t0

    t0 = time.perf_counter()
    steps = int(spec["steps"])
    procs: dict[str, object] = {}
    if INPUT in arrays:
        procs[INPUT] = RingBuffer(data=np.asarray(arrays[INPUT], dtype=np.int32))
    for pop in spec.get("populations", []):
        name, n = pop["name"], int(pop["n"])
        pre = f"pop.{name}."
        procs[name] = LIF(
            shape=(n,),
            u=_per_neuron(arrays, pre + "u", n, 0, np.int32),
            v=_per_neuron(arrays, pre + "v", n, 0, np.int32),
            # Python ints: Lava's fixed-point LIF uses these scalars as given.
            du=int(pop["du"]), dv=int(pop["dv"]), vth=int(pop["vth"]),
            bias_mant=_per_neuron(arrays, pre + "bias_mant", n, 0, np.int32),
            bias_exp=_per_neuron(arrays, pre + "bias_exp", n, 0, np.int32),
            name=f"neurocc_pop_{name}",
        )
    modes = {"mixed": SignMode.MIXED, "excitatory": SignMode.EXCITATORY,
             "inhibitory": SignMode.INHIBITORY}
    for i, conn in enumerate(spec.get("connections", [])):
        if conn.get("type") == "conv":
            _build_conv(conn, i, arrays, procs)
            continue
        src, dst = procs[conn["source"]], procs[conn["target"]]
        kwargs = dict(weight_exp=int(conn.get("weight_exp", 0)),
                      num_weight_bits=int(conn.get("num_weight_bits", 8)),
                      num_message_bits=int(conn.get("num_message_bits", 0)),
                      name=f"neurocc_conn_{i}")
        if conn.get("sign_mode") is not None:
            kwargs["sign_mode"] = modes[conn["sign_mode"]]
        delayed = bool(conn.get("delays", False))
        if conn.get("sparse", False):
            shape = (int(dst.a_in.shape[0]), int(src.s_out.shape[0]))
            pattern = (arrays[f"conn.{i}.indices"].astype(np.int32),
                       arrays[f"conn.{i}.indptr"].astype(np.int32))
            w = sp.csr_matrix((arrays[f"conn.{i}.data"].astype(np.int32), *pattern), shape=shape)
            if delayed:
                # Lava checks `delays.dtype == int`; a delay 0 may be stored or not.
                d = sp.csr_matrix((arrays[f"conn.{i}.delays"].astype(int), *pattern), shape=shape)
                syn = DelaySparse(weights=w, delays=d, **kwargs)
            else:
                syn = Sparse(weights=w, **kwargs)
        else:
            w = arrays[f"conn.{i}.weights"].astype(np.int32)
            if delayed:
                syn = DelayDense(weights=w, delays=arrays[f"conn.{i}.delays"].astype(int), **kwargs)
            else:
                syn = Dense(weights=w, **kwargs)
        src.s_out.connect(syn.s_in)
        syn.a_out.connect(dst.a_in)

    probes = [(name, probe) for name, what in spec.get("monitor", {}).items()
              for probe in PROBES if probe in what]
    t_build = time.perf_counter() - t0

    # Lava compiles only the processes connected to the one `run` is called
    # on, so each connected component that holds a probe runs on its own
    # (components do not interact; the result is the same as one run).
    # Unprobed components are not run at all, unless nothing is probed: then
    # every component runs (useful for timing).
    use_monitor = spec.get("probe_with", "recorder") == "monitor"
    out: dict[str, np.ndarray] = {}
    t_run = t_readback = t_stop = 0.0
    watched = [name for name, _ in probes] or [p["name"] for p in spec.get("populations", [])]
    for k, component in enumerate(_components(spec, watched)):
        t0 = time.perf_counter()
        mine = [(name, probe) for name, probe in probes if name in component]
        targets = [procs[name].s_out if probe == "spikes" else getattr(procs[name], probe)
                   for name, probe in mine]
        if use_monitor:
            readers = []
            for target in targets:
                mon = Monitor()
                mon.probe(target, steps)
                readers.append(mon)
        elif mine:
            rec_path = Path(out_dir) / f".neurocc-rec-{os.getpid()}-{k}.npz"
            readers = [_make_recorder(targets, steps, rec_path)]
        else:
            readers = []
        root = readers[0] if readers else procs[sorted(component & set(watched))[0]]
        t_build += time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            root.run(condition=RunSteps(num_steps=steps),
                     run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            t_run += time.perf_counter() - t0
            t0 = time.perf_counter()
            if use_monitor:
                values = [mon.get_data()[f"neurocc_pop_{name}"]
                          ["s_out" if probe == "spikes" else probe]
                          for (name, probe), mon in zip(mine, readers)]
            elif mine:
                values = _read_recording(rec_path, len(mine))
            else:
                values = []
            for (name, probe), vals in zip(mine, values):
                vals = np.asarray(vals).reshape(steps, -1)
                ints = np.rint(vals)
                if not np.array_equal(ints, vals):  # Monitor's float64 holds 24-bit ints exactly
                    raise RuntimeError(f"probe of {name}.{probe} returned non-integer values")
                out[f"{probe}.{name}"] = ints.astype(np.int8 if probe == "spikes" else np.int32)
            t_readback += time.perf_counter() - t0
        finally:
            t0 = time.perf_counter()
            root.stop()
            t_stop += time.perf_counter() - t0
    out.update({"time.import": np.float64(t_import), "time.build": np.float64(t_build),
                "time.run": np.float64(t_run), "time.readback": np.float64(t_readback),
                "time.stop": np.float64(t_stop)})
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} NET.npz OUT.npz", file=sys.stderr)
        return 2
    try:
        spec, arrays = load_net(argv[1])
    except (NetFormatError, ValueError, KeyError, OSError) as err:
        print(f"runner.py: {argv[1]}: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    out = run_net(spec, arrays, out_dir=Path(argv[2]).resolve().parent)
    tmp = Path(argv[2]).with_name(Path(argv[2]).name + ".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(argv[2])
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # lava311_shim next to this file
    sys.exit(main(sys.argv))
