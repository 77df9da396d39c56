"""hb.np's breadth against NumPy (issue 11): the new ufuncs, cumulative/order/nan reductions,
sorting and searching, shape helpers, linalg, random, dtype utilities. Hypothesis draws shapes
(0-d, size 0, size 1, broadcasting) and negative axes for eager vs hybridized (interp) vs
NumPy; one graph per family also compiles on llvm; gradients of the traced compositions and
the eager fast paths are checked by central finite differences in float64."""
import sys
from pathlib import Path

import numpy as onp
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import hybrid as hb
from hybrid import autograd, np

from hb_check import check, sample

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "autograd"))
from gradcheck import numeric_grad  # noqa: E402

SETTINGS = settings(max_examples=12, deadline=None)
SHAPES = array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
NONEMPTY = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)

# name -> (hb, NumPy, input domain (low, high))
UNARY = {
    "arcsin": (np.arcsin, onp.arcsin, (-0.99, 0.99)), "arccos": (np.arccos, onp.arccos, (-0.99, 0.99)),
    "arctan": (np.arctan, onp.arctan, (-30, 30)), "arcsinh": (np.arcsinh, onp.arcsinh, (-30, 30)),
    "arccosh": (np.arccosh, onp.arccosh, (1, 30)), "arctanh": (np.arctanh, onp.arctanh, (-0.99, 0.99)),
    "tan": (np.tan, onp.tan, (-1.4, 1.4)), "sinh": (np.sinh, onp.sinh, (-5, 5)), "cosh": (np.cosh, onp.cosh, (-5, 5)),
    "log1p": (np.log1p, onp.log1p, (-0.9, 5)), "expm1": (np.expm1, onp.expm1, (-5, 5)),
    "log2": (np.log2, onp.log2, (0.01, 50)), "log10": (np.log10, onp.log10, (0.01, 50)),
    "exp2": (np.exp2, onp.exp2, (-10, 10)), "cbrt": (np.cbrt, onp.cbrt, (-30, 30)),
    "trunc": (np.trunc, onp.trunc, (-5, 5)), "signbit": (np.signbit, onp.signbit, (-5, 5)),
    "deg2rad": (np.deg2rad, onp.deg2rad, (-360, 360)), "sinc": (np.sinc, onp.sinc, (-3, 3)),
}
BINARY = {
    "arctan2": (np.arctan2, onp.arctan2), "hypot": (np.hypot, onp.hypot), "logaddexp": (np.logaddexp, onp.logaddexp),
    "logaddexp2": (np.logaddexp2, onp.logaddexp2), "copysign": (np.copysign, onp.copysign),
    "fmax": (np.fmax, onp.fmax), "fmin": (np.fmin, onp.fmin), "fmod": (np.fmod, onp.fmod),
    "heaviside": (np.heaviside, onp.heaviside), "floor_divide": (np.floor_divide, onp.floor_divide),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(shape=SHAPES, seed=st.integers(0, 2**31 - 1))
def test_unary_ufuncs(name, shape, seed):
    fn, ref, (lo, hi) = UNARY[name]
    x = sample(shape, "float32", lo, hi, rng=onp.random.default_rng(seed))
    check(fn, ref, x, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=4),
       seed=st.integers(0, 2**31 - 1))
def test_binary_ufuncs_broadcast(name, shapes, seed):
    fn, ref = BINARY[name]
    rng = onp.random.default_rng(seed)
    a, b = (sample(s, "float32", -4, 4, rng=rng) for s in shapes.input_shapes)
    if name in ("fmod", "floor_divide"):
        b = onp.where(onp.abs(b) < 0.5, onp.float32(1.5), b)
    check(fn, ref, a, b, rtol=2e-6, atol=1e-6)


