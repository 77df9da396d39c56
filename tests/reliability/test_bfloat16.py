"""bfloat16 and float16: casts round as ml_dtypes/NumPy do (once, to nearest even), elementwise
ops compute in float32 and round once per operation (so fusion never changes a value), and
sums, products and GEMMs accumulate in float32 and round once, on eager, interp and llvm at
every opt level. The CUDA emulator runs the same cases in test_cuda_emulator.py (one g++
compile for all of them); tests/codegen/test_cuda_source.py compiles them with nvcc."""
from __future__ import annotations

import ml_dtypes
import numpy as onp
import pytest

from hybrid import np, npx
from hybrid.ir.ops.elementwise import float_to_int

from .everywhere import close, configurations, gradients, run_all

BF16 = onp.dtype(ml_dtypes.bfloat16)
OTHERS = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
          "uint64", "bool"]
# doubles that round differently once than twice (through float32), float32 subnormals, the edge of
# the range, NaN and the infinities
FLOATS = [0.0, -0.0, 1.0, -1.5, 1 + 2 ** -8 + 2 ** -30, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 255.5, -300.7, 70000.5, 3e9,
          -3e9, 1e20, -1e20, 3.3e38, 3.3961e38, onp.inf, -onp.inf, onp.nan, 1e-40, -9.2e-41, 1e-45, 2.0 ** 63,
          2.0 ** 64 + 2.0 ** 60, 16777217.0, 1e300]
# integers whose nearest bfloat16 differs from the nearest bfloat16 of their nearest float32 or double
INTS = [0, 1, -1, 127, -128, 255, 257, 1025, 2 ** 24 + 2 ** 16 + 1, 33554435, 2 ** 31 - 1, -2 ** 31,
        2 ** 40 + 2 ** 31 + 1, 2 ** 60 + 2 ** 52 + 1, -(2 ** 60 + 2 ** 52 + 1), 2 ** 62 + 2 ** 53 + 2 ** 10,
        2 ** 63 - 1, -2 ** 63]


def cast_cases() -> tuple[list, list]:
    """(inputs, target dtypes): every dtype to bfloat16 and bfloat16 to every dtype."""
    inputs, targets = [], []
    with onp.errstate(all="ignore"):
        for other in OTHERS:
            if onp.dtype(other).kind == "f":
                source = onp.array(FLOATS).astype(other)
            elif other == "bool":
                source = onp.array([True, False])
            else:
                info = onp.iinfo(other)
                source = onp.array([i for i in INTS if info.min <= i <= info.max], other)
            inputs += [source, onp.array(FLOATS).astype(BF16)]
            targets += ["bfloat16", other]
    return inputs, targets


def cast_program(targets):
    return lambda *xs: tuple(x.astype(t) for x, t in zip(xs, targets))


def cast_reference(x: onp.ndarray, target: str) -> onp.ndarray:
    """ml_dtypes' rounding; bfloat16 -> integer by hybrid's defined float -> int rule."""
    if x.dtype == BF16 and onp.dtype(target).kind in "iu":
        return float_to_int(x, target)
    with onp.errstate(all="ignore"):
        return x.astype(target)


def test_casts_to_and_from_bfloat16_round_once_as_ml_dtypes():
    inputs, targets = cast_cases()
    results = run_all(cast_program(targets), inputs)
    for config, got in results.items():
        assert not isinstance(got, Exception), f"{config}: {got!r}"
        for x, t, g in zip(inputs, targets, got):
            ref = cast_reference(x, t)
            assert g.dtype == ref.dtype, (config, x.dtype, t, g.dtype)
            bad = ~close(g, ref)
            assert not bad.any(), f"{config}: {x.dtype} -> {t} of {x[bad]}: got {g[bad]}, ml_dtypes {ref[bad]}"


def elementwise_inputs(dtype) -> list[onp.ndarray]:
    rng = onp.random.default_rng(3)
    x = rng.uniform(-4, 4, 64).astype(dtype)
    y = rng.uniform(0.5, 3, 64).astype(dtype)
    tiny = onp.full(64, 3e-20 if dtype == BF16 else 3e-3).astype(dtype)   # products below the normal range
    return [x, y, tiny]


