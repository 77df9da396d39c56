"""Allreduce latency and bandwidth vs message size on this machine (shared memory between
processes), and the weak-scaling efficiency of a ResNet-18-style training step on 1 vs 2
processes (1 thread each).

    python -m bench.allreduce_bench [--quick]        # runs the MPI jobs itself (mpiexec -n 2)

Writes bench/allreduce_results.json (read by bench/scaling.py) and prints Markdown tables.
The machine is shared and noisy: times are medians of interleaved repeats, and the ratio
between rows on one run means more than any absolute number.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from statistics import median

import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "allreduce_results.json")
SIZES = [4 << (2 * k) for k in range(13)]        # 4 B .. 64 MiB, x4 steps
STEP_BATCH, STEP_WIDTH, STEP_IMAGE = 8, 16, 32   # per worker: ResNet-18 layout at 1/4 width, 32x32 images


# -- workers (run on every rank under mpiexec) ---------------------------------------------------
def allreduce_worker(quick: bool) -> dict:
    from hybrid.distributed import world

    comm = world()
    rows = []
    for nbytes in SIZES[:10] if quick else SIZES:
        buf = numpy.ones(max(1, nbytes // 4), numpy.float32)
        repeats = max(5, min(200, (16 << 20) // max(nbytes, 1)))
        ours, raw = [], []
        for r in range(repeats + 2):          # interleaved: hybrid's (non-blocking + timeout poll) vs raw MPI
            comm.barrier()
            t0 = time.perf_counter()
            comm.iallreduce(buf).wait()
            t1 = time.perf_counter()
            comm._comm.Allreduce(comm.MPI.IN_PLACE, buf, op=comm.MPI.SUM)
            t2 = time.perf_counter()
            if r >= 2:
                ours.append(t1 - t0)
                raw.append(t2 - t1)
            buf[:] = 1
        rows.append({"bytes": buf.nbytes, "hybrid_us": 1e6 * median(ours), "mpi_us": 1e6 * median(raw)})
    return {"processes": comm.size, "rows": rows}


def step_worker(steps: int) -> dict:
    import hybrid as hb
    from hybrid.distributed import world
    from hybrid.model_zoo import ResNet18

    comm = world()
    hb.np.random.seed(0)
    net = ResNet18(classes=10, width=STEP_WIDTH)
    net.initialize(hb.init.Xavier())
    kind = "dist_sync" if comm.size > 1 else None
    trainer = hb.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01, "momentum": 0.9}, kvstore=kind)
    step = hb.compile_step(net, hb.gluon.loss.SoftmaxCrossEntropyLoss(), trainer, backend="llvm")
    rng = numpy.random.default_rng(comm.rank)
    x = hb.np.array(rng.standard_normal((STEP_BATCH, 3, STEP_IMAGE, STEP_IMAGE)).astype(numpy.float32))
    y = hb.np.array(rng.integers(0, 10, STEP_BATCH).astype(numpy.int32))
    t0 = time.perf_counter()
    step(x, y, batch_size=STEP_BATCH * comm.size)
    first = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        comm.barrier()
        t0 = time.perf_counter()
        step(x, y, batch_size=STEP_BATCH * comm.size)
        times.append(time.perf_counter() - t0)
    grad_bytes = sum(p.data().asnumpy().nbytes for p in trainer.trainable_params)
    return {"processes": comm.size, "first_s": first, "step_ms": 1e3 * median(times), "grad_bytes": grad_bytes,
            "samples_per_step": STEP_BATCH * comm.size, "buckets": step.ir().count("= allreduce(")}


# -- the driver ----------------------------------------------------------------------------------
def run_job(processes: int, *args: str) -> dict:
    from hybrid.distributed.launch import find_mpiexec

    env = dict(os.environ, HYBRID_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               HYBRID_DIST_BUCKET_MB="1",   # a few buckets, so the compiled step overlaps them with backward
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    cmd = [find_mpiexec(), "-n", str(processes), sys.executable, "-m", "bench.allreduce_bench", "--worker", *args]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=True).stdout
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="sizes up to 1 MiB and fewer steps")
    args = parser.parse_args()
    if args.worker is not None:
        what = args.worker[0]
        if what == "allreduce":
            result = allreduce_worker(args.worker[1:] == ["quick"])
        else:
            result = step_worker(int(args.worker[1]))
        from hybrid.distributed import world
        if world().rank == 0:
            print(json.dumps(result))
        return
    from bench.machine import cpu_info

    steps = "5" if args.quick else "10"
    result = {"machine": cpu_info(), "load_before": os.getloadavg()[0],
              "allreduce": run_job(2, "allreduce", *(["quick"] if args.quick else [])),
              "step": [run_job(1, "step", steps), run_job(2, "step", steps)],
              "load_after": os.getloadavg()[0]}
    with open(RESULTS, "w") as f:
        json.dump(result, f, indent=1)
    print(report(result))


def report(result: dict) -> str:
    lines = ["| message | hybrid allreduce (us) | raw MPI Allreduce (us) | algorithm bandwidth (GB/s) |",
             "|---:|---:|---:|---:|"]
    for row in result["allreduce"]["rows"]:
        size = row["bytes"]
        label = f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB" if size >= 1 << 10 else f"{size} B"
        bandwidth = size / row["hybrid_us"] / 1e3
        lines.append(f"| {label} | {row['hybrid_us']:.1f} | {row['mpi_us']:.1f} | {bandwidth:.3f} |")
    one, two = result["step"]
    efficiency = one["step_ms"] / two["step_ms"]
    lines += ["", "| processes | step (ms, median) | samples/s | weak-scaling efficiency |", "|---:|---:|---:|---:|",
              f"| 1 | {one['step_ms']:.1f} | {1e3 * one['samples_per_step'] / one['step_ms']:.1f} | 1.00 |",
              f"| 2 | {two['step_ms']:.1f} | {1e3 * two['samples_per_step'] / two['step_ms']:.1f} | {efficiency:.2f} |",
              "", f"gradient volume {two['grad_bytes'] / 1e6:.2f} MB in {two['buckets']} buckets; load average "
              f"{result['load_before']:.1f} before, {result['load_after']:.1f} after"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
