"""np.linalg.svd and eigh as registry ops (hybrid/ir/ops/decomp.py): eagerly and on interp NumPy's
LAPACK, compiled on llvm the generated code calls ?gesdd/?syevd of scipy-openblas32 (no Python
callback). Against numpy.linalg (both copy the matrix to column-major order and call the same
routine), every composite built on them (pinv, lstsq, matrix_rank, cond, 2-/nuclear norms,
svdvals, eigvalsh), gradients by finite differences, the AOT library. On the CUDA backend
(emulator) the generated Jacobi kernels (hybrid/codegen/cuda/jacobi.py), real and complex.

Complex matrices (complex64/complex128: LAPACK's c/z gesdd and heevd) the same way.

Tolerances: float32/complex64 within 2e-5 + 2e-4 relative of NumPy's, float64/complex128 within
1e-10 (+ relative); on llvm and cuda, vectors up to sign (complex: a unit phase; see _close_factors),
every vector set checked orthonormal within 1e-5."""
import sys
from pathlib import Path

import numpy as onp
import pytest

import hybrid as hb
from hybrid import np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "autograd"))
from gradcheck import assert_scalar_grad  # noqa: E402

TOL = {"float32": dict(rtol=2e-4, atol=2e-5), "float64": dict(rtol=1e-10, atol=1e-10)}
TOL.update(complex64=TOL["float32"], complex128=TOL["float64"])
MODES = ["eager", "interp", "llvm"]
CUDA = pytest.param("cuda", marks=pytest.mark.slow)    # the emulator: g++ per case
OPTIONS = {"cuda": {"runtime": "emulator"}}


def _run(fn, mode, *args):
    run = fn if mode == "eager" else hb.hybridize(fn, backend=mode, **OPTIONS.get(mode, {}))
    return run(*[np.array(a) for a in args])


def _sample(shape, dtype, seed):
    rng = onp.random.default_rng(seed)
    data = rng.standard_normal(shape)
    if dtype.startswith("complex"):
        data = data + 1j * rng.standard_normal(shape)
    return data.astype(dtype)


def _phases(got, want, axis: int):
    """The unit factor per vector (columns: axis -2 summed; rows: axis -1) making `got`'s vectors
    point as `want`'s: +-1 for real vectors, e^(i theta) for complex ones."""
    dot = onp.sum(onp.conj(got) * want, axis=axis, keepdims=True)
    if not onp.iscomplexobj(dot):
        return onp.where(dot < 0, -1.0, 1.0)
    size = onp.abs(dot)
    return onp.where(size > 0, dot / onp.where(size > 0, size, 1), 1)


def _close_factors(got, want, dtype, mode, vectors=(), k=0):
    """Outputs equal NumPy's within TOL[dtype]. `vectors`: (output, axis) of the singular/eigen
    vectors (axis -2: columns, -1: rows), compared up to one sign per vector on llvm: NumPy's bundled
    OpenBLAS and scipy-openblas32 are different builds, and a float32 rounding difference can flip a
    vector, or turn a complex one by a phase; cuda's Jacobi rotations choose their own signs (eager
    and interp run NumPy itself: their signs must be NumPy's). Vectors after the first
    k (full_matrices' completion of U or Vh) may be any orthonormal completion: every vector set is
    checked orthonormal, and the first k compared."""
    got, want = [g.asnumpy() for g in got], list(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape, w.shape)
    for out, axis in vectors:
        g, w = got[out], want[out]
        gh = onp.conj(onp.swapaxes(g, -1, -2))
        gram = gh @ g if axis == -2 else g @ gh
        onp.testing.assert_allclose(gram, onp.broadcast_to(onp.eye(gram.shape[-1]), gram.shape), atol=1e-5)
        head = (Ellipsis, slice(None), slice(0, k)) if axis == -2 else (Ellipsis, slice(0, k), slice(None))
        flip = _phases(g[head], w[head], axis)
        assert mode in ("llvm", "cuda") or (abs(flip - 1) < 1e-3).all(), "NumPy's own LAPACK must give NumPy's signs"
        got[out], want[out] = g[head] * flip, w[head]
    for g, w in zip(got, want):
        onp.testing.assert_allclose(g, w, **TOL[dtype])


