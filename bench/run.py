"""The benchmark suite: every workload on every installed peer, side by side in one run.

    .venv/bin/python -m bench.run            # full run (about 10 minutes on 2 cores), writes bench/RESULTS.md
    .venv/bin/python -m bench.run --quick    # fewer samples, no torch.compile; a smoke run
    .venv/bin/python -m bench.run --workloads W1,W4 --peers hybrid-llvm,torch --no-write

Peers: hybrid-interp, hybrid-llvm, numpy (hand-written forward), torch (eager), torch.compile, onnxruntime
(the torch mirror exported to ONNX); W4 adds hybrid-generated / hybrid-openblas (hybrid_sgemm called
directly). Every library runs at the same thread count (--threads, default all cores): HYBRID_NUM_THREADS,
torch.set_num_threads, ONNX Runtime intra_op_num_threads, OpenBLAS through threadpoolctl. A peer that is
not installed, or fails on a workload, is reported n/a with the reason; the run goes on.

Timing: peers are interleaved round by round (the machine is shared and noisy) and summarized by median;
"first call" is build + first run (tracing/compiling, export + session creation). "vs llvm" is the peer's
median divided by hybrid-llvm's: above 1 means hybrid-llvm is faster. Outputs are checked against the
interp backend (or NumPy) with the workload's relative tolerance.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

import numpy

from . import machine, timing, warmstart, workloads

RESULTS = os.path.join(os.path.dirname(__file__), "RESULTS.md")
OWN_SECTIONS = ("## Results", "## Targets (issue 4)", "## GEMM by shape")   # the rest of RESULTS.md is kept
# Thread pools that keep spinning after a call steal the cores of the peer measured next in the same process
# (OpenBLAS workers spin about 0.1 s: the next peer ran at half speed). Every pool is set to sleep at once:
# OpenBLAS (NumPy) and OpenMP (torch) here, ONNX Runtime in models.onnx_session; hybrid's team blocks.
QUIET_POOLS = {"OPENBLAS_THREAD_TIMEOUT": "4", "OMP_WAIT_POLICY": "PASSIVE"}
ALL_PEERS = {"hybrid-interp", "hybrid-llvm", "hybrid-generated", "hybrid-openblas", "numpy", "torch", "torch.compile",
             "onnxruntime"}     # written by bench/optimizer_stats.py; kept when this file is rewritten


def agreement(out, ref, rtol: float) -> str:
    out, ref = numpy.asarray(out, dtype=numpy.float64), numpy.asarray(ref, dtype=numpy.float64)
    if out.shape != ref.shape:
        return f"shape {out.shape} != {ref.shape}"
    scale = max(float(numpy.abs(ref).max()) if ref.size else 0.0, 1e-30)
    err = float(numpy.abs(out - ref).max()) / scale if ref.size else 0.0
    return "ok" if err <= rtol else f"MISMATCH (max err {err:.1e} of max|ref|)"


def run_workload(work: workloads.Workload, rounds: int, budget_s: float) -> dict[str, timing.Result]:
    results, runners = {}, {}
    with work.context():
        for name, setup in work.peers.items():
            print(f"  {work.key} {name}: building", file=sys.stderr, flush=True)
            results[name], run = timing.first_call(setup, name)
            if run is not None:
                runners[name] = run
            elif results[name].error:
                print(f"  {work.key} {name}: n/a ({results[name].error})", file=sys.stderr, flush=True)
        timing.measure(runners, results, rounds, budget_s)
    oracle = next((results[o] for o in work.oracle if o in results and results[o].output is not None), None)
    for r in results.values():
        if r.output is not None and oracle is not None:
            r.agrees = "oracle" if r is oracle else agreement(r.output, oracle.output, work.rtol)
    for r in results.values():
        r.output = None
    return results


def fmt(value, digits=3) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}g}" if abs(value) < 10 ** digits else f"{value:.0f}"


def unit_value(work: workloads.Workload, r: timing.Result):
    if work.unit is None or r.median_ms is None:
        return None
    name, amount = work.unit
    if name == "us/call":
        return r.median_ms * 1e3
    return amount / (r.median_ms * 1e-3) / 1e9


def table(all_results: list) -> list[str]:
    lines = ["| workload | peer | median ms | min ms | cpu ms | first call ms | vs llvm | throughput | output |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for work, results in all_results:
        ref = results.get(work.reference)
        ref_ms = ref.median_ms if ref is not None else None
        for r in results.values():
            if r.error:
                lines.append(f"| {work.key} | {r.peer} | n/a | | | | | | {r.error.replace('|', '/')} |")
                continue
            ratio = r.median_ms / ref_ms if ref_ms and r.median_ms else None
            value = unit_value(work, r)
            through = f"{fmt(value)} {work.unit[0]}" if value is not None else ""
            lines.append(f"| {work.key} | {r.peer} | {fmt(r.median_ms)} | {fmt(r.min_ms)} | {fmt(r.cpu_ms)} | "
                         f"{fmt(r.first_ms, 4)} | "
                         f"{fmt(ratio)} | {through} | {r.agrees or ''} |")
    return lines


def targets(all_results: list, copy_gbs: float, start: dict) -> list[str]:
    """The issue's targets, each marked met / missed (by how much) / n/a."""
    by_key = {work.key: (work, results) for work, results in all_results}
    lines = []

    def median(key, peer):
        r = by_key.get(key, (None, {}))[1].get(peer)
        return r.median_ms if r is not None and not r.error else None

    for key in [k for k in ("W1", "W2", "W5", "W6") if k in by_key]:
        ours = median(key, "hybrid-llvm")
        peers = {p: median(key, p) for p in ("torch", "torch.compile", "onnxruntime")}
        peers = {p: v for p, v in peers.items() if v is not None}
        if ours is None or not peers:
            lines.append(f"- {key}: hybrid-llvm faster than torch / torch.compile / ONNX Runtime: n/a "
                         f"(hybrid-llvm {'ran' if ours else 'did not run'}, peers run: {', '.join(peers) or 'none'})")
            continue
        best_peer = min(peers, key=peers.get)
        status = "met" if ours < peers[best_peer] else \
            f"MISSED: {ours / peers[best_peer]:.2f}x the time of {best_peer}"
        lines.append(f"- {key}: hybrid-llvm {fmt(ours)} ms vs best peer {best_peer} {fmt(peers[best_peer])} ms: {status}")
    if "W3" in by_key:
        work, results = by_key["W3"]
        r = results.get("hybrid-llvm")
        gbs = unit_value(work, r) if r is not None and not r.error else None
        copy = results.get(workloads.COPY_PEER)
        if gbs is None:
            lines.append("- W3: >= 85% of copy bandwidth: n/a (hybrid-llvm did not run)")
        elif copy is not None and not copy.error and copy.median_ms:
            # the yardstick timed in the same rounds; process CPU time too (all threads: per-core efficiency,
            # what a loaded machine distorts least)
            share, yard = gbs / unit_value(work, copy), unit_value(work, copy)
            lines.append(f"- W3: {gbs:.3g} GB/s = {share:.0%} of the copy timed in the same rounds ({yard:.3g} GB/s, "
                         f"{workloads.COPY_PEER}); process CPU time {fmt(r.cpu_ms)} ms vs the copy's "
                         f"{fmt(copy.cpu_ms)} ms = {copy.cpu_ms / r.cpu_ms:.0%} (target 85%): "
                         f"{'met' if share >= 0.85 else 'MISSED'}")
        else:
            share = gbs / copy_gbs
            lines.append(f"- W3: {gbs:.3g} GB/s = {share:.0%} of copy bandwidth {copy_gbs:.3g} GB/s (target 85%): "
                         f"{'met' if share >= 0.85 else 'MISSED'}")
    for key in [k for k in by_key if k.startswith("W4/")]:
        work, results = by_key[key]
        numpy_r = results.get("numpy")
        base = unit_value(work, numpy_r) if numpy_r is not None and not numpy_r.error else None
        for peer in ("hybrid-llvm", "hybrid-generated", "hybrid-openblas"):
            r = results.get(peer)
            ours = unit_value(work, r) if r is not None and not r.error else None
            if ours is None or base is None:
                lines.append(f"- {key} {peer}: >= 90% of NumPy GFLOP/s: n/a")
                continue
            lines.append(f"- {key} {peer}: {ours:.0f} GFLOP/s = {ours / base:.0%} of NumPy's {base:.0f} (target 90%): "
                         f"{'met' if ours >= 0.9 * base else 'MISSED'}")
    if "call" in by_key:
        call = median("call", "hybrid-llvm")
        lines.append("- one-op call overhead <= 10 us: " + (f"{call * 1e3:.1f} us: {'met' if call <= 0.01 else 'MISSED'}"
                                                           if call is not None else "n/a (hybrid-llvm did not run)"))
    for label, key, limit in (("cold compile of W6", "cold", 5.0), ("warm start of W6 from the disk cache", "warm", 0.5)):
        info = start.get(key)
        if info is None:
            continue
        if "error" in info:
            lines.append(f"- {label} <= {limit} s: n/a ({info['error']})")
        else:
            s = info["first_call_s"]
            cpu = f", {info['first_call_cpu_s']:.2f} s of process CPU time" if "first_call_cpu_s" in info else ""
            lines.append(f"- {label} <= {limit} s: {s:.2f} s to the first result{cpu} (+{info['import_s']:.2f} s "
                         f"importing hybrid): {'met' if s <= limit else 'MISSED'}")
    return lines


