"""Render a `kernel.Kernel` as LLVM IR functions.

Stages of `render_kernel`:
  1. one function per kernel: a pointer per buffer (noalias: the arena planner never gives
     two live buffers of a kernel the same bytes), then (tid, nthreads, barrier)
  2. each Stage becomes a loop nest: the leading dims are flattened into one range split
     by thread id, the rest are nested loops, the innermost over the contiguous last dim
     (so the loop vectorizer sees unit-stride loads and stores); trailing dims that every
     read walks row-major run as one flat loop; a reduction over leading axes runs with
     its loops interchanged (the output row updated once per reduced row)
  3. expressions render to SSA values; reductions open their own loops (sums in blocks of
     BLOCK with a reassociable add, so they vectorize and stay accurate)
  4. a GemmStage calls hybrid_sgemm once per batch index with a generated epilogue
     callback (or loops for non-f32 dtypes); a ChunkLoop (chunking.py) alternates im2col
     and GEMM over batch chunks; a barrier precedes any stage that is, or follows one that
     is, split across threads (small stages run on thread 0 alone)
"""
from __future__ import annotations

import contextlib
import math
from typing import Optional

from ..kernel import Buffer, E, GemmStage, Kernel, LapackStage, SortStage, Stage, cast, flat_affine, walk
from . import gemm
from .chunking import ChunkLoop
from .conv_direct import DirectConv, PackInput, render_direct, render_pack
from .conv_winograd import WinogradConv, render_winograd
from .emit import BITS, MEM, REG, SIGNED, Fn, is_float, lit
from .prepack import matrix_count, packed_strides
from .lapack import render_lapack
from .sort import render_sort, sort_parallel
from .support import round_to_bf16

BLOCK = 256            # inner block of a blocked float sum (block sums added in order)
# Work below which a stage runs on thread 0 alone: splitting it would cost more in the barrier
# (and, on a busy machine, in waiting for the other threads to be scheduled) than it saves.
PARALLEL_MIN = 1 << 18      # elements x per-element cost of a loop stage
GEMM_PARALLEL_MIN = 1 << 22  # flops of a GEMM stage
# Rows of at most SHORT_ROW elements get MAX_NESTED nested loops between the split dims and the innermost
# loop, which then index without div/mod (LeNet's conv2 im2col, 8-float rows: 380 -> 175 us; LeNet-5
# 1.29 -> 0.84 ms with its 28-float rows too). Nesting more, or the 32-64-float rows of ResNet-18 too,
# made O3 compile ResNet-18 5.9 s instead of 3.4 s (4.1-4.4 s as set) for little gain.
SHORT_ROW = 28
MAX_NESTED = 1
SPLIT_ROWS = 256       # rows of a stage's outer loop to share out among threads (even with 16, 6% imbalance)
GEMM_BATCH_SPLIT_MAX = 1 << 24  # flops per product below which threads split a batch, not each product
LIBM_F64 = {"exp": "exp", "expm1": "expm1", "log": "log", "log1p": "log1p", "tanh": "tanh", "erf": "erf", "sin": "sin",
            "cos": "cos", "pow": "pow"}
_FSUFFIX = {"f16": "f16", "bf16": "bf16", "f32": "f32", "f64": "f64"}
# Float reductions add with `reassoc` so the loop vectorizer keeps partial sums. A short loop is
# unrolled instead, and reassoc then lets LLVM factor its terms: x0/b + x1/b became (x0 + x1)/b,
# which is 0 where the terms are inf and -inf (NaN), or overflows where none does. So the terms of
# loops up to this length (LLVM unrolled up to 65 in tests; vectorizing them buys little) pass
# through llvm.arithmetic.fence, which forbids that; longer loops vectorize (the fence would stop it).
# A term whose value is an opaque function of its operands (a load, exp(...), log(...)) shares no
# factor with the other terms, so it is not fenced: softmax's sum of exp over a 128-wide row
# vectorizes (BERT's attention rows: 5x faster than the scalar loop the fence forced).
FENCED_EXTENT = 128
UNFACTORABLE_TERMS = frozenset({"load", "exp", "expm1", "log", "log1p", "tanh", "erf", "sin", "cos"})
ACCUMULATE = {"f16": "f32", "bf16": "f32"}   # accumulator dtype of sums, products and GEMMs, where wider than the data


# An elementwise loop over an exp/log/tanh/... expression is a long dependency chain per vector (range
# reduction, polynomial, scaling: ~50 cycles of latency for exp on znver1) that LLVM's cost model leaves at
# one vector per iteration; the out-of-order window then holds too few iterations to overlap them. Four
# interleaved vectors per iteration fill it: W3's chain over 8M floats 14 -> 11 ms of CPU, exp alone
# 10.5 -> 8.1 ms (znver1, bench/RESULTS.md "kern7"). Loops shorter than INTERLEAVE_MIN elements keep
# LLVM's choice (the interleaved body would leave most of a short row to the scalar remainder).
INTERLEAVE = 4
INTERLEAVE_MIN = 1024
# The loop-ID node those loops share (LLVM gives a loop it transforms a fresh ID, so sharing is safe);
# numbered far above anything else a module defines.
INTERLEAVE_ID = "!9000"
INTERLEAVE_MD = f'{INTERLEAVE_ID} = distinct !{{{INTERLEAVE_ID}, !9001}}\n' \
                f'!9001 = !{{!"llvm.loop.interleave.count", i32 {INTERLEAVE}}}\n'


class ModuleState:
    """What rendered functions need declared or defined once per module."""

    def __init__(self):
        self.declares: set[str] = set()
        self.math: set[str] = set()
        self.ipow: set[str] = set()
        self.functions: list[str] = []
        self.defined: set[str] = set()     # names of helper functions already in `functions`
        self.metadata: list[str] = []      # module-level metadata (loop IDs): every part of a split module needs it
        self.uses_sgemm = False
        self.uses_lapack = False         # calls LAPACK routines of scipy-openblas32 (lapack.py)
        self.any_parallel = False

    def intrinsic(self, name: str, ret: str, *args: str) -> str:
        self.declares.add(f"declare {ret} @{name}({', '.join(args)})")
        return f"@{name}"

    def interleave_id(self) -> str:
        """The loop-ID node asking for INTERLEAVE vectors per iteration (defined once per module)."""
        if INTERLEAVE_MD not in self.metadata:
            self.metadata.append(INTERLEAVE_MD)
        return INTERLEAVE_ID