SVD_CASES = [(shape, dtype) for dtype in ("float32", "float64")
             for shape in [(5, 3), (3, 5), (4, 4), (2, 3, 4, 2), (1, 1), (0, 3), (3, 0)]]
SVD_CASES += [(shape, dtype) for dtype in ("complex64", "complex128") for shape in [(5, 3), (2, 3, 4, 2), (0, 3)]]
SVD_CASES += [((3, 5), "complex64")]


def _on_backends(cases: list) -> list:
    """(shape, dtype, mode) for every mode, the CUDA emulator in the slow tier."""
    return ([(s, d, m) for s, d in cases for m in MODES]
            + [pytest.param(s, d, "cuda", marks=pytest.mark.slow) for s, d in cases])


@pytest.mark.parametrize("shape,dtype,mode", _on_backends(SVD_CASES))
def test_svd_matches_numpy(shape, dtype, mode):
    data = _sample(shape, dtype, sum(shape))
    for full in (False, True):
        got = _run(lambda x: tuple(np.linalg.svd(x, full_matrices=full)), mode, data)
        _close_factors(got, onp.linalg.svd(data, full_matrices=full), dtype, mode, [(0, -2), (2, -1)], min(shape[-2:]))
    s = _run(lambda x: np.linalg.svdvals(x), mode, data)
    _close_factors([s], [onp.linalg.svd(data, compute_uv=False)], dtype, mode)


EIGH_CASES = [(shape, dtype) for dtype in ("float32", "float64") for shape in [(4, 4), (3, 5, 5), (1, 1), (0, 0)]]
EIGH_CASES += [((4, 4), "complex64"), ((3, 5, 5), "complex128"), ((0, 0), "complex64")]


@pytest.mark.parametrize("shape,dtype,mode", _on_backends(EIGH_CASES))
def test_eigh_matches_numpy(shape, dtype, mode):
    data = _sample(shape, dtype, sum(shape) + 1)
    for uplo in ("L", "U"):      # each reads one triangle only: the other holds noise
        got = _run(lambda x: tuple(np.linalg.eigh(x, UPLO=uplo)), mode, data)
        _close_factors(got, onp.linalg.eigh(data, UPLO=uplo), dtype, mode, [(1, -2)], shape[-1])
    w = _run(lambda x: np.linalg.eigvalsh(x), mode, data)
    _close_factors([w], [onp.linalg.eigvalsh(data)], dtype, mode)


@pytest.mark.parametrize("mode", ["interp", "llvm", "cuda"])
def test_composites_compile(mode):
    rng = onp.random.default_rng(4)
    a = rng.standard_normal((6, 4))
    b = rng.standard_normal((6, 2))
    low_rank = rng.standard_normal((5, 2)) @ rng.standard_normal((2, 4))
    fn = lambda x, y, r: (np.linalg.pinv(x), np.linalg.lstsq(x, y)[0], np.linalg.matrix_rank(r),
                          np.linalg.cond(x), np.linalg.norm(x, 2), np.linalg.norm(x, "nuc"),
                          np.linalg.matrix_norm(x, ord=-2))
    want = (onp.linalg.pinv(a), onp.linalg.lstsq(a, b, rcond=None)[0], onp.linalg.matrix_rank(low_rank),
            onp.linalg.cond(a), onp.linalg.norm(a, 2), onp.linalg.norm(a, "nuc"), onp.linalg.matrix_norm(a, ord=-2))
    got = _run(fn, mode, a, b, low_rank)
    for g, w in zip(got, want):
        onp.testing.assert_allclose(g.asnumpy(), w, rtol=1e-9, atol=1e-10)


def test_llvm_code_calls_lapack(tmp_path):
    """The compiled module itself calls the LAPACK routines: no Python in between."""
    data = onp.random.default_rng(0).standard_normal((4, 3)).astype("float32")
    with hb.config(dump=str(tmp_path)):
        hb.hybridize(lambda x: (np.linalg.svdvals(x), np.linalg.eigh(x[:3])[0]), backend="llvm")(np.array(data))
    ir = "".join(p.read_text() for p in tmp_path.glob("*-llvm.ll"))
    assert "call void @scipy_sgesdd_(" in ir and "call void @scipy_ssyevd_(" in ir
    assert "@hb_svd_f32_4x3n(" in ir        # svd(...)[1] alone would compute vectors; svdvals computes none


