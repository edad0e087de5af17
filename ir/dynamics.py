"""Time, decided once: NIR's continuous-time neurons as per-step factors for a step ``dt``.

The reference simulator, calibration and the quantizer take their factors
from here; nothing else divides ``dt`` by a time constant. numpy only.

The equations (``ir.nodes``; x: the node's summed input, held over a step):

    LIF, LI:         tau dv/dt     = (v_leak - v) + r x
    CubaLIF, CubaLI: tau_syn di/dt = -i + w_in x;   tau_mem dv/dt = (v_leak - v) + r i
    IF, I:           dv/dt         = r x

become one affine step from (i, v) to (i', v')  (i: the current before the step):

    i' = i_keep i + i_in x                                   (CubaLIF, CubaLI only)
    v' = v_keep v + v_rest + i_to_v i + x_to_v x             (i_to_v: CubaLIF, CubaLI only)

with a = ``a_mem`` (of tau or tau_mem) and a_s = ``a_syn`` (of tau_syn), the
fraction of the way to rest covered in one step:

    euler (forward Euler, what snnTorch, Norse and the chips compute; current first):
        a = dt/tau.  LIF: v_keep = 1-a, v_rest = a v_leak, x_to_v = a r.
        Cuba: i_keep = 1-a_s, i_in = a_s w_in, v_keep = 1-a, v_rest = a v_leak,
              i_to_v = a r (1-a_s), x_to_v = a r a_s w_in   (v sees the new current i').
    exact (exponential integrator, exact for x held over the step):
        a = 1 - exp(-dt/tau).  LIF: as Euler with this a.
        Cuba, e_s = exp(-dt/tau_syn), e_m = exp(-dt/tau_mem):
              i_keep = e_s, i_in = (1-e_s) w_in, v_keep = e_m, v_rest = (1-e_m) v_leak,
              i_to_v = r K, x_to_v = r w_in (1 - e_m - K),
              K = tau_syn/(tau_syn - tau_mem) (e_s - e_m)   [(dt/tau_mem) e_m when equal].
    IF, I (both integrators): a = 0, v_keep = 1, v_rest = 0, x_to_v = dt r.

Forward Euler overshoots where dt exceeds a time constant (a > 1):
``overshoots`` finds those; the reference warns, ``discretize`` (the
quantizer's) refuses. A Delay of d seconds is ``round(d/dt)`` whole steps
(numpy's rint: halves to even).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np

from .errors import QuantizationError
from .graph import Graph
from .nodes import Node

INTEGRATORS = ("euler", "exact")
NEURON_KINDS = ("LIF", "LI", "CubaLIF", "CubaLI", "IF", "I")
_TAU_FIELDS = ("tau", "tau_mem", "tau_syn")  # the reference's warning order


@dataclasses.dataclass(frozen=True, eq=False)
class Factors:
    """One neuron node's step for a given dt and integrator (float64 arrays, node-shaped).

    a_mem: fraction of the distance to rest v covers in a step (0 for IF, I).
    a_syn: the same for the current (CubaLIF, CubaLI; else None).
    v_keep, v_rest, x_to_v, and (Cuba only, else None) i_keep, i_in, i_to_v: the
    coefficients of the step in the module docstring.
    """

    kind: str
    dt: float
    integrator: str
    a_mem: np.ndarray
    v_keep: np.ndarray
    v_rest: np.ndarray
    x_to_v: np.ndarray
    a_syn: np.ndarray | None = None
    i_keep: np.ndarray | None = None
    i_in: np.ndarray | None = None
    i_to_v: np.ndarray | None = None


def fraction(tau: np.ndarray, dt: float, integrator: str = "euler") -> np.ndarray:
    """Fraction of the distance to rest covered in one step: dt/tau, or 1 - exp(-dt/tau)."""
    x = dt / np.asarray(tau, np.float64)
    return -np.expm1(-x) if integrator == "exact" else x


def factors(node: Node, dt: float, integrator: str = "euler") -> Factors:
    """The per-step factors of a neuron node (kinds in ``NEURON_KINDS``); dt in seconds."""
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator must be one of {list(INTEGRATORS)}, got {integrator!r}")
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be a positive number of seconds, got {dt}")
    if node.kind in ("LIF", "LI"):
        a = fraction(node.tau, dt, integrator)
        return Factors(node.kind, dt, integrator, a_mem=a, v_keep=1.0 - a, v_rest=a * node.v_leak,
                       x_to_v=a * node.r)
    if node.kind in ("CubaLIF", "CubaLI"):
        return _cuba(node, dt, integrator)
    if node.kind in ("IF", "I"):
        r = np.asarray(node.r, np.float64)
        return Factors(node.kind, dt, integrator, a_mem=np.zeros(np.shape(node.r)),
                       v_keep=np.ones_like(r), v_rest=np.zeros_like(r), x_to_v=dt * r)
    raise ValueError(f"node kind {node.kind} has no time constants; neurons are {list(NEURON_KINDS)}")


def _cuba(node: Node, dt: float, integrator: str) -> Factors:
    ts, tm = np.asarray(node.tau_syn, np.float64), np.asarray(node.tau_mem, np.float64)
    r, w_in, v_leak = np.asarray(node.r), node.input_weight(), np.asarray(node.v_leak)
    if integrator == "exact":
        e_s, e_m = np.exp(-dt / ts), np.exp(-dt / tm)
        same = np.isclose(ts, tm, rtol=1e-9)
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.where(same, dt / tm * e_m, ts / np.where(same, 1.0, ts - tm) * (e_s - e_m))
        return Factors(node.kind, dt, integrator, a_mem=fraction(tm, dt, integrator),
                       a_syn=fraction(ts, dt, integrator), i_keep=e_s, i_in=(1 - e_s) * w_in,
                       v_keep=e_m, v_rest=(1 - e_m) * v_leak, i_to_v=r * k,
                       x_to_v=r * w_in * (1 - e_m - k))
    a_s, a_m = dt / ts, dt / tm
    return Factors(node.kind, dt, integrator, a_mem=a_m, a_syn=a_s, i_keep=1 - a_s,
                   i_in=a_s * w_in, v_keep=1 - a_m, v_rest=a_m * v_leak,
                   i_to_v=a_m * r * (1 - a_s), x_to_v=a_m * r * a_s * w_in)


def delay_steps(node: Node, dt: float) -> np.ndarray:
    """A Delay node's delay in whole steps, ``round(delay / dt)`` (int32, node-shaped)."""
    return np.rint(np.asarray(node.delay, np.float64) / dt).astype(np.int32)


