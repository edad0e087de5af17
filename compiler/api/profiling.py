"""What ``neurocc profile`` measures: the energy constants to estimate with, and the run.

``energy_model`` picks the constants (the target's own, a borrowed set, a
chip's measured system power, the user's file and overrides) and labels the
estimate accordingly; ``run_profile`` runs the emulator with the counters the
profile needs and returns the report that the command prints.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .checks import Step, timed
from .errors import UsageError

#: bundled constant sets for --energy-from, beside simulators/profile.py
BUNDLED_SUFFIX = "_energy.toml"


def _system_power_from_target(name: str, program: Any) -> tuple[dict[str, Any], list[str]]:
    """--energy-from CHIP for a shipped chip that publishes measured system power only.

    Its target file marks the figure with ``estimate = "system_power"``; the estimate is
    that power x the run's duration, on the operation counts of the program as compiled
    (for loihi2), and the label says both.
    """
    from neurocc.backends import TARGETS
    from neurocc.simulators import profile as P

    sets = ", ".join(_bundled_sets())
    if name not in TARGETS:
        raise UsageError(f"--energy-from {name!r}: no such constant set or chip; per-op constant "
                         f"sets: {sets}; chips with a measured system power: "
                         f"{', '.join(n for n in TARGETS if _system_entries(TARGETS[n]()))} "
                         "(or give a .toml path)")
    spec = TARGETS[name]()
    entries = _system_entries(spec)
    if len(entries) != 1:
        raise UsageError(f"--energy-from {name}: {spec.path} has no per-operation energies and "
                         "no measured system power of this chip to scale, so neurocc makes no estimate "
                         f"rather than invent one; per-op constant sets: {sets}")
    key, e = entries[0]
    constants, _ = P.constants_from_table(
        {"system_power": {k: v for k, v in e.items() if k != "role"}}, f"{spec.path} [energy.{key}]")
    where = "" if name == program.target else (
        f"; T from this run of the network compiled for {program.target} (not compiled "
        f"for {name}; whether it fits {name} is `neurocc fit`'s answer)")
    return constants, [f"SYSTEM-POWER ESTIMATE: {e.get('platform', name)}'s measured power "
                       f"({e['value']:g} {e['unit']}, {e['source']}) x run time{where}"]


def _system_entries(spec: Any) -> list[tuple[str, Any]]:
    return [(k, e) for k, e in spec.energy.items()
            if isinstance(e, dict) and e.get("estimate") == "system_power"]


def _bundled_sets() -> dict[str, Path]:
    from neurocc.simulators import profile as P

    here = Path(P.__file__).parent
    return {f.name[: -len(BUNDLED_SUFFIX)]: f for f in sorted(here.glob("*" + BUNDLED_SUFFIX))}


def _read_toml(path: Path, what: str) -> dict[str, Any]:

    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file ({what})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read ({what}: {e})") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML ({what}: {e})") from None


def energy_model(program: Any, target: Any, energy_from: str | None = None,
                 energy_file: Path | None = None, energy: Any = ()
                 ) -> tuple[dict[str, Any], str, dict[str, Any], str]:
    """(constants, label, other figures of the target file, why no estimate).

    energy_from: a bundled constant set (loihi1, loihi1_sanafe), a chip with a measured
    system power, or a .toml path; energy_file: constants of the user's own; energy:
    overrides such as ``"synop=20pJ"``.
    """
    if isinstance(energy, str):
        energy = [energy]
    from neurocc.simulators import profile as P

    own, other = ({}, {})
    if target is not None:
        own, other = P.constants_from_table(target.energy, f"{target.path} [energy]")
    has_own = all(k in own for k in P.REQUIRED_TERMS)
    constants: dict[str, Any] = dict(own)
    labels = [f"{program.target}'s own constants ({target.path})"] if has_own else []
    if energy_from is not None and energy_from not in _bundled_sets() \
            and Path(energy_from).suffix != ".toml":
        constants, labels = _system_power_from_target(energy_from, program)
    elif energy_from is not None:
        sets = _bundled_sets()
        name = energy_from
        path = sets.get(name) or Path(name)
        data = _read_toml(path, "--energy-from")
        borrowed, _ = P.constants_from_table(data.get("energy", {}), str(path))
        if not all(k in borrowed for k in P.REQUIRED_TERMS):
            raise UsageError(f"--energy-from {name}: {path} lacks per-op constants "
                             f"{[k for k in P.REQUIRED_TERMS if k not in borrowed]}")
        constants = dict(borrowed)
        desc = data.get("description", name)
        labels = [f"BORROWED: {desc} constants applied to {program.target}"
                  + ("" if name == program.target else
                     f"; {program.target}'s own per-op energies differ and are not these")]
    if energy_file is not None:
        data = _read_toml(energy_file, "--energy-file")
        mine, _ = P.constants_from_table(data.get("energy", data), str(energy_file),
                                         default_basis="user", default_source=str(energy_file),
                                         default_confidence="user")
        if not mine:
            raise UsageError(f"{energy_file}: no energy constants found; give "
                             f"[energy.NAME] tables for NAME in {', '.join(P.ENERGY_TERMS)}")
        constants |= mine
        labels.append(f"user constants from {energy_file} ({', '.join(mine)})")
    overrides = [P.parse_override(text) for text in energy]
    for name, value, unit in overrides:
        constants[name] = P.EnergyConstant(name, value, unit, "user", "--energy", "user")
    if overrides:
        labels.append("overridden on the command line: " + ", ".join(n for n, _, _ in overrides))
    why = ""
    if not all(k in constants for k in P.REQUIRED_TERMS) and "system_power" not in constants:
        missing = [k for k in P.REQUIRED_TERMS if k not in constants]
        ask = ("To estimate anyway, ask explicitly: --energy-from loihi1 or loihi1_sanafe "
               "(Loihi 1's published per-op figures, labelled as borrowed), --energy-from "
               "xylo_audio2 or speck (a chip's measured system power x run time, labelled as "
               "such), or your own constants with --energy-file "
               "FILE.toml / --energy synop=...pJ (needs " + ", ".join(P.REQUIRED_TERMS) + ")")
        if constants:
            why = (f"incomplete energy constants: {', '.join(missing)} missing (given: "
                   f"{', '.join(constants)}), so no estimate is made. {ask}")
        else:
            why = (f"{program.target}: no published per-operation energy constants (its target "
                   f"file has none), so no estimate is made rather than one invented. {ask}")
    label = "; ".join(labels) or f"{program.target} (no constants)"
    return constants, label, other, why


def run_profile(program: Any, target: Any, inputs: Any, constants: dict[str, Any], label: str,
                other: dict[str, Any], why: str, *, artifact: str = "",
                input_desc: dict[str, Any] | None = None, step: Step = timed
                ) -> tuple[dict[str, Any], Any, Any, Any]:
    """(report, emulator result, profile, estimate) of one emulator run of `program`."""
    from neurocc.simulators import profile as P
    from neurocc.simulators.emulator import Emulator

    result = step("emulator: compiling and running",
                  lambda: Emulator(program, target, counters=("membrane_updates",)).run(inputs))[0]
    prof = P.profile(program, result, inputs, target, target.topology, target.cores)
    estimate = P.estimate_energy(prof, constants, label, P.chips_used(program), other, why)
    report = {"artifact": artifact, "target": program.target,
              "input": dict(input_desc or {}) | {"steps": prof.steps, "samples": prof.samples},
              "profile": prof.to_json(), "energy": estimate.to_json(),
              "overflow": result.overflow_report()}
    return report, result, prof, estimate


def json_default(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    return str(v)
