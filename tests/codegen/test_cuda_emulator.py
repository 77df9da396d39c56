"""The generated CUDA kernels executed by the host emulator (runtime="emulator": the same source,
launch configurations, arena offsets and argument lists a GPU gets, run by g++/OpenMP with one
thread per CUDA thread), compared with the interp backend. CASES and MODELS are shared with
test_cuda_gpu.py, which runs them on a real GPU through PyCUDA."""
from __future__ import annotations

import shutil

import numpy
import pytest

import hybrid as hb
from hybrid import np, npx, passes
from hybrid.codegen import build
from hybrid.codegen.cuda.runtime import _RUNTIMES
from hybrid.core.dispatch import bind
from hybrid.ir.registry import all_ops
from hybrid.model_zoo import ZOO

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found: the CUDA emulator needs it")

R = numpy.random.RandomState(7)
_CONV = dict(stride=(2, 2), padding=(1, 1), dilation=(1, 1), groups=1)


def _f(*shape):
    return R.randn(*shape).astype("float32")


def _i(lo, hi, *shape):
    return R.randint(lo, hi, size=shape).astype("int32")


def _writes(a, b):
    """In-place operators and writes through views (of views), functionalized while tracing."""
    a = a.copy()
    a += b[1, :1]
    a[:, 1] -= b[0]
    row = a[1]
    row[2:] = row[:2]
    col = a.T[1:]
    col[0] *= 2.0
    a[a > 1.0] = 0.0
    return a, row


