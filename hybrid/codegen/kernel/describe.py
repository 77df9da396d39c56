"""The kernel description dataclasses that renderers consume: buffers, reductions, the
elementwise `Stage`, the batched `GemmStage`, and the `Kernel` that holds them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy

from ...ir.types import TensorType
from .expr import E


@dataclass(frozen=True)
class Reduction:
    """A reduction over loop variables `vars` (extents `extents`) of the body expression.
    combine: add | mul | max | min (NaN-propagating, as NumPy) | argmax (first max or first
    NaN, flat index over `vars`, i32). Renderers accumulate long float sums in blocks (the
    LLVM backend: blocks of 256, each summed with a reassociable, vectorized add, the block
    sums added in order), so the error grows with n/256 + 256 rather than n."""
    combine: str
    identity: Any
    vars: tuple[int, ...]
    extents: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.combine} over {', '.join(f'v{v}<{e}' for v, e in zip(self.vars, self.extents))}"


@dataclass(frozen=True)
class Buffer:
    """A dense row-major buffer. role: input (kernel operand i), output (result i), temp
    (scratch owned by the kernel), const (a constant array baked into the kernel)."""
    name: str
    shape: tuple[int, ...]
    dtype: str
    role: str
    index: int = 0

    @property
    def size(self) -> int:
        return TensorType(self.shape, self.dtype).size

    @property
    def nbytes(self) -> int:
        return TensorType(self.shape, self.dtype).nbytes

    def strides(self) -> tuple[int, ...]:
        """Element strides."""
        out, acc = [], 1
        for d in reversed(self.shape):
            out.append(acc)
            acc *= d
        return tuple(reversed(out))


@dataclass
class Stage:
    """out[vars] = expr for every index of `out` (vars[d] ranges over out.shape[d])."""
    out: str
    vars: tuple[int, ...]
    expr: E


@dataclass
class GemmStage:
    """For each batch index b (over batch_shape, vars batch_vars):
    C_b = op(A_b) @ op(B_b), A_b at a + sum(b*a_strides) (row-major, leading dim lda, M x K
    after op), likewise B (K x N), C (M x N, ldc). `epilogue` (over batch_vars + (m_var,
    n_var), reading the product with `acc`) gives the value stored at each C element;
    None stores the product."""
    out: str
    a: str
    b: str
    M: int
    N: int
    K: int
    trans_a: bool
    trans_b: bool
    lda: int
    ldb: int
    ldc: int
    batch_shape: tuple[int, ...]
    a_strides: tuple[int, ...]
    b_strides: tuple[int, ...]
    c_strides: tuple[int, ...]
    batch_vars: tuple[int, ...]
    m_var: int
    n_var: int
    epilogue: Optional[E] = None
    out_index: tuple = ()     # the output buffer index of element (batch_vars, m_var, n_var)
    packed_a: Optional[str] = None   # LLVM: a temp holding A pre-packed once per call (llvm/prepack.py)

    @property
    def flops(self) -> int:
        return 2 * self.M * self.N * self.K * int(numpy.prod(self.batch_shape, dtype=numpy.int64))


@dataclass
class Kernel:
    name: str
    buffers: dict[str, Buffer]
    stages: list = field(default_factory=list)
    extents: dict[int, int] = field(default_factory=dict)   # loop variable id -> extent
    constants: dict[str, numpy.ndarray] = field(default_factory=dict)

    def by_role(self, role: str) -> list[Buffer]:
        return sorted((b for b in self.buffers.values() if b.role == role), key=lambda b: b.index)

    @property
    def inputs(self) -> list[Buffer]:
        return self.by_role("input")

    @property
    def outputs(self) -> list[Buffer]:
        return self.by_role("output")

    @property
    def temps(self) -> list[Buffer]:
        return self.by_role("temp")

    def __str__(self) -> str:
        lines = [f"kernel {self.name}:"]
        for b in self.buffers.values():
            lines.append(f"  {b.role} {b.name}: {TensorType(b.shape, b.dtype)}")
        for s in self.stages:
            if isinstance(s, Stage):
                lines.append(f"  {s.out}[{', '.join(f'v{v}' for v in s.vars)}] = {s.expr!r}")
            else:
                lines.append(f"  {s.out} = gemm(M={s.M}, N={s.N}, K={s.K}, {s.a}{'^T' if s.trans_a else ''}, "
                             f"{s.b}{'^T' if s.trans_b else ''}, batch={s.batch_shape}) epilogue {s.epilogue!r}")
        return "\n".join(lines)