class ExprRenderer:
    """Emits the SSA form of kernel expressions into `fn`; env maps loop var ids to i64 regs."""

    def __init__(self, fn: Fn, mod: ModuleState, kernel: Kernel, ptrs: dict[str, str], env: dict):
        self.fn, self.mod, self.kernel, self.ptrs, self.env = fn, mod, kernel, ptrs, env
        self.memo: dict[int, str] = {}
        self.affine: dict[int, dict] = {}   # id(load) -> linear offset (see render_stage)

    # -- entry ---------------------------------------------------------------------------
    def value(self, e: E) -> str:
        got = self.memo.get(id(e))
        if got is not None:
            return got
        if e.op == "reduce":
            r = self.reduce(e)
        else:
            r = self.compute(e)
        self.memo[id(e)] = r
        return r

    def compute(self, e: E) -> str:
        fn, op, t = self.fn, e.op, e.dtype
        if op == "const":
            return lit(e.value, t)
        if op == "ivar":
            return self.env[e.value]
        if op == "acc":
            return self.env["acc"]
        if op == "load":
            if id(e) in self.affine:
                return self.load_at(self.kernel.buffers[e.value], self.linear(self.affine[id(e)]))
            return self.load(self.kernel.buffers[e.value], [self.value(a) for a in e.args])
        if t in ("f32", "f16", "bf16"):
            x = _sigmoid_operand(e)
            if x is not None:
                return self.call_math("sigmoid", [self.value(x)], t)
            u = _one_plus_tanh_operand(e)
            if u is not None:   # 1 + tanh(u) = 2 sigmoid(2u): no cancellation for u << 0, and cheaper
                two = lit(2.0, t)
                s = self.call_math("sigmoid", [self.float_op("mul", [self.value(u), two], t)], t)
                return self.float_op("mul", [s, two], t)
        args = [self.value(a) for a in e.args]
        at = e.args[0].dtype if e.args else t
        ty = REG[t]
        if op == "cast":
            return self.cast(args[0], at, t)
        if op == "bitcast":
            return self.bitcast(args[0], at, t)
        if op == "select":
            return fn.op(f"select i1 {args[0]}, {ty} {args[1]}, {ty} {args[2]}")
        if op in ("lt", "le", "gt", "ge", "eq", "ne"):
            return self.compare(op, args, at)
        if op in ("and", "or"):
            return fn.op(f"{op} i1 {args[0]}, {args[1]}")
        if op == "not":
            return fn.op(f"xor i1 {args[0]}, true")
        if op == "idiv":
            return fn.op(f"sdiv i64 {args[0]}, {args[1]}")
        if op == "shr":
            return fn.op(f"lshr {ty} {args[0]}, {args[1]}")
        if op == "threefry":
            return self.threefry(*args)
        if is_float(t):
            return self.float_op(op, args, t)
        return self.int_op(op, args, t)

    # -- memory --------------------------------------------------------------------------
    def offset(self, buf: Buffer, index: list[str]) -> str:
        off = None
        for reg, stride in zip(index, buf.strides()):
            if reg == "0":
                continue
            term = reg if stride == 1 else self.fn.op(f"mul nsw i64 {reg}, {stride}")
            off = term if off is None else self.fn.op(f"add nsw i64 {off}, {term}")
        return off or "0"

    def linear(self, lin: dict) -> str:
        """The i64 value of {var: coefficient, None: constant} in the current environment."""
        off = None
        for v, c in lin.items():
            if v is None or c == 0:
                continue
            reg = self.env[v]
            term = reg if c == 1 else self.fn.op(f"mul nsw i64 {reg}, {c}")
            off = term if off is None else self.fn.op(f"add nsw i64 {off}, {term}")
        const = lin.get(None, 0)
        if const:
            off = str(const) if off is None else self.fn.op(f"add nsw i64 {off}, {const}")
        return off or "0"

    def load(self, buf: Buffer, index: list[str]) -> str:
        return self.load_at(buf, self.offset(buf, index))

    def load_at(self, buf: Buffer, offset: str) -> str:
        p = self.fn.op(f"getelementptr inbounds {MEM[buf.dtype]}, ptr {self.ptrs[buf.name]}, i64 {offset}")
        v = self.fn.op(f"load {MEM[buf.dtype]}, ptr {p}")
        if buf.dtype == "bool":
            v = self.fn.op(f"icmp ne i8 {v}, 0")
        return v

    def store(self, buf: Buffer, index: list[str], v: str) -> None:
        self.store_at(buf, self.offset(buf, index), v)

    def store_at(self, buf: Buffer, offset: str, v: str) -> None:
        p = self.fn.op(f"getelementptr inbounds {MEM[buf.dtype]}, ptr {self.ptrs[buf.name]}, i64 {offset}")
        if buf.dtype == "bool":
            v = self.fn.op(f"zext i1 {v} to i8")
        self.fn.do(f"store {MEM[buf.dtype]} {v}, ptr {p}")

    # -- scalar ops ----------------------------------------------------------------------
    def cast(self, v: str, src: str, dst: str) -> str:
        fn = self.fn
        if src == dst or REG[src] == REG[dst] and src != "bool" and dst != "bool" and not is_float(src):
            return v
        if dst == "bool":
            if is_float(src):
                return fn.op(f"fcmp une {REG[src]} {v}, {lit(0.0, src)}")
            return fn.op(f"icmp ne {REG[src]} {v}, 0")
        if {src, dst} == {"f16", "bf16"}:   # two 16-bit formats: through float
            return self.cast(self.cast(v, src, "f32"), "f32", dst)
        if dst == "bf16":
            return self.to_bf16(v, src)
        if src == "bf16" and dst != "f32":
            return self.cast(self.widen(v, src), "f32", dst)
        if src == "f64" and dst == "f16":
            return fn.op(f"fptrunc float {self.f64_to_f32_odd(v)} to half")
        if dst == "f32" and src in ("f16", "bf16"):
            return self.widen(v, src)
        if is_float(src) and is_float(dst):
            order = ("f16", "bf16", "f32", "f64")
            kind = "fpext" if order.index(dst) > order.index(src) else "fptrunc"
            return fn.op(f"{kind} {REG[src]} {v} to {REG[dst]}")
        if is_float(src):
            return self.float_to_int(v, src, dst)
        if is_float(dst):
            return fn.op(f"{'sitofp' if src in SIGNED else 'uitofp'} {REG[src]} {v} to {REG[dst]}")
        sb, db = BITS[src], BITS[dst]
        if sb == db:
            return v
        if db < sb:
            return fn.op(f"trunc {REG[src]} {v} to {REG[dst]}")
        return fn.op(f"{'sext' if src in SIGNED else 'zext'} {REG[src]} {v} to {REG[dst]}")

    def bitcast(self, v: str, src: str, dst: str) -> str:
        """The same bits as another dtype of their width; bool is one byte holding 0 or 1."""
        if src == "bool":
            return self.fn.op(f"zext i1 {v} to {REG[dst]}")
        if dst == "bool":
            return self.fn.op(f"icmp ne {REG[src]} {v}, 0")
        return v if REG[src] == REG[dst] else self.fn.op(f"bitcast {REG[src]} {v} to {REG[dst]}")

    def f64_to_f32_odd(self, v: str) -> str:
        """double -> float rounded to odd (truncate, then set the last bit if inexact), so that a
        second rounding to half or bfloat16 is exact (float keeps 13 and 16 more bits than they
        do); double -> float -> half by two nearest roundings would round twice. A direct fptrunc
        to half or bfloat calls a compiler-rt helper that MCJIT does not link (a crash)."""
        fn = self.fn
        r = fn.op(f"fptrunc double {v} to float")
        back = fn.op(f"fpext float {r} to double")
        inexact = fn.op(f"fcmp one double {back}, {v}")    # false for NaN and exact values
        fabs = self.mod.intrinsic("llvm.fabs.f64", "double", "double")
        ra, va = fn.op(f"call double {fabs}(double {back})"), fn.op(f"call double {fabs}(double {v})")
        away = fn.op(f"fcmp ogt double {ra}, {va}")
        bits = fn.op(f"bitcast float {r} to i32")
        down = fn.op(f"sub i32 {bits}, {fn.op(f'zext i1 {away} to i32')}")   # toward zero when rounded away
        odd = fn.op(f"or i32 {down}, 1")
        return fn.op(f"bitcast i32 {fn.op(f'select i1 {inexact}, i32 {odd}, i32 {bits}')} to float")

    def u64_to_f64_odd(self, m: str) -> str:
        """An unsigned 64-bit integer -> double rounded to odd: its two 32-bit halves are exact
        doubles; their rounded sum and its exact error (Fast2Sum: the high half is the larger)
        say whether, and which way, the sum was rounded."""
        fn = self.fn
        top = fn.op(f"uitofp i64 {fn.op(f'lshr i64 {m}, 32')} to double")
        hi = fn.op(f"fmul double {top}, {lit(2.0 ** 32, 'f64')}")
        lo = fn.op(f"uitofp i64 {fn.op(f'and i64 {m}, 4294967295')} to double")
        s = fn.op(f"fadd double {hi}, {lo}")
        err = fn.op(f"fsub double {lo}, {fn.op(f'fsub double {s}, {hi}')}")
        bits = fn.op(f"bitcast double {s} to i64")
        above = fn.op(f"fcmp olt double {err}, 0.0")          # the sum was rounded up
        down = fn.op(f"sub i64 {bits}, {fn.op(f'zext i1 {above} to i64')}")
        odd = fn.op(f"or i64 {down}, 1")
        inexact = fn.op(f"fcmp one double {err}, 0.0")
        return fn.op(f"bitcast i64 {fn.op(f'select i1 {inexact}, i64 {odd}, i64 {bits}')} to double")

    def widen(self, v: str, src: str) -> str:
        """A half or bfloat16 value as the float it equals. bfloat16 widens by integer ops on its
        bits: from an `fpext bfloat`, LLVM narrows exact float ops (max, min, fabs) back into
        bfloat arithmetic, which it lowers through a compiler-rt helper that MCJIT does not link
        on hosts without AVX512-BF16 (a crash) and through instructions that flush subnormals on
        hosts with it."""
        fn = self.fn
        if src == "f16":
            return fn.op(f"fpext half {v} to float")
        bits = fn.op(f"zext i16 {fn.op(f'bitcast bfloat {v} to i16')} to i32")
        return fn.op(f"bitcast i32 {fn.op(f'shl i32 {bits}, 16')} to float")

    def to_bf16(self, v: str, src: str) -> str:
        """Any dtype -> bfloat16, rounded once to nearest even as ml_dtypes does: exactly to float
        (doubles rounded to odd), then support.round_to_bf16."""
        fn = self.fn
        if src == "bool":
            v, src = fn.op(f"uitofp i1 {v} to float"), "f32"
        elif src in ("i64", "u64"):
            neg = fn.op(f"icmp slt i64 {v}, 0") if src == "i64" else "false"
            mag = fn.op(f"select i1 {neg}, i64 {fn.op(f'sub i64 0, {v}')}, i64 {v}")
            d = self.u64_to_f64_odd(mag)
            v, src = fn.op(f"select i1 {neg}, double {fn.op(f'fneg double {d}')}, double {d}"), "f64"
        elif not is_float(src):     # at most 32 bits: exact in double
            v, src = fn.op(f"{'sitofp' if src in SIGNED else 'uitofp'} {REG[src]} {v} to double"), "f64"
        if src == "f64":
            v = self.f64_to_f32_odd(v)
        elif src == "f16":
            v = self.widen(v, src)
        return round_to_bf16(fn, v)

    def float_to_int(self, v: str, src: str, dst: str) -> str:
        """NumPy's float -> int cast (hybrid.ir.ops.elementwise.float_to_int): truncate, then
        i8/u8/i16/u16/i32 go through i32 and i64/u32 through i64; a value outside that range (NaN,
        +-inf) gives its minimum (u32: 0). u64: through i64 below 2**63, fptoui in [2**63, 2**64),
        else 2**63. fptosi alone would be poison out of range, which let fusion change values; a
        select of the in-range result never yields the poison of the other operand."""
        fn = self.fn
        if src in ("f16", "bf16"):
            v, src = self.widen(v, src), "f32"
        wide = "i64" if dst in ("i64", "u32", "u64") else "i32"
        lo, hi = -float(1 << (BITS[wide] - 1)), float(1 << (32 if dst == "u32" else BITS[wide] - 1))
        ge = fn.op(f"fcmp oge {REG[src]} {v}, {lit(lo, src)}")
        lt = fn.op(f"fcmp olt {REG[src]} {v}, {lit(hi, src)}")
        inside = fn.op(f"and i1 {ge}, {lt}")
        t = fn.op(f"fptosi {REG[src]} {v} to {wide}")
        outside = 0 if dst == "u32" else lit(lo, wide)
        if dst == "u64":
            upper = fn.op(f"and i1 {fn.op(f'fcmp oge {REG[src]} {v}, {lit(hi, src)}')}, "
                          f"{fn.op(f'fcmp olt {REG[src]} {v}, {lit(2.0 ** 64, src)}')}")
            outside = fn.op(f"select i1 {upper}, i64 {fn.op(f'fptoui {REG[src]} {v} to i64')}, i64 {lit(lo, wide)}")
        out = fn.op(f"select i1 {inside}, {wide} {t}, {wide} {outside}")
        return out if BITS[dst] == BITS[wide] else fn.op(f"trunc {wide} {out} to {REG[dst]}")

    def compare(self, op: str, args: list[str], t: str) -> str:
        if is_float(t):
            cc = {"lt": "olt", "le": "ole", "gt": "ogt", "ge": "oge", "eq": "oeq", "ne": "une"}[op]
            return self.fn.op(f"fcmp {cc} {REG[t]} {args[0]}, {args[1]}")
        if op in ("eq", "ne"):
            cc = op
        else:
            cc = ("s" if t in SIGNED else "u") + {"lt": "lt", "le": "le", "gt": "gt", "ge": "ge"}[op]
        return self.fn.op(f"icmp {cc} {REG[t]} {args[0]}, {args[1]}")

    def call_math(self, name: str, args: list[str], t: str) -> str:
        fn = self.fn
        if t == "f32":
            self.mod.math.add(name)
            return fn.op(f"call float @hb_{name}_f32({', '.join('float ' + a for a in args)})")
        if t in ("f16", "bf16"):
            wide = [self.widen(a, t) for a in args]
            return self.cast(self.call_math(name, wide, "f32"), "f32", t)
        f = self.mod.intrinsic(LIBM_F64[name], "double", *["double"] * len(args))
        return fn.op(f"call double {f}({', '.join('double ' + a for a in args)})")

    def float_op(self, op: str, a: list[str], t: str, contract: bool = True) -> str:
        fn, ty, sfx = self.fn, REG[t], _FSUFFIX[t]
        if t in ("bf16", "f16"):
            # computed in float and rounded after every operation (ml_dtypes, NumPy's half loops); never by
            # LLVM's bfloat lowering (a helper MCJIT lacks). Not `contract`: LLVM narrows a widened half op
            # back to native half arithmetic (avx512fp16) and would then fuse x*y + z, skipping a rounding
            wide = [self.widen(x, t) for x in a]
            return self.cast(self.float_op(op, wide, "f32", contract=False), "f32", t)
        simple = {"add": "fadd", "sub": "fsub", "mul": "fmul", "div": "fdiv"}
        if op in simple:
            # `contract`: a product feeding a sum may become one fma (one rounding instead of two)
            return fn.op(f"{simple[op]}{' contract' if contract else ''} {ty} {a[0]}, {a[1]}")
        if op == "neg":
            return fn.op(f"fneg {ty} {a[0]}")
        if op in ("max", "min"):
            f = self.mod.intrinsic(f"llvm.{op}imum.{sfx}", ty, ty, ty)
            return fn.op(f"call {ty} {f}({ty} {a[0]}, {ty} {a[1]})")
        unary_intr = {"abs": "fabs", "sqrt": "sqrt", "floor": "floor", "ceil": "ceil", "round": "roundeven"}
        if op in unary_intr:
            f = self.mod.intrinsic(f"llvm.{unary_intr[op]}.{sfx}", ty, ty)
            return fn.op(f"call {ty} {f}({ty} {a[0]})")
        if op == "rsqrt":
            f = self.mod.intrinsic(f"llvm.sqrt.{sfx}", ty, ty)
            s = fn.op(f"call {ty} {f}({ty} {a[0]})")
            return fn.op(f"fdiv {ty} {lit(1.0, t)}, {s}")
        if op in LIBM_F64:
            return self.call_math(op, a, t)
        if op == "floordiv":
            return self.float_floordiv(a, t)
        if op == "mod":   # NumPy: the result takes the divisor's sign
            r = fn.op(f"frem {ty} {a[0]}, {a[1]}")
            nz = fn.op(f"fcmp une {ty} {r}, {lit(0.0, t)}")
            rneg = fn.op(f"fcmp olt {ty} {r}, {lit(0.0, t)}")
            bneg = fn.op(f"fcmp olt {ty} {a[1]}, {lit(0.0, t)}")
            diff = fn.op(f"xor i1 {rneg}, {bneg}")
            fix = fn.op(f"and i1 {nz}, {diff}")
            adj = fn.op(f"fadd {ty} {r}, {a[1]}")
            return fn.op(f"select i1 {fix}, {ty} {adj}, {ty} {r}")
        raise NotImplementedError(f"LLVM backend: scalar op {op!r} on {t}")

    def float_floordiv(self, a: list[str], t: str) -> str:
        """NumPy's floor_divide for floats: (a - fmod(a, b)) / b, moved down one where the remainder's
        sign differs from b's, then rounded to the nearest integer; a / b where b == 0."""
        fn, ty = self.fn, REG[t]
        zero, one = lit(0.0, t), lit(1.0, t)
        m = fn.op(f"frem {ty} {a[0]}, {a[1]}")
        d = fn.op(f"fdiv {ty} {fn.op(f'fsub {ty} {a[0]}, {m}')}, {a[1]}")
        mneg = fn.op(f"fcmp olt {ty} {m}, {zero}")
        bneg = fn.op(f"fcmp olt {ty} {a[1]}, {zero}")
        fix = fn.op(f"and i1 {fn.op(f'fcmp une {ty} {m}, {zero}')}, {fn.op(f'xor i1 {mneg}, {bneg}')}")
        d = fn.op(f"select i1 {fix}, {ty} {fn.op(f'fsub {ty} {d}, {one}')}, {ty} {d}")
        f = fn.op(f"call {ty} {self.mod.intrinsic(f'llvm.floor.{_FSUFFIX[t]}', ty, ty)}({ty} {d})")
        up = fn.op(f"fcmp ogt {ty} {fn.op(f'fsub {ty} {d}, {f}')}, {lit(0.5, t)}")
        f = fn.op(f"select i1 {up}, {ty} {fn.op(f'fadd {ty} {f}, {one}')}, {ty} {f}")
        bzero = fn.op(f"fcmp oeq {ty} {a[1]}, {zero}")
        return fn.op(f"select i1 {bzero}, {ty} {fn.op(f'fdiv {ty} {a[0]}, {a[1]}')}, {ty} {f}")

    def int_floordiv(self, a: list[str], t: str) -> str:
        """NumPy's integer floor_divide: exact, x // 0 == 0, MIN // -1 wraps (sdiv would trap)."""
        fn, ty = self.fn, REG[t]
        zero = fn.op(f"icmp eq {ty} {a[1]}, 0")
        if t not in SIGNED:
            q = fn.op(f"udiv {ty} {a[0]}, {fn.op(f'select i1 {zero}, {ty} 1, {ty} {a[1]}')}")
            return fn.op(f"select i1 {zero}, {ty} 0, {ty} {q}")
        minus1 = fn.op(f"icmp eq {ty} {a[1]}, -1")
        safe = fn.op(f"select i1 {fn.op(f'or i1 {zero}, {minus1}')}, {ty} 1, {ty} {a[1]}")
        q = fn.op(f"sdiv {ty} {a[0]}, {safe}")
        r = fn.op(f"srem {ty} {a[0]}, {safe}")
        rneg = fn.op(f"icmp slt {ty} {r}, 0")
        bneg = fn.op(f"icmp slt {ty} {safe}, 0")
        fix = fn.op(f"and i1 {fn.op(f'icmp ne {ty} {r}, 0')}, {fn.op(f'xor i1 {rneg}, {bneg}')}")
        q = fn.op(f"select i1 {fix}, {ty} {fn.op(f'sub {ty} {q}, 1')}, {ty} {q}")
        q = fn.op(f"select i1 {minus1}, {ty} {fn.op(f'sub {ty} 0, {a[0]}')}, {ty} {q}")
        return fn.op(f"select i1 {zero}, {ty} 0, {ty} {q}")

    def shift(self, op: str, a: list[str], t: str) -> str:
        """NumPy shifts: an amount outside [0, bits) gives 0 (-1 for a negative signed value >>)."""
        fn, ty, bits = self.fn, REG[t], BITS[t]
        inside = fn.op(f"icmp ult {ty} {a[1]}, {bits}")
        if op == "lshift":
            return fn.op(f"select i1 {inside}, {ty} {fn.op(f'shl {ty} {a[0]}, {a[1]}')}, {ty} 0")
        if t in SIGNED:
            return fn.op(f"select i1 {inside}, {ty} {fn.op(f'ashr {ty} {a[0]}, {a[1]}')}, "
                         f"{ty} {fn.op(f'ashr {ty} {a[0]}, {bits - 1}')}")
        return fn.op(f"select i1 {inside}, {ty} {fn.op(f'lshr {ty} {a[0]}, {a[1]}')}, {ty} 0")

    def int_op(self, op: str, a: list[str], t: str) -> str:
        fn, ty = self.fn, REG[t]
        signed = t in SIGNED
        bitwise = {"bitand": "and", "bitor": "or", "bitxor": "xor"}
        if op in bitwise:
            return fn.op(f"{bitwise[op]} {ty} {a[0]}, {a[1]}")
        if op == "bitnot":
            return fn.op(f"xor {ty} {a[0]}, {'true' if t == 'bool' else -1}")
        if op in ("lshift", "rshift"):
            return self.shift(op, a, t)
        if op == "floordiv":
            return self.int_floordiv(a, t)
        if t == "bool":
            table = {"add": "or", "max": "or", "mul": "and", "min": "and"}
            if op in table:
                return fn.op(f"{table[op]} i1 {a[0]}, {a[1]}")
            if op == "abs":
                return a[0]
        simple = {"add": "add", "sub": "sub", "mul": "mul"}
        if op in simple:
            return fn.op(f"{simple[op]} {ty} {a[0]}, {a[1]}")
        if op == "neg":
            return fn.op(f"sub {ty} 0, {a[0]}")
        if op in ("max", "min"):
            f = self.mod.intrinsic(f"llvm.{'s' if signed else 'u'}{op}.{ty}", ty, ty, ty)
            return fn.op(f"call {ty} {f}({ty} {a[0]}, {ty} {a[1]})")
        if op == "abs":
            if not signed:
                return a[0]
            f = self.mod.intrinsic(f"llvm.abs.{ty}", ty, ty, "i1")
            return fn.op(f"call {ty} {f}({ty} {a[0]}, i1 false)")
        if op in ("floor", "ceil", "round"):
            return a[0]
        if op == "mod":   # NumPy: sign of the divisor; x % 0 == 0; x % -1 == 0 (srem MIN, -1 traps)
            zero = fn.op(f"icmp eq {ty} {a[1]}, 0")
            if signed:
                zero = fn.op(f"or i1 {zero}, {fn.op(f'icmp eq {ty} {a[1]}, -1')}")
            safe = fn.op(f"select i1 {zero}, {ty} 1, {ty} {a[1]}")
            if not signed:
                r = fn.op(f"urem {ty} {a[0]}, {safe}")
            else:
                r = fn.op(f"srem {ty} {a[0]}, {safe}")
                nz = fn.op(f"icmp ne {ty} {r}, 0")
                rneg = fn.op(f"icmp slt {ty} {r}, 0")
                bneg = fn.op(f"icmp slt {ty} {safe}, 0")
                diff = fn.op(f"xor i1 {rneg}, {bneg}")
                fix = fn.op(f"and i1 {nz}, {diff}")
                adj = fn.op(f"add {ty} {r}, {safe}")
                r = fn.op(f"select i1 {fix}, {ty} {adj}, {ty} {r}")
            return fn.op(f"select i1 {zero}, {ty} 0, {ty} {r}")
        if op == "pow":
            self.mod.ipow.add(t)
            return fn.op(f"call {ty} @hb_ipow_{t}({ty} {a[0]}, {ty} {a[1]})")
        raise NotImplementedError(f"LLVM backend: scalar op {op!r} on {t}")

    def threefry(self, k0: str, k1: str, ctr: str) -> str:
        fn = self.fn
        rot = (13, 15, 26, 6, 17, 29, 16, 24)
        k2 = fn.op(f"xor i32 {k0}, {k1}")
        k2 = fn.op(f"xor i32 {k2}, {0x1BD11BDA}")
        ks = (k0, k1, k2)
        x0 = fn.op(f"add i32 {ctr}, {k0}")
        x1 = k1                    # the second counter word is 0
        for block in range(5):
            for r in range(4):
                s = rot[(block % 2) * 4 + r]
                x0 = fn.op(f"add i32 {x0}, {x1}")
                hi = fn.op(f"shl i32 {x1}, {s}")
                lo = fn.op(f"lshr i32 {x1}, {32 - s}")
                x1 = fn.op(f"or i32 {hi}, {lo}")
                x1 = fn.op(f"xor i32 {x1}, {x0}")
            x0 = fn.op(f"add i32 {x0}, {ks[(block + 1) % 3]}")
            x1 = fn.op(f"add i32 {x1}, {ks[(block + 2) % 3]}")
            x1 = fn.op(f"add i32 {x1}, {block + 1}")
        return x0

    # -- reductions ----------------------------------------------------------------------
    def combine(self, how: str, acc: str, v: str, t: str, fence: bool = False) -> str:
        ty = REG[t]
        if is_float(t) and how in ("add", "mul"):
            if fence:   # see FENCED_EXTENT
                f = self.mod.intrinsic(f"llvm.arithmetic.fence.{_FSUFFIX[t]}", ty, ty)
                v = self.fn.op(f"call {ty} {f}({ty} {v})")
            return self.fn.op(f"{'fadd' if how == 'add' else 'fmul'} reassoc nsz {ty} {acc}, {v}")
        if is_float(t):
            return self.float_op(how, [acc, v], t)
        return self.int_op(how, [acc, v], t)

    def reduce(self, e: E) -> str:
        red, body, t = e.value, e.args[0], e.dtype
        wide = ACCUMULATE.get(t)
        if wide is not None and red.combine in ("add", "mul"):   # f16 sums/products: f32 accumulator, one rounding
            return self.cast(self.reduce(E("reduce", (cast(body, wide),), wide, red)), wide, t)
        saved = dict(self.memo)
        if red.combine == "argmax":
            result = self.argmax(red, body)
        elif red.combine == "add" and is_float(t) and math.prod(red.extents) > 4 * BLOCK:
            result = self.leveled_sum(red, body, t, 0)
        else:
            result = self.nested(red, body, t, 0, lit(red.identity, t))
        self.memo = saved
        return result

    def nested(self, red, body: E, t: str, depth: int, init: str) -> str:
        loop = self.fn.begin_loop("0", str(red.extents[depth]), [(REG[t], init)])
        self.env[red.vars[depth]] = loop.index
        acc = loop.carried[0]
        if depth + 1 < len(red.vars):
            new = self.nested(red, body, t, depth + 1, acc)
        else:
            fence = red.extents[depth] <= FENCED_EXTENT and _unwrap_casts(body).op not in UNFACTORABLE_TERMS
            new = self.combine(red.combine, acc, self.value(body), t, fence=fence)
        return self.fn.end_loop(loop, [new])[0]

    def leveled_sum(self, red, body: E, t: str, depth: int) -> str:
        """A long float sum over loops `depth`...: each loop's terms are summed from zero and that partial is
        added once to the enclosing loop's sum, so no running sum takes more terms than one loop's extent
        (a long single loop sums in blocks). One running sum through all the loops, as `nested` does, grew
        the error with the total count: a BatchNorm's per-channel sum over 8 x 112 x 112 float32 values was
        ~40 epsilons off, and MobileNet v2's compiled SGD step 3x further from the float64 step than PyTorch's."""
        zero = lit(0.0, t)
        if depth == len(red.vars) - 1:
            if red.extents[depth] > 4 * BLOCK:
                return self.blocked_sum(red, body, t, depth)
            return self.nested(red, body, t, depth, zero)
        loop = self.fn.begin_loop("0", str(red.extents[depth]), [(REG[t], zero)])
        self.env[red.vars[depth]] = loop.index
        part = self.leveled_sum(red, body, t, depth + 1)
        total = self.fn.op(f"fadd {REG[t]} {loop.carried[0]}, {part}")
        return self.fn.end_loop(loop, [total])[0]

    def blocked_sum(self, red, body: E, t: str, depth: int) -> str:
        """The sum over loop `depth` (the innermost) in blocks of BLOCK terms, block sums added in order."""
        fn, ty, n = self.fn, REG[t], red.extents[depth]
        zero = lit(0.0, t)
        blocks = (n + BLOCK - 1) // BLOCK
        outer = fn.begin_loop("0", str(blocks), [(ty, zero)])
        lo = fn.op(f"mul nsw i64 {outer.index}, {BLOCK}")
        hi = fn.op(f"add nsw i64 {lo}, {BLOCK}")
        hi = fn.op(f"call i64 {self.mod.intrinsic('llvm.smin.i64', 'i64', 'i64', 'i64')}(i64 {hi}, i64 {n})")
        outer_memo = dict(self.memo)
        inner = fn.begin_loop(lo, hi, [(ty, zero)])
        self.env[red.vars[depth]] = inner.index
        new = self.combine("add", inner.carried[0], self.value(body), t)
        part = fn.end_loop(inner, [new])[0]
        self.memo = outer_memo
        total = fn.op(f"fadd {ty} {outer.carried[0]}, {part}")
        return fn.end_loop(outer, [total])[0]

    def argmax(self, red, body: E) -> str:
        fn, t = self.fn, body.dtype
        ty = REG[t]
        low = lit(-math.inf, t) if is_float(t) else lit(-(1 << (BITS[t] - 1)) if t in SIGNED else 0, t)
        loop = fn.begin_loop("0", str(red.extents[0]), [(ty, low), ("i64", "0")])
        self.env[red.vars[0]] = loop.index
        v = self.value(body)
        best, where = loop.carried
        if is_float(t):
            gt = fn.op(f"fcmp ogt {ty} {v}, {best}")
            vn = fn.op(f"fcmp uno {ty} {v}, {v}")
            bn = fn.op(f"fcmp ord {ty} {best}, {best}")
            take_nan = fn.op(f"and i1 {vn}, {bn}")
            take = fn.op(f"or i1 {gt}, {take_nan}")
        else:
            take = fn.op(f"icmp {'sgt' if t in SIGNED else 'ugt'} {ty} {v}, {best}")
        nb = fn.op(f"select i1 {take}, {ty} {v}, {ty} {best}")
        nw = fn.op(f"select i1 {take}, i64 {loop.index}, i64 {where}")
        _, idx = fn.end_loop(loop, [nb, nw])
        return fn.op(f"trunc i64 {idx} to i32")


