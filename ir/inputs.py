"""The one check of time-major input arrays, shared by every simulator and the CLI."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from .errors import SimulationError

Shape = tuple[int, ...]


def check_inputs(expected: Mapping[str, Shape], inputs: np.ndarray | Mapping[str, np.ndarray],
                 where: str = "") -> dict[str, np.ndarray]:
    """Validate inputs ``[T, B, *shape]`` per input name; one array if there is one input.

    Raises SimulationError naming the input, what it got and what it needs
    (`where`, e.g. a file name, prefixes the message).
    """
    prefix = f"{where}: " if where else ""
    names = list(expected)
    if not isinstance(inputs, Mapping):
        if len(names) != 1:
            raise SimulationError(f"{prefix}there are {len(names)} inputs {names}; pass one array "
                                  "per input name (a dict, or an .npz keyed by name)")
        inputs = {names[0]: inputs}
    if sorted(inputs) != sorted(names):
        raise SimulationError(f"{prefix}inputs must be exactly {names}, got {sorted(inputs)}")
    out: dict[str, np.ndarray] = {}
    lead = None
    for name in names:
        arr = np.asarray(inputs[name])
        want = tuple(expected[name])
        if arr.dtype.kind not in "biuf":
            raise SimulationError(f"{prefix}input '{name}' has dtype {arr.dtype}; expected numbers "
                                  "(bool, int or float spikes; any non-zero value is a spike on a chip)")
        if arr.ndim != 2 + len(want) or tuple(arr.shape[2:]) != want:
            raise SimulationError(
                f"{prefix}input '{name}' has shape {list(arr.shape)}; expected time-major "
                f"[T, B, {', '.join(map(str, want))}] (steps, batch, then the input's shape)")
        if arr.shape[0] < 1 or arr.shape[1] < 1:
            raise SimulationError(f"{prefix}input '{name}' has {arr.shape[0]} steps and batch "
                                  f"{arr.shape[1]}; both must be at least 1")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            bad = np.argwhere(~np.isfinite(arr))
            raise SimulationError(
                f"{prefix}input '{name}' has {len(bad)} NaN or infinite value(s) of {arr.size}, "
                f"the first at [step, sample, ...] {bad[0].tolist()}; spikes must be finite "
                "numbers (0: no spike)")
        if lead is not None and arr.shape[:2] != lead:
            raise SimulationError(f"{prefix}inputs disagree on [T, B]: {list(lead)} vs "
                                  f"{list(arr.shape[:2])}")
        lead = arr.shape[:2]
        out[name] = arr
    return out


def resolve_dt(dt: float | None, metadata: Mapping[str, Any], where: str = "") -> float:
    """The time step: `dt` if given, else the graph's metadata, else an error saying to pass --dt."""
    prefix = f"{where}: " if where else ""
    if dt is None:
        dt = metadata.get("dt")
    if dt is None:
        raise SimulationError(
            f"{prefix}no time step: NIR graphs are continuous-time and this one carries no 'dt' in "
            "its metadata; pass the step in seconds, e.g. --dt 1e-4 (dt=... in Python)")
    try:
        dt = float(np.asarray(dt))
    except (TypeError, ValueError):
        raise SimulationError(f"{prefix}dt must be a number of seconds, got {dt!r}; pass --dt") from None
    if not math.isfinite(dt) or dt <= 0:
        raise SimulationError(f"{prefix}dt must be a positive number of seconds, got {dt}; pass --dt")
    return dt
