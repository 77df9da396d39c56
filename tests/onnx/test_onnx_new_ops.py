"""The ONNX ops added for the backend suite, in two models (each backend compiles each once):
- last session's: float8 / 4-bit casts and quantization, bitwise ops and shifts, DFT / STFT,
  GridSample, AffineGrid, LinearAttention, TensorScatter, SwiGLU, CausalConvWithState, sequences;
- this session's: BitCast, FlexAttention (preview domain, with a score_mod subgraph and grouped
  heads), RoiAlign (fixed and adaptive sampling, avg and max), MaxRoiPool, DeformConv (groups, offset
  groups, mask, bias), Col2Im, MaxUnpool, Det, MelWeightMatrix, ImageDecoder.
Each is compared with onnx's ReferenceEvaluator (the spec's reference implementation; ONNX Runtime
for MaxRoiPool, which the reference lacks) eagerly and compiled on interp, llvm and the CUDA emulator;
its CUDA source compiles with nvcc; the differentiable ops' gradients match central finite
differences (float64)."""
import io
import shutil
import subprocess

import numpy
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import hybrid as hb
from hybrid import autograd
from hybrid.onnx.backend import HybridRep
from hybrid.onnx.importer import OnnxBlock

from onnx_models import reference as onnxruntime_outputs

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
    return model, values, outputs


def _png(rng) -> numpy.ndarray:
    """A small RGB PNG's bytes (for ImageDecoder)."""
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (5, 7, 3)).astype("uint8"), "RGB").save(buffer, format="PNG")
    return numpy.frombuffer(buffer.getvalue(), numpy.uint8).copy()


def _inputs3(dtype):
    rng = numpy.random.default_rng(1)
    indices = numpy.zeros((1, 2, 2, 3), "int64")   # MaxUnpool: one position inside each 2x2 window
    for c, i, j in numpy.ndindex(2, 2, 3):
        indices[0, c, i, j] = c * 24 + (2 * i + rng.integers(0, 2)) * 6 + 2 * j + rng.integers(0, 2)
    return {
        "img": rng.normal(size=(1, 2, 6, 7)).astype(dtype),
        "rois": numpy.array([[0.3, 0.6, 4.2, 5.1], [1.7, 0.2, 6.4, 3.3], [-0.8, 2.4, 3.1, 6.6]], dtype),
        "roi_batch": numpy.zeros(3, "int64"),
        "cols": rng.normal(size=(1, 8, 9)).astype(dtype),
        "pooled": rng.normal(size=(1, 2, 2, 3)).astype(dtype),
        "pool_idx": indices,
        "mats": rng.normal(size=(2, 3, 3)).astype(dtype),
        "dc_x": rng.normal(size=(1, 4, 5, 5)).astype(dtype),
        "dc_w": rng.normal(size=(2, 2, 3, 3)).astype(dtype),
        "dc_off": rng.uniform(-1.3, 1.3, (1, 36, 3, 3)).astype(dtype),
        "dc_mask": rng.uniform(0, 1, (1, 18, 3, 3)).astype(dtype),
        "dc_b": rng.normal(size=(2,)).astype(dtype),
        "q": rng.normal(size=(1, 4, 3, 8)).astype(dtype),
        "k": rng.normal(size=(1, 2, 5, 8)).astype(dtype),
        "v": rng.normal(size=(1, 2, 5, 8)).astype(dtype),
    }


