"""The benchmark suite of the LLVM backend: `python -m bench.run [--quick]` (see bench/run.py)."""
