"""``lower`` keeps convolutions and sparse Linears in their encodings (``linear_ops``).

Every map is checked against the dense chain built here by applying each NIR node to
the columns of an identity (``lower._apply``, the dense path every network took before
these encodings existed): a conv or pooling node as a ``Conv``, pooling folded into
the next convolution where that is exact and refused (``None``) where it is not, a
mostly-zero Linear as ``Sparse``, and a product too large to expand as ``Sparse``."""

from __future__ import annotations

import numpy as np
import pytest

from neurocc import ir
from neurocc.compiler.passes import linear_ops as L
from neurocc.compiler.passes.lower import _apply, lower_synapses

RNG = np.random.default_rng(12)


def _conv2d(c_in: int, c_out: int, k: int, stride: int, pad: int, dil: int = 1,
            groups: int = 1) -> ir.Conv2d:
    return ir.Conv2d(weight=RNG.normal(size=(c_out, c_in // groups, k, k)),
                     stride=np.array([stride, stride]), padding=np.array([pad, pad]),
                     dilation=np.array([dil, dil]), groups=np.array(groups),
                     bias=np.zeros(c_out))


def _pool(k: int, stride: int, pad: int = 0) -> ir.SumPool2d:
    return ir.SumPool2d(kernel_size=np.array([k, k]), stride=np.array([stride, stride]),
                        padding=np.array([pad, pad]))


def _dense_chain(nodes: list[ir.Node], in_shape: tuple[int, ...]) -> tuple[np.ndarray, tuple]:
    m, shape = np.eye(int(np.prod(in_shape))), in_shape
    for node in nodes:
        out = node.output_shape(shape)
        m, shape = _apply(node, shape, out, m), out
    return m, shape


@pytest.mark.parametrize("node,shape", [
    (_conv2d(2, 3, 3, 2, 1), (2, 7, 6)),
    (_conv2d(4, 4, 3, 1, 2, dil=2, groups=2), (4, 6, 6)),
    (_pool(2, 2), (3, 6, 6)),
    (_pool(3, 1, 1), (2, 5, 5)),
    (ir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
     (2, 4, 4)),
])
def test_a_conv_or_pool_node_is_its_dense_map(node, shape) -> None:
    dense, out = _dense_chain([node], shape)
    conv = L.conv_of(node, shape, out)
    assert np.array_equal(conv.to_dense(), dense)      # bit for bit, not just close


@pytest.mark.parametrize("first,then,shape,exact", [
    (_pool(2, 2), _conv2d(3, 4, 3, 1, 1), (3, 8, 8), True),     # even: the padding reads zeros
    (_pool(2, 2), _conv2d(3, 4, 3, 1, 1), (3, 9, 9), False),    # odd: row 8 is dropped by the pool
    (_conv2d(2, 3, 3, 2, 0), _conv2d(3, 2, 2, 1, 0), (2, 9, 9), True),
    (_conv2d(2, 3, 3, 1, 1), _conv2d(3, 2, 3, 1, 1), (2, 6, 6), False),  # 'same' then 'same'
    (_pool(2, 2), _pool(2, 2), (1, 8, 8), True),
])
def test_compose_is_exact_or_refuses(first, then, shape, exact) -> None:
    dense, _ = _dense_chain([first, then], shape)
    mid = first.output_shape(shape)
    a = L.conv_of(first, shape, mid)
    b = L.conv_of(then, mid, then.output_shape(mid))
    composite = L.compose(a, b)
    if exact:
        assert composite is not None and composite.kind == "conv"
        assert np.allclose(composite.to_dense(), dense, rtol=0, atol=1e-12)
    else:
        # a folded kernel would read real inputs where the pooled map holds padding zeros
        assert composite is None


def _graph(nodes: dict, edges: list) -> ir.Graph:
    return ir.Graph(nodes, edges)


def _if(shape: tuple[int, ...]) -> ir.IF:
    return ir.IF(r=np.ones(shape), v_threshold=np.ones(shape))


def test_a_cnn_lowers_to_conv_blocks_equal_to_the_dense_chain() -> None:
    c1, p1, c2 = _conv2d(2, 4, 3, 2, 1), _pool(2, 2), _conv2d(4, 6, 3, 1, 1)
    aff = ir.Affine(weight=RNG.normal(size=(5, 6 * 4 * 4)), bias=np.zeros(5))
    s1 = c1.output_shape((2, 16, 16))
    s2 = c2.output_shape(p1.output_shape(s1))
    nodes = {"in": ir.Input(shape=np.array([2, 16, 16])), "c1": c1, "n1": _if(s1), "p1": p1,
             "c2": c2, "n2": _if(s2), "f": ir.Flatten(input_type=np.array(s2),
                                                      start_dim=0, end_dim=-1),
             "a": aff, "n3": _if((5,)), "out": ir.Output(shape=np.array([5]))}
    edges = [("in", "c1"), ("c1", "n1"), ("n1", "p1"), ("p1", "c2"), ("c2", "n2"), ("n2", "f"),
             ("f", "a"), ("a", "n3"), ("n3", "out")]
    lowered = lower_synapses(_graph(nodes, edges))
    (m1,), (m2,), (m3,) = (lowered.incoming[g] for g in ("n1", "n2", "n3"))
    assert (m1.matrix.kind, m2.matrix.kind, type(m3.matrix)) == ("conv", "conv", np.ndarray)
    assert m2.matrix.geometry.stride == (2, 2)        # the pooling folded into the kernel
    assert np.array_equal(m1.matrix.to_dense(), _dense_chain([c1], (2, 16, 16))[0])
    assert np.allclose(m2.matrix.to_dense(), _dense_chain([p1, c2], s1)[0], rtol=0, atol=1e-12)
    assert np.array_equal(m3.matrix, aff.weight)


def test_a_mostly_zero_linear_is_sparse_and_a_large_product_stays_sparse(monkeypatch) -> None:
    w = np.where(RNG.random((100, 80)) < 0.05, RNG.normal(size=(100, 80)), 0.0)
    nodes = {"in": ir.Input(shape=np.array([80])), "w": ir.Linear(weight=w), "n": _if((100,)),
             "out": ir.Output(shape=np.array([100]))}
    (c,) = lower_synapses(_graph(nodes, [("in", "w"), ("w", "n"), ("n", "out")])).incoming["n"]
    assert c.matrix.kind == "sparse" and np.array_equal(c.matrix.to_dense(), w)
    # an odd-sized pooling cannot fold; above DENSE_MAX the product is formed as CSR
    monkeypatch.setattr(L, "DENSE_MAX", 100)
    p, conv = _pool(2, 2), _conv2d(3, 2, 3, 1, 1)
    s0 = (3, 9, 9)
    s1 = p.output_shape(s0)
    s2 = conv.output_shape(s1)
    nodes = {"in": ir.Input(shape=np.array(s0)), "n0": _if(s0), "p": p, "c": conv,
             "n": _if(s2), "out": ir.Output(shape=np.array(s2))}
    lowered = lower_synapses(_graph(nodes, [("in", "n0"), ("n0", "p"), ("p", "c"), ("c", "n"),
                                            ("n", "out")]))
    (c,) = lowered.incoming["n"]
    assert c.matrix.kind == "sparse"
    assert np.allclose(c.matrix.to_dense(), _dense_chain([p, conv], s0)[0], rtol=0, atol=1e-12)
