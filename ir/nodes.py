"""The primitives of the graph IR: one small dataclass per NIR node type.

Each class carries its governing equation in its docstring (the spec the
reference simulator matches), knows which of its fields are required, and
infers its own output shape from its input shape. ``NODE_TYPES`` is the one
registry that drives loading, saving, verification and the round-trip test.

Parameters are kept exactly as they were read (same dtype, same presence):
an optional field that a file left out stays ``None`` and is filled with its
NIR default only where it is used, so that ``save(load(f))`` writes back the
same arrays bit for bit.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

Shape = tuple[int, ...]

NODE_TYPES: dict[str, type["Node"]] = {}


def register(cls: type["Node"]) -> type["Node"]:
    NODE_TYPES[cls.__name__] = cls
    return cls


def supported_types() -> str:
    return ", ".join(sorted(NODE_TYPES))


class NodeShapeError(ValueError):
    """Raised by a node's shape rule; the graph turns it into a ShapeError."""


@dataclasses.dataclass(eq=False)
class Node:
    """Base of all primitives. Subclasses are dataclasses of numpy arrays."""

    metadata: dict[str, Any] = dataclasses.field(default_factory=dict, kw_only=True)

    #: fields that may be absent from a file (filled with a default where used)
    optional: ClassVar[tuple[str, ...]] = ()
    #: True for nodes with state that emit spikes or a membrane value
    is_neuron: ClassVar[bool] = False
    #: True for nodes whose output is a spike train (0/1)
    spiking: ClassVar[bool] = False

    @property
    def kind(self) -> str:
        return type(self).__name__

    def params(self) -> dict[str, np.ndarray]:
        """Every stored parameter, as numpy arrays, in declaration order."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "metadata":
                continue
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = np.asarray(value)
        return out

    @classmethod
    def from_params(cls, params: dict[str, Any], metadata: dict | None = None) -> "Node":
        names = [f.name for f in dataclasses.fields(cls) if f.name != "metadata"]
        unknown = sorted(set(params) - set(names))
        missing = [n for n in names if n not in params and n not in cls.optional]
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing field(s) {missing}")
            if unknown:
                parts.append(f"unknown field(s) {unknown}")
            raise KeyError(f"{cls.__name__}: {'; '.join(parts)} (fields: {names})")
        kwargs = {n: (np.asarray(params[n]) if n in params else None) for n in names}
        return cls(**kwargs, metadata=dict(metadata or {}))

    # --- shapes -----------------------------------------------------------
    def required_input_shape(self) -> Shape | None:
        """The input shape the node's own parameters imply, if any."""
        return None

    def output_shape(self, input_shape: Shape) -> Shape:
        raise NotImplementedError

    # --- counts for `inspect` ---------------------------------------------
    def n_neurons(self, output_shape: Shape) -> int:
        return int(np.prod(output_shape)) if self.is_neuron else 0

    def n_synapses(self, input_shape: Shape, output_shape: Shape) -> int:
        return 0

    def n_params(self) -> int:
        return int(sum(np.asarray(v).size for v in self.params().values()
                       if np.asarray(v).dtype.kind == "f"))

    def problems(self) -> list[str]:
        """Inconsistencies inside the node itself (shapes of its parameters)."""
        return []


def _shape(a: np.ndarray | None) -> Shape:
    return tuple(int(x) for x in np.shape(a))


def _as_shape(a: Any) -> Shape:
    return tuple(int(x) for x in np.atleast_1d(np.asarray(a)).ravel())


def _same_shape(node: Node, names: list[str]) -> list[str]:
    shapes = {n: _shape(getattr(node, n)) for n in names if getattr(node, n) is not None}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{n}{list(s)}" for n, s in shapes.items())
        return [f"parameters must share one shape, got {listed}; a neuron's parameters are "
                "elementwise, one value per neuron (a weight matrix belongs in an Affine or "
                "Linear node before it)"]
    return []


# --- graph boundary ------------------------------------------------------


@register
@dataclasses.dataclass(eq=False)
class Input(Node):
    """Graph input: passes the external signal of shape ``shape`` on unchanged."""

    shape: np.ndarray

    def output_shape(self, input_shape: Shape | None) -> Shape:
        return _as_shape(self.shape)


@register
@dataclasses.dataclass(eq=False)
class Output(Node):
    """Graph output: records the signal it receives; ``shape`` is declared."""

    shape: np.ndarray

    def required_input_shape(self) -> Shape:
        return _as_shape(self.shape)

    def output_shape(self, input_shape: Shape) -> Shape:
        return input_shape


