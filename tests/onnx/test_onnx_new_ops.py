"""The ONNX ops added for the backend suite (float8 / 4-bit casts and quantization, bitwise ops and
shifts, DFT / STFT, GridSample, AffineGrid, LinearAttention, TensorScatter, SwiGLU,
CausalConvWithState, sequences): one ONNX model holds them all, so each backend compiles once. It is
compared with onnx's ReferenceEvaluator (the spec's reference implementation) eagerly and compiled on
interp, llvm and the CUDA emulator; its CUDA source compiles with nvcc; the differentiable ops'
gradients match central finite differences (float64)."""
import shutil
import subprocess

import numpy
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import hybrid as hb
from hybrid import autograd
from hybrid.onnx.backend import HybridRep
from hybrid.onnx.importer import OnnxBlock

F = TensorProto.FLOAT


def _inputs(dtype):
    rng = numpy.random.default_rng(0)
    return {
        "x": rng.normal(size=(1, 2, 4, 5)).astype(dtype),
        "grid": rng.uniform(-1.2, 1.2, (1, 3, 4, 2)).astype(dtype),
        "theta": rng.normal(size=(2, 2, 3)).astype(dtype),
        "signal": rng.normal(size=(2, 8, 1)).astype(dtype),
        "q": rng.normal(size=(1, 3, 4)).astype(dtype),
        "k": rng.normal(size=(1, 3, 4)).astype(dtype),
        "v": rng.normal(size=(1, 3, 4)).astype(dtype),
        "cache": rng.normal(size=(2, 1, 5, 3)).astype(dtype),
        "update": rng.normal(size=(2, 1, 2, 3)).astype(dtype),
        "conv_in": rng.normal(size=(2, 3, 6)).astype(dtype),
        "conv_w": rng.normal(size=(3, 1, 3)).astype(dtype),
        "ints": rng.integers(-100, 100, (6,)).astype("int32"),
        "shifts": numpy.array([0, 1, 5, 31, 32, -1], "int32"),
    }


def _model(dtype: str = "float32"):
    """Every new op in one graph; float outputs are differentiable in the float inputs."""
    elem = F if dtype == "float32" else TensorProto.DOUBLE
    values = _inputs(dtype)
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
              for n, v in values.items()]
    write_at = helper.make_tensor("write_at", TensorProto.INT64, [2], [3, 1])
    length = helper.make_tensor("dft_axis", TensorProto.INT64, [], [1])
    size = helper.make_tensor("size", TensorProto.INT64, [4], [2, 1, 3, 4])
    step = helper.make_tensor("step", TensorProto.INT64, [], [2])
    frame = helper.make_tensor("frame", TensorProto.INT64, [], [4])
    pos = helper.make_tensor("pos", TensorProto.INT64, [], [1])
    nodes = [
        helper.make_node("GridSample", ["x", "grid"], ["gs_linear"], mode="linear", padding_mode="zeros"),
        helper.make_node("GridSample", ["x", "grid"], ["gs_cubic"], mode="cubic", padding_mode="reflection",
                         align_corners=1),
        helper.make_node("GridSample", ["x", "grid"], ["gs_nearest"], mode="nearest", padding_mode="border"),
        helper.make_node("AffineGrid", ["theta", "size"], ["affine"], align_corners=0),
        helper.make_node("DFT", ["signal", "", "dft_axis"], ["dft"]),
        helper.make_node("STFT", ["signal", "step", "", "frame"], ["stft"], onesided=1),
        helper.make_node("LinearAttention", ["q", "k", "v"], ["la_out", "la_state"], q_num_heads=2, kv_num_heads=2,
                         update_rule="linear"),
        helper.make_node("TensorScatter", ["cache", "update", "write_at"], ["scattered"], mode="circular"),
        helper.make_node("SwiGLU", ["q", "k"], ["swiglu"], alpha=1.5),
        helper.make_node("CausalConvWithState", ["conv_in", "conv_w"], ["conv_out", "conv_state"], activation="silu"),
        helper.make_node("Cast", ["x"], ["f8"], to=TensorProto.FLOAT8E4M3FN),
        helper.make_node("Cast", ["f8"], ["f8_back"], to=elem),
        helper.make_node("Cast", ["ints"], ["i4"], to=TensorProto.INT4),
        helper.make_node("BitwiseXor", ["ints", "shifts"], ["xor"]),
        helper.make_node("BitwiseNot", ["ints"], ["not"]),
        helper.make_node("BitShift", ["ints", "shifts"], ["shifted"], direction="RIGHT"),
        helper.make_node("SplitToSequence", ["q"], ["seq"], axis=1, keepdims=0),
        helper.make_node("SequenceAt", ["seq", "pos"], ["seq_at"]),
        helper.make_node("ConcatFromSequence", ["seq"], ["seq_stack"], axis=0, new_axis=1),
    ]
    outputs = ["gs_linear", "gs_cubic", "gs_nearest", "affine", "dft", "stft", "la_out", "la_state", "scattered",
               "swiglu", "conv_out", "conv_state", "f8_back", "i4", "xor", "not", "shifted", "seq_at", "seq_stack"]
    graph = helper.make_graph(nodes, "new_ops", inputs, [helper.make_empty_tensor_value_info(n) for n in outputs],
                              initializer=[write_at, length, size, step, frame, pos])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 28)])
    return model, list(values.values()), outputs


