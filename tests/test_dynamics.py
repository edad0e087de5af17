"""ir.dynamics: time constants to per-step factors, against numbers worked out by hand.

dt = 0.25 s and time constants of 0.5 s and 1 s keep every Euler factor exact
in binary, so those are compared with ==; the exact integrator's are written
from e^-0.25 = 0.7788007830714049 and e^-0.5 = 0.6065306597126334 and checked
again against a fine Runge-Kutta integration of the NIR equations.
"""

from __future__ import annotations

import numpy as np
import pytest

from neurocc import ir
from neurocc.ir import QuantizationError, dynamics
from neurocc.simulators import calibration, reference

A = np.array
DT = 0.25
E_M = 0.7788007830714049  # e^-0.25 = exp(-dt/tau_mem), tau_mem = 1
E_S = 0.6065306597126334  # e^-0.5  = exp(-dt/tau_syn), tau_syn = 0.5


def approx(values: list[float]):
    return pytest.approx(values, rel=1e-12, abs=1e-15)


def lif(tau=(1.0, 0.5), kind=ir.LIF) -> ir.Node:
    extra = {"v_threshold": A([1.0, 1.0])} if kind is ir.LIF else {}
    return kind(tau=A(tau), r=A([2.0, 4.0]), v_leak=A([0.5, -1.0]), **extra)


def cuba(tau_syn=0.5, tau_mem=1.0, w_in=3.0, kind=ir.CubaLIF) -> ir.Node:
    extra = {"v_threshold": A([10.0])} if kind is ir.CubaLIF else {}
    return kind(tau_syn=A([tau_syn]), tau_mem=A([tau_mem]), r=A([2.0]), v_leak=A([0.5]),
                w_in=None if w_in is None else A([w_in]), **extra)


def chain(node: ir.Node, n: int = 1) -> ir.Graph:
    nodes = {"in": ir.Input(shape=A([n])), "w": ir.Linear(weight=np.eye(n)), "n": node,
             "out": ir.Output(shape=A([n]))}
    return ir.Graph(nodes, [("in", "w"), ("w", "n"), ("n", "out")])


# --- each neuron kind, both integrators -----------------------------------------


@pytest.mark.parametrize("kind", [ir.LIF, ir.LI])
def test_leaky_euler(kind) -> None:
    # a = dt/tau = 0.25, 0.5;  v_keep = 1 - a;  v_rest = a v_leak;  x_to_v = a r
    f = dynamics.factors(lif(kind=kind), DT)
    assert f.a_mem.tolist() == [0.25, 0.5] and f.v_keep.tolist() == [0.75, 0.5]
    assert f.v_rest.tolist() == [0.125, -0.5] and f.x_to_v.tolist() == [0.5, 2.0]
    assert f.a_syn is None and f.i_keep is None and f.i_to_v is None


@pytest.mark.parametrize("kind", [ir.LIF, ir.LI])
def test_leaky_exact(kind) -> None:
    # a = 1 - e^-dt/tau:  1 - e^-0.25, 1 - e^-0.5
    f = dynamics.factors(lif(kind=kind), DT, "exact")
    assert f.a_mem.tolist() == approx([0.2211992169285951, 0.3934693402873666])
    assert f.v_keep.tolist() == approx([E_M, E_S])
    assert f.v_rest.tolist() == approx([0.5 * 0.2211992169285951, -0.3934693402873666])
    assert f.x_to_v.tolist() == approx([2 * 0.2211992169285951, 4 * 0.3934693402873666])
    # v(dt) = v_inf + (v0 - v_inf) e^-dt/tau with v_inf = v_leak + r x, for x held over the step
    v0, x = A([0.3, -0.2]), A([0.7, 1.1])
    v_inf = A([0.5, -1.0]) + A([2.0, 4.0]) * x
    assert f.v_keep * v0 + f.v_rest + f.x_to_v * x == pytest.approx(
        v_inf + (v0 - v_inf) * A([E_M, E_S]), rel=1e-12)


@pytest.mark.parametrize("kind", [ir.CubaLIF, ir.CubaLI])
def test_cuba_euler(kind) -> None:
    # a_s = 0.25/0.5 = 0.5, a_m = 0.25/1 = 0.25, r = 2, w_in = 3, v_leak = 0.5:
    # i' = 0.5 i + 1.5 x;  v' = 0.75 v + 0.125 + 0.5 i' = 0.75 v + 0.125 + 0.25 i + 0.75 x
    f = dynamics.factors(cuba(kind=kind), DT)
    assert (f.a_syn.tolist(), f.a_mem.tolist()) == ([0.5], [0.25])
    assert (f.i_keep.tolist(), f.i_in.tolist()) == ([0.5], [1.5])
    assert (f.v_keep.tolist(), f.v_rest.tolist()) == ([0.75], [0.125])
    assert (f.i_to_v.tolist(), f.x_to_v.tolist()) == ([0.25], [0.75])
    plain = dynamics.factors(cuba(w_in=None, kind=kind), DT)  # no w_in: 1
    assert (plain.i_in.tolist(), plain.x_to_v.tolist()) == ([0.5], [0.25])


