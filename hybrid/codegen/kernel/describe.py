"""The kernel description dataclasses that renderers consume: buffers, reductions, the
elementwise `Stage`, the batched `GemmStage`, and the `Kernel` that holds them."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy

from ...ir.types import TensorType
from .expr import E, ivar, walk
from .index_math import simplify


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
    (scratch owned by the kernel), const (a constant array baked into the kernel), check (an
    i64 scalar a `Check` reads after the call: placed where it outlives the kernel), view (a byte
    range of another buffer: llvm/chunking.py), prepacked (a parameter kept in GEMM panels by the
    LLVM runtime: llvm/prepack.py)."""
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


@dataclass(frozen=True)
class PoolGeometry:
    """What a pooling Stage computes, for backends that pool inside a convolution's output loop
    (llvm/conv_rewrite.py): max or average (`op`: max_pool2d | avg_pool2d) over `kernel` windows of its one
    NCHW operand, `stride` apart, `padding` zeros around (average: divided by the window's element count, or
    by the whole window with count_include_pad)."""
    op: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    count_include_pad: bool = True


@dataclass
class Stage:
    """out[vars] = expr for every index of `out` (vars[d] ranges over out.shape[d]). `pool`: set on the
    Stage of a max/avg pooling (its expr says the same; a backend may render it its own way)."""
    out: str
    vars: tuple[int, ...]
    expr: E
    pool: Optional[PoolGeometry] = None


@dataclass(frozen=True)
class ConvGeometry:
    """What a convolution's GemmStage computes, for backends with their own convolution kernels
    (llvm/conv_direct.py): `x` is the unpadded NCHW input buffer (N, C, H, W), `w` the weights
    (O, C/groups, KH, KW) read row-major (or a blocked image: `block`), `cols` the im2col buffer (None: the GEMM reads `x` in place)
    and `padded` the padded copy of `x` that only the im2col reads (None: no padding)."""
    x: str
    w: str
    cols: Optional[str]
    padded: Optional[str]
    in_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    block: int = 0      # conv2d_blocked: `x` is (N, C/block, H, W, block), padded already (in_shape: N, C, H, W)


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
    packed_b: Optional[str] = None   # LLVM: a buffer the runtime keeps B (a parameter) pre-packed in
    conv: Optional[ConvGeometry] = None   # set when the GEMM is a convolution (lowered by im2col)

    @property
    def flops(self) -> int:
        return 2 * self.M * self.N * self.K * int(numpy.prod(self.batch_shape, dtype=numpy.int64))


@dataclass
class SortStage:
    """out[r, :] = the stable sorting permutation (i64) of src[r, :] for each of `rows` rows of
    length n: NaNs last, ties in index order (NumPy's kind="stable"). `scratch` is an i64 buffer
    as large as `out` that the merge passes ping-pong through."""
    out: str
    src: str
    scratch: str
    rows: int
    n: int
    dtype: str

    def __str__(self) -> str:
        return f"{self.out} = argsort rows({self.src}: {self.rows} x {self.n} {self.dtype}) scratch {self.scratch}"


@dataclass
class LapackStage:
    """out[b, :] = the packed factors (hybrid/ir/ops/decomp.py) of the (m, n) matrix src[b] for
    each of `batch` matrices, computed by a LAPACK routine (hybrid/codegen/lapack.py): op "svd"
    (?gesdd, `full_matrices`) or "eigh" (?syevd, reading the triangle `uplo`). LAPACK works in column-major
    order and overwrites its input, so `a` (m*n) takes a transposed copy of each matrix and `u`,
    `vt` (svd only: U and Vh in column-major, m*mu and nv*n) receive the factors before they are
    transposed into `out`; `work` (lwork elements of dtype) and `iwork` (liwork i32) are the
    routine's workspaces, sized for this m, n by LAPACK's query. A complex `dtype` (c64, c128)
    means the buffers hold (re, im) pairs of reals (sizes count complex elements) and the routine
    also gets `rwork` (lrwork reals) and writes its real singular values / eigenvalues to `values`
    first (the packed output stores them with a zero imaginary part). Runs the matrices one after
    another on one thread. A matrix LAPACK fails on (no convergence) gets NaN factors."""
    op: str
    out: str
    src: str
    a: str
    u: Optional[str]
    vt: Optional[str]
    work: str
    iwork: str
    batch: int
    m: int
    n: int
    dtype: str
    lwork: int
    liwork: int
    full_matrices: bool = False
    uplo: str = "L"
    compute_uv: bool = True          # svd: False computes (and packs) the singular values only
    rwork: Optional[str] = None      # complex dtypes only
    lrwork: int = 0
    values: Optional[str] = None     # complex dtypes only, when the output packs complex factors

    def __str__(self) -> str:
        full = " full_matrices" if self.full_matrices else (f" uplo={self.uplo}" if self.op == "eigh" else "")
        full += "" if self.compute_uv else " values_only"
        return (f"{self.out} = lapack {self.op}{full}({self.src}: {self.batch} x {self.m}x{self.n} {self.dtype}) "
                f"scratch {self.a} {self.u} {self.vt} work {self.work}[{self.lwork}] iwork {self.iwork}[{self.liwork}]"
                + (f" rwork {self.rwork}[{self.lrwork}] values {self.values}" if self.rwork else ""))