# name -> (function, inputs, relative tolerance). Functions return several results so one
# graph (one compile) covers many ops.
CASES = {
    "unary": (lambda x: (np.exp(x), np.log(np.abs(x) + 1), np.sqrt(np.abs(x)), npx.rsqrt(np.abs(x) + 0.5),
                         np.tanh(x), npx.sigmoid(x), npx.erf(x), np.sin(x), np.cos(x), np.floor(x * 3),
                         np.ceil(x * 3), np.round(x * 3), np.sign(x), npx.relu(x), -x, npx.gelu(x, "tanh"),
                         np.expm1(x), np.log1p(np.abs(x)), np.sinh(x * 4), np.arcsinh(x * 4)),
              (_f(5, 37),), 2e-6),
    "binary_broadcast": (lambda a, b: (a + b, a - b, a * b, a / (np.abs(b) + 1), np.maximum(a, b),
                                        np.minimum(a, b), np.mod(a, np.abs(b) + 0.5), np.power(np.abs(a), b),
                                        np.where(a > b, a, b * 2), (a < b) | (a >= 0)),
                         (_f(3, 1, 20), _f(4, 20)), 2e-6),
    "inplace_writes": (_writes, (_f(3, 4), _f(2, 3)), 2e-6),
    "multi_output": (lambda x, b: (lambda y: (y, npx.relu(y) * 3, np.exp(y)))(x * 2 + b), (_f(8, 16), _f(16)), 2e-6),
    "int_ops": (lambda a, b: (a + b, a * b, np.mod(a, b), np.abs(a), np.maximum(a, b), a // b,
                              (a.astype("float32") * 0.5).astype("int32"), a == b),
                (_i(-50, 50, 6, 33), _i(1, 9, 33)), 0),
    "nan_inf": (lambda x: (np.maximum(x, 0.0), np.minimum(x, 0.0), x.max(axis=1), np.argmax(x, axis=1)),
                (numpy.array([[1, numpy.nan, 3, -numpy.inf] * 10, [2, 5, numpy.inf, 0] * 10], "float32"),), 0),
    "reduce_axes": (lambda x: (x.sum(axis=2), x.max(axis=(0, 2), keepdims=True), x.min(axis=1), x.mean(),
                               x.prod(axis=0), np.argmax(x, axis=2), x.sum(axis=(1, 2), keepdims=True)),
                    (_f(3, 5, 70),), 2e-5),
    "softmax_layernorm": (lambda x, g, b: (npx.softmax(x), npx.log_softmax(x, axis=1),
                                           npx.layer_norm(x, g, b)), (_f(6, 100), _f(100), _f(100)), 2e-5),
    "softmax_block_rows": (lambda x: (npx.softmax(x), x.sum(axis=1)), (_f(3, 3000),), 2e-5),
    "matmul": (lambda a, b, c, d: (a @ b, np.matmul(b.T, a.T), c @ d, npx.relu(a @ b + 1.0)),
               (_f(37, 29), _f(29, 41), _f(2, 3, 17, 9), _f(3, 9, 13)), 2e-5),
    "matmul_big_tile": (lambda a, b: np.tanh(a @ b), (_f(130, 40), _f(40, 140)), 2e-5),
    "matmul_f16": (lambda a, b, x, w: (a @ b, npx.relu(a @ b), npx.convolution(x, w, None, padding=1)),
                   (_f(40, 24).astype("float16"), _f(24, 33).astype("float16"), _f(2, 3, 7, 7).astype("float16"),
                    _f(5, 3, 3, 3).astype("float16")), 2e-2),
    "conv": (lambda x, w, w2, bias: (npx.convolution(x, w, bias, stride=2, padding=1),
                                     npx.relu(npx.convolution(x, w2, None, padding=2, dilation=2, groups=2)),
                                     npx.convolution(x, w[:, :, 1:2, 1:2], None)),
             (_f(2, 4, 9, 11), _f(6, 4, 3, 3), _f(4, 2, 3, 3), _f(6)), 2e-5),
    "pooling": (lambda x: (npx.pooling(x, 3, 2, 1, "max"), npx.pooling(x, 3, 2, 1, "avg"),
                           npx.pooling(x, 2, 2, 0, "avg"), npx.pooling(x, global_pool=True, pool_type="avg")),
                (_f(2, 3, 9, 9),), 2e-6),
    "layout": (lambda x, i: (np.transpose(x, (0, 2, 3, 1)), x[:, 1:3, ::2, 1:8:3],
                             np.concatenate([x, x * 2], axis=2), np.pad(x, ((0, 0), (1, 0), (2, 1), (0, 3))),
                             np.take(x, i, axis=1), x.reshape(6, -1) + 1),
               (_f(2, 3, 5, 8), _i(0, 3, 2, 2)), 0),
    "random": (lambda x: (npx.dropout(x, 0.3, training=True), np.random.uniform(size=(5, 9)) + x[:5, :9]),
               (_f(8, 12),), 0),
    "misc": (lambda a, b: (np.broadcast_to(a[:1], (4, 20)) * 2,
                           np.logical_and(a <= b, np.logical_not(a != b)) | (a > 0)),
             (_f(4, 20), _f(4, 20)), 0),
    "dtypes": (lambda d, l, m: (npx.softmax(np.exp(d) * 0.5), d.sum(axis=1), l * 3 + np.mod(l, 7), l.max(axis=0),
                                np.where(m, d, -d), m.astype("int32").sum(axis=1)),
               (R.randn(5, 40), R.randint(-99, 99, size=(5, 40)).astype("int64"), R.rand(5, 40) > 0.5), 1e-12),
    # allreduce splits the program: its neighbours run as CUDA segments (hybrid.codegen.segmented)
    "collective": (lambda a, b: (bind("allreduce", np.tanh(a) * 2, b + 1, reduce="sum", bucket=0)[0] + 1,),
                   (_f(4, 5), _f(4, 5)), 2e-6),
    "numpy_ufuncs": (lambda x, y: (np.arcsin(x * 0.9), np.arccos(x * 0.9), np.arctan(x * 5), np.arcsinh(x * 5),
                                    np.arccosh(np.abs(x) * 5 + 1), np.arctanh(x * 0.9), np.tan(x), np.sinh(x),
                                    np.cosh(x), np.log1p(np.abs(x)), np.expm1(x), np.log2(np.abs(x) + 0.1),
                                    np.log10(np.abs(x) + 0.1), np.exp2(x * 4), np.cbrt(x * 9), np.trunc(x * 3),
                                    np.signbit(x), np.arctan2(x, y), np.hypot(x, y), np.logaddexp(x, y),
                                    np.logaddexp2(x, y), np.copysign(x, y), np.fmax(x, y), np.fmin(x, y),
                                    np.fmod(x * 5, np.abs(y) + 0.5), np.heaviside(x, y), (x * 5) // (np.abs(y) + 0.5)),
                     (_f(4, 33), _f(33)), 4e-6),
    "numpy_bitwise": (lambda a, b: (a & b, a | b, a ^ b, ~a, np.logical_or(a > 0, b > 5), a << (b & 7),
                                    a >> (b & 7), a >> 40, a // b, a.astype("int16") ^ b.astype("int16"),
                                    a.astype("uint64") // 3, npx.bitcast(a, "float32") * 1,
                                    npx.bitcast(npx.bitcast(a.astype("float16"), "int16"), "float16"),
                                    npx.bitcast(a > 0, "uint8")),
                      (_i(-500, 500, 6, 33), _i(1, 99, 33)), 0),
    "argsort": (lambda x: (np.argsort(x), np.sort(x, axis=0)), (_f(5, 37),), 0),
    # the Jacobi svd/eigh kernels (cuda/jacobi.py): values (vectors' signs are free: test_lapack_compiled.py)
    "linalg": (lambda x: (np.linalg.svdvals(x), np.linalg.eigvalsh(x[..., :4]), np.linalg.norm(x[0], 2)),
               (_f(3, 4, 6),), 2e-5),
    # complex values as (re, im) pairs after passes/lower_complex.py (its view_real/view_complex boundary)
    "complex": (lambda x: (lambda z, f: (np.real(f), np.imag(f), np.real(np.fft.ifft(z) * np.conj(z)), np.imag(z / f),
                                         np.fft.irfft(np.fft.rfft(x)), np.abs(np.fft.rfft(x))))(
                    x + 1j * x[::-1], np.fft.fft(x + 1j * x[::-1])), (_f(4, 16),), 2e-5),
    # the channel-blocked layout (passes/conv_layout.py's output): at opt 2 the to_blocked ends the first
    # convolution's kernel; 6 channels in blocks of 4, padding (1, 2), a stride-2 consumer
    "blocked_layout": (lambda x, w1, w2: (
        bind("conv2d_blocked", bind("to_blocked", npx.relu(bind("conv2d", x, w1, stride=(1, 1), padding=(1, 1),
                                                                 dilation=(1, 1), groups=1)), block=4, pad=(1, 2)),
             w2, stride=(2, 1), dilation=(1, 1)),
        bind("from_blocked", bind("to_blocked", x, block=4, pad=(0, 1)), channels=5, pad=(0, 1))),
        (_f(2, 5, 7, 9), _f(6, 5, 3, 3), _f(3, 6, 3, 3)), 2e-5),
    "gradient_ops": (lambda x, gc, w, gp, gt, i: (
        bind("conv2d_input_grad", gc, w, input_shape=(2, 4, 9, 11), **_CONV),
        bind("conv2d_weight_grad", x, gc, weight_shape=(6, 4, 3, 3), **_CONV),
        bind("max_pool2d_grad", x, gp, kernel=(3, 3), stride=(2, 2), padding=(1, 1)),
        bind("avg_pool2d_grad", gp, input_shape=(2, 4, 9, 11), kernel=(3, 3), stride=(2, 2), padding=(1, 1),
              count_include_pad=False),
        bind("take_grad", gt, i, axis=1, size=4)),
        (_f(2, 4, 9, 11), _f(2, 6, 5, 6), _f(6, 4, 3, 3), _f(2, 4, 5, 6), _f(2, 3, 5), numpy.array([3, 0, 3], "int32")),
        2e-5),
    # a depthwise convolution's gradients (kernel/grads.py: a gather over taps, one sum per weight)
    "depthwise_gradient_ops": (lambda x, gc, w: (
        bind("conv2d_input_grad", gc, w, input_shape=(2, 4, 9, 11), **dict(_CONV, groups=4)),
        bind("conv2d_weight_grad", x, gc, weight_shape=(4, 1, 3, 3), **dict(_CONV, groups=4))),
        (_f(2, 4, 9, 11), _f(2, 4, 5, 6), _f(4, 1, 3, 3)), 2e-5),
}

MODELS = ["mlp", "lenet", "resnet_block", "inception", "transformer"]


def iota_graph():
    """iota never survives tracing (no traced operand: it runs eagerly), so build it in IR."""
    from hybrid.ir.graph import Graph
    from hybrid.ir.types import TensorType

    g = Graph("iota")
    a = g.add_input("a", TensorType((4, 20), "f32"))
    i = g.add_node("iota", [], {"shape": (4, 20), "axis": 1, "dtype": "f32"}).output
    j = g.add_node("iota", [], {"shape": (4, 20), "axis": 0, "dtype": "i32"}).output
    g.outputs = [g.add_node("add", [a, i]).output, j]
    return g


def test_cases_cover_every_registry_op():
    # view_real/view_complex are what lower_complex makes of the "complex" case (not in traced graphs)
    seen = {n.op for n in iota_graph().nodes} | {"view_real", "view_complex"}
    for fn, args, _ in CASES.values():
        hb.np.random.seed(3)
        seen |= {n.op for n in hb.trace(fn, *args).nodes}
    assert set(all_ops()) <= seen, f"ops no CUDA test runs: {sorted(set(all_ops()) - seen)}"


def run_case(fn, args, level: int, runtime: str):
    """(cuda outputs, interp outputs) of fn traced on args at opt `level`."""
    hb.np.random.seed(3)
    graph = hb.trace(fn, *args)
    optimized = passes.optimize(graph, opt_level=level).graph
    inputs = list(args)
    if len(optimized.inputs) > len(args):  # the counter RNG's key
        inputs.append(numpy.array([11, 12], numpy.uint32))
    expected = build(optimized, "interp")(inputs)
    got = build(optimized, "cuda", runtime=runtime)(inputs)
    return got, expected


def model_io(name: str):
    ctor, shape = ZOO[name]
    net = ctor()
    net.initialize()
    x = numpy.random.RandomState(0).randn(*shape).astype("float32")
    graph = hb.trace(net, x)
    params = net.collect_params()
    inputs = [x if v.name not in graph.param_names else params[v.name]._data_eager()._data for v in graph.inputs]
    return graph, inputs


def assert_close(got, expected, rtol: float, what: str):
    assert len(got) == len(expected)
    for k, (a, b) in enumerate(zip(got, expected)):
        a = numpy.asarray(a)
        assert a.shape == b.shape and a.dtype == b.dtype, f"{what} output {k}: {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
        if rtol == 0:
            numpy.testing.assert_array_equal(a, b, err_msg=f"{what} output {k}")
        else:
            scale = max(1.0, float(numpy.nanmax(numpy.abs(b.astype("float64")))) if b.size else 1.0)
            numpy.testing.assert_allclose(a.astype("float64"), b.astype("float64"), rtol=rtol, atol=rtol * scale,
                                          err_msg=f"{what} output {k}")


@needs_gxx
@pytest.mark.parametrize("level", [pytest.param(0, marks=pytest.mark.slow), 2])  # opt 0: the models cover plain nodes
@pytest.mark.parametrize("case", sorted(CASES))
def test_ops_on_emulator(case, level):
    fn, args, rtol = CASES[case]
    got, expected = run_case(fn, args, level, "emulator")
    assert_close(got, expected, rtol, f"{case} at opt {level}")


@needs_gxx
def test_iota_on_emulator():
    graph, a = iota_graph(), _f(4, 20)
    assert_close(build(graph, "cuda", runtime="emulator")([a]), build(graph, "interp")([a]), 0, "iota")


@needs_gxx
@pytest.mark.parametrize("name", MODELS)
def test_models_on_emulator(name):
    graph, inputs = model_io(name)
    for level in (0, 2):
        optimized = passes.optimize(graph, opt_level=level).graph
        by_name = dict(zip([v.name for v in graph.inputs], inputs))
        ordered = [by_name[v.name] for v in optimized.inputs]
        expected = build(optimized, "interp")(ordered)
        got = build(optimized, "cuda", runtime="emulator")(ordered)
        assert_close(got, expected, 2e-5, f"{name} at opt {level}")


@pytest.fixture
def emulated_gpu(monkeypatch):
    """hb.gpu(0) backed by the emulator runtime."""
    monkeypatch.setenv("HYBRID_CUDA_RUNTIME", "emulator")
    _RUNTIMES.clear()
    yield
    _RUNTIMES.clear()


@needs_gxx
def test_device_arrays_stay_on_device_and_params_upload_once(emulated_gpu, monkeypatch):
    from hybrid.codegen.cuda.runtime import get_runtime
    from hybrid.core.context import DeviceNDArray

    net = hb.nn.Dense(16, activation="relu")
    net.initialize()
    net.hybridize(backend="cuda")
    x = _f(4, 8)
    expected = net(x).asnumpy()  # first call compiles; host arrays in, host arrays out
    rt = get_runtime()
    uploads = []
    real_htod = rt.htod
    monkeypatch.setattr(rt, "htod", lambda dst, src: (uploads.append(src.nbytes), real_htod(dst, src)))
    xd = hb.NDArray(x).as_in_context(hb.gpu(0))
    uploads.clear()
    assert isinstance(xd, DeviceNDArray) and xd.context == hb.gpu(0)
    out = net(xd)
    assert isinstance(out, DeviceNDArray) and out.context == hb.gpu(0)
    assert uploads == [], "nothing may go host->device: data is on the device, parameters already uploaded"
    numpy.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-6)
    assert isinstance(out.as_in_context(hb.cpu()), hb.NDArray)
    # an in-place weight update is seen: the parameter is uploaded again
    net.weight.set_data(net.weight.data().asnumpy() * 2)
    out2 = net(xd)
    assert len(uploads) == 1
    numpy.testing.assert_allclose(out2.asnumpy(), numpy.maximum(x @ net.weight.data().asnumpy().T
                                                                + net.bias.data().asnumpy(), 0), rtol=1e-5)
    # so is a write to one element (a sampled fingerprint would miss it), and nothing else is
    uploads.clear()
    net.weight.data()[3, 5] = 7.0
    out3 = net(xd)
    assert uploads == [net.weight.data().nbytes]
    numpy.testing.assert_allclose(out3.asnumpy(), numpy.maximum(x @ net.weight.data().asnumpy().T
                                                                + net.bias.data().asnumpy(), 0), rtol=1e-5)


