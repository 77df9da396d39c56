"""Train a LeNet-style CNN on real handwritten digits, eagerly or hybridized.

The data is scikit-learn's bundled digits set (1797 8x8 scans, no download), upsampled to 16x16;
80% train, 20% test, split per class. The network is LeNet's shape (two 5x5 convolutions with
pooling, then two dense layers), widened to 16 and 32 channels with dropout, which is what this
small data set needs to pass 97% test accuracy reliably (LeNet-5 itself tops out near 96-97%).

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
from hybrid import autograd, gluon, nn
from hybrid.gluon.data.vision import transforms


class LeNet(nn.HybridBlock):
    """conv5x5(16)-pool-conv5x5(32)-pool-dense(128)-dense(10), ReLU, dropout before the dense layers."""

    def __init__(self, classes: int = 10, dropout: float = 0.3):
        super().__init__()
        self.features = nn.HybridSequential()
        self.features.add(nn.Conv2D(16, 5, padding=2, activation="relu"), nn.MaxPool2D(2),
                          nn.Conv2D(32, 5, padding=2, activation="relu"), nn.MaxPool2D(2), nn.Flatten())
        self.classifier = nn.HybridSequential()
        self.classifier.add(nn.Dropout(dropout), nn.Dense(128, activation="relu"), nn.Dropout(dropout),
                            nn.Dense(classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def load_data(batch_size: int, seed: int, size: int = 16):
    """Train loader and the whole test set, normalized once up front (the data set is small)."""
    prepare = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean=0.3, std=0.4)])
    train, test = gluon.vision.Digits(train=True, size=size), gluon.vision.Digits(train=False, size=size)
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
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    hb.np.random.seed(args.seed)
    loader, test_data, test_label = load_data(args.batch_size, args.seed)
    net = LeNet()
    net.initialize(hb.init.Xavier())
    net(test_data[:1])                                    # fixes the deferred parameter shapes
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()

    def trainer_for(model):
        # cosine decay to zero over the whole run
        schedule = gluon.lr_scheduler.CosineScheduler(max_update=args.epochs * len(loader), base_lr=args.lr)
        return gluon.Trainer(model.collect_params(), "sgd", {"learning_rate": args.lr, "momentum": args.momentum,
                                                             "wd": 5e-4, "lr_scheduler": schedule})

    mode = f"hybridized ({args.backend})" if args.hybridize else "eager"
    if args.hybridize:
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
    first = f" (first epoch {epoch_seconds[0]:.3f} s, with compilation)" if args.hybridize else ""
    print(f"time per epoch: {mode} {steady:.3f} s{first}")
    if args.hybridize:
        # One eager epoch on a copy of the trained network, for the comparison (after the run, so the
        # run itself is the same with or without it).
        shadow = LeNet()
        shadow.initialize()
        shadow(test_data[:1])
        for name, p in shadow.collect_params().items():
            p.set_data(net.collect_params()[name].data().asnumpy())
        _, eager_seconds = run_epoch(make_step(shadow, loss_fn, trainer_for(shadow), False, args.backend), loader,
                                     "eager epoch (for timing)")
        print(f"time per epoch: eager {eager_seconds:.3f} s  (hybridized speedup {eager_seconds / steady:.1f}x)")


if __name__ == "__main__":
    main()
