"""Run a Xylo configuration on SynSense's bit-accurate simulator xylosim (module ``xylosim.v2``).

Run with the Xylo venv's interpreter (never imported by neurocc's main
environment, which has neither xylosim nor rockpool)::

    .venv-xylo/bin/python backends/xylo/xylosim/runner.py IN.npz OUT.npz

Imports only the standard library, numpy and xylosim; for ``via="rockpool"``
also rockpool 3.1.0, after putting the ``samna`` stand-in ``samna_stub.py``
(next to this file) on ``sys.meta_path``. xylosim has no license and rockpool is
AGPL-3.0: both are driven as installed tools, none of their code is copied here.
The arithmetic they implement is described in shared/docs/xylo-arithmetic.md.

Exit status 0 on success; 2 for a malformed IN.npz (one line on stderr,
starting ``runner.py:``); 1 for anything else (traceback on stderr).

IN.npz (loaded with allow_pickle=False)
---------------------------------------
The configuration, named as rockpool's ``config_from_specification`` names its
arguments (neurocc's Xylo artifact uses the same names). Integer arrays (floats
holding whole numbers are accepted)::

    weights_in    (Nin, Nhid, 2)   int8 values; [..., s] feeds synaptic state s of the hidden neuron
    weights_rec   (Nhid, Nhid, 2)  int8 values; [pre, post, s]
    weights_out   (Nhid, Nout)     int8 values; [pre (hidden), post (readout)]
    dash_mem, dash_syn, dash_syn_2, threshold, bias                  (Nhid,)
    dash_mem_out, dash_syn_out, threshold_out, bias_out             (Nout,)
    weight_shift_in, weight_shift_rec, weight_shift_out             0-d
    aliases       (Nhid,)          alias target of each hidden neuron, or -1 for none
    chip          0-d str          "xylo_audio2" | "xylo_imu" | "xylo_audio3"
    via           0-d str          "layer" (xylosim.v2.XyloLayer built here) or
                                   "rockpool" (rockpool's XyloSim.from_specification)
    raster        (T, B, Nin)      input event counts per step and channel, 0..255

Checked before anything runs (else exit status 2):

* the shapes above agree; values fit the simulator's C++ types: weights int8,
  thresholds and biases int16, dashes uint8 (0..255; the chip has 4 bits, the
  simulator takes any uint8), weight shifts int8, raster uint8;
* the chip's sizes (doc section 2): at most 16 inputs, 1000 / 496 / 992
  hidden and 8 / 16 / 32 readout neurons (Audio 2 / IMU / Audio 3); on IMU and
  Audio 3, input weights only into the first 128 hidden neurons and readout
  weights only from the last 128; on IMU (one synaptic state) synapse index 1 of
  ``weights_in`` and ``weights_rec`` all zero (``dash_syn_2`` is then not read
  and may be left out).

Each batch sample b runs from a zero state on ``raster[:, b]``.

OUT.npz
-------
All int32, row t = the state after step t (t = 0..T-1), for every sample::

    spikes      (T, B, Nhid)   hidden spike counts (0..31)
    isyn, isyn2 (T, B, Nhid)   hidden synaptic states (isyn2 all zero on IMU)
    vmem        (T, B, Nhid)
    spikes_out  (T, B, Nout)   readout spikes (0..1)
    isyn_out, vmem_out  (T, B, Nout)

How the two paths build the simulation:

* ``layer``: one ``XyloLayer`` with a ``XyloSynapse`` per non-zero weight
  (input and recurrent synapses of each presynaptic index in (post, synapse)
  order), ``aliases[k] = [target]`` or ``[]``, ``dash_syns[k] = [dash_syn,
  dash_syn_2]`` (Audio 2, Audio 3) or ``[dash_syn]`` (IMU), ``has_bias`` = any
  hidden or readout bias non-zero (rockpool's rule). The synapse lists stay
  referenced for the layer's lifetime (the layer keeps raw pointers to them:
  freeing them makes ``evolve`` segfault, doc trap 1).
* ``rockpool``: ``syns61201.XyloSim`` (Audio 2) or ``syns63300.XyloSim`` (IMU;
  ``syns65302.XyloSim`` for Audio 3 is the same class) ``.from_specification``,
  then ``sim(raster[:, b], record=True)``. All three take ``weights_in``
  (Nin, Nhid[, 1 or 2]), ``weights_rec`` (Nhid, Nhid[, 1 or 2]), ``weights_out``
  (OEN, Nout) wired to the *last* OEN hidden neurons, and ``aliases`` as a list of
  target lists. Audio 2 and Audio 3 get the (…, 2) weights and ``dash_syn_2``.
  IMU gets the 2-d synapse-0 weights and no ``dash_syn_2`` (rockpool still gives
  its layer a second, never-driven synaptic state with dash 0). The IMU/Audio 3
  class records no ``Isyn2``: on Audio 3 it is read from the layer rockpool built
  (``sim._xylo_layer.rec_i_syn2``).
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np

CHIPS = {  # inputs, hidden, readout, synaptic states per hidden neuron, IEN/OEN window
    "xylo_audio2": dict(n_in=16, n_hid=1000, n_out=8, n_syn=2, window=None),
    "xylo_imu": dict(n_in=16, n_hid=496, n_out=16, n_syn=1, window=128),
    "xylo_audio3": dict(n_in=16, n_hid=992, n_out=32, n_syn=2, window=128),
}
VIAS = ("layer", "rockpool")
ROCKPOOL_MODULES = {"xylo_audio2": "rockpool.devices.xylo.syns61201",
                    "xylo_imu": "rockpool.devices.xylo.syns63300",
                    "xylo_audio3": "rockpool.devices.xylo.syns65302"}

INT8, UINT8, INT16 = (-128, 127), (0, 255), (-32768, 32767)
HIDDEN_FIELDS = {"dash_mem": UINT8, "dash_syn": UINT8, "dash_syn_2": UINT8,
                 "threshold": INT16, "bias": INT16}
OUT_FIELDS = {"dash_mem_out": UINT8, "dash_syn_out": UINT8, "threshold_out": INT16,
              "bias_out": INT16}
SHIFT_FIELDS = ("weight_shift_in", "weight_shift_rec", "weight_shift_out")
STATE_KEYS = ("spikes", "isyn", "isyn2", "vmem", "spikes_out", "isyn_out", "vmem_out")


class SpecError(ValueError):
    """IN.npz does not describe a configuration the runner can run."""


# --------------------------------------------------------------------------
# Reading and checking IN.npz
# --------------------------------------------------------------------------

def _ints(arrays, name: str, shape: tuple, bounds: tuple[int, int]) -> np.ndarray:
    if name not in arrays:
        raise SpecError(f"missing array '{name}'")
    arr = arrays[name]
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.trunc(arr)):
            raise SpecError(f"'{name}' must hold integers, got non-integer floats")
    elif arr.dtype.kind not in "iub":
        raise SpecError(f"'{name}' must hold integers, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise SpecError(f"'{name}' must have shape {shape}, got {arr.shape}")
    arr = arr.astype(np.int64)
    lo, hi = bounds
    if arr.size and (arr.min() < lo or arr.max() > hi):
        bad = arr[(arr < lo) | (arr > hi)].flat[0]
        raise SpecError(f"'{name}' has value {bad} outside {lo}..{hi}")
    return arr


def _string(arrays, name: str, allowed) -> str:
    if name not in arrays:
        raise SpecError(f"missing '{name}' (one of {', '.join(allowed)})")
    arr = arrays[name]
    if arr.shape != () or arr.dtype.kind != "U":
        raise SpecError(f"'{name}' must be a 0-d string, got dtype {arr.dtype} shape {arr.shape}")
    value = str(arr[()])
    if value not in allowed:
        raise SpecError(f"'{name}' is {value!r}; use one of {', '.join(allowed)}")
    return value


def load_spec(path: str) -> dict:
    """Read and check IN.npz; returns the configuration as int64 arrays plus chip, via."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, EOFError, zipfile.BadZipFile) as err:  # not an npz, or pickled data
        raise SpecError(f"cannot read as npz without pickle: {type(err).__name__}: {err}") from None
    chip = _string(arrays, "chip", tuple(CHIPS))
    via = _string(arrays, "via", VIAS)
    limits = CHIPS[chip]

    w_in = arrays.get("weights_in")
    w_out = arrays.get("weights_out")
    for name, arr, ndim in (("weights_in", w_in, 3), ("weights_out", w_out, 2)):
        if arr is None:
            raise SpecError(f"missing array '{name}'")
        if arr.ndim != ndim:
            raise SpecError(f"'{name}' must have {ndim} dimensions, got shape {arr.shape}")
    n_in, n_hid, n_out = w_in.shape[0], w_in.shape[1], w_out.shape[1]
    spec = {"chip": chip, "via": via}
    spec["weights_in"] = _ints(arrays, "weights_in", (n_in, n_hid, 2), INT8)
    spec["weights_rec"] = _ints(arrays, "weights_rec", (n_hid, n_hid, 2), INT8)
    spec["weights_out"] = _ints(arrays, "weights_out", (n_hid, n_out), INT8)
    one_syn = limits["n_syn"] == 1
    for name, bounds in HIDDEN_FIELDS.items():
        if name == "dash_syn_2" and one_syn and name not in arrays:
            spec[name] = np.zeros(n_hid, np.int64)
            continue
        spec[name] = _ints(arrays, name, (n_hid,), bounds)
    for name, bounds in OUT_FIELDS.items():
        spec[name] = _ints(arrays, name, (n_out,), bounds)
    for name in SHIFT_FIELDS:
        spec[name] = int(_ints(arrays, name, (), INT8))
    spec["aliases"] = _ints(arrays, "aliases", (n_hid,), (-1, max(n_hid - 1, -1)))
    raster = arrays.get("raster")
    if raster is None or raster.ndim != 3:
        raise SpecError("'raster' must have shape (T, B, Nin), got "
                        f"{'nothing' if raster is None else raster.shape}")
    spec["raster"] = _ints(arrays, "raster", raster.shape[:2] + (n_in,), UINT8)

    # The chip's resources (shared/docs/xylo-arithmetic.md, section 2).
    for what, n, most in (("input channels", n_in, limits["n_in"]),
                          ("hidden neurons", n_hid, limits["n_hid"]),
                          ("readout neurons", n_out, limits["n_out"])):
        if n > most:
            raise SpecError(f"{n} {what}: {chip} has at most {most}")
    if n_hid == 0 or n_out == 0:
        raise SpecError(f"need at least one hidden and one readout neuron, got {n_hid} and {n_out}")
    window = limits["window"]
    if window is not None:
        if np.any(spec["weights_in"][:, window:]):
            raise SpecError(f"'weights_in' drives hidden neuron "
                            f"{window + int(np.nonzero(spec['weights_in'][:, window:])[1].min())}: "
                            f"on {chip} inputs reach only the first {window} hidden neurons")
        if np.any(spec["weights_out"][: max(n_hid - window, 0)]):
            raise SpecError(f"'weights_out' reads hidden neuron "
                            f"{int(np.nonzero(spec['weights_out'][: n_hid - window])[0].min())}: "
                            f"on {chip} readouts read only the last {window} hidden neurons")
    if one_syn:
        for name in ("weights_in", "weights_rec"):
            if np.any(spec[name][..., 1]):
                raise SpecError(f"'{name}'[..., 1] is not all zero: {chip} has one synaptic "
                                f"state per hidden neuron")
    return spec