def test_ufuncs_compile_on_llvm():
    """One graph of every new ufunc, compiled by llvm, against NumPy (the compositions' accuracy)."""
    rng = onp.random.default_rng(0)
    x = rng.uniform(-0.95, 0.95, 257).astype(onp.float32)
    y = rng.uniform(-4, 4, 257).astype(onp.float32)
    unary = {n: (f, r) for n, (f, r, _) in UNARY.items()}
    names = sorted(unary)

    def fn(a, b):
        inputs = {"arccosh": 1.5 + np.abs(a) * 10, "log2": np.abs(b) + 0.1, "log10": np.abs(b) + 0.1}
        return tuple(unary[n][0](inputs.get(n, a * 3 if n not in ("arcsin", "arccos", "arctanh", "log1p")
                                           else a)) for n in names) + \
            tuple(BINARY[n][0](a * 5, b) for n in sorted(BINARY))
    got = hb.hybridize(fn, backend="llvm")(np.array(x), np.array(y))
    eager = fn(np.array(x), np.array(y))
    for k, (g, e) in enumerate(zip(got, eager)):
        tol = 4e-6 if e.dtype == onp.float32 else 0
        onp.testing.assert_allclose(g.asnumpy(), e.asnumpy(), rtol=tol, atol=tol * 10, err_msg=str(k))


@pytest.mark.parametrize("backend", ["interp", "llvm"])
def test_integer_ufuncs_and_bitwise_count(backend):
    rng = onp.random.default_rng(1)
    a = rng.integers(-1000, 1000, (4, 9)).astype(onp.int32)
    b = rng.integers(1, 40, (9,)).astype(onp.int32)

    def fn(x, y):
        return np.gcd(x, y), np.lcm(x, y), np.bitwise_count(x), np.fmod(x, y), np.divmod(x, y)[1]
    want = (onp.gcd(a, b), onp.lcm(a, b), onp.bitwise_count(a), onp.fmod(a, b), onp.divmod(a, b)[1])
    for got in (fn(np.array(a), np.array(b)), hb.hybridize(fn, backend=backend)(np.array(a), np.array(b))):
        for g, w in zip(got, want):
            onp.testing.assert_array_equal(g.asnumpy(), w)


