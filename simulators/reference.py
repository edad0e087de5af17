"""Float reference simulator of an ``ir.Graph``, in JAX.

An interpreter: one step rule per node kind (``STEP_RULES``), one ``jit``-ed
``lax.scan`` over time, a batch axis. It is the ground truth that ``verify``
compares chips and emulators against, so its semantics are stated here once
and recorded in every result:

* **Time.** Continuous-time NIR neurons are discretized with a step ``dt``
  (seconds) by ``ir.dynamics`` (the factors the quantizer uses too).
  ``euler``: forward Euler, what snnTorch and Norse compute. ``exact``: the
  exponential integrator, exact for input held constant over a step
  (zero-order hold).
* **CubaLIF/CubaLI order.** The synaptic current is updated first and the new
  current drives the membrane in the same step (snnTorch and the vendor
  simulators; REFERENCE 1.8).
* **Threshold.** ``v > v_threshold`` (NIR spec; ``>=`` on request).
* **Reset.** ``nir``: ``v <- v_reset`` (zero when the file has none, NIR PR
  #129); ``subtract``: ``v <- v - v_threshold`` on request.
* **Recurrence.** An edge that closes a cycle carries its source's value of
  the previous step (zero at the first step); see ``ir.graph``.
* **Delay.** ``round(delay / dt)`` whole steps (``ir.dynamics.delay_steps``).
* Edges into one node are summed; a synapse adds no delay.

Float32 by default; float64 on request, enabled only while this simulator
traces and runs (``jax.enable_x64`` as a context), never globally.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neurocc.ir import Graph, SimulationError, dynamics, nodes as N
from neurocc.ir.inputs import check_inputs, resolve_dt

RECURRENCE_RULE = ("an edge that closes a cycle (depth-first from the inputs, names in order) "
                   "carries its source's previous-step value; zero at the first step")


@dataclasses.dataclass
class Result:
    #: output per Output node, time-major [T, B, *shape], numpy
    outputs: dict[str, np.ndarray]
    #: recorded state per node: {node: {"v": [T,B,...], "i": [T,B,...], "out": [T,B,...]}}
    traces: dict[str, dict[str, np.ndarray]]
    #: the semantics used, JSON-able (dt, integrator, reset, threshold, recurrence, ...)
    semantics: dict[str, Any]
    #: things worth a user's attention (e.g. a dt too large for a time constant)
    warnings: list[str] = dataclasses.field(default_factory=list)


class Options(NamedTuple):
    dt: float
    integrator: str
    threshold: str
    reset: str


# --- one rule per node kind -------------------------------------------------
# A rule has `prepare(node, shapes, opts) -> params` (numpy, float64; done once),
# `init(params, batch, dtype) -> state` and
# `step(params, state, x, opts) -> (state, out, trace)`.


class Rule(NamedTuple):
    prepare: Callable[..., dict[str, np.ndarray]]
    init: Callable[..., tuple]
    step: Callable[..., tuple]


STEP_RULES: dict[str, Rule] = {}


def _stateless(fn: Callable) -> Rule:
    return Rule(prepare=lambda node, shapes, opts: {k: np.asarray(v) for k, v in node.params().items()
                                                    if np.asarray(v).dtype.kind in "fiub"},
                init=lambda p, batch, dtype: (),
                step=lambda p, s, x, opts: ((), fn(p, x, opts), {}))


def _spike(v: jax.Array, threshold: jax.Array, opts: Options) -> jax.Array:
    return (v >= threshold) if opts.threshold == ">=" else (v > threshold)


def _after_spike(v: jax.Array, s: jax.Array, p: dict, opts: Options) -> jax.Array:
    if opts.reset == "subtract":
        return v - jnp.where(s, p["v_threshold"], 0.0)
    return jnp.where(s, p["v_reset"], v)


def _threshold_reset(node: N.Node) -> dict[str, np.ndarray]:
    if not node.spiking:
        return {}
    return {"v_threshold": np.asarray(node.v_threshold), "v_reset": node.reset_value()}


def _prep_membrane(node: N.Node, shapes: Any, opts: Options) -> dict[str, np.ndarray]:
    """LIF / LI / IF / I:  v' = keep v + leak + gain x  (factors from ``ir.dynamics``)."""
    f = dynamics.factors(node, opts.dt, opts.integrator)
    return {"keep": f.v_keep, "leak": f.v_rest, "gain": f.x_to_v} | _threshold_reset(node)