def _is_one(e: E) -> bool:
    return e.op == "const" and e.value == 1


def _sigmoid_operand(e: E) -> Optional[E]:
    """x where e is 1 / (1 + exp(-x)) (the registry's sigmoid, or a user's): rendered as mathlib's fused
    sigmoid, which scales exp(-x) by one power of two instead of exp's two (see mathlib.SIGMOID_LO)."""
    if e.op != "div" or not _is_one(e.args[0]) or e.args[1].op != "add":
        return None
    a, b = e.args[1].args
    ex = b if _is_one(a) else a if _is_one(b) else None
    if ex is None or ex.op != "exp" or ex.args[0].op != "neg":
        return None
    return ex.args[0].args[0]


def _one_plus_tanh_operand(e: E) -> Optional[E]:
    """u where e is 1 + tanh(u) (GELU's tanh form): rendered as 2 sigmoid(2u), which keeps the relative
    accuracy where tanh(u) is near -1 (1 + tanh(-5) from a tanh within 1 ulp of 1 is off by ~1e-3 of itself)."""
    if e.op != "add":
        return None
    a, b = e.args
    th = b if _is_one(a) else a if _is_one(b) else None
    return th.args[0] if th is not None and th.op == "tanh" else None


def _unwrap_casts(e: E) -> E:
    while e.op == "cast":
        e = e.args[0]
    return e


