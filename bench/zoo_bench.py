"""Model-zoo benchmark: ResNet-50 v1 and MobileNet v2 (gluon.model_zoo.vision, batch 8, 224x224),
inference and one SGD training step, hybrid-llvm against PyTorch eager and torch.compile in one run.

    .venv/bin/python -m bench.zoo_bench              # prints the table
    .venv/bin/python -m bench.zoo_bench --write      # and replaces the "## Model zoo" section of RESULTS.md
    .venv/bin/python -m bench.zoo_bench --quick --batch 2 --size 112   # smaller, for a busy shared host

PyTorch runs the same architecture with the same weights: `torch_twin` rebuilds the hybrid network
layer by layer as torch modules (MXNet's variants included: BottleneckV1's biased 1x1 convolutions,
MobileNetV2's t=1 expansion). Inference outputs are compared with PyTorch eager's, the trainable weights
after one step with PyTorch's float64 step ("agrees"; see torch_exact_step). Timing as bench.train_bench: rounds of blocks of consecutive calls per
peer, medians; "vs hybrid" = peer time / hybrid-llvm time (above 1: hybrid is faster).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import os
import signal
import sys
import time
from typing import Callable

import numpy

from . import machine, train_bench
from .train_bench import LEARNING_RATE, hybrid_backend, run_workload, table, write_section
from .workloads import thread_setting

SECTION = "## Model zoo"
BATCH, SIZE = 8, 224
NETWORKS = {"ResNet-50 v1": "resnet50_v1", "MobileNet v2 1.0": "mobilenetv2_1.0"}
WORKLOADS = ("inference", "step")


def _hybrid_net(name: str, seed: int = 0):
    import hybrid as hb
    from hybrid.gluon.model_zoo import vision
    hb.np.random.seed(seed)
    net = vision.get_model(name)
    net.initialize(hb.init.Xavier())
    with hb.autograd.pause():
        net(hb.np.zeros((1, 3, SIZE, SIZE)))
    return net


def _trainable(net) -> list:
    return [p for name, p in net.collect_params().items() if not name.endswith(("running_mean", "running_var"))]


def torch_twin(block, tensors: list):
    """`block` as torch modules with copies of its weights; `tensors` collects the trainable torch
    parameters in hybrid's collect_params order."""
    import torch
    from torch import nn as tnn

    def weight(p):
        t = tnn.Parameter(torch.from_numpy(numpy.array(p.data().asnumpy())))
        tensors.append(t)
        return t

    kind = type(block).__name__
    children = block._child_blocks()
    if kind in ("HybridSequential", "ResNetV1", "MobileNetV2"):
        return tnn.Sequential(*[torch_twin(c, tensors) for c in children])
    if kind in ("BottleneckV1", "BasicBlockV1", "LinearBottleneck"):
        return _Residual([torch_twin(c, tensors) for c in children],
                         relu=kind != "LinearBottleneck",
                         shortcut=getattr(block, "use_shortcut", True))
    if kind == "Conv2D":
        conv = tnn.Conv2d(block.weight.shape[1] * block.groups, block.channels, block.kernel, block.strides,
                          block.padding, block.dilation, block.groups, bias=block.bias is not None)
        conv.weight = weight(block.weight)
        if block.bias is not None:
            conv.bias = weight(block.bias)
        return conv if block.activation is None else tnn.Sequential(conv, tnn.ReLU())
    if kind == "BatchNorm":
        bn = tnn.BatchNorm2d(block.gamma.shape[0], eps=block.epsilon, momentum=1 - block.momentum)
        bn.weight, bn.bias = weight(block.gamma), weight(block.beta)
        bn.running_mean.copy_(torch.from_numpy(block.running_mean.data().asnumpy()))
        bn.running_var.copy_(torch.from_numpy(block.running_var.data().asnumpy()))
        return bn
    if kind == "Dense":
        linear = tnn.Linear(block.weight.shape[1], block.weight.shape[0], bias=block.bias is not None)
        linear.weight = weight(block.weight)
        if block.bias is not None:
            linear.bias = weight(block.bias)
        return tnn.Sequential(tnn.Flatten(), linear)
    simple = {"Activation": lambda: {"relu": tnn.ReLU}[block.activation](), "RELU6": tnn.ReLU6,
              "GlobalAvgPool2D": lambda: tnn.AdaptiveAvgPool2d(1), "Flatten": tnn.Flatten,
              "MaxPool2D": lambda: tnn.MaxPool2d(block.pool_size, block.strides or block.pool_size, block.padding)}
    if kind not in simple:
        raise TypeError(f"torch_twin: no torch equivalent for {kind}")
    return simple[kind]()


