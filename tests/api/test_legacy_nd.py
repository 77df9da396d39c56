"""hb.nd (MXNet 2.0's legacy NDArray functions): results against NumPy, including the legacy
differences (float32 creation, (1,)-shaped whole-array reductions, concat along dim=1, reshape
codes, dot transpose flags, out=)."""
import numpy as onp
import pytest

import hybrid as mx
from hybrid import nd


def test_creation_defaults_to_float32_except_for_arrays():
    assert nd.array([1, 2, 3]).dtype == onp.float32
    assert nd.array(onp.arange(3, dtype=onp.int64)).dtype == onp.int64
    assert nd.array([1, 2], dtype="int32").dtype == onp.int32
    assert nd.zeros((2, 3)).dtype == nd.ones(4).dtype == nd.empty((1,)).dtype == onp.float32
    onp.testing.assert_array_equal(nd.full((2, 2), 7).asnumpy(), onp.full((2, 2), 7, onp.float32))
    onp.testing.assert_array_equal(nd.arange(1, 4, repeat=2).asnumpy(), [1, 1, 2, 2, 3, 3])
    onp.testing.assert_array_equal(nd.empty((2,)).asnumpy(), [0, 0])
    with pytest.raises(ValueError, match="dense"):
        nd.zeros((2,), stype="csr")


def test_reductions_keep_a_dimension():
    x = onp.arange(24, dtype=onp.float32).reshape(2, 3, 4)
    a = nd.array(x)
    for fn, ref in ((nd.sum, onp.sum), (nd.mean, onp.mean), (nd.max, onp.max), (nd.min, onp.min),
                    (nd.prod, onp.prod)):
        whole = fn(a)
        assert whole.shape == (1,)
        onp.testing.assert_allclose(whole.asnumpy(), [ref(x)], rtol=1e-6)
        onp.testing.assert_allclose(fn(a, axis=1).asnumpy(), ref(x, axis=1), rtol=1e-6)
        onp.testing.assert_allclose(fn(a, axis=1, exclude=True).asnumpy(), ref(x, axis=(0, 2)), rtol=1e-6)
    with_nan = onp.where(x % 5 == 0, onp.nan, x / 10).astype(onp.float32)
    for fn, ref in ((nd.nansum, onp.nansum), (nd.nanprod, onp.nanprod)):   # NaN counts as 0 (sum) / 1 (prod)
        assert fn(nd.array(with_nan)).shape == (1,)
        onp.testing.assert_allclose(fn(nd.array(with_nan)).asnumpy(), [ref(with_nan)], rtol=1e-5)
        onp.testing.assert_allclose(fn(nd.array(with_nan), axis=2).asnumpy(), ref(with_nan, axis=2), rtol=1e-5)
    onp.testing.assert_allclose(nd.norm(a).asnumpy(), [onp.linalg.norm(x)], rtol=1e-6)
    onp.testing.assert_allclose(nd.norm(a, ord=1, axis=2).asnumpy(), onp.abs(x).sum(2), rtol=1e-6)


def test_shape_functions():
    x = onp.arange(24, dtype=onp.float32).reshape(2, 3, 4)
    a = nd.array(x)
    assert nd.concat(a, a).shape == (2, 6, 4) and nd.concat(a, a, dim=0).shape == (4, 3, 4)
    assert nd.stack(a, a, axis=1).shape == (2, 2, 3, 4)
    for codes, expected in (((0, -1), (2, 12)), ((-2,), (2, 3, 4)), ((-3, 4), (6, 4)), ((-4, 1, 2, -2), (1, 2, 3, 4)),
                            ((0, -4, -1, 1, 4), (2, 3, 1, 4)), ((-1, 0), (8, 3))):
        out = nd.reshape(a, codes)
        assert out.shape == expected, codes
        onp.testing.assert_array_equal(out.asnumpy(), x.reshape(expected))
    assert nd.reshape(nd.zeros((10, 5, 4)), (-1, 0), reverse=True).shape == (50, 4)
    assert nd.flatten(a).shape == (2, 12)
    onp.testing.assert_array_equal(nd.slice_axis(a, axis=2, begin=1, end=3).asnumpy(), x[:, :, 1:3])
    onp.testing.assert_array_equal(nd.transpose(a, axes=(2, 0, 1)).asnumpy(), x.transpose(2, 0, 1))


