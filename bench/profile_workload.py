"""Profile one workload's compiled hybrid model: where each call's time goes, kernel by kernel.

    python -m bench.profile_workload W6 --calls 10 --output docs/profile.md

builds the workload's hybrid peer (default hybrid-llvm) as bench.run does, runs it once to compile,
then records `--calls` calls under hb.profiler and writes the table (and, with --trace, the Chrome
trace) with the host it ran on. The machine may be shared: times are of this run only.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys

from . import machine, workloads


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_workload", description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", help="W1, W2, W3, W5 or W6")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--peer", default="hybrid-llvm")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--output", help="a markdown file for the table (default: print only)")
    parser.add_argument("--trace", help="also write the Chrome trace here")
    args = parser.parse_args(argv)
    os.environ.setdefault("HYBRID_NUM_THREADS", str(args.threads))
    import hybrid as hb

    env = workloads.Env(args.threads, {args.peer})
    makers = dict((key, make) for key, make in workloads.all_workloads(env))
    workload = makers[args.workload]()
    run = workload.peers[args.peer]()
    run()
    with hb.profiler.profile() as p:
        for _ in range(args.calls):
            run()
    table = p.table(top=args.top)
    if args.trace:
        p.export_chrome_trace(args.trace)
    cpu = machine.cpu_info()
    calls = [e.dur_ns for e in p.events if e.category == "call"]
    header = [f"# Profile of {workload.key}: {workload.title} ({args.peer})", "",
              f"- command: `python -m bench.profile_workload {' '.join(argv if argv is not None else sys.argv[1:])}`",
              f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
              f"- machine: {cpu['cpu']} (LLVM target {cpu['llvm_cpu']}), {cpu['cores']} cores, vector flags: "
              f"{cpu['vector_flags']}; {args.threads} threads",
              f"- {len(calls)} calls, median {sorted(calls)[len(calls) // 2] / 1e6:.2f} ms per call; rows sum every "
              "call's time in that kernel; '%peak' is the larger of GFLOP/s / the measured peak FLOP/s and GB/s / "
              "the measured copy bandwidth (the kernel's distance from its roofline)",
              "- the machine is shared with other jobs: single numbers vary between runs", ""]
    text = "\n".join(header + ["```", table, "```", ""])
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
