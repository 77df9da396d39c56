"""float16 arithmetic rounds after every operation on every host, also where the CPU has native half
arithmetic (avx512fp16): there LLVM narrows widened ops back to half instructions, and a `contract` flag
would let it fuse x*y + z into one fma (one rounding instead of two)."""
from __future__ import annotations

import re

import numpy
import pytest

from hybrid import passes
from hybrid.codegen.llvm import module

from test_llvm_util import HOST_KINDS, assembly, compare, graph_of, op

FP16_HOST = ("sapphirerapids", HOST_KINDS[0][1] + ",+avx512fp16,+f16c,-prefer-256-bit")


def _chain():
    """x*y + x/y - y in float16 (the products and quotients must round to half before the sum)."""
    return graph_of({"x": ((256,), "f16"), "y": ((256,), "f16")},
                    lambda g, x, y: [op(g, "sub", op(g, "add", op(g, "mul", x, y), op(g, "div", x, y)), y)])


def test_half_chain_rounds_every_operation_like_interp():
    rng = numpy.random.default_rng(3)
    x = rng.uniform(-4, 4, 256).astype(numpy.float16)
    y = rng.uniform(0.5, 3, 256).astype(numpy.float16)
    compare(_chain(), [x, y], rtol=0, atol=0)


@pytest.mark.parametrize("cpu, features", [FP16_HOST] + [kind[:2] for kind in HOST_KINDS])
def test_no_fused_multiply_add_in_half(cpu, features):
    asm = assembly(lambda triple: module.build_module(passes.optimize(_chain()).graph, triple).ir, cpu, features)
    assert not [line for line in asm if re.search(r"vfn?m(add|sub)\w*(ph|ps|ss|sh)\b", line)]
    if cpu == "sapphirerapids":   # the check means something: this target does half arithmetic natively
        assert [line for line in asm if re.search(r"\bv(mul|div)ph\b", line)]