# -- stages ------------------------------------------------------------------------------------
TRANSCENDENTAL_COST = 8   # exp, log, erf, ...: a polynomial and a range reduction, several multiply-adds


def _cost(e: E) -> int:
    """Rough per-element work, to decide whether a stage is worth splitting across threads: one per
    operation, more for a transcendental function, and a reduction's body times its extent (a softmax
    row's max and sum over 128 columns of exp are 128 and 128 x 10 operations per output)."""
    cost: dict[int, int] = {}
    counted: set[int] = set()   # a shared node's work counts once, in its first user
    stack = [(e, False)]
    while stack:   # post-order
        n, expanded = stack.pop()
        if id(n) in cost and not expanded:
            continue
        if not expanded:
            stack.append((n, True))
            stack.extend((a, False) for a in n.args if id(a) not in cost)
            continue
        fresh = [a for a in n.args if id(a) not in counted]
        counted.update(id(a) for a in fresh)
        inner = sum(cost[id(a)] for a in fresh)
        if n.op == "reduce":
            cost[id(n)] = math.prod(n.value.extents) * max(inner, 1)
        else:
            cost[id(n)] = (TRANSCENDENTAL_COST if n.op in LIBM_F64 else 1) + inner
    return max(cost[id(e)], 1)


def thread_range(fn: Fn, total: int, parallel: bool) -> tuple[str, str]:
    """[lo, hi) of `total` owned by this thread (all of it on thread 0 when not parallel)."""
    if not parallel:
        first = fn.op("icmp eq i32 %tid, 0")
        return "0", fn.op(f"select i1 {first}, i64 {total}, i64 0")
    tid = fn.op("sext i32 %tid to i64")
    nt = fn.op("sext i32 %nt to i64")
    lo = fn.op(f"mul nsw i64 {tid}, {total}")
    lo = fn.op(f"sdiv i64 {lo}, {nt}")
    t1 = fn.op(f"add nsw i64 {tid}, 1")
    hi = fn.op(f"mul nsw i64 {t1}, {total}")
    hi = fn.op(f"sdiv i64 {hi}, {nt}")
    return lo, hi


