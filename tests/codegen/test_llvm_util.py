"""Helpers for the LLVM backend tests: build small graphs and compare llvm with interp."""
from __future__ import annotations

import numpy

from hybrid import passes
from hybrid.codegen import build
from hybrid.ir.graph import Graph
from hybrid.ir.types import TensorType


def graph_of(inputs: dict[str, tuple], body, name: str = "t") -> Graph:
    """inputs: name -> (shape, dtype); body(g, *values) returns the output values."""
    g = Graph(name)
    vals = [g.add_input(n, TensorType(tuple(s), d)) for n, (s, d) in inputs.items()]
    outs = body(g, *vals)
    g.outputs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    return g


def op(g: Graph, name: str, *args, **attrs):
    return g.add_node(name, list(args), attrs).outputs[0]


def compare(graph: Graph, inputs: list[numpy.ndarray], rtol: float = 1e-5, atol: float = 1e-6,
            optimize: bool = True, **options) -> list[numpy.ndarray]:
    """Run the graph on interp (unoptimized) and on llvm (optimized: fused + planned unless
    optimize=False) and assert they agree; NaNs must sit at the same places."""
    expected = build(graph, "interp")(inputs)
    g = passes.optimize(graph).graph if optimize else graph
    got = build(g, "llvm", **options)(inputs)
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected)):
        assert a.shape == b.shape and a.dtype == b.dtype, (i, a.shape, b.shape, a.dtype, b.dtype)
        if a.dtype.kind == "f":
            numpy.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"output {i}")
        else:
            numpy.testing.assert_array_equal(a, b, err_msg=f"output {i}")
    return got


# the two host kinds whose kernels every host checks (LLVM CPU name, features, floats per vector, register)
HOST_KINDS = [
    ("skylake-avx512", "+avx512f,+avx512vl,+avx512bw,+avx512dq,+avx2,+avx,+fma,+sse4.2", 16, "zmm"),
    ("haswell", "+avx2,+avx,+fma,+sse4.2,-avx512f", 8, "ymm")]


def assembly(make_ir, cpu: str, features: str) -> list[str]:
    """The assembly lines of make_ir(triple) (an LLVM IR module) optimized and compiled for `cpu`."""
    import llvmlite.binding as llvm
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    tm = llvm.Target.from_default_triple().create_target_machine(cpu=cpu, features=features, opt=3)
    mod = llvm.parse_assembly(make_ir(llvm.get_default_triple()))
    mod.verify()
    pb = llvm.create_pass_builder(tm, llvm.PipelineTuningOptions(speed_level=3))
    pb.getModulePassManager().run(mod, pb)
    return tm.emit_assembly(mod).splitlines()


def eager_convolution(monkeypatch, folder, x: numpy.ndarray, w: numpy.ndarray, groups: int = 1):
    """(the eager 3x3 convolution (padding 1) of x by w run through a compiled single-op kernel, its NumPy
    reference, the text of the LLVM IR dumped into `folder`): the kernel cache fresh and its threshold low."""
    from hybrid import config, np, npx
    from hybrid.core import dispatch
    from hybrid.frontend import eager_kernels
    from hybrid.ir.registry import get_op
    monkeypatch.setattr(dispatch, "eager_kernels", eager_kernels.EagerKernels())
    monkeypatch.setattr(eager_kernels, "MIN_ELEMENTS", 512)
    expected = get_op("conv2d").ref(x, w, stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=groups)
    with config(eager_compile=True, dump=str(folder)):
        for _ in range(eager_kernels.COMPILE_AFTER):
            got = npx.convolution(np.array(x), np.array(w), padding=1, num_group=groups).asnumpy()
    return got, expected, "\n".join(f.read_text() for f in folder.rglob("*-llvm.ll"))


def residual_block(channels: int):
    """An initialized ResNet basic block: 3x3 convolution + BatchNorm + ReLU twice, identity shortcut."""
    from hybrid import npx
    from hybrid.gluon import nn

    def conv():
        return nn.Conv2D(channels, 3, padding=1, in_channels=channels)

    class Block(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.c1, self.b1 = conv(), nn.BatchNorm(in_channels=channels)
            self.c2, self.b2 = conv(), nn.BatchNorm(in_channels=channels)

        def forward(self, x):
            y = npx.relu(self.b1(self.c1(x)))
            return npx.relu(self.b2(self.c2(y)) + x)

    net = Block()
    net.initialize()
    return net


def hybridized_and_eager(net, x, **compiled_config) -> tuple[numpy.ndarray, numpy.ndarray]:
    """(net(x) hybridized on llvm under config(**compiled_config), net(x) eagerly with NumPy references),
    both in predict mode."""
    from hybrid import autograd, config
    with config(eager_compile=False), autograd.predict_mode():
        eager = net(x).asnumpy()
    net.hybridize(backend="llvm")
    with config(**compiled_config), autograd.predict_mode():
        return net(x).asnumpy(), eager