DIFFERENTIABLE = ["gs_linear", "gs_cubic", "affine", "dft", "stft", "la_out", "la_state", "scattered", "swiglu",
                  "conv_out"]


def _check(outputs, expected, names):
    for got, want, name in zip(outputs, expected, names):
        assert got.dtype == want.dtype, name
        numpy.testing.assert_allclose(numpy.asarray(got, "float64"), numpy.asarray(want, "float64"),
                                      rtol=2e-5, atol=2e-5, err_msg=name)


@pytest.mark.parametrize("backend", ["eager", "interp", "llvm"])
def test_new_ops_match_the_onnx_reference(backend):
    model, inputs, names = _model()
    expected = ReferenceEvaluator(model).run(None, dict(zip([i.name for i in model.graph.input], inputs)))
    block = OnnxBlock(model)
    if backend != "eager":
        block.hybridize(backend=backend)
    _check(HybridRep(block).run(inputs), expected, names)


# the emulator's g++ build and nvcc of this ~300-kernel model take minutes: slow tier
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="the CUDA emulator compiles with g++")
def test_new_ops_on_the_cuda_emulator():
    model, inputs, names = _model()
    expected = ReferenceEvaluator(model).run(None, dict(zip([i.name for i in model.graph.input], inputs)))
    block = OnnxBlock(model)
    block.hybridize(backend="cuda", runtime="emulator")
    _check(HybridRep(block).run(inputs), expected, names)


@pytest.mark.slow
def test_new_ops_cuda_source_compiles_with_nvcc(tmp_path):
    from hybrid import passes
    from hybrid.codegen.cuda import compiler
    from hybrid.codegen.cuda.prelude import PRELUDE
    from hybrid.codegen.cuda.program import build_program
    nvcc = compiler.find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found (install the CUDA toolkit); CUDA source compile checks skipped")
    model, inputs, _ = _model()
    graph = hb.trace(OnnxBlock(model), *inputs)
    program = build_program(passes.optimize(graph, opt_level=2).graph, prefix="onnx_new_ops_")
    path = tmp_path / "new_ops.cu"
    path.write_text(PRELUDE + "\n" + "\n".join(launch.source for launch in program.launches()))
    proc = subprocess.run([nvcc, "-cubin", "-arch=sm_80", *compiler.NVCC_FLAGS, "-o", str(tmp_path / "k.cubin"),
                           str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[:4000]


def test_new_ops_gradients_match_finite_differences():
    """d(sum of the differentiable outputs times fixed probes) / d(each float input), compiled on llvm,
    against central differences of the eager model (float64)."""
    from gradcheck import numeric_grad
    model, inputs, names = _model("float64")
    keep = [names.index(n) for n in DIFFERENTIABLE]
    eager = OnnxBlock(model)
    compiled = OnnxBlock(model)
    compiled.hybridize(backend="llvm")
    rng = numpy.random.default_rng(3)
    outs = eager(*inputs)
    probes = [rng.normal(size=outs[i].shape) for i in keep]

    def loss(block, arrays):
        outputs = block(*arrays)
        return sum((outputs[i] * hb.np.array(p)).sum() for i, p in zip(keep, probes))

    arrays = [hb.np.array(x) for x in inputs]
    for a in arrays:
        if a.dtype.kind == "f":
            a.attach_grad()
    with autograd.record():
        total = loss(compiled, arrays)
    total.backward()
    for name, x, a in zip(_inputs("float64"), inputs, arrays):
        if x.dtype.kind != "f":
            continue
        entries = numpy.random.default_rng(x.size).choice(x.size, min(x.size, 6), replace=False)
        numeric = numeric_grad(lambda: float(loss(eager, [hb.np.array(v) for v in inputs]).asnumpy()), x,
                               entries=entries)
        analytic = a.grad.asnumpy().reshape(-1)[entries]
        numpy.testing.assert_allclose(analytic, numeric.reshape(-1)[entries], rtol=1e-5, atol=1e-6, err_msg=name)