def _analyze(k: Kernel, stage: Stage) -> tuple[dict, set]:
    """({id(load): linear offset} for the loads with affine indices, the stage variables used
    anywhere else)."""
    svars = set(stage.vars)
    blocked: set = set()
    offsets: dict[int, dict] = {}
    seen: set = set()

    def visit(e: E) -> None:
        if id(e) in seen:
            return
        seen.add(id(e))
        if e.op == "ivar":
            if e.value in svars:
                blocked.add(e.value)
            return
        if e.op == "load":
            total = flat_affine(e.args, k.buffers[e.value].strides())
            if total is not None:
                offsets[id(e)] = total
                return
        for a in e.args:
            visit(a)

    visit(stage.expr)
    return offsets, blocked


def _merge_inner_dims(k: Kernel, stage: Stage) -> tuple[int, dict]:
    """How many trailing output dims can run as one flat loop: every load must read them
    with row-major-consistent strides (an identity read, a broadcast along them, ...) and the
    expression must use them nowhere else. Returns (first merged dim, {id(load): linear offset})."""
    offsets, blocked = _analyze(k, stage)
    shape, nd = k.buffers[stage.out].shape, len(stage.vars)
    last = stage.vars[-1] if nd else None
    if nd < 2 or last in blocked:
        return nd - 1 if nd else 0, offsets
    first = nd - 1
    span = shape[-1]
    while first > 0:
        v = stage.vars[first - 1]
        if v in blocked or any(o.get(v, 0) != o.get(last, 0) * span for o in offsets.values()):
            break
        first -= 1
        span *= shape[first]
    return first, offsets


