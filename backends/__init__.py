"""neurocc.backends: one package per chip, and the registry that finds them.

``TARGETS`` maps a shipped target's name (what ``--target`` takes) to the
function that builds it; ``ARITHMETICS`` maps an arithmetic's name (a TOML's
``arithmetic = "..."``) to the package that implements it. Both import the
package only when asked (tinygrad's ``Device`` does the same). A new chip is
one new folder plus one line in each table; a research chip needs no entry,
only a TOML file passed by path (``get_target("mychip.toml")``).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from pathlib import Path
from typing import Callable

from neurocc.ir.errors import TargetSpecError
from neurocc.ir.target import ChipTarget, TargetSpec
from neurocc.ir.target import load_target as load_spec

#: arithmetic name -> the package whose ``make_target(spec)`` implements it
ARITHMETICS: dict[str, str] = {
    "loihi2": "neurocc.backends.loihi2",
    "xylo": "neurocc.backends.xylo",
}

#: vendor simulator (a target's ``oracle.name``, what `run --backend` and `verify --against`
#: take) -> the arithmetic it proves
ORACLES: dict[str, str] = {
    "lava": "loihi2",
    "xylosim": "xylo",
}

#: shipped target name -> (package, TOML file in it), in the order `neurocc targets` lists them
_SHIPPED: dict[str, tuple[str, str]] = {
    "loihi2": ("loihi2", "loihi2.toml"),
    # a user-described system over Loihi 2's arithmetic: Intel's 1152-chip Hala Point
    "hala_point": ("loihi2", "hala_point.toml"),
    "xylo_audio2": ("xylo", "xylo_audio2.toml"),
    "xylo_imu": ("xylo", "xylo_imu.toml"),
    "xylo_audio3": ("xylo", "xylo_audio3.toml"),
    "speck": ("speck", "speck.toml"),
    "spinnaker2": ("spinnaker2", "spinnaker2.toml"),
}


def _shipped_path(name: str) -> Path:
    package, toml = _SHIPPED[name]
    return Path(__file__).with_name(package) / toml


def from_spec(spec: TargetSpec) -> ChipTarget:
    """The target for a loaded spec: its arithmetic's code over its data, or (no
    ``arithmetic``) the capacities alone, which ``neurocc fit`` can still use.

    A file that gives [formats] but no ``arithmetic`` names it through its neuron models
    (``loihi2.cuba_lif`` is Loihi 2's): files written before the field existed still work.
    """
    if spec.arithmetic is None and spec.formats is not None:
        named = [m.split(".", 1)[0] for m in spec.neuron_models if "." in m]
        known = [a for a in dict.fromkeys(named) if a in ARITHMETICS]
        if known:
            spec = dataclasses.replace(spec, arithmetic=known[0])
    if spec.arithmetic is None:
        return ChipTarget(spec)
    if spec.arithmetic not in ARITHMETICS:
        close = difflib.get_close_matches(spec.arithmetic, list(ARITHMETICS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise TargetSpecError(f"{spec.path}: field 'arithmetic' = {spec.arithmetic!r} names no "
                              f"arithmetic neurocc has{hint}; the arithmetics are "
                              f"{', '.join(ARITHMETICS)} (or leave it out for a capacities-only "
                              "target that `neurocc fit` can use)")
    return importlib.import_module(ARITHMETICS[spec.arithmetic]).make_target(spec)


def load_target(path: str | Path) -> ChipTarget:
    """A target from a TOML file (a shipped one or a user's own)."""
    return from_spec(load_spec(path))


def _loader(name: str) -> Callable[[], ChipTarget]:
    return lambda: load_target(_shipped_path(name))


#: shipped targets by name, each a function that builds it
TARGETS: dict[str, Callable[[], ChipTarget]] = {name: _loader(name) for name in _SHIPPED}


def get_target(name_or_path: str | Path) -> ChipTarget:
    """A shipped target by name, or a target .toml by path; a TargetSpecError otherwise."""
    text = str(name_or_path)
    if text in TARGETS:
        return TARGETS[text]()
    path = Path(text)
    if path.is_dir():
        raise TargetSpecError(f"target {text!r}: is a directory; give a target .toml file or one "
                              f"of {', '.join(TARGETS)}")
    if path.suffix == ".toml" or path.exists():
        return load_target(path)
    close = ([name for name in TARGETS if text.lower() in name]
             or difflib.get_close_matches(text.lower(), list(TARGETS), n=1))
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise TargetSpecError(f"target {text!r}: not a shipped target ({', '.join(TARGETS)}; see "
                          f"'neurocc targets') and not a .toml file; {hint}for a chip of your "
                          "own, describe it in TOML (see backends/loihi2/loihi2.toml; "
                          "`arithmetic = \"loihi2\"` reuses Loihi 2's) and pass its path")
