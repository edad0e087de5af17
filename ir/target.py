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
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from .errors import QuantizationError, TargetSpecError
from .program import save_program


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
    #: under the per-core memory formulas of [layer_memory]; convolutional chips)
    mapping: str = "neuron_slices"


@dataclasses.dataclass(frozen=True)
class NetworkLimits:
    """What a whole network may hold on the target, however it is cut. 0 means no limit.

    For chips whose neurons sit in fixed pools rather than only in cores (e.g.
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
    #: the [formats] table: as read (a dict) until the target's arithmetic parses it into
    #: its own typed record (``backends.<chip>.formats``); None when the file has none
    formats: Any
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
    #: whose integer arithmetic this chip computes (a package under backends/, e.g. the
    #: chip's own name, or the one a user-described chip reuses); None: capacities only
    arithmetic: str | None = None


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
             "topology", "energy", "arithmetic"}
    extra = sorted(k for k in data if k not in known and not isinstance(data[k], dict))
    if extra:
        # unknown tables are allowed (a backend's own data);
        # unknown top-level values are typos
        raise TargetSpecError(f"{where}: unknown field(s) {extra}; the fields are {sorted(known)}")
    formats = data.get("formats")
    if formats is not None and not isinstance(formats, dict):
        raise TargetSpecError(f"{where}: [formats] must be a table")
    arithmetic = data.get("arithmetic")
    if arithmetic is not None and not isinstance(arithmetic, str):
        raise TargetSpecError(f"{where}: field 'arithmetic' must be a string (the arithmetic "
                              f"the chip reuses, a package under backends/), got {arithmetic!r}")
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
        network=network, arithmetic=arithmetic)


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


# --- the Target protocol ------------------------------------------------------------
# What a chip package (backends/<chip>/) offers. Declared here as typing only, so that
# passes and simulators can name what they receive without importing a backend; the
# driver (compiler/api.py, compiler/cli/) is what looks a target up and hands it over.


@dataclasses.dataclass(frozen=True)
class Incoming:
    """One composed float connection into a neuron node, as the quantize pass hands it
    to a target's rules: already named, with its chip source and delay decided."""

    name: str             # the block's name, e.g. "in->1" or "1->1@1"
    source: str           # what the chip block reads: an input port, a group, a const port
    origin: str           # the contribution's source in the graph (a node, or the bias)
    delay: int            # extra synaptic delay, in steps, that keeps the float timing
    hops: int             # recurrent edges on the path
    #: (target size, source size), float64: a dense matrix for rules that take dense blocks
    #: only; for rules that list ``encodings``, a ``Dense``, ``Sparse`` or ``Conv`` of float64
    #: weights (``ir.blocks``), read through the encoding API
    matrix: Any
    is_bias: bool = False


@dataclasses.dataclass(frozen=True)
class GroupContext:
    """What a target's rules get to quantize one neuron node."""

    name: str
    node: Any                       # the ir node (LIF, CubaLIF, ...)
    shape: tuple[int, ...]
    dt: float
    a_mem: np.ndarray               # per-step decay fractions (``ir.dynamics``)
    a_syn: np.ndarray | None
    depth: int                      # feed-forward depth (inputs at 0)
    lead: int                       # steps the chip runs this group behind the float model
    incoming: tuple[Incoming, ...]
    options: Any                    # the pass's QuantizeOptions
    deferred_before: bool           # an earlier group already deferred a problem
    outputs: tuple[str, ...] = ()   # the Output nodes that read this node
    feeds: tuple[str, ...] = ()     # the neuron nodes this node's spikes reach


@dataclasses.dataclass
class GroupQuantized:
    """What a target's rules return for one neuron node."""

    group: Any                                  # the NeuronGroup
    blocks: list[Any]                           # its incoming SynapseBlocks
    report: dict[str, Any]                      # the group's line of the quantization report
    block_reports: dict[str, dict[str, Any]]    # one per block, by name
    voltage_scale: float | None = None          # a readout: chip v units per float unit
    notes: list[str] = dataclasses.field(default_factory=list)
    #: problems reported together once every group is known (``rules.deferred_error``)
    deferred: list[Any] = dataclasses.field(default_factory=list)


class NeuronKernel(Protocol):
    """One neuron model's integer update, in JAX (``backends/<chip>/kernel.py``).

    ``prepare`` turns a group's stored integer parameters into what ``step`` uses
    (numpy, once); ``init`` gives the state for a batch; ``step`` takes the state and
    the group's synaptic input for one step and returns the new state, the spikes
    (binary 0/1, or graded counts up to ``2**spike_bits - 1`` when ``spike_bits > 1``)
    and a dict of per-neuron boolean flags (the keys of ``flags``, plus any optional
    counter the kernel offers, such as ``membrane_updates``).
    """

    model: str                       # the name a NeuronGroup's ``model`` carries
    state: tuple[str, ...]           # the state's fields, in order (recordable traces)
    flags: Mapping[str, str]         # overflow flag -> what it means, for the report
    spike_bits: int                  # 1: binary spikes; more: a spike count per step
    # optional: ``receptors`` [1], the synaptic inputs a neuron has (blocks name theirs by
    # ``SynapseBlock.receptor``); with more than one, a summed ``a_in`` is a tuple, one
    # sum per receptor
    param_bits: Mapping[str, int]    # stored width of each parameter (memory estimates)

    def prepare(self, params: Mapping[str, np.ndarray], size: int) -> dict[str, np.ndarray]: ...
    def init(self, params: Mapping[str, Any], batch: int) -> Any: ...
    def step(self, params: Mapping[str, Any], state: Any, a_in: Any) -> tuple[Any, Any, dict]: ...