def elementwise(x, y, tiny):
    """A fused chain (each step rounds in NumPy), subnormal products, math in float32."""
    return (x * y + x / y - y, (x * tiny) * tiny, np.sqrt(y) * x, np.maximum(x, -y) - tiny,
            np.exp(x) - 1.0, np.tanh(x) * y)


def elementwise_reference(x, y, tiny):
    """Each operation in float32, rounded to the dtype (what ml_dtypes' and NumPy's 16-bit loops do)."""
    t = x.dtype

    def r(v):
        return onp.asarray(v, onp.float32).astype(t)

    def f(v):
        return v.astype(onp.float32)
    return (r(f(r(f(r(f(x) * f(y))) + f(r(f(x) / f(y))))) - f(y)),
            r(f(r(f(x) * f(tiny))) * f(tiny)), r(f(r(onp.sqrt(f(y)))) * f(x)), r(f(r(onp.maximum(f(x), -f(y)))) - f(tiny)),
            r(f(r(onp.exp(f(x)))) - 1), r(f(r(onp.tanh(f(x)))) * f(y)))


# outputs of `elementwise` that are single IEEE operations per step (bit-exact); the others
# (exp, tanh) go through each backend's float32 math, within one ulp of the dtype
EXACT_OUTPUTS = 4


def elementwise_exact(*xs):
    return elementwise(*xs)[:EXACT_OUTPUTS]


def elementwise_math(*xs):
    return elementwise(*xs)[EXACT_OUTPUTS:]


@pytest.mark.parametrize("dtype", [BF16, onp.dtype("float16")], ids=["bfloat16", "float16"])
def test_16bit_elementwise_computes_in_float32_and_rounds_every_operation(dtype):
    inputs = elementwise_inputs(dtype)
    refs = elementwise_reference(*inputs)
    subnormal = refs[1].astype(onp.float32)
    assert onp.any(subnormal != 0) and onp.all(onp.abs(subnormal) < ml_dtypes.finfo(dtype).smallest_normal)
    for config, got in run_all(elementwise, inputs).items():
        assert not isinstance(got, Exception), f"{config}: {got!r}"
        for i, (g, ref) in enumerate(zip(got, refs)):
            bad = ~close(g, ref, ulps=0 if i < EXACT_OUTPUTS else 1)
            assert not bad.any(), f"{config} output {i}: {g[bad][:4]} but float32-rounded {ref[bad][:4]}"


def accumulation_inputs(dtype) -> list[onp.ndarray]:
    """One plus many halves of the dtype's last place: a 16-bit running sum never moves off 1."""
    small = 2.0 ** -8 if dtype == BF16 else 2.0 ** -11
    n = 512
    row = onp.concatenate([[1.0], onp.full(n, small)]).astype(dtype)
    rows = onp.stack([row, -row, onp.roll(row, 7)])                   # (3, n + 1)
    ones = onp.ones((n + 1, 2), dtype)
    factors = onp.full(40, 1 + 2.0 ** -7 if dtype == BF16 else 1 + 2.0 ** -10).astype(dtype)
    return [rows, ones, factors]


def accumulations(rows, ones, factors):
    return (np.sum(rows, axis=1), np.sum(rows.T, axis=0), np.sum(rows), np.mean(rows, axis=1), rows @ ones,
            np.matmul(rows[:, None, :], ones[None]), rows[0] @ ones[:, 0], np.prod(factors),
            npx.relu(rows @ ones + 1.0))


def accumulation_reference(rows, ones, factors):
    t = rows.dtype
    f32 = [a.astype(onp.float32) for a in (rows, ones, factors)]
    r, o, fa = f32
    return tuple(onp.asarray(v, onp.float32).astype(t) for v in (
        r.sum(1), r.sum(1), r.sum(), r.sum(1) / r.shape[1], r @ o, (r[:, None, :] @ o[None]), r[0] @ o[:, 0],
        onp.prod(fa), onp.maximum(onp.asarray(r @ o).astype(t).astype(onp.float32) + 1.0, 0)))


