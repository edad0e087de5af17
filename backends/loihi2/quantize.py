"""Loihi 2's quantize rules: a float neuron layer and its weights as CUBA-LIF integers.

The neuron model is the CUBA LIF that Loihi 2 implements (``kernel.py``):

    u' = trunc0(u (2^D - 1 - du) / 2^D) + (a_in << s_in)        (u wraps)
    v' = trunc0(v (2^D - dv) / 2^D) + u' + bias                   (v saturates)
    spike if v' > vth << s_th;  then v' = 0

Mapping from the float model (forward Euler, current first; a = dt/tau, from
``ir.dynamics``): with the integer membrane ``v_int = 2^s_in S v`` and
``u = 2^s_in S a_m r i``, each NIR neuron becomes exactly the recurrence above with

    CubaLIF: du = round(2^D a_s) - 1, dv = round(2^D a_m), weight gain g = a_s a_m r w_in
    LIF:     du = 2^D - 1 (no current memory), dv = round(2^D a),   g = a r
    IF:      du = 2^D - 1, dv = 0,                                  g = dt r
    LI, CubaLI (readouts): as LIF, CubaLIF, with the largest threshold (never reached)

and integer weights ``round(S g W)``, threshold ``vth = S (v_th - v_reset)``.
A convolution keeps its shared kernel (a ``Conv`` block): S g must then be one
number per output channel (it is whenever the layer's thresholds, resets, r and
time constants are uniform per channel; otherwise the block is expanded, or
refused when too large), and its exponent is >= 0, since Lava's Conv process has
no weight exponent (the bridge folds a positive one into the weights it hands Lava).
``S`` is one scale per neuron (rows of W), chosen so every neuron of a group
shares the integer threshold (Lava's vth is one number per population): by
default ``vth = 2^threshold_bits / headroom`` (1024 on Loihi 2), so that the
24-bit u and v hold currents and voltages up to ``headroom`` (128) thresholds.
A non-zero ``v_reset`` is handled by shifting v (Loihi resets to 0).

A readout (LI or CubaLI, read by an Output node) has no threshold: its scale maps the
largest voltage it can reach, ``|v_leak| + |r w_in| sum_j |W_ij|`` (every source
spiking every step, biases included), to a quarter of the 24-bit range, so it can
never saturate or reach the threshold; the Output port records the scale, and the
chip's v divided by it is the float model's voltage.

The generic pass (``compiler/passes/quantize.py``) composes the chains, gives every
block its delay (the chip runs a group at depth d that many latencies behind the
float model) and its constant bias source; this file does the rest for one group.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from neurocc.ir import NeuronGroup, QuantizationError, SynapseBlock
from neurocc.ir.blocks import Dense
from neurocc.ir.target import GroupQuantized

from .kernel import MODEL
from .rules import lava_pads_evenly

#: the neuron kinds this chip lowers; LI and CubaLI only as readouts
KINDS = ("LIF", "CubaLIF", "IF", "LI", "CubaLI")
READOUT_KINDS = ("LI", "CubaLI")
#: the most weights a convolution is expanded to when it cannot share its kernel (128 MiB
#: of float64)
EXPAND_MAX = 1 << 24
WHY_NOT = {
    "I": "an integrator without leak grows without bound, so no fixed voltage scale keeps it "
         "inside Loihi 2's 24-bit membrane (an LI readout, with a leak, is lowered)",
    "Threshold": "a stateless threshold has no Loihi 2 neuron model (use an IF neuron)",
    "Delay": "axonal delays on their own are not lowered yet (synaptic delays are)",
}


class Loihi2Rules:
    """The quantize-rules table entry (see ``ir.target.QuantizeRules``)."""

    chip = "Loihi 2"
    #: block encodings quantized as they are (``ir.blocks``)
    encodings = ("dense", "sparse", "conv")
    kinds = KINDS
    readout_kinds = READOUT_KINDS
    why_not = WHY_NOT

    def __init__(self, formats: Any) -> None:
        self.formats = formats

    def semantics(self) -> dict[str, Any]:
        return {
            "integrator": "forward Euler", "neuron_model": MODEL,
            "reset": "to v_reset (Loihi resets to 0; v is offset by v_reset)",
            "threshold": "v > vth << 6 (strict, as NIR)",
            "cuba_order": "current first; membrane uses the new current",
            "w_in": "elementwise, folded into the weight rows",
        }

    def deferred_error(self, deferred: list[Any]) -> Exception:
        return _too_large(deferred, self.formats)

    def quantize_group(self, ctx: Any) -> GroupQuantized:
        """One neuron node and the blocks into it (``ctx``: ``ir.target.GroupContext``)."""
        f, options, g, node = self.formats, ctx.options, ctx.name, ctx.node
        full = 1 << f.decay_bits
        force = options.force.get(g, {})
        n = int(np.prod(ctx.shape))
        flat = lambda a: np.broadcast_to(np.asarray(a, np.float64), ctx.shape).ravel()  # noqa: E731
        a_m = flat(ctx.a_mem)
        r = flat(node.r)
        readout = node.kind in READOUT_KINDS
        if node.kind in ("CubaLIF", "CubaLI"):
            a_s = flat(ctx.a_syn)
            du_exact = full * a_s - 1
            gain = a_s * a_m * r * flat(node.input_weight())
        elif node.kind in ("LIF", "LI"):
            du_exact = np.full(n, full - 1.0)
            gain = a_m * r
        else:  # IF
            du_exact = np.full(n, full - 1.0)
            gain = ctx.dt * r
        du = int(force.get("du", _uniform(g, "the current decay du", np.rint(du_exact))))
        dv = int(force.get("dv", _uniform(g, "the voltage decay dv", np.rint(full * a_m))))
        if not (-1 <= du <= full - 1 and 0 <= dv <= full):
            raise QuantizationError(f"node '{g}': du={du}, dv={dv} outside -1..{full - 1} and 0..{full}")
        if readout:
            # no threshold: the largest voltage the readout can reach plays its part
            v_reset = np.zeros(n)
            reach = float(np.max(np.abs(flat(node.v_leak)) + np.abs(r * flat(node.input_weight())) * sum(
                c.matrix.abs_row_sums() for c in ctx.incoming)))
            theta = np.full(n, reach if reach > 0 else 1.0)  # 0: all-zero, refused below
        else:
            v_reset = flat(node.reset_value())
            theta = flat(node.v_threshold) - v_reset
        if np.any(theta <= 0):
            i = int(np.argmin(theta))
            raise QuantizationError(
                f"node '{g}': threshold minus reset must be > 0 (min {float(theta.min()):.4g}, "
                f"neuron {i}: v_threshold {float(theta[i] + v_reset[i]):.4g}, v_reset "
                f"{float(v_reset[i]):.4g}); Loihi 2 spikes on v > vth with an unsigned vth. Set "
                "v_threshold above v_reset for every neuron of the layer")
        notes: list[str] = []
        # a shared kernel needs one scale per output channel: where the layer's own
        # numbers differ inside a channel, a small convolution is expanded (per-neuron rows)
        per_neuron = gain / theta
        incoming = [_per_channel(c, per_neuron, g, notes) for c in ctx.incoming]
        calibrated = None if readout else _calibrated_vth(options.calibration.get(g), f)
        if calibrated is not None:
            # the weights must still fit the mantissa at the largest exponent
            per_vth = max((float(np.max(np.abs(c.matrix.scale_rows(per_neuron).values()), initial=0.0))
                           for c in incoming), default=0.0)
            top = ((1 << f.weight_bits) - 2) << f.weight_exp_max
            calibrated = min(calibrated, int(0.99 * top / per_vth)) if per_vth > 0 else calibrated
        if readout:  # its reach maps to a quarter of the state range: 2^(state_bits - 3)
            vth = 1 << (f.state_bits - 3 - f.input_shift)
        else:
            vth = int(force.get("vth", options.vth if options.vth is not None  # 0 is refused below
                                else calibrated or (1 << f.threshold_bits) // options.headroom))
        if not (0 < vth < (1 << f.threshold_bits)):
            raise QuantizationError(f"node '{g}': vth={vth} outside 1..{(1 << f.threshold_bits) - 1}; "
                                    "a threshold that rounds to zero cannot fire correctly")
        scale = vth / theta                                 # integer units per float unit, per neuron
        v_leak = flat(getattr(node, "v_leak", 0.0)) - v_reset
        leak = (1 << f.input_shift) * scale * a_m * v_leak  # added to v every step, unshifted
        bias_mant, bias_exp = _bias_to_mant_exp(leak, f.bias_mant_bits, f.bias_exp_max, g)
        v0 = np.rint(-(1 << f.input_shift) * scale * v_reset).astype(np.int32)
        # a readout gets the largest threshold, which its voltage never reaches
        params = {"du": np.array(du, np.int32), "dv": np.array(dv, np.int32),
                  "vth": np.array((1 << f.threshold_bits) - 1 if readout else vth, np.int32),
                  "bias_mant": bias_mant, "bias_exp": bias_exp}
        # the chip runs this group `lead` steps behind the float model: from its first
        # step its leak (bias) and decay act, so it starts where those steps lead to v0
        v_start = _lead_in(v0, bias_mant.astype(np.int64) << bias_exp, dv, ctx.lead, f,
                           int(params["vth"]) << f.threshold_shift)
        if v_start is None:
            notes.append(f"node '{g}': its first {ctx.lead} step(s) on the chip (before the float "
                         "model's step 0) move v by the leak and decay, and no 24-bit start "
                         "undoes that; it starts slightly off")
        else:
            v0 = v_start
        if np.any(v0):
            params["v0"] = v0
        group = NeuronGroup(g, MODEL, tuple(ctx.shape), params, g)
        report = {
            "kind": node.kind, "neurons": n, "depth": ctx.depth, "du": du, "dv": dv,
            "vth": int(params["vth"]), "scale": float(np.median(scale)),
            "du_error": float(np.max(np.abs(du - du_exact))) if node.kind == "CubaLIF" else 0.0,
            "dv_error": float(np.max(np.abs(dv - full * a_m))),
            "threshold_error": 0.0,  # exact by construction: the scale absorbs it
        }
        voltage_scale = None
        if readout:
            voltage_scale = (1 << f.input_shift) * vth / theta[0]
            report |= {"readout": True, "voltage_scale": voltage_scale, "reach": float(theta[0])}
        row = scale * gain
        w_forced = force.get("weight")
        weighted = [c for c in incoming if not c.is_bias]
        float_nonzero = sum(int(np.count_nonzero(c.matrix.values())) for c in weighted)
        driven = np.any(bias_mant) or any(c.is_bias for c in incoming)
        if weighted and float_nonzero == 0 and not driven:
            raise QuantizationError(
                f"node '{g}': every incoming weight is 0 ({sum(int(np.prod(c.matrix.shape)) for c in weighted)} "
                f"from {sorted({c.origin for c in weighted})}) and it has no bias or leak, so its "
                f"{n} neurons can never spike and every layer it feeds gets nothing from it; "
                "the export probably lost its weights: export the trained model again, or remove "
                "the layer")
        int_nonzero, kept, over = 0, [], []
        blocks, block_reports = [], {}
        for c in incoming:
            enc = c.matrix
            # Lava's Conv has no weight exponent: a kernel's exponent is >= 0 (see above)
            exp_min = max(0, f.weight_exp_min) if enc.kind == "conv" else f.weight_exp_min
            if w_forced is not None and not c.is_bias:
                mant, exp, mode, rep = _forced_weights(enc.values(), int(w_forced))
                parts = [(c.name, mant, exp, mode, rep)]
            else:
                wf = enc.scale_rows(row).values()
                ratio = _overflow(wf, f.weight_bits, f.weight_exp_max)
                if ratio > 1:  # reported together once every group is known
                    over.append((c.name, g, ratio, float(np.max(np.abs(wf))), vth))
                    continue
                parts = _quantize_split(wf, f, options.weight_blocks, f"block '{c.name}'", c.name,
                                        exp_min, _uses(enc))
            if not c.is_bias and w_forced is None:
                int_nonzero += sum(int(np.count_nonzero(p[1])) for p in parts)
                nz = wf[wf != 0]
                if nz.size:
                    one_sign = bool(np.all(nz > 0) or np.all(nz < 0))
                    kept.append((float(np.max(np.abs(nz))), 2.0 ** (exp_min - one_sign)))
            for part, mant, exp, mode, rep in parts:
                weights = enc.with_values(mant)
                if weights.kind == "sparse":
                    weights = weights.eliminate_zeros()
                density = weights.nnz() / max(int(np.prod(weights.shape)), 1)
                blocks.append(SynapseBlock(part, c.source, g, weights, exp, f.weight_bits, mode,
                                           c.delay, "sparse" if density < options.sparse_below
                                           else "dense"))
                block_reports[part] = rep | {"weight_exp": exp, "sign_mode": mode, "delay": c.delay,
                                             "density": round(density, 4)} | (
                    {"encoding": weights.kind} if weights.kind != "dense" else {})
        if (float_nonzero and w_forced is None and int_nonzero == 0 and not over
                and not ctx.deferred_before):
            raise _all_lost(g, float_nonzero, kept, vth, f)
        return GroupQuantized(group, blocks, report, block_reports, voltage_scale, notes, over)


def _uniform(name: str, what: str, values: np.ndarray) -> int:
    u = np.unique(values)
    if u.size != 1:
        raise QuantizationError(
            f"node '{name}': {what} differs between neurons ({u.size} values, {u[:4].tolist()}...); "
            "Loihi 2 shares it across a population. Split the layer by time constant.")
    return int(u[0])


def _overflow(wf: np.ndarray, bits: int, exp_max: int) -> float:
    """The largest weight over the most a block holds at exponent `exp_max` (> 1: no fit)."""
    nz = wf[wf != 0]
    if nz.size == 0:
        return 0.0
    top = (1 << bits) - (1 if np.all(nz > 0) or np.all(nz < 0) else 2)  # as _quantize_matrix
    return float(np.max(np.abs(nz))) / (top * 2.0 ** exp_max)


def _too_large(over: list[tuple[str, str, float, float, int]], f: Any) -> QuantizationError:
    """One error for every block whose weights need an exponent above the range, with the
    --vth that fits them all (weights scale with vth), or why none can."""
    worst = sorted(over, key=lambda o: -o[2])
    shown = ", ".join(f"'{name}' needs {f.weight_exp_max + math.ceil(math.log2(ratio))} (peak "
                      f"{peak:.4g} integer units)"
                      for name, _, ratio, peak, _ in worst[:4]) + (", ..." if len(over) > 4 else "")
    # a hair under the bound: exactly at it, float rounding of the scale may tip a peak over
    most = min(int(vth / ratio * (1 - 1e-9)) for _, _, ratio, _, vth in over)
    if most >= 1:
        now = ", ".join(str(v) for v in sorted({vth for *_, vth in over}))
        fix = (f"use --vth {most} or lower (it is {now}) to shrink the scale; every block then "
               "fits, with fewer integer levels per threshold")
    else:
        name, group, _, peak, vth = max(over, key=lambda o: o[3] / o[4])
        fix = (f"no --vth can: through '{name}' one input spike moves '{group}' by up to "
               f"{peak / vth:.3g} thresholds, so its threshold (v_threshold - v_reset) is tiny for "
               "its weights; rescale the layer's weights or threshold in the model")
    return QuantizationError(
        f"{len(over)} synapse block(s) need a weight exponent above {f.weight_exp_max} (a block "
        f"holds at most {(1 << f.weight_bits) - 1} << {f.weight_exp_max} integer units, "
        f"{(1 << f.weight_bits) - 2} << {f.weight_exp_max} mixed-sign): {shown}; {fix}")


def _all_lost(group: str, nonzero: int, kept: list[tuple[float, float]], vth: int, f: Any
              ) -> QuantizationError:
    """Every non-zero weight into `group` rounds to 0: the layer would be cut off. `kept` holds,
    per connection, its largest weight and the smallest weight its blocks keep (half a step at
    the lowest exponent for one sign; a whole step for mixed signs, whose LSB Loihi drops)."""
    # a threshold scales every weight with it: the least vth that lifts one connection's peak
    # strictly above what it keeps
    need = min(math.floor(vth * smallest / peak) + 1 for peak, smallest in kept)
    peak, smallest = max(kept, key=lambda k: k[0] / k[1])
    fix = (f"raise the integer threshold to --vth {need} or more (it is {vth}) so the weights "
           "get more integer levels" if need < (1 << f.threshold_bits)
           else f"no --vth can (the threshold holds at most {(1 << f.threshold_bits) - 1}): the "
           f"weights are at most {peak / vth:.3g} thresholds, too small to matter; check the "
           "model's weight scale")
    return QuantizationError(
        f"node '{group}': all {nonzero} non-zero weights into it round to 0 (the largest is "
        f"{peak:.3g} integer units; its block keeps nothing below {smallest:.3g} at weight_exp "
        f"{f.weight_exp_min}), so it would be cut off from its inputs; {fix}")


def _quantize_matrix(wf: np.ndarray, bits: int, exp_min: int, exp_max: int, where: str,
                     uses: np.ndarray | None = None) -> tuple[np.ndarray, int, str, dict[str, Any]]:
    """Integer mantissas * 2^exp for float weights `wf` (already in integer units); the
    report's counts are of synapses (a kernel weight counts once per synapse, ``uses``)."""
    count = (lambda m: int(np.count_nonzero(m))) if uses is None else \
        (lambda m: int(np.sum(uses[m])))  # noqa: E731
    nz = wf[wf != 0]
    if nz.size == 0:
        return np.zeros(wf.shape, np.int32), 0, "excitatory", {"sqnr_db": None, "saturated": 0,
                                                                "nonzero": 0}
    if np.all(nz > 0):
        mode, step_bits, top = "excitatory", 0, (1 << bits) - 1
    elif np.all(nz < 0):
        mode, step_bits, top = "inhibitory", 0, (1 << bits) - 1
    else:  # mixed: Lava keeps bits-1 magnitude bits (the LSB is dropped), so use even values
        mode, step_bits, top = "mixed", 1, (1 << bits) - 2
    peak = float(np.max(np.abs(wf)))
    exp = max(exp_min, math.ceil(math.log2(peak / top))) if peak > 0 else 0
    if exp > exp_max:
        raise QuantizationError(
            f"{where}: weights need exponent {exp} > {exp_max} (peak {peak:.4g} integer units); "
            "lower the integer threshold (--vth) to shrink the scale")
    unit = 2.0 ** (exp + step_bits)
    mant = np.rint(wf / unit) * (1 << step_bits)
    lo, hi = (-(1 << bits), top) if mode == "mixed" else ((-top, 0) if mode == "inhibitory" else (0, top))
    saturated = count((mant < lo) | (mant > hi))
    mant = np.clip(mant, lo, hi).astype(np.int32)
    err = wf - mant * 2.0 ** exp
    signal = float(np.sum(wf ** 2))
    noise = float(np.sum(err ** 2))
    sqnr = math.inf if noise == 0 else 10 * math.log10(signal / noise)
    return mant, exp, mode, {"sqnr_db": round(sqnr, 2) if math.isfinite(sqnr) else "inf",
                             "saturated": saturated, "nonzero": count(mant != 0),
                             "lost_to_zero": count((wf != 0) & (mant == 0))}