@register
@dataclasses.dataclass(eq=False)
class Identity(Node):
    """y = x. (Not in NIR 1.0's registry; saved with type "Identity".)"""

    def output_shape(self, input_shape: Shape) -> Shape:
        return input_shape


# --- synapses and elementwise maps ----------------------------------------


@register
@dataclasses.dataclass(eq=False)
class Affine(Node):
    """y = W x + b, with W of shape (out, in) and b of shape (out,)."""

    weight: np.ndarray
    bias: np.ndarray

    def required_input_shape(self) -> Shape:
        return (_shape(self.weight)[1],)

    def output_shape(self, input_shape: Shape) -> Shape:
        return (_shape(self.weight)[0],)

    def n_synapses(self, input_shape: Shape, output_shape: Shape) -> int:
        return int(np.asarray(self.weight).size)

    def problems(self) -> list[str]:
        w, b = _shape(self.weight), _shape(self.bias)
        out = []
        if len(w) != 2:
            out.append(f"weight must be 2-D (out, in), got shape {list(w)}")
        elif b != (w[0],):
            out.append(f"bias shape {list(b)} does not match weight rows {w[0]}")
        return out


@register
@dataclasses.dataclass(eq=False)
class Linear(Node):
    """y = W x, with W of shape (out, in)."""

    weight: np.ndarray

    def required_input_shape(self) -> Shape:
        return (_shape(self.weight)[1],)

    def output_shape(self, input_shape: Shape) -> Shape:
        return (_shape(self.weight)[0],)

    def n_synapses(self, input_shape: Shape, output_shape: Shape) -> int:
        return int(np.asarray(self.weight).size)

    def problems(self) -> list[str]:
        w = _shape(self.weight)
        return [] if len(w) == 2 else [f"weight must be 2-D (out, in), got shape {list(w)}"]


@register
@dataclasses.dataclass(eq=False)
class Scale(Node):
    """y = s * x, elementwise."""

    scale: np.ndarray

    def required_input_shape(self) -> Shape:
        return _shape(self.scale)

    def output_shape(self, input_shape: Shape) -> Shape:
        return _shape(self.scale)


@register
@dataclasses.dataclass(eq=False)
class Threshold(Node):
    """z = 1 if x > theta else 0, elementwise and stateless (NIR: strict >)."""

    threshold: np.ndarray
    spiking: ClassVar[bool] = True

    def required_input_shape(self) -> Shape:
        return _shape(self.threshold)

    def output_shape(self, input_shape: Shape) -> Shape:
        return _shape(self.threshold)


@register
@dataclasses.dataclass(eq=False)
class Delay(Node):
    """y(t) = x(t - d), elementwise; d in seconds, rounded to whole steps of dt."""

    delay: np.ndarray

    def required_input_shape(self) -> Shape:
        return _shape(self.delay)

    def output_shape(self, input_shape: Shape) -> Shape:
        return _shape(self.delay)


@register
@dataclasses.dataclass(eq=False)
class Flatten(Node):
    """Merges dimensions start_dim..end_dim (inclusive, batch excluded) into one."""

    start_dim: np.ndarray
    end_dim: np.ndarray
    input_type: np.ndarray | None = None
    optional: ClassVar[tuple[str, ...]] = ("input_type",)

    def required_input_shape(self) -> Shape | None:
        return None if self.input_type is None else _as_shape(self.input_type)

    def output_shape(self, input_shape: Shape) -> Shape:
        n = len(input_shape)
        s, e = int(self.start_dim), int(self.end_dim)
        s, e = (s + n if s < 0 else s), (e + n if e < 0 else e)
        if not (0 <= s <= e < n):
            raise NodeShapeError(
                f"start_dim={int(self.start_dim)}, end_dim={int(self.end_dim)} "
                f"do not fit an input of shape {list(input_shape)}")
        merged = int(np.prod(input_shape[s:e + 1]))
        return tuple(input_shape[:s]) + (merged,) + tuple(input_shape[e + 1:])


def _conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


