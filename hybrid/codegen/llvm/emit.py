"""A small LLVM IR text emitter: typed constants, SSA temporaries, blocks and counted loops.

Text IR (opaque pointers) keeps the generated code readable in the NN-llvm.ll dump and is
quicker to produce than an in-memory builder.
"""
from __future__ import annotations

import struct
from contextlib import contextmanager

import ml_dtypes
import numpy

# IR dtype -> LLVM type in registers, and in memory (bool is i1 in registers, i8 in memory).
REG = {"f16": "half", "bf16": "bfloat", "f32": "float", "f64": "double", "i8": "i8", "u8": "i8", "i16": "i16", "u16": "i16",
       "i32": "i32", "u32": "i32", "i64": "i64", "u64": "i64", "bool": "i1"}
MEM = dict(REG, bool="i8")
SIGNED = {"i8", "i16", "i32", "i64"}
BITS = {"i8": 8, "u8": 8, "i16": 16, "u16": 16, "i32": 32, "u32": 32, "i64": 64, "u64": 64, "bool": 1}


def is_float(dtype: str) -> bool:
    return dtype in ("f16", "bf16", "f32", "f64")


def lit(value, dtype: str) -> str:
    """An LLVM literal of `value` as `dtype` (floats in the exact hex form LLVM requires)."""
    if dtype == "bool":
        return "true" if value else "false"
    if dtype in ("f32", "f64"):
        v = float(numpy.float32(value)) if dtype == "f32" else float(value)
        return "0x%016X" % struct.unpack("<Q", struct.pack("<d", v))[0]
    if dtype == "f16":
        return "0xH%04X" % struct.unpack("<H", numpy.float16(value).tobytes())[0]
    if dtype == "bf16":
        return "0xR%04X" % struct.unpack("<H", numpy.asarray(value, ml_dtypes.bfloat16).tobytes())[0]
    bits = BITS[dtype]
    v = int(value) & ((1 << bits) - 1)
    return str(v - (1 << bits) if v >= 1 << (bits - 1) else v)


class Loop:
    def __init__(self, index: str, carried: list[str], body: str, exit: str, pre: str, lo: str, hi: str,
                 phi_slot: int, types: list[str], inits: list[str]):
        self.index, self.carried, self.body, self.exit, self.pre = index, carried, body, exit, pre
        self.lo, self.hi, self.phi_slot, self.types, self.inits = lo, hi, phi_slot, types, inits


class Fn:
    """One function being emitted. `op` appends `%tN = text` and returns %tN."""

    def __init__(self, header: str):
        self.header = header
        self.lines: list[str] = []
        self.allocas: list[str] = []
        self.n = 0
        self.block = "entry"

    def tmp(self) -> str:
        self.n += 1
        return f"%t{self.n}"

    def label(self, hint: str) -> str:
        self.n += 1
        return f"{hint}{self.n}"

    def op(self, text: str) -> str:
        r = self.tmp()
        self.lines.append(f"  {r} = {text}")
        return r

    def do(self, text: str) -> None:
        self.lines.append(f"  {text}")

    def alloca(self, ty: str, count: int = 1) -> str:
        r = self.tmp()
        self.allocas.append(f"  {r} = alloca {ty}, i64 {count}, align 16")
        return r

    def start(self, label: str) -> None:
        self.lines.append(f"{label}:")
        self.block = label

    def br(self, label: str) -> None:
        self.do(f"br label %{label}")

    @contextmanager
    def when(self, cond: str, hint: str = "then"):
        """`with fn.when(c):` emits its body only on the path where i1 `c` holds; both paths meet after it."""
        run, done = self.label(hint), self.label("end")
        self.do(f"br i1 {cond}, label %{run}, label %{done}")
        self.start(run)
        yield
        self.br(done)
        self.start(done)

    def begin_loop(self, lo: str, hi: str, carried: list[tuple[str, str]] = ()) -> Loop:
        """for (i = lo; i < hi; i++) with loop-carried values (type, initial value)."""
        pre = self.block
        body, exit = self.label("loop"), self.label("done")
        c = self.op(f"icmp slt i64 {lo}, {hi}")
        self.do(f"br i1 {c}, label %{body}, label %{exit}")
        self.start(body)
        index = self.tmp()
        regs = [self.tmp() for _ in carried]
        slot = len(self.lines)
        self.lines.append("")
        return Loop(index, regs, body, exit, pre, lo, hi, slot, [t for t, _ in carried], [v for _, v in carried])

    def end_loop(self, loop: Loop, updated: list[str] = (), loop_id: str = "") -> list[str]:
        """Close the loop; returns the carried values after it. loop_id: a metadata node (`!N`) of hints
        for LLVM's loop passes, attached to the back edge."""
        latch = self.block
        nxt = self.op(f"add nuw nsw i64 {loop.index}, 1")
        c = self.op(f"icmp slt i64 {nxt}, {loop.hi}")
        hints = f", !llvm.loop {loop_id}" if loop_id else ""
        self.do(f"br i1 {c}, label %{loop.body}, label %{loop.exit}{hints}")
        phis = [f"  {loop.index} = phi i64 [ {loop.lo}, %{loop.pre} ], [ {nxt}, %{latch} ]"]
        for reg, ty, init, new in zip(loop.carried, loop.types, loop.inits, updated):
            phis.append(f"  {reg} = phi {ty} [ {init}, %{loop.pre} ], [ {new}, %{latch} ]")
        self.lines[loop.phi_slot] = "\n".join(phis)
        self.start(loop.exit)
        out = []
        for ty, init, new in zip(loop.types, loop.inits, updated):
            out.append(self.op(f"phi {ty} [ {init}, %{loop.pre} ], [ {new}, %{latch} ]"))
        return out

    def text(self) -> str:
        return "\n".join([self.header + " {", "entry:"] + self.allocas + self.lines + ["}", ""])