def _per_channel(c: Any, per_neuron: np.ndarray, group: str, notes: list[str]) -> Any:
    """`c` as the rules quantize it: a convolution whose per-neuron factor (gain over
    threshold) differs inside an output channel cannot share its kernel; it is expanded
    where that is small (each neuron its own row), refused where not."""
    enc = c.matrix
    if enc.kind == "conv" and not lava_pads_evenly(enc):
        # a pooling folded into this kernel left more padding on one side than the other,
        # which Lava's Conv cannot pad: the connection is stored as its synapses instead
        notes.append(f"node '{group}': convolution '{c.name}' pads its sides unevenly (a "
                     "pooling folded into it), which Lava's Conv process cannot; stored as "
                     f"{enc.nnz():,} sparse synapses")
        return dataclasses.replace(c, matrix=enc.to_sparse())
    if enc.kind != "conv" or enc.channel_values(per_neuron) is not None:
        return c
    n_t, n_s = enc.shape
    if n_t * n_s > EXPAND_MAX:
        o = int(np.argmax(np.ptp(per_neuron.reshape(enc.geometry.out_shape[0], -1), axis=1) > 0))
        raise QuantizationError(
            f"node '{group}': its neurons' threshold, reset, r or time constants differ inside "
            f"output channel {o} of convolution '{c.name}', so one shared kernel cannot give "
            f"every neuron its exact threshold on Loihi 2, and the expanded layer ({n_t:,} x "
            f"{n_s:,} weights) is too large to store instead. Make those parameters uniform per "
            "output channel (one value per channel, broadcast over positions) in the model")
    notes.append(f"node '{group}': thresholds or gains differ inside an output channel, so "
                 f"convolution '{c.name}' is stored expanded ({enc.nnz():,} synapses instead of a "
                 f"{enc.kernel.size:,}-weight kernel), one scale per neuron")
    return dataclasses.replace(c, matrix=Dense(enc.to_dense().astype(np.float64)))


