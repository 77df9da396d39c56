"""MXNet's test helpers and internal entry points that its NumPy-style programs import
(hb.test_utils' generator checks, eigenvalue matrices, collapse_sum_like, check_numeric_gradient;
`_npi` boolean-mask assignment; the operator list and dtype groups), against NumPy / SciPy."""
import numpy as onp
import pytest
import scipy.stats

import hybrid as hb
from hybrid import gluon, np, test_utils
from hybrid.ndarray.numpy import _internal as _npi


def test_verify_generator_accepts_the_right_distribution_and_rejects_a_shifted_one():
    buckets, probs = test_utils.gen_buckets_probs_with_ppf(lambda q: scipy.stats.norm.ppf(q, 0, 1), 5)
    assert len(buckets) == 5 and onp.allclose(probs, 0.2) and buckets[0][0] == -onp.inf
    onp.testing.assert_allclose(buckets[2], scipy.stats.norm.ppf([0.4, 0.6]))
    np.random.seed(3)
    p_values = test_utils.verify_generator(lambda n: np.random.normal(0, 1, size=n), buckets, probs, nsamples=20000)
    assert len(p_values) == 5
    with pytest.raises(AssertionError, match="do not follow the expected distribution"):
        test_utils.verify_generator(lambda n: np.random.normal(0.3, 1, size=n), buckets, probs, nsamples=20000)
    test_utils.verify_generator(lambda n: onp.random.randint(0, 3, size=n), [0, 1, 2], [1 / 3] * 3, nsamples=6000)
    with pytest.raises(AssertionError):   # samples outside every bucket
        test_utils.verify_generator(lambda n: onp.random.randint(0, 4, size=n), [0, 1, 2], [1 / 3] * 3, nsamples=6000)


def test_matrices_with_real_eigenvalues():
    onp.random.seed(0)
    general = test_utils.new_matrix_with_real_eigvals_nd((2, 3, 4, 4))
    symmetric = test_utils.new_sym_matrix_with_real_eigvals_nd((5, 3, 3))
    assert general.shape == (2, 3, 4, 4) and symmetric.shape == (5, 3, 3)
    assert onp.abs(onp.linalg.eigvals(general).imag).max() < 1e-8
    assert onp.abs(general - general.swapaxes(-1, -2)).max() > 1e-3      # not symmetric
    onp.testing.assert_allclose(symmetric, symmetric.swapaxes(-1, -2), atol=1e-12)
    assert onp.abs(onp.linalg.eigvalsh(symmetric)).max() <= 10


def test_collapse_sum_like_is_the_gradient_of_broadcasting():
    a = onp.random.rand(2, 3, 4)
    onp.testing.assert_allclose(test_utils.collapse_sum_like(a, (3, 1)), a.sum(axis=(0, 2))[:, None])
    onp.testing.assert_allclose(test_utils.collapse_sum_like(np.array(a), (4,)), a.sum(axis=(0, 1)))
    with pytest.raises(ValueError, match="does not broadcast"):
        test_utils.collapse_sum_like(a, (2, 4))
    assert test_utils.effective_dtype(np.ones((2,), dtype="float16")) == onp.float16
    assert test_utils.is_op_runnable() and not test_utils.has_tvm_ops()


def test_check_numeric_gradient_passes_right_and_catches_wrong_gradients():
    test_utils.check_numeric_gradient(lambda a, b: np.tanh(a) * b, [onp.random.rand(2, 3), onp.random.rand(3)])
    test_utils.check_numeric_gradient(lambda a, b: a @ b, {"a": onp.random.rand(2, 3), "b": onp.random.rand(3, 2)})
    with pytest.raises(AssertionError, match="numeric gradients of input 0 differ"):   # stop_gradient hides half of d(a*a)/da
        test_utils.check_numeric_gradient(lambda a: np.stop_gradient(a) * a, [onp.random.rand(2, 3)])
    with pytest.raises(TypeError, match="pass a function"):
        test_utils.check_numeric_gradient("sym", [onp.ones(2)])


@pytest.mark.parametrize("shape,mask_shape,start_axis", [((3, 4), (3, 4), 0), ((3, 4, 5), (3,), 0),
                                                         ((2, 3, 4), (3, 4), 1), ((2, 3, 4, 5), (3,), 1)])
@pytest.mark.parametrize("hybridized", [False, True])
def test_boolean_mask_assign_matches_numpy_setitem(shape, mask_shape, start_axis, hybridized):
    class Assign(gluon.HybridBlock):
        def forward(self, a, mask, value):
            scalar = _npi.boolean_mask_assign_scalar(a, mask, 7.0, start_axis=start_axis)
            return scalar, _npi.boolean_mask_assign_tensor(a, mask, value, start_axis=start_axis)

    rng = onp.random.RandomState(sum(shape))
    data = rng.rand(*shape).astype("float32")
    mask = rng.rand(*mask_shape) > 0.5
    index = (slice(None),) * start_axis + (mask,)
    value = rng.rand(*data[index].shape).astype("float32")
    want_scalar, want_tensor = data.copy(), data.copy()
    want_scalar[index], want_tensor[index] = 7.0, value
    net = Assign()
    if hybridized:
        net.hybridize(backend="interp")
    got_scalar, got_tensor = net(np.array(data), np.array(mask), np.array(value))
    onp.testing.assert_array_equal(got_scalar.asnumpy(), want_scalar)
    onp.testing.assert_array_equal(got_tensor.asnumpy(), want_tensor)
    row = onp.asarray(rng.rand(*data[index].shape[start_axis + 1:]), "float32")   # one row, broadcast to every True position
    out = np.array(data)
    assert _npi.boolean_mask_assign_tensor(out, np.array(mask), np.array(row), start_axis=start_axis, out=out) is out
    want_row = data.copy()
    want_row[index] = row
    onp.testing.assert_array_equal(out.asnumpy(), want_row)


def test_operator_list_dtype_groups_and_protocol_lists():
    from hybrid import numpy_dispatch_protocol, numpy_op_signature
    ops = hb.operator.get_all_registered_operators()
    assert ops == sorted(ops) and "add" in ops and "exp" in ops
    assert numpy_op_signature._get_builtin_op("_np_cumsum") is np.cumsum
    assert numpy_op_signature._get_builtin_op("_npi_no_such_op") is None
    assert np.numeric_dtypes == np.integer_dtypes + np.floating_dtypes and np.boolean_dtypes == [onp.bool_]
    assert "exp" in numpy_dispatch_protocol._NUMPY_ARRAY_UFUNC_LIST
    assert "concatenate" in numpy_dispatch_protocol._NUMPY_ARRAY_FUNCTION_LIST
    assert "exp" not in numpy_dispatch_protocol._NUMPY_ARRAY_FUNCTION_LIST
    decorated = numpy_dispatch_protocol.with_array_function_protocol(lambda x: onp.sum(x))
    assert isinstance(decorated(np.ones((3,))), hb.NDArray)
    assert hb.nd.ndarray.py_slice is slice
