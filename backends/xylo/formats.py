"""Xylo's [formats] table, typed and validated (one arithmetic, three chips' sizes)."""

from __future__ import annotations

import dataclasses
from typing import Any

from neurocc.ir.errors import TargetSpecError


@dataclasses.dataclass(frozen=True)
class XyloFormats:
    weight_bits: int          # int8 weights
    weight_shift_max: int     # one left shift per matrix, 0..7 (SynSense's validator)
    state_bits: int           # Isyn, Isyn2, Vmem, thresholds, biases: int16, saturating
    dash_max: int             # decays x -= max(x >> dash, [x > 0]), dash 0..15
    synapses: int             # synaptic currents per hidden neuron (2, or 1 on IMU)
    input_window: int         # input weights reach only the first N hidden neurons (0: any)
    output_window: int        # readout weights leave only the last N hidden neurons (0: any)
    max_input_count: int      # events an input channel delivers per step (the rest dropped)
    max_hidden_spikes: int    # spikes a hidden neuron emits per step
    max_readout_spikes: int   # spikes a readout neuron emits per step

    @property
    def state_max(self) -> int:
        return (1 << (self.state_bits - 1)) - 1

    @property
    def state_min(self) -> int:
        return -(1 << (self.state_bits - 1))

    @property
    def weight_max(self) -> int:
        return (1 << (self.weight_bits - 1)) - 1


def parse_formats(table: Any, where: str) -> XyloFormats:
    if not isinstance(table, dict):
        raise TargetSpecError(f"{where}: the xylo arithmetic needs a [formats] table (see "
                              "backends/xylo/xylo_audio2.toml)")
    fields = [f.name for f in dataclasses.fields(XyloFormats)]
    extra = sorted(set(table) - set(fields))
    if extra:
        raise TargetSpecError(f"{where} [formats]: unknown field(s) {extra}; the xylo "
                              f"arithmetic's fields are {', '.join(fields)}")
    values = {}
    for name in fields:
        v = table.get(name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise TargetSpecError(f"{where} [formats]: field '{name}' must be an integer >= 0, "
                                  f"got {v!r}")
        values[name] = v
    f = XyloFormats(**values)
    if f.synapses not in (1, 2):
        raise TargetSpecError(f"{where} [formats]: field 'synapses' must be 1 or 2 (Isyn, "
                              f"and Isyn2 where the chip has it), got {f.synapses}")
    if f.state_bits != 16 or f.weight_bits != 8:
        raise TargetSpecError(f"{where} [formats]: the xylo arithmetic is int16 state and int8 "
                              f"weights (state_bits = 16, weight_bits = 8), got "
                              f"{f.state_bits} and {f.weight_bits}")
    if not 1 <= f.max_hidden_spikes <= 31 or not 1 <= f.max_readout_spikes <= 31:
        raise TargetSpecError(f"{where} [formats]: spike caps must be 1..31 (the emulator packs a "
                              "count in 5 bits)")
    return f
