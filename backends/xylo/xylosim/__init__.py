"""Bridge to SynSense's xylosim 0.1.3, the bit-accurate Xylo simulator (and rockpool 3.1.0).

xylosim has no license (all rights reserved) and rockpool is AGPL-3.0, so both
are installed tools in their own virtualenv (``.venv-xylo``, built by ``make
xylo``, i.e. ``build_venv.sh``) and are never imported here. ``run_xylosim``
writes a configuration and an input raster to a temporary ``IN.npz``, runs
``runner.py`` with the Xylo venv's interpreter in a subprocess, and reads the
recorded states back from ``OUT.npz``. The file format is documented at the top
of ``runner.py``; the arithmetic in shared/docs/xylo-arithmetic.md.

A configuration, as ``run_xylosim`` takes it (rockpool's
``config_from_specification`` argument names, which neurocc's Xylo artifact
uses too)::

    spec = {
        "weights_in":  int (Nin, Nhid, 2),   # [..., s]: synaptic state s (IMU: s = 1 all zero)
        "weights_rec": int (Nhid, Nhid, 2),
        "weights_out": int (Nhid, Nout),
        "dash_mem", "dash_syn", "dash_syn_2", "threshold", "bias": int (Nhid,),
        "dash_mem_out", "dash_syn_out", "threshold_out", "bias_out": int (Nout,),
        "weight_shift_in", "weight_shift_rec", "weight_shift_out": int (0-d),
        "aliases": int (Nhid,),             # alias target of each hidden neuron, -1 for none
    }

Other keys of ``spec`` are not read. This module imports only the standard
library, numpy and ``neurocc.ir``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from neurocc.backends.vendor_venv import VendorVenv
from neurocc.ir import NeuroccError

__all__ = ["XylosimUnavailableError", "XylosimRunError", "xylo_python", "xylosim_available",
           "run_xylosim", "SPEC_FIELDS", "STATE_KEYS", "CHIPS", "VIAS", "RUNNER", "XYLO_VENV",
           "STAMP_NAME", "ENV_VAR"]

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "runner.py"
BUILD_SCRIPT = HERE / "build_venv.sh"
XYLO_VENV = ".venv-xylo"
STAMP_NAME = ".neurocc-xylo-ok"
ENV_VAR = "NEUROCC_XYLO_PYTHON"
CHIPS = ("xylo_audio2", "xylo_imu", "xylo_audio3")
VIAS = ("layer", "rockpool")
SPEC_FIELDS = ("weights_in", "weights_rec", "weights_out",
               "dash_mem", "dash_syn", "dash_syn_2", "threshold", "bias",
               "dash_mem_out", "dash_syn_out", "threshold_out", "bias_out",
               "weight_shift_in", "weight_shift_rec", "weight_shift_out", "aliases")
STATE_KEYS = ("spikes", "isyn", "isyn2", "vmem", "spikes_out", "isyn_out", "vmem_out")


class XylosimUnavailableError(NeuroccError):
    """The Xylo virtualenv (xylosim + rockpool) is missing or not finished."""


class XylosimRunError(NeuroccError):
    """xylosim (the runner subprocess) failed on, or refused, a configuration."""


#: the venv, its stamp and its make target (``backends.vendor_venv``)
VENV = VendorVenv("Xylo", XYLO_VENV, STAMP_NAME, ENV_VAR, "xylo", "xylosim 0.1.3 and rockpool 3.1.0",
                  BUILD_SCRIPT, XylosimUnavailableError, "about a minute: it compiles xylosim")


def _candidates() -> list[Path]:
    return VENV.candidates(HERE)


def xylo_python() -> Path:
    """The Xylo venv's interpreter.

    ``$NEUROCC_XYLO_PYTHON`` wins when set. Otherwise the first ``.venv-xylo``
    found in the current directory or a parent of it, then in this package's
    folder or a parent of it (the repository root, in a checkout), that holds
    ``bin/python`` and the stamp ``build_venv.sh`` writes when done.
    """
    return VENV.python(_candidates())


def xylosim_available() -> bool:
    """Whether a finished Xylo venv can be found (does not start it)."""
    return VENV.available(_candidates())


def run_xylosim(spec: Mapping[str, np.ndarray], raster: np.ndarray, chip: str = "xylo_audio2",
                via: str = "layer", timeout: float = 600) -> dict[str, np.ndarray]:
    """Run the Xylo configuration ``spec`` on xylosim, once per batch sample.

    ``raster``: input event counts (T, B, Nin), 0..255 per step and channel.
    ``chip``: "xylo_audio2", "xylo_imu" or "xylo_audio3". ``via``: "layer"
    (``xylosim.v2.XyloLayer`` built by the runner) or "rockpool" (rockpool's
    ``XyloSim.from_specification`` for the chip; slower, for cross-checks).
    Each sample starts from a zero state.

    Returns int32 arrays, row t = state after step t: ``spikes``, ``isyn``,
    ``isyn2`` (zeros on IMU), ``vmem`` (T, B, Nhid); ``spikes_out``,
    ``isyn_out``, ``vmem_out`` (T, B, Nout).

    Raises XylosimUnavailableError without the venv (run ``make xylo``) and
    XylosimRunError when the runner refuses the input (e.g. a weight outside
    int8, a size the chip does not have) or fails; its message ends with the
    runner's stderr.
    """
    if chip not in CHIPS:
        raise ValueError(f"chip must be one of {CHIPS}, got {chip!r}")
    if via not in VIAS:
        raise ValueError(f"via must be one of {VIAS}, got {via!r}")
    if "aliases" not in spec:   # neurocc's artifacts carry none (Rockpool wants lists)
        spec = dict(spec, aliases=np.full(np.shape(spec["threshold"]), -1, np.int64))
    optional = ("dash_syn_2",) if chip == "xylo_imu" else ()
    missing = [k for k in SPEC_FIELDS if k not in spec and k not in optional]
    if missing:
        raise ValueError(f"spec lacks {', '.join(missing)}")
    interpreter = xylo_python()
    arrays = {k: np.asarray(spec[k]) for k in SPEC_FIELDS if k in spec}
    arrays.update(raster=np.asarray(raster), chip=np.array(chip), via=np.array(via))
    for name, arr in arrays.items():
        if arr.dtype.kind not in "biuf" and name not in ("chip", "via"):
            raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    with tempfile.TemporaryDirectory(prefix="neurocc-xylo-") as tmp:
        in_path, out_path = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(in_path, **arrays)
        proc = VENV.run(interpreter, [str(RUNNER), str(in_path), str(out_path)], timeout,
                        XylosimRunError, f"xylosim did not finish within {timeout} s "
                        f"({interpreter} {RUNNER})")
        if proc.returncode != 0 or not out_path.exists():
            tail = (proc.stderr or "").strip()[-4000:]
            if proc.returncode < 0:
                what = f"killed by signal {-proc.returncode}"
            elif proc.returncode == 2:
                what = "refused the input"
            else:
                what = f"failed (exit status {proc.returncode})"
            raise XylosimRunError(f"xylosim runner {what} ({interpreter} {RUNNER}): {tail}")
        with np.load(out_path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