def stage_parallel(k: Kernel, stage) -> bool:
    """Whether a stage is split across the threads (else thread 0 runs it alone)."""
    if isinstance(stage, ChunkLoop):
        return True
    if isinstance(stage, DirectConv):
        return stage.flops >= GEMM_PARALLEL_MIN
    if isinstance(stage, PackInput):
        return stage.floats >= PARALLEL_MIN
    if isinstance(stage, SortStage):
        return sort_parallel(stage)
    if isinstance(stage, LapackStage):
        return False
    if isinstance(stage, GemmStage):
        return k.buffers[stage.out].dtype == "f32" and stage.flops >= GEMM_PARALLEL_MIN
    total = math.prod(k.buffers[stage.out].shape)
    return total > 1 and total * _cost(stage.expr) >= PARALLEL_MIN


def _column_reduction(k: Kernel, stage: Stage) -> bool:
    """A reduction over leading axes (sum over the batch, ...): each output element would walk
    a strided column. Such stages run with the loops interchanged: the output row is updated
    once per reduced row, unit stride (short reductions only, so float sums stay accurate)."""
    e = stage.expr
    if e.op != "reduce" or e.value.combine == "argmax" or not stage.vars:
        return False
    if e.dtype in ACCUMULATE and e.value.combine in ("add", "mul"):   # the output buffer would be the accumulator
        return False
    if math.prod(e.value.extents) > 4 * BLOCK or k.buffers[stage.out].shape[-1] < 8:
        return False
    offsets, blocked = _analyze(k, stage)
    last = stage.vars[-1]
    loads = [n for n in walk(e.args[0]) if n.op == "load"]
    if last in blocked or not loads or any(id(n) not in offsets for n in loads):
        return False
    lins = [offsets[id(n)] for n in loads]
    return (any(lin.get(last, 0) == 1 for lin in lins) and all(lin.get(last, 0) in (0, 1) for lin in lins)
            and all(abs(lin.get(r, 0)) != 1 for lin in lins for r in e.value.vars))


def render_column_reduction(fn: Fn, mod: ModuleState, k: Kernel, stage: Stage, ptrs: dict[str, str],
                            env0: Optional[dict] = None) -> None:
    out = k.buffers[stage.out]
    shape, red, t = out.shape, stage.expr.value, stage.expr.dtype
    body = stage.expr.args[0]
    L = shape[-1]
    outer = math.prod(shape[:-1])
    par = stage_parallel(k, stage)
    if outer > 1:
        lo, hi = thread_range(fn, outer, par)
        jlo, jhi = "0", str(L)
    else:
        lo, hi = "0", "1"
        jlo, jhi = thread_range(fn, L, par)
    env: dict = dict(env0 or {})
    rows = fn.begin_loop(lo, hi)
    rest = rows.index
    for d in reversed(range(len(shape) - 1)):
        if d == 0:
            env[stage.vars[d]] = rest
        else:
            env[stage.vars[d]] = fn.op(f"srem i64 {rest}, {shape[d]}")
            rest = fn.op(f"sdiv i64 {rest}, {shape[d]}")
    base = fn.op(f"mul nsw i64 {rows.index}, {L}")
    r0 = ExprRenderer(fn, mod, k, ptrs, env)
    init = fn.begin_loop(jlo, jhi)
    r0.store_at(out, fn.op(f"add nsw i64 {base}, {init.index}"), lit(red.identity, t))
    fn.end_loop(init)
    loops = []
    for v, n in zip(red.vars, red.extents):
        lp = fn.begin_loop("0", str(n))
        env[v] = lp.index
        loops.append(lp)
    j = fn.begin_loop(jlo, jhi)
    env[stage.vars[-1]] = j.index
    r = ExprRenderer(fn, mod, k, ptrs, env)
    off = fn.op(f"add nsw i64 {base}, {j.index}")
    acc = r.load_at(out, off)
    r.store_at(out, off, r.combine(red.combine, acc, r.value(body), t))
    fn.end_loop(j)
    for lp in reversed(loops):
        fn.end_loop(lp)
    fn.end_loop(rows)


def render_stage(fn: Fn, mod: ModuleState, k: Kernel, stage: Stage, ptrs: dict[str, str],
                 env0: Optional[dict] = None) -> None:
    if _column_reduction(k, stage):
        return render_column_reduction(fn, mod, k, stage, ptrs, env0)
    out = k.buffers[stage.out]
    shape = out.shape
    total = math.prod(shape)
    if total == 0:
        return
    nd = len(shape)
    first, offsets = _merge_inner_dims(k, stage) if nd else (0, {})
    merged = nd >= 2 and first < nd - 1
    if not merged:
        offsets = {}
    inner_len = math.prod(shape[first:]) if merged else None
    # The thread-split range: the fewest leading dims with enough rows to share out (or the single merged
    # loop when it is all dims); the dims after them run as nested loops, which index without div/mod.
    lead = first if merged else nd - 1
    nest = MAX_NESTED if (inner_len if merged else shape[-1] if nd else 1) <= SHORT_ROW else 0
    split = max(_split_dims(shape, lead), lead - nest) if lead > 0 else (0 if merged else nd)
    whole = merged and split == 0
    outer = inner_len if whole else (math.prod(shape[:split]) if nd else 1)
    lo, hi = thread_range(fn, outer, stage_parallel(k, stage))
    env: dict = dict(env0 or {})
    loop = fn.begin_loop(lo, hi)
    loops = []
    if whole:
        env["flat"] = loop.index
    else:
        rest = loop.index
        for d in reversed(range(split)):
            if d == 0:
                env[stage.vars[d]] = rest
            else:
                env[stage.vars[d]] = fn.op(f"urem i64 {rest}, {shape[d]}")
                rest = fn.op(f"udiv i64 {rest}, {shape[d]}")
        for d in range(split, first if merged else nd):
            inner = fn.begin_loop("0", str(shape[d]))
            env[stage.vars[d]] = inner.index
            loops.append(inner)
        if merged:
            inner = fn.begin_loop("0", str(inner_len))
            env["flat"] = inner.index
            loops.append(inner)
    r = ExprRenderer(fn, mod, k, ptrs, env)
    if merged:
        r.affine = {key: _flat_offset(lin, stage.vars[first:]) for key, lin in offsets.items()}
    value = r.value(stage.expr)
    if merged:
        lin = {v: s for v, s in zip(stage.vars, out.strides())}
        lin[None] = 0
        r.store_at(out, r.linear(_flat_offset(lin, stage.vars[first:])), value)
    else:
        r.store(out, [env[v] for v in stage.vars], value)
    innermost, length = (loops[-1], inner_len if merged else shape[-1]) if loops else (loop, outer)
    hints = _hints(mod, stage, length)
    for inner in reversed(loops):
        fn.end_loop(inner, loop_id=hints if inner is innermost else "")
    fn.end_loop(loop, loop_id=hints if loop is innermost else "")