def _uses(enc: Any) -> np.ndarray | None:
    """How many synapses each stored weight stands for (a kernel weight: the positions its
    tap reaches), to state the SQNR over the synapses; None: one each."""
    if enc.kind != "conv":
        return None
    taps = np.array([p.size for p, _ in enc._tap_maps], np.float64).reshape(enc.taps)
    return np.broadcast_to(taps, enc.kernel.shape)


def _quantize_split(wf: np.ndarray, f: Any, blocks: int, where: str, name: str,
                    exp_min: int | None = None, uses: np.ndarray | None = None) -> list[tuple]:
    """Quantize `wf` into synapse blocks on one source and target whose sum approximates it.

    The first block holds ``weight_bits`` of mantissa at the exponent the peak
    needs. With ``blocks=2`` the residual goes into further blocks that Loihi
    adds into the same dendritic sum: split by sign (an excitatory and an
    inhibitory block keep all 8 bits, where a mixed-sign block loses its LSB)
    and at exponents >= 0 (a negative exponent floors every sum, a bias the
    membrane integrates). Cost: up to three times the synaptic memory for the
    affected connections. The first block's report states the SQNR of the sum.
    """
    exp_min = f.weight_exp_min if exp_min is None else exp_min
    lo_exp = max(0, exp_min)
    mant, exp, mode, rep = _quantize_matrix(wf, f.weight_bits, exp_min, f.weight_exp_max, where, uses)
    out = [[name, mant, exp, mode, rep]]
    total = mant * 2.0 ** exp
    if blocks > 1 and np.any(wf != total):
        residual = wf - total
        for sign, tag in ((1, "exc"), (-1, "inh")):
            part = np.where(sign * residual > 0, residual, 0.0)
            m, e, md, r = _quantize_matrix(part, f.weight_bits, lo_exp, f.weight_exp_max, where, uses)
            if np.any(m):
                out.append([f"{name}#{tag}", m, e, md, r])
                total = total + m * 2.0 ** e
    # a kernel weight counts once per synapse it stands for (``uses``)
    u = 1.0 if uses is None else uses
    noise = float(np.sum(u * (wf - total) ** 2))
    signal = float(np.sum(u * wf ** 2))
    if signal > 0:
        out[0][4] = dict(out[0][4], sqnr_db=round(10 * math.log10(signal / noise), 2) if noise else "inf",
                         blocks=len(out))
    for extra in out[1:]:
        extra[4] = dict(extra[4], sqnr_db=f"see {name}")
    return [tuple(o) for o in out]