# -- reductions --------------------------------------------------------------------------------------
@SETTINGS
@given(shape=NONEMPTY, seed=st.integers(0, 2**31 - 1), data=st.data())
def test_cumulative_and_order_statistics(shape, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = sample(shape, "float32", rng=onp.random.default_rng(seed))
    check(lambda v: (np.cumsum(v, axis), np.cumprod(v * 0.5, axis=axis), np.sort(v, axis), np.argsort(v, axis)),
          lambda v: (onp.cumsum(v, axis), onp.cumprod(v * onp.float32(0.5), axis=axis), onp.sort(v, axis),
                     onp.argsort(v, axis, kind="stable")), x, rtol=1e-5, atol=1e-5)
    q = [0.0, 0.25, 0.5, 1.0]
    check(lambda v: (np.quantile(v, q, axis=axis), np.median(v, axis=axis, keepdims=True),
                     np.percentile(v, 40.0, axis=axis)),
          lambda v: (onp.quantile(v, q, axis=axis).astype(onp.float32),
                     onp.median(v, axis=axis, keepdims=True), onp.percentile(v, 40.0, axis=axis).astype(onp.float32)),
          x, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(shape=NONEMPTY, seed=st.integers(0, 2**31 - 1))
def test_nan_reductions(shape, seed):
    rng = onp.random.default_rng(seed)
    x = sample(shape, "float32", rng=rng)
    x[rng.random(shape) < 0.3] = onp.nan
    with onp.errstate(all="ignore"), _quiet():
        expected = (onp.nansum(x, 0), onp.nanmax(x, -1), onp.nanmin(x, 0), onp.nanmean(x, -1), onp.nanvar(x, 0),
                    onp.nanmedian(x, -1), onp.nancumsum(x, 0), onp.nanquantile(x, 0.3, axis=0).astype(onp.float32))
    check(lambda v: (np.nansum(v, 0), np.nanmax(v, -1), np.nanmin(v, 0), np.nanmean(v, -1), np.nanvar(v, 0),
                     np.nanmedian(v, -1), np.nancumsum(v, 0), np.nanquantile(v, 0.3, axis=0)),
          lambda v: expected, x, rtol=1e-5, atol=1e-5)


class _quiet:
    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def test_sort_nan_last_stable_and_descending():
    x = onp.array([[3, onp.nan, 1, 3, -onp.inf, 1, onp.nan]], onp.float32)
    check(lambda v: (np.sort(v), np.argsort(v), np.argsort(v, descending=True), np.sort(v, descending=True)),
          lambda v: (onp.sort(v), onp.argsort(v, kind="stable"), _numpy_descending_argsort(v),
                     onp.flip(onp.sort(v), -1)), x)


def _numpy_descending_argsort(v):
    """The Array API's stable descending order (ties keep input order), NaNs as NumPy's flip gives."""
    n = v.shape[-1]
    return (n - 1 - onp.argsort(onp.flip(v, -1), axis=-1, kind="stable"))[..., ::-1]


def test_search_and_sets():
    a = onp.array([1.0, 2.0, 2.0, 5.0, 9.0], onp.float32)
    v = onp.array([[0.0, 2.0], [5.5, 10.0]], onp.float32)
    check(lambda s, q: (np.searchsorted(s, q), np.searchsorted(s, q, side="right"), np.isin(q, s),
                        np.digitize(q, s)),
          lambda s, q: (onp.searchsorted(s, q), onp.searchsorted(s, q, side="right"), onp.isin(q, s),
                        onp.digitize(q, s)), a, v, dtype=None)
    x = np.array([3, 1, 3, 0, 1])
    onp.testing.assert_array_equal(np.unique(x).asnumpy(), [0, 1, 3])
    values, counts = np.unique(x, return_counts=True)
    onp.testing.assert_array_equal(counts.asnumpy(), [1, 2, 2])
    onp.testing.assert_array_equal(np.nonzero(x)[0].asnumpy(), [0, 1, 2, 4])
    with pytest.raises(hb.TracingError, match="np.unique"):
        hb.hybridize(lambda t: np.unique(t), backend="interp")(x)


@pytest.mark.parametrize("backend", ["interp", "llvm"])
def test_compiled_sort_scan_quantile(backend):
    """Small sizes (the argsort kernel's cases: tests/frontend/test_sort_kernel.py; test_compiled_sort_large,
    slow tier, sorts 1000-element rows)."""
    rng = onp.random.default_rng(3)
    x = rng.standard_normal((3, 7)).astype(onp.float32)

    def fn(v):
        return np.sort(v, axis=-1), np.argsort(v, axis=0), np.cumsum(v, axis=1), np.median(v, axis=1), \
            np.searchsorted(np.sort(v[0]), v[1])
    got = hb.hybridize(fn, backend=backend)(np.array(x))
    want = (onp.sort(x, -1), onp.argsort(x, 0, kind="stable"), onp.cumsum(x, 1), onp.median(x, 1),
            onp.searchsorted(onp.sort(x[0]), x[1]))
    for g, w in zip(got, want):
        onp.testing.assert_allclose(g.asnumpy(), w, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_compiled_sort_large():
    x = onp.random.default_rng(4).standard_normal((8, 1000)).astype(onp.float32)
    got = hb.hybridize(lambda v: (np.sort(v), np.cumsum(v, axis=1)), backend="llvm")(np.array(x))
    onp.testing.assert_array_equal(got[0].asnumpy(), onp.sort(x))
    onp.testing.assert_allclose(got[1].asnumpy(), onp.cumsum(x, 1), rtol=1e-4, atol=1e-4)


# -- shape and indexing helpers ---------------------------------------------------------------------
def test_shape_helpers_match_numpy():
    x = onp.arange(24, dtype=onp.float32).reshape(2, 3, 4)
    v = onp.arange(5, dtype=onp.float32)
    cases = [
        (lambda a: np.roll(a, 2), lambda a: onp.roll(a, 2)),
        (lambda a: np.roll(a, (1, -1), axis=(0, 2)), lambda a: onp.roll(a, (1, -1), axis=(0, 2))),
        (lambda a: np.rot90(a, 1, (1, 2)), lambda a: onp.rot90(a, 1, (1, 2))),
        (lambda a: np.rot90(a, -1), lambda a: onp.rot90(a, -1)),
        (lambda a: np.vstack([a, a]), lambda a: onp.vstack([a, a])),
        (lambda a: np.hstack([a, a]), lambda a: onp.hstack([a, a])),
        (lambda a: np.dstack([a, a]), lambda a: onp.dstack([a, a])),
        (lambda a: np.column_stack([a[0, 0], a[1, 1]]), lambda a: onp.column_stack([a[0, 0], a[1, 1]])),
        (lambda a: np.tile(a, (2, 1, 1)), lambda a: onp.tile(a, (2, 1, 1))),
        (lambda a: np.repeat(a, 2, axis=-1), lambda a: onp.repeat(a, 2, axis=-1)),
        (lambda a: np.fliplr(a[0]), lambda a: onp.fliplr(a[0])),
        (lambda a: np.take_along_axis(a, np.argsort(a, axis=1), 1),
         lambda a: onp.take_along_axis(a, onp.argsort(a, axis=1), 1)),
        (lambda a: np.diag(a[0], 1), lambda a: onp.diag(a[0], 1)),
        (lambda a: np.trace(a, 1, 1, 2), lambda a: onp.trace(a, 1, 1, 2)),
        (lambda a: np.diagonal(a, -1, 2, 1), lambda a: onp.diagonal(a, -1, 2, 1)),
        (lambda a: np.triu(a, -1), lambda a: onp.triu(a, -1)),
        (lambda a: np.array_split(a, 3, axis=2)[2], lambda a: onp.array_split(a, 3, axis=2)[2]),
        (lambda a: np.insert(a, 1, 7.0, axis=1), lambda a: onp.insert(a, 1, 7.0, axis=1)),
        (lambda a: np.delete(a, [0, 2], axis=2), lambda a: onp.delete(a, [0, 2], axis=2)),
        (lambda a: np.pad(a, 2, mode="reflect"), lambda a: onp.pad(a, 2, mode="reflect")),
        (lambda a: np.atleast_3d(a[0, 0]), lambda a: onp.atleast_3d(a[0, 0])),
        (lambda a: np.moveaxis(a, 0, -1), lambda a: onp.moveaxis(a, 0, -1)),
        (lambda a: np.kron(a[0], a[1, :2]), lambda a: onp.kron(a[0], a[1, :2])),
        (lambda a: np.cross(a[0, :, :3], a[1, :, :3]), lambda a: onp.cross(a[0, :, :3], a[1, :, :3])),
        (lambda a: np.tensordot(a, a, axes=([1, 2], [1, 2])), lambda a: onp.tensordot(a, a, axes=([1, 2], [1, 2]))),
        (lambda a: np.einsum("bij,bkj->bik", a, a), lambda a: onp.einsum("bij,bkj->bik", a, a)),
        (lambda a: np.einsum("...ii->...i", a[:, :, :3]), lambda a: onp.einsum("...ii->...i", a[:, :, :3])),
        (lambda a: np.diff(a, 2, axis=-1), lambda a: onp.diff(a, 2, axis=-1)),
        (lambda a: np.meshgrid(a[0, 0], a[0, 1, :2])[1], lambda a: onp.meshgrid(a[0, 0], a[0, 1, :2])[1]),
        (lambda a: np.isclose(a, a + 1e-6), lambda a: onp.isclose(a, a + onp.float32(1e-6))),
        (lambda a: np.average(a, axis=1, weights=np.array([1.0, 2.0, 3.0])),
         lambda a: onp.average(a, axis=1, weights=onp.array([1.0, 2.0, 3.0])).astype(onp.float32)),
    ]
    for fn, ref in cases:
        check(fn, ref, x, rtol=1e-5, atol=1e-5)
    # integer tensordot keeps the operand dtype (and wraps there), as NumPy's dot does
    u8 = (onp.arange(24, dtype=onp.uint8).reshape(2, 3, 4) * 37)
    check(lambda a: (np.tensordot(a, a, axes=([1, 2], [1, 2])), np.tensordot(a[0, 0], a[1, 1], axes=((), ()))),
          lambda a: (onp.tensordot(a, a, axes=([1, 2], [1, 2])), onp.tensordot(a[0, 0], a[1, 1], axes=((), ()))), u8,
          dtype="uint8")
    check(lambda a: (np.convolve(a, a[:3]), np.correlate(a, a[1:4], "same"), np.interp(a * 0.7, a, a * a),
                     np.polyval(a[:3], a), np.vander(a, 3), np.trapezoid(a)),
          lambda a: (onp.convolve(a, a[:3]), onp.correlate(a, a[1:4], "same"), onp.interp(a * 0.7, a, a * a),
                     onp.polyval(a[:3], a), onp.vander(a, 3), onp.trapezoid(a)), v, rtol=1e-5, atol=1e-5)


def test_array_api_suite_regressions():
    """Cases the Array API suite found: moveaxis with axis sequences (empty too), full with a complex
    fill value (the default complex dtype), meshgrid of empty vectors."""
    x = onp.arange(120, dtype=onp.float32).reshape(2, 3, 4, 5)
    for src, dst in [((), ()), ((0, 1), (-1, -2)), ((3, 0), (0, 2)), ([1], [3])]:
        check(lambda a: np.moveaxis(a, src, dst), lambda a: onp.moveaxis(a, src, dst), x)
    assert np.full((), 0j).dtype == onp.complex64 and np.full((2,), 1.5 + 1j).asnumpy().tolist() == [1.5 + 1j] * 2
    empty, three = onp.zeros(0, onp.uint8), onp.arange(3, dtype=onp.uint8)
    for indexing in ("xy", "ij"):
        check(lambda a, b: np.meshgrid(a, b, indexing=indexing), lambda a, b: onp.meshgrid(a, b, indexing=indexing),
              empty, three, dtype="uint8")


def test_in_place_writers_and_their_tracing_error():
    a = np.zeros((3, 3))
    np.fill_diagonal(a, 2.0)
    np.put_along_axis(a, np.array([[0], [1], [2]]), 5.0, axis=1)
    want = onp.zeros((3, 3), onp.float32)
    onp.fill_diagonal(want, 2.0)
    onp.put_along_axis(want, onp.array([[0], [1], [2]]), 5.0, axis=1)
    onp.testing.assert_array_equal(a.asnumpy(), want)
    with pytest.raises(hb.TracingError, match="put_along_axis"):
        hb.hybridize(lambda t: np.put_along_axis(t, np.array([[0]]), 1.0, axis=1), backend="interp")(np.zeros((1, 2)))


# -- linalg ------------------------------------------------------------------------------------------
def _matrices(rng):
    a = (rng.standard_normal((2, 4, 4)) + 3 * onp.eye(4)).astype(onp.float32)
    return a, (a @ a.transpose(0, 2, 1)).astype(onp.float32), rng.standard_normal((2, 4, 3)).astype(onp.float32)


@pytest.mark.parametrize("backend", ["interp", "llvm"])
def test_linalg_compiled_compositions(backend):
    a, spd, b = _matrices(onp.random.default_rng(4))

    def fn(m, s, r):
        sign, logdet = np.linalg.slogdet(m)
        return (np.linalg.inv(m), np.linalg.solve(m, r), np.linalg.det(m), sign, logdet, np.linalg.cholesky(s),
                np.linalg.matrix_power(m, 3), np.linalg.norm(m, axis=(1, 2)), np.linalg.norm(m, 1, axis=(1, 2)),
                np.linalg.multi_dot([m[0], m[1], r[0]]))
    want = (onp.linalg.inv(a), onp.linalg.solve(a, b), onp.linalg.det(a), *onp.linalg.slogdet(a),
            onp.linalg.cholesky(spd), onp.linalg.matrix_power(a, 3), onp.linalg.norm(a, axis=(1, 2)),
            onp.linalg.norm(a, 1, axis=(1, 2)), onp.linalg.multi_dot([a[0], a[1], b[0]]))
    for mode, got in (("eager", fn(np.array(a), np.array(spd), np.array(b))),
                      (backend, hb.hybridize(fn, backend=backend)(np.array(a), np.array(spd), np.array(b)))):
        for k, (g, w) in enumerate(zip(got, want)):
            onp.testing.assert_allclose(g.asnumpy(), w, rtol=2e-4, atol=2e-4, err_msg=f"{mode} output {k}")


def test_linalg_decompositions_eager():
    a, spd, b = _matrices(onp.random.default_rng(5))
    x = np.array(a)
    q, r = np.linalg.qr(x)
    onp.testing.assert_allclose((q @ r).asnumpy(), a, rtol=1e-4, atol=1e-4)
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    onp.testing.assert_allclose(s.asnumpy(), onp.linalg.svd(a, compute_uv=False), rtol=1e-4)
    onp.testing.assert_allclose((u * np.expand_dims(s, -2)) @ vh, a, rtol=1e-4, atol=1e-4)
    w, v = np.linalg.eigh(np.array(spd))
    onp.testing.assert_allclose(w.asnumpy(), onp.linalg.eigvalsh(spd), rtol=1e-4, atol=1e-3)
    onp.testing.assert_allclose(np.linalg.pinv(x).asnumpy(), onp.linalg.pinv(a), rtol=1e-3, atol=1e-4)
    onp.testing.assert_array_equal(np.linalg.matrix_rank(x).asnumpy(), onp.linalg.matrix_rank(a))
    sol = np.linalg.lstsq(x[0], np.array(b[0]))[0]
    onp.testing.assert_allclose(sol.asnumpy(), onp.linalg.lstsq(a[0], b[0], rcond=None)[0], rtol=1e-3, atol=1e-4)


GRAD_CASES = {
    "qr": (lambda m: np.linalg.qr(m)[0].sum(axis=0) + np.linalg.qr(m)[1], "x"),
    "sort": (lambda v: np.sort(v, axis=0), "x"), "argsort-take": (lambda v: np.take_along_axis(
        v, np.argsort(v, axis=1), 1), "x"),
    "cumsum": (lambda v: np.cumsum(v, axis=1), "x"), "cumprod": (lambda v: np.cumprod(v + 3.0, axis=0), "x"),
    "quantile": (lambda v: np.quantile(v, [0.3, 0.7], axis=0), "x"),
    "inv": (lambda m: np.linalg.inv(m), "a"), "det": (lambda m: np.linalg.det(m), "a"),
    "solve": (lambda m: np.linalg.solve(m, m[:, :2] * 2.0), "a"), "cholesky": (lambda m: np.linalg.cholesky(m), "s"),
    "einsum": (lambda v: np.einsum("ij,kj->ik", v, v), "x"), "norm": (lambda v: np.linalg.norm(v, axis=1), "x"),
    "arctan2-hypot": (lambda v: np.arctan2(v, v + 2.0) + np.hypot(v, 1.0), "x"),
    "svd": (lambda m: np.abs(np.linalg.svd(m, full_matrices=False)[0]) + 0.0, "x"),
    "svdvals": (lambda m: np.linalg.svd(m, compute_uv=False), "x"),
    "eigh": (lambda m: np.linalg.eigh(m)[0] + np.abs(np.linalg.eigh(m)[1]).sum(axis=0), "s"),
    "pinv": (lambda m: np.linalg.pinv(m), "x"),
}


def _grad_input(kind, rng):
    if kind == "x":
        return rng.standard_normal((5, 3))
    a = rng.standard_normal((4, 4)) + 3 * onp.eye(4)
    return a @ a.T + onp.eye(4) if kind == "s" else a


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradients_by_finite_differences(name, mode):
    fn, kind = GRAD_CASES[name]
    rng = onp.random.default_rng(6)
    x0 = _grad_input(kind, rng)
    weight = rng.standard_normal(onp.asarray(fn(np.array(x0))).shape)
    run = fn if mode == "eager" else hb.hybridize(fn, backend=mode)
    x = np.array(x0)
    x.attach_grad()
    with autograd.record():
        loss = (run(x) * np.array(weight)).sum()
    loss.backward()
    expected = numeric_grad(lambda: float((onp.asarray(fn(np.array(x0))) * weight).sum()), x0)
    onp.testing.assert_allclose(x.grad.asnumpy(), expected, rtol=1e-4, atol=1e-5)


# -- random ------------------------------------------------------------------------------------------
def test_generator_api_reproducible_with_numpy_shapes_and_moments():
    draws = []
    for _ in range(2):
        rng = np.random.default_rng(42)
        draws.append([rng.integers(0, 10, (4,)), rng.random((3,)), rng.normal(2.0, 3.0, (20000,)),
                      rng.choice(6, 4, replace=False), rng.permutation(7), rng.gamma(2.0, 1.5, 3000),
                      rng.binomial(10, 0.3, 5), rng.poisson(4.0, 5), rng.multinomial(9, [0.2, 0.8]),
                      rng.dirichlet([1.0, 2.0]), rng.exponential(2.0, 20000), rng.uniform(-1, 1, (2, 2)),
                      rng.beta(2.0, 5.0, 4)])
    for a, b in zip(*draws):
        onp.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    d = [x.asnumpy() for x in draws[0]]
    assert d[0].dtype == onp.int64 and d[0].min() >= 0 and d[0].max() < 10
    assert d[1].dtype == onp.float32 and ((0 <= d[1]) & (d[1] < 1)).all()
    assert abs(d[2].mean() - 2.0) < 0.1 and abs(d[2].std() - 3.0) < 0.1
    assert len(set(d[3].tolist())) == 4 and sorted(d[4].tolist()) == list(range(7))
    assert abs(d[5].mean() - 3.0) < 0.2 and d[8].sum() == 9 and abs(d[9].sum() - 1) < 1e-6
    assert abs(d[10].mean() - 2.0) < 0.1


def test_legacy_random_functions_and_tracing():
    np.random.seed(5)
    a = np.random.gamma(2.0, size=4).asnumpy()
    np.random.seed(5)
    onp.testing.assert_array_equal(np.random.gamma(2.0, size=4).asnumpy(), a)
    compiled = hb.hybridize(lambda v: v + np.random.laplace(size=(3,)) + np.random.permutation(3), backend="llvm")
    assert compiled(np.zeros((3,))).shape == (3,)
    with pytest.raises(hb.TracingError, match="np.random.poisson"):
        hb.hybridize(lambda v: v + np.random.poisson(2.0, size=(3,)), backend="interp")(np.zeros((3,)))


# -- dtypes ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["int8", "int16", "uint16", "uint32", "uint64", "int64", "float16", "float64"])
def test_all_integer_widths_and_floats(dtype):
    x = onp.arange(1, 7).astype(dtype).reshape(2, 3)
    check(lambda v: (v + v, v * 2, v.max(axis=0), np.sum(v, axis=1)),
          lambda v: (v + v, v * v.dtype.type(2), v.max(axis=0), onp.sum(v, axis=1)), x)
    got = hb.hybridize(lambda v: (v + v, v.max(axis=0), np.sum(v, axis=1)), backend="llvm")(np.array(x))
    onp.testing.assert_array_equal(got[0].asnumpy(), x + x)
    onp.testing.assert_array_equal(got[2].asnumpy(), onp.sum(x, axis=1))


def test_dtype_utilities():
    assert np.finfo(np.float32).eps == onp.finfo(onp.float32).eps
    assert np.finfo(np.bfloat16).bits == 16 and np.iinfo(np.uint16).max == 65535
    assert np.result_type(np.zeros((2,), "int8"), np.uint8) == onp.int16
    assert np.promote_types("int32", "float32") == onp.float64
    assert np.can_cast(np.int8, np.int16) and not np.can_cast("float32", "int32")
    assert np.isdtype(np.zeros((1,)).dtype, "real floating") and np.issubdtype(np.int16, np.integer)
    b = np.array([1.5, 2.25], dtype=np.bfloat16)
    onp.testing.assert_array_equal((b + b).asnumpy().astype(onp.float32), [3.0, 4.5])


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
@pytest.mark.parametrize("shape", [10, (15,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("order", ["C", "F"])
def test_unravel_index_takes_a_shape_or_one_int(mode, shape, order):
    """NumPy's unravel_index accepts one int as the shape of a 1-d array (MXNet's tests pass 10)."""
    flat = onp.array([[0, 7], [9, 3]], "int32")
    fn = lambda i: np.unravel_index(i, shape, order)
    got = (fn if mode == "eager" else hb.hybridize(fn, backend=mode))(np.array(flat))
    want = onp.unravel_index(flat, shape, order)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        onp.testing.assert_array_equal(g.asnumpy(), w)


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
@pytest.mark.parametrize("shape", [(0, 0), (1, 0, 0), (2, 3, 0, 0)])
def test_cholesky_of_empty_matrices_is_empty(mode, shape):
    fn = lambda a: np.linalg.cholesky(a)
    got = (fn if mode == "eager" else hb.hybridize(fn, backend=mode))(np.zeros(shape))
    assert got.shape == onp.linalg.cholesky(onp.zeros(shape, "float32")).shape


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64", "float32"])
def test_unique_values_are_sorted(dtype):
    """unique_values sorts as np.unique does (MXNet's tests compare with np.unique; NumPy >= 2.3's
    own unique_values returns hashed integers in a data-dependent order); NaNs stay distinct."""
    values = onp.random.default_rng(3).integers(0, 100, size=(5, 7)).astype(dtype)
    onp.testing.assert_array_equal(np.unique_values(np.array(values)).asnumpy(), onp.unique(values))
    if dtype == "float32":
        got = np.unique_values(np.array(onp.array([onp.nan, 2.0, onp.nan, 1.0], dtype))).asnumpy()
        onp.testing.assert_array_equal(got, onp.array([1.0, 2.0, onp.nan, onp.nan], dtype))


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
@pytest.mark.parametrize("name", ["tril", "triu"])
@pytest.mark.parametrize("k", [-1, 0, 2])
def test_triangles_of_a_1d_array_are_square(mode, name, k):
    """NumPy's tril/triu of a 1-d array: the square matrix whose rows are the array, triangled."""
    values = onp.array([1.5, -2.0, 3.0, 4.0], "float32")
    fn = lambda a: getattr(np, name)(a, k)
    got = (fn if mode == "eager" else hb.hybridize(fn, backend=mode))(np.array(values))
    onp.testing.assert_array_equal(got.asnumpy(), getattr(onp, name)(values, k))


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
def test_inverse_and_determinant_of_empty_matrices(mode):
    """0x0 matrices: the inverse is empty, the determinant 1 (NumPy's answers)."""
    fn = lambda a: (np.linalg.inv(a), np.linalg.det(a), np.linalg.slogdet(a)[1])
    inverse, det, logdet = (fn if mode == "eager" else hb.hybridize(fn, backend=mode))(np.zeros((3, 0, 0)))
    empty = onp.zeros((3, 0, 0), "float32")
    assert inverse.shape == onp.linalg.inv(empty).shape
    onp.testing.assert_array_equal(det.asnumpy(), onp.linalg.det(empty))
    onp.testing.assert_array_equal(logdet.asnumpy(), onp.linalg.slogdet(empty)[1])


@pytest.mark.parametrize("shape,axis,start", [((5, 1), 0, 2), ((1, 5), 1, 0), ((2, 3, 4), 2, -3),
                                              ((2, 3, 4), 0, -1), ((2, 3, 4), -1, 3), ((2, 3, 4), 1, -2)])
def test_rollaxis_counts_a_negative_start_from_ndim(shape, axis, start):
    data = onp.arange(onp.prod(shape), dtype="float32").reshape(shape)
    onp.testing.assert_array_equal(np.rollaxis(np.array(data), axis, start).asnumpy(), onp.rollaxis(data, axis, start))


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
@pytest.mark.parametrize("name", ["inv", "det"])
def test_backward_through_empty_matrices_gives_an_empty_gradient(mode, name):
    x = np.zeros((3, 0, 0))
    x.attach_grad()
    fn = getattr(np.linalg, name)
    with autograd.record():
        y = (fn if mode == "eager" else hb.hybridize(fn, backend=mode))(x)
    y.backward()
    assert x.grad.shape == (3, 0, 0)


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
@pytest.mark.parametrize("a_shape,b_shape,axes", [((3, 0), (0, 4), 1), ((0, 3), (5, 0), [[0], [1]]),
                                                  ((0, 3), (3, 5), 1)])
def test_tensordot_of_empty_operands_has_gradients(mode, a_shape, b_shape, axes):
    """A contraction over an empty axis is zeros, yet a function of both operands: backward gives them zero
    (or empty) gradients, as NumPy's product rule does, instead of 'no recorded computation'."""
    a, b = np.zeros(a_shape), np.zeros(b_shape)
    for x in (a, b):
        x.attach_grad()
    fn = lambda p, q: np.tensordot(p, q, axes)
    with autograd.record():
        y = (fn if mode == "eager" else hb.hybridize(fn, backend=mode))(a, b)
    assert y.shape == onp.tensordot(onp.zeros(a_shape), onp.zeros(b_shape), axes).shape
    y.backward()
    onp.testing.assert_array_equal(a.grad.asnumpy(), onp.zeros(a_shape, "float32"))
    onp.testing.assert_array_equal(b.grad.asnumpy(), onp.zeros(b_shape, "float32"))
