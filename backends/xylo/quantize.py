"""Xylo's quantize rules: a float network as Xylo's hidden and readout integers.

Xylo folds every hidden layer into one population with one recurrent matrix, and
each matrix (input, recurrent, readout) has ONE weight shift, so the rules see the
whole network at once (``quantize_network``). Per neuron layer (NIR CubaLIF or LIF;
a layer read by an Output node becomes readout neurons, the others hidden ones):

    dash_syn = round(log2(tau_syn / dt)), dash_mem = round(log2(tau_mem / dt))
        (rockpool's rule; the chip's per-step decay is 2^-dash, so the report gives the
        time constant each rounding really gives, per layer)
    threshold T (one integer per layer; every neuron's scale S = T / (v_th - v_reset))
    weight    W = S r w_in 2^-dash_mem / (2^dash_syn - 1) W_float
    bias      b = S 2^-dash_mem (v_leak - v_reset + r w_in b_float)

The weight keeps, per event, the charge the float model's current delivers to v
(on the chip the current decays in the step the event arrives, and leaks into v
over 2^dash_syn - 1 steps); the bias keeps the float model's resting voltage. A LIF
has no synaptic current but Xylo always has one: it gets dash_syn = 1, the shortest
memory that does not wipe an event (dash 0 would), so half an event's charge
arrives a step late; the report says so. Weights are int8 at the shift their
matrix's largest weight needs (0..7).

What the chip does differently from the float model, and no mapping removes (see
``semantics``): subtractive reset (v keeps what exceeded the threshold, the model
resets to v_reset), several spikes per step, spike on v >= threshold, and the
asymmetric floor decay with its minimum step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from neurocc.ir import NeuronGroup, QuantizationError, SynapseBlock
from neurocc.ir.target import GroupQuantized

from .kernel import HIDDEN, READOUT

KINDS = ("LIF", "CubaLIF")
WHY_NOT = {
    "IF": "Xylo's membrane always leaks (dash_mem <= 15 leaks a unit a step); give the layer a "
          "membrane time constant (a LIF or CubaLIF)",
    "I": "Xylo's membrane always leaks; use a LIF or CubaLIF",
    "LI": "Xylo reports its readout neurons' spikes: make the readout a spiking CubaLIF or LIF",
    "CubaLI": "Xylo reports its readout neurons' spikes: make the readout a spiking CubaLIF or LIF",
    "Threshold": "Xylo has no stateless threshold neuron (use a LIF)",
    "Delay": "Xylo has no synaptic or axonal delays",
}
#: the integer threshold when neither --vth nor calibration sets one: 16 thresholds of
#: int16 headroom for the current and the voltage
DEFAULT_THRESHOLD = 2048


class XyloRules:
    """The quantize-rules table entry (see ``ir.target.QuantizeRules``)."""

    kinds = KINDS
    readout_kinds = ()
    why_not = WHY_NOT
    chained_weights = False    # one weight matrix between two neuron layers

    def __init__(self, formats: Any, chip: str = "Xylo") -> None:
        self.formats = formats
        self.chip = chip

    def semantics(self) -> dict[str, Any]:
        return {
            "integrator": "forward Euler", "neuron_model": f"{HIDDEN} (hidden), {READOUT} (readout)",
            "reset": "subtractive on the chip (v keeps what exceeded the threshold); the model "
                     "resets to v_reset",
            "threshold": "v >= threshold on the chip (NIR: v > v_threshold)",
            "spikes": "a hidden neuron spikes up to 31 times a step (the model: once); a readout "
                      "once",
            "decay": "x -= max(x >> dash, [x > 0]): 2^-dash per step, floored, at least one "
                     "unit for positive x",
            "latency": "an input reaches the first layer in its step; every later layer one "
                       "step later",
        }

    def tuning_knobs(self, program: Any) -> list[tuple[str, str, list[int]]]:
        """What ``compiler.api.tune`` may try, per layer: each decay rounded the other way
        (down or up from round(log2(tau/dt))), and the threshold at 1/4, 1/2 and 2 times."""
        knobs = []
        report = program.info.get("quantization", {}).get("groups", {})
        for g, r in report.items():
            for dash, tau, low in (("dash_mem", "tau_mem_s", 0), ("dash_syn", "tau_syn_s", 1)):
                if tau not in r or isinstance(r[tau], list) or isinstance(r[dash], list):
                    continue   # per-neuron time constants: left as rounded
                exact = float(np.log2(r[tau] / program.dt))
                other = [d for d in (math.floor(exact), math.ceil(exact))
                         if d != r[dash] and low <= d <= self.formats.dash_max]
                if other:
                    knobs.append((g, dash, other))
            t = int(r["threshold"])
            knobs.append((g, "threshold", sorted({max(1, min(self.formats.state_max, int(t * k)))
                                                  for k in (0.25, 0.5, 2.0)} - {t})))
        return knobs

    def deferred_error(self, deferred: list[Any]) -> Exception:
        return QuantizationError("; ".join(str(d) for d in deferred))

    def quantize_group(self, ctx: Any) -> GroupQuantized:
        return self.quantize_network([ctx])[0]

    def quantize_network(self, contexts: list[Any]) -> list[GroupQuantized]:
        f = self.formats
        names = [c.name for c in contexts]
        readouts = [c.name for c in contexts if c.outputs]
        for c in contexts:
            if c.outputs and c.feeds:
                raise QuantizationError(
                    f"node '{c.name}' is read by {list(c.outputs)} and also feeds "
                    f"{list(c.feeds)}: {self.chip}'s rule 'readout neurons not recurrent' (its "
                    "outputs are readout neurons, whose spikes go nowhere else). Read the "
                    "output from a layer that feeds no neuron, or remove its outgoing and "
                    "recurrent weights")
        direct = [c.name for c in contexts if c.outputs and any(
            i.source not in names and not i.is_bias for i in c.incoming)]
        if direct:
            raise QuantizationError(
                f"readout layer '{direct[0]}' is fed by the input directly: {self.chip}'s rule "
                "'inputs reach hidden neurons only' (input weights end on hidden neurons, and "
                "readouts read hidden neurons). Put a hidden layer between the input and "
                f"'{direct[0]}'")
        if not readouts or len(readouts) == len(contexts):
            raise QuantizationError(
                f"{self.chip}'s rule 'at least two neuron layers': a network runs as hidden "
                f"neurons feeding readout neurons, and this one has {len(contexts)} neuron "
                f"layer(s), {len(readouts)} of them read by an Output node ({names}). Add a "
                "hidden layer before the readout, or an Output node on the last layer")
        plans = [self._plan(c) for c in contexts]
        # one shift per matrix: input -> hidden, hidden -> hidden, hidden -> readout
        matrix = {}
        for c, plan in zip(contexts, plans):
            for inc, wf in plan["weights"]:
                # readouts are fed by hidden layers only (refused above otherwise)
                matrix[inc.name] = ("out" if c.outputs else
                                    "rec" if inc.source in names else "in")
        peaks: dict[str, float] = {}
        for plan in plans:
            for inc, wf in plan["weights"]:
                k = matrix[inc.name]
                peaks[k] = max(peaks.get(k, 0.0), float(np.max(np.abs(wf), initial=0.0)))
        shifts = {}
        for k, peak in peaks.items():
            shift = max(0, math.ceil(math.log2(peak / f.weight_max))) if peak > 0 else 0
            if shift > f.weight_shift_max:
                worst = max((p for p in plans for inc, wf in p["weights"] if matrix[inc.name] == k),
                            key=lambda p: max((float(np.max(np.abs(wf), initial=0)) for _, wf in
                                               p["weights"]), default=0))
                fit = int(worst["threshold"] / 2 ** (shift - f.weight_shift_max) * (1 - 1e-9))
                raise QuantizationError(
                    f"the {k} weights need a shift of {shift} (largest {peak:.4g} integer units; "
                    f"{self.chip} holds at most {f.weight_max} << {f.weight_shift_max}); use "
                    f"--vth {max(fit, 1)} or lower (layer '{worst['name']}' has threshold "
                    f"{worst['threshold']}) so every weight fits, with fewer levels per threshold")
            shifts[k] = shift
        order = {n: i for i, n in enumerate(names)}
        out = []
        for c, plan in zip(contexts, plans):
            blocks, reports = [], {}
            # presynaptic order on the chip: input channels first, then hidden neurons by index
            ranked = sorted(plan["weights"], key=lambda iw: (iw[0].source in order,
                                                             order.get(iw[0].source, -1)))
            for inc, wf in ranked:
                shift = shifts[matrix[inc.name]]
                mant = np.clip(np.rint(wf / 2.0 ** shift), -f.weight_max - 1, f.weight_max)
                got = mant * 2.0 ** shift
                noise, signal = float(np.sum((wf - got) ** 2)), float(np.sum(wf ** 2))
                sqnr = ("inf" if noise == 0 else round(10 * math.log10(signal / noise), 2)
                        if signal > 0 else None)
                density = float(np.count_nonzero(mant)) / max(mant.size, 1)
                blocks.append(SynapseBlock(inc.name, inc.source, c.name, mant.astype(np.int32),
                                           shift, f.weight_bits, "mixed", 0, "dense"))
                reports[inc.name] = {
                    "matrix": matrix[inc.name], "weight_shift": shift, "sqnr_db": sqnr,
                    "nonzero": int(np.count_nonzero(mant)), "density": round(density, 4),
                    "lost_to_zero": int(np.count_nonzero((wf != 0) & (mant == 0))),
                    "saturated": int(np.count_nonzero(np.abs(np.rint(wf / 2.0 ** shift))
                                                      > f.weight_max + 0.5))}
            out.append(GroupQuantized(plan["group"], blocks, plan["report"], reports, None,
                                      plan["notes"]))
        return out

    def _plan(self, ctx: Any) -> dict[str, Any]:
        """One layer's decays, threshold, bias and float weights in integer units."""
        f, g, node = self.formats, ctx.name, ctx.node
        n = int(np.prod(ctx.shape))
        flat = lambda a: np.broadcast_to(np.asarray(a, np.float64), ctx.shape).ravel()  # noqa: E731
        force = ctx.options.force.get(g, {})
        notes: list[str] = []
        a_m = flat(ctx.a_mem)
        dash_mem = np.clip(np.rint(np.log2(1.0 / a_m)), 0, f.dash_max).astype(np.int32)
        if node.kind == "CubaLIF":
            a_s = flat(ctx.a_syn)
            dash_syn = np.clip(np.rint(np.log2(1.0 / a_s)), 0, f.dash_max).astype(np.int32)
            if np.any(dash_syn == 0):
                notes.append(f"node '{g}': tau_syn/dt rounds to dash_syn 0 for "
                             f"{int(np.sum(dash_syn == 0))} neuron(s), which wipes an event in the "
                             "step it arrives; they get dash_syn 1 (half the charge a step later)")
                dash_syn = np.maximum(dash_syn, 1)
            w_in = flat(node.input_weight())
        else:  # LIF: no synaptic current in the model, the shortest that keeps an event
            a_s = None
            dash_syn = np.ones(n, np.int32)
            w_in = np.ones(n)
            notes.append(f"node '{g}' (LIF): Xylo always has a synaptic current; it gets "
                         "dash_syn 1, so half of each event's charge reaches v a step late")
        if "dash_mem" in force:
            dash_mem = np.full(n, int(force["dash_mem"]), np.int32)
        if "dash_syn" in force:
            dash_syn = np.full(n, int(force["dash_syn"]), np.int32)
        v_reset = flat(node.reset_value())
        theta = flat(node.v_threshold) - v_reset
        if np.any(theta <= 0):
            i = int(np.argmin(theta))
            raise QuantizationError(
                f"node '{g}': threshold minus reset must be > 0 (neuron {i}: v_threshold "
                f"{float(theta[i] + v_reset[i]):.4g}, v_reset {float(v_reset[i]):.4g}); Xylo "
                "spikes on v >= a positive threshold. Set v_threshold above v_reset")
        # calibration: the peak current's step into v, in thresholds; the voltage it holds
        # is 2^dash_mem times that, and both must stay inside int16 (margin 1.25)
        peak = ctx.options.calibration.get(g)
        reach = float(np.max(peak * 2.0 ** dash_mem)) if peak else 0.0
        calibrated = int(f.state_max / (max(reach, 1.0) * 1.25)) if peak else None
        given = force.get("threshold", force.get("vth", ctx.options.vth))
        threshold = int(given if given is not None else calibrated or DEFAULT_THRESHOLD)
        if not 1 <= threshold <= f.state_max:
            raise QuantizationError(f"node '{g}': threshold {threshold} outside 1..{f.state_max} "
                                    "(Xylo's int16 threshold); give --vth in that range")
        r = flat(node.r)
        mem = 2.0 ** -dash_mem
        per_unit = r * w_in * mem / (2.0 ** dash_syn - 1) / theta   # weight gain per threshold unit
        if given is None:   # a threshold the weights fit at the largest shift
            peak = max((float(np.max(np.abs(per_unit[:, None] * c.matrix), initial=0.0))
                        for c in ctx.incoming if not c.is_bias), default=0.0)
            top = f.weight_max * 2 ** f.weight_shift_max
            if peak * threshold > top:
                threshold = max(1, int(top / peak))
                notes.append(f"node '{g}': threshold lowered to {threshold} so its largest "
                             f"weight fits {f.weight_max} << {f.weight_shift_max}")
        scale = threshold / theta
        gain = scale * per_unit * theta
        weights = [(c, gain[:, None] * c.matrix) for c in ctx.incoming if not c.is_bias]
        b_float = sum((c.matrix[:, 0] for c in ctx.incoming if c.is_bias), np.zeros(n))
        if np.any(b_float):
            notes.append(f"node '{g}': its input bias enters the membrane as Xylo's bias, "
                         "with the same resting voltage (the model's current ramps up to it "
                         "over tau_syn)")
        v_leak = flat(getattr(node, "v_leak", 0.0))
        bias_f = scale * mem * (v_leak - v_reset + r * w_in * b_float)
        if np.any(np.abs(bias_f) > f.state_max):
            raise QuantizationError(f"node '{g}': bias {float(np.max(np.abs(bias_f))):.4g} beyond "
                                    f"int16 at threshold {threshold}; lower --vth")
        bias = np.rint(bias_f).astype(np.int32)
        readout = bool(ctx.outputs)
        params = {"dash_mem": dash_mem, "dash_syn": dash_syn,
                  "threshold": np.full(n, threshold, np.int32), "bias": bias}
        if not readout:
            params["dash_syn2"] = dash_syn.copy()
        group = NeuronGroup(g, READOUT if readout else HIDDEN, tuple(ctx.shape), params, g)
        tau_m = ctx.dt / a_m
        report = {
            "kind": node.kind, "role": "readout" if readout else "hidden", "neurons": n,
            "depth": ctx.depth, "threshold": threshold, "scale": float(np.median(scale)),
            "dash_mem": _span(dash_mem), "dash_syn": _span(dash_syn),
            # the time constants the chip's power-of-two decays give, against the model's
            "tau_mem_s": _span(tau_m), "tau_mem_chip_s": _span(ctx.dt * 2.0 ** dash_mem),
            "dv_error": float(np.max(np.abs(mem - a_m) / a_m)),
        }
        if a_s is not None:
            report |= {"tau_syn_s": _span(ctx.dt / a_s),
                       "tau_syn_chip_s": _span(ctx.dt * 2.0 ** dash_syn),
                       "du_error": float(np.max(np.abs(2.0 ** -dash_syn - a_s) / a_s))}
        if np.any(bias):
            report["bias"] = _span(bias)
        return {"name": g, "group": group, "weights": weights, "threshold": threshold,
                "report": report, "notes": notes}


def _span(x: np.ndarray) -> Any:
    """One number when all neurons share it, else [min, max]."""
    x = np.asarray(x)
    lo, hi = x.min(), x.max()
    conv = int if x.dtype.kind in "iu" else float
    return conv(lo) if lo == hi else [conv(lo), conv(hi)]