def test_llvm_code_calls_complex_lapack(tmp_path):
    """Complex matrices go to LAPACK's c/z routines as (re, im) pairs (eigh: ?heevd)."""
    c64, c128 = _sample((4, 3), "complex64", 0), _sample((3, 3), "complex128", 1)
    with hb.config(dump=str(tmp_path)):
        got = hb.hybridize(lambda x, y: (np.linalg.svdvals(x), np.linalg.eigh(y)[0]), backend="llvm")(
            np.array(c64), np.array(c128))
    ir = "".join(p.read_text() for p in tmp_path.glob("*-llvm.ll"))
    assert "call void @scipy_cgesdd_(" in ir and "call void @scipy_zheevd_(" in ir
    onp.testing.assert_allclose(got[0].asnumpy(), onp.linalg.svd(c64, compute_uv=False), **TOL["complex64"])
    onp.testing.assert_allclose(got[1].asnumpy(), onp.linalg.eigvalsh(c128), **TOL["complex128"])


def _grad_loss(case: str, shape: tuple, complex_: bool = False):
    """A scalar function of the factors that does not depend on their signs (singular vectors and
    eigenvectors are defined up to sign; complex ones up to a phase): weighted sums of
    U diag(s) Vh, |u_1 v_1^H|, w, |v_1 v_1^H| (real parts of complex weighted sums)."""
    rng = onp.random.default_rng(12)
    w1, w2 = (np.array(rng.standard_normal(shape)) for _ in range(2))
    w3 = np.array(rng.standard_normal(min(shape)))
    if complex_:
        w1 = w1 + 1j * np.array(rng.standard_normal(shape))
    mag = np.abs if complex_ else (lambda t: t)

    def loss(x):
        if case == "eigh":
            w, v = np.linalg.eigh(x)
            return np.sum(w * w3) + np.sum(mag(np.matmul(v[:, :1], np.conj(v[:, :1]).T)) * w2)
        if case == "pinv":
            return np.sum(np.real(np.linalg.pinv(x) * w1.T))
        if case == "svdvals":
            return np.sum(np.linalg.svdvals(x) * w3)
        u, s, vh = np.linalg.svd(x, full_matrices=case == "svd-full")
        k = s.shape[0]
        u, vh = u[:, :k], vh[:k, :]      # svd-full: the completing columns are arbitrary, not read
        return np.sum(np.real(np.matmul(u * s[None, :], vh) * w1)) + np.sum(mag(np.matmul(u[:, :1], vh[:1, :])) * w2)
    return loss


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm", CUDA])
@pytest.mark.parametrize("case", ["svd-tall", "svd-wide", "svd-full", "svdvals", "eigh", "pinv"])
def test_gradients_by_finite_differences(case, mode):
    """On cuda the forward factors come from the Jacobi kernels, the backward from the same rules."""
    shape = {"svd-wide": (3, 5), "eigh": (4, 4)}.get(case, (5, 3))
    data = onp.random.default_rng(11).standard_normal(shape)
    if case == "eigh":
        data = data + data.T
    with hb.config(cuda_runtime="emulator"):
        assert_scalar_grad(_grad_loss(case, shape), data, mode, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", ["eager", "interp", "llvm", CUDA])
@pytest.mark.parametrize("case", ["svd-tall", "svd-wide", "svd-full", "svdvals", "eigh", "pinv"])
def test_complex_gradients_by_finite_differences(case, mode):
    """Complex matrices: gradients dL/d re + i dL/d im (hybrid/ir/ops/complex.py) of losses
    invariant to the vectors' phases, against central differences."""
    shape = {"svd-wide": (3, 5), "eigh": (4, 4)}.get(case, (5, 3))
    rng = onp.random.default_rng(13)
    data = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    if case == "eigh":
        data = data + data.conj().T
    with hb.config(cuda_runtime="emulator"):
        assert_scalar_grad(_grad_loss(case, shape, complex_=True), data, mode, rtol=1e-5, atol=1e-7)


def test_aot_library_calls_lapack(tmp_path):
    data = onp.random.default_rng(2).standard_normal((3, 5, 4)).astype("float32")
    sym = onp.random.default_rng(3).standard_normal((4, 4)).astype("float64")
    fn = lambda x, s: tuple(np.linalg.svd(x, full_matrices=False)) + tuple(np.linalg.eigh(s))
    hb.compile_library(fn, [data, sym], str(tmp_path / "lapack.so"))
    got = hb.load_library(str(tmp_path / "lapack.so"))([data, sym])
    want = tuple(onp.linalg.svd(data, full_matrices=False)) + tuple(onp.linalg.eigh(sym))
    for g, w in zip(got, want):
        onp.testing.assert_allclose(g, w, **TOL[str(w.dtype)])


def test_cuda_kernels_match_numpy():
    """Default tier: one CUDA emulator program with the Jacobi kernels, batched, f32, f64 and c128,
    tall and wide, full and reduced, values only (the slow tier runs every case above)."""
    rng = onp.random.default_rng(21)
    tall, wide = rng.standard_normal((3, 6, 4)), rng.standard_normal((2, 3, 5)).astype("float32")
    sym = rng.standard_normal((4, 5, 5)).astype("float32")
    cwide, cherm = _sample((2, 3, 4), "complex128", 1), _sample((4, 4), "complex128", 2)
    fn = lambda t, w, h, cw, ch: (tuple(np.linalg.svd(t)) + tuple(np.linalg.svd(w, full_matrices=False))  # noqa: E731
                                  + (np.linalg.svdvals(w),) + tuple(np.linalg.eigh(h, UPLO="U"))
                                  + tuple(np.linalg.svd(cw)) + tuple(np.linalg.eigh(ch)))
    got = _run(fn, "cuda", tall, wide, sym, cwide, cherm)
    _close_factors(got[:3], onp.linalg.svd(tall), "float64", "cuda", [(0, -2), (2, -1)], 4)
    _close_factors(got[3:6], onp.linalg.svd(wide, full_matrices=False), "float32", "cuda", [(0, -2), (2, -1)], 3)
    _close_factors(got[6:7], [onp.linalg.svd(wide, compute_uv=False)], "float32", "cuda")
    _close_factors(got[7:9], onp.linalg.eigh(sym, UPLO="U"), "float32", "cuda", [(1, -2)], 5)
    _close_factors(got[9:12], onp.linalg.svd(cwide), "complex128", "cuda", [(0, -2), (2, -1)], 3)
    _close_factors(got[12:], onp.linalg.eigh(cherm), "complex128", "cuda", [(1, -2)], 4)


@pytest.mark.parametrize("matrix", ["zero", "rank-one", "complex-rank-one", "repeated"])
def test_cuda_degenerate_matrices(matrix):
    """Zero singular values get orthonormal completions; repeated eigenvalues orthonormal vectors."""
    rng = onp.random.default_rng(22)
    data = {"zero": onp.zeros((4, 3)), "rank-one": onp.outer(rng.standard_normal(5), rng.standard_normal(3)),
            "complex-rank-one": onp.outer(_sample(4, "complex128", 1), _sample(6, "complex128", 2)),
            "repeated": onp.diag([2.0, 2.0, -1.0, 2.0])}[matrix]
    u, s, vh = (t.asnumpy() for t in _run(lambda x: tuple(np.linalg.svd(x)), "cuda", data))
    onp.testing.assert_allclose(s, onp.linalg.svd(data, compute_uv=False), atol=1e-12)
    for q in (u, vh):
        onp.testing.assert_allclose(q @ q.conj().T, onp.eye(q.shape[0]), atol=1e-12)
    k = s.shape[0]
    onp.testing.assert_allclose((u[:, :k] * s) @ vh[:k], data, atol=1e-12)
    if matrix == "repeated":
        w, v = (t.asnumpy() for t in _run(lambda x: tuple(np.linalg.eigh(x)), "cuda", data))
        onp.testing.assert_allclose(w, onp.linalg.eigvalsh(data), atol=1e-12)
        onp.testing.assert_allclose(v @ v.T, onp.eye(4), atol=1e-12)
        onp.testing.assert_allclose((v * w) @ v.T, data, atol=1e-12)
