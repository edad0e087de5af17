"""neurocc.backends: one package per chip target, and the registry of shipped targets.

``TARGETS`` maps a target's name (the ``name`` in its TOML, what ``--target``
takes) to the function that loads its ``TargetSpec``. Filled here, at import,
as DESIGN.md's registries are; a research chip needs no entry, only a TOML
file passed by path.
"""

from __future__ import annotations

from typing import Callable

from neurocc.ir.target import TargetSpec

from . import loihi2, speck, spinnaker2, xylo

#: shipped targets by name, in the order `neurocc targets` lists them
TARGETS: dict[str, Callable[[], TargetSpec]] = {
    "loihi2": loihi2.target,
    "xylo_audio2": xylo.target,
    "speck": speck.target,
    "spinnaker2": spinnaker2.target,
}
