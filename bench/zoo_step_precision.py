"""How far one SGD step of a model-zoo network lands from the exact (float64) step: PyTorch float32 and
hybrid float32 and float64 (eager) and, with --backend, hybrid's compiled step (compile_step), each against
PyTorch float64 with the same weights and batch. Tells a conditioning spread (float32 peers far from each
other, but each as far from the exact step) from a real difference (hybrid float64 away from PyTorch
float64); --layers N lists the N parameters furthest from the exact step (the same measure), for each
float32 run, to find which layer's gradient is off.

    .venv/bin/python -m bench.zoo_step_precision resnet50_v1 --batch 2 --size 64
    .venv/bin/python -m bench.zoo_step_precision mobilenetv2_1.0 --batch 8 --size 224 --backend llvm --layers 5
"""
from __future__ import annotations

import argparse
import time
from typing import Optional

import numpy

from . import zoo_bench
from .train_bench import LEARNING_RATE, relative_error


def hybrid_step(name: str, x, y, dtype: str, backend: Optional[str] = None) -> numpy.ndarray:
    """The trainable weights after one SGD step of hybrid's network in `dtype`: eager, or with `backend`
    the compiled step (compile_step) on that backend."""
    import hybrid as hb
    net = zoo_bench._hybrid_net(name)
    if dtype != "float32":
        net.cast(dtype)
    trainer = hb.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LEARNING_RATE})
    loss_fn = hb.gluon.loss.SoftmaxCrossEntropyLoss()
    if backend is not None:
        hb.compile_step(net, loss_fn, trainer, backend=backend)(hb.np.array(x.astype(dtype)), hb.np.array(y))
    else:
        with hb.autograd.record():
            loss = loss_fn(net(hb.np.array(x.astype(dtype))), hb.np.array(y))
        loss.backward()
        trainer.step(len(y))
    return numpy.concatenate([p.data().asnumpy().astype("f8").ravel() for p in zoo_bench._trainable(net)])


def torch_step(name: str, x, y, dtype) -> numpy.ndarray:
    import torch
    tensors: list = []
    module = zoo_bench.torch_twin(zoo_bench._hybrid_net(name), tensors).to(dtype).train()
    optimizer = torch.optim.SGD(module.parameters(), lr=LEARNING_RATE)
    torch.nn.functional.cross_entropy(module(torch.from_numpy(x).to(dtype)), torch.from_numpy(y).long()).backward()
    optimizer.step()
    return numpy.concatenate([t.detach().double().numpy().ravel() for t in tensors])


def furthest_parameters(name: str, got: numpy.ndarray, exact: numpy.ndarray, count: int) -> list[str]:
    """The `count` parameters whose weights after the step are furthest from the exact step's, each as its
    largest difference over the largest exact weight (the measure the totals use, so the first is the
    parameter that sets the total). Not relative to each parameter's own change: some exact gradients are
    zero (a BatchNorm shift followed by a convolution and another BatchNorm), and float32 leaves noise there."""
    params = [(p.name, p.data().size) for p in zoo_bench._trainable(zoo_bench._hybrid_net(name))]
    scale, errors, start = numpy.abs(exact).max(), [], 0
    for pname, size in params:
        errors.append((numpy.abs(got[start:start + size] - exact[start:start + size]).max() / scale, pname))
        start += size
    return [f"{pname} {err:.1e}" for err, pname in sorted(errors, reverse=True)[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("network", nargs="?", default="resnet50_v1", help="a model-zoo name")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--backend", help="also the compiled float32 step on this backend (llvm, interp)")
    parser.add_argument("--layers", type=int, default=0, help="list the N parameters furthest from the exact step")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    zoo_bench.BATCH, zoo_bench.SIZE = args.batch, args.size
    x, y = zoo_bench._batch()
    start = time.monotonic()
    exact = torch_step(args.network, x, y, torch.float64)
    before = numpy.concatenate([p.data().asnumpy().astype("f8").ravel()
                                for p in zoo_bench._trainable(zoo_bench._hybrid_net(args.network))])
    print(f"{args.network}, batch {args.batch}x3x{args.size}x{args.size}: the exact step moves the weights by "
          f"{relative_error(exact, before):.2e} of the largest weight")
    runs = [("torch float32", lambda: torch_step(args.network, x, y, torch.float32))]
    if args.backend:
        runs.append((f"hybrid float32 ({args.backend})", lambda: hybrid_step(args.network, x, y, "float32",
                                                                            args.backend)))
    runs += [("hybrid float64 (eager)", lambda: hybrid_step(args.network, x, y, "float64")),
             ("hybrid float32 (eager)", lambda: hybrid_step(args.network, x, y, "float32"))]
    for label, run in runs:
        got = run()
        print(f"  {label:24s} vs torch float64: {relative_error(got, exact):.2e} "
              f"({time.monotonic() - start:.0f} s)", flush=True)
        if args.layers and "float32" in label:
            print("    furthest: " + ", ".join(furthest_parameters(args.network, got, exact, args.layers)), flush=True)


if __name__ == "__main__":
    main()
