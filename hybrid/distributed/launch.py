"""`hybrid-launch -n 4 [--hostfile F] python train.py ...`: a thin wrapper over `mpiexec`.

It finds mpiexec (beside this Python, e.g. the mpich wheel's, else on PATH), gives every process
an equal share of the cores (HYBRID_NUM_THREADS, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS =
cores // processes per machine, at least 1, unless already set or given by --threads), and
forwards SIGINT/SIGTERM to mpiexec, which passes them on to every rank. Its exit status is the
job's; when a rank is killed, mpiexec names only its process id, so every rank records its pid in
a folder the launcher gives it (HYBRID_LAUNCH_DIR) and the launcher names the rank. (MPICH names the first
process it saw end: on a loaded host that can be a rank its own clean-up killed just after the one that died.)
Plain `mpiexec -n 4 python train.py` works the same; only the thread share is then yours.
"""
from __future__ import annotations

import argparse
import os
import re
import tempfile
import threading
import shutil
import signal
import subprocess
import sys
from typing import Optional, Sequence

from ..config import config

THREAD_VARS = ("HYBRID_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def find_mpiexec() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = beside if os.access(beside, os.X_OK) else shutil.which("mpiexec")
    if found is None:
        raise SystemExit("hybrid-launch: no mpiexec found beside this Python or on PATH; "
                         "pip install 'hybrid[dist]' (the mpich wheel provides one) or install an MPI")
    return found


def _is_open_mpi(mpiexec: str) -> bool:
    out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, check=False)
    return "Open MPI" in out.stdout + out.stderr


def hosts_in(hostfile: Optional[str]) -> int:
    """How many machines a hostfile names (1 without one): lines 'host[:slots]' or 'host slots=N'."""
    if hostfile is None:
        return 1
    with open(hostfile) as f:
        names = {line.split()[0].split(":")[0] for line in f if line.strip() and not line.lstrip().startswith("#")}
    return max(1, len(names))


def threads_per_process(processes: int, machines: int = 1, cores: Optional[int] = None) -> int:
    """An equal share of this machine's cores for each process placed on it."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    per_machine = -(-processes // machines)
    return max(1, cores // per_machine)


def thread_env(args: argparse.Namespace) -> dict[str, str]:
    """The thread settings every rank gets: --threads, else the caller's own, else an equal share."""
    share = str(args.threads or threads_per_process(args.n, hosts_in(args.hostfile)))
    return {var: share if args.threads is not None else os.environ.get(var, share) for var in THREAD_VARS}


def command(args: argparse.Namespace, mpiexec: str, env: dict[str, str]) -> list[str]:
    openmpi = _is_open_mpi(mpiexec)
    cmd = [mpiexec, "-n", str(args.n)]
    if args.hostfile:
        cmd += ["--hostfile" if openmpi else "-f", args.hostfile]
    for var, value in env.items():  # explicit, so ranks on other machines get them too
        cmd += ["-x", f"{var}={value}"] if openmpi else ["-genv", var, value]
    return cmd + list(args.mpiexec_args or []) + args.program


def parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hybrid-launch", description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--np", dest="n", type=int, required=True, help="number of processes")
    parser.add_argument("--hostfile", help="machines to run on (mpiexec's hostfile format)")
    parser.add_argument("--threads", type=int, help="threads per process (default: cores // processes)")
    parser.add_argument("--mpiexec-args", type=lambda s: s.split(), help="extra mpiexec arguments, quoted")
    parser.add_argument("program", nargs=argparse.REMAINDER, help="the command each process runs")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"-n must be at least 1, got {args.n}")
    if not args.program:
        parser.error("give the command to run, e.g. hybrid-launch -n 2 python train.py")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse(argv)
    threads = thread_env(args)
    with tempfile.TemporaryDirectory(prefix="hybrid-launch-") as pids:
        env = dict(os.environ, HYBRID_LAUNCH_DIR=pids, **threads)
        job = subprocess.Popen(command(args, find_mpiexec(), threads), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        for sig in FORWARDED_SIGNALS:
            signal.signal(sig, lambda number, _frame: job.send_signal(number))
        failed: list[str] = []
        relayed: list[str] = []
        relays = [threading.Thread(target=_relay, args=(stream, sink, failed, relayed), daemon=True)
                  for stream, sink in ((job.stdout, sys.stdout), (job.stderr, sys.stderr))]
        for relay in relays:
            relay.start()
        code = job.wait()
        for relay in relays:
            relay.join(timeout=5)
        for line in recorded_errors(pids):
            if line not in relayed:    # lost when MPI_Abort tore the job down before mpiexec forwarded it
                sys.stderr.write(line)
        for pid in failed:
            rank = rank_of_pid(pids, pid)
            sys.stderr.write(f"hybrid-launch: rank {rank} (pid {pid}) ended abnormally (exit status {code}); "
                             "every rank was stopped\n")
    return code if code >= 0 else 128 - code


_BAD_PID = re.compile(r"PID (\d+) RUNNING AT")   # MPICH's report of a rank that died


def _relay(stream, sink, failed: list[str], relayed: list[str]) -> None:
    """Copy the job's output through, noting the pids mpiexec reports as dead and the lines seen."""
    for raw in iter(stream.readline, b""):
        sink.buffer.write(raw)
        sink.flush()
        text = raw.decode(errors="replace")
        relayed.append(text)
        match = _BAD_PID.search(text)
        if match:
            failed.append(match.group(1))


def record_error(line: str) -> None:
    """Called by a rank about to abort the job: keep its message where the launcher will find it."""
    folder = config.get("launch_dir")
    if folder and os.path.isdir(folder):
        with open(os.path.join(folder, f"{os.getpid()}.error"), "w") as f:
            f.write(line)


def recorded_errors(folder: str) -> list[str]:
    """The messages of ranks that aborted the job (record_error), in pid order."""
    names = sorted((n for n in os.listdir(folder) if n.endswith(".error")), key=lambda n: int(n.split(".")[0]))
    lines = []
    for name in names:
        with open(os.path.join(folder, name)) as f:
            lines.append(f.read())
    return lines


def record_pid(rank: int) -> None:
    """Called by each rank: note which rank this process is, for the launcher's report."""
    folder = config.get("launch_dir")
    if folder and os.path.isdir(folder):
        with open(os.path.join(folder, str(os.getpid())), "w") as f:
            f.write(str(rank))


def rank_of_pid(folder: str, pid: str) -> str:
    try:
        with open(os.path.join(folder, pid)) as f:
            return f.read().strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
