"""``TargetSpec``: a chip described as data, loaded from TOML.

Passes receive a TargetSpec and never import a backend. A user can describe a
research chip with a TOML file of their own (``--target path/to/chip.toml``).
Every field is checked on load; an error names the field and the file.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import math
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
    #: how a network meets the cores: "neuron_slices" (a layer is cut into slices that
    #: fill cores under [cores]) or "layer_per_core" (each whole layer takes one core,
    #: under the per-core memory formulas of [layer_memory]; Speck / DYNAP-CNN)
    mapping: str = "neuron_slices"


@dataclasses.dataclass(frozen=True)
class NetworkLimits:
    """What a whole network may hold on the target, however it is cut. 0 means no limit.

    For chips whose neurons sit in fixed pools rather than only in cores (Xylo:
    16 input channels, 1000 hidden and 8 output neurons, any connectivity
    between them). Checked before slicing (``partition.network_problems``).
    """

    max_input_channels: int     # external input neurons (data inputs; a bias source is none)
    max_hidden_neurons: int     # neurons that no Output node reads
    max_output_neurons: int     # neurons an Output node reads


MAPPINGS = ("neuron_slices", "layer_per_core")
#: the names a [layer_memory] formula may use
FORMULA_NAMES = ("c_in", "c_out", "k_h", "k_w", "out_h", "out_w", "bias")
_FORMULA_FUNCTIONS = {"ceil": math.ceil, "floor": math.floor, "log2": math.log2, "max": max,
                      "min": min}
_FORMULA_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
                ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
                ast.FloorDiv: lambda a, b: a // b, ast.Pow: lambda a, b: a ** b}


def _formula(text: Any, key: str, where: str) -> ast.Expression:
    """Parse a [layer_memory] formula: arithmetic, ceil/floor/log2/max/min, `a if bias else b`.

    Checked on load, so a typo names the field and the file; evaluated by
    walking the tree (never eval), so a target file cannot run code.
    """
    if not isinstance(text, str):
        raise TargetSpecError(f"{where}: field '{key}' must be a formula string, got {text!r}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise TargetSpecError(f"{where}: field '{key}': not a formula ({e.msg}): {text!r}") from None
    for node in ast.walk(tree):
        ok = isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.USub, ast.IfExp,
                               ast.Load, *_FORMULA_OPS))
        ok = ok or (isinstance(node, ast.Constant) and isinstance(node.value, (int, float))
                    and not isinstance(node.value, bool))
        ok = ok or (isinstance(node, ast.Name) and node.id in FORMULA_NAMES + tuple(_FORMULA_FUNCTIONS))
        ok = ok or (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in _FORMULA_FUNCTIONS and not node.keywords)
        if not ok:
            raise TargetSpecError(
                f"{where}: field '{key}': {ast.unparse(node) if hasattr(node, 'lineno') else text!r}"
                f" is not allowed in a formula; use numbers, + - * / // **, "
                f"{', '.join(_FORMULA_FUNCTIONS)}, 'X if bias else Y' and the names "
                f"{', '.join(FORMULA_NAMES)}")
    return tree


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> ast.Expression:
    return ast.parse(text, mode="eval")


def _evaluate(node: ast.AST, names: dict[str, Any]) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, names)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return names[node.id]
    if isinstance(node, ast.UnaryOp):
        return -_evaluate(node.operand, names)
    if isinstance(node, ast.BinOp):
        return _FORMULA_OPS[type(node.op)](_evaluate(node.left, names),
                                           _evaluate(node.right, names))
    if isinstance(node, ast.IfExp):
        return _evaluate(node.body if _evaluate(node.test, names) else node.orelse, names)
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    return _FORMULA_FUNCTIONS[node.func.id](*(_evaluate(a, names) for a in node.args))


@dataclasses.dataclass(frozen=True)
class LayerWords:
    """Memory words one layer takes on a layer-per-core chip, by kind."""

    kernel: int
    neuron: int
    bias: int


@dataclasses.dataclass(frozen=True)
class LayerMemory:
    """A layer-per-core chip's per-core memories and the formulas a layer is charged by.

    Each core holds one whole layer (a convolution or linear map, its neurons
    and their bias); a layer fits core i when each of its words (``words``)
    is at most that core's budget. Budgets are per core, core 0 first, and
    repeat on every chip.
    """

    kernel_formula: str
    neuron_formula: str
    bias_formula: str
    kernel_words: tuple[int, ...]
    neuron_words: tuple[int, ...]
    bias_words: tuple[int, ...]
    max_output_channels: int = 0     # 0: no limit
    max_kernel_size: int = 0          # largest k_h and k_w; 0: no limit

    def words(self, c_in: int, c_out: int, kernel: tuple[int, int], out: tuple[int, int],
              bias: bool) -> LayerWords:
        names = dict(c_in=c_in, c_out=c_out, k_h=kernel[0], k_w=kernel[1], out_h=out[0],
                     out_w=out[1], bias=bias)
        value = lambda f: int(math.ceil(_evaluate(_parsed(f), names)))  # noqa: E731
        return LayerWords(value(self.kernel_formula), value(self.neuron_formula),
                          value(self.bias_formula))

    def cores_that_fit(self, layer: LayerWords) -> list[int]:
        """Indices (on one chip) of the cores whose every budget holds `layer`."""
        return [i for i, (k, n, b) in enumerate(zip(self.kernel_words, self.neuron_words,
                                                    self.bias_words))
                if layer.kernel <= k and layer.neuron <= n and layer.bias <= b]


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
    #: per-core memories of a layer-per-core chip ([layer_memory]); None otherwise
    layer_memory: LayerMemory | None = None
    #: limits on the whole network ([network]); None when the file gives none
    network: NetworkLimits | None = None


_FORMAT_FIELDS = {f.name: f.type for f in dataclasses.fields(NumericFormats)}
#: the smallest value a [formats] field can take and still describe arithmetic (a signed
#: mantissa or state needs a sign bit and one more; the exponents may be negative)
_FORMAT_MIN = {"weight_bits": 2, "decay_bits": 1, "threshold_bits": 1, "bias_mant_bits": 2,
               "state_bits": 2, "weight_exp_min": None, "weight_exp_max": None}


def _require(table: dict, key: str, kind: type, where: str, *, nonneg: bool = False,
             least: int | None = None) -> Any:
    if key not in table:
        what = {int: " (an integer)", str: " (a string)"}.get(kind, "")
        raise TargetSpecError(f"{where}: missing field '{key}'{what}; add it "
                              "(`neurocc targets --json FILE` writes every field of the shipped targets)")
    value = table[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TargetSpecError(f"{where}: field '{key}' must be an integer, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise TargetSpecError(f"{where}: field '{key}' must be a string, got {value!r}")
    if least is None and nonneg:
        least = 0
    if least is not None and value < least:
        raise TargetSpecError(f"{where}: field '{key}' must be >= {least}, got {value}")
    return value


def _no_unknown(table: dict, known: Any, where: str) -> None:
    """A misspelt field is an error, not a silently ignored line (and a default used instead)."""
    known = list(known)
    extra = sorted(k for k in table if k not in known)
    if extra:
        close = difflib.get_close_matches(extra[0], [k for k in known if k not in table], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise TargetSpecError(f"{where}: unknown field(s) {extra}{hint}; the fields are "
                              f"{', '.join(known)}")


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
        # unknown tables are allowed (a backend's own data);
        # unknown top-level values are typos
        raise TargetSpecError(f"{where}: unknown field(s) {extra}; the fields are {sorted(known)}")
    fmt = data.get("formats")
    formats = None
    if fmt is not None:
        if not isinstance(fmt, dict):
            raise TargetSpecError(f"{where}: [formats] must be a table")
        _no_unknown(fmt, _FORMAT_FIELDS, f"{where} [formats]")
        formats = NumericFormats(**{
            k: _require(fmt, k, int, f"{where} [formats]", least=_FORMAT_MIN.get(k, 0))
            for k in _FORMAT_FIELDS})
        if formats.weight_exp_min > formats.weight_exp_max:
            raise TargetSpecError(f"{where} [formats]: field 'weight_exp_min' ({formats.weight_exp_min}) "
                                  f"must not exceed 'weight_exp_max' ({formats.weight_exp_max})")
    models = data.get("neuron_models")
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise TargetSpecError(f"{where}: field 'neuron_models' must be a list of strings")
    cores = topology = None
    if "cores" in data:
        table = data["cores"]
        if not isinstance(table, dict):
            raise TargetSpecError(f"{where}: [cores] must be a table")
        _no_unknown(table, (f.name for f in dataclasses.fields(CoreLimits)), f"{where} [cores]")
        cores = CoreLimits(**{f.name: _require(table, f.name, int, f"{where} [cores]", nonneg=True)
                              for f in dataclasses.fields(CoreLimits)})
    if "topology" in data:
        table = data["topology"]
        if not isinstance(table, dict):
            raise TargetSpecError(f"{where}: [topology] must be a table")
        _no_unknown(table, (f.name for f in dataclasses.fields(Topology)), f"{where} [topology]")
        topology = Topology(
            cores_per_chip=_require(table, "cores_per_chip", int, f"{where} [topology]", least=1),
            core_mesh=_pair(table, "core_mesh", f"{where} [topology]"),
            max_chips=_require(table, "max_chips", int, f"{where} [topology]", least=1),
            chip_mesh=_pair(table, "chip_mesh", f"{where} [topology]"),
            mapping=table.get("mapping", "neuron_slices"))
        if topology.mapping not in MAPPINGS:
            raise TargetSpecError(f"{where} [topology]: field 'mapping' must be one of "
                                  f"{', '.join(MAPPINGS)}, got {topology.mapping!r}")
        # placement puts every core (chip) on its own mesh position
        for mesh, count in (("core_mesh", "cores_per_chip"), ("chip_mesh", "max_chips")):
            x, y = getattr(topology, mesh)
            if x * y < getattr(topology, count):
                raise TargetSpecError(
                    f"{where} [topology]: field '{mesh}' [{x}, {y}] has {x * y} positions for "
                    f"{count} = {getattr(topology, count)}; give a mesh with at least that many")
    network = None
    if "network" in data:
        table = data["network"]
        if not isinstance(table, dict):
            raise TargetSpecError(f"{where}: [network] must be a table")
        _no_unknown(table, (f.name for f in dataclasses.fields(NetworkLimits)), f"{where} [network]")
        network = NetworkLimits(**{
            f.name: _require(table, f.name, int, f"{where} [network]", nonneg=True)
            for f in dataclasses.fields(NetworkLimits)})
    layer_memory = None
    if "layer_memory" in data:
        layer_memory = _layer_memory(data["layer_memory"], f"{where} [layer_memory]")
    if topology is not None and topology.mapping == "layer_per_core":
        if layer_memory is None:
            raise TargetSpecError(f"{where}: [topology] mapping = 'layer_per_core' needs a "
                                  "[layer_memory] table (the per-core memories and formulas)")
        if len(layer_memory.kernel_words) != topology.cores_per_chip:
            raise TargetSpecError(
                f"{where} [layer_memory]: field 'kernel_memory_words' lists "
                f"{len(layer_memory.kernel_words)} cores; [topology] cores_per_chip is "
                f"{topology.cores_per_chip}")
    return TargetSpec(
        name=_require(data, "name", str, where),
        description=_require(data, "description", str, where),
        neuron_models=tuple(models),
        synaptic_latency=_require(data, "synaptic_latency", int, where, nonneg=True),
        formats=formats, cores=cores, topology=topology,
        energy=dict(data.get("energy", {})), path=where, layer_memory=layer_memory,
        network=network)


def _layer_memory(table: Any, where: str) -> LayerMemory:
    if not isinstance(table, dict):
        raise TargetSpecError(f"{where}: must be a table")
    formulas = {k: _formula(table.get(f"{k}_memory_formula"), f"{k}_memory_formula", where)
                for k in ("kernel", "neuron", "bias")}
    columns = {}
    for k in ("kernel", "neuron", "bias"):
        key = f"{k}_memory_words"
        value = table.get(key)
        if (not isinstance(value, list) or not value
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                           for v in value)):
            raise TargetSpecError(f"{where}: field '{key}' must be a list of integers >= 0, "
                                  f"one per core, got {value!r}")
        columns[k] = tuple(value)
    if len({len(c) for c in columns.values()}) != 1:
        raise TargetSpecError(f"{where}: fields " + ", ".join(
            f"'{k}_memory_words' ({len(c)} cores)" for k, c in columns.items())
            + " must list the same cores")
    optional = {k: (_require(table, k, int, where, nonneg=True) if k in table else 0)
                for k in ("max_output_channels", "max_kernel_size")}
    layer = LayerMemory(*(ast.unparse(formulas[k]) for k in ("kernel", "neuron", "bias")),
                        columns["kernel"], columns["neuron"], columns["bias"], **optional)
    try:  # a formula that parses may still fail on numbers (log2(0), 1/0)
        layer.words(1, 1, (1, 1), (1, 1), True)
    except (ValueError, ZeroDivisionError, OverflowError, TypeError) as e:
        raise TargetSpecError(f"{where}: a formula fails on a 1-channel 1x1 layer ({e})") from None
    return layer


def _pair(table: dict, key: str, where: str) -> tuple[int, int]:
    value = table.get(key)
    if value is None:
        raise TargetSpecError(f"{where}: missing field '{key}' (two positive integers [x, y]); "
                              "add it (`neurocc targets --json FILE` writes every field of the shipped targets)")
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise TargetSpecError(f"{where}: field '{key}' must be two positive integers [x, y], "
                              f"got {value!r}")
    return (value[0], value[1])
