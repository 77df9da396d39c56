"""Cold compile and warm start of W6 (ResNet-18, batch 8, 3x64x64) with hybrid-llvm, in a fresh process.

`python -m bench.warmstart CACHE_DIR` prints one JSON line: seconds to import hybrid, and to the first result
of the hybridized model (tracing + optimizing + compiling, or loading from the disk cache in CACHE_DIR), in wall
time and in CPU time (this process's and its compile workers', codegen/llvm/workers.py).
Run it twice with the same empty directory: the first run is the cold compile, the second the warm start.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time


def main(cache_dir: str) -> None:
    os.environ["HYBRID_CACHE_DIR"] = cache_dir
    start = time.perf_counter()
    import numpy
    import hybrid as hb
    from hybrid.model_zoo import ResNet18
    from hybrid.codegen.llvm import workers
    imported = time.perf_counter()
    net = ResNet18()
    net.initialize()
    net.hybridize(backend="llvm")
    x = hb.np.array(numpy.random.default_rng(0).standard_normal((8, 3, 64, 64), dtype=numpy.float32))
    built, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    numpy.asarray(net(x))
    first = time.perf_counter()
    cpu = time.process_time() - cpu
    workers.shutdown()   # a worker's CPU time counts in RUSAGE_CHILDREN once it has ended
    worker_cpu = _children_cpu() - children
    # CPU time of the first call (all threads: compiling, then running, plus the compile workers' processes):
    # what other jobs on a shared machine distort least; on an idle machine the wall time is about this over
    # the cores kept busy
    print(json.dumps({"import_s": imported - start, "build_s": built - imported, "first_call_s": first - built,
                      "first_call_cpu_s": cpu + worker_cpu, "worker_cpu_s": worker_cpu,
                      "compile_workers": hb.config.get("compile_workers")}))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(cache_dir: str, threads: int, timeout: float = 600) -> dict:
    """Run main() in a subprocess; returns its JSON, or {"error": reason}."""
    env = dict(os.environ, HYBRID_NUM_THREADS=str(threads))
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.warmstart", cache_dir], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        return {"error": lines[-1][:200] if lines else f"exit status {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main(sys.argv[1])
