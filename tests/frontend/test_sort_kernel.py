"""The argsort kernel (registry op argsort; llvm/sort.py, cuda/sort.py): np.sort / np.argsort /
npx.topk hybridized on interp, llvm and the CUDA emulator equal NumPy's stable order exactly:
ties by index, NaN last (first in descending top-k), -0.0 and +0.0 equal, empty and 1-element
rows, odd row lengths; int, unsigned, bool and float dtypes; gradients of sort and top-k values by
finite differences."""
import re

import numpy as onp
import pytest

import hybrid as hb
from hybrid import np, npx
from tests.autograd.gradcheck import assert_scalar_grad

BACKENDS = ["interp", "llvm", pytest.param("cuda", marks=pytest.mark.slow)]
OPTIONS = {"cuda": {"runtime": "emulator"}}


def _data(shape, dtype, seed=0):
    """Values drawn from few levels (ties); floats also get NaNs, -0.0 and +0.0."""
    rng = onp.random.default_rng(seed)
    x = rng.integers(-3, 4, shape)
    if onp.dtype(dtype).kind == "u":
        x = x + 3
    x = x.astype(dtype)
    if x.dtype.kind == "f" and x.size:
        flat = x.reshape(-1)
        picks = rng.choice(flat.size, size=min(flat.size, 1 + flat.size // 4), replace=False)
        flat[picks[0::3]] = onp.nan
        flat[picks[1::3]] = -0.0
        flat[picks[2::3]] = 0.0
    return x


def _run(fn, backend, *args):
    f = hb.hybridize(fn, backend=backend, **OPTIONS.get(backend, {}))
    out = f(*[np.array(a) for a in args])
    return [o.asnumpy() for o in (out if isinstance(out, tuple) else (out,))]


def _llvm_sorts_as_numpy(x):
    """np.argsort and np.sort of x compiled for llvm equal NumPy's stable ones (bfloat16 keys
    compared as float32: NumPy has no bfloat16 order)."""
    got = _run(lambda v: (np.argsort(v), np.sort(v)), "llvm", x)
    keys = x.astype(onp.float32) if x.dtype.name == "bfloat16" else x
    want = onp.argsort(keys, kind="stable").astype(onp.int64)
    _same(got[0], want)
    _same(got[1], onp.take_along_axis(x, want, axis=-1))


def _same(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype, (got.dtype, got.shape, want.dtype, want.shape)
    onp.testing.assert_array_equal(got, want)   # NaNs compare equal here; -0.0 vs +0.0 checked by signbit
    if got.dtype.kind == "f":
        onp.testing.assert_array_equal(onp.signbit(got), onp.signbit(want))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "int8", "uint8", "int64", "bool"])
def test_sort_and_argsort_equal_numpy(backend, dtype):
    x = _data((6, 37), dtype)
    got = _run(lambda v: (np.sort(v), np.argsort(v), np.sort(v, axis=0), np.argsort(v, axis=0)), backend, x)
    want = [onp.sort(x, kind="stable"), onp.argsort(x, kind="stable"), onp.sort(x, axis=0, kind="stable"),
            onp.argsort(x, axis=0, kind="stable")]
    for g, w in zip(got, want):
        _same(g, w.astype(onp.int64) if w.dtype == onp.intp else w)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(0,), (4, 0), (1,), (5, 1), (3, 1, 17), (130,), (2, 255), (1, 1000)])
def test_row_lengths(backend, shape):
    x = _data(shape, "float32", seed=len(shape))
    got = _run(lambda v: (np.sort(v), np.argsort(v), np.argsort(v, axis=None)), backend, x)
    want = [onp.sort(x, kind="stable"), onp.argsort(x, kind="stable"), onp.argsort(x, axis=None, kind="stable")]
    for g, w in zip(got, want):
        _same(g, w.astype(onp.int64) if w.dtype == onp.intp else w)


@pytest.mark.parametrize("backend", BACKENDS)
def test_descending_and_topk(backend):
    x = _data((4, 23), "float32", seed=3)
    got = _run(lambda v: (np.sort(v, descending=True), np.argsort(v, descending=True),
                          npx.topk(v, k=5, ret_typ="indices", dtype="int64"), npx.topk(v, k=4, ret_typ="value"),
                          npx.topk(v, axis=0, k=2, ret_typ="value", is_ascend=True),
                          npx.topk(v, k=3, ret_typ="mask")), backend, x)
    # NumPy's descending stable order: NaN first, ties in index order
    order = onp.stack([onp.array(sorted(range(x.shape[1]), key=lambda i: (not onp.isnan(r[i]), -r[i] if r[i] == r[i]
                                                                           else 0, i))) for r in x])
    flipped = x[:, ::-1]
    want_desc = onp.flip(onp.sort(flipped, kind="stable"), -1)
    _same(got[0], want_desc)
    _same(got[1], order.astype(onp.int64))
    _same(got[2], order[:, :5].astype(onp.int64))
    _same(got[3], onp.take_along_axis(x, order[:, :4], -1))
    _same(got[4], onp.sort(x, axis=0, kind="stable")[:2])
    mask = onp.zeros_like(x)
    onp.put_along_axis(mask, order[:, :3], 1, -1)
    _same(got[5], mask)


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm"])
def test_gradients_by_finite_differences(mode):
    data = onp.random.default_rng(5).permutation(24).reshape(3, 8).astype("float64") * 0.37
    weights = onp.arange(1, 9, dtype="float64")
    assert_scalar_grad(lambda v: np.sum(np.sort(v) * np.array(weights)), data, mode)
    assert_scalar_grad(lambda v: np.sum(np.sort(v, axis=0) ** 2 * np.array(weights)), data, mode)
    assert_scalar_grad(lambda v: np.sum(npx.topk(v, k=3, ret_typ="value") * np.array(weights[:3])), data, mode)