# --------------------------------------------------------------------------
# The two ways to build a simulation
# --------------------------------------------------------------------------

def _synapses(weights: np.ndarray, n_syn: int, XyloSynapse) -> list:
    """One list of XyloSynapse per presynaptic index; weights (pre, post, syn)."""
    lists = []
    for w_pre in weights:
        posts, syns = np.nonzero(w_pre[:, :n_syn])
        lists.append([XyloSynapse(int(p), int(s), int(w_pre[p, s])) for p, s in zip(posts, syns)])
    return lists


class LayerSim:
    """xylosim.v2.XyloLayer built directly (doc sections 2 and 5)."""

    def __init__(self, spec: dict):
        from xylosim.v2 import XyloLayer, XyloSynapse

        n_syn = CHIPS[spec["chip"]]["n_syn"]
        w_out = spec["weights_out"][:, :, None]
        # Kept as attributes: the layer holds raw pointers into these objects (trap 1).
        self.synapses_in = _synapses(spec["weights_in"], n_syn, XyloSynapse)
        self.synapses_rec = _synapses(spec["weights_rec"], n_syn, XyloSynapse)
        self.synapses_out = _synapses(w_out, 1, XyloSynapse)
        ds1, ds2 = spec["dash_syn"].tolist(), spec["dash_syn_2"].tolist()
        dash_syns = [[a, b] for a, b in zip(ds1, ds2)] if n_syn == 2 else [[a] for a in ds1]
        has_bias = bool(np.any(spec["bias"]) or np.any(spec["bias_out"]))
        self.n_syn = n_syn
        self.layer = XyloLayer(
            self.synapses_in, self.synapses_rec, self.synapses_out,
            [[a] if a >= 0 else [] for a in spec["aliases"].tolist()],
            spec["threshold"].tolist(), spec["threshold_out"].tolist(), has_bias,
            spec["bias"].tolist(), spec["bias_out"].tolist(),
            spec["weight_shift_in"], spec["weight_shift_rec"], spec["weight_shift_out"],
            spec["dash_mem"].tolist(), spec["dash_mem_out"].tolist(),
            dash_syns, [[d] for d in spec["dash_syn_out"].tolist()], "neurocc")

    def run(self, raster: np.ndarray) -> dict[str, np.ndarray]:
        L = self.layer
        L.reset_all()
        out_spikes = L.evolve(raster.tolist())
        n_hid = len(self.synapses_rec)
        return {
            "spikes": np.array(L.rec_recurrent_spikes),      # step-major (T, Nhid)
            "isyn": np.array(L.rec_i_syn).T,                 # neuron-major -> (T, Nhid)
            "isyn2": (np.array(L.rec_i_syn2).T if self.n_syn == 2
                      else np.zeros((len(raster), n_hid), np.int64)),
            "vmem": np.array(L.rec_v_mem).T,
            "spikes_out": np.array(out_spikes),
            "isyn_out": np.array(L.rec_i_syn_out).T,
            "vmem_out": np.array(L.rec_v_mem_out).T,
        }


