"""Timing an emulator run the way every bench reports it: the first call (trace and
compile included) apart from the repeats that follow."""

from __future__ import annotations

import time
from typing import Any


def time_runs(emu: Any, x: Any, repeats: int) -> tuple[float, list[float], Any]:
    """(first call's seconds, each repeat's seconds, the first call's result)."""
    t0 = time.perf_counter()
    result = emu.run(x)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        emu.run(x)
        times.append(time.perf_counter() - t0)
    return first, times, result
