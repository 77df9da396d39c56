"""A character-level LSTM language model trained on Python's own source (the standard library's
`argparse.py` and `textwrap.py`, which ship with every Python), eagerly or hybridized.

    python examples/char_lstm.py                        # eager: every op of every step runs as called
    python examples/char_lstm.py --hybridize            # the LSTM's time loop compiles to one scan (llvm)
    python examples/char_lstm.py --epochs 1 --steps 20  # a quick look

Each epoch trains on random windows of the text (truncated backpropagation through `--seq-len`
characters) and then prints the held-out perplexity (the last 10% of the text) next to the
unigram baseline: the perplexity of predicting every character by its frequency alone. A model
that learns anything about the text must fall well below it.
"""
from __future__ import annotations

import argparse
import math
import textwrap
import time

import numpy as onp
from tqdm import tqdm

import hybrid as hb
from hybrid import autograd, gluon, nn, np
from hybrid.gluon import rnn


def load_text() -> str:
    import argparse as source_a
    parts = []
    for module in (source_a, textwrap):
        with open(module.__file__, encoding="utf-8") as f:
            parts.append(f.read())
    return "\n".join(parts)


class CharLM(nn.HybridBlock):
    """embedding -> LSTM (TNC: one scan per layer when hybridized) -> per-step logits."""

    def __init__(self, vocab: int, embed: int, hidden: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = rnn.LSTM(hidden, num_layers=layers, input_size=embed)
        self.out = nn.Dense(vocab, flatten=False, in_units=hidden)

    def forward(self, tokens):            # tokens: (T, N) int32
        return self.out(self.lstm(self.embed(tokens)))


def batches(ids: onp.ndarray, seq_len: int, batch: int, rng: onp.random.Generator):
    """Endless (inputs, next characters) pairs of random windows, time-major (T, N)."""
    while True:
        starts = rng.integers(0, len(ids) - seq_len - 1, batch)
        window = onp.stack([ids[s:s + seq_len + 1] for s in starts], axis=1)
        yield window[:-1].astype("int32"), window[1:].astype("int32")


def perplexity(net, ids: onp.ndarray, seq_len: int, batch: int) -> float:
    """exp(mean cross-entropy) over the held-out text, in consecutive windows."""
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    usable = (len(ids) - 1) // (seq_len * batch) * seq_len * batch
    x = ids[:usable].reshape(batch, -1).T.astype("int32")
    y = ids[1:usable + 1].reshape(batch, -1).T.astype("int32")
    total, count = 0.0, 0
    for t in range(0, x.shape[0], seq_len):
        logits = net(np.array(x[t:t + seq_len]))
        size = y[t:t + seq_len].size
        total += float(loss_fn(logits, np.array(y[t:t + seq_len])).mean().asnumpy()) * size
        count += size
    return math.exp(total / count)


def unigram_perplexity(train: onp.ndarray, test: onp.ndarray, vocab: int) -> float:
    freq = (onp.bincount(train, minlength=vocab) + 1) / (len(train) + vocab)
    return float(onp.exp(-onp.mean(onp.log(freq[test]))))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hybridize", action="store_true", help="compile the model (default: eager)")
    parser.add_argument("--backend", default="llvm", choices=["interp", "llvm"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150, help="training steps per epoch")
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    text = load_text()
    chars = sorted(set(text))
    ids = onp.array([chars.index(c) for c in text], dtype="int64")
    split = int(len(ids) * 0.9)
    train, test = ids[:split], ids[split:]
    baseline = unigram_perplexity(train, test, len(chars))
    print(f"{len(text)} characters of Python source, vocabulary {len(chars)}; unigram perplexity {baseline:.2f}")

    hb.np.random.seed(args.seed)
    net = CharLM(len(chars), 32, args.hidden, args.layers)
    net.initialize(hb.init.Xavier())
    if args.hybridize:
        net.hybridize(backend=args.backend)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": args.lr, "clip_gradient": 5.0})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    stream = batches(train, args.seq_len, args.batch, onp.random.default_rng(args.seed))
    history = []
    for epoch in range(1, args.epochs + 1):
        start, running = time.perf_counter(), []
        bar = tqdm(range(args.steps), desc=f"epoch {epoch}", leave=False)
        for _ in bar:
            x, y = next(stream)
            with autograd.record():
                loss = loss_fn(net(np.array(x)), np.array(y)).mean()
            loss.backward()
            trainer.step(1)
            running.append(float(loss.asnumpy()))
            bar.set_postfix(loss=f"{running[-1]:.3f}")
        ppl = perplexity(net, test, args.seq_len, args.batch)
        history.append(ppl)
        print(f"epoch {epoch}: train loss {onp.mean(running):.3f}, held-out perplexity {ppl:.2f} "
              f"(unigram {baseline:.2f}), {time.perf_counter() - start:.1f} s")
    return {"perplexity": history, "unigram": baseline}


if __name__ == "__main__":
    main()
