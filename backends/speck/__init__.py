"""SynSense Speck / DYNAP-CNN target: its TargetSpec (speck.toml) and per-core memory rule.

Speck's nine cores have different kernel and neuron memories (Sinabs
``chips/dynapcnn.py``), which one ``CoreLimits`` record cannot say; the budgets
live in speck.toml's ``[speck_memory]`` table and the rule that uses them is
``layer_memory`` below. Capacities only for now: neurocc cannot quantize for or
emulate Speck yet.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path

from neurocc.ir.errors import TargetSpecError
from neurocc.ir.target import TargetSpec, load_target

SPEC_PATH = Path(__file__).with_name("speck.toml")


def target() -> TargetSpec:
    return load_target(SPEC_PATH)


@dataclasses.dataclass(frozen=True)
class CoreMemory:
    """One core's budgets, in memory words (one weight, one neuron state or one bias each)."""

    kernel_words: int
    neuron_words: int
    bias_words: int


def memory_budgets() -> tuple[CoreMemory, ...]:
    """Per-core budgets from [speck_memory], core 0 first."""
    table = tomllib.loads(SPEC_PATH.read_text()).get("speck_memory")
    where = f"{SPEC_PATH} [speck_memory]"
    if not isinstance(table, dict):
        raise TargetSpecError(f"{SPEC_PATH}: missing table [speck_memory]")
    columns = []
    for key in ("kernel_memory_words", "neuron_memory_words", "bias_memory_words"):
        value = table.get(key)
        if (not isinstance(value, list) or not value
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
            raise TargetSpecError(f"{where}: field '{key}' must be a list of positive integers, "
                                  f"one per core, got {value!r}")
        columns.append(value)
    if len({len(c) for c in columns}) != 1:
        raise TargetSpecError(f"{where}: the memory lists differ in length "
                              f"({', '.join(str(len(c)) for c in columns)})")
    return tuple(CoreMemory(k, n, b) for k, n, b in zip(*columns))


def layer_memory(c_in: int, c_out: int, kernel: tuple[int, int], out: tuple[int, int],
                 bias: bool) -> CoreMemory:
    """The words one layer takes on a core (Sinabs ``DynapcnnLayer.memory_summary``).

    Kernel and neuron memories are addressed by concatenated bit fields, so
    each dimension is padded to a power of two before multiplying.
    """
    (k_h, k_w), (out_h, out_w) = kernel, out
    up = lambda n: math.ceil(math.log2(n))  # noqa: E731
    return CoreMemory(kernel_words=c_in * 2 ** (up(k_h * k_w) + up(c_out)),
                      neuron_words=c_out * 2 ** (up(out_h) + up(out_w)),
                      bias_words=c_out if bias else 0)


def cores_that_fit(layer: CoreMemory) -> list[int]:
    """Indices of the cores whose every budget holds `layer`."""
    return [i for i, core in enumerate(memory_budgets())
            if layer.kernel_words <= core.kernel_words and layer.neuron_words <= core.neuron_words
            and layer.bias_words <= core.bias_words]
