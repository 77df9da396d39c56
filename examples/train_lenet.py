"""Train a LeNet-5 on real handwritten digits, eagerly or hybridized.

The data is scikit-learn's bundled digits set (1797 8x8 scans, no download), resized to 28x28
so the classic MNIST-sized LeNet-5 applies; 80% train, 20% test, split per class.

    python examples/train_lenet.py                                  # eager: every op runs as it is called
    python examples/train_lenet.py --hybridize --backend llvm       # the whole step compiled (llvm or interp)

Hybridized, the forward, backward and SGD update of a batch run as one compiled executable
(`hb.compile_step`), and the evaluation forward through the hybridized network. The script times
one eager epoch as well, so it prints eager vs hybridized time per epoch.
"""
from __future__ import annotations

import argparse
import time

import numpy as onp
from tqdm import tqdm

import hybrid as hb
from hybrid import autograd, gluon
from hybrid.gluon.data.vision import transforms
from hybrid.model_zoo import LeNet5


def load_data(batch_size: int, seed: int):
    """Train loader and the whole test set, normalized once up front (the data set is small)."""
    prepare = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean=0.3, std=0.4)])
    train, test = gluon.vision.Digits(train=True, size=28), gluon.vision.Digits(train=False, size=28)
    dataset = gluon.data.ArrayDataset(prepare(train.images), train.labels)
    # discard: every batch has the same shape, so the compiled step is built once
    loader = gluon.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, last_batch="discard", seed=seed)
    return loader, hb.np.array(prepare(test.images)), hb.np.array(test.labels)


def make_step(net, loss_fn, trainer, compiled: bool, backend: str):
    """A function (data, label) -> per-sample losses that trains on one batch."""
    if compiled:
        return hb.compile_step(net, loss_fn, trainer, backend=backend)

    def eager_step(data, label):
        with autograd.record():
            loss = loss_fn(net(data), label)
            total = loss.sum()
        total.backward()
        trainer.step(data.shape[0])
        return loss
    return eager_step


def run_epoch(step, loader, desc: str) -> tuple[float, float]:
    """One pass over the training data; returns (mean loss, seconds)."""
    loss_metric = gluon.metric.Loss()
    samples, start = 0, time.perf_counter()
    with tqdm(loader, desc=desc, unit="batch", leave=False) as bar:
        for data, label in bar:
            loss_metric.update(None, step(data, label))
            samples += data.shape[0]
            bar.set_postfix(loss=f"{loss_metric.get()[1]:.4f}",
                            samples_per_s=f"{samples / (time.perf_counter() - start):.0f}")
    return loss_metric.get()[1], time.perf_counter() - start


def accuracy(net, data, label) -> float:
    metric = gluon.metric.Accuracy()
    metric.update(label, net(data))
    return metric.get()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hybridize", action="store_true", help="compile the training step and the network")
    parser.add_argument("--backend", default="llvm", choices=["interp", "llvm", "cuda"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    hb.np.random.seed(args.seed)
    loader, test_data, test_label = load_data(args.batch_size, args.seed)
    net = LeNet5()
    net.initialize(hb.init.Xavier())
    net(test_data[:1])                                    # fixes the deferred parameter shapes
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()

    def trainer_for(model):
        return gluon.Trainer(model.collect_params(), "sgd",
                             {"learning_rate": args.lr, "momentum": 0.9, "wd": 1e-4})

    mode = f"hybridized ({args.backend})" if args.hybridize else "eager"
    eager_seconds = None
    if args.hybridize:
        # Time one eager epoch on a copy, so the comparison does not disturb the run below.
        shadow = LeNet5()
        shadow.initialize()
        shadow(test_data[:1])
        for name, p in shadow.collect_params().items():
            p.set_data(net.collect_params()[name].data().asnumpy())
        _, eager_seconds = run_epoch(make_step(shadow, loss_fn, trainer_for(shadow), False, args.backend), loader,
                                     "eager (timing)")
        net.hybridize(backend=args.backend)

    trainer = trainer_for(net)
    step = make_step(net, loss_fn, trainer, args.hybridize, args.backend)
    start, epoch_seconds = time.perf_counter(), []
    for epoch in range(1, args.epochs + 1):
        loss, seconds = run_epoch(step, loader, f"epoch {epoch}/{args.epochs}")
        epoch_seconds.append(seconds)
        acc = accuracy(net, test_data, test_label)
        print(f"epoch {epoch:2d}  loss {loss:.4f}  test accuracy {acc:.4f}  {seconds:.2f} s  "
              f"{len(loader) * args.batch_size / seconds:.0f} samples/s")
    total = time.perf_counter() - start
    # the first hybridized epoch includes compilation; the steady state is the median
    steady = float(onp.median(epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds))
    print(f"\n{mode}: final test accuracy {accuracy(net, test_data, test_label):.4f} after {args.epochs} epochs, "
          f"{total:.1f} s in total")
    print(f"time per epoch: {mode} {steady:.3f} s (first epoch {epoch_seconds[0]:.3f} s, with compilation)")
    if eager_seconds is not None:
        print(f"time per epoch: eager {eager_seconds:.3f} s  ->  hybridized is {eager_seconds / steady:.1f}x faster")


if __name__ == "__main__":
    main()
