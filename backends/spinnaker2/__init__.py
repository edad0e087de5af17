"""SpiNNaker 2 target: its TargetSpec (spinnaker2.toml).

Capacities only for now: neurocc cannot quantize for or emulate SpiNNaker 2 yet.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from neurocc.ir.errors import TargetSpecError
from neurocc.ir.target import ChipTarget, load_target

SPEC_PATH = Path(__file__).with_name("spinnaker2.toml")


def target() -> ChipTarget:
    """Capacities only (no arithmetic yet): `neurocc fit` partitions against them."""
    return ChipTarget(load_target(SPEC_PATH))


def routing_entries_per_chip() -> int:
    """The chip's multicast routing table, shared by all its processing elements."""
    table = tomllib.loads(SPEC_PATH.read_text()).get("spinnaker2_router", {})
    value = table.get("routing_entries_per_chip")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TargetSpecError(f"{SPEC_PATH} [spinnaker2_router]: field "
                              f"'routing_entries_per_chip' must be an integer >= 0, got {value!r}")
    return value