class RockpoolSim:
    """rockpool's XyloSim.from_specification for the chip, run with record=True."""

    def __init__(self, spec: dict):
        import importlib

        import samna_stub  # next to this file: sys.path[0] when run as a script

        samna_stub.install()  # before rockpool: its Xylo packages import samna
        chip = spec["chip"]
        cls = importlib.import_module(ROCKPOOL_MODULES[chip]).XyloSim
        self.two_syn = CHIPS[chip]["n_syn"] == 2
        kwargs = dict(
            weights_out=spec["weights_out"],
            dash_mem=spec["dash_mem"], dash_mem_out=spec["dash_mem_out"],
            dash_syn=spec["dash_syn"], dash_syn_out=spec["dash_syn_out"],
            threshold=spec["threshold"], threshold_out=spec["threshold_out"],
            bias=spec["bias"], bias_out=spec["bias_out"],
            weight_shift_in=spec["weight_shift_in"], weight_shift_rec=spec["weight_shift_rec"],
            weight_shift_out=spec["weight_shift_out"],
            aliases=[[a] if a >= 0 else [] for a in spec["aliases"].tolist()],
        )
        if self.two_syn:
            kwargs.update(weights_in=spec["weights_in"], weights_rec=spec["weights_rec"],
                          dash_syn_2=spec["dash_syn_2"])
        else:  # IMU: synapse 0 only, 2-d
            kwargs.update(weights_in=spec["weights_in"][:, :, 0],
                          weights_rec=spec["weights_rec"][:, :, 0])
        self.sim = cls.from_specification(**kwargs)

    def run(self, raster: np.ndarray) -> dict[str, np.ndarray]:
        self.sim.reset_state()
        out, _, rec = self.sim(raster, record=True)
        if "Isyn2" in rec:  # Audio 2
            isyn2 = rec["Isyn2"]
        elif self.two_syn:  # Audio 3: the IMU class does not record it
            isyn2 = np.array(self.sim._xylo_layer.rec_i_syn2).T
        else:
            isyn2 = np.zeros_like(rec["Isyn"])
        return {"spikes": rec["Spikes"], "isyn": rec["Isyn"], "isyn2": isyn2,
                "vmem": rec["Vmem"], "spikes_out": out, "isyn_out": rec["Isyn_out"],
                "vmem_out": rec["Vmem_out"]}


def run_spec(spec: dict) -> dict[str, np.ndarray]:
    raster = spec["raster"]
    T, B, _ = raster.shape
    n_hid, n_out = spec["weights_out"].shape
    sizes = {k: (n_out if k.endswith("_out") else n_hid) for k in STATE_KEYS}
    out = {k: np.zeros((T, B, n), np.int32) for k, n in sizes.items()}
    if T == 0 or B == 0:
        return out
    sim = LayerSim(spec) if spec["via"] == "layer" else RockpoolSim(spec)
    for b in range(B):
        states = sim.run(raster[:, b])
        for k, n in sizes.items():
            arr = np.asarray(states[k])
            if arr.shape != (T, n):
                raise RuntimeError(f"{spec['via']}: '{k}' came back with shape {arr.shape}, "
                                   f"expected {(T, n)}")
            out[k][:, b] = arr
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} IN.npz OUT.npz", file=sys.stderr)
        return 2
    try:
        spec = load_spec(argv[1])
    except (SpecError, OSError) as err:
        print(f"runner.py: {argv[1]}: {err}", file=sys.stderr)
        return 2
    out = run_spec(spec)
    target = Path(argv[2])
    tmp = target.with_name(target.name + ".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
