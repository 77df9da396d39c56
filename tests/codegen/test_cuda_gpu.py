"""CUDA backend on a real GPU through PyCUDA: every op group and every model-zoo model against
the interp backend, device-resident arrays, and the executable's no-sync launch path. Marked
`gpu`; skipped, with the reason printed, wherever PyCUDA, the driver or a GPU is missing (see
docs/cuda.md to run them on a GPU machine)."""
from __future__ import annotations

import numpy
import pytest

import hybrid as hb
from hybrid import passes
from hybrid.codegen import build
from hybrid.codegen.cuda.runtime import CudaUnavailable, get_runtime

from test_cuda_emulator import CASES, MODELS, assert_close, iota_graph, model_io, run_case

pytestmark = pytest.mark.gpu


def _gpu_reason():
    try:
        rt = get_runtime("pycuda")
    except CudaUnavailable as e:
        return str(e)
    print(f"running on {rt.describe()}")
    return None


_REASON = _gpu_reason()
needs_gpu = pytest.mark.skipif(_REASON is not None, reason=f"no GPU run: {_REASON}")


@needs_gpu
@pytest.mark.parametrize("level", [0, 2])
@pytest.mark.parametrize("case", sorted(CASES))
def test_ops_on_gpu(case, level):
    fn, args, rtol = CASES[case]
    got, expected = run_case(fn, args, level, "pycuda")
    assert_close(got, expected, rtol, f"{case} at opt {level} on the GPU")


@needs_gpu
def test_iota_on_gpu():
    graph = iota_graph()
    a = numpy.random.RandomState(2).randn(4, 20).astype("float32")
    assert_close(build(graph, "cuda")([a]), build(graph, "interp")([a]), 0, "iota on the GPU")


@needs_gpu
@pytest.mark.parametrize("name", MODELS + ["resnet18"])
@pytest.mark.parametrize("level", [0, 2])
def test_models_on_gpu(name, level):
    if name == "resnet18":
        from hybrid.model_zoo import ResNet18
        net = ResNet18()
        net.initialize()
        x = numpy.random.RandomState(0).randn(2, 3, 64, 64).astype("float32")
        graph = hb.trace(net, x)
        params = net.collect_params()
        inputs = [x if v.name not in graph.param_names else params[v.name]._data_eager()._data
                  for v in graph.inputs]
    else:
        graph, inputs = model_io(name)
    optimized = passes.optimize(graph, opt_level=level).graph
    by_name = dict(zip([v.name for v in graph.inputs], inputs))
    ordered = [by_name[v.name] for v in optimized.inputs]
    expected = build(optimized, "interp")(ordered)
    exe = build(optimized, "cuda")
    assert_close(exe(ordered), expected, 5e-5, f"{name} at opt {level} on the GPU")
    assert_close(exe(ordered), expected, 5e-5, f"{name} second call")  # arena reuse, params cached


@needs_gpu
def test_hybridized_block_with_device_arrays():
    from hybrid.core.context import DeviceNDArray

    net = hb.nn.Dense(64, activation="relu")
    net.initialize()
    x = numpy.random.RandomState(1).randn(32, 48).astype("float32")
    expected = net(x).asnumpy()
    net.hybridize(backend="cuda")
    xd = hb.NDArray(x).as_in_context(hb.gpu(0))
    out = net(xd)
    assert isinstance(out, DeviceNDArray)
    numpy.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-5, atol=1e-5)
    numpy.testing.assert_allclose(net(x).asnumpy(), expected, rtol=1e-5, atol=1e-5)
