"""Every registry primitive, one node at a time: its shape rule, its text form (print -> parse ->
print), the verifier, the interp backend and eager dispatch all agree with a NumPy (or PyTorch)
expectation written here. A newly registered op without a case here fails test_every_op_is_covered."""
import math

import numpy as onp
import pytest

import hybrid as hb
from hybrid import codegen
from hybrid.core.array import NDArray
from hybrid.core.dispatch import bind
from hybrid.ir import Graph, TensorType, parse, verify

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None

R = onp.random.default_rng(7)


def f32(*shape, low=-2.0, high=2.0):
    return R.uniform(low, high, size=shape).astype("float32")


def c64(*shape):
    return (R.uniform(-2, 2, size=shape) + 1j * R.uniform(-2, 2, size=shape)).astype("complex64")


def i32(*shape, low=-4, high=5):
    return R.integers(low, high, size=shape).astype("int32")


def b(*shape):
    return R.random(shape) < 0.5


def torch_grad(fn, x, g):
    """d(sum(fn(x) * g))/dx with PyTorch autograd (float64)."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (fn(xt) * torch.tensor(g, dtype=torch.float64)).sum().backward()
    return xt.grad.numpy()


def _take_grad_expected(g, idx, axis, size):
    out_shape = list(g.shape[:axis]) + [size] + list(g.shape[axis + idx.ndim:])
    out = onp.zeros(out_shape, g.dtype)
    moved = onp.moveaxis(out, axis, 0)
    gm = onp.moveaxis(g.reshape(g.shape[:axis] + (idx.size,) + g.shape[axis + idx.ndim:]), axis, 0)
    onp.add.at(moved, idx.reshape(-1), gm)
    return out


X4 = f32(2, 3, 7, 7)
W4 = f32(4, 3, 3, 3)
G_CONV = f32(2, 4, 4, 4)  # cotangent of conv2d(X4, W4, stride 2, padding 1)
G_POOL = f32(2, 3, 3, 3)  # cotangent of a 3x3/stride 2/padding 0 pool on 7x7
CONV = dict(stride=(2, 2), padding=(1, 1), dilation=(1, 1), groups=1)
POOL = dict(kernel=(3, 3), stride=(2, 2), padding=(0, 0))

def _blocked_expected(x, block, pad):
    """to_blocked written element by element: channel c of pixel (h, w) at [c // block, h + ph, w + pw, c % block]."""
    n, c, h, w = x.shape
    out = onp.zeros((n, -(-c // block), h + 2 * pad[0], w + 2 * pad[1], block), x.dtype)
    for ch in range(c):
        out[:, ch // block, pad[0]:pad[0] + h, pad[1]:pad[1] + w, ch % block] = x[:, ch]
    return out


def _unblocked_expected(xb, channels, pad):
    n, cb, hp, wp, block = xb.shape
    out = onp.empty((n, channels, hp - 2 * pad[0], wp - 2 * pad[1]), xb.dtype)
    for ch in range(channels):
        out[:, ch] = xb[:, ch // block, pad[0]:hp - pad[0], pad[1]:wp - pad[1], ch % block]
    return out


XB = f32(2, 2, 6, 9, 4)     # a blocked image of 5 channels (block 4), 6x9 with its padding
W5 = f32(3, 5, 3, 2)

# op -> list of (inputs, attrs, expected(*inputs) -> array)
CASES = {
    "to_blocked": [([f32(2, 5, 3, 4)], {"block": 4, "pad": (1, 2)}, lambda x: _blocked_expected(x, 4, (1, 2))),
                   ([f32(1, 8, 2, 3)], {"block": 8, "pad": (0, 0)}, lambda x: _blocked_expected(x, 8, (0, 0)))],
    "from_blocked": [([XB], {"channels": 5, "pad": (1, 2)}, lambda xb: _unblocked_expected(xb, 5, (1, 2)))],
    "conv2d_blocked": [([XB, W5], {"stride": (2, 1), "dilation": (1, 2)},
                        lambda xb, w: F.conv2d(torch.tensor(_unblocked_expected(xb, 5, (0, 0))), torch.tensor(w), None,
                                               (2, 1), 0, (1, 2)).numpy())],
    "neg": [([f32(3, 4)], {}, onp.negative), ([i32(5)], {}, onp.negative)],
    "abs": [([f32(3)], {}, onp.abs), ([i32(4)], {}, onp.abs)],
    "exp": [([f32(2, 3)], {}, onp.exp)],
    "log": [([f32(4, low=0.1)], {}, onp.log)],
    "sqrt": [([f32(4, low=0.0)], {}, onp.sqrt)],
    "rsqrt": [([f32(4, low=0.1)], {}, lambda x: 1 / onp.sqrt(x))],
    "tanh": [([f32(6)], {}, onp.tanh)],
    "sigmoid": [([f32(6, low=-30, high=30)], {}, lambda x: 1 / (1 + onp.exp(-x.astype("float64"))))],
    "relu": [([f32(7)], {}, lambda x: onp.maximum(x, 0)), ([i32(7)], {}, lambda x: onp.maximum(x, 0))],
    "erf": [([f32(7)], {}, lambda x: onp.vectorize(math.erf)(x.astype("float64")))],
    "sin": [([f32(5)], {}, onp.sin)],
    "cos": [([f32(5)], {}, onp.cos)],
    "expm1": [([f32(5, low=-1e-3, high=1e-3)], {}, lambda x: onp.expm1(x.astype("float64")))],
    "log1p": [([f32(5, low=-0.5, high=1e-3)], {}, lambda x: onp.log1p(x.astype("float64")))],
    "sinh": [([f32(6, low=-20, high=20)], {}, lambda x: onp.sinh(x.astype("float64")))],
    "arcsinh": [([f32(6, low=-1e5, high=1e5)], {}, lambda x: onp.arcsinh(x.astype("float64")))],
    "floor": [([f32(5)], {}, onp.floor)],
    "ceil": [([f32(5)], {}, onp.ceil)],
    "round": [([onp.array([0.5, 1.5, -2.5, 2.4], "float32")], {}, lambda x: onp.array([0, 2, -2, 2], "float32"))],
    "sign": [([onp.array([-2.0, 0.0, 3.0], "float32")], {}, onp.sign), ([i32(6)], {}, onp.sign)],
    "stop_gradient": [([f32(3)], {}, lambda x: x)],
    "logical_not": [([b(4)], {}, onp.logical_not)],
    "add": [([f32(2, 3), f32(3)], {}, onp.add), ([i32(1, 4), i32(3, 1)], {}, onp.add)],
    "sub": [([f32(2, 1), f32(1, 5)], {}, onp.subtract)],
    "mul": [([f32(4), f32(1)], {}, onp.multiply), ([i32(2, 2), i32(2, 2)], {}, onp.multiply)],
    "div": [([f32(3, 2), f32(2, low=0.5)], {}, onp.divide)],
    "pow": [([f32(3, low=0.1), f32(3)], {}, onp.power), ([i32(4), i32(4, low=0, high=4)], {}, onp.power)],
    "mod": [([f32(5), f32(5, low=0.5)], {}, onp.mod), ([i32(5), i32(5, low=1)], {}, onp.mod)],
    "maximum": [([f32(3, 1), f32(4)], {}, onp.maximum)],
    "minimum": [([i32(3), i32(3)], {}, onp.minimum)],
    "lt": [([f32(4), f32(4)], {}, onp.less)],
    "le": [([i32(4), i32(4)], {}, onp.less_equal)],
    "gt": [([f32(2, 2), f32(2)], {}, onp.greater)],
    "ge": [([i32(3), i32(1)], {}, onp.greater_equal)],
    "eq": [([i32(6, low=0, high=2), i32(6, low=0, high=2)], {}, onp.equal), ([b(3), b(3)], {}, onp.equal)],
    "ne": [([f32(3), f32(3)], {}, onp.not_equal)],
    "logical_and": [([b(2, 3), b(3)], {}, onp.logical_and)],
    "logical_or": [([b(4), b(4)], {}, onp.logical_or)],
    "where": [([b(2, 3), f32(3), f32(2, 1)], {}, onp.where), ([b(3), i32(3), i32(1)], {}, onp.where)],
    "cast": [([f32(4), ], {"dtype": "i32"}, lambda x: x.astype("int32")),
             ([i32(4)], {"dtype": "f32"}, lambda x: x.astype("float32")),
             ([f32(3)], {"dtype": "bool"}, lambda x: x != 0)],
    "bitcast": [([f32(4)], {"dtype": "i32"}, lambda x: x.view("int32")),
                ([i32(2, 3)], {"dtype": "u32"}, lambda x: x.view("uint32")),
                ([f32()], {"dtype": "i32"}, lambda x: x.view("int32")),
                ([b(3)], {"dtype": "u8"}, lambda x: x.astype("uint8"))],
    "reshape": [([f32(2, 6)], {"shape": (3, 4)}, lambda x: x.reshape(3, 4)),
                ([i32(4)], {"shape": (2, 1, 2)}, lambda x: x.reshape(2, 1, 2))],
    "transpose": [([f32(2, 3, 4)], {"perm": (2, 0, 1)}, lambda x: x.transpose(2, 0, 1))],
    "broadcast_to": [([f32(3, 1)], {"shape": (2, 3, 4)}, lambda x: onp.broadcast_to(x, (2, 3, 4)))],
    "slice": [([f32(5, 6)], {"begin": (1, 0), "end": (4, 6), "step": (2, 3)}, lambda x: x[1:4:2, 0:6:3])],
    "concat": [([f32(2, 3), f32(1, 3), f32(4, 3)], {"axis": 0}, lambda *xs: onp.concatenate(xs, 0)),
               ([i32(2, 1), i32(2, 2)], {"axis": 1}, lambda *xs: onp.concatenate(xs, 1))],
    "pad": [([f32(2, 3)], {"pads": (1, 0, 2, 1), "value": 0.5},
             lambda x: onp.pad(x, ((1, 0), (2, 1)), constant_values=0.5))],
    # one process (no communicator installed): the reduction over the job is the identity;
    # the multi-process results are checked under mpiexec (tests/distributed)
    "allreduce": [([f32(3, 4)], {"reduce": "sum", "bucket": 0}, lambda x: x),
                  ([f32(5)], {"reduce": "avg", "bucket": 2}, lambda x: x)],
    "take": [([f32(5, 3), onp.array([4, 0, 4], "int32")], {"axis": 0}, lambda x, i: x[i]),
             ([f32(2, 5), onp.array([[1], [3]], "int32")], {"axis": 1}, lambda x, i: onp.take(x, i, axis=1))],
    "sum": [([f32(2, 3, 4)], {"axes": (0, 2), "keepdims": False}, lambda x: x.sum(axis=(0, 2))),
            ([i32(3, 2)], {"axes": (1,), "keepdims": True}, lambda x: x.sum(axis=1, keepdims=True))],
    "prod": [([f32(3, 4, low=0.5)], {"axes": (1,), "keepdims": False}, lambda x: x.prod(axis=1))],
    "max": [([f32(3, 4)], {"axes": (0, 1), "keepdims": True}, lambda x: x.max(keepdims=True))],
    "min": [([i32(3, 4)], {"axes": (0,), "keepdims": False}, lambda x: x.min(axis=0))],
    "argsort": [([onp.array([[2, 1, 2, onp.nan, -0.0, 0.0, 1]], "float32")], {},
                 lambda x: onp.argsort(x, -1, kind="stable").astype("int64")),
                ([i32(3, 5)], {}, lambda x: onp.argsort(x, -1, kind="stable").astype("int64"))],
    # the factors packed along the last axis: U, s, Vh (svd) and w, V (eigh); NumPy's LAPACK routines
    "svd": [([f32(4, 3)], {"full_matrices": False}, lambda x: onp.concatenate(
                [p.reshape(-1) for p in onp.linalg.svd(x, full_matrices=False)])),
            ([f32(2, 2, 3)], {"full_matrices": True}, lambda x: onp.concatenate(
                [p.reshape(2, -1) for p in onp.linalg.svd(x, full_matrices=True)], axis=-1)),
            ([f32(2, 4, 3)], {"full_matrices": False, "compute_uv": False}, lambda x: onp.linalg.svd(x, compute_uv=False))],
    "eigh": [([f32(3, 3)], {"uplo": "L"}, lambda x: onp.concatenate([p.reshape(-1) for p in onp.linalg.eigh(x)])),
             ([f32(3, 3)], {"uplo": "U"}, lambda x: onp.concatenate([p.reshape(-1) for p in onp.linalg.eigh(x, "U")]))],
    # complex numbers (NumPy's own functions give the expected values)
    "real": [([c64(2, 3)], {}, onp.real)], "imag": [([c64(4)], {}, onp.imag)], "conj": [([c64(3)], {}, onp.conj)],
    "fft": [([c64(2, 8)], {"inverse": False}, lambda x: onp.fft.fft(x).astype("complex64")),
            ([c64(5)], {"inverse": True}, lambda x: onp.fft.ifft(x).astype("complex64"))],
    "rfft": [([f32(3, 7)], {}, lambda x: onp.fft.rfft(x).astype("complex64"))],
    "irfft": [([c64(2, 5)], {"n": 8}, lambda x: onp.fft.irfft(x, 8).astype("float32"))],
    "view_real": [([c64(2, 3)], {}, lambda x: onp.stack([x.real, x.imag], axis=-1))],
    "view_complex": [([f32(3, 2)], {}, lambda x: (x[:, 0] + 1j * x[:, 1]).astype("complex64"))],
    "argmax": [([f32(3, 5)], {"axis": 1, "keepdims": False}, lambda x: x.argmax(axis=1).astype("int32"))],
    "matmul": [([f32(3, 4), f32(4, 5)], {"transpose_a": False, "transpose_b": False}, onp.matmul),
               ([f32(2, 4, 3), f32(5, 4)], {"transpose_a": True, "transpose_b": True},
                lambda a, b: onp.swapaxes(a, -1, -2) @ b.T),
               ([i32(2, 3), i32(3, 2)], {"transpose_a": False, "transpose_b": False}, onp.matmul)],
    "conv2d": [([X4, W4], CONV, lambda x, w: F.conv2d(torch.tensor(x), torch.tensor(w), None, 2, 1).numpy())],
    "max_pool2d": [([X4], POOL, lambda x: F.max_pool2d(torch.tensor(x), 3, 2, 0).numpy())],
    "avg_pool2d": [([X4], dict(POOL, padding=(1, 1), count_include_pad=False),
                    lambda x: F.avg_pool2d(torch.tensor(x), 3, 2, 1, count_include_pad=False).numpy())],
    "constant": [([], {"value": f32(2, 2)}, None)],
    "iota": [([], {"shape": (2, 3), "axis": 1, "dtype": "i32"},
              lambda: onp.broadcast_to(onp.arange(3, dtype="int32"), (2, 3)))],
    "random_uniform": [([onp.array([1, 2], "uint32")], {"shape": (4, 3), "dtype": "f32"}, None)],
    "conv2d_input_grad": [([G_CONV, W4], dict(CONV, input_shape=X4.shape),
                           lambda g, w: torch_grad(lambda x: F.conv2d(x, torch.tensor(w, dtype=torch.float64),
                                                                      None, 2, 1), X4, g))],
    "conv2d_weight_grad": [([X4, G_CONV], dict(CONV, weight_shape=W4.shape),
                            lambda x, g: torch_grad(lambda w: F.conv2d(torch.tensor(x, dtype=torch.float64), w,
                                                                       None, 2, 1), W4, g))],
    "max_pool2d_grad": [([X4, G_POOL], POOL,
                         lambda x, g: torch_grad(lambda t: F.max_pool2d(t, 3, 2, 0), x, g))],
    "avg_pool2d_grad": [([G_POOL], dict(POOL, input_shape=X4.shape, count_include_pad=True),
                         lambda g: torch_grad(lambda t: F.avg_pool2d(t, 3, 2, 0), X4, g))],
    "take_grad": [([f32(3, 4), onp.array([1, 1, 0], "int32")], {"axis": 0, "size": 5},
                   lambda g, i: _take_grad_expected(g, i, 0, 5)),
                  ([f32(2, 1, 2, 3), onp.array([[2, 0]], "int32")], {"axis": 1, "size": 4},
                   lambda g, i: _take_grad_expected(g, i, 1, 4))],
    # NumPy's further ufuncs (hybrid/ir/ops/ufuncs.py)
    **{name: [([f32(6, low=lo, high=hi)], {}, getattr(onp, name))] for name, lo, hi in [
        ("arcsin", -0.99, 0.99), ("arccos", -0.99, 0.99), ("arctan", -9, 9), ("arcsinh", -9, 9), ("arccosh", 1, 9),
        ("arctanh", -0.99, 0.99), ("tan", -1.4, 1.4), ("sinh", -3, 3), ("cosh", -3, 3), ("log1p", -0.9, 3),
        ("expm1", -3, 3), ("log2", 0.1, 9), ("log10", 0.1, 9), ("exp2", -9, 9), ("cbrt", -9, 9), ("trunc", -3, 3),
        ("signbit", -3, 3)]},
    **{name: [([f32(2, 3), f32(3, low=0.5)], {}, getattr(onp, name))] for name in (
        "arctan2", "hypot", "logaddexp", "logaddexp2", "copysign", "fmax", "fmin", "fmod", "heaviside",
        "floor_divide")},
    **{name: [([i32(2, 3), i32(3)], {}, getattr(onp, name))] for name in ("bitwise_and", "bitwise_or", "bitwise_xor")},
    "invert": [([i32(5)], {}, onp.invert), ([b(4)], {}, onp.invert)],
    "left_shift": [([i32(5), i32(5, low=0, high=4)], {}, onp.left_shift)],
    "right_shift": [([i32(5), i32(5, low=0, high=4)], {}, onp.right_shift)],
}
TORCH_OPS = {"conv2d", "conv2d_blocked", "max_pool2d", "avg_pool2d", "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d_grad",
             "avg_pool2d_grad"}


def test_every_op_is_covered():
    missing = sorted(set(hb.ir.all_ops()) - set(CASES))
    assert not missing, f"registry ops without a test case in {__file__}: {missing}"


def _cases():
    for op, cases in sorted(CASES.items()):
        for i, case in enumerate(cases):
            yield pytest.param(op, *case, id=f"{op}-{i}",
                               marks=[pytest.mark.skipif(torch is None and op in TORCH_OPS, reason="needs torch")])


def one_node_graph(op, inputs, attrs) -> Graph:
    g = Graph(op)
    values = [g.add_input(f"in{i}", TensorType.of(x)) for i, x in enumerate(inputs)]
    node = g.add_node(op, values, attrs, loc="test_registry_ops.py:1")
    g.outputs = list(node.outputs)
    return g


@pytest.mark.parametrize("op, inputs, attrs, expected", list(_cases()))
def test_op(op, inputs, attrs, expected):
    graph = one_node_graph(op, inputs, attrs)
    verify(graph)
    text = str(graph)
    parsed = parse(text)
    assert str(parsed) == text and parsed == graph
    verify(parsed)
    (result,) = codegen.build(parsed, "interp")(list(inputs))
    (direct,) = codegen.build(graph, "interp")(list(inputs))
    out_type = graph.outputs[0].type
    assert TensorType.of(result) == out_type, f"interp gives {TensorType.of(result)}, the shape rule {out_type}"
    onp.testing.assert_array_equal(result, direct)
    if op == "constant":
        onp.testing.assert_array_equal(result, attrs["value"])
        return
    eager = bind(op, *[NDArray(x) for x in inputs], **attrs)
    onp.testing.assert_array_equal(eager.asnumpy(), result)
    if op == "random_uniform":
        assert (result >= 0).all() and (result < 1).all() and len(onp.unique(result)) == result.size
        return
    want = onp.asarray(expected(*inputs))
    if result.dtype.kind == "f":
        onp.testing.assert_allclose(result, want, rtol=1e-5, atol=1e-5)
    else:
        onp.testing.assert_array_equal(result, want.astype(result.dtype))


def test_shape_rule_errors_name_the_op_and_types():
    cases = [
        ("add", [f32(2, 3), f32(4)], {}, "add(f32[2,3], f32[4])"),
        ("add", [f32(3), i32(3)], {}, "different dtypes"),
        ("matmul", [f32(2, 3), f32(4, 5)], {"transpose_a": False, "transpose_b": False}, "contraction"),
        ("reshape", [f32(2, 3)], {"shape": (4, 2)}, "cannot reshape"),
        ("transpose", [f32(2, 3)], {"perm": (0, 0)}, "not a permutation"),
        ("slice", [f32(4)], {"begin": (2,), "end": (6,), "step": (1,)}, "out of range"),
        ("where", [f32(3), f32(3), f32(3)], {}, "condition must be bool"),
        ("log", [i32(3)], {}, "floating-point"),
        ("take", [f32(3), f32(2)], {"axis": 0}, "indices must be integers"),
        ("sum", [f32(3)], {"axes": (1,), "keepdims": False}, "axis 1 is out of range"),
        ("conv2d", [f32(1, 3, 5, 5), f32(2, 2, 3, 3)], CONV, "channels"),
        ("random_uniform", [i32(2)], {"shape": (2,), "dtype": "f32"}, "key must be u32[2]"),
    ]
    for op, inputs, attrs, fragment in cases:
        with pytest.raises(hb.ShapeError) as info:
            one_node_graph(op, inputs, attrs)
        assert str(info.value).startswith(f"{op}(") and fragment in str(info.value), str(info.value)


def test_unknown_op_lists_the_registered_ones():
    with pytest.raises(KeyError, match="unknown op 'frobnicate'.*matmul"):
        hb.ir.get_op("frobnicate")


def test_elementwise_ops_have_scalar_forms():
    """The LLVM and CUDA backends render elementwise ops from their scalar expression."""
    for name, opdef in hb.ir.all_ops().items():
        if opdef.kind == "elementwise":
            assert opdef.scalar is not None, name


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        hb.ir.register(hb.ir.get_op("add"))