class Overshoot(NamedTuple):
    """A time constant shorter than dt: forward Euler overshoots rest (dt/tau > 1)."""

    node: str
    kind: str
    field: str    # "tau", "tau_mem" or "tau_syn"
    tau: float    # the field's smallest value [s]
    ratio: float  # dt / tau, its largest value


def overshoots(graph: Graph, dt: float) -> list[Overshoot]:
    """Every neuron time constant shorter than dt, by node (graph order), then field."""
    out = []
    for name, node in graph.nodes.items():
        for field in _TAU_FIELDS:
            tau = getattr(node, field, None) if node.kind in NEURON_KINDS else None
            if tau is None or np.size(tau) == 0:
                continue
            smallest = np.float64(np.min(tau))
            with np.errstate(divide="ignore"):
                ratio = float(dt / smallest)  # = max(dt / tau): division rounds monotonically
            if ratio > 1:
                out.append(Overshoot(name, node.kind, field, float(smallest), ratio))
    return out


@dataclasses.dataclass(frozen=True)
class Discretized:
    """Per-step decay fractions (forward Euler) of each neuron node the quantizer maps."""

    dt: float
    a_syn: dict[str, np.ndarray]  # dt / tau_syn (CubaLIF, CubaLI)
    a_mem: dict[str, np.ndarray]  # dt / tau or dt / tau_mem (0 for IF)


def check_step(graph: Graph, dt: float) -> None:
    """Refuse (QuantizationError) a dt that is not positive, or longer than a time
    constant: forward Euler overshoots there and no integer decay can express it."""
    if not (dt > 0 and math.isfinite(dt)):
        raise QuantizationError(f"dt must be a positive number of seconds, got {dt}")
    over = overshoots(graph, dt)
    if over:
        first = ([o for o in over if o.field == "tau_syn"] or over)[0]  # currents before membranes
        shortest = min(over, key=lambda o: o.tau)
        raise QuantizationError(
            f"node '{first.node}': dt = {dt:g} s is longer than its time constant {first.field} "
            f"= {first.tau:.3g} s (dt/tau = {first.ratio:.3g}); dt must not exceed any "
            "time constant (forward Euler overshoots beyond it and no decay can express it). "
            f"Use --dt {shortest.tau:.3g} or smaller (node '{shortest.node}' "
            f"{shortest.field})")


def discretize(graph: Graph, dt: float) -> Discretized:
    """Time constants to per-step decay fractions (forward Euler, as the reference),
    after ``check_step``."""
    check_step(graph, dt)
    a_syn, a_mem = {}, {}
    for name, node in graph.nodes.items():
        if node.kind in ("CubaLIF", "CubaLI", "LIF", "LI", "IF"):
            f = factors(node, dt)
            a_mem[name] = f.a_mem
            if f.a_syn is not None:
                a_syn[name] = f.a_syn
    return Discretized(dt, a_syn, a_mem)