class SynapseArithmetic(Protocol):
    """How a block's sum is formed and delivered (``backends/<chip>/synapse.py``).

    ``weights(block)`` is the (targets, sources) encoding of the weights the chip
    actually multiplies (after its own clipping and bit dropping); ``deliver(acc,
    block)`` turns the sum of spikes times those weights into what the target
    receives (a shift by the weight exponent, say). ``saturation`` is "none" when the
    sum is exact in int32, or "per_event" when the chip saturates the target's input
    after every event, in presynaptic order: the emulator then asks ``summarize(counts,
    weights_t)`` for each block's events of a step as a summary per target neuron
    (``[batch, k, neurons]``, in presynaptic order; zero counts must give the summary of
    no event) and hands the kernel the summaries of its blocks, in block order, with
    their receptors: ``[(receptor, summary), ...]``; the kernel applies them.

    Optional (defaults in brackets): ``input_latency`` [``latency``], the steps a block
    from an input port adds (0: an input reaches its neurons in the step it arrives);
    ``max_input_count`` [1], the most events one input channel delivers in a step (1:
    binary input, any non-zero value is one spike; more: input arrays hold event counts,
    clipped to this).
    """

    latency: int                     # steps a block from a neuron group adds
    max_delay: int                   # the longest extra synaptic delay, in steps
    saturation: str                  # "none" | "per_event"

    def weights(self, block: Any) -> Any: ...
    def deliver(self, acc: Any, block: Any) -> Any: ...


class QuantizeRules(Protocol):
    """How one float neuron layer and its incoming weights become the chip's integers
    (``backends/<chip>/quantize.py``); the generic quantize pass asks this for
    everything chip-specific and composes, aligns and reports the rest."""

    chip: str                        # the chip's name in messages, e.g. in lowering errors
    kinds: tuple[str, ...]           # the NIR neuron kinds it lowers, readouts included
    readout_kinds: tuple[str, ...]   # those only an Output node may read (their voltage)
    why_not: Mapping[str, str]       # why another kind is not lowered, by kind

    def semantics(self) -> dict[str, Any]: ...
    def quantize_group(self, ctx: Any) -> Any: ...
    def deferred_error(self, deferred: list[Any]) -> Exception: ...
    # optional: ``quantize_network(contexts) -> [GroupQuantized]``, all groups at once, for a
    # chip whose groups share formats (one weight shift per matrix across layers, say);
    # ``chained_weights`` (default True): False refuses two weight layers in a row instead
    # of composing them; ``encodings`` (default ("dense",)): the block encodings the rules
    # quantize as they are (others are expanded to a dense matrix where that is small)


class Oracle(Protocol):
    """The vendor's bit-exact simulator (``backends/<chip>/oracle.py``), driven through a
    subprocess and files when its pins clash with ours."""

    name: str                        # e.g. the simulator's name, as `--against` takes it

    def locate(self) -> Any: ...     # its interpreter; a NeuroccError with the make target
    def run(self, program: Any, inputs: Any, record: tuple[str, ...] = ()) -> Any: ...


class Target(Protocol):
    """A chip: its data (``spec``, from its TOML) and its tables of code."""

    spec: TargetSpec
    kernels: Mapping[str, NeuronKernel]
    synapses: SynapseArithmetic | None
    rules: QuantizeRules | None
    design_rules: tuple[Callable[[Any, "Target"], list[str]], ...]
    oracle: Oracle | None

    @property
    def name(self) -> str: ...
    def validate(self, program: Any) -> None: ...
    def emit(self, program: Any, path: Any) -> Any: ...


@dataclasses.dataclass(frozen=True)
class ChipTarget:
    """A plain ``Target``: a spec plus whatever tables of code the chip has.

    A chip whose arithmetic neurocc does not emulate yet is a ChipTarget with only a
    spec (``neurocc fit`` still partitions against its capacities). Reading a spec
    field through the target (``target.cores``) is the same as ``target.spec.cores``.
    """

    spec: TargetSpec
    kernels: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    synapses: Any = None
    rules: Any = None
    design_rules: tuple[Callable[[Any, Any], list[str]], ...] = ()
    oracle: Any = None

    def __getattr__(self, field: str) -> Any:
        # only reached for names the target itself lacks: the spec's fields
        if field.startswith("__") or field == "spec":
            raise AttributeError(field)
        return getattr(self.spec, field)

    @property
    def name(self) -> str:
        return self.spec.name

    def replace(self, **spec_fields: Any) -> "ChipTarget":
        """The same chip with some of its data changed (``target.replace(cores=...)``)."""
        return dataclasses.replace(self, spec=dataclasses.replace(self.spec, **spec_fields))

    @property
    def can_quantize(self) -> bool:
        return self.rules is not None

    @property
    def can_emulate(self) -> bool:
        return self.synapses is not None and bool(self.kernels)

    def problems(self, program: Any) -> list[str]:
        """Every design rule the program breaks, each as one readable line."""
        return [p for rule in self.design_rules for p in rule(program, self)]

    def emit(self, program: Any, path: Any) -> Any:
        """The artifact directory for `program` (atomically), after the design rules. A
        chip whose vendor tools load a file of their own gets that export here too."""
        self.validate(program)
        return save_program(program, path)

    def validate(self, program: Any) -> None:
        problems = self.problems(program)
        if problems:
            chip = getattr(self.rules, "chip", self.spec.name)
            raise QuantizationError(f"the program breaks {chip}'s design rules:\n"
                                    + "\n".join(f"  - {p}" for p in problems))