def rk4_cuba(i0, v0, x, tau_syn, tau_mem, r=2.0, w_in=3.0, v_leak=0.5, steps=2000):
    """The NIR CubaLIF equations over one dt, x held, by classical Runge-Kutta."""
    def deriv(i, v):
        return (-i + w_in * x) / tau_syn, (v_leak - v + r * i) / tau_mem
    h = DT / steps
    i, v = i0, v0
    for _ in range(steps):
        k1 = deriv(i, v)
        k2 = deriv(i + h / 2 * k1[0], v + h / 2 * k1[1])
        k3 = deriv(i + h / 2 * k2[0], v + h / 2 * k2[1])
        k4 = deriv(i + h * k3[0], v + h * k3[1])
        i = i + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        v = v + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    return i, v


@pytest.mark.parametrize("kind", [ir.CubaLIF, ir.CubaLI])
def test_cuba_exact(kind) -> None:
    # K = tau_s/(tau_s - tau_m) (e_s - e_m) = 0.5/(-0.5) (E_S - E_M) = E_M - E_S
    k = E_M - E_S
    f = dynamics.factors(cuba(kind=kind), DT, "exact")
    assert f.a_syn.tolist() == approx([1 - E_S]) and f.a_mem.tolist() == approx([1 - E_M])
    assert f.i_keep.tolist() == approx([E_S]) and f.i_in.tolist() == approx([3 * (1 - E_S)])
    assert f.v_keep.tolist() == approx([E_M]) and f.v_rest.tolist() == approx([0.5 * (1 - E_M)])
    assert f.i_to_v.tolist() == approx([2 * k])                        # 0.344540246717543
    assert f.x_to_v.tolist() == approx([6 * (1 - 2 * E_M + E_S)])      # 0.2935745614189416
    i0, v0, x = 0.4, -0.3, 0.9
    i1, v1 = rk4_cuba(i0, v0, x, 0.5, 1.0)
    assert f.i_keep[0] * i0 + f.i_in[0] * x == pytest.approx(i1, rel=1e-10)
    assert f.v_keep[0] * v0 + f.v_rest[0] + f.i_to_v[0] * i0 + f.x_to_v[0] * x == pytest.approx(v1, rel=1e-10)


def test_cuba_exact_with_equal_time_constants() -> None:
    # tau_syn = tau_mem = 1: K -> (dt/tau) e^-dt/tau = 0.25 E_M;  w_in = 1
    f = dynamics.factors(cuba(tau_syn=1.0, tau_mem=1.0, w_in=None), DT, "exact")
    assert f.i_to_v.tolist() == approx([2 * 0.25 * E_M])               # 0.38940039153570244
    assert f.x_to_v.tolist() == approx([2 * (1 - 1.25 * E_M)])         # 0.05299804232148776
    i1, v1 = rk4_cuba(0.4, -0.3, 0.9, 1.0, 1.0, w_in=1.0)
    assert f.v_keep[0] * -0.3 + f.v_rest[0] + f.i_to_v[0] * 0.4 + f.x_to_v[0] * 0.9 == pytest.approx(
        v1, rel=1e-10)


@pytest.mark.parametrize("integrator", dynamics.INTEGRATORS)
@pytest.mark.parametrize("node", [ir.IF(r=A([2.0, 4.0]), v_threshold=A([1.0, 1.0])), ir.I(r=A([2.0, 4.0]))])
def test_integrators_have_no_decay(node, integrator) -> None:
    # dv/dt = r x: v' = v + dt r x under both integrators
    f = dynamics.factors(node, DT, integrator)
    assert f.a_mem.tolist() == [0.0, 0.0] and f.v_keep.tolist() == [1.0, 1.0]
    assert f.v_rest.tolist() == [0.0, 0.0] and f.x_to_v.tolist() == [0.5, 1.0]


def test_delay_steps_round_half_to_even() -> None:
    node = ir.Delay(delay=A([0.0, 0.25, 0.5, 0.125, 0.375, 0.625, 1.0]))
    assert dynamics.delay_steps(node, DT).tolist() == [0, 1, 2, 0, 2, 2, 4]
    assert dynamics.delay_steps(ir.Delay(delay=A([0.3])), 0.1).tolist() == [3]  # 2.9999999999999996


def test_factors_refuses_what_it_cannot_discretize() -> None:
    with pytest.raises(ValueError, match="integrator"):
        dynamics.factors(lif(), DT, "rk4")
    with pytest.raises(ValueError, match="dt must be a positive"):
        dynamics.factors(lif(), 0.0)
    with pytest.raises(ValueError, match="no time constants"):
        dynamics.factors(ir.Scale(scale=A([1.0])), DT)


# --- the quantizer's discretize ---------------------------------------------------