def _model3(dtype: str = "float32", with_roi_pool: bool = True):
    """This session's ops in one graph (MaxRoiPool optional: the reference evaluator lacks it)."""
    elem = F if dtype == "float32" else TensorProto.DOUBLE
    values = _inputs3(dtype)
    rng = numpy.random.default_rng(2)
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
              for n, v in values.items()]
    i64 = lambda name, v: numpy_helper.from_array(numpy.array(v, "int64"), name)   # noqa: E731
    inits = [i64("image_shape", [4, 5]), i64("block_shape", [2, 2]), i64("unpool_shape", [1, 2, 5, 7]),
             i64("mel_bins", 5), i64("dft_length", 16), i64("sample_rate", 8000),
             numpy_helper.from_array(numpy.array(100.0, dtype), "mel_low"),
             numpy_helper.from_array(numpy.array(3000.0, dtype), "mel_high"),
             numpy_helper.from_array(_png(rng), "encoded"),
             numpy_helper.from_array(numpy.array([[0, 0.4, 1.6, 5.2, 4.4], [0, 2.2, 0.1, 6.3, 3.6]], dtype), "roi5"),
             numpy_helper.from_array(numpy.array([[0.5, 0.5, 5.5, 3.1], [2.0, 1.0, 3.0, 5.5]], dtype), "fixed_rois"),
             i64("fixed_batch", [0, 0])]
    bias = numpy_helper.from_array(numpy.array(0.25, dtype), "bias")
    score_mod = helper.make_graph([helper.make_node("Tanh", ["scores"], ["t"]), helper.make_node("Add", ["t", "bias"], ["out"])],
                                  "score_mod", [helper.make_tensor_value_info("scores", elem, None)],
                                  [helper.make_tensor_value_info("out", elem, None)], initializer=[bias])
    nodes = [
        helper.make_node("BitCast", ["img"], ["bits"], to=TensorProto.INT32 if dtype == "float32" else TensorProto.INT64),
        helper.make_node("FlexAttention", ["q", "k", "v"], ["flex"], domain="ai.onnx.preview", score_mod=score_mod),
        helper.make_node("RoiAlign", ["img", "rois", "roi_batch"], ["roi_avg"], output_height=2, output_width=3,
                         sampling_ratio=2, spatial_scale=1.0),
        helper.make_node("RoiAlign", ["img", "rois", "roi_batch"], ["roi_max"], mode="max", output_height=3,
                         output_width=2, sampling_ratio=1, coordinate_transformation_mode="output_half_pixel"),
        helper.make_node("RoiAlign", ["img", "fixed_rois", "fixed_batch"], ["roi_adaptive"], output_height=2,
                         output_width=2, sampling_ratio=0, spatial_scale=0.9),
        helper.make_node("DeformConv", ["dc_x", "dc_w", "dc_off", "dc_b", "dc_mask"], ["deform"], kernel_shape=[3, 3],
                         group=2, offset_group=2),
        helper.make_node("Col2Im", ["cols", "image_shape", "block_shape"], ["col2im"], strides=[1, 2], pads=[0, 1, 0, 1]),
        helper.make_node("MaxUnpool", ["pooled", "pool_idx", "unpool_shape"], ["unpool"], kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Det", ["mats"], ["det"]),
        helper.make_node("MelWeightMatrix", ["mel_bins", "dft_length", "sample_rate", "mel_low", "mel_high"], ["mel"],
                         output_datatype=elem),
        helper.make_node("ImageDecoder", ["encoded"], ["decoded"], pixel_format="BGR"),
    ]
    outputs = ["bits", "flex", "roi_avg", "roi_max", "roi_adaptive", "deform", "col2im", "unpool", "det", "mel",
               "decoded"]
    if with_roi_pool:
        nodes.append(helper.make_node("MaxRoiPool", ["img", "roi5"], ["roi_pool"], pooled_shape=[2, 3], spatial_scale=0.8))
        outputs.append("roi_pool")
    graph = helper.make_graph(nodes, "new_ops3", inputs, [helper.make_empty_tensor_value_info(n) for n in outputs],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26), helper.make_opsetid("ai.onnx.preview", 1)])
    return model, values, outputs


def _expected2(dtype="float32"):
    model, values, _ = _model(dtype)
    return ReferenceEvaluator(model).run(None, values)


def _expected3(dtype="float32"):
    model, values, _ = _model3(dtype, with_roi_pool=False)
    expected = ReferenceEvaluator(model).run(None, values)
    # MaxRoiPool alone, on ONNX Runtime
    x, rois = values["img"], numpy.array([[0, 0.4, 1.6, 5.2, 4.4], [0, 2.2, 0.1, 6.3, 3.6]], dtype)
    elem = helper.np_dtype_to_tensor_dtype(numpy.dtype(dtype))
    graph = helper.make_graph([helper.make_node("MaxRoiPool", ["x", "r"], ["y"], pooled_shape=[2, 3], spatial_scale=0.8)],
                              "roi_pool", [helper.make_tensor_value_info("x", elem, x.shape),
                                           helper.make_tensor_value_info("r", elem, rois.shape)],
                              [helper.make_tensor_value_info("y", elem, None)])
    return expected + onnxruntime_outputs(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), x, rois)