@needs_gxx
def test_dump_folder_gets_kernels_cu(tmp_path):
    graph = hb.trace(lambda a: npx.softmax(a * 2), _f(4, 64))
    optimized = passes.optimize(graph, opt_level=2, dump=str(tmp_path)).graph
    build(optimized, "cuda", runtime="emulator", dump=str(tmp_path))
    dumped = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith("-kernels.cu"))
    assert len(dumped) == 1
    text = (tmp_path / dumped[0]).read_text()
    assert "a warp per row" in text and "grid=(1, 1, 1), block=(128, 1, 1)" in text


@needs_gxx
def test_wrong_input_shape_is_a_clear_error():
    graph = hb.trace(lambda a: a + 1, _f(3, 4))
    exe = build(graph, "cuda", runtime="emulator")
    with pytest.raises(hb.HybridError, match=r"input %a is f32\[3,4\], got an array of shape \(2, 3\)"):
        exe([_f(2, 3)])
    with pytest.raises(hb.HybridError, match=r"input %a is f32\[3,4\], got an array of shape \(3, 4\) and dtype int32"):
        exe([numpy.ones((3, 4), "int32")])


@needs_gxx
def test_gemm_batches_beyond_the_grid_limit_loop(monkeypatch):
    from hybrid.codegen.cuda import gemm

    monkeypatch.setattr(gemm, "MAX_GRID_Z", 2)  # 5 batches on a grid of depth 2
    a, b = _f(5, 7, 9), _f(5, 9, 6)
    graph = hb.trace(lambda x, y: npx.relu(x @ y), a, b)
    optimized = passes.optimize(graph, opt_level=2).graph
    exe = build(optimized, "cuda", runtime="emulator")
    assert [launch.grid[2] for launch, _ in exe.program.calls if launch.kind == "gemm"] == [2]
    assert_close(exe([a, b]), build(optimized, "interp")([a, b]), 2e-5, "batched matmul")