def test_discretize_gives_the_quantizer_its_fractions() -> None:
    nodes = {"in": ir.Input(shape=A([1])), "c": cuba(),
             "l": ir.LIF(tau=A([0.5]), r=A([1.0]), v_leak=A([0.0]), v_threshold=A([1.0])),
             "f": ir.IF(r=A([1.0]), v_threshold=A([1.0])), "i": ir.I(r=A([1.0])),
             "out": ir.Output(shape=A([1]))}
    g = ir.Graph(nodes, [("in", "c"), ("c", "l"), ("l", "f"), ("f", "i"), ("i", "out")])
    d = dynamics.discretize(g, DT)
    assert d.dt == DT and list(d.a_syn) == ["c"] and list(d.a_mem) == ["c", "l", "f"]  # no I
    assert (d.a_syn["c"].tolist(), d.a_mem["c"].tolist()) == ([0.5], [0.25])
    assert (d.a_mem["l"].tolist(), d.a_mem["f"].tolist()) == ([0.5], [0.0])


def test_dt_longer_than_tau_is_refused_with_the_quantizers_message() -> None:
    g = chain(ir.LIF(tau=A([5e-4]), r=A([1.0]), v_leak=A([0.0]), v_threshold=A([1.0])))
    with pytest.raises(QuantizationError) as err:
        dynamics.discretize(g, 1e-3)
    assert str(err.value) == (
        "node 'n': dt = 0.001 s is longer than its time constant tau = 0.0005 s (dt/tau = 2); "
        "dt must not exceed any time constant (forward Euler overshoots beyond it and no decay "
        "can express it). Use --dt 0.0005 or smaller (node 'n' tau)")
    dynamics.discretize(g, 5e-4)  # dt = tau: a = 1, allowed
    for bad in (0.0, -1e-3, float("inf")):
        with pytest.raises(QuantizationError, match=r"dt must be a positive number of seconds"):
            dynamics.discretize(g, bad)


def test_a_synaptic_overshoot_is_named_before_a_membrane_one() -> None:
    nodes = {"in": ir.Input(shape=A([1])),
             "l": ir.LIF(tau=A([5e-4]), r=A([1.0]), v_leak=A([0.0]), v_threshold=A([1.0])),
             "c": ir.CubaLIF(tau_syn=A([2e-4]), tau_mem=A([4e-4]), r=A([1.0]), v_leak=A([0.0]),
                             v_threshold=A([1.0])), "out": ir.Output(shape=A([1]))}
    g = ir.Graph(nodes, [("in", "l"), ("l", "c"), ("c", "out")])
    # dt/tau: l 2, c's tau_mem 2.5, c's tau_syn 5 (named, as the quantizer always did)
    with pytest.raises(QuantizationError, match=r"^node 'c': dt = 0\.001 s .*\(dt/tau = 5\)"):
        dynamics.discretize(g, 1e-3)
    assert [(o.node, o.field, o.ratio) for o in dynamics.overshoots(g, 1e-3)] == [
        ("l", "tau", 2.0), ("c", "tau_mem", 2.5), ("c", "tau_syn", 5.0)]


# --- the reference and calibration use these factors ------------------------------


def test_reference_warns_about_euler_overshoot_only_under_euler() -> None:
    g = chain(ir.LIF(tau=A([5e-4]), r=A([1.0]), v_leak=A([0.0]), v_threshold=A([1.0])))
    x = np.zeros((2, 1, 1))
    assert reference.run(g, x, dt=1e-3).warnings == [
        "LIF 'n': dt = 0.001 s exceeds tau = 0.0005 s; forward Euler overshoots (dt/tau = 2.00 > 1). "
        "Check dt, or use --integrator exact"]
    assert reference.run(g, x, dt=1e-3, integrator="exact").warnings == []
    assert reference.run(g, x, dt=5e-4).warnings == []


def test_reference_steps_a_cuba_neuron_by_these_factors() -> None:
    # i1 = 1.5, v1 = 0.125 + 0.75 = 0.875;  i2 = 0.75, v2 = 0.75 0.875 + 0.125 + 0.25 1.5 = 1.15625
    g = chain(cuba(kind=ir.CubaLI))
    res = reference.run(g, A([1.0, 0.0]).reshape(2, 1, 1), dt=DT, record=("n",), dtype="float64")
    assert res.traces["n"]["i"][:, 0, 0].tolist() == [1.5, 0.75]
    assert res.traces["n"]["v"][:, 0, 0].tolist() == [0.875, 1.15625]


def test_calibration_measures_the_current_through_a_mem() -> None:
    # peak |i| a_mem r / (v_th - v_reset) = 1.5 * 0.25 * 2 / 10 = 0.075 (v never reaches 10)
    g = chain(cuba())
    peaks = calibration.calibrate(g, A([1.0, 0.0, 0.0]).reshape(3, 1, 1), DT)
    assert peaks == {"n": pytest.approx(0.075, rel=1e-12)}