@functools.lru_cache(maxsize=None)
def _residual_module():
    import torch

    class Residual(torch.nn.Module):
        """body(x) + shortcut(x) (identity, or a downsampling branch), then ReLU for ResNet v1."""

        def __init__(self, parts: list, relu: bool, shortcut: bool):
            super().__init__()
            self.body = parts[0]
            self.downsample = parts[1] if len(parts) > 1 else None
            self.relu, self.shortcut = relu, shortcut

        def forward(self, x):
            y = self.body(x)
            if self.shortcut:
                y = y + (self.downsample(x) if self.downsample is not None else x)
            return torch.relu(y) if self.relu else y
    return Residual


def _Residual(parts, relu, shortcut):
    return _residual_module()(parts, relu, shortcut)


def _batch(seed: int = 1):
    rng = numpy.random.default_rng(seed)
    return (rng.standard_normal((BATCH, 3, SIZE, SIZE), dtype=numpy.float32),
            rng.integers(0, 1000, BATCH).astype(numpy.int32))


def hybrid_peer(name: str, x, y, backend: str, train: bool) -> Callable:
    def setup():
        import hybrid as hb
        net = _hybrid_net(name)
        xh, yh = hb.np.array(x), hb.np.array(y)
        if not train:
            net.hybridize(backend=backend)
            return lambda: net(xh).asnumpy(), None
        trainer = hb.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LEARNING_RATE})
        step = hb.compile_step(net, hb.gluon.loss.SoftmaxCrossEntropyLoss(), trainer, backend=backend)
        return lambda: step(xh, yh), lambda: numpy.concatenate([p.data().asnumpy().ravel() for p in _trainable(net)])
    return setup


def torch_peer(name: str, x, y, compile_: bool, train: bool) -> Callable:
    def setup():
        import torch
        tensors: list = []
        module = torch_twin(_hybrid_net(name), tensors)
        model = torch.compile(module) if compile_ else module
        xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
        if not train:
            module.eval()

            def infer():
                with torch.no_grad():
                    return model(xt).numpy()
            return infer, None
        module.train()
        optimizer = torch.optim.SGD(module.parameters(), lr=LEARNING_RATE)

        def run():
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(xt), yt).backward()
            optimizer.step()
        return run, lambda: numpy.concatenate([t.detach().numpy().ravel() for t in tensors])
    return setup


def torch_exact_step(name: str, x, y) -> Callable:
    """The trainable weights after one SGD step computed by PyTorch in float64: the reference the
    training rows are measured against (float32 peers differ from each other by a few 1e-2 on this
    ill-conditioned step: at batch 2 a BatchNorm net's first step moves some weights by more than their
    size; hybrid in float64 matches it to ~1e-12, see RESULTS.md)."""
    def snapshot():
        import torch
        tensors: list = []
        module = torch_twin(_hybrid_net(name), tensors).double().train()
        optimizer = torch.optim.SGD(module.parameters(), lr=LEARNING_RATE)
        torch.nn.functional.cross_entropy(module(torch.from_numpy(x).double()), torch.from_numpy(y).long()).backward()
        optimizer.step()
        return numpy.concatenate([t.detach().numpy().ravel() for t in tensors])
    return snapshot


def _peers(name: str, x, y, backend: str, train: bool, quick: bool, budget: float = 0.0) -> dict:
    peers = {f"hybrid-{backend}": hybrid_peer(name, x, y, backend, train), "torch": torch_peer(name, x, y, False, train)}
    if not quick:
        peers["torch.compile"] = torch_peer(name, x, y, True, train)
    return {k: bounded_build(v, budget) for k, v in peers.items()} if budget > 0 else peers


