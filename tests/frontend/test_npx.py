"""npx deep-learning ops: eager vs hybridized (interp) vs NumPy references written here, and
vs PyTorch (CPU) where it is installed."""
import math

import numpy as onp
import pytest
from hypothesis import given, settings, strategies as st

import hybrid as hb
from hybrid import autograd, np, npx

from hb_check import check, run_both, sample

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the NumPy references still run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
SETTINGS = settings(max_examples=25, deadline=None)


def t(x):
    return torch.from_numpy(onp.ascontiguousarray(x))


# -- NumPy references ---------------------------------------------------------------------------------
def ref_erf(x):
    return onp.vectorize(math.erf)(x.astype(onp.float64))


def ref_softmax(x, axis):
    e = onp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_log_softmax(x, axis):
    s = x - x.max(axis=axis, keepdims=True)
    return s - onp.log(onp.exp(s).sum(axis=axis, keepdims=True))


def ref_layer_norm(x, gamma, beta, axis, eps):
    x = x.astype(onp.float64)
    mu = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, keepdims=True)
    shape = [1] * x.ndim
    shape[axis] = -1
    return (x - mu) / onp.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)


def ref_conv2d(x, w, stride, padding, dilation, groups):
    """Direct loops over the output (float64), independent of the im2col reference in hybrid."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = onp.pad(x.astype(onp.float64), ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = onp.zeros((n, o, oh, ow))
    per_group = o // groups
    for oc in range(o):
        g = oc // per_group
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg,
                           i * stride[0]:i * stride[0] + dilation[0] * (kh - 1) + 1:dilation[0],
                           j * stride[1]:j * stride[1] + dilation[1] * (kw - 1) + 1:dilation[1]]
                out[:, oc, i, j] = (patch * w[oc]).sum(axis=(1, 2, 3))
    return out


def ref_pool(x, kernel, stride, padding, kind, count_include_pad=True):
    n, c, h, w = x.shape
    fill = -onp.inf if kind == "max" else 0.0
    xp = onp.pad(x.astype(onp.float64), ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2), constant_values=fill)
    valid = onp.pad(onp.ones((h, w)), ((padding[0],) * 2, (padding[1],) * 2))
    oh = (h + 2 * padding[0] - kernel[0]) // stride[0] + 1
    ow = (w + 2 * padding[1] - kernel[1]) // stride[1] + 1
    out = onp.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * stride[0], i * stride[0] + kernel[0])
            cols = slice(j * stride[1], j * stride[1] + kernel[1])
            window = xp[:, :, rows, cols]
            if kind == "max":
                out[:, :, i, j] = window.max(axis=(2, 3))
            else:
                count = kernel[0] * kernel[1] if count_include_pad else valid[rows, cols].sum()
                out[:, :, i, j] = window.sum(axis=(2, 3)) / count
    return out


# -- activations ---------------------------------------------------------------------------------------
SHAPES = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


@SETTINGS
@given(shape=SHAPES, seed=st.integers(0, 2**31 - 1))
def test_activations(shape, seed):
    x = sample(shape, low=-6, high=6, rng=onp.random.default_rng(seed))
    check(npx.relu, lambda v: onp.maximum(v, 0), x, dtype="float32")
    check(npx.sigmoid, lambda v: 1 / (1 + onp.exp(-v.astype(onp.float64))), x, rtol=1e-6, dtype="float32")
    check(npx.erf, ref_erf, x, rtol=1e-6, atol=1e-6, dtype="float32")
    check(lambda v: npx.gelu(v), lambda v: 0.5 * v * (1 + ref_erf(v / math.sqrt(2))), x, rtol=1e-5, atol=1e-6)
    check(lambda v: npx.gelu(v, approximate="tanh"),
          lambda v: 0.5 * v * (1 + onp.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v.astype(onp.float64) ** 3))),
          x, rtol=1e-5, atol=1e-6)


def test_relu_int_and_sigmoid_extremes():
    check(npx.relu, lambda v: onp.maximum(v, 0), sample((7,), "int32"), dtype="int32")
    big = onp.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], "float32")
    with onp.errstate(over="ignore"):  # the float64 reference overflows to inf; hybrid must not give nan
        check(npx.sigmoid, lambda v: 1 / (1 + onp.exp(-v.astype(onp.float64))), big)


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "softrelu", "gelu", "silu", "softsign"])
def test_activation_by_name(act):
    refs = {"relu": lambda v: onp.maximum(v, 0), "sigmoid": lambda v: 1 / (1 + onp.exp(-v)), "tanh": onp.tanh,
            "softrelu": lambda v: onp.log1p(onp.exp(v)), "gelu": lambda v: 0.5 * v * (1 + ref_erf(v / math.sqrt(2))),
            "silu": lambda v: v / (1 + onp.exp(-v)), "softsign": lambda v: v / (1 + onp.abs(v))}
    check(lambda v: npx.activation(v, act), lambda v: refs[act](v.astype(onp.float64)), sample((3, 4)), rtol=1e-5,
          atol=1e-6)


def test_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'foo'"):
        npx.activation(np.ones(2), "foo")
    with pytest.raises(ValueError, match="approximate"):
        npx.gelu(np.ones(2), approximate="fast")


@needs_torch
def test_activations_match_torch():
    x = sample((4, 9), low=-5, high=5)
    check(npx.gelu, lambda v: F.gelu(t(v)).numpy(), x, rtol=1e-5, atol=1e-6)
    check(lambda v: npx.gelu(v, approximate="tanh"), lambda v: F.gelu(t(v), approximate="tanh").numpy(), x,
          rtol=1e-5, atol=1e-6)
    check(npx.sigmoid, lambda v: torch.sigmoid(t(v)).numpy(), x, rtol=1e-6, atol=1e-7)
    check(npx.erf, lambda v: torch.erf(t(v)).numpy(), x, rtol=1e-6, atol=1e-7)


# -- softmax / log_softmax / layer_norm / batch_norm ------------------------------------------------------
@SETTINGS
@given(shape=SHAPES, seed=st.integers(0, 2**31 - 1), axis_seed=st.integers(0, 10))
def test_softmax_log_softmax(shape, seed, axis_seed):
    axis = axis_seed % len(shape) - len(shape) * (axis_seed % 2)
    x = sample(shape, low=-20, high=20, rng=onp.random.default_rng(seed))
    check(lambda v: npx.softmax(v, axis=axis), lambda v: ref_softmax(v.astype(onp.float64), axis), x,
          rtol=1e-5, atol=1e-7)
    check(lambda v: npx.log_softmax(v, axis=axis), lambda v: ref_log_softmax(v.astype(onp.float64), axis), x,
          rtol=1e-5, atol=1e-5)


def test_softmax_is_stable_for_large_inputs():
    x = onp.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]], "float32")
    check(npx.softmax, lambda v: ref_softmax(v.astype(onp.float64), -1), x, rtol=1e-6)
    check(npx.log_softmax, lambda v: ref_log_softmax(v.astype(onp.float64), -1), x, rtol=1e-6)


@needs_torch
def test_softmax_matches_torch():
    x = sample((3, 4, 5), low=-10, high=10)
    check(lambda v: npx.softmax(v, axis=1), lambda v: torch.softmax(t(v), 1).numpy(), x, rtol=1e-5, atol=1e-7)
    check(lambda v: npx.log_softmax(v), lambda v: torch.log_softmax(t(v), -1).numpy(), x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, axis", [((4, 8), -1), ((2, 3, 5), -1), ((2, 3, 5), 1), ((6,), 0)])
def test_layer_norm(shape, axis):
    x = sample(shape, low=-4, high=6)
    gamma, beta = sample((shape[axis],)), sample((shape[axis],))
    check(lambda v, g, b: npx.layer_norm(v, g, b, axis=axis, eps=1e-5),
          lambda v, g, b: ref_layer_norm(v, g, b, axis, 1e-5), x, gamma, beta, rtol=1e-4, atol=1e-5)
    check(lambda v: npx.layer_norm(v, axis=axis), lambda v: ref_layer_norm(v, onp.ones(1), onp.zeros(1), axis, 1e-5),
          x, rtol=1e-4, atol=1e-5)


@needs_torch
def test_layer_norm_matches_torch():
    x, gamma, beta = sample((3, 7, 16)), sample((16,)), sample((16,))
    check(lambda v, g, b: npx.layer_norm(v, g, b, eps=1e-5),
          lambda v, g, b: F.layer_norm(t(v), (16,), t(g), t(b), 1e-5).numpy(), x, gamma, beta, rtol=1e-4, atol=1e-5)


def test_batch_norm_inference_and_batch_stats():
    x = sample((4, 3, 5, 5), low=-2, high=4)
    gamma, beta = sample((3,)), sample((3,))
    mean, var = sample((3,)), onp.abs(sample((3,))) + 0.5
    shape = (1, 3, 1, 1)

    def ref(v, g, b, m, s):
        return (v - m.reshape(shape)) / onp.sqrt(s.reshape(shape) + 1e-5) * g.reshape(shape) + b.reshape(shape)
    check(lambda v, g, b, m, s: npx.batch_norm(v, g, b, m, s, eps=1e-5), ref, x, gamma, beta, mean, var, rtol=1e-5,
          atol=1e-5)

    def ref_batch(v, g, b, m, s):
        bm, bv = v.mean(axis=(0, 2, 3)), v.var(axis=(0, 2, 3))
        return ref(v, g, b, bm, bv), bm, bv
    check(lambda v, g, b, m, s: npx.batch_norm(v, g, b, m, s, eps=1e-5, use_batch_stats=True),
          ref_batch, x, gamma, beta, mean, var, rtol=1e-4, atol=1e-5)
    if torch is not None:
        check(lambda v, g, b, m, s: npx.batch_norm(v, g, b, m, s, eps=1e-5),
              lambda v, g, b, m, s: F.batch_norm(t(v), t(m), t(s), t(g), t(b), False, 0.1, 1e-5).numpy(),
              x, gamma, beta, mean, var, rtol=1e-5, atol=1e-5)


def test_batch_norm_channels_last_axis():
    x, gamma, beta, mean, var = sample((2, 4, 3)), sample((3,)), sample((3,)), sample((3,)), onp.ones(3, "float32")
    check(lambda v, g, b, m, s: npx.batch_norm(v, g, b, m, s, axis=-1),
          lambda v, g, b, m, s: (v - m) / onp.sqrt(s + 1e-5) * g + b, x, gamma, beta, mean, var, rtol=1e-5, atol=1e-5)


# -- convolution / pooling --------------------------------------------------------------------------------
CONV_CASES = [
    # (N, C, H, W), (O, KH, KW), stride, padding, dilation, groups
    ((2, 3, 7, 7), (4, 3, 3), 1, 0, 1, 1),
    ((1, 2, 9, 8), (3, 3, 3), 2, 1, 1, 1),
    ((2, 4, 9, 9), (6, 3, 3), 1, 2, 2, 2),           # dilation and groups
    ((1, 4, 6, 7), (4, 3, 1), (2, 1), (1, 0), 1, 4),  # depthwise, non-square
    ((1, 1, 5, 5), (2, 5, 5), 1, 0, 1, 1),            # kernel as large as the input
    ((3, 6, 4, 4), (3, 1, 1), 1, 0, 1, 3),
]


@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups", CONV_CASES)
def test_convolution(xs, ws, stride, padding, dilation, groups):
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    x = sample(xs)
    w = sample((ws[0], xs[1] // groups) + ws[1:])
    bias = sample((ws[0],))

    def fn(v, k, b):
        return npx.convolution(v, k, b, stride=stride, padding=padding, dilation=dilation, groups=groups)

    def ref(v, k, b):
        return ref_conv2d(v, k, pair(stride), pair(padding), pair(dilation), groups) + b.reshape(1, -1, 1, 1)
    check(fn, ref, x, w, bias, rtol=1e-4, atol=1e-4, dtype="float32")
    if torch is not None:
        check(fn, lambda v, k, b: F.conv2d(t(v), t(k), t(b), pair(stride), pair(padding), pair(dilation),
                                           groups).numpy(), x, w, bias, rtol=1e-4, atol=1e-4)


def test_convolution_shape_errors():
    with pytest.raises(hb.ShapeError, match="channels") as info:
        npx.convolution(np.ones((1, 3, 5, 5)), np.ones((2, 2, 3, 3)))
    assert "conv2d" in str(info.value) and "[1,3,5,5]" in str(info.value)
    with pytest.raises(hb.ShapeError, match="does not fit"):
        npx.convolution(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)))


POOL_CASES = [((2, 3, 8, 8), 2, None, 0), ((1, 2, 7, 9), 3, 2, 1), ((1, 1, 5, 6), (2, 3), (1, 2), (1, 1)),
              ((2, 2, 6, 6), 3, 1, 1)]


@pytest.mark.parametrize("xs, kernel, stride, padding", POOL_CASES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling(xs, kernel, stride, padding, kind):
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    x = sample(xs)
    for include in (True, False):
        def fn(v):
            return npx.pooling(v, kernel, stride, padding, pool_type=kind, count_include_pad=include)

        def ref(v):
            return ref_pool(v, pair(kernel), pair(stride or kernel), pair(padding), kind, include)
        check(fn, ref, x, rtol=1e-5, atol=1e-6, dtype="float32")
    if torch is not None:
        torch_pool = F.max_pool2d if kind == "max" else F.avg_pool2d
        check(lambda v: npx.pooling(v, kernel, stride, padding, pool_type=kind),
              lambda v: torch_pool(t(v), pair(kernel), pair(stride or kernel), pair(padding)).numpy(), x, rtol=1e-5,
              atol=1e-6)


def test_max_pooling_int():
    check(lambda v: npx.pooling(v, 2, 1, 1), lambda v: ref_pool(v, (2, 2), (1, 1), (1, 1), "max"),
          sample((1, 2, 4, 4), "int32"), dtype="int32")


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_global_pooling(kind):
    x = sample((2, 3, 5, 7))
    ref = onp.max if kind == "max" else onp.mean
    check(lambda v: npx.pooling(v, pool_type=kind, global_pool=True), lambda v: ref(v, axis=(2, 3), keepdims=True),
          x, rtol=1e-6)


def test_pooling_errors():
    with pytest.raises(hb.ShapeError, match="1-3 spatial dimensions"):
        npx.pooling(np.ones((3, 4)))
    with pytest.raises(ValueError, match="pool_type"):
        npx.pooling(np.ones((1, 1, 4, 4)), pool_type="sum")


# -- dropout -------------------------------------------------------------------------------------------------
def test_dropout_inference_is_identity():
    x = sample((5, 6))
    check(lambda v: npx.dropout(v, 0.5), lambda v: v, x)
    with autograd.predict_mode():
        check(lambda v: npx.dropout(v, 0.5), lambda v: v, x)


def test_dropout_training_scales_and_reproduces():
    x = onp.ones((200, 100), "float32")
    with autograd.train_mode():
        np.random.seed(3)
        eager = npx.dropout(np.array(x), 0.3).asnumpy()
        np.random.seed(3)
        eager_again = npx.dropout(np.array(x), 0.3).asnumpy()
        compiled = hb.hybridize(lambda v: npx.dropout(v, 0.3), backend="interp")
        np.random.seed(3)
        hybridized = compiled(np.array(x)).asnumpy()
        different = compiled(np.array(x)).asnumpy()
    onp.testing.assert_array_equal(eager, eager_again)
    onp.testing.assert_array_equal(hybridized, eager)
    assert not onp.array_equal(different, eager)
    kept = eager != 0
    onp.testing.assert_allclose(eager[kept], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.02
    assert npx.dropout(np.array(x), 0.3, training=False).asnumpy().tolist() == x.tolist()


def test_dropout_training_flag_is_part_of_the_signature():
    compiled = hb.hybridize(lambda v: npx.dropout(v, 0.5), backend="interp")
    x = np.ones((4, 4))
    onp.testing.assert_array_equal(compiled(x).asnumpy(), x.asnumpy())
    with autograd.train_mode():
        assert (compiled(x).asnumpy() == 0).any()
    assert len(compiled.compiled.cache) == 2


def test_dropout_bad_probability():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        npx.dropout(np.ones(3), 1.0, training=True)


# -- one_hot / embedding / take ---------------------------------------------------------------------------------
def test_one_hot():
    idx = onp.array([[0, 3], [2, 1]], "int32")
    check(lambda i: npx.one_hot(i, 4), lambda i: onp.eye(4, dtype="float32")[i], idx, dtype="float32")
    check(lambda i: npx.one_hot(i, 5, on_value=2, off_value=-1, dtype="int32"),
          lambda i: onp.where(onp.eye(5, dtype=bool)[i], 2, -1), idx, dtype="int32")
    if torch is not None:
        check(lambda i: npx.one_hot(i, 4), lambda i: F.one_hot(t(i.astype("int64")), 4).numpy(), idx)


def test_embedding_and_take():
    weight, idx = sample((10, 4)), onp.array([[1, 9, 0], [3, 3, 2]], "int32")
    check(npx.embedding, lambda i, w: w[i], idx, weight, dtype="float32")
    check(lambda w, i: npx.take(w, i, axis=1), lambda w, i: onp.take(w, i, axis=1), weight, onp.array([3, 0], "int32"))
    if torch is not None:
        check(npx.embedding, lambda i, w: F.embedding(t(i.astype("int64")), t(w)).numpy(), idx, weight)


def test_fully_connected():
    x, w, b = sample((2, 3, 4)), sample((5, 12)), sample((5,))
    check(npx.fully_connected, lambda v, k, c: v.reshape(2, -1) @ k.T + c, x, w, b, rtol=1e-5, atol=1e-5)
    w2 = sample((5, 4))
    check(lambda v, k: npx.fully_connected(v, k, flatten=False), lambda v, k: v @ k.T, x, w2, rtol=1e-5, atol=1e-5)


def test_composites_trace_to_primitives_only():
    """softmax, layer_norm, gelu, ... are written from registry primitives (no composite nodes)."""
    prims = set(hb.ir.all_ops())
    x = np.ones((2, 4))
    for fn in (npx.softmax, npx.log_softmax, npx.layer_norm, npx.gelu, lambda v: npx.gelu(v, approximate="tanh"),
               lambda v: npx.one_hot(np.argmax(v, 1), 4)):
        graph = hb.trace(fn, x)
        assert graph.nodes and {n.op for n in graph.nodes} <= prims
    eager, compiled = run_both(npx.softmax, onp.ones((2, 4), "float32"))
    onp.testing.assert_allclose(eager, 0.25)


def test_more_activations():
    x = sample((4, 5), low=-30, high=30)
    with onp.errstate(over="ignore"):
        check(npx.silu, lambda v: v / (1 + onp.exp(-v.astype(onp.float64))), x, rtol=1e-5, atol=1e-6)
        check(npx.softplus, lambda v: onp.logaddexp(0, v.astype(onp.float64)), x, rtol=1e-5, atol=1e-6)
    check(lambda v: npx.leaky_relu(v, slope=0.1), lambda v: onp.where(v < 0, 0.1 * v, v), x, rtol=1e-6)
    check(npx.rsqrt, lambda v: 1 / onp.sqrt(v.astype(onp.float64)), onp.abs(x) + 0.5, rtol=1e-6)
