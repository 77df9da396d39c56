"""complex64/complex128: creation, promotion, arithmetic, parts, matmul and np.fft against NumPy,
eagerly and hybridized on interp, llvm and (slow tier) the CUDA emulator, where the lower_complex
pass turns them into real (re, im) arithmetic; and the clear errors where hybrid stops.

Tolerances: complex64 within 2e-5 (absolute and relative; FFTs compiled as DFT products 1e-4
relative to the largest magnitude), complex128 within 1e-12."""
import itertools
import sys
from pathlib import Path

import numpy as onp
import pytest

import hybrid as hb
from hybrid import autograd, np
from hybrid.core.ad import autodiff

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "autograd"))
from gradcheck import numeric_grad  # noqa: E402

DTYPES = ["complex64", "complex128"]


def _cases(*extra):
    """(extra..., dtype, backend) parameters; compiling is what costs, so the default tier compiles
    complex64 with the first of each `extra` choice on llvm, the slow tier the rest (and CUDA)."""
    cases = []
    for combo in itertools.product(*extra, DTYPES, ["eager", "interp", "llvm", "cuda"]):
        *rest, dtype, backend = combo
        first = all(r == choices[0] for r, choices in zip(rest, extra))
        slow = backend == "cuda" or (backend == "llvm" and not (dtype == "complex64" and first))
        cases.append(pytest.param(*combo, marks=pytest.mark.slow) if slow else combo)
    return cases
TOL = {"complex64": 2e-5, "float32": 2e-5, "complex128": 1e-12, "float64": 1e-12, "bool": 0}


def _data(dtype, shape, seed):
    rng = onp.random.default_rng(seed)
    real = "float32" if dtype == "complex64" else "float64"
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype), \
        rng.standard_normal(shape).astype(real)


def _run(fn, backend, *args):
    if backend == "eager":
        out = fn(*[np.array(a) for a in args])
    else:
        options = {"runtime": "emulator"} if backend == "cuda" else {}
        out = hb.hybridize(fn, backend=backend, **options)(*[np.array(a) for a in args])
    return out if isinstance(out, tuple) else (out,)


def _check(fn, ref, backend, args, scale_tol=False, loose=None):
    """loose: output index -> its tolerance where compiled code is documented to be less exact."""
    got = _run(fn, backend, *args)
    want = ref(*args)
    want = want if isinstance(want, tuple) else (want,)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        w = onp.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (k, g.dtype, w.dtype, g.shape, w.shape)
        tol = max(TOL[str(w.dtype)], (loose or {}).get(k, 0) if backend not in ("eager", "interp") else 0)
        atol = tol * max(1.0, float(onp.abs(w).max(initial=0))) if scale_tol else tol
        onp.testing.assert_allclose(g.asnumpy(), w, rtol=tol, atol=atol, err_msg=f"output {k} on {backend}")


def test_creation_and_promotion():
    z = np.array([1 + 2j, 3 - 1j])
    assert z.dtype == onp.complex64 and np.zeros(3, dtype="complex128").dtype == onp.complex128
    f32, f64 = np.array([1.0], dtype="float32"), np.array([1.0], dtype="float64")
    assert (z + f32).dtype == onp.complex64 and (z + f64).dtype == onp.complex128       # NumPy's table
    assert (f32 * 1j).dtype == onp.complex64 and (f64 * 1j).dtype == onp.complex128     # weak Python complex
    assert (z.astype("complex128") * 2.0).dtype == onp.complex128
    assert (np.array([1, 2]) + 1j).dtype == onp.complex64        # hybrid's default (NumPy: complex128)
    assert np.iscomplexobj(z) and not np.iscomplexobj(f32) and complex(np.array(1 + 1j)) == 1 + 1j
    onp.testing.assert_array_equal(np.iscomplex(np.array([1 + 0j, 1j])).asnumpy(), [False, True])
    onp.testing.assert_array_equal(np.isreal(np.array([1 + 0j, 1j])).asnumpy(), [True, False])