def _prep_cuba(node: N.Node, shapes: Any, opts: Options) -> dict[str, np.ndarray]:
    """CubaLIF / CubaLI: current first, then the membrane sees the new current.

    i' = i_keep i + i_gain x;  v' = keep v + leak + i_to_v i + x_to_v x  (factors from
    ``ir.dynamics``, Euler or exact).
    """
    f = dynamics.factors(node, opts.dt, opts.integrator)
    return {"i_keep": f.i_keep, "i_gain": f.i_in, "keep": f.v_keep, "leak": f.v_rest,
            "i_to_v": f.i_to_v, "x_to_v": f.x_to_v} | _threshold_reset(node)


def _membrane_rule(prepare: Callable, spiking: bool) -> Rule:
    def init(p, batch, dtype):
        return (jnp.zeros((batch,) + p["keep"].shape, dtype),)

    def step(p, state, x, opts):
        v = p["keep"] * state[0] + p["leak"] + p["gain"] * x
        if not spiking:
            return (v,), v, {"v": v}
        s = _spike(v, p["v_threshold"], opts)
        v = _after_spike(v, s, p, opts)
        return (v,), s.astype(v.dtype), {"v": v}
    return Rule(prepare, init, step)


def _cuba_rule(spiking: bool) -> Rule:
    def init(p, batch, dtype):
        z = jnp.zeros((batch,) + p["keep"].shape, dtype)
        return (z, z)

    def step(p, state, x, opts):
        i, v = state
        # written in the (i, v) -> (i', v') form so Euler and exact share one rule
        i_new = p["i_keep"] * i + p["i_gain"] * x
        v = p["keep"] * v + p["leak"] + p["i_to_v"] * i + p["x_to_v"] * x
        if not spiking:
            return (i_new, v), v, {"i": i_new, "v": v}
        s = _spike(v, p["v_threshold"], opts)
        v = _after_spike(v, s, p, opts)
        return (i_new, v), s.astype(v.dtype), {"i": i_new, "v": v}
    return Rule(_prep_cuba, init, step)


def _conv(p: dict, x: jax.Array, ndim: int) -> jax.Array:
    spatial = "HW"[:ndim] if ndim == 2 else "H"
    dn = ("NC" + spatial, "OI" + spatial, "NC" + spatial)
    y = jax.lax.conv_general_dilated(
        x, p["weight"].astype(x.dtype), window_strides=tuple(int(s) for s in p["stride"]),
        padding=[(int(q), int(q)) for q in p["pad"]], rhs_dilation=tuple(int(d) for d in p["dilation"]),
        dimension_numbers=dn, feature_group_count=int(p["groups"]),
        precision=jax.lax.Precision.HIGHEST)
    return y + p["bias"].reshape((1, -1) + (1,) * ndim).astype(x.dtype)


def _prep_conv(node: N.Node, shapes: Any, opts: Options) -> dict[str, np.ndarray]:
    bias = np.asarray(node.bias) if node.bias is not None else np.zeros(np.shape(node.weight)[0])
    return {"weight": np.asarray(node.weight), "bias": np.broadcast_to(bias, (np.shape(node.weight)[0],)),
            "stride": np.asarray(node._hyper("stride")), "dilation": np.asarray(node._hyper("dilation")),
            "pad": np.asarray(node.padding_amounts()), "groups": np.asarray(int(node.groups))}


def _prep_pool(node: N.Node, shapes: Any, opts: Options) -> dict[str, np.ndarray]:
    two = lambda a: np.resize(np.atleast_1d(np.asarray(a, np.int64)), 2)  # noqa: E731
    k = two(node.kernel_size)
    return {"kernel": k, "stride": two(node.stride), "pad": two(node.padding),
            "div": np.asarray(float(np.prod(k)) if node.kind == "AvgPool2d" else 1.0)}


def _pool(p: dict, x: jax.Array) -> jax.Array:
    k, s, q = (tuple(int(a) for a in p[n]) for n in ("kernel", "stride", "pad"))
    y = jax.lax.reduce_window(x, jnp.zeros((), x.dtype), jax.lax.add, (1, 1) + k, (1, 1) + s,
                              [(0, 0), (0, 0)] + [(a, a) for a in q])
    return y / p["div"].astype(x.dtype)


def _prep_delay(node: N.Node, shapes: Any, opts: Options) -> dict[str, np.ndarray]:
    steps = dynamics.delay_steps(node, opts.dt)
    return {"steps": steps, "depth": np.asarray(int(steps.max(initial=0)) + 1)}


