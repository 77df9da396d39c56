"""The workloads (W1-W6, the one-op call overhead) and, for each, how every peer builds and runs it.

A peer is a `setup()` returning a zero-argument runner whose result is the output as a NumPy array. Setup
and the first run together are the "first call" time (tracing + compiling for hybrid and torch.compile,
export + session creation for ONNX Runtime)."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy

from . import models

HYBRID_BACKENDS = ("interp", "llvm")


@dataclass
class Workload:
    key: str
    title: str
    peers: dict[str, Callable[[], Callable[[], Any]]]
    reference: str = "hybrid-llvm"                       # the ratio column divides by this peer's median
    oracle: tuple = ("hybrid-interp", "numpy")           # outputs are checked against the first that ran
    unit: Optional[tuple[str, float]] = None             # ("GB/s", bytes per call) or ("GFLOP/s", flops per call)
    context: Callable[[], Any] = contextlib.nullcontext  # entered around setup and timing (thread settings)
    rtol: float = 2e-3


class Env:
    """Run settings shared by the workloads: thread count and which peers to build."""

    def __init__(self, threads: int, peers: Optional[set]):
        self.threads, self.wanted = threads, peers

    def want(self, peer: str) -> bool:
        return self.wanted is None or peer in self.wanted


def _hb():
    import hybrid
    return hybrid


def _hybrid_block(ctor, params: dict, x: numpy.ndarray, backend: str):
    def setup():
        hb = _hb()
        net = ctor()
        net.initialize()
        net(hb.np.array(x[:1]))                # eager pass: fixes deferred shapes before copying weights
        for name, p in net.collect_params().items():
            p.set_data(params[name])
        net.hybridize(backend=backend)
        xh = hb.np.array(x)
        return lambda: numpy.asarray(net(xh))
    return setup


def _hybrid_fn(fn, args: tuple, backend: str):
    def setup():
        hb = _hb()
        compiled = hb.hybridize(fn, backend=backend)
        arrays = [hb.np.array(a) for a in args]
        return lambda: numpy.asarray(compiled(*arrays))
    return setup


def _torch(module_or_fn, x: numpy.ndarray, compile_: bool, threads: int):
    def setup():
        import torch
        torch.set_num_threads(threads)
        fn = torch.compile(module_or_fn) if compile_ else module_or_fn
        xt = torch.from_numpy(x)

        def run():
            with torch.inference_mode():
                return fn(xt).numpy()
        return run
    return setup


def _onnx(module, x: numpy.ndarray, threads: int):
    def setup():
        run = models.onnx_session(module, x, threads)
        return lambda: run(x)
    return setup


def _model_peers(env: Env, kind: str, ctor, x: numpy.ndarray, numpy_forward) -> dict:
    """Every peer of a zoo model: weights from one initialized hybrid instance, copied everywhere."""
    hb = _hb()
    net = ctor()
    net.initialize()
    net(hb.np.array(x[:1]))
    rng = numpy.random.default_rng(0)
    for name, p in net.collect_params().items():
        if name.endswith("running_var"):           # non-trivial batch-norm statistics
            p.set_data(rng.uniform(0.5, 1.5, p.shape).astype(numpy.float32))
        elif name.endswith("running_mean") or name.endswith(".beta"):
            p.set_data(rng.uniform(-0.1, 0.1, p.shape).astype(numpy.float32))
    params = models.hybrid_params(net)
    peers = {f"hybrid-{b}": _hybrid_block(ctor, params, x, b) for b in HYBRID_BACKENDS if env.want(f"hybrid-{b}")}
    if env.want("numpy"):
        peers["numpy"] = lambda: (lambda: numpy_forward(params, x))
    try:
        mirror = models.torch_mirror(kind, params)
    except ImportError:
        return peers
    if env.want("torch"):
        peers["torch"] = _torch(mirror, x, False, env.threads)
    if env.want("torch.compile"):
        peers["torch.compile"] = _torch(models.torch_mirror(kind, params), x, True, env.threads)
    if env.want("onnxruntime"):
        peers["onnxruntime"] = _onnx(mirror, x, env.threads)
    return peers


def _normal(shape, seed=0) -> numpy.ndarray:
    return numpy.random.default_rng(seed).standard_normal(shape, dtype=numpy.float32)


def w1_mlp(env: Env) -> Workload:
    from hybrid.model_zoo import MLP
    return Workload("W1", "MLP 784-1024-1024-10, batch 256",
                    _model_peers(env, "mlp", MLP, _normal((256, 784)), models.numpy_mlp))


def w2_lenet(env: Env) -> Workload:
    from hybrid.model_zoo import LeNet5
    return Workload("W2", "LeNet-5, 64x1x28x28",
                    _model_peers(env, "lenet", LeNet5, _normal((64, 1, 28, 28)), models.numpy_lenet))


def w5_transformer(env: Env) -> Workload:
    from hybrid.model_zoo import TransformerBlock
    return Workload("W5", "pre-LN transformer block, batch 8, seq 128, d 256, 4 heads, MLP 1024",
                    _model_peers(env, "transformer", TransformerBlock, _normal((8, 128, 256)),
                                 models.numpy_transformer))


def w6_resnet(env: Env) -> Workload:
    from hybrid.model_zoo import ResNet18
    return Workload("W6", "ResNet-18, batch 8, 3x64x64",
                    _model_peers(env, "resnet18", ResNet18, _normal((8, 3, 64, 64)), models.numpy_resnet18),
                    rtol=5e-3)


def ewise(x):
    from hybrid import npx
    return npx.relu(x * 1.5 + 0.25) * npx.sigmoid(x) + 0.5 * x


def w3_elementwise(env: Env) -> Workload:
    x = _normal((8 << 20,))
    peers = {f"hybrid-{b}": _hybrid_fn(ewise, (x,), b) for b in HYBRID_BACKENDS if env.want(f"hybrid-{b}")}
    if env.want("numpy"):
        peers["numpy"] = lambda: (lambda: models.numpy_ewise(x))
    try:
        mirror = models.torch_modules()["ewise"]()
    except ImportError:
        mirror = None
    if mirror is not None:
        for name, compile_ in (("torch", False), ("torch.compile", True)):
            if env.want(name):
                peers[name] = _torch(mirror, x, compile_, env.threads)
        if env.want("onnxruntime"):
            peers["onnxruntime"] = _onnx(mirror, x, env.threads)
    peers[COPY_PEER] = _copy(x)
    return Workload("W3", "relu(x*1.5+0.25)*sigmoid(x)+0.5*x, 8M floats", peers, unit=("GB/s", 2 * x.nbytes),
                    oracle=("numpy",))


COPY_PEER = "copy (yardstick)"


def _copy(x: numpy.ndarray):
    """W3's yardstick, timed in the same interleaved rounds as its peers (so under the same load): a copy of
    the input into a reused array by numpy.copyto (the C library's memcpy: streaming stores for large arrays,
    one thread). It returns nothing, so no output is compared."""
    def setup():
        dst = numpy.empty_like(x)
        return lambda: numpy.copyto(dst, x)
    return setup


def copy_bandwidth(threads: int, quick: bool) -> tuple[float, str]:
    """Memory copy bandwidth (read + write bytes per second) of 32 MiB, the better of NumPy (1 thread)
    and torch's copy_ (all threads)."""
    import time
    src = _normal((8 << 20,))
    dst = numpy.empty_like(src)
    candidates = {"numpy.copyto": lambda: numpy.copyto(dst, src)}
    try:
        import torch
        torch.set_num_threads(threads)
        s, d = torch.from_numpy(src), torch.from_numpy(dst)
        candidates[f"torch copy_ ({threads} threads)"] = lambda: d.copy_(s)
    except ImportError:
        pass
    best = (0.0, "")
    for name, fn in candidates.items():
        fn()
        samples = []
        for _ in range(5 if quick else 15):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        gbs = 2 * src.nbytes / sorted(samples)[len(samples) // 2] / 1e9
        best = max(best, (gbs, name))
    return best


@contextlib.contextmanager
def thread_setting(threads: int):
    """Every library at `threads` threads (restored after): OpenBLAS/NumPy, torch, hybrid (HYBRID_NUM_THREADS)."""
    previous_env = os.environ.get("HYBRID_NUM_THREADS")
    os.environ["HYBRID_NUM_THREADS"] = str(threads)
    torch = None
    try:
        import torch
        previous_torch = torch.get_num_threads()
        torch.set_num_threads(threads)
    except ImportError:
        pass
    limiter = None
    try:
        from threadpoolctl import ThreadpoolController
        controller = ThreadpoolController()
        # Every BLAS but the scipy-openblas32 copy behind hybrid's OpenBLAS lowering, which must stay at one
        # thread per call (hybrid splits the threads itself).
        controller.lib_controllers = [c for c in controller.lib_controllers
                                      if c.user_api == "blas" and "scipy_openblas32" not in c.filepath]
        limiter = controller.limit(limits=threads)
    except ImportError:
        pass
    try:
        yield
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        if torch is not None:
            torch.set_num_threads(previous_torch)
        if previous_env is None:
            os.environ.pop("HYBRID_NUM_THREADS", None)
        else:
            os.environ["HYBRID_NUM_THREADS"] = previous_env


def matmul(a, b):
    return a @ b


def w4_sgemm(env: Env, threads: int) -> Workload:
    n = 1024
    a, b = _normal((n, n), 1), _normal((n, n), 2)
    peers = {}
    if env.want("hybrid-llvm"):
        peers["hybrid-llvm"] = _hybrid_fn(matmul, (a, b), "llvm")
    for impl in ("generated", "openblas"):
        if env.want(f"hybrid-{impl}"):
            def setup(impl=impl):
                from hybrid.codegen.llvm import gemm
                out = numpy.empty((n, n), numpy.float32)
                return lambda: gemm.sgemm(a, b, impl=impl, threads=threads, out=out)
            peers[f"hybrid-{impl}"] = setup
    if env.want("numpy"):
        def numpy_setup():
            try:
                import threadpoolctl  # noqa: F401  (thread_setting limits NumPy's OpenBLAS through it)
            except ImportError:
                raise RuntimeError("threadpoolctl is not installed: NumPy's OpenBLAS thread count cannot be "
                                   "set (pip install threadpoolctl)") from None
            return lambda: a @ b
        peers["numpy"] = numpy_setup
    if env.want("torch"):
        def torch_setup():
            import torch
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            return lambda: torch.mm(ta, tb).numpy()
        peers["torch"] = torch_setup
    return Workload(f"W4/{threads}t", f"sgemm 1024^3, {threads} thread{'s' if threads > 1 else ''}", peers,
                    reference="hybrid-llvm" if "hybrid-llvm" in peers else "hybrid-generated",
                    oracle=("numpy",), unit=("GFLOP/s", 2.0 * n ** 3), context=lambda: thread_setting(threads),
                    rtol=1e-3)


def add_one(x):
    return x + 1


def overhead(env: Env) -> Workload:
    x = numpy.ones((1,), numpy.float32)
    peers = {f"hybrid-{b}": _hybrid_fn(add_one, (x,), b) for b in HYBRID_BACKENDS if env.want(f"hybrid-{b}")}
    if env.want("numpy"):
        peers["numpy"] = lambda: (lambda: x + 1)
    if env.want("torch"):
        def torch_setup():
            import torch
            xt = torch.from_numpy(x)
            return lambda: (xt + 1).numpy()
        peers["torch"] = torch_setup
    return Workload("call", "one-op graph (x + 1) on 1 element: per-call overhead", peers, oracle=("numpy",),
                    unit=("us/call", 0.0))


def all_workloads(env: Env) -> list[tuple[str, Callable[[], Workload]]]:
    """(key, maker) of every workload, in report order."""
    makers = [("W1", lambda: w1_mlp(env)), ("W2", lambda: w2_lenet(env)), ("W3", lambda: w3_elementwise(env)),
              ("W4", lambda: w4_sgemm(env, 1)), ("W4", lambda: w4_sgemm(env, env.threads)),
              ("W5", lambda: w5_transformer(env)), ("W6", lambda: w6_resnet(env)), ("call", lambda: overhead(env))]
    if env.threads == 1:
        makers.pop(4)
    return makers