def _hints(mod: ModuleState, stage: Stage, length: int) -> str:
    """The loop ID for a stage's innermost loop of `length` elements (all threads' shares): interleaved where
    it computes a transcendental function per element, outside any reduction (see INTERLEAVE)."""
    if length < INTERLEAVE_MIN:
        return ""
    stack, seen = [stage.expr], set()
    while stack:
        e = stack.pop()
        if e.op in LIBM_F64:
            return mod.interleave_id()
        if e.op != "reduce" and id(e) not in seen:
            seen.add(id(e))
            stack.extend(e.args)
    return ""


def _split_dims(shape: tuple[int, ...], limit: int) -> int:
    """The fewest leading dims (at most `limit`) holding SPLIT_ROWS rows (all `limit` when none do)."""
    rows = 1
    for d in range(limit):
        rows *= shape[d]
        if rows >= SPLIT_ROWS:
            return d + 1
    return limit


def _flat_offset(lin: dict, merged_vars: tuple) -> dict:
    """Replace the merged dims' terms by one term of the flat inner index."""
    out = {v: c for v, c in lin.items() if v not in merged_vars}
    out["flat"] = lin.get(merged_vars[-1], 0)
    return out


def render_epilogue(mod: ModuleState, k: Kernel, g: GemmStage, fname: str, buffers: list[str],
                    extra: tuple = ()) -> None:
    """void fname(i64 m0, i64 m1, i64 n0, i64 n1, ptr C, i64 ldc, ptr ctx): ctx holds the kernel's
    buffer pointers, then the batch indices, then the `extra` loop variables (as i64)."""
    fn = Fn(f"define internal void @{fname}(i64 %m0, i64 %m1, i64 %n0, i64 %n1, ptr %C, i64 %ldc, ptr %ctx) "
            "nounwind")
    ptrs = {}
    for i, name in enumerate(buffers):
        slot = fn.op(f"getelementptr i64, ptr %ctx, i64 {i}")
        ptrs[name] = fn.op(f"load ptr, ptr {slot}")
    env: dict = {}
    for j, v in enumerate(tuple(g.batch_vars) + tuple(extra)):
        slot = fn.op(f"getelementptr i64, ptr %ctx, i64 {len(buffers) + j}")
        env[v] = fn.op(f"load i64, ptr {slot}")
    ml = fn.begin_loop("%m0", "%m1")
    row = fn.op(f"mul nsw i64 {ml.index}, %ldc")
    nl = fn.begin_loop("%n0", "%n1")
    off = fn.op(f"add nsw i64 {row}, {nl.index}")
    p = fn.op(f"getelementptr inbounds float, ptr %C, i64 {off}")
    env.update({g.m_var: ml.index, g.n_var: nl.index, "acc": fn.op(f"load float, ptr {p}")})
    r = ExprRenderer(fn, mod, k, ptrs, env)
    # affine reads index without div/mod (a residual read at pixel n as (n // W, n % W)): the loop vectorizes
    r.affine = {id(e): lin for e in walk(g.epilogue) if e.op == "load"
                and (lin := flat_affine(e.args, k.buffers[e.value].strides())) is not None
                and all(v is None or v in env for v in lin)}
    fn.do(f"store float {r.value(g.epilogue)}, ptr {p}")
    fn.end_loop(nl)
    fn.end_loop(ml)
    fn.do("ret void")
    mod.functions.append(fn.text())


def _batch_loops(fn: Fn, shape: tuple[int, ...]):
    loops = [fn.begin_loop("0", str(d)) for d in shape]
    return loops, [lp.index for lp in loops]


def _strided(fn: Fn, base: str, idx: list[str], strides: tuple[int, ...], ty: str) -> str:
    off = None
    for i, s in zip(idx, strides):
        if s:
            term = fn.op(f"mul nsw i64 {i}, {s}")
            off = term if off is None else fn.op(f"add nsw i64 {off}, {term}")
    return base if off is None else fn.op(f"getelementptr inbounds {ty}, ptr {base}, i64 {off}")


def render_gemm(fn: Fn, mod: ModuleState, k: Kernel, g: GemmStage, ptrs: dict[str, str], fname: str,
                extra: Optional[dict] = None) -> None:
    """extra: loop variables bound outside the stage (a ChunkLoop's base) -> their registers."""
    extra = extra or {}
    out = k.buffers[g.out]
    if out.dtype != "f32":
        return render_gemm_loops(fn, mod, k, g, ptrs, extra)
    mod.uses_sgemm = True
    mod.declares.add("declare void @hybrid_sgemm(i64, i64, i64, ptr, i64, i32, ptr, i64, i32, ptr, i64, ptr, ptr, "
                     "i32, i32)")
    names = list(k.buffers)
    epi, ctx = "null", "null"
    if g.epilogue is not None:
        render_epilogue(mod, k, g, f"{fname}_epi", names, tuple(extra))
        epi = f"@{fname}_epi"
        ctx = fn.alloca("i64", len(names) + len(g.batch_vars) + len(extra))
        for i, name in enumerate(names):
            slot = fn.op(f"getelementptr i64, ptr {ctx}, i64 {i}")
            fn.do(f"store ptr {ptrs[name]}, ptr {slot}")
        for j, reg in enumerate(extra.values()):
            slot = fn.op(f"getelementptr i64, ptr {ctx}, i64 {len(names) + len(g.batch_vars) + j}")
            fn.do(f"store i64 {reg}, ptr {slot}")
    parallel = stage_parallel(k, g)
    batches = math.prod(g.batch_shape)
    # Many small products (per-image convolutions, attention heads): each thread takes whole
    # batch entries rather than splitting every small GEMM.
    by_batch = parallel and batches >= 4 and 2 * g.M * g.N * g.K < GEMM_BATCH_SPLIT_MAX
    # a small GEMM (not split across threads): thread 0 computes all of it
    only_first = fn.when(fn.op("icmp eq i32 %tid, 0"), "gemm") if not parallel else contextlib.nullcontext()
    with only_first:
        if by_batch:
            lo, hi = thread_range(fn, batches, True)
            flat = fn.begin_loop(lo, hi)
            loops, idx, rest = [flat], [None] * len(g.batch_shape), flat.index
            for d in reversed(range(len(g.batch_shape))):
                if d == 0:
                    idx[d] = rest
                else:
                    idx[d] = fn.op(f"srem i64 {rest}, {g.batch_shape[d]}")
                    rest = fn.op(f"sdiv i64 {rest}, {g.batch_shape[d]}")
        else:
            loops, idx = _batch_loops(fn, g.batch_shape)
        if g.epilogue is not None:
            for j, reg in enumerate(idx):
                slot = fn.op(f"getelementptr i64, ptr {ctx}, i64 {len(names) + j}")
                fn.do(f"store i64 {reg}, ptr {slot}")
        if g.packed_a is not None:
            a = _strided(fn, ptrs[g.packed_a], idx, packed_strides(g), "float")
            lda, mode = g.K, gemm.PACKED
        else:
            a = _strided(fn, ptrs[g.a], idx, g.a_strides, "float")
            lda, mode = g.lda, int(g.trans_a)
        if g.packed_b is not None:     # b_strides then step through the packed buffer (prepack.py)
            b, ldb, mode_b = _strided(fn, ptrs[g.packed_b], idx, g.b_strides, "float"), g.N, gemm.PACKED
        else:
            b, ldb, mode_b = _strided(fn, ptrs[g.b], idx, g.b_strides, "float"), g.ldb, int(g.trans_b)
        c = _strided(fn, ptrs[g.out], idx, g.c_strides, "float")
        threads = "i32 %tid, i32 %nt" if parallel and not by_batch else "i32 0, i32 1"
        fn.do(f"call void @hybrid_sgemm(i64 {g.M}, i64 {g.N}, i64 {g.K}, ptr {a}, i64 {lda}, i32 {mode}, "
              f"ptr {b}, i64 {ldb}, i32 {mode_b}, ptr {c}, i64 {g.ldc}, ptr {epi}, ptr {ctx}, {threads})")
        for lp in reversed(loops):
            fn.end_loop(lp)


