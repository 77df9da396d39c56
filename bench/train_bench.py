"""Training-step benchmark: one SGD step (forward + backward + update) of the W1 MLP
(784-1024-1024-10, batch 256) and of LeNet-5 (batch 64x1x28x28), side by side in one run.

    .venv/bin/python -m bench.train_bench              # prints the table
    .venv/bin/python -m bench.train_bench --write      # and replaces the "## Training steps" section of RESULTS.md

Peers, all from the same initial weights and batch:
  hybrid-llvm      hb.compile_step: forward, backward and the SGD update compiled into one executable
                   (hybrid-interp stands in, and the table says so, when the llvm backend cannot build)
  hybrid-eager     the eager tape: autograd.record, backward, Trainer.step
  torch            PyTorch eager: zero_grad, cross_entropy, backward, optim.SGD.step
  torch.compile    the same with the model wrapped in torch.compile (forward and backward compiled)
Every peer's loss gradient is that of the mean cross-entropy. Before timing, each peer's weights after
one step are compared with PyTorch eager's ("agrees": max error relative to the largest weight).
Timing: rounds over the peers, each peer timing a block of consecutive steps per round (see
measure_blocks for why not single alternating calls); medians of all steps. "vs hybrid" is the peer's
median (and min) over the hybrid compiled step's: above 1, hybrid is faster.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Callable, Optional

import numpy

from . import machine, models, timing
from .workloads import thread_setting

LEARNING_RATE = 0.01
BLOCK = 8                  # consecutive timed steps per peer per round
WARM = 3                   # untimed steps before each block
RESULTS = os.path.join(os.path.dirname(__file__), "RESULTS.md")
SECTION = "## Training steps"


def _batch(shape: tuple, seed: int = 0) -> tuple[numpy.ndarray, numpy.ndarray]:
    rng = numpy.random.default_rng(seed)
    return rng.standard_normal(shape, dtype=numpy.float32), rng.integers(0, 10, shape[0]).astype(numpy.int32)


def _initial_params(ctor, x: numpy.ndarray) -> dict[str, numpy.ndarray]:
    import hybrid as hb
    hb.np.random.seed(0)
    net = ctor()
    net.initialize(hb.init.Xavier())
    net(hb.np.array(x[:1]))
    return models.hybrid_params(net)


def _hybrid_net(ctor, params: dict, x: numpy.ndarray):
    import hybrid as hb
    net = ctor()
    net.initialize()
    net(hb.np.array(x[:1]))
    for name, p in net.collect_params().items():
        p.set_data(params[name])
    return net


def hybrid_peer(ctor, params, x, y, backend: str) -> Callable:
    """backend None: the eager tape; else hb.compile_step on that backend."""
    def setup():
        import hybrid as hb
        net = _hybrid_net(ctor, params, x)
        loss_fn = hb.gluon.loss.SoftmaxCrossEntropyLoss()
        trainer = hb.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LEARNING_RATE})
        xh, yh = hb.np.array(x), hb.np.array(y)
        if backend is not None:
            step = hb.compile_step(net, loss_fn, trainer, backend=backend)
            run = lambda: step(xh, yh)  # noqa: E731
        else:
            def run():
                with hb.autograd.record():
                    total = loss_fn(net(xh), yh).sum()
                total.backward()
                trainer.step(x.shape[0])
        return run, lambda: numpy.concatenate([numpy.asarray(p.data()).ravel()
                                               for p in net.collect_params().values()])
    return setup


def torch_peer(kind: str, params, x, y, compile_: bool) -> Callable:
    def setup():
        import torch
        module = models.torch_mirror(kind, params).train()
        model = torch.compile(module) if compile_ else module
        optimizer = torch.optim.SGD(module.parameters(), lr=LEARNING_RATE)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()

        def run():
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xt), yt)
            loss.backward()
            optimizer.step()
        names = list(params)  # hybrid's parameter order; the mirror uses the same names
        state = module.state_dict()
        return run, lambda: numpy.concatenate([state[n].detach().numpy().ravel() for n in names])
    return setup


def relative_error(a: numpy.ndarray, b: numpy.ndarray) -> float:
    return float(numpy.abs(a - b).max() / max(numpy.abs(b).max(), 1e-30))


def hybrid_backend() -> tuple[str, str]:
    """llvm when it builds here, else interp; with the reason for the fallback."""
    try:
        import hybrid as hb
        from hybrid import codegen
        graph = hb.trace(lambda a: a + 1.0, numpy.zeros(4, numpy.float32))
        codegen.build(graph, "llvm")([numpy.zeros(4, numpy.float32)])
        return "llvm", ""
    except Exception as exc:  # reported in the table, never silent
        return "interp", f"llvm backend unavailable ({timing.reason(exc)})"


def measure_blocks(runners: dict[str, Callable], results: dict[str, timing.Result], rounds: int, block: int,
                   budget_s: float) -> None:
    """Each round runs every peer for `block` consecutive timed steps (after WARM untimed ones). Blocks,
    not single alternating calls: worker threads of OpenMP, OpenBLAS and hybrid's pool keep spinning a
    while after a call and slow whichever library runs next, which would penalize every peer."""
    spent = dict.fromkeys(runners, 0.0)
    for r in range(rounds):
        for name, run in runners.items():
            if r >= 2 and spent[name] > budget_s:
                continue
            for _ in range(WARM):
                run()
            for _ in range(block):
                start, cpu_start = time.perf_counter(), time.process_time()
                run()
                elapsed = time.perf_counter() - start
                spent[name] += elapsed
                results[name].samples.append(elapsed * 1e3)
                results[name].cpu_samples.append((time.process_time() - cpu_start) * 1e3)


def run_workload(title: str, peers: dict[str, Callable], rounds: int, budget_s: float,
                 exact: Optional[Callable] = None) -> list[dict]:
    """Time each peer; "agrees" compares its snapshot with PyTorch eager's (error <= 1e-4), or, with
    `exact` (a float64 snapshot of the same computation), measures every peer against that and accepts
    an error up to twice PyTorch eager's own float32 error (at least 1e-4): an ill-conditioned step
    (a few SGD steps of a tiny-batch BatchNorm net) moves float32 results far from each other while
    both are equally close to the exact one."""
    results, runners, snapshots = {}, {}, {}
    for name, setup in peers.items():
        print(f"  {title} {name}: building", file=sys.stderr, flush=True)
        holder = {}

        def build(setup=setup, holder=holder):
            run, snapshot = setup()
            holder["snapshot"] = snapshot
            return run
        results[name], run = timing.first_call(build, name)
        if run is not None:
            runners[name] = run
            snapshots[name] = holder["snapshot"]()      # weights after exactly one step
        else:
            print(f"  {title} {name}: n/a ({results[name].error})", file=sys.stderr, flush=True)
    measure_blocks(runners, results, rounds, BLOCK, budget_s)
    oracle = exact() if exact is not None else snapshots.get("torch")
    tolerance = 1e-4
    if exact is not None and "torch" in snapshots:
        tolerance = max(tolerance, 2 * relative_error(snapshots["torch"], oracle))
    rows = []
    for name, r in results.items():
        agrees = "n/a"
        if name in snapshots and oracle is not None:
            err = relative_error(snapshots[name], oracle)
            verdict = ("ok" if err <= tolerance else "MISMATCH") + f" ({err:.1e})"
            agrees = "oracle" if name == "torch" and exact is None else verdict
        rows.append({"workload": title, "peer": name, "first_ms": r.first_ms, "median_ms": r.median_ms,
                     "min_ms": r.min_ms, "cpu_ms": r.cpu_ms, "n": len(r.samples), "agrees": agrees, "error": r.error})
    return rows


def fmt(value) -> str:
    return "n/a" if value is None else (f"{value:.3g}" if value < 1000 else f"{value:.0f}")


def table(rows: list[dict], reference: str) -> str:
    lines = ["| workload | peer | first call (ms) | median step (ms) | min (ms) | median CPU (ms) | samples "
             "| vs hybrid (median) | vs hybrid (min) | vs hybrid (CPU) | agrees |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for workload in dict.fromkeys(r["workload"] for r in rows):
        group = [r for r in rows if r["workload"] == workload]
        ref = next((r for r in group if r["peer"] == reference), None)

        def ratio(r, key):
            return r[key] / ref[key] if ref is not None and r[key] is not None and ref[key] else None
        for r in group:
            agrees = r["agrees"] if r["error"] is None else f"n/a: {r['error']}"
            lines.append(f"| {workload} | {r['peer']} | {fmt(r['first_ms'])} | {fmt(r['median_ms'])} | "
                         f"{fmt(r['min_ms'])} | {fmt(r.get('cpu_ms'))} | {r['n']} | {fmt(ratio(r, 'median_ms'))} | "
                         f"{fmt(ratio(r, 'min_ms'))} | {fmt(ratio(r, 'cpu_ms'))} | {agrees} |")
    return "\n".join(lines)


def write_section(text: str, section: str = SECTION) -> None:
    """Replace (or append) one section of RESULTS.md (by default "## Training steps"), leaving the rest as it is."""
    existing = open(RESULTS).read() if os.path.exists(RESULTS) else ""
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    block = text.rstrip() + "\n\n"
    updated = pattern.sub(lambda _: block, existing) if pattern.search(existing) else \
        existing.rstrip() + "\n\n" + block
    with open(RESULTS, "w") as f:
        f.write(updated.rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of timing per peer and workload")
    parser.add_argument("--quick", action="store_true", help="3 rounds, no torch.compile")
    parser.add_argument("--write", action="store_true", help=f"write the table into {RESULTS}")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds

    from hybrid.model_zoo import MLP, LeNet5
    backend, note = hybrid_backend()
    compiled = f"hybrid-{backend}"
    workloads = [("MLP 784-1024-1024-10, batch 256", "mlp", MLP, (256, 784)),
                 ("LeNet-5, batch 64x1x28x28", "lenet", LeNet5, (64, 1, 28, 28))]
    rows = []
    with thread_setting(args.threads):
        for title, kind, ctor, shape in workloads:
            x, y = _batch(shape)
            params = _initial_params(ctor, x)
            peers = {compiled: hybrid_peer(ctor, params, x, y, backend),
                     "hybrid-eager": hybrid_peer(ctor, params, x, y, None),
                     "torch": torch_peer(kind, params, x, y, False)}
            if not args.quick:
                peers["torch.compile"] = torch_peer(kind, params, x, y, True)
            rows += run_workload(title, peers, rounds, args.budget)

    info = machine.cpu_info()
    text = "\n".join([
        SECTION, "",
        f"One SGD training step (forward + backward + update, lr {LEARNING_RATE}), written by "
        "`.venv/bin/python -m bench.train_bench --write`; medians over rounds of blocks of 8 consecutive steps per peer; "
        f"\"vs hybrid\" = peer time / {compiled} time (above 1: hybrid is faster). First call = build + one "
        "step (hybrid: trace, autodiff, optimize, compile, or load from the LLVM disk cache when warm; "
        "torch.compile likewise uses its cache).",
        f"Machine: {info['cpu']}, {info['cores']} cores, {args.threads} threads for every library, "
        f"load average {os.getloadavg()[0]:.1f} at the end of the run (a shared machine)"
        + (f"; {note}" if note else "") + ".", "",
        table(rows, compiled)])
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