# name -> (model builder, expected outputs, differentiable outputs)
MODELS = {
    "ops2": (_model, _expected2, ["gs_linear", "gs_cubic", "affine", "dft", "stft", "la_out", "la_state", "scattered",
                                  "swiglu", "conv_out"]),
    "ops3": (_model3, _expected3, ["flex", "roi_avg", "roi_max", "roi_adaptive", "deform", "col2im", "unpool", "det",
                                   "roi_pool"]),
}


def _check(outputs, expected, names):
    for got, want, name in zip(outputs, expected, names):
        assert got.dtype == want.dtype, name
        numpy.testing.assert_allclose(numpy.asarray(got, "float64"), numpy.asarray(want, "float64"),
                                      rtol=2e-5, atol=2e-5, err_msg=name)


def _run_and_check(which: str, backend: str, **options):
    build, expected, _ = MODELS[which]
    model, values, names = build()
    block = OnnxBlock(model)
    if backend != "eager":
        block.hybridize(backend=backend, **options)
    _check(HybridRep(block).run(list(values.values())), expected(), names)


@pytest.mark.parametrize("which", sorted(MODELS))
@pytest.mark.parametrize("backend", ["eager", "interp", "llvm"])
def test_new_ops_match_the_onnx_reference(which, backend):
    _run_and_check(which, backend)


# the emulator's g++ build and nvcc of these ~300-kernel models take minutes: slow tier
@pytest.mark.slow
@pytest.mark.parametrize("which", sorted(MODELS))
@pytest.mark.skipif(shutil.which("g++") is None, reason="the CUDA emulator compiles with g++")
def test_new_ops_on_the_cuda_emulator(which):
    _run_and_check(which, "cuda", runtime="emulator")


@pytest.mark.slow
@pytest.mark.parametrize("which", sorted(MODELS))
def test_new_ops_cuda_source_compiles_with_nvcc(which, tmp_path):
    from hybrid import passes
    from hybrid.codegen.cuda import compiler
    from hybrid.codegen.cuda.prelude import PRELUDE
    from hybrid.codegen.cuda.program import build_program
    nvcc = compiler.find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found (install the CUDA toolkit); CUDA source compile checks skipped")
    model, values, _ = MODELS[which][0]()
    graph = hb.trace(OnnxBlock(model), *values.values())
    program = build_program(passes.optimize(graph, opt_level=2).graph, prefix="onnx_new_ops_")
    path = tmp_path / "new_ops.cu"
    path.write_text(PRELUDE + "\n" + "\n".join(launch.source for launch in program.launches()))
    proc = subprocess.run([nvcc, "-cubin", "-arch=sm_80", *compiler.NVCC_FLAGS, "-o", str(tmp_path / "k.cubin"),
                           str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[:4000]


@pytest.mark.parametrize("which", sorted(MODELS))
def test_new_ops_gradients_match_finite_differences(which):
    """d(sum of the differentiable outputs times fixed probes) / d(each float input), recorded through the
    llvm-compiled model, against central differences of its forward (float64; the forward equals the
    reference in the tests above, and many compiled calls are much cheaper than eager ones)."""
    from gradcheck import numeric_grad
    build, _, differentiable = MODELS[which]
    model, values, names = build("float64")
    inputs = list(values.values())
    keep = [names.index(n) for n in differentiable]
    compiled = OnnxBlock(model)
    compiled.hybridize(backend="llvm")
    rng = numpy.random.default_rng(3)
    outs = compiled(*inputs)
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
    for name, x, a in zip(values, inputs, arrays):
        if x.dtype.kind != "f":
            continue
        entries = numpy.random.default_rng(x.size).choice(x.size, min(x.size, 6), replace=False)
        numeric = numeric_grad(lambda: float(loss(compiled, [hb.np.array(v) for v in inputs]).asnumpy()), x,
                               entries=entries)
        analytic = a.grad.asnumpy().reshape(-1)[entries]
        numpy.testing.assert_allclose(analytic, numeric.reshape(-1)[entries], rtol=1e-5, atol=1e-6, err_msg=name)
