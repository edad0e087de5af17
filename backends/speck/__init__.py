"""SynSense Speck / DYNAP-CNN target: its TargetSpec (speck.toml) and per-core memory rule.

Speck's nine cores have different kernel and neuron memories (Sinabs
``chips/dynapcnn.py``), which one ``CoreLimits`` record cannot say; the budgets
and formulas live in speck.toml's ``[layer_memory]`` table (loaded as
``TargetSpec.layer_memory``, which the partitioner uses because the TOML maps
one whole layer per core). The helpers below read that table. Capacities only
for now: neurocc cannot quantize for or emulate Speck yet.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from neurocc.ir.errors import TargetSpecError
from neurocc.ir.target import ChipTarget, LayerMemory, load_target

SPEC_PATH = Path(__file__).with_name("speck.toml")


def target() -> ChipTarget:
    """Capacities only (no arithmetic yet): `neurocc fit` partitions against them."""
    return ChipTarget(load_target(SPEC_PATH))


@dataclasses.dataclass(frozen=True)
class CoreMemory:
    """One core's budgets, in memory words (one weight, one neuron state or one bias each)."""

    kernel_words: int
    neuron_words: int
    bias_words: int


def _table() -> LayerMemory:
    spec = target()
    if spec.layer_memory is None:
        raise TargetSpecError(f"{SPEC_PATH}: missing table [layer_memory]")
    return spec.layer_memory


def memory_budgets() -> tuple[CoreMemory, ...]:
    """Per-core budgets from [layer_memory], core 0 first."""
    t = _table()
    return tuple(CoreMemory(*c) for c in zip(t.kernel_words, t.neuron_words, t.bias_words))


def layer_memory(c_in: int, c_out: int, kernel: tuple[int, int], out: tuple[int, int],
                 bias: bool) -> CoreMemory:
    """The words one layer takes on a core (Sinabs ``DynapcnnLayer.memory_summary``).

    Kernel and neuron memories are addressed by concatenated bit fields, so
    each dimension is padded to a power of two before multiplying.
    """
    w = _table().words(c_in, c_out, kernel, out, bias)
    return CoreMemory(kernel_words=w.kernel, neuron_words=w.neuron, bias_words=w.bias)


def cores_that_fit(layer: CoreMemory) -> list[int]:
    """Indices of the cores whose every budget holds `layer`."""
    return [i for i, core in enumerate(memory_budgets())
            if layer.kernel_words <= core.kernel_words and layer.neuron_words <= core.neuron_words
            and layer.bias_words <= core.bias_words]