@pytest.mark.parametrize("shape, dtype, backend", _cases([(3, 5), (), (1,), (2, 1, 4)]))
def test_arithmetic_and_parts(shape, dtype, backend):
    z, r = _data(dtype, shape, 1)
    w = _data(dtype, shape[-1:] or (), 2)[0] + 0.5       # broadcast against z

    def fn(a, b, x):
        return (a + b, a - b, a * b, a / b, -a, np.conj(a), a == b, a != a, np.real(a), np.imag(a), np.abs(a),
                np.angle(a), np.exp(a * 0.5), a * x, a + 2j, np.where(x > 0, a, b))

    def ref(a, b, x):
        return (a + b, a - b, a * b, a / b, -a, onp.conj(a), a == b, a != a, onp.real(a), onp.imag(a), onp.abs(a),
                onp.angle(a), onp.exp(a * 0.5), a * x, (a + 2j).astype(a.dtype), onp.where(x > 0, a, b))
    _check(fn, ref, backend, (z, w, r))


@pytest.mark.parametrize("dtype, backend", _cases())
def test_reductions_layout_matmul_casts(dtype, backend):
    z, r = _data(dtype, (4, 6), 3)
    m = _data(dtype, (6, 3), 4)[0]
    other = "complex128" if dtype == "complex64" else "complex64"

    def fn(a, b, x):
        return (a @ b, a.sum(axis=1), np.sum(a), a.T, a[1:3, ::2], a.reshape(3, 8), np.concatenate([a, a * 2]),
                np.broadcast_to(a[:1], (3, 6)), x.astype(dtype), a.astype(other), np.pad(a, 1),
                np.take(a, np.array([2, 0]), axis=1), np.matmul(a.T, a))

    def ref(a, b, x):
        return (a @ b, a.sum(axis=1), onp.sum(a), a.T, a[1:3, ::2], a.reshape(3, 8), onp.concatenate([a, a * 2]),
                onp.broadcast_to(a[:1], (3, 6)), x.astype(dtype), a.astype(other), onp.pad(a, 1),
                onp.take(a, [2, 0], axis=1), onp.matmul(a.T, a))
    _check(fn, ref, backend, (z, m, r), scale_tol=True)


FFTS = {
    "fft": lambda f, z, x: (f.fft(z), f.fft(z, n=9), f.fft(z, axis=0, norm="ortho"), f.ifft(z, norm="forward")),
    "rfft": lambda f, z, x: (f.rfft(x), f.rfft(x, n=7, axis=0), f.irfft(z), f.irfft(z, n=9, norm="ortho")),
    "nd": lambda f, z, x: (f.fft2(z), f.ifftn(z), f.rfftn(x), f.irfft2(z, s=(4, 6)), f.fftn(z, s=(2, 3), axes=(0, 1))),
    "hermitian": lambda f, z, x: (f.hfft(z[:, :4]), f.ihfft(x)),
}


@pytest.mark.parametrize("family, dtype, backend", _cases(sorted(FFTS)))
def test_fft_matches_numpy(family, dtype, backend):
    z, x = _data(dtype, (4, 8), 5)
    _check(lambda a, b: FFTS[family](np.fft, a, b), lambda a, b: FFTS[family](onp.fft, a, b), backend, (z, x),
           scale_tol=True)


