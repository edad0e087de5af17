"""The bit-accurate emulator: a generic driver that runs any target's neuron kernels and
synapse arithmetic over an ``ir.Program`` (``driver.py``), and the accumulators it
picks from per block (``accumulators.py``). The chips' arithmetic itself lives in
``backends/<chip>/kernel.py`` and ``synapse.py``."""

from .accumulators import CHUNK_ELEMENTS, EVENT_MAX_BATCH, EVENT_MIN_WEIGHTS
from .driver import OPTIONAL_COUNTERS, Emulator, EmulatorResult, run

__all__ = ["CHUNK_ELEMENTS", "EVENT_MAX_BATCH", "EVENT_MIN_WEIGHTS", "OPTIONAL_COUNTERS",
           "Emulator", "EmulatorResult", "run"]
