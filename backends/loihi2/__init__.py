"""Loihi 2 backend: its TargetSpec (loihi2.toml), the emitter, the Lava bridge."""

from __future__ import annotations

from pathlib import Path

from neurocc.ir.target import TargetSpec, load_target

SPEC_PATH = Path(__file__).with_name("loihi2.toml")


def target() -> TargetSpec:
    return load_target(SPEC_PATH)