@pytest.mark.parametrize("dtype, backend", _cases())
def test_fft_of_long_axes_by_cooley_tukey_steps(dtype, backend):
    """Lengths past passes/fourier.DIRECT_MAX compile as Cooley-Tukey steps (radix 16 down to 2,
    a prime factor by its DFT product): powers of two, mixed radices, 2 * prime, a prime."""
    for n in (256, 96, 250, 194, 97):
        z, x = _data(dtype, (2, n), n)
        _check(lambda a, b: (np.fft.fft(a), np.fft.ifft(a), np.fft.rfft(b), np.fft.irfft(a, n=n),
                             np.fft.irfft(a[:, :n // 2 + 1], n=n + 1)),
               lambda a, b: (onp.fft.fft(a), onp.fft.ifft(a), onp.fft.rfft(b).astype(dtype),
                             onp.fft.irfft(a, n=n).astype(b.dtype), onp.fft.irfft(a[:, :n // 2 + 1], n=n + 1).astype(
                                 b.dtype)), backend, (z, x), scale_tol=True)


@pytest.mark.parametrize("n", [1009, 2 * 1009, 17 * 19])
@pytest.mark.parametrize("dtype, backend", [(d, b) for d in DTYPES for b in ("eager", "interp")]
                         + [pytest.param(d, b, marks=pytest.mark.slow) for d in DTYPES for b in ("llvm", "cuda")])
def test_fft_of_lengths_with_a_large_prime_factor(n, dtype, backend):
    """Lengths past passes/fourier.CHIRP_MIN whose factors are not all up to RADIX_MAX (a prime, 2 x a
    prime, a product of two primes > 16) compile as Bluestein's chirp-z transform: two power-of-two
    transforms of length >= 2n - 1. Within TOL relative to the largest magnitude (complex64 2e-5:
    measured 3.4e-7 at n = 2018; complex128 1e-12: measured 1.2e-15)."""
    z, x = _data(dtype, (2, n), n)
    _check(lambda a, b: (np.fft.fft(a), np.fft.ifft(a), np.fft.rfft(b), np.fft.irfft(a, n=n)),
           lambda a, b: (onp.fft.fft(a), onp.fft.ifft(a), onp.fft.rfft(b).astype(dtype),
                         onp.fft.irfft(a, n=n).astype(b.dtype)), backend, (z, x), scale_tol=True)


def test_prime_length_fft_compiles_as_chirp_z():
    """Default tier: one prime length on llvm, and the graph it compiles holds no n x n DFT matrix
    (the O(n^2) product the chirp-z transform replaces)."""
    from hybrid.passes import fourier
    n = 1009
    z, _ = _data("complex64", (2, n), 1)
    _check(lambda a: np.fft.fft(a), lambda a: onp.fft.fft(a), "llvm", (z,), scale_tol=True)
    graph = hb.passes.optimize(hb.trace(lambda a: np.fft.fft(a), z)).graph
    biggest = max(n.attrs["value"].size for n in graph.nodes if n.op == "constant")
    assert fourier.radix(n) is None and not fourier.direct(n) and biggest < n * n // 4


def test_fft_of_real_and_integer_input_dtypes():
    x = onp.arange(6, dtype="float32")
    assert np.fft.fft(np.array(x)).dtype == onp.complex64 and np.fft.fft(np.array(x.astype("float64"))).dtype == \
        onp.complex128
    got = np.fft.fft(np.array(onp.arange(6)))            # integers are transformed as float32 (hybrid's default)
    assert got.dtype == onp.complex64
    onp.testing.assert_allclose(got.asnumpy(), onp.fft.fft(onp.arange(6)), atol=1e-5)
    with pytest.raises(TypeError, match="rfft transforms real input"):
        np.fft.rfft(np.array([1j, 2]))


UNARY = ["exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "arcsin", "arccos",
         "arctan", "arcsinh", "arccosh", "arctanh", "log2", "log10", "exp2", "sign"]


@pytest.mark.parametrize("dtype, backend", _cases())
def test_elementary_functions_match_numpy(dtype, backend):
    """Every complex ufunc NumPy has, compiled from real parts (passes/complex_math.py), on points
    off the branch cuts (random, so no part is exactly 0), plus zero, a positive real, large
    magnitudes (tanh's far branch) and pow with NumPy's cases for a zero base."""
    z = _data(dtype, (40,), 8)[0] * 1.5
    z[:5] = [0, 3, 25 - 3j, -30 + 0.5j, 0.3 - 40j]
    w = z[::-1].copy()
    w[-1] = 0           # 0 ** 2 (+- a small imaginary part)

    def fn(a, b):
        return tuple(getattr(np, n)(a) for n in UNARY) + (a ** b, b ** 2)

    def ref(a, b):
        with onp.errstate(all="ignore"):
            return tuple(getattr(onp, n)(a) for n in UNARY) + (a ** b, b ** 2)
    got = _run(fn, backend, z, w)
    for k, (g, want) in enumerate(zip(got, ref(z, w))):
        assert g.dtype == want.dtype, (k, g.dtype, want.dtype)
        g = g.asnumpy()
        both = onp.isfinite(want)
        onp.testing.assert_array_equal(onp.isfinite(g), both, err_msg=f"{k} on {backend}")
        scale = onp.maximum(onp.abs(want[both]), 1)     # relative, and absolute below 1
        err = onp.abs(g[both] - want[both]) / scale
        assert err.max(initial=0) <= 5 * TOL[dtype], (k, float(err.max()), backend)


def test_unsupported_compiled_complex_op_names_the_op_and_dtype():
    z = np.array(_data("complex64", (3,), 6)[0])
    with pytest.raises(hb.HybridError, match=r"prod on c64 at .*test_complex.py"):
        hb.hybridize(lambda a: np.prod(a), backend="llvm")(z)
    onp.testing.assert_allclose(np.prod(z).asnumpy(), onp.prod(z.asnumpy()), rtol=1e-6)   # eagerly: NumPy's


GRAD_LOSSES = {
    # real losses of complex intermediates; the complex ones' gradients are d/d re + i d/d im
    "elementwise": lambda z: np.sum(np.abs(np.sqrt(z) * np.sin(z) + np.exp(z) / z) ** 2) + np.sum(
        np.real(np.log(z) * np.tanh(z)) + np.imag(np.arctan(z) ** 2.5)),
    "conj-parts": lambda z: np.sum(np.real(z * np.conj(z[::-1])) * np.imag(z) + np.angle(z) + np.abs(z)),
    "fft": lambda z: np.sum(np.abs(np.fft.fft(z)) * np.real(np.fft.ifft(z * z))) + np.sum(
        np.fft.irfft(z, n=9) ** 2),
    "matmul": lambda z: np.sum(np.abs(np.reshape(z, (2, 3)) @ np.conj(np.reshape(z, (2, 3))).T) ** 2),
    "real-input": lambda x: np.sum(np.abs(np.fft.rfft(x * x))) + np.sum(np.real(np.exp(1j * x) * (2 - 1j))),
}


@pytest.mark.parametrize("case", sorted(GRAD_LOSSES))
@pytest.mark.parametrize("mode", ["eager", "interp", "llvm", pytest.param("cuda", marks=pytest.mark.slow)])
def test_complex_gradients_by_finite_differences(case, mode):
    """PyTorch's convention (hybrid/ir/ops/complex.py): the gradient of a complex input is
    dL/d re + i dL/d im, checked by central differences in float64 / complex128."""
    rng = onp.random.default_rng(9)
    data = rng.standard_normal(6) + 0.3
    if case != "real-input":
        data = data + 1j * rng.standard_normal(6)
    fn = GRAD_LOSSES[case]
    run = fn if mode == "eager" else hb.hybridize(fn, backend=mode, **({"runtime": "emulator"} if mode == "cuda"
                                                                       else {}))
    x = np.array(data)
    x.attach_grad()
    with autograd.record():
        loss = run(x)
    loss.backward()
    assert x.grad.dtype == data.dtype
    want = numeric_grad(lambda: float(fn(np.array(data)).asnumpy()), data)
    onp.testing.assert_allclose(x.grad.asnumpy(), want, rtol=1e-6, atol=1e-7)


def test_gradient_through_an_op_without_a_complex_rule_is_refused():
    data = _data("complex128", (3,), 6)[0]
    x = np.array(data)
    x.attach_grad()
    with autograd.record():
        loss = np.abs(np.prod(x))
    with pytest.raises(hb.HybridError, match="prod: a gradient was asked to flow through a complex value"):
        loss.backward()
    graph = hb.trace(lambda v: np.abs(np.prod(v)), data)       # graph autodiff names the line
    with pytest.raises(hb.HybridError, match=r"prod at .*test_complex.py.*no gradient rule for complex values"):
        autodiff(graph, wrt=[graph.inputs[0].name])


def test_eig_gives_numpy_dtypes_eagerly_and_refuses_tracing():
    rotation = onp.array([[0, -1], [1, 0]], "float32")          # eigenvalues +-i
    for a in (rotation, onp.diag([1.0, 2.0]), rotation.astype("float64")):
        got, want = np.linalg.eig(np.array(a)), onp.linalg.eig(a)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype
            onp.testing.assert_allclose(g.asnumpy(), w, atol=1e-6)
        assert np.linalg.eigvals(np.array(a)).dtype == onp.linalg.eigvals(a).dtype
    with pytest.raises(hb.TracingError, match="depends on the values"):
        hb.hybridize(lambda m: np.linalg.eigvals(m), backend="interp")(np.array(rotation))