def parallel_speedup(all_results: list, threads: int):
    """hybrid-generated's W4 median at 1 thread over the one at `threads`: how many cores were really free."""
    medians = {}
    for work, results in all_results:
        r = results.get("hybrid-generated")
        if work.key.startswith("W4/") and r is not None and r.median_ms:
            medians[work.key] = r.median_ms
    one, many = medians.get("W4/1t"), medians.get(f"W4/{threads}t")
    return one / many if one and many and threads > 1 else None


def write_results(path: str, header: list[str], body: list[str]) -> None:
    """Write the header and this suite's sections; every other "## " section already in the file (written by
    other tools: bench/optimizer_stats.py, bench/train_bench.py) is kept as it is, after ours."""
    kept = []
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        for section in re.findall(r"^## .*?(?=^## |\Z)", old, flags=re.S | re.M):
            if not section.startswith(OWN_SECTIONS):
                kept.append(section.rstrip() + "\n")
    with open(path, "w") as f:
        f.write("\n".join(header + body) + "\n")
        for section in kept:
            f.write("\n" + section)


def child(index: int, env: workloads.Env, rounds: int, budget: float, path: str) -> None:
    """Run one workload and write its results as JSON (the parent survives a crash of this process)."""
    work = workloads.all_workloads(env)[index][1]()
    print(f"{work.key}: {work.title}", file=sys.stderr, flush=True)
    results = run_workload(work, rounds, budget)
    record = {"key": work.key, "title": work.title, "reference": work.reference, "unit": work.unit,
              "results": [vars(r) for r in results.values()]}
    with open(path, "w") as f:
        json.dump(record, f)