def test_compiled_sort_is_one_kernel_call():
    """The llvm module holds each sort function once, however many sorts the graph has: the radix
    sort for rows of 32+ elements (f32 keys packed with their index), the merge sort below."""
    from hybrid.codegen.llvm.module import build_module
    from hybrid.codegen.llvm.target import host
    fn = lambda v: (np.sort(v), np.argsort(v * 2), np.sort(v[:, :31]), np.argsort(v[:, 1:32] * 3))  # noqa: E731
    graph = hb.passes.optimize(hb.trace(fn, onp.zeros((4, 300), "float32"))).graph
    text = build_module(graph, host()[0]).ir
    kernels = re.findall(r"^define internal void @(kern\d+)\((.*?)^}", text, re.S | re.M)
    for name in ("hb_radix_f32", "hb_argsort_f32"):
        assert text.count(f"define internal void @{name}(") == 1
        # two sorts each; equal sort kernels are one function called twice (codegen/llvm/dedup.py)
        callers = [k for k, body in kernels if f"call void @{name}(" in body]
        assert sum(text.count(f"call void @{k}(") for k in callers) == 2


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int8", "uint8", "int16", "uint16",
                                   "int32", "uint32", "int64", "uint64", "bool"])
def test_radix_sort_keys_over_the_full_range(dtype):
    """Rows of llvm/sort.RADIX_MIN elements or more sort by the keys' bytes: values over the whole
    range of the dtype (every byte varies; sign bits), +-inf, NaNs of either sign, -0.0 / +0.0,
    repeated values (stability)."""
    import ml_dtypes

    rng = onp.random.default_rng(5)
    shape = (3, 300)
    if dtype == "bool":
        x = rng.random(shape) < 0.5
    elif dtype in ("float32", "float64", "float16", "bfloat16"):
        x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, shape)).astype(onp.float32)
        flat = x.reshape(-1)
        flat[::5] = onp.round(flat[::5])
        for step, value in [(7, onp.nan), (11, -0.0), (13, 0.0), (17, onp.inf), (19, -onp.inf), (23, -onp.nan)]:
            flat[3::step] = value
        x = x.astype(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype)
    else:
        info = onp.iinfo(dtype)
        x = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
        x.reshape(-1)[::3] = x.reshape(-1)[1]
    _llvm_sorts_as_numpy(x)


@pytest.mark.parametrize("dtype", ["float64", "int64", "uint64"])
@pytest.mark.parametrize("spread", ["low", "high", "both"])
def test_radix_sort_of_64_bit_keys_by_halves(dtype, spread):
    """64-bit keys sort by their low 32 bits, then (repacked through the index) by the high 32 bits:
    keys differing only in the low half, only in the high half (low half equal: those passes are
    skipped), or in both; with ties."""
    rng = onp.random.default_rng(7)
    low = rng.integers(0, 2 ** 32, (2, 500), dtype=onp.uint64) if spread != "high" else onp.uint64(12345)
    high = rng.integers(0, 2 ** 32, (2, 500), dtype=onp.uint64) if spread != "low" else onp.uint64(0x3FF00000)
    bits = (high << onp.uint64(32)) | low * onp.ones((2, 500), onp.uint64)
    x = bits.view(dtype)
    if dtype == "float64":
        x = onp.where(onp.isnan(x), 1.5, x)
    x.reshape(-1)[::9] = x.reshape(-1)[4]
    _llvm_sorts_as_numpy(x)


@pytest.mark.parametrize("dtype", ["float32", "int32", "uint32", "float64", "int64", "bfloat16"])
def test_radix_sort_of_long_rows_by_11_bit_digits(dtype):
    """Rows of llvm/sort.WIDE_MIN elements or more sort 32-bit key halves in 3 passes of 11-bit
    digits: full-range keys (every digit varies), NaN, -0.0 and +0.0, ties."""
    import ml_dtypes
    from hybrid.codegen.llvm.sort import WIDE_MIN

    rng = onp.random.default_rng(8)
    shape = (2, WIDE_MIN + 7)
    if dtype in ("float32", "float64", "bfloat16"):
        x = rng.standard_normal(shape) * 10.0 ** rng.integers(-30, 30, shape)
        x.reshape(-1)[::97] = onp.nan
        x.reshape(-1)[1::89] = -0.0
        x.reshape(-1)[2::83] = 0.0
        x = x.astype(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype)
    else:
        info = onp.iinfo(dtype)
        x = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    x.reshape(-1)[::7] = x.reshape(-1)[3]
    _llvm_sorts_as_numpy(x)
