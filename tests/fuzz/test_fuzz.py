"""The differential fuzzer (see programs.py, check.py): random programs over elementwise,
broadcast, reduction, layout, matmul, convolution, pooling, BatchNorm, Dropout and control-flow
(npx.cond, foreach, while_loop) ops, on every dtype with size-0 and 0-d arrays and NaN/inf
inputs, run eagerly, on interp, on llvm at each opt level and on the CUDA emulator, plus
gradients. A failure prints the shrunk program as a pasteable script (hypothesis's falsifying
example is the Program, whose repr is its source).

Default tier: a fixed-seed short run. Slow tier (-m slow): a longer one, also with fixed seeds,
so CI is a reproducible gate (a failure there is the same program on every rerun). Exploring new
programs is the job of the long run, which counts programs and mismatches instead of stopping at
the first: `python -m tests.fuzz.run --seed N` with a new N each time."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings

import pytest

from .check import check
from .programs import programs

QUICK = settings(max_examples=8, deadline=None, derandomize=True, database=None, print_blob=False,
                 suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
FAST_CONFIGS = ["eager", "interp", "llvm-O0", "llvm-O1", "llvm-O2", "llvm-O3"]


@QUICK
@given(programs(max_steps=8))
def test_programs_agree_everywhere(program):
    assert check(program, FAST_CONFIGS) == []


@settings(QUICK, max_examples=2)
@given(programs(max_steps=6))
def test_programs_agree_on_the_cuda_emulator(program):
    assert check(program, ["eager", "cuda-emu"]) == []


@settings(QUICK, max_examples=6)
@given(programs(max_steps=6, grads=True))
def test_gradients_agree(program):
    assert check(program, ["eager", "interp", "llvm-O2"]) == []


@pytest.mark.slow
@LONG
@given(programs(max_steps=16))
def test_programs_agree_everywhere_long(program):
    assert check(program) == []


@pytest.mark.slow
@settings(LONG, max_examples=100)
@given(programs(max_steps=10, grads=True))
def test_gradients_agree_long(program):
    assert check(program) == []
