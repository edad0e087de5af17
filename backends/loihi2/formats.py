"""Loihi 2's integer formats: the [formats] table of loihi2.toml, typed and validated.

Every field is checked on load; an error names the field and the file. A
user-described chip that reuses Loihi 2's arithmetic (``arithmetic = "loihi2"``)
gives its own [formats] table, read by the same rules.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from neurocc.ir.errors import TargetSpecError
from neurocc.ir.target import _no_unknown, _require


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


_FORMAT_FIELDS = {f.name: f.type for f in dataclasses.fields(NumericFormats)}
#: the smallest value a [formats] field can take and still describe arithmetic (a signed
#: mantissa or state needs a sign bit and one more; the exponents may be negative)
_FORMAT_MIN = {"weight_bits": 2, "decay_bits": 1, "threshold_bits": 1, "bias_mant_bits": 2,
               "state_bits": 2, "weight_exp_min": None, "weight_exp_max": None}


def parse_formats(table: Any, where: str) -> NumericFormats:
    """The [formats] table of `where` (a target file) as NumericFormats."""
    where = f"{where} [formats]"
    if table is None:
        raise TargetSpecError(f"{where}: missing; a chip with Loihi 2's arithmetic needs its "
                              "integer formats (`neurocc targets --json FILE` writes the shipped "
                              "ones)")
    if not isinstance(table, dict):
        raise TargetSpecError(f"{where}: must be a table")
    _no_unknown(table, _FORMAT_FIELDS, where)
    formats = NumericFormats(**{k: _require(table, k, int, where, least=_FORMAT_MIN.get(k, 0))
                                for k in _FORMAT_FIELDS})
    if formats.weight_exp_min > formats.weight_exp_max:
        raise TargetSpecError(f"{where}: field 'weight_exp_min' ({formats.weight_exp_min}) "
                              f"must not exceed 'weight_exp_max' ({formats.weight_exp_max})")
    return formats
