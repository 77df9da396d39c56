"""The distributed test tier: the tests marked `distributed`, run under mpiexec with 2 and with 3
processes (3 catches even-count assumptions), each run bounded by a timeout.

    python tests/distributed/run.py            # from the repository root; exit status 0 when all pass
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from hybrid.distributed.launch import find_mpiexec

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RUN_TIMEOUT_S = 300          # one whole mpiexec run; a hang anywhere ends here
COLLECTIVE_TIMEOUT_S = "60"  # one collective (HYBRID_DIST_TIMEOUT)


def run(processes: int) -> int:
    env = dict(os.environ, HYBRID_DIST_TIMEOUT=COLLECTIVE_TIMEOUT_S, HYBRID_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    cmd = [find_mpiexec(), "-n", str(processes), sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-m", "distributed", HERE]
    start = time.monotonic()
    try:
        code = subprocess.run(cmd, cwd=ROOT, env=env, timeout=RUN_TIMEOUT_S, check=False).returncode
    except subprocess.TimeoutExpired:
        print(f"distributed tier: mpiexec -n {processes} did not finish within {RUN_TIMEOUT_S} s", file=sys.stderr)
        return 1
    print(f"distributed tier: mpiexec -n {processes}: exit status {code} in {time.monotonic() - start:.1f} s")
    return code


def main() -> int:
    return max(run(n) for n in (2, 3))


if __name__ == "__main__":
    sys.exit(main())
