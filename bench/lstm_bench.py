"""LSTM benchmark: a 2-layer LSTM (hidden 256, batch 32, sequence 64, input 256, layout TNC), forward
and one training step (forward, backward of the mean squared output, SGD update), side by side in
one run.

    python -m bench.lstm_bench            # prints the table
    python -m bench.lstm_bench --write    # and replaces the "## LSTM (control flow)" section of RESULTS.md

Peers, from the same weights and batch:
  hybrid-llvm     gluon.rnn.LSTM hybridized on the llvm backend: each layer's time loop is one scan
                  in the compiled entry point; training records the compiled forward and runs the
                  compiled backward (a reverse scan over saved per-step residuals)
  torch           torch.nn.LSTM, eager (its fused CPU kernel)
  torch.compile   the same module through torch.compile
Timing: interleaved rounds over the peers, a block of calls per peer per round; medians over all
calls. "vs hybrid" = peer median / hybrid-llvm median (above 1: hybrid is faster). The machine is
shared and noisy: compare within one run.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import time

import numpy

T, N, C, H, LAYERS = 64, 32, 256, 256, 2


def hybrid_peer():
    import hybrid as hb
    from hybrid import autograd, gluon, np
    from hybrid.gluon import rnn

    net = rnn.LSTM(H, num_layers=LAYERS, input_size=C)
    net.initialize()
    net.hybridize(backend="llvm")
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01})
    weights = {k: v.asnumpy() for k, v in gluon.utils.split_rnn_params(net.rnn_param.data(), "lstm", LAYERS, C,
                                                                         H).items()}

    def forward(x):
        return net(np.array(x)).asnumpy()

    def train(x):
        with autograd.record():
            loss = (net(np.array(x)) ** 2).mean()
        loss.backward()
        trainer.step(1)
        return float(loss.asnumpy())
    del hb
    return weights, forward, train


def torch_peer(weights: dict, compiled: bool):
    import torch

    module = torch.nn.LSTM(C, H, num_layers=LAYERS)
    names = {"i2h_weight": "weight_ih", "h2h_weight": "weight_hh", "i2h_bias": "bias_ih", "h2h_bias": "bias_hh"}
    with torch.no_grad():
        for name, value in weights.items():
            layer, kind = name[1:].split("_", 1)
            getattr(module, f"{names[kind]}_l{layer}").copy_(torch.from_numpy(value))
    run = torch.compile(module) if compiled else module
    opt = torch.optim.SGD(module.parameters(), lr=0.01)

    def forward(x):
        with torch.no_grad():
            return run(torch.from_numpy(x))[0].numpy()

    def train(x):
        opt.zero_grad()
        loss = (run(torch.from_numpy(x))[0] ** 2).mean()
        loss.backward()
        opt.step()
        return float(loss.detach())
    return forward, train


def measure(peers: dict, x: numpy.ndarray, rounds: int, block: int) -> dict:
    samples = {name: [] for name in peers}
    for _ in range(rounds):
        for name, fn in peers.items():
            for _ in range(block):
                start = time.perf_counter()
                fn(x)
                samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(s) for name, s in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description="2-layer LSTM: hybrid-llvm vs PyTorch eager and torch.compile")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--block", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="record the table in bench/RESULTS.md")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    x = numpy.random.default_rng(0).normal(size=(T, N, C)).astype("float32")
    weights, h_forward, h_train = hybrid_peer()
    peers = {"hybrid-llvm": (h_forward, h_train), "torch": torch_peer(weights, False)}
    try:
        peers["torch.compile"] = torch_peer(weights, True)
    except Exception as e:  # noqa: BLE001  (a peer that cannot run is reported, not fatal)
        print(f"torch.compile unavailable: {e}")
    first = {}
    for name, (forward, train) in peers.items():   # build + first call, and agreement of the outputs
        start = time.perf_counter()
        out = forward(x)
        train(x)
        first[name] = (time.perf_counter() - start) * 1e3
        if name == "hybrid-llvm":
            reference = out
        else:
            print(f"{name}: forward max |diff| vs hybrid {numpy.abs(out - reference).max():.2e}")
    load = os.getloadavg()[0]
    fwd = measure({k: v[0] for k, v in peers.items()}, x, args.rounds, args.block)
    step = measure({k: v[1] for k, v in peers.items()}, x, args.rounds, args.block)
    lines = ["| peer | forward ms | vs hybrid | training step ms | vs hybrid | first calls ms |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in peers:
        lines.append(f"| {name} | {fwd[name]:.1f} | {fwd[name] / fwd['hybrid-llvm']:.2f} | {step[name]:.1f} | "
                     f"{step[name] / step['hybrid-llvm']:.2f} | {first[name]:.0f} |")
    table = "\n".join(lines)
    note = (f"2-layer LSTM, hidden {H}, batch {N}, sequence {T}, input {C}; {os.cpu_count()} cores, "
            f"torch {torch.__version__}; load average {load:.1f} at the start (shared machine: compare within one run); "
            f"medians of {args.rounds} rounds x {args.block} calls")
    print(note)
    print(table)
    if args.write:
        path = os.path.join(os.path.dirname(__file__), "RESULTS.md")
        with open(path) as f:
            text = f.read()
        section = f"## LSTM (control flow)\n\n- command: `python -m bench.lstm_bench`\n- {note}\n\n{table}\n"
        if "## LSTM (control flow)" in text:
            text = re.sub(r"## LSTM \(control flow\)\n.*?(?=\n## |\Z)", section, text, flags=re.S)
        else:
            text = text.rstrip() + "\n\n" + section
        with open(path, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
