"""How far one SGD step of a model-zoo network lands from the exact (float64) step: PyTorch float32 and
hybrid float32 and float64 (eager), each against PyTorch float64 with the same weights and batch. Tells
a conditioning spread (float32 peers far from each other, but each as far from the exact step) from a real
difference (hybrid float64 away from PyTorch float64).

    .venv/bin/python -m bench.zoo_step_precision resnet50_v1 --batch 2 --size 64
"""
from __future__ import annotations

import argparse
import time

import numpy

from . import zoo_bench
from .train_bench import LEARNING_RATE, relative_error


def hybrid_step(name: str, x, y, dtype: str) -> numpy.ndarray:
    """The trainable weights after one eager SGD step of hybrid's network in `dtype`."""
    import hybrid as hb
    net = zoo_bench._hybrid_net(name)
    if dtype != "float32":
        net.cast(dtype)
    trainer = hb.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LEARNING_RATE})
    loss_fn = hb.gluon.loss.SoftmaxCrossEntropyLoss()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("network", nargs="?", default="resnet50_v1", help="a model-zoo name")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
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
    for label, run in (("torch float32", lambda: torch_step(args.network, x, y, torch.float32)),
                       ("hybrid float64 (eager)", lambda: hybrid_step(args.network, x, y, "float64")),
                       ("hybrid float32 (eager)", lambda: hybrid_step(args.network, x, y, "float32"))):
        print(f"  {label:24s} vs torch float64: {relative_error(run(), exact):.2e} "
              f"({time.monotonic() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
