"""``TargetSpec``: a chip described as data, loaded from TOML.

Passes receive a TargetSpec and never import a backend. A user can describe a
research chip with a TOML file of their own (``--target path/to/chip.toml``).
Every field is checked on load; an error names the field and the file.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from .errors import TargetSpecError


@dataclasses.dataclass(frozen=True)
class NumericFormats:
    """Integer formats of the chip's neuron and synapse parameters."""

    weight_bits: int          # mantissa bits of a weight (sign included for mixed-sign blocks)
    weight_exp_min: int       # weight exponent range (shifts the synaptic sum)
    weight_exp_max: int
    decay_bits: int           # du, dv: unsigned, 2**decay_bits per step is a full decay
    threshold_bits: int       # vth: unsigned
    threshold_shift: int      # v is compared against vth << threshold_shift
    input_shift: int          # the synaptic sum enters the current shifted left by this
    bias_mant_bits: int       # signed mantissa
    bias_exp_max: int
    state_bits: int           # u and v nominal width (u wraps, v saturates)
    max_delay: int            # synaptic delay in steps


@dataclasses.dataclass(frozen=True)
class CoreLimits:
    """What one core holds. 0 means the chip has no such limit."""

    max_neurons: int            # neurons (compartments) per core
    synapse_memory_bits: int    # synaptic memory per core
    dense_weight_bits: int      # bits a stored weight takes in a dense block
    sparse_entry_bits: int      # bits a stored synapse takes in a sparse block (weight + index)
    max_fan_in: int             # distinct input axons (source neurons) per core
    max_fan_out: int            # distinct destination cores per core
    routing_entries: int        # routing-table entries per core


@dataclasses.dataclass(frozen=True)
class Topology:
    """How cores sit on a chip and chips on a board (2-D meshes, x by y)."""

    cores_per_chip: int
    core_mesh: tuple[int, int]
    max_chips: int
    chip_mesh: tuple[int, int]


@dataclasses.dataclass(frozen=True)
class TargetSpec:
    name: str
    description: str
    neuron_models: tuple[str, ...]
    synaptic_latency: int     # steps a synapse block adds between a spike and its target
    #: integer formats; None for a chip whose arithmetic neurocc does not emulate yet
    formats: NumericFormats | None
    #: per-core limits and the mesh; None when the file gives no [cores] / [topology]
    cores: CoreLimits | None
    topology: Topology | None
    #: energy constants, each with value, unit, basis, source, confidence
    energy: dict[str, Any]
    path: str = ""


_FORMAT_FIELDS = {f.name: f.type for f in dataclasses.fields(NumericFormats)}


def _require(table: dict, key: str, kind: type, where: str, *, nonneg: bool = False) -> Any:
    if key not in table:
        raise TargetSpecError(f"{where}: missing field '{key}'")
    value = table[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TargetSpecError(f"{where}: field '{key}' must be an integer, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise TargetSpecError(f"{where}: field '{key}' must be a string, got {value!r}")
    if nonneg and value < 0:
        raise TargetSpecError(f"{where}: field '{key}' must be >= 0, got {value}")
    return value


def load_target(path: str | Path) -> TargetSpec:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise TargetSpecError(f"{path}: no such target file") from None
    except OSError as e:
        raise TargetSpecError(f"{path}: cannot be read as a target file ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise TargetSpecError(f"{path}: not valid TOML ({e})") from None
    where = str(path)
    known = {"name", "description", "neuron_models", "synaptic_latency", "formats", "cores",
             "topology", "energy"}
    extra = sorted(k for k in data if k not in known and not isinstance(data[k], dict))
    if extra:
        # unknown tables are allowed (a backend's own data, e.g. [speck_memory]);
        # unknown top-level values are typos
        raise TargetSpecError(f"{where}: unknown field(s) {extra}; the fields are {sorted(known)}")
    fmt = data.get("formats")
    formats = None
    if fmt is not None:
        if not isinstance(fmt, dict):
            raise TargetSpecError(f"{where}: [formats] must be a table")
        formats = NumericFormats(**{
            k: _require(fmt, k, int, f"{where} [formats]",
                        nonneg=k not in ("weight_exp_min", "weight_exp_max"))
            for k in _FORMAT_FIELDS})
    models = data.get("neuron_models")
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise TargetSpecError(f"{where}: field 'neuron_models' must be a list of strings")
    cores = topology = None
    if "cores" in data:
        table = data["cores"]
        if not isinstance(table, dict):
            raise TargetSpecError(f"{where}: [cores] must be a table")
        cores = CoreLimits(**{f.name: _require(table, f.name, int, f"{where} [cores]", nonneg=True)
                              for f in dataclasses.fields(CoreLimits)})
    if "topology" in data:
        table = data["topology"]
        if not isinstance(table, dict):
            raise TargetSpecError(f"{where}: [topology] must be a table")
        topology = Topology(
            cores_per_chip=_require(table, "cores_per_chip", int, f"{where} [topology]", nonneg=True),
            core_mesh=_pair(table, "core_mesh", f"{where} [topology]"),
            max_chips=_require(table, "max_chips", int, f"{where} [topology]", nonneg=True),
            chip_mesh=_pair(table, "chip_mesh", f"{where} [topology]"))
    return TargetSpec(
        name=_require(data, "name", str, where),
        description=_require(data, "description", str, where),
        neuron_models=tuple(models),
        synaptic_latency=_require(data, "synaptic_latency", int, where, nonneg=True),
        formats=formats, cores=cores, topology=topology,
        energy=dict(data.get("energy", {})), path=where)


def _pair(table: dict, key: str, where: str) -> tuple[int, int]:
    value = table.get(key)
    if value is None:
        raise TargetSpecError(f"{where}: missing field '{key}'")
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise TargetSpecError(f"{where}: field '{key}' must be two positive integers [x, y], "
                              f"got {value!r}")
    return (value[0], value[1])