def render_pack_a(fn: Fn, mod: ModuleState, g: GemmStage, ptrs: dict[str, str]) -> None:
    """Pack each distinct A matrix of `g` into its `packed_a` buffer, split across the threads, then wait
    for all of them (every thread's GEMMs read every panel)."""
    mod.declares.add("declare void @hybrid_sgemm_pack_a(i64, i64, ptr, i64, i32, ptr, i32, i32)")
    floats = gemm.packed_a_floats(g.M, g.K)
    loop = fn.begin_loop("0", str(matrix_count(g)))
    src = fn.op(f"mul nsw i64 {loop.index}, {g.M * g.K}")
    src = fn.op(f"getelementptr inbounds float, ptr {ptrs[g.a]}, i64 {src}")
    dst = fn.op(f"mul nsw i64 {loop.index}, {floats}")
    dst = fn.op(f"getelementptr inbounds float, ptr {ptrs[g.packed_a]}, i64 {dst}")
    fn.do(f"call void @hybrid_sgemm_pack_a(i64 {g.M}, i64 {g.K}, ptr {src}, i64 {g.lda}, i32 {int(g.trans_a)}, "
          f"ptr {dst}, i32 %tid, i32 %nt)")
    fn.end_loop(loop)
    fn.do("call void @hb_barrier(ptr %bar, i32 %nt)")


def render_gemm_loops(fn: Fn, mod: ModuleState, k: Kernel, g: GemmStage, ptrs: dict[str, str],
                      extra: dict) -> None:
    """Plain loops for GEMMs of dtypes other than f32 (rare: integer, f16 or f64 matmul). f16 products
    accumulate in f32 and round once, as NumPy does (an f16 running sum overflows and loses digits).
    extra: loop variables bound outside (a ChunkLoop's base), which the epilogue may index with."""
    t = k.buffers[g.out].dtype
    ty = REG[t]
    acc_t = ACCUMULATE.get(t, t)
    with fn.when(fn.op("icmp eq i32 %tid, 0"), "gemm"):    # thread 0 computes all of it
        loops, idx = _batch_loops(fn, g.batch_shape)
        a = _strided(fn, ptrs[g.a], idx, g.a_strides, ty)
        b = _strided(fn, ptrs[g.b], idx, g.b_strides, ty)
        c = _strided(fn, ptrs[g.out], idx, g.c_strides, ty)
        ml = fn.begin_loop("0", str(g.M))
        nl = fn.begin_loop("0", str(g.N))
        kl = fn.begin_loop("0", str(g.K), [(REG[acc_t], lit(0, acc_t))])
        r = ExprRenderer(fn, mod, k, {}, {})

        def elem(base, row, col, ld, trans):
            i, j = (col, row) if trans else (row, col)
            o = fn.op(f"mul nsw i64 {i}, {ld}")
            o = fn.op(f"add nsw i64 {o}, {j}")
            p = fn.op(f"getelementptr inbounds {ty}, ptr {base}, i64 {o}")
            return fn.op(f"load {ty}, ptr {p}")
        av = elem(a, ml.index, kl.index, g.lda, g.trans_a)
        bv = elem(b, kl.index, nl.index, g.ldb, g.trans_b)
        av, bv = r.cast(av, t, acc_t), r.cast(bv, t, acc_t)
        prod = r.float_op("mul", [av, bv], acc_t) if is_float(t) else r.int_op("mul", [av, bv], acc_t)
        acc = r.combine("add", kl.carried[0], prod, acc_t)
        total = r.cast(fn.end_loop(kl, [acc])[0], acc_t, t)
        o = fn.op(f"mul nsw i64 {ml.index}, {g.ldc}")
        o = fn.op(f"add nsw i64 {o}, {nl.index}")
        p = fn.op(f"getelementptr inbounds {ty}, ptr {c}, i64 {o}")
        if g.epilogue is not None:
            env = {**extra, **dict(zip(g.batch_vars, idx))}
            env.update({g.m_var: ml.index, g.n_var: nl.index, "acc": total})
            total = ExprRenderer(fn, mod, k, ptrs, env).value(g.epilogue)
        fn.do(f"store {ty} {total}, ptr {p}")
        fn.end_loop(nl)
        fn.end_loop(ml)
        for lp in reversed(loops):
            fn.end_loop(lp)


def render_chunk_loop(fn: Fn, mod: ModuleState, k: Kernel, c: ChunkLoop, ptrs: dict[str, str], fname: str) -> None:
    """Columns of a chunk, barrier, its GEMM, barrier (the next chunk reuses the columns)."""
    loop = fn.begin_loop("0", str(c.count))
    n0 = fn.op(f"mul nsw i64 {loop.index}, {c.chunk}")
    off = fn.op(f"mul nsw i64 {n0}, {c.row_bytes}")
    inner = dict(ptrs)
    inner[c.out_view] = fn.op(f"getelementptr inbounds i8, ptr {ptrs[c.parent]}, i64 {off}")
    render_stage(fn, mod, k, c.im2col, inner, {c.base_var: n0})
    fn.do("call void @hb_barrier(ptr %bar, i32 %nt)")
    render_gemm(fn, mod, k, c.gemm, inner, fname, {c.base_var: n0})
    fn.do("call void @hb_barrier(ptr %bar, i32 %nt)")
    fn.end_loop(loop)


def render_kernel(mod: ModuleState, k: Kernel, fname: str, noalias: bool = True,
                  after_parallel: Optional[bool] = None) -> tuple[list[str], Optional[bool]]:
    """Define `fname`(ptr per buffer in k.buffers order, i32 tid, i32 nt, ptr barrier).
    noalias=False when an output overwrites an input in place. A barrier precedes a stage when
    it or the stage before it (after_parallel: the previous kernel's last stage; None: none)
    is split across threads; consecutive thread-0-only stages need none. Returns the buffer
    order and whether the last stage is split."""
    names = [n for n, b in k.buffers.items() if b.role != "view"]
    attr = "noalias " if noalias else ""
    params = ", ".join(f"ptr {attr}%b{i}" for i in range(len(names)))
    # noinline: the entry point calls each kernel once; inlined, they made one function of every kernel in
    # the graph (ResNet-18: 21k instructions), on which LLVM's superlinear passes took 40% of the compile
    fn = Fn(f"define internal void @{fname}({params}, i32 %tid, i32 %nt, ptr %bar) noinline nounwind")
    ptrs = {name: f"%b{i}" for i, name in enumerate(names)}
    prev = after_parallel
    for i, stage in enumerate(k.stages):
        par = stage_parallel(k, stage)
        if prev is not None and (prev or par):
            fn.do("call void @hb_barrier(ptr %bar, i32 %nt)")
        packed = stage.gemm if isinstance(stage, ChunkLoop) else stage
        if isinstance(packed, GemmStage) and packed.packed_a is not None:
            render_pack_a(fn, mod, packed, ptrs)
        if isinstance(stage, Stage):
            render_stage(fn, mod, k, stage, ptrs)
        elif isinstance(stage, ChunkLoop):
            render_chunk_loop(fn, mod, k, stage, ptrs, f"{fname}_s{i}")
        elif isinstance(stage, DirectConv):
            mod.declares.add("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)")
            conv = render_winograd if isinstance(stage, WinogradConv) else render_direct
            conv(fn, mod, stage, ptrs, *thread_range(fn, stage.items, par))
        elif isinstance(stage, SortStage):
            render_sort(fn, mod, k, stage, ptrs, *thread_range(fn, stage.rows, par))
        elif isinstance(stage, LapackStage):
            render_lapack(fn, mod, stage, ptrs)
        elif isinstance(stage, PackInput):
            mod.declares.add("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)")
            render_pack(fn, stage, ptrs, *thread_range(fn, stage.rows, par))
        else:
            render_gemm(fn, mod, k, stage, ptrs, f"{fname}_s{i}")
        prev = par
        mod.any_parallel |= par
    fn.do("ret void")
    mod.functions.append(fn.text())
    return names, prev
