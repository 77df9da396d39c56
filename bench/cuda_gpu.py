"""GPU benchmark of the CUDA backend against PyTorch on the same GPU (run it where a GPU is; see
docs/cuda.md). One run measures every target of the CUDA issue and prints ratios:

  W3 elementwise chain on 64M floats vs the device-to-device copy bandwidth (target >= 0.80)
  fused softmax / layer_norm vs torch.softmax / F.layer_norm            (target: time <= 1.5x)
  sgemm 4096^3 fp32 vs torch.matmul fp32 (TF32 off)                     (target >= 0.50)
  f16 GEMM 4096^3 on tensor cores vs torch.matmul f16                   (target >= 0.40)
  W1 MLP, W5 transformer block, W6 ResNet-18 vs PyTorch eager           (target: time <= 1.5x)

    python -m bench.cuda_gpu [--quick] [--append bench/RESULTS.md]
    python -m bench.cuda_gpu --runtime emulator --tiny   # checks the script, no GPU

Data stays on the GPU for every peer (hybrid inputs are DeviceNDArrays); each timing is one call
plus a stream synchronisation, median of repeated calls.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, Optional

import numpy

import hybrid as hb
from hybrid import npx, passes
from hybrid.codegen import build
from hybrid.codegen.cuda.runtime import get_runtime
from hybrid.core.context import DeviceNDArray


def median_ms(fn: Callable[[], object], sync: Callable[[], None], budget_s: float = 1.0, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < budget_s and len(times) < 200):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


# sizes per mode: "full" (the targets), "quick" (a smoke run on a GPU), "tiny" (the emulator test)
SIZES = {
    "full": dict(ewise=64 << 20, rows=(8192, 1024), gemm=4096, mlp=256, seq=(8, 128), image=(8, 64)),
    "quick": dict(ewise=8 << 20, rows=(4096, 1024), gemm=1024, mlp=256, seq=(8, 128), image=(8, 64)),
    "tiny": dict(ewise=4096, rows=(8, 256), gemm=64, mlp=2, seq=(1, 8), image=(1, 16)),
}


class Hybrid:
    """A graph compiled for the GPU with its data inputs already on the device."""

    def __init__(self, fn, args: list[numpy.ndarray], rt, block=None):
        graph = hb.trace(block if block is not None else fn, *args)
        self.graph = passes.optimize(graph, opt_level=2).graph
        self.exe = build(self.graph, "cuda", runtime=rt.name)
        params = block.collect_params() if block is not None else {}
        data = iter(args)
        self.inputs = []
        for v in graph.inputs:
            if v.name in graph.param_names:
                self.inputs.append(params[v.name]._data_eager()._data)
            else:
                self.inputs.append(DeviceNDArray.from_host(next(data), rt))
        by_name = dict(zip([v.name for v in graph.inputs], self.inputs))
        self.inputs = [by_name[v.name] for v in self.graph.inputs]
        self.rt = rt

    def __call__(self):
        return self.exe(self.inputs)

    def result(self) -> numpy.ndarray:
        return self()[0].asnumpy()

    def ms(self) -> float:
        return median_ms(self, self.rt.synchronize)

    @property
    def kernels(self) -> int:
        return len(self.exe.calls)


def _torch():
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch


def _tms(torch, fn) -> float:
    with torch.no_grad():
        return median_ms(fn, torch.cuda.synchronize)


def _agree(a: numpy.ndarray, b: numpy.ndarray, rtol: float) -> str:
    a, b = a.astype("float64"), b.astype("float64")
    err = float(numpy.max(numpy.abs(a - b)) / max(1e-30, float(numpy.max(numpy.abs(b)))))
    return f"{'ok' if err <= rtol else 'MISMATCH'} ({err:.1e})"


def run(mode: str = "full", runtime: str = "pycuda") -> list[str]:
    size_of = SIZES[mode]
    torch = _torch() if runtime == "pycuda" else None
    rt = get_runtime(runtime)
    rows = [f"GPU: {rt.describe()}; PyTorch {torch.__version__ if torch else 'absent'}", "",
            "| workload | hybrid-cuda | reference | ratio | target | agree |", "|---|---|---|---|---|---|"]
    rng = numpy.random.default_rng(0)

    def normal(*shape, dtype="float32"):
        return rng.standard_normal(shape, dtype=numpy.float32).astype(dtype)

    # W3 and the copy bandwidth it is measured against
    n = size_of["ewise"]
    x = normal(n)
    nbytes = x.nbytes
    src = DeviceNDArray.from_host(x, rt)
    dst = DeviceNDArray.empty(src.type, rt)
    copy_ms = median_ms(lambda: rt.dtod(dst.device_ptr, src.device_ptr, nbytes), rt.synchronize)
    copy_gbs = 2 * nbytes / copy_ms / 1e6
    ew = Hybrid(lambda a: npx.relu(a * 1.5 + 0.25) * npx.sigmoid(a) + 0.5 * a, [x], rt)
    ew_gbs = 2 * nbytes / ew.ms() / 1e6
    ref = numpy.maximum(x * 1.5 + 0.25, 0) * (1 / (1 + numpy.exp(-x))) + 0.5 * x
    rows.append(f"| W3 ewise {n} floats (GB/s) | {ew_gbs:.0f} | copy {copy_gbs:.0f} | {ew_gbs / copy_gbs:.2f} "
                f"| >= 0.80 | {_agree(ew.result(), ref, 1e-5)} |")

    def versus(name: str, mine: Hybrid, theirs: Optional[Callable], target: str, rtol: float, flops: float = 0):
        ms = mine.ms()
        if torch is None or theirs is None:
            rows.append(f"| {name} | {ms:.3f} ms | - | - | {target} | - |")
            return
        tms = _tms(torch, theirs)
        with torch.no_grad():
            expected = theirs().float().cpu().numpy()
        if flops:
            rows.append(f"| {name} (TFLOP/s) | {flops / ms / 1e9:.1f} | {flops / tms / 1e9:.1f} | {tms / ms:.2f} "
                        f"| {target} | {_agree(mine.result(), expected, rtol)} |")
        else:
            rows.append(f"| {name} (ms) | {ms:.3f} | {tms:.3f} | {tms / ms:.2f} | {target} | "
                        f"{_agree(mine.result(), expected, rtol)} |")

    t = (lambda a: torch.from_numpy(a).cuda()) if torch else None
    nrows, width = size_of["rows"]
    rows_x = normal(nrows, width)
    g, b = normal(width), normal(width)
    sm = Hybrid(lambda a: npx.softmax(a), [rows_x], rt)
    versus(f"softmax {nrows}x{width}", sm, (lambda xt=t(rows_x): torch.softmax(xt, -1)) if torch else None,
           ">= 0.67", 1e-5)
    ln = Hybrid(lambda a, gg, bb: npx.layer_norm(a, gg, bb), [rows_x, g, b], rt)
    versus(f"layer_norm {nrows}x{width}", ln, (lambda xt=t(rows_x), gt=t(g), bt=t(b): torch.nn.functional.layer_norm(
        xt, (width,), gt, bt)) if torch else None, ">= 0.67", 1e-4)
    size = size_of["gemm"]
    for dtype, target, rtol in (("float32", ">= 0.50", 1e-4), ("float16", ">= 0.40", 2e-2)):
        a, bm = normal(size, size, dtype=dtype), normal(size, size, dtype=dtype)
        mm = Hybrid(lambda p, q: p @ q, [a, bm], rt)
        versus(f"GEMM {size}^3 {dtype}", mm, (lambda at=t(a), bt=t(bm): at @ bt) if torch else None, target,
               rtol, flops=2.0 * size ** 3)

    from hybrid.model_zoo import MLP, ResNet18, TransformerBlock
    batch, seq = size_of["seq"]
    nimg, hw = size_of["image"]
    for label, kind, ctor, shape in ((f"W1 MLP b{size_of['mlp']}", "mlp", MLP, (size_of["mlp"], 784)),
                                     (f"W5 transformer b{batch} s{seq}", "transformer", TransformerBlock,
                                      (batch, seq, 256)),
                                     (f"W6 ResNet-18 b{nimg} {hw}x{hw}", "resnet18", ResNet18, (nimg, 3, hw, hw))):
        net = ctor()
        net.initialize()
        xin = normal(*shape)
        net(xin)  # finish deferred shapes
        mine = Hybrid(None, [xin], rt, block=net)
        theirs = None
        if torch is not None:
            try:
                from bench.models import hybrid_params, torch_mirror
                module = torch_mirror(kind, hybrid_params(net)).cuda()
                xt = t(xin)
                theirs = lambda module=module, xt=xt: module(xt)  # noqa: E731
            except ImportError:
                theirs = None
        versus(f"{label} ({mine.kernels} kernels)", mine, theirs, ">= 0.67", 5e-3 if kind == "resnet18" else 1e-4)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--runtime", default="pycuda", choices=("pycuda", "emulator"),
                        help="emulator: check the script itself on a machine without a GPU (use --tiny)")
    parser.add_argument("--tiny", action="store_true", help="toy sizes, for --runtime emulator")
    parser.add_argument("--append", metavar="PATH", help="append the table to this markdown file")
    args = parser.parse_args(argv)
    rows = run("tiny" if args.tiny else "quick" if args.quick else "full", args.runtime)
    text = "\n".join(rows)
    print(text)
    if args.append:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        with open(args.append, "a") as f:
            f.write(f"\n## CUDA backend ({stamp})\n\nCommand: `python -m bench.cuda_gpu`"
                    f"{' --quick' if args.quick else ''}\n\nRatio: reference time / hybrid time (GEMM and W3: "
                    f"throughput ratio); >= 1 means hybrid is faster.\n\n{text}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