def _delay_rule() -> Rule:
    def init(p, batch, dtype):
        return (jnp.zeros((int(p["depth"]), batch) + p["steps"].shape, dtype),)

    def step(p, state, x, opts):
        buf = jnp.concatenate([x[None], state[0][:-1]], axis=0)  # buf[k] = x(t - k)
        y = jnp.take_along_axis(buf, jnp.broadcast_to(p["steps"], buf.shape[1:])[None], axis=0)[0]
        return (buf,), y, {}
    return Rule(_prep_delay, init, step)


def _matmul(p: dict, x: jax.Array) -> jax.Array:
    return jnp.matmul(x, p["weight"].T.astype(x.dtype), precision=jax.lax.Precision.HIGHEST)


def _no_state(p: dict, batch: int, dtype: Any) -> tuple:
    return ()


STEP_RULES.update({
    "Input": _stateless(lambda p, x, o: x),
    "Output": _stateless(lambda p, x, o: x),
    "Identity": _stateless(lambda p, x, o: x),
    "Affine": _stateless(lambda p, x, o: _matmul(p, x) + p["bias"].astype(x.dtype)),
    "Linear": _stateless(lambda p, x, o: _matmul(p, x)),
    "Scale": _stateless(lambda p, x, o: p["scale"].astype(x.dtype) * x),
    "Threshold": _stateless(lambda p, x, o: _spike(x, p["threshold"].astype(x.dtype), o).astype(x.dtype)),
    "Flatten": Rule(lambda node, shapes, opts: {}, _no_state, lambda p, s, x, o: ((), x, {})),
    "Conv1d": Rule(_prep_conv, _no_state, lambda p, s, x, o: ((), _conv(p, x, 1), {})),
    "Conv2d": Rule(_prep_conv, _no_state, lambda p, s, x, o: ((), _conv(p, x, 2), {})),
    "SumPool2d": Rule(_prep_pool, _no_state, lambda p, s, x, o: ((), _pool(p, x), {})),
    "AvgPool2d": Rule(_prep_pool, _no_state, lambda p, s, x, o: ((), _pool(p, x), {})),
    "Delay": _delay_rule(),
    "LIF": _membrane_rule(_prep_membrane, spiking=True),
    "LI": _membrane_rule(_prep_membrane, spiking=False),
    "IF": _membrane_rule(_prep_membrane, spiking=True),
    "I": _membrane_rule(_prep_membrane, spiking=False),
    "CubaLIF": _cuba_rule(spiking=True),
    "CubaLI": _cuba_rule(spiking=False),
})


# --- the driver ---------------------------------------------------------------