def test_math_and_out():
    rng = onp.random.default_rng(0)
    p, q = rng.standard_normal((3, 4)).astype(onp.float32), rng.standard_normal((3, 5)).astype(onp.float32)
    onp.testing.assert_allclose(nd.dot(nd.array(p), nd.array(q), transpose_a=True).asnumpy(), p.T @ q, rtol=1e-5)
    onp.testing.assert_allclose(nd.dot(nd.array(q), nd.array(p), transpose_a=True, transpose_b=False).asnumpy(),
                                q.T @ p, rtol=1e-5)
    onp.testing.assert_allclose(nd.broadcast_add(nd.array(p), nd.array(p[:1])).asnumpy(), p + p[:1], rtol=1e-6)
    onp.testing.assert_allclose(nd.Activation(nd.array(p), act_type="relu").asnumpy(), onp.maximum(p, 0))
    e = onp.exp(p - p.max(-1, keepdims=True))
    onp.testing.assert_allclose(nd.softmax(nd.array(p)).asnumpy(), e / e.sum(-1, keepdims=True), rtol=1e-5)
    e2 = onp.exp(p / 2 - (p / 2).max(-1, keepdims=True))
    onp.testing.assert_allclose(nd.softmax(nd.array(p), temperature=2.0).asnumpy(), e2 / e2.sum(-1, keepdims=True),
                                rtol=1e-5)
    out = nd.zeros((3, 4))
    assert nd.clip(nd.array(p), -0.5, 0.5, out=out) is out
    onp.testing.assert_allclose(out.asnumpy(), onp.clip(p, -0.5, 0.5))
    arrays = [nd.ones((2,)), nd.ones((3,))]
    nd.reset_arrays(*arrays, num_arrays=2)
    assert all(not a.asnumpy().any() for a in arrays)
    assert nd.cast(nd.array(p), "float16").dtype == onp.float16


def test_random_and_storage_types():
    mx.random.seed(1)
    u = nd.random.uniform(-1, 1, shape=(500,), ctx=mx.cpu())
    assert u.shape == (500,) and u.dtype == onp.float32
    assert -1 <= u.asnumpy().min() and u.asnumpy().max() < 1
    mx.random.seed(1)
    onp.testing.assert_array_equal(mx.random.uniform(-1, 1, shape=(500,)).asnumpy(), u.asnumpy())
    n = nd.random.normal(2.0, 0.5, shape=(4000,))
    assert abs(float(n.asnumpy().mean()) - 2.0) < 0.05 and abs(float(n.asnumpy().std()) - 0.5) < 0.05
    out = nd.zeros((3,))
    assert nd.random.uniform(shape=(3,), out=out) is out
    x = nd.array([1.0, 2.0])
    assert x.stype == "default" and x.tostype("default") is not x
    with pytest.raises(ValueError, match="dense"):
        x.tostype("row_sparse")


def test_save_load_roundtrip(tmp_path):
    path = str(tmp_path / "arrays")
    nd.save(path, {"w": nd.array([[1.0, 2.0]])})
    loaded = nd.load(path)
    onp.testing.assert_array_equal(loaded["w"].asnumpy(), [[1.0, 2.0]])


def test_elementwise_out_argument():
    x = nd.array([[1.0, -2.0], [3.0, -4.0]])
    row = x[1]
    assert nd.square(row, out=row) is row            # in place through a row view, as MXNet's tests use it
    onp.testing.assert_array_equal(x.asnumpy(), [[1.0, -2.0], [9.0, 16.0]])
    y = nd.zeros((2, 2))
    nd.broadcast_mul(x, nd.array([2.0, 1.0]), out=y)
    onp.testing.assert_array_equal(y.asnumpy(), [[2.0, -2.0], [18.0, 16.0]])


def test_array_take_method_and_backward_out_grad():
    a = mx.np.arange(4.0)
    a.attach_grad()
    f = mx.hybridize(lambda x, i: x.take(i), backend="interp")
    with mx.autograd.record():
        y = f(a, mx.np.array([2, 0]))
    onp.testing.assert_array_equal(y.asnumpy(), [2.0, 0.0])
    y.backward(out_grad=mx.np.array([5.0, 7.0]))      # MXNet's name for the head gradient
    onp.testing.assert_array_equal(a.grad.asnumpy(), [7.0, 0.0, 5.0, 0.0])


def test_asscalar_gives_the_one_element():
    # the legacy NDArray.asscalar (d2l's information-theory chapter: nansum(x.as_nd_ndarray()).abs().asscalar())
    value = nd.nansum(nd.array([0.5, onp.nan, -2.0])).abs().asscalar()
    assert isinstance(value, onp.float32) and value == 1.5
    assert mx.np.array([7], dtype="int32").asscalar() == 7
    with pytest.raises(ValueError, match=r"asscalar\(\) of an array of shape \(2,\)"):
        nd.array([1.0, 2.0]).asscalar()