@needs_gxx
def test_training_step_on_emulator():
    """Forward, backward (conv/pool gradient kernels) and the SGD update, compiled as one step."""
    from hybrid import gluon
    from hybrid.model_zoo import LeNet5

    def losses(backend, **options):
        hb.np.random.seed(0)
        net = LeNet5()
        net.initialize()
        x = numpy.random.RandomState(0).randn(2, 1, 28, 28).astype("float32")
        y = numpy.array([1, 7], "int32")
        net(x)
        trainer = hb.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
        step = hb.compile_step(net, gluon.loss.SoftmaxCrossEntropyLoss(), trainer, backend=backend, **options)
        out = [numpy.asarray(step(x, y)) for _ in range(2)]
        return out, {k: p.data().asnumpy() for k, p in net.collect_params().items()}

    expected, want = losses("interp")
    got, have = losses("cuda", runtime="emulator")
    assert_close(got, expected, 1e-5, "loss")
    for name in want:
        numpy.testing.assert_allclose(have[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)


@needs_gxx
@pytest.mark.parametrize("tile", [(128, 128, 8, 8, 8), (64, 64, 16, 4, 4), (32, 128, 16, 2, 8), (128, 32, 16, 8, 2),
                                  (16, 128, 16, 1, 8)])
def test_every_simt_tile(tile, monkeypatch):
    """Each tile configuration (float4 and strided fragments) on ragged shapes, both operand layouts."""
    from hybrid.codegen.cuda import gemm

    assert tile in gemm.SIMT_TILES
    monkeypatch.setattr(gemm, "pick_tile", lambda *a, **k: tile)
    a, b, bias = _f(37, 20), _f(72, 20), _f(72)  # K, N multiples of 4: float4 tile loads; M ragged
    graph = hb.trace(lambda x, y, c: (np.tanh(x @ y.T + c), y @ x.T[:, :5], x[:, :19] @ y[:, :19].T,
                                      np.matmul(x.T, x[:, :8])), a, b, bias)
    optimized = passes.optimize(graph, opt_level=2).graph
    exe = build(optimized, "cuda", runtime="emulator")
    assert all(f"tile {tile[0]}x{tile[1]}x{tile[2]}" in launch.note
               for launch, _ in exe.program.calls if launch.kind == "gemm")
    assert_close(exe([a, b, bias]), build(optimized, "interp")([a, b, bias]), 2e-5, f"tile {tile}")


@needs_gxx
def test_gemm_with_more_row_tiles_than_grid_y_allows(monkeypatch):
    from hybrid.codegen.cuda import gemm

    monkeypatch.setattr(gemm, "MAX_GRID_Y", 2)  # 37 rows in 16-row tiles: 3 tiles, so rows go on grid x
    monkeypatch.setattr(gemm, "pick_tile", lambda *a, **k: (16, 128, 16, 1, 8))
    a, b = _f(37, 12), _f(12, 9)
    graph = hb.trace(lambda x, y: x @ y + 1, a, b)
    optimized = passes.optimize(graph, opt_level=2).graph
    exe = build(optimized, "cuda", runtime="emulator")
    assert [launch.grid for launch, _ in exe.program.calls if launch.kind == "gemm"] == [(3, 1, 1)]
    assert_close(exe([a, b]), build(optimized, "interp")([a, b]), 2e-5, "matmul, m tiles on grid x")