class _ConvBase(Node):
    ndim: ClassVar[int] = 2
    optional: ClassVar[tuple[str, ...]] = ("input_shape",)

    def _hyper(self, name: str) -> Shape:
        v = _as_shape(getattr(self, name))
        return v * self.ndim if len(v) == 1 else v

    def padding_amounts(self) -> Shape:
        p = np.asarray(self.padding)
        if p.dtype.kind in "SUO":
            mode = p.item().decode() if isinstance(p.item(), bytes) else str(p.item())
            if mode == "valid":
                return (0,) * self.ndim
            if mode == "same":
                # PyTorch's 'same' (which NIR copies: output size = input size) is
                # stride 1 only, and pads an odd total d*(k-1) unevenly; neurocc
                # pads symmetrically, so it refuses what it cannot reproduce.
                k, d = _shape(self.weight)[2:], self._hyper("dilation")
                total = tuple(di * (ki - 1) for ki, di in zip(k, d))
                if any(s != 1 for s in self._hyper("stride")) or any(t % 2 for t in total):
                    raise NodeShapeError(
                        f"padding 'same' with kernel {list(k)}, dilation {list(d)} and stride "
                        f"{list(self._hyper('stride'))} needs uneven padding (or stride 1), "
                        "which neurocc does not support; export with integer padding")
                return tuple(t // 2 for t in total)
            raise NodeShapeError(f"padding {mode!r} is not 'same', 'valid' or integers")
        return self._hyper("padding")

    def required_input_shape(self) -> Shape | None:
        c_in = _shape(self.weight)[1] * int(self.groups)
        if self.input_shape is None:
            return None
        return (c_in,) + _as_shape(self.input_shape)

    def output_shape(self, input_shape: Shape) -> Shape:
        w = _shape(self.weight)
        if len(input_shape) != self.ndim + 1:
            raise NodeShapeError(
                f"expects a (channels, {'spatial dims' if self.ndim > 1 else 'length'}) "
                f"input of {self.ndim + 1} dimensions, got {list(input_shape)}")
        c_in = w[1] * int(self.groups)
        if input_shape[0] != c_in:
            raise NodeShapeError(f"expects {c_in} input channels, got {input_shape[0]}")
        k, s, d = w[2:], self._hyper("stride"), self._hyper("dilation")
        p = self.padding_amounts()
        spatial = tuple(_conv_out(n, ki, si, pi, di)
                        for n, ki, si, pi, di in zip(input_shape[1:], k, s, p, d))
        if min(spatial) < 1:
            raise NodeShapeError(f"output would be empty ({list(spatial)})")
        return (w[0],) + spatial

    def n_synapses(self, input_shape: Shape, output_shape: Shape) -> int:
        w = _shape(self.weight)
        # every output position connects to c_in/groups * prod(kernel) inputs
        # (counting padded positions, as a dense expansion would)
        return int(np.prod(output_shape) * np.prod(w[1:]))

    def problems(self) -> list[str]:
        w = _shape(self.weight)
        out = []
        if len(w) != self.ndim + 2:
            out.append(f"weight must have {self.ndim + 2} dimensions, got {list(w)}")
        elif self.bias is not None and _shape(self.bias) not in ((w[0],), ()):
            out.append(f"bias shape {list(_shape(self.bias))} does not match {w[0]} output channels")
        if int(self.groups) < 1 or (len(w) > 0 and w[0] % int(self.groups)):
            out.append(f"groups={int(self.groups)} must divide {w[0]} output channels")
        return out


@register
@dataclasses.dataclass(eq=False)
class Conv1d(_ConvBase):
    """y[c_o, l] = b[c_o] + sum_{c_i, k} W[c_o, c_i, k] x[c_i, l*s + k*d - p]."""

    weight: np.ndarray
    stride: np.ndarray
    padding: np.ndarray
    dilation: np.ndarray
    groups: np.ndarray
    bias: np.ndarray
    input_shape: np.ndarray | None = None
    ndim: ClassVar[int] = 1


@register
@dataclasses.dataclass(eq=False)
class Conv2d(_ConvBase):
    """y[c_o, i, j] = b[c_o] + sum_{c_i, m, n} W[c_o, c_i, m, n] x[c_i, i*s0 + m*d0 - p0, j*s1 + n*d1 - p1]."""

    weight: np.ndarray
    stride: np.ndarray
    padding: np.ndarray
    dilation: np.ndarray
    groups: np.ndarray
    bias: np.ndarray
    input_shape: np.ndarray | None = None
    ndim: ClassVar[int] = 2


class _PoolBase(Node):
    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise NodeShapeError(f"expects a (channels, height, width) input, got {list(input_shape)}")
        k = _as_shape(self.kernel_size) * (2 if np.size(self.kernel_size) == 1 else 1)
        s = _as_shape(self.stride) * (2 if np.size(self.stride) == 1 else 1)
        p = _as_shape(self.padding) * (2 if np.size(self.padding) == 1 else 1)
        spatial = tuple(_conv_out(n, ki, si, pi, 1) for n, ki, si, pi in zip(input_shape[1:], k, s, p))
        if min(spatial) < 1:
            raise NodeShapeError(f"output would be empty ({list(spatial)})")
        return (input_shape[0],) + spatial


@register
@dataclasses.dataclass(eq=False)
class SumPool2d(_PoolBase):
    """y[c, i, j] = sum over the kernel window of x[c, i*s0 + m - p0, j*s1 + n - p1]."""

    kernel_size: np.ndarray
    stride: np.ndarray
    padding: np.ndarray


@register
@dataclasses.dataclass(eq=False)
class AvgPool2d(_PoolBase):
    """SumPool2d divided by the kernel area (NIR: AvgPool = SumPool + Scale)."""

    kernel_size: np.ndarray
    stride: np.ndarray
    padding: np.ndarray


# --- neurons ---------------------------------------------------------------


class _NeuronBase(Node):
    is_neuron: ClassVar[bool] = True
    shape_field: ClassVar[str] = "r"

    def required_input_shape(self) -> Shape:
        return _shape(getattr(self, self.shape_field))

    def output_shape(self, input_shape: Shape) -> Shape:
        return _shape(getattr(self, self.shape_field))

    def problems(self) -> list[str]:
        names = [f.name for f in dataclasses.fields(self) if f.name != "metadata"]
        return _same_shape(self, names)

    def reset_value(self) -> np.ndarray:
        """NIR >= 1.0: a missing v_reset means reset to 0 (NIR PR #129)."""
        v = getattr(self, "v_reset", None)
        return np.zeros_like(np.asarray(self.v_threshold)) if v is None else np.asarray(v)

    def input_weight(self) -> np.ndarray:
        w = getattr(self, "w_in", None)
        return np.ones_like(np.asarray(self.r)) if w is None else np.asarray(w)


@register
@dataclasses.dataclass(eq=False)
class LIF(_NeuronBase):
    """Leaky integrate-and-fire.

    tau dv/dt = (v_leak - v) + r I;  z = 1 if v > v_threshold;  then v <- v_reset.
    tau [s], r [ohm-like gain], v_leak, v_threshold, v_reset [volt-like units].
    """

    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray | None = None
    optional: ClassVar[tuple[str, ...]] = ("v_reset",)
    spiking: ClassVar[bool] = True


@register
@dataclasses.dataclass(eq=False)
class CubaLIF(_NeuronBase):
    """Current-based LIF.

    tau_syn dI/dt = -I + w_in S;  tau_mem dv/dt = (v_leak - v) + r I;
    z = 1 if v > v_threshold;  then v <- v_reset.  w_in is elementwise (NIR #190).
    """

    tau_syn: np.ndarray
    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray | None = None
    w_in: np.ndarray | None = None
    optional: ClassVar[tuple[str, ...]] = ("v_reset", "w_in")
    spiking: ClassVar[bool] = True


@register
@dataclasses.dataclass(eq=False)
class IF(_NeuronBase):
    """Integrate-and-fire.  dv/dt = r I;  z = 1 if v > v_threshold;  then v <- v_reset."""

    r: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray | None = None
    optional: ClassVar[tuple[str, ...]] = ("v_reset",)
    spiking: ClassVar[bool] = True


@register
@dataclasses.dataclass(eq=False)
class LI(_NeuronBase):
    """Leaky integrator (no spikes; outputs v).  tau dv/dt = (v_leak - v) + r I."""

    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray


@register
@dataclasses.dataclass(eq=False)
class CubaLI(_NeuronBase):
    """Current-based leaky integrator (outputs v).

    tau_syn dI/dt = -I + w_in S;  tau_mem dv/dt = (v_leak - v) + r I.
    """

    tau_syn: np.ndarray
    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    w_in: np.ndarray | None = None
    optional: ClassVar[tuple[str, ...]] = ("w_in",)


@register
@dataclasses.dataclass(eq=False)
class I(_NeuronBase):  # noqa: E742 - NIR's name
    """Integrator (outputs v).  dv/dt = r I."""

    r: np.ndarray
