"""Eager ops on large arrays run compiled single-op kernels (LLVM) instead of the NumPy reference.

An eager op qualifies when its kind is one the LLVM backend runs faster than NumPy (convolution,
pooling, elementwise, reduction: not matmul, which NumPy already hands to OpenBLAS at the same speed), every operand and result is float32, and it is big enough for
compiled code to pay: at least MIN_ELEMENTS result elements or MIN_FLOPS floating-point operations
(HYBRID_EAGER_COMPILE_MIN_ELEMENTS / _MIN_FLOPS). Below that, and for every other op, the
reference runs, so small-array calls keep NumPy's overhead.

The kernel is the op alone as a graph (one node, operands as inputs), optimized and built by the
LLVM backend, and kept in memory by (op, attributes, operand types); the backend's disk cache keeps
its object code, so a new process compiles nothing it compiled before. A signature is compiled the
second time it is seen (the first call runs the reference): a shape met once, as in a script that
builds its arrays step by step, never waits for LLVM. HYBRID_EAGER_COMPILE=0 (or
`hb.config(eager_compile=False)`) turns all of it off.

Results equal the reference within the tolerances docs/architecture.md states (compiled float32 code
sums in another order and uses its own exp/tanh/... : rtol 1e-4 for products and convolutions, plus an
absolute 5e-5 of the largest output magnitude for a convolution through Winograd; a few ulps for
elementwise math).
"""
from __future__ import annotations

import threading

from .. import log
from ..config import config
from ..codegen import build, workspace_rule
from ..core import dispatch
from ..ir.graph import Graph
from ..passes import optimize

KINDS = frozenset({"conv", "pool", "elementwise", "reduce"})
COSTLY = frozenset({"conv", "pool"})   # kinds whose FLOPs can be large for a small result
# ops whose compiled composition is slower than NumPy's libm loop (bench/numpy_speed.py measured
# log1p 7x and cbrt 15x NumPy's time compiled, 1.1x through the reference)
REFERENCE_FASTER = frozenset({"log1p", "cbrt"})
MIN_ELEMENTS = config.get("eager_compile_min_elements")
MIN_FLOPS = config.get("eager_compile_min_flops")
COMPILE_AFTER = 2     # uses of a signature before it is compiled


class EagerKernels:
    """The in-memory cache of compiled single-op kernels and the policy of when to use one."""

    def __init__(self):
        self.kernels: dict[tuple, object] = {}
        self.seen: dict[tuple, int] = {}
        self.lock = threading.Lock()

    def qualifies(self, sig) -> bool:
        """Whether the eager op of `sig` (a core.dispatch.Signature) is of a kind and dtype compiled code runs
        faster than the reference (its size aside)."""
        if sig.kind not in KINDS or sig.op in REFERENCE_FASTER:
            return False
        return all(t.dtype == "f32" for t in sig.in_types) and all(t.dtype == "f32" for t in sig.out_types)

    def run(self, sig, datas: list):
        """The op's results computed by a compiled kernel, or None: run the reference."""
        # small results of cheap ops leave first: this runs on every eager op (sig.flops: 0 but for conv,
        # matmul, pool; matmul does not qualify)
        if sig.size < MIN_ELEMENTS and sig.flops < MIN_FLOPS:
            return None
        if not self.qualifies(sig) or not config.get("eager_compile"):
            return None
        try:
            key = (sig.op, tuple(sorted(sig.attrs.items())), sig.in_types)
            exe = self.kernels.get(key)
        except TypeError:          # an unhashable attribute: no cache key
            return None
        if exe is None:
            exe = self._compile_when_due(key, sig.op, sig.in_types, sig.attrs)
            if exe is None:
                return None
        outs = exe(datas)
        return outs[0] if len(outs) == 1 else tuple(outs)

    __call__ = run

    def _compile_when_due(self, key: tuple, op: str, in_types, attrs: dict):
        with self.lock:
            count = self.seen.get(key, 0) + 1
            self.seen[key] = count
            if count < COMPILE_AFTER:
                return None
            exe = self.kernels.get(key)
            if exe is None:
                exe = self.kernels[key] = compile_op(op, in_types, attrs)
        return exe

    def clear(self) -> None:
        with self.lock:
            self.kernels.clear()
            self.seen.clear()


def compile_op(op: str, in_types, attrs: dict):
    """An LLVM executable computing `op` on operands of `in_types` (graph inputs x0, x1, ...)."""
    graph = Graph(f"eager_{op}")
    inputs = [graph.add_input(f"x{i}", t) for i, t in enumerate(in_types)]
    graph.outputs = list(graph.add_node(op, inputs, attrs).outputs)
    exe = build(optimize(graph, workspace_rule=workspace_rule("llvm")).graph, "llvm", profile=False)   # the eager op's own event covers the call
    log.log("compile", f"eager: compiled {op}({', '.join(str(t) for t in in_types)})")
    return exe


KERNELS = EagerKernels()
dispatch.eager_kernels = KERNELS.run     # the bound method: a cheaper call than the instance's __call__
