"""SynSense Xylo Audio 2 (SYNS61201) target: its TargetSpec (xylo_audio2.toml).

Capacities only for now: neurocc cannot quantize for or emulate Xylo yet.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from neurocc.ir.errors import TargetSpecError
from neurocc.ir.target import ChipTarget, load_target

SPEC_PATH = Path(__file__).with_name("xylo_audio2.toml")


def target() -> ChipTarget:
    """Capacities only (no arithmetic yet): `neurocc fit` partitions against them."""
    return ChipTarget(load_target(SPEC_PATH))


def limits() -> dict[str, Any]:
    """The [xylo] table: input, hidden and output counts, spike caps, state widths."""
    table = tomllib.loads(SPEC_PATH.read_text()).get("xylo")
    if not isinstance(table, dict):
        raise TargetSpecError(f"{SPEC_PATH}: missing table [xylo]")
    return table
