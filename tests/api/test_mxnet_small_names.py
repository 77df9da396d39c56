"""Small MXNet 2 names and NumPy rules met by MXNet's interoperability tests: Python ints beyond
int32 keep a 64-bit type (NumPy's) instead of overflowing, vsplit/dsplit/hsplit refuse arrays of too
few dimensions as NumPy does, mx.MXNetError, np.PZERO/NZERO/PINF/NINF, util.set_flush_denorms."""
import math

import numpy as onp
import pytest

import hybrid as mx
from hybrid import np


def test_big_python_ints_widen_like_numpy():
    big = 4607998452777363968
    assert np.array(big).dtype == onp.int64 and int(np.array(big)) == big
    assert np.array([1, -2 ** 40]).dtype == onp.int64
    assert np.array([1, 2]).dtype == onp.int32                    # hybrid's default where the values fit
    assert np.array(2 ** 31 - 1).dtype == onp.int32
    assert np.array(2 ** 63).dtype == onp.uint64                   # NumPy's type for it


@pytest.mark.parametrize("name,ndim", [("vsplit", 2), ("dsplit", 3), ("hsplit", 1)])
def test_directional_splits_need_enough_dimensions(name, ndim):
    too_few = np.ones((4,) * (ndim - 1))
    with pytest.raises(ValueError, match=f"at least {ndim} dimensions"):
        getattr(np, name)(too_few, 2)
    enough = onp.arange(4 ** ndim).reshape((4,) * ndim)
    for got, want in zip(getattr(np, name)(np.array(enough), 2), getattr(onp, name)(enough, 2)):
        onp.testing.assert_array_equal(got.asnumpy(), want)


def test_mxnet_error_constants_and_denormals():
    assert mx.MXNetError is mx.HybridError and issubclass(mx.ShapeError, mx.MXNetError)
    assert math.copysign(1.0, np.NZERO) == -1.0 and np.PZERO == 0.0 and np.PINF == math.inf and np.NINF == -math.inf
    assert mx.util.set_flush_denorms(False) is False
    with pytest.raises(mx.HybridError, match="subnormal"):
        mx.util.set_flush_denorms(True)
    tiny = np.array([1e-40], dtype="float32")                      # a float32 subnormal survives arithmetic
    assert float((tiny * 2).asnumpy()[0]) == pytest.approx(2e-40, rel=1e-3)


def test_str_is_numpys_str():
    values = onp.array([[onp.pi, 1.0]], dtype=onp.float32)
    assert str(np.array(values)) == str(values) and "{}".format(np.array(values)) == str(values)
    assert repr(np.array(values)) == repr(values)


@pytest.mark.parametrize("order", ["F", "A", "K"])
def test_creation_orders(order):
    # NumPy refuses 'A'/'K' for creation (ValueError); MXNet says NotImplementedError for all but 'C'
    with pytest.raises(ValueError, match="row-major"):
        np.empty((2, 2), order=order)
    with pytest.raises(NotImplementedError, match="row-major"):
        np.zeros(3, order=order)
    assert np.ones(2, order="C").shape == (2,)


def test_multinomial_takes_single_precision_probabilities():
    pvals = np.array([0.4, 0.3, 0.2, 0.1, 0.0])              # float32: sums past 1 once widened to float64
    assert float(onp.asarray(pvals.asnumpy(), onp.float64)[:-1].sum()) > 1.0
    counts = np.random.multinomial(20000, pvals, size=(2,)).asnumpy()
    assert counts.shape == (2, 5) and (counts.sum(axis=1) == 20000).all() and (counts[:, -1] == 0).all()
    onp.testing.assert_allclose(counts.mean(axis=0) / 20000, [0.4, 0.3, 0.2, 0.1, 0.0], atol=0.02)
    with pytest.raises(ValueError):
        np.random.multinomial(10, [0.6, 0.6, 0.0])             # a real excess is still an error


def test_sync_batchnorm_on_one_device_is_batchnorm():
    x = np.array(onp.random.default_rng(0).random((6, 3, 4)).astype(onp.float32))
    plain, synced = mx.gluon.nn.BatchNorm(in_channels=3), mx.gluon.nn.SyncBatchNorm(in_channels=3, num_devices=1)
    plain.initialize()
    synced.initialize()
    with mx.autograd.record():
        want, got = plain(x), synced(x)
    onp.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-6, atol=1e-6)
    onp.testing.assert_allclose(synced.running_mean.data().asnumpy(), plain.running_mean.data().asnumpy(), rtol=1e-6)
    batch_mean = x.asnumpy().mean(axis=(0, 2))
    onp.testing.assert_allclose(synced.running_mean.data().asnumpy(), 0.1 * batch_mean, rtol=1e-5)
    with pytest.raises(NotImplementedError, match="one device per process"):
        mx.gluon.nn.SyncBatchNorm(num_devices=2)