class ReferenceSimulator:
    """A graph compiled for one set of options; reuse it to avoid re-tracing.

    ``run(inputs)`` traces and compiles on the first call for a given input
    shape (JAX caches the rest), so timing the second call measures the run.
    """

    def __init__(self, graph: Graph, dt: float | None = None, *, integrator: str = "euler",
                 dtype: str = "float32", record: tuple[str, ...] | list[str] = (),
                 threshold: str = ">", reset: str = "nir") -> None:
        self.graph = graph
        dt = resolve_dt(dt, graph.metadata)
        for name, value, allowed in (("integrator", integrator, ("euler", "exact")),
                                     ("dtype", dtype, ("float32", "float64")),
                                     ("threshold", threshold, (">", ">=")),
                                     ("reset", reset, ("nir", "subtract"))):
            if value not in allowed:
                raise SimulationError(f"{name} must be one of {list(allowed)}, got {value!r}")
        missing = [r for r in record if r not in graph.nodes]
        if missing:
            raise SimulationError(f"cannot record {missing}: no such node; nodes are "
                                  f"{sorted(graph.nodes)}")
        self.options = Options(dt, integrator, threshold, reset)
        self.dtype = dtype
        self.record = tuple(record)
        rules = STEP_RULES
        shapes = graph.shapes
        self.rules = {}
        self.params: dict[str, dict[str, np.ndarray]] = {}
        for name in graph.order:
            node = graph.nodes[name]
            if node.kind not in rules:
                raise SimulationError(f"node '{name}': no reference rule for {node.kind}")
            self.rules[name] = rules[node.kind]
            self.params[name] = rules[node.kind].prepare(node, shapes[name], self.options)
        self.warnings = _stability_warnings(graph, self.options)
        self._compiled: dict[Any, Callable] = {}

    @property
    def semantics(self) -> dict[str, Any]:
        o = self.options
        return {
            "simulator": "neurocc.reference", "dt": o.dt, "integrator":
            {"euler": "forward Euler", "exact": "exponential (zero-order hold)"}[o.integrator],
            "dtype": self.dtype, "threshold": f"v {o.threshold} v_threshold",
            "reset": {"nir": "v <- v_reset (0 when absent)", "subtract": "v <- v - v_threshold"}[o.reset],
            "cuba_order": "current first; membrane uses the new current (as snnTorch)",
            "recurrence": RECURRENCE_RULE, "synaptic_latency_steps": 0,
        }

    def _build(self, batch: int) -> Callable:
        g, rules, params, opts = self.graph, self.rules, self.params, self.options
        shapes = g.shapes
        preds = {n: g.predecessors(n) for n in g.order}
        rec = g.recurrent_edges
        rec_sources = sorted({a for a, _ in rec})
        outputs, record = g.outputs, self.record
        dtype = jnp.float64 if self.dtype == "float64" else jnp.float32

        def step(carry, x_t):
            states, prev = carry
            outs, new_states, traces = {}, {}, {}
            for name in g.order:
                rule = rules[name]
                if name in x_t:
                    x = x_t[name]
                else:
                    parts = [(prev[p] if (p, name) in rec else outs[p]).reshape(
                        (batch,) + shapes[name].input) for p in preds[name]]
                    x = parts[0]
                    for extra in parts[1:]:
                        x = x + extra
                new_states[name], y, tr = rule.step(params[name], states[name], x, opts)
                outs[name] = y
                if name in record:
                    traces[name] = dict(tr, out=y)
            carry = (new_states, {p: outs[p] for p in rec_sources})
            return carry, ({o: outs[o] for o in outputs}, traces)

        def simulate(xs):
            states = {n: rules[n].init(params[n], batch, dtype) for n in g.order}
            prev = {p: jnp.zeros((batch,) + shapes[p].output, dtype) for p in rec_sources}
            _, ys = jax.lax.scan(step, (states, prev), xs)
            return ys

        with jax.enable_x64(self.dtype == "float64"):
            # float parameters become device arrays of the run's dtype; integer ones
            # (strides, padding, delays) stay numpy so they remain static under jit
            params = jax.tree_util.tree_map(
                lambda a: jnp.asarray(a, dtype) if np.asarray(a).dtype.kind == "f" else np.asarray(a),
                params)
        return jax.jit(simulate)

    def run(self, inputs: np.ndarray | dict[str, np.ndarray]) -> Result:
        xs = _check_inputs(self.graph, inputs)
        steps, batch = next(iter(xs.values())).shape[:2]
        with jax.enable_x64(self.dtype == "float64"):
            fn = self._compiled.get(batch)
            if fn is None:
                fn = self._compiled[batch] = self._build(batch)
            dtype = np.float64 if self.dtype == "float64" else np.float32
            outs, traces = fn({k: jnp.asarray(v, dtype) for k, v in xs.items()})
            outs = {k: np.asarray(v) for k, v in outs.items()}
            traces = {n: {k: np.asarray(v) for k, v in tr.items()} for n, tr in traces.items()}
        return Result(outs, traces, self.semantics, list(self.warnings))


def run(graph: Graph, inputs: np.ndarray | dict[str, np.ndarray], dt: float | None = None, *,
        integrator: str = "euler", dtype: str = "float32", record: tuple[str, ...] = (),
        threshold: str = ">", reset: str = "nir") -> Result:
    """Simulate `graph` on `inputs` ([T, B, *input_shape], or {input name: array}).

    dt: seconds per step (None: ``graph.metadata['dt']``, else a SimulationError
    that says to pass --dt). See the module docstring for every semantic choice.
    """
    sim = ReferenceSimulator(graph, dt, integrator=integrator, dtype=dtype, record=record,
                             threshold=threshold, reset=reset)
    return sim.run(inputs)


def _check_inputs(graph: Graph, inputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return check_inputs({n: graph.shapes[n].output for n in graph.inputs}, inputs)


def _stability_warnings(graph: Graph, opts: Options) -> list[str]:
    if opts.integrator != "euler":
        return []
    return [f"{o.kind} '{o.node}': dt = {opts.dt:g} s exceeds {o.field} = {o.tau:g} s; forward Euler "
            f"overshoots (dt/tau = {o.ratio:.2f} > 1). Check dt, or use --integrator exact"
            for o in dynamics.overshoots(graph, opts.dt)]