@contextlib.contextmanager
def _alarm(seconds: float, message: str):
    """Raise TimeoutError(message) in the main thread if the block runs longer than `seconds` of wall time."""
    def stop(signum, frame):
        raise TimeoutError(message)
    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def bounded_build(setup: Callable, seconds: float) -> Callable:
    """`setup` whose build and first call (where torch.compile compiles) stop with TimeoutError after `seconds`
    of wall time: the table then reports the peer n/a with the budget (torch.compile's ResNet-50 training step
    built for more than 15 minutes on a loaded host)."""
    message = f"build + first call passed the {seconds:g} s budget (--build-budget)"

    def wrapped():
        deadline = time.monotonic() + seconds
        with _alarm(seconds, message):
            run, snapshot = setup()
        calls = []

        def run_bounded():
            if calls:
                return run()
            calls.append(1)
            with _alarm(deadline - time.monotonic(), message):
                return run()
        return run_bounded, snapshot
    return wrapped


def _with_outputs(setup: Callable) -> Callable:
    """Inference peers: the snapshot compared with torch's is the first call's output."""
    def wrapped():
        run, _ = setup()
        first = run()
        return run, lambda: first.ravel()
    return wrapped


def main() -> None:
    global BATCH, SIZE   # the workload shape every peer builds (module constants, overridable by --batch/--size)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds of timing per peer and workload")
    parser.add_argument("--quick", action="store_true", help="2 rounds, no torch.compile")
    parser.add_argument("--write", action="store_true", help="write the table into bench/RESULTS.md")
    parser.add_argument("--batch", type=int, default=BATCH, help=f"batch size (default {BATCH})")
    parser.add_argument("--size", type=int, default=SIZE, help=f"image height and width (default {SIZE})")
    parser.add_argument("--networks", nargs="*", default=list(NETWORKS), choices=list(NETWORKS),
                        help="which networks (default: all)")
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS), choices=list(WORKLOADS),
                        help="inference, the SGD step, or both (default)")
    parser.add_argument("--build-budget", type=float, default=0.0,
                        help="seconds of wall time for each peer's build and first call (0: unbounded)")
    parser.add_argument("--block", type=int, default=train_bench.BLOCK,
                        help=f"timed steps per peer per round (default {train_bench.BLOCK})")
    parser.add_argument("--warm", type=int, default=train_bench.WARM,
                        help=f"untimed steps before each block (default {train_bench.WARM})")
    parser.add_argument("--section", default=SECTION, help=f"RESULTS.md heading to write under (default {SECTION!r})")
    args = parser.parse_args()
    BATCH, SIZE = args.batch, args.size
    train_bench.BLOCK, train_bench.WARM = args.block, args.warm
    rounds = 2 if args.quick else args.rounds
    backend, note = hybrid_backend()
    x, y = _batch()
    rows = []
    with thread_setting(args.threads):
        for title in args.networks:
            name = NETWORKS[title]
            peers = functools.partial(_peers, name, x, y, backend, quick=args.quick, budget=args.build_budget)
            if "inference" in args.workloads:
                inference = {k: _with_outputs(v) for k, v in peers(train=False).items()}
                rows += run_workload(f"{title} inference b{BATCH}", inference, rounds, args.budget)
                print(table(rows, f"hybrid-{backend}"), flush=True)
            if "step" in args.workloads:
                rows += run_workload(f"{title} SGD step b{BATCH}", peers(train=True),
                                     rounds, args.budget, exact=torch_exact_step(name, x, y))
                print(table(rows, f"hybrid-{backend}"), flush=True)   # so far: a run cut short still reports
    info = machine.cpu_info()
    text = "\n".join([
        args.section, "",
        f"gluon.model_zoo.vision networks at batch {BATCH}x3x{SIZE}x{SIZE} (1000 classes): inference and one SGD "
        f"step (lr {LEARNING_RATE}), written by `.venv/bin/python -m bench.zoo_bench --write`; medians over rounds "
        f"of blocks of consecutive calls; \"vs hybrid\" = peer time / hybrid-{backend} time (above 1: hybrid is "
        "faster); \"agrees\" compares outputs (inference) with PyTorch eager's, and the trainable weights after one "
        "step with PyTorch's float64 step (ok within twice PyTorch eager's own float32 error).",
        f"Machine: {info['cpu']}, {info['cores']} cores, {args.threads} threads for every library, load average "
        f"{os.getloadavg()[0]:.1f} at the end of the run (a shared machine)" + (f"; {note}" if note else "") + ".",
        f"Command: `python -m bench.zoo_bench {' '.join(sys.argv[1:])}`.", "",
        table(rows, f"hybrid-{backend}")])
    print(text)
    if args.write:
        write_section(text, args.section)


if __name__ == "__main__":
    main()
