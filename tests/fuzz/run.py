"""A long fuzz run that counts instead of stopping at the first mismatch.

    python -m tests.fuzz.run --programs 500 --seed 1 [--grads 0.25] [--no-cuda] [--out DIR]

Every program runs in every configuration; each program with a mismatch is written to DIR
as a pasteable script with the mismatches in a comment. Prints programs run, configurations,
mismatching programs and the time taken.

    python -m tests.fuzz.run --repro FILE     # rerun a saved (or pasted) program (its gradients too
                                              # when the file says GRADS = True)
"""
from __future__ import annotations

import argparse
import os
import runpy
import time

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.reliability.everywhere import configurations

from .check import check
from .programs import Program, program_source, programs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grads", type=float, default=0.25, help="share of programs that also check gradients")
    parser.add_argument("--max-steps", type=int, default=16)
    parser.add_argument("--no-cuda", action="store_true", help="leave out the CUDA emulator (g++ compiles are slow)")
    parser.add_argument("--out", default="fuzz-failures")
    parser.add_argument("--repro", help="rerun one saved program script")
    args = parser.parse_args()
    configs = configurations(cuda=not args.no_cuda)
    if args.repro:
        scope = runpy.run_path(args.repro)
        program = Program(inputs=scope["inputs"], training=scope.get("TRAINING", False),
                          grads=scope.get("GRADS", False), rounding=scope.get("ROUNDING", []))
        found = check(program, configs, fn=scope["program"])
        print("\n".join(found) or "no mismatch")
        return 1 if found else 0
    counts = {"programs": 0, "failing": 0, "mismatches": 0}
    start = time.time()

    @settings(max_examples=args.programs, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def one(data):
        grads = data.draw(st.integers(0, 99)) < args.grads * 100
        program = data.draw(programs(max_steps=args.max_steps, grads=grads))
        counts["programs"] += 1
        found = check(program, configs)
        if found:
            counts["failing"] += 1
            counts["mismatches"] += len(found)
            os.makedirs(args.out, exist_ok=True)
            path = os.path.join(args.out, f"program-{counts['programs']:05d}.py")
            with open(path, "w") as f:
                f.write(program_source(program) + "".join(f"# {m}\n" for m in found))
            print(f"mismatch in program {counts['programs']} -> {path}: {found[0]}", flush=True)
        if counts["programs"] % 100 == 0:
            print(f"{counts['programs']} programs, {counts['failing']} with mismatches, "
                  f"{time.time() - start:.0f} s", flush=True)

    import hypothesis
    hypothesis.seed(args.seed)(one)()
    print(f"{counts['programs']} programs x {len(configs)} configurations ({', '.join(configs)}), "
          f"{args.grads:.0%} with gradients: {counts['failing']} programs with {counts['mismatches']} mismatches "
          f"in {time.time() - start:.0f} s")
    return 1 if counts["failing"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
