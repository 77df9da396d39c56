"""Small helpers for building LLVM IR functions with llvmlite: the scalar types, integer constants, declared
intrinsics and library functions, and `IRFunction` (alloca'd variables, counted loops, min / max) that the
generated GEMM kernels (gemm.py, gemm_dot.py) are written with."""
from __future__ import annotations

from contextlib import contextmanager

from llvmlite import ir

with open(__file__, "rb") as _source:   # as imported: part of the sgemm objects' cache key (module.sgemm_source_key)
    SOURCE_TEXT = _source.read()

F32 = ir.FloatType()
I1 = ir.IntType(1)
I8P = ir.IntType(8).as_pointer()
I32 = ir.IntType(32)
I64 = ir.IntType(64)
FP = F32.as_pointer()
VOID = ir.VoidType()


def const(value: int, ty: ir.Type = I64) -> ir.Constant:
    return ir.Constant(ty, value)


def declaration(module: ir.Module, name: str, fnty: ir.FunctionType) -> ir.Function:
    """The module's function `name` (an intrinsic or a C library function), declared on first use."""
    existing = module.globals.get(name)
    return existing if existing is not None else ir.Function(module, fnty, name)


def splat(b: ir.IRBuilder, value: ir.Value, width: int) -> ir.Value:
    """A vector of `width` copies of the scalar `value`."""
    vty = ir.VectorType(value.type, width)
    first = b.insert_element(ir.Constant(vty, ir.Undefined), value, const(0, I32))
    return b.shuffle_vector(first, ir.Constant(vty, ir.Undefined), ir.Constant(ir.VectorType(I32, width), [0] * width))


class IRFunction:
    """An internal IR function under construction: alloca'd variables, counted loops, min/max."""

    def __init__(self, module: ir.Module, name: str, fnty: ir.FunctionType, arg_names, internal: bool = True):
        self.fn = ir.Function(module, fnty, name)
        if internal:
            self.fn.linkage = "internal"
            self.fn.attributes.add("noinline")   # one copy of each piece: keeps the module quick to compile
        self.args = {}
        for arg, arg_name in zip(self.fn.args, arg_names):
            arg.name = arg_name
            self.args[arg_name] = arg
        self._allocas = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self._start = self.fn.append_basic_block("start")
        self.b = ir.IRBuilder(self._start)

    def __getitem__(self, name: str):
        return self.args[name]

    def alloca(self, ty, name: str = ""):
        return self._allocas.alloca(ty, name=name)

    def var(self, init, name: str = ""):
        slot = self.alloca(init.type, name)
        self.b.store(init, slot)
        return slot

    def finish(self) -> None:
        self._allocas.branch(self._start)
        if not self.b.block.is_terminated:
            self.b.ret_void()

    @contextmanager
    def loop(self, start, stop, step=1, name: str = "i"):
        b = self.b
        start = const(start) if isinstance(start, int) else start
        step = const(step) if isinstance(step, int) else step
        counter = self.var(start, name)
        cond = self.fn.append_basic_block(name + ".cond")
        body = self.fn.append_basic_block(name + ".body")
        end = self.fn.append_basic_block(name + ".end")
        b.branch(cond)
        b.position_at_end(cond)
        i = b.load(counter, name=name)
        b.cbranch(b.icmp_signed("<", i, stop), body, end)
        b.position_at_end(body)
        yield i
        b.store(b.add(i, step), counter)
        b.branch(cond)
        b.position_at_end(end)

    def min(self, x, y):
        return self.b.select(self.b.icmp_signed("<", x, y), x, y)

    def max(self, x, y):
        return self.b.select(self.b.icmp_signed(">", x, y), x, y)

    def ceil_div(self, x, y):
        return self.b.sdiv(self.b.add(x, self.b.sub(y, const(1))), y)
