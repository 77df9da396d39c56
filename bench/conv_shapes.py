"""Every convolution shape of W6 (ResNet-18, batch 8, 3x64x64) and W2 (LeNet-5, batch 64), and MobileNet-v2's
depthwise shapes: hybrid's direct
convolution vs im2col + GEMM vs Winograd F(2x2,3x3) / F(4x4,3x3) (3x3 stride-1 shapes) vs ONNX Runtime's Conv,
each as conv + per-channel scale and shift + ReLU
(a convolution with folded BatchNorm; ONNX Runtime gets Conv with bias + Relu, which it fuses). The measurement
behind codegen/llvm/conv_choice.py.

    .venv/bin/python -m bench.conv_shapes [--threads 1,2] [--rounds 7] [--only W6] [--impls direct,im2col,...]

Peers are interleaved round by round; times are medians of the process CPU time per call (all threads' work,
not the waits for a core: the machine is shared), also wall time. Ratios: peer / ONNX Runtime (below 1: faster).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy

from . import timing

# (label, N, C, H, W, O, K, stride, padding): W6 and W2 as bench/workloads.py builds them
SHAPES = [
    ("W6 stem 3x3", 8, 3, 64, 64, 64, 3, 1, 1),
    ("W6 s1 3x3", 8, 64, 64, 64, 64, 3, 1, 1),
    ("W6 s2 3x3/2", 8, 64, 64, 64, 128, 3, 2, 1),
    ("W6 s2 3x3", 8, 128, 32, 32, 128, 3, 1, 1),
    ("W6 s2 1x1/2", 8, 64, 64, 64, 128, 1, 2, 0),
    ("W6 s3 3x3/2", 8, 128, 32, 32, 256, 3, 2, 1),
    ("W6 s3 3x3", 8, 256, 16, 16, 256, 3, 1, 1),
    ("W6 s3 1x1/2", 8, 128, 32, 32, 256, 1, 2, 0),
    ("W6 s4 3x3/2", 8, 256, 16, 16, 512, 3, 2, 1),
    ("W6 s4 3x3", 8, 512, 8, 8, 512, 3, 1, 1),
    ("W6 s4 1x1/2", 8, 256, 16, 16, 512, 1, 2, 0),
    ("W2 conv1 5x5", 64, 1, 28, 28, 6, 5, 1, 2),
    ("W2 conv2 5x5", 64, 6, 14, 14, 16, 5, 1, 0),
    # depthwise (groups = channels, the last field): MobileNet-v2 at 224x224, batch 8
    ("DW 3x3 112", 8, 96, 112, 112, 96, 3, 2, 1, 96),
    ("DW 3x3 56", 8, 144, 56, 56, 144, 3, 1, 1, 144),
    ("DW 3x3 28", 8, 192, 28, 28, 192, 3, 1, 1, 192),
    ("DW 3x3 14", 8, 576, 14, 14, 576, 3, 1, 1, 576),
    ("DW 3x3 7", 8, 960, 7, 7, 960, 3, 1, 1, 960),
]


def _groups(shape) -> int:
    return shape[9] if len(shape) > 9 else 1


def hybrid_runner(shape, impl: str, threads: int):
    from hybrid import config
    from hybrid.codegen import build
    from hybrid.core.array import NDArray
    from hybrid import passes
    from hybrid.ir.graph import Graph
    from hybrid.ir.types import TensorType
    _, N, C, H, W, O, K, s, p = shape[:9]
    groups = _groups(shape)
    g = Graph(f"conv_{impl}")
    x = g.add_input("x", TensorType((N, C, H, W), "f32"))
    w = g.add_input("w", TensorType((O, C // groups, K, K), "f32"), param=True)   # kept packed between calls
    scale = g.add_input("scale", TensorType((1, O, 1, 1), "f32"))
    shift = g.add_input("shift", TensorType((1, O, 1, 1), "f32"))
    y = g.add_node("conv2d", [x, w], dict(stride=(s, s), padding=(p, p), dilation=(1, 1), groups=groups)).outputs[0]
    y = g.add_node("add", [g.add_node("mul", [y, scale], {}).outputs[0], shift], {}).outputs[0]
    g.outputs = [g.add_node("relu", [y], {}).outputs[0]]
    with config(conv_impl=impl):
        exe = build(passes.optimize(g).graph, "llvm", num_threads=threads)
    held: dict = {}     # the weights as an NDArray: its write token lets them stay packed, as a model's do

    def run(args):
        if id(args[1]) not in held:
            held.clear()
            held[id(args[1])] = (args[1], NDArray(args[1]))
        return exe([args[0], held[id(args[1])][1]] + list(args[2:]))[0]
    return run


def ort_runner(shape, threads: int):
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper
    _, N, C, H, W, O, K, s, p = shape[:9]
    groups = _groups(shape)
    OH, OW = (H + 2 * p - K) // s + 1, (W + 2 * p - K) // s + 1
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[K, K], strides=[s, s], pads=[p] * 4,
                              group=groups),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [N, C, H, W]),
                                              helper.make_tensor_value_info("w", TensorProto.FLOAT,
                                                                            [O, C // groups, K, K]),
                                              helper.make_tensor_value_info("b", TensorProto.FLOAT, [O])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [N, O, OH, OW])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda args: session.run(None, {"x": args[0], "w": args[1], "b": args[3].reshape(-1)})[0]


def measure_shape(shape, threads: int, rounds: int, impls: list[str]) -> dict[str, timing.Result]:
    """impls: hybrid's conv_impl settings to time (a Winograd one only on 3x3 stride-1 shapes)."""
    _, N, C, H, W, O, K, s, p = shape[:9]
    rng = numpy.random.default_rng(0)
    args = [rng.standard_normal((N, C, H, W)).astype("f4"), rng.standard_normal((O, C // _groups(shape), K, K)).astype("f4"),
            numpy.ones((1, O, 1, 1), "f4"), rng.standard_normal((1, O, 1, 1)).astype("f4")]
    runs = {impl: hybrid_runner(shape, impl, threads) for impl in impls
            if not impl.startswith("winograd") or (K, s, _groups(shape)) == (3, 1, 1)}
    runs["onnxruntime"] = ort_runner(shape, threads)
    ref = runs["onnxruntime"](args)
    for name in runs:
        numpy.testing.assert_allclose(runs[name](args), ref, rtol=1e-3, atol=1e-3 * float(numpy.abs(ref).max()))
    results = {name: timing.Result(name) for name in runs}
    timing.measure({name: (lambda f=f: f(args)) for name, f in runs.items()}, results, rounds, budget_s=20.0)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.conv_shapes")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", default="", help="a label prefix, e.g. W6 or 'W6 s4'")
    parser.add_argument("--impls", default="direct,im2col,winograd2,winograd4",
                        help="conv_impl settings (direct: the depthwise kernel on depthwise shapes)")
    args = parser.parse_args()
    impls = args.impls.split(",")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    print(f"load average {os.getloadavg()[0]:.1f}; times: median process CPU ms per call (wall ms)")
    print(f"{'shape':16} {'thr':>3} " + " ".join(f"{n:>16}" for n in impls + ["onnxruntime"]) + " "
          + " ".join(f"{n + '/ORT':>13}" for n in impls))
    for threads in (int(t) for t in args.threads.split(",")):
        for shape in SHAPES:
            if not shape[0].startswith(args.only):
                continue
            r = measure_shape(shape, threads, args.rounds, impls)
            ort = r["onnxruntime"].cpu_ms
            cells = [f"{r[n].cpu_ms:7.2f} ({r[n].median_ms:6.2f})" if n in r else "-" for n in impls + ["onnxruntime"]]
            ratios = [f"{r[n].cpu_ms / ort:.2f}" if n in r else "-" for n in impls]
            print(f"{shape[0]:16} {threads:3d} " + " ".join(f"{c:>16}" for c in cells) + " "
                  + " ".join(f"{c:>13}" for c in ratios), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
