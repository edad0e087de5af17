"""The graph IR's shape rules: every node infers its output shape (convolutions, pooling,
flatten, affine, neurons), checked against sizes worked out by hand from the formulas, and
the cnn_sinabs fixture's chain against its raw HDF5 parameters."""

from __future__ import annotations


import numpy as np
import pytest

from neurocc import ir
from test_ir import FIX, raw_model


# --- shapes ---------------------------------------------------------------------


def conv_out(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """PyTorch's Conv/Pool output size: floor((n + 2p - d(k-1) - 1) / s) + 1."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def infer(node: ir.Node, in_shape: tuple, expected: tuple) -> ir.NodeShapes:
    """Shapes of `node` between an Input of `in_shape` and an Output declaring `expected`."""
    g = ir.Graph({"x": ir.Input(shape=np.array(in_shape)), "n": node,
                  "y": ir.Output(shape=np.array(expected))}, [("x", "n"), ("n", "y")])
    ir.verify(g)
    return g.shapes["n"]


def shape_problems(node: ir.Node, in_shape: tuple) -> list[str]:
    g = ir.Graph({"x": ir.Input(shape=np.array(in_shape)), "n": node,
                  "y": ir.Output(shape=np.array([1]))}, [("x", "n"), ("n", "y")])
    with pytest.raises(ir.GraphError) as e:
        ir.verify(g)
    return e.value.problems


def conv2d(w_shape, stride=1, padding=0, dilation=1, groups=1) -> ir.Conv2d:
    return ir.Conv2d(weight=np.ones(w_shape, np.float32), stride=np.array(stride),
                     padding=np.array(padding), dilation=np.array(dilation),
                     groups=np.array(groups), bias=np.zeros(w_shape[0], np.float32))


def conv1d(w_shape, stride=1, padding=0, dilation=1, groups=1) -> ir.Conv1d:
    return ir.Conv1d(weight=np.ones(w_shape, np.float32), stride=np.array(stride),
                     padding=np.array(padding), dilation=np.array(dilation),
                     groups=np.array(groups), bias=np.zeros(w_shape[0], np.float32))


CONV2D_CASES = [
    # (input, weight, stride, padding, dilation, groups, expected by hand)
    # H: (10+2-2-1)//2+1 = 5;  W: (12+4-2*4-1)//3+1 = 3
    ((3, 10, 12), (8, 3, 3, 5), (2, 3), (1, 2), (1, 2), 1, (8, 5, 3)),
    # grouped: 2 groups of 2 input channels; (9-2-1)//1+1 = 7
    ((4, 9, 9), (6, 2, 3, 3), 1, 0, 1, 2, (6, 7, 7)),
    # scalar hyper-parameters: (7+2-1-1)//2+1 = 4
    ((2, 7, 7), (4, 2, 2, 2), 2, 1, 1, 1, (4, 4, 4)),
    # depthwise, padding keeps the size: (5+2-2-1)//1+1 = 5
    ((8, 5, 5), (8, 1, 3, 3), 1, 1, 1, 8, (8, 5, 5)),
    # dilation 3: (20-6-1)//1+1 = 14
    ((1, 20, 20), (2, 1, 3, 3), 1, 0, 3, 1, (2, 14, 14)),
    # stride larger than the kernel: (11-1-1)//4+1 = 3; (6-1-1)//4+1 = 2
    ((1, 11, 6), (1, 1, 2, 2), 4, 0, 1, 1, (1, 3, 2)),
    # 'same' (stride 1): output size = input size (PyTorch, NIR)
    ((1, 11, 13), (2, 1, 3, 5), 1, "same", 1, 1, (2, 11, 13)),
    ((1, 10, 10), (2, 1, 3, 3), 1, "same", 2, 1, (2, 10, 10)),
    ((1, 10, 10), (2, 1, 3, 3), 1, b"same", 1, 1, (2, 10, 10)),
    # 'valid' = no padding: 11-3+1 = 9, 13-5+1 = 9
    ((1, 11, 13), (2, 1, 3, 5), 1, "valid", 1, 1, (2, 9, 9)),
]


@pytest.mark.parametrize("in_shape,w,s,p,d,g,expected", CONV2D_CASES)
def test_conv2d_shape(in_shape, w, s, p, d, g, expected) -> None:
    shapes = infer(conv2d(w, s, p, d, g), in_shape, expected)
    assert shapes.input == in_shape
    assert shapes.output == expected
    if not isinstance(p, (str, bytes)):  # the literal agrees with the formula
        two = lambda v: (v, v) if np.ndim(v) == 0 else v  # noqa: E731
        (s0, s1), (p0, p1), (d0, d1) = two(s), two(p), two(d)
        assert expected == (w[0], conv_out(in_shape[1], w[2], s0, p0, d0),
                            conv_out(in_shape[2], w[3], s1, p1, d1))


@pytest.mark.parametrize("kernel,stride", [((2, 2), 1), ((4, 3), 1), ((3, 3), 2)])
def test_conv2d_same_that_needs_asymmetric_padding_is_refused(kernel, stride) -> None:
    """PyTorch's 'same' pads an even kernel unevenly (and refuses strides > 1);
    NIR then expects output size = input size. neurocc pads symmetrically, so it
    reports these cases instead of silently producing a smaller output."""
    problems = shape_problems(conv2d((2, 1) + kernel, stride, "same"), (1, 10, 10))
    assert len(problems) == 1
    assert "'n'" in problems[0] and "same" in problems[0]


def test_conv2d_channel_mismatch_is_a_shape_error() -> None:
    problems = shape_problems(conv2d((4, 2, 3, 3)), (3, 8, 8))
    assert len(problems) == 1
    assert "Conv2d 'n'" in problems[0] and "2 input channels, got 3" in problems[0]


def test_conv2d_grouped_channel_count() -> None:
    # groups=2 with 2 channels per group needs 4 input channels, not 2
    problems = shape_problems(conv2d((6, 2, 3, 3), groups=2), (2, 8, 8))
    assert "4 input channels, got 2" in problems[0]


CONV1D_CASES = [
    # (20+4-4-1)//3+1 = 7
    ((2, 20), (4, 2, 5), 3, 2, 1, 1, (4, 7)),
    # grouped: (10-2-1)//1+1 = 8
    ((4, 10), (6, 2, 3), 1, 0, 1, 2, (6, 8)),
    # 1-element arrays as hyper-parameters: (16+2-2*2-1)//2+1 = 7
    ((3, 16), (5, 3, 3), [2], [1], [2], 1, (5, 7)),
    ((2, 15), (4, 2, 3), 1, "same", 2, 1, (4, 15)),
    ((2, 15), (4, 2, 3), 1, "valid", 2, 1, (4, 11)),
]


@pytest.mark.parametrize("in_shape,w,s,p,d,g,expected", CONV1D_CASES)
def test_conv1d_shape(in_shape, w, s, p, d, g, expected) -> None:
    assert infer(conv1d(w, s, p, d, g), in_shape, expected).output == expected
    if not isinstance(p, str):
        one = lambda v: int(np.ravel(v)[0])  # noqa: E731
        assert expected == (w[0], conv_out(in_shape[1], w[2], one(s), one(p), one(d)))


def test_conv1d_rejects_2d_input() -> None:
    problems = shape_problems(conv1d((4, 2, 3)), (2, 8, 8))
    assert len(problems) == 1 and "Conv1d 'n'" in problems[0] and "[2, 8, 8]" in problems[0]


def test_conv_input_shape_field_is_checked_against_incoming() -> None:
    node = conv2d((4, 2, 3, 3))
    node.input_shape = np.array([8, 8])  # declares 2x8x8 = 128 values
    assert node.required_input_shape() == (2, 8, 8)
    problems = shape_problems(node, (2, 10, 10))  # 200 values
    assert any("'x' -> 'n'" in p and "200" in p and "128" in p for p in problems)


POOL_CASES = [
    # H: (9+2-2-1)//2+1 = 5; W: (7+0-1-1)//2+1 = 3
    ("SumPool2d", (3, 9, 7), (3, 2), (2, 2), (1, 0), (3, 5, 3)),
    ("AvgPool2d", (3, 9, 7), (3, 2), (2, 2), (1, 0), (3, 5, 3)),
    # scalar: H (9-1-1)//2+1 = 4; W (7-1-1)//2+1 = 3
    ("SumPool2d", (3, 9, 7), 2, 2, 0, (3, 4, 3)),
    ("AvgPool2d", (3, 9, 7), 2, 2, 0, (3, 4, 3)),
    # kernel 3, stride 1, padding 1 keeps the size
    ("AvgPool2d", (5, 6, 6), 3, 1, 1, (5, 6, 6)),
]


@pytest.mark.parametrize("kind,in_shape,k,s,p,expected", POOL_CASES)
def test_pool_shape(kind, in_shape, k, s, p, expected) -> None:
    node = ir.NODE_TYPES[kind](kernel_size=np.array(k), stride=np.array(s), padding=np.array(p))
    assert infer(node, in_shape, expected).output == expected
    two = lambda v: (v, v) if np.ndim(v) == 0 else v  # noqa: E731
    (k0, k1), (s0, s1), (p0, p1) = two(k), two(s), two(p)
    assert expected == (in_shape[0], conv_out(in_shape[1], k0, s0, p0),
                        conv_out(in_shape[2], k1, s1, p1))


FLATTEN_CASES = [
    (0, -1, (120,)),          # 2*3*4*5
    (1, -1, (2, 60)),         # 3*4*5
    (-3, -2, (2, 12, 5)),     # dims 1..2 of 4
    (1, 2, (2, 12, 5)),
    (0, 0, (2, 3, 4, 5)),     # one dimension merged with itself
    (-1, -1, (2, 3, 4, 5)),
    (-4, 1, (6, 4, 5)),
]


@pytest.mark.parametrize("start,end,expected", FLATTEN_CASES)
def test_flatten_shape(start, end, expected) -> None:
    node = ir.Flatten(start_dim=np.array(start), end_dim=np.array(end))
    assert infer(node, (2, 3, 4, 5), expected).output == expected


@pytest.mark.parametrize("start,end", [(2, 1), (0, 4), (-5, -1)])
def test_flatten_bad_dims_are_reported(start, end) -> None:
    problems = shape_problems(ir.Flatten(start_dim=np.array(start), end_dim=np.array(end)),
                              (2, 3, 4, 5))
    assert any("Flatten 'n'" in p and f"start_dim={start}" in p for p in problems)


def test_affine_and_linear_shapes() -> None:
    aff = ir.Affine(weight=np.ones((5, 3), np.float32), bias=np.zeros(5, np.float32))
    assert infer(aff, (3,), (5,)) == ir.NodeShapes((3,), (5,))
    lin = ir.Linear(weight=np.ones((7, 3), np.float64))
    assert infer(lin, (3,), (7,)) == ir.NodeShapes((3,), (7,))
    problems = shape_problems(lin, (4,))
    assert any("'x' -> 'n'" in p and "[4]" in p and "[3]" in p for p in problems)


NEURONS = {
    "LIF": ("tau", "r", "v_leak", "v_threshold"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold"),
    "IF": ("r", "v_threshold"),
    "LI": ("tau", "r", "v_leak"),
    "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak"),
    "I": ("r",),
    "Scale": ("scale",),
    "Threshold": ("threshold",),
    "Delay": ("delay",),
}


def elementwise(kind: str, shape: tuple) -> ir.Node:
    return ir.NODE_TYPES[kind](**{f: np.full(shape, 0.01) for f in NEURONS[kind]})


@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_elementwise_nodes_keep_their_parameter_shape(kind: str) -> None:
    assert infer(elementwise(kind, (4, 3)), (4, 3), (4, 3)) == ir.NodeShapes((4, 3), (4, 3))
    problems = shape_problems(elementwise(kind, (4,)), (3,))
    assert any(f"{kind} 'n'" in p and "[3]" in p and "[4]" in p for p in problems)


def test_neuron_parameters_must_share_one_shape() -> None:
    node = ir.LIF(tau=np.ones(3), r=np.ones(3), v_leak=np.ones(4), v_threshold=np.ones(3))
    problems = shape_problems(node, (3,))
    assert any("LIF 'n'" in p and "v_leak[4]" in p for p in problems)


def test_same_size_different_shape_is_reshaped_with_a_warning() -> None:
    g = ir.Graph({"x": ir.Input(shape=np.array([12])), "n": elementwise("IF", (4, 3)),
                  "y": ir.Output(shape=np.array([4, 3]))}, [("x", "n"), ("n", "y")])
    warnings = ir.verify(g)
    assert g.shapes["n"].input == (4, 3)
    assert any("IF 'n'" in w and "[4, 3]" in w and "[12]" in w for w in warnings)


def test_identity_passes_its_input_shape() -> None:
    assert infer(ir.Identity(), (2, 5), (2, 5)) == ir.NodeShapes((2, 5), (2, 5))


def test_cnn_sinabs_shapes_follow_the_hand_computed_chain() -> None:
    g = ir.load(FIX / "cnn_sinabs.nir")
    raw, _ = raw_model(FIX / "cnn_sinabs.nir")
    # the chain, from the raw parameters and the conv formula
    shape = tuple(int(v) for v in raw["input"][1]["shape"])
    chain = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "output"]
    want = {"input": shape}
    for n in chain:
        kind, p = raw[n]
        if kind == "Conv2d":
            k = p["weight"].shape[2:]
            shape = (p["weight"].shape[0],) + tuple(
                conv_out(shape[1 + i], k[i], p["stride"][i], p["padding"][i], p["dilation"][i])
                for i in range(2))
        elif kind == "SumPool2d":
            shape = (shape[0],) + tuple(
                conv_out(shape[1 + i], p["kernel_size"][i], p["stride"][i], p["padding"][i])
                for i in range(2))
        elif kind == "Flatten":
            assert int(p["start_dim"]) == 0 and int(p["end_dim"]) == -1
            shape = (int(np.prod(shape)),)
        elif kind == "Affine":
            shape = (p["weight"].shape[0],)
        want[n] = shape
    # ... and as literals: conv 5x5 stride 2 pad 1 on 34: (34+2-4-1)//2+1 = 16
    assert want == {"input": (2, 34, 34), "0": (16, 16, 16), "1": (16, 16, 16),
                    "2": (16, 16, 16), "3": (16, 16, 16), "4": (16, 8, 8), "5": (8, 8, 8),
                    "6": (8, 8, 8), "7": (8, 4, 4), "8": (128,), "9": (256,), "10": (256,),
                    "11": (10,), "12": (10,), "output": (10,)}
    assert {n: s.output for n, s in g.shapes.items()} == want
    prev = ["input"] + chain
    for a, b in zip(prev, chain):
        assert g.shapes[b].input == want[a]
    assert g.shapes["input"].input is None
    # IF neurons: 16*16*16 * 2 + 8*8*8 + 256 + 10
    assert g.n_neurons() == 4096 * 2 + 512 + 256 + 10 == 8970
    # synapses (documented convention: out positions x c_in/groups x kernel, padding counted)
    assert g.n_synapses() == (4096 * 2 * 25 + 4096 * 16 * 9 + 512 * 16 * 9
                              + 256 * 128 + 10 * 256)
