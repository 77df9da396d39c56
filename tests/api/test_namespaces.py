"""`import hybrid as mx` exposes MXNet 2's NumPy-style top level: modules, devices, array
placement methods, npx switches, test_utils, and clear errors for the legacy nd/sym APIs."""
import importlib

import numpy as onp
import pytest

import hybrid as mx
from hybrid import np, npx


def test_d2l_import_line_and_modules():
    # the first line of the d2l book's MXNet library
    from hybrid import autograd, context, gluon, image, init, np, npx  # noqa: F401
    from hybrid.gluon import nn, parameter, utils  # noqa: F401
    for name in ("context", "device", "image", "init", "initializer", "optimizer", "lr_scheduler", "metric",
                 "random", "util", "test_utils", "gluon", "autograd", "np", "npx"):
        assert importlib.import_module(f"hybrid.{name}") is getattr(mx, name)
    assert mx.optimizer.SGD is mx.gluon.optimizer.SGD
    assert mx.initializer is mx.init and mx.numpy is np and mx.numpy_extension is npx
    assert mx.gluon.nn.Dense is mx.nn.Dense
    assert mx.gluon.Parameter is mx.gluon.parameter.Parameter is mx.Parameter
    assert mx.gluon.HybridBlock is mx.nn.HybridBlock


@pytest.mark.parametrize("name", ["sym", "symbol"])
def test_legacy_symbol_api_points_to_hybridize(name):
    with pytest.raises(ImportError, match="hybridize"):
        getattr(mx, name)


def test_legacy_symbol_import_points_to_hybridize():
    with pytest.raises(ImportError, match="legacy"):
        importlib.import_module("hybrid.sym")


def test_legacy_nd_namespace_is_importable():
    # MXNet 2.0 still ships mx.nd / mx.ndarray (tests/api/test_legacy_nd.py checks the functions)
    assert importlib.import_module("hybrid.nd") is mx.nd is mx.ndarray
    from hybrid.ndarray.ndarray import _STORAGE_TYPE_STR_TO_ID
    assert _STORAGE_TYPE_STR_TO_ID["default"] == 0


def test_devices():
    assert mx.cpu() == mx.context.cpu(0) == mx.device.cpu() == npx.cpu()
    assert mx.gpu(1).device_type == "gpu" and mx.gpu(1).device_id == 1
    assert mx.context.current_context() == mx.cpu() == npx.current_device()
    assert mx.Device is mx.Context
    assert isinstance(npx.num_gpus(), int) and npx.num_gpus() == mx.context.num_gpus() >= 0
    npx.waitall()


def test_array_placement_methods():
    x = np.array([[1.0, 2.0]])
    assert x.device == x.ctx == x.context == mx.cpu()
    assert x.as_in_ctx(mx.cpu()) is x and x.to_device(mx.cpu()) is x and x.as_in_context(mx.cpu()) is x
    y = x.copyto(mx.cpu())
    assert y is not x and onp.array_equal(y.asnumpy(), x.asnumpy())
    target = np.zeros((1, 2))
    assert x.copyto(target) is target and onp.array_equal(target.asnumpy(), [[1.0, 2.0]])
    with pytest.raises(ValueError, match="shape"):
        x.copyto(np.zeros((3,)))
    x.wait_to_read()


def test_set_np_modes():
    npx.set_np()
    npx.reset_np()
    assert mx.util.is_np_array() and mx.util.is_np_shape()
    with pytest.raises(mx.HybridError, match="NumPy shape and array"):
        npx.set_np(shape=False)
    assert mx.util.use_np(len) is len