def run_isolated(index: int, key: str, args) -> tuple:
    """Run workload `index` in a subprocess; when it crashes (a native abort in a backend), mark the peer it
    was on as n/a and run the others again."""
    crashed = {}
    for _ in range(4):
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            path = f.name
        cmd = [sys.executable, "-m", "bench.run", "--child", str(index), "--child-output", path,
               "--threads", str(args.threads)] + (["--quick"] if args.quick else [])
        peers = args.peer_set - set(crashed) if args.peer_set is not None else None
        if peers is not None or crashed:
            cmd += ["--peers", ",".join(sorted(peers if peers is not None else ALL_PEERS - set(crashed)))]
        proc = subprocess.run(cmd, stderr=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        sys.stderr.write(proc.stderr)
        if proc.returncode == 0:
            with open(path) as f:
                record = json.load(f)
            os.unlink(path)
            work = SimpleNamespace(key=record["key"], title=record["title"], reference=record["reference"],
                                   unit=tuple(record["unit"]) if record["unit"] else None)
            results = {r["peer"]: timing.Result(**r) for r in record["results"]}
            for peer, why in crashed.items():
                results[peer] = timing.Result(peer, error=why)
            return work, results
        os.unlink(path)
        building = re.findall(r"^  \S+ (\S+): building$", proc.stderr, flags=re.M)
        last = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        if not building or building[-1] in crashed:
            break
        crashed[building[-1]] = f"process crashed ({last[-1][:120] if last else 'signal ' + str(-proc.returncode)})"
    work = SimpleNamespace(key=key, title=key, reference="hybrid-llvm", unit=None)
    return work, {p: timing.Result(p, error=why) for p, why in crashed.items()} or \
        {"all": timing.Result("all", error=f"workload process failed (exit {proc.returncode})")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, no torch.compile")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every library")
    parser.add_argument("--workloads", help="comma-separated subset of W1,W2,W3,W4,W5,W6,call")
    parser.add_argument("--peers", help="comma-separated subset of: " + ",".join(sorted(ALL_PEERS)))
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--output", default=RESULTS)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-output", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    command = "python -m bench.run " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))

    os.environ["HYBRID_NUM_THREADS"] = str(args.threads)
    for name, value in QUIET_POOLS.items():     # inherited by the workload processes
        os.environ.setdefault(name, value)
    args.peer_set = set(args.peers.split(",")) if args.peers else None
    if args.quick and args.peer_set is None:
        args.peer_set = ALL_PEERS - {"torch.compile"}
    env = workloads.Env(args.threads, args.peer_set)
    rounds, budget = (5, 1.0) if args.quick else (15, 4.0)
    if args.child is not None:
        with workloads.thread_setting(args.threads):
            child(args.child, env, rounds, budget, args.child_output)
        return 0

    selected = set(args.workloads.split(",")) if args.workloads else None
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = os.getloadavg()[0]
    wall = time.perf_counter()
    all_results = []
    for index, (key, _) in enumerate(workloads.all_workloads(env)):
        if selected is None or key in selected:
            all_results.append(run_isolated(index, key, args))
    with workloads.thread_setting(args.threads):
        copy_gbs, copy_how = workloads.copy_bandwidth(args.threads, args.quick)
    shapes = []
    if selected is None or "W4" in selected:
        print("GEMM shape classes (subprocess)", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, "-m", "bench.gemm_shapes", "--threads", str(args.threads), "--repeats",
                               "3" if args.quick else "5"], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        shapes = ["## GEMM by shape: generated vs OpenBLAS (the evidence for impl='auto')", "",
                  "`python -m bench.gemm_shapes`: both through hybrid_sgemm, process CPU time (robust to the other "
                  "jobs on this machine), best of the repeats; dense layers are x @ W^T, convolutions as im2col GEMMs.",
                  "", "```"] + (proc.stdout.strip().splitlines() if proc.returncode == 0 else
                                [f"n/a: {(proc.stderr.strip().splitlines() or ['failed'])[-1]}"]) + ["```", ""]
    start = {}
    if selected is None or "W6" in selected:
        print("W6 cold compile and warm start (subprocesses)", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="hybrid-bench-cache-") as cache:
            start["cold"] = warmstart.measure(cache, args.threads)
            if "error" not in start["cold"]:
                start["warm"] = warmstart.measure(cache, args.threads)
            else:
                start["warm"] = {"error": "cold compile failed"}

    parallel = parallel_speedup(all_results, args.threads)
    info = machine.cpu_info()
    header = ["# Benchmark results", "",
              f"- command: `{command}`",
              f"- date: {started:%Y-%m-%d %H:%M} UTC, {time.perf_counter() - wall:.0f} s",
              f"- machine: {info['cpu']} (LLVM target {info['llvm_cpu']}), {info['cores']} cores, "
              f"vector flags: {info['vector_flags']}; {info['platform']}, Python {info['python']}",
              f"- threads: {args.threads} for every library (HYBRID_NUM_THREADS, torch.set_num_threads, ONNX Runtime "
              f"intra_op_num_threads, OpenBLAS via threadpoolctl); W4 also at 1 thread. Idle thread pools sleep "
              f"instead of spinning ({', '.join(f'{k}={os.environ[k]}' for k in QUIET_POOLS)}, ONNX Runtime "
              "allow_spinning=0), so a peer does not run against the previous peer's spinning workers",
              "- versions: " + ", ".join(f"{k} {v}" for k, v in machine.versions().items()),
              f"- copy bandwidth (32 MiB, read + write): {copy_gbs:.3g} GB/s ({copy_how})",
              f"- samples: {'--quick: ' if args.quick else ''}{rounds} interleaved rounds per workload, at most "
              f"{budget:.0f} s per peer; median and min per call; 'first call' = build + first run; "
              "'cpu ms' = median process CPU time per call, all threads (spinning worker threads count too); "
              "'vs llvm' = median / hybrid-llvm median (above 1: hybrid-llvm is faster); 'output' = agreement "
              "with the interp backend (or NumPy)",
              f"- load average (1 min) {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end: the machine "
              "is shared, other jobs ran during the measurement, so single numbers vary between runs; compare within "
              "one run" + (f"; the cores actually free during W4: hybrid_sgemm ran {parallel:.2f}x faster on "
                           f"{args.threads} threads than on 1 (about {args.threads}x on an idle machine)"
                           if parallel else ""), ""]
    body = ["## Results", ""] + table(all_results) + ["", "## Targets (issue 4)", ""] + \
        targets(all_results, copy_gbs, start) + [""] + shapes
    print("\n".join(header + body))
    if not args.no_write:
        write_results(args.output, header, body)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