@dataclass(frozen=True)
class Check:
    """A test of input values that eager code makes and compiled code must make too (an index
    inside its axis, an integer exponent not negative). The kernel's stages write the smallest
    (`low_buf`) and the largest (`high_buf`) value seen, each an i64 buffer of shape () with role
    "check" (None: that side needs no test); after the call the runtime passes them to `error`.
    Computing goes on with clamped values meanwhile, so a bad value never reads out of bounds."""
    op: str
    kind: str                  # "index" | "exponent"
    low: int                   # the valid values: low <= v <= high
    high: int
    low_buf: Optional[str]
    high_buf: Optional[str]
    loc: Optional[str]         # the user's source line of the node
    detail: str                # the operands, e.g. "axis 0 of a f32[4,3] array, indices i32[2]"

    def error(self, lowest: int, highest: int) -> Optional[Exception]:
        """The exception for the values seen (None when they are valid)."""
        from ...errors import DomainError, IndexOutOfRangeError

        bad = lowest if self.low_buf is not None and lowest < self.low else None
        if self.high_buf is not None and highest > self.high:
            bad = highest
        if bad is None:
            return None
        where = f"{self.op} at {self.loc}" if self.loc else f"{self.op} (no source line)"
        if self.kind == "index":
            return IndexOutOfRangeError(
                f"{where}: index {bad} is out of range [{self.low}, {self.high + 1}) for {self.detail}; eager "
                "hybrid raises here too (negative indices are not wrapped). Fix the indices (an Embedding's "
                "vocabulary size must exceed every token id); the call's outputs were discarded")
        return DomainError(
            f"{where}: integers to negative integer powers are not allowed (exponent {bad} in {self.detail}), "
            "as in NumPy; use a float base or non-negative exponents; the call's outputs were discarded")


def first_failure(checks: list, base: int) -> Optional[Exception]:
    """The error of the first failed check, or None. checks: (Check, offset of its low value or
    None, offset of its high value or None), offsets in bytes from `base`, where the kernels
    wrote the values seen as native i64."""
    for check, low_at, high_at in checks:
        lowest = ctypes.c_int64.from_address(base + low_at).value if low_at is not None else 0
        highest = ctypes.c_int64.from_address(base + high_at).value if high_at is not None else 0
        error = check.error(lowest, highest)
        if error is not None:
            return error
    return None


@dataclass
class Kernel:
    name: str
    buffers: dict[str, Buffer]
    stages: list = field(default_factory=list)
    extents: dict[int, int] = field(default_factory=dict)   # loop variable id -> extent
    constants: dict[str, numpy.ndarray] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

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
            elif isinstance(s, GemmStage):
                lines.append(f"  {s.out} = gemm(M={s.M}, N={s.N}, K={s.K}, {s.a}{'^T' if s.trans_a else ''}, "
                             f"{s.b}{'^T' if s.trans_b else ''}, batch={s.batch_shape}) epilogue {s.epilogue!r}")
            else:       # a backend's own stage kind (llvm: ChunkLoop, DirectConv)
                lines.append(f"  {s}")
        return "\n".join(lines)


def fresh_var(k: Kernel, extent: int) -> int:
    """A new loop variable of kernel `k` ranging over `extent`."""
    v = max(k.extents, default=0) + 1
    k.extents[v] = extent
    return v


def temp_buffer(k: Kernel, name: str, shape: tuple[int, ...], dtype: str = "f32") -> Buffer:
    """A new temp buffer of kernel `k`."""
    k.buffers[name] = Buffer(name, shape, dtype, "temp")
    return k.buffers[name]


def stage_over(k: Kernel, out: Buffer, body) -> Stage:
    """A stage over `out` whose value at fresh index vars is body(tuple of ivar E), simplified."""
    vars_ = tuple(fresh_var(k, d) for d in out.shape)
    return Stage(out.name, vars_, simplify(body(tuple(ivar(v) for v in vars_)), k.extents))


def stage_reads(stage, name: str) -> bool:
    """Whether a GemmStage (operands, epilogue) or a Stage loads buffer `name` (False for other stage kinds)."""
    if isinstance(stage, GemmStage):
        return name in (stage.a, stage.b) or stage.epilogue is not None and any(
            e.op == "load" and e.value == name for e in walk(stage.epilogue))
    return isinstance(stage, Stage) and any(e.op == "load" and e.value == name for e in walk(stage.expr))