def test_test_utils():
    tu = mx.test_utils
    a = np.array([1.0, 2.0, 3.0])
    tu.assert_almost_equal(a, onp.array([1.0, 2.0, 3.00001]))
    tu.assert_almost_equal(a.reshape((1, 3)), onp.array([1.0, 2.0, 3.0]))          # shapes broadcast (MXNet)
    with pytest.raises(AssertionError, match="shapes differ"):
        tu.assert_almost_equal(a.reshape((1, 3)), onp.array([1.0, 2.0, 3.0]), use_broadcast=False)
    with pytest.raises(AssertionError, match="broadcast"):
        tu.assert_almost_equal(a, onp.array([1.0, 2.0]))
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(a, onp.array([1.0, 2.0, 3.1]))
    assert tu.almost_equal(a, a.asnumpy()) and tu.same(a, onp.array([1.0, 2.0, 3.0]))
    assert not tu.same(a, onp.array([1.0, 2.0, 4.0]))
    r = tu.rand_ndarray((3, 4), density=0.5)
    assert r.shape == (3, 4) and r.dtype == onp.float32 and onp.all(onp.abs(r.asnumpy()) <= 1)
    shape = tu.rand_shape_nd(3, dim=4)
    assert len(shape) == 3 and all(1 <= d <= 4 for d in shape)
    with pytest.raises(ValueError, match="dense"):
        tu.rand_ndarray((2,), stype="csr")
    tu.assert_exception(lambda: 1 / 0, ZeroDivisionError)
    with tu.environment("HYBRID_TEST_ENV_VAR", "7"):
        assert mx.util.getenv("HYBRID_TEST_ENV_VAR") == "7"
    assert mx.util.getenv("HYBRID_TEST_ENV_VAR") is None


def test_random_module_is_the_np_generator():
    mx.random.seed(3)
    a = mx.random.uniform(size=(4,)).asnumpy()
    mx.random.seed(3)
    onp.testing.assert_array_equal(mx.random.uniform(shape=(4,), ctx=mx.cpu()).asnumpy(), a)   # MXNet's names
    np.random.seed(3)
    b = np.random.uniform(size=(4,)).asnumpy()
    onp.testing.assert_array_equal(a, b)


def test_initializers():
    for name in ("msraprelu", "orthogonal", "bilinear", "lstmbias"):
        assert mx.init.create(name)((8, 4, 3, 3) if name == "bilinear" else (8, 4), "float32").dtype == onp.float32
    q = mx.init.Orthogonal(scale=1.0)((4, 6), "float64")
    onp.testing.assert_allclose(q @ q.T, onp.eye(4), atol=1e-10)
    bias = mx.init.LSTMBias(2.0)((8,), "float32")
    onp.testing.assert_array_equal(bias, [0, 0, 2, 2, 0, 0, 0, 0])
    net = mx.nn.HybridSequential()
    net.add(mx.nn.Dense(3, in_units=2), mx.nn.Dense(1, in_units=3))
    net.initialize(mx.init.Mixed([".*1.weight", ".*"], [mx.init.One(), mx.init.Zero()]), ctx=mx.cpu())
    params = net.collect_params()
    assert onp.all(params["1.weight"].data().asnumpy() == 1) and onp.all(params["0.weight"].data().asnumpy() == 0)
    with pytest.raises(mx.HybridError, match="host memory"):
        net.initialize(device=mx.gpu(0), force_reinit=True)


def test_parameter_options():
    p = mx.gluon.Parameter("w", shape=(2, 2), lr_mult=0.5, wd_mult=0.0, grad_stype="default")
    assert p.lr_mult == 0.5 and p.wd_mult == 0.0
    with pytest.raises(mx.HybridError, match="dense"):
        mx.gluon.Parameter("w", shape=(2,), grad_stype="row_sparse")
    c = mx.gluon.Constant(onp.arange(3.0))
    assert c.grad_req == "null" and onp.array_equal(c.data().asnumpy(), [0, 1, 2])
    p.initialize()
    p.cast("float64")
    assert p.data().dtype == onp.float64 and p.list_ctx() == [mx.cpu()]


def test_util_np_mode_scopes_are_no_ops():
    # MXNet's np_shape / np_array scopes: hybrid is always in NumPy mode, so they change nothing
    assert mx.np_shape is mx.util.np_shape and mx.np_array is mx.util.np_array and mx.use_np is mx.util.use_np
    with mx.util.np_shape(True), mx.util.np_array(True):
        assert np.ones((0, 2)).shape == (0, 2) and np.ones(()).shape == ()
    assert mx.util.is_np_shape() and mx.util.is_np_array()