@pytest.mark.parametrize("dtype", [BF16, onp.dtype("float16")], ids=["bfloat16", "float16"])
def test_16bit_sums_products_and_gemms_accumulate_in_float32(dtype):
    inputs = accumulation_inputs(dtype)
    rows = inputs[0]
    naive = rows[0, 0]
    for v in rows[0, 1:]:   # what a 16-bit accumulator gives: the test tells the two apart
        naive = (naive + v).astype(dtype)
    assert float(naive) == 1.0
    refs = accumulation_reference(*inputs)
    assert float(refs[0][0]) > 1.0 == float(naive)
    for config, got in run_all(accumulations, inputs).items():
        assert not isinstance(got, Exception), f"{config}: {got!r}"
        for i, (g, ref) in enumerate(zip(got, refs)):
            assert g.dtype == dtype and g.shape == ref.shape, (config, i, g.dtype, g.shape, ref.shape)
            bad = ~close(g, ref, ulps=1 if i in (3, 7) else 0)   # mean divides, prod's float32 order
            assert not bad.any(), f"{config} output {i}: {g[bad][:4]} but float32-accumulated {ref[bad][:4]}"


def test_bfloat16_gradients_eagerly_and_compiled():
    rng = onp.random.default_rng(4)
    x = rng.uniform(-1, 1, (3, 5)).astype(BF16)
    w = rng.uniform(-1, 1, (5, 4)).astype(BF16)

    def loss_terms(x, w):
        return np.tanh(x @ w) * np.sum(x, axis=1, keepdims=True), npx.relu(x) * 3.0

    # the same function in float32 (torch-free reference: the float32 gradient, then bf16 tolerance)
    want = run_all(loss_terms, [x.astype(onp.float32), w.astype(onp.float32)], ["eager"], runner=gradients)["eager"]
    configs = [c for c in configurations() if c in ("eager", "interp", "llvm-O0", "llvm-O2")]
    for config, got in run_all(loss_terms, [x, w], configs, runner=gradients).items():
        assert not isinstance(got, Exception), f"{config}: {got!r}"
        assert [g.dtype for g in got] == [BF16, BF16]
        for g, ref in zip(got, want):
            ok = onp.abs(g.astype(onp.float32) - ref) <= 0.03 * (onp.abs(ref) + 1)
            assert ok.all(), f"{config}: {g[~ok]} but float32 {ref[~ok]}"


def test_bfloat16_parameters_and_arrays_survive_files(tmp_path):
    """.npz keeps no ml_dtypes dtype (a bfloat16 array came back as raw void and failed export's
    dtype check); exports, save/load_parameters and npx.save/load keep bfloat16."""
    from hybrid import nn
    import hybrid as hb
    net = nn.Dense(3, in_units=4)
    net.initialize()
    net.cast("bfloat16")
    x = np.array(onp.linspace(-1, 1, 8).reshape(2, 4), dtype="bfloat16")
    net.hybridize(backend="llvm")
    want = net(x).asnumpy()
    net.export(str(tmp_path / "net"))
    loaded = nn.SymbolBlock.imports(str(tmp_path / "net"))
    got = loaded(x).asnumpy()
    assert got.dtype == BF16 and (got == want).all()
    net.save_parameters(str(tmp_path / "net.params"))
    other = nn.Dense(3, in_units=4)
    other.initialize()
    other.cast("bfloat16")
    other.load_parameters(str(tmp_path / "net.params"))
    assert other.weight.data().dtype == BF16 and (other.weight.data().asnumpy() == net.weight.data().asnumpy()).all()
    npx.savez(str(tmp_path / "arrays.npz"), a=x, b=np.ones(2))
    arrays = npx.load(str(tmp_path / "arrays.npz"))
    assert arrays["a"].dtype == BF16 and (arrays["a"].asnumpy() == x.asnumpy()).all()
    assert arrays["b"].dtype == onp.float32
    npx.save(str(tmp_path / "one"), x)        # .npy cannot describe bfloat16: hybrid's versioned file keeps it
    assert npx.load(str(tmp_path / "one")).dtype == BF16
    assert hb.load(str(tmp_path / "net"))(x).asnumpy().dtype == BF16