def _calibrated_vth(peak: float | None, f: Any, margin: float = 1.25) -> int | None:
    """The largest threshold whose current ``64 vth peak margin`` still fits the state."""
    if not peak:
        return None
    room = (1 << (f.state_bits - 1)) / ((1 << f.input_shift) * peak * margin)
    return int(max(1, min(room, (1 << f.threshold_bits) - 1)))


def _forced_weights(matrix: np.ndarray, weight: int) -> tuple[np.ndarray, int, str, dict[str, Any]]:
    """A forced integer weight replaces every unit of the float matrix (NIR paper mapping)."""
    mant = np.rint(matrix * weight).astype(np.int32)
    mode = "excitatory" if np.all(mant >= 0) else ("inhibitory" if np.all(mant <= 0) else "mixed")
    return mant, 0, mode, {"sqnr_db": "forced", "saturated": 0, "nonzero": int(np.count_nonzero(mant))}


def _lead_in(v0: np.ndarray, bias: np.ndarray, dv: int, steps: int, f: Any, theta: int
             ) -> np.ndarray | None:
    """The start v that `steps` input-free chip updates (decay, then bias) take to v0.

    A group the chip runs d steps behind the float model updates d times before the
    model's first step; with a leak (a bias) or an offset v0 those updates move v, so it
    starts where they land on v0. The update ``trunc0(v F / 2^D) + bias`` (F = 2^D - dv)
    has slope F / 2^D <= 1, so every integer has a preimage; found backwards, checked
    forwards (saturation, no spike). None when none fits the state. With dv = 2^D, v
    forgets its start at every step (so does the float model, a = 1): v0 is kept.
    """
    full = 1 << f.decay_bits
    factor = full - dv
    v0 = np.asarray(v0, np.int64)
    if steps == 0 or factor == 0 or (not np.any(bias) and not np.any(v0)):
        return v0.astype(np.int32)
    lim = (1 << (f.state_bits - 1)) - 1
    v = v0.copy()
    for _ in range(steps):                      # backwards, exactly, in Python-sized ints
        y = v - bias
        v = np.sign(y) * -(-np.abs(y) * full // factor)
        if np.any(np.abs(v) > lim):
            return None
    start, w = v.copy(), v.copy()
    for _ in range(steps):                      # forwards, as the chip computes it
        w = np.sign(w) * ((np.abs(w) * factor) >> f.decay_bits) + bias
        if np.any(np.abs(w) > lim) or np.any(w > theta):
            return None
    return start.astype(np.int32) if np.array_equal(w, v0) else None


def _bias_to_mant_exp(values: np.ndarray, mant_bits: int, exp_max: int, where: str
                      ) -> tuple[np.ndarray, np.ndarray]:
    top = (1 << (mant_bits - 1)) - 1
    peak = float(np.max(np.abs(values), initial=0.0))
    exp = 0 if peak <= top else math.ceil(math.log2(peak / top))
    if exp > exp_max:
        raise QuantizationError(f"node '{where}': leak bias {peak:.4g} exceeds the bias range "
                                f"{top} << {exp_max}")
    mant = np.rint(values / 2 ** exp).astype(np.int32)
    return mant, np.full(values.shape, exp, np.int32)
