"""Steps of the LLVM entry point, and structured control flow as real branches and loops in it.

module.py places every value and turns the graph into steps: a KernelStep calls one kernel
function; a ControlStep (cond, while_loop, scan) holds its regions' steps. `render_steps`
writes them into the entry point, which every thread of the team runs:
  - a decision (branch index, loop condition) is read by all threads after a barrier, so they
    all take the same path; kernels inside keep splitting their work by thread id
  - loop-carried state lives in the node's result buffers: the body reads them and writes a
    new value straight there when the memory plan keeps it in the carried buffer (the body
    reads the old value no later), else to a buffer of its own (double buffering), which
    thread 0 copies back after a barrier; a scan's step t reads its sequences at row t in
    place and its per-step results are copied into row t of the stacked results
  - the trip count is whatever the data says (no unrolling); zero-trip loops return the
    initial state
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Optional

from . import render
from .emit import Fn

MEMMOVE = "declare void @llvm.memmove.p0.p0.i64(ptr, ptr, i64, i1)"


@dataclass
class KernelStep:
    kernel: object              # kernel.Kernel
    ptrs: list                  # one location per non-view buffer, in k.buffers order
    noalias: bool
    node: object = None         # the graph node it runs (profiles name it)
    function: Optional[str] = None       # its function, once rendered (a second call site reuses it)
    ends_parallel: Optional[bool] = None  # whether the function's last stage is split across threads


WHOLE_TEAM = ("%tid", "%nt", "%bar")     # (thread id, threads, barrier) registers of the entry point


@dataclass
class RegionCode:
    steps: list
    outputs: list               # locations of the region's results
    nbytes: list


@dataclass
class ControlStep:
    op: str
    attrs: dict
    inputs: list                # operand locations
    outputs: list               # result locations (a loop's carried state lives here)
    in_bytes: list
    out_bytes: list
    regions: list[RegionCode] = field(default_factory=list)
    key: int = 0                # names this scan's per-step sequence pointers ("dyn", (key, k))
    staging: dict = field(default_factory=dict)   # carried value k -> a buffer its next value passes through
    node: object = None         # the graph node it runs (profiles name it)


def walk_steps(steps: list) -> Iterator:
    for step in steps:
        yield step
        if isinstance(step, ControlStep):
            for region in step.regions:
                yield from walk_steps(region.steps)


class Pointers:
    """LLVM pointer registers for locations: ("arena", offset), ("arg" | "const" | "prepacked", index)
    through the pointer table, ("dyn", key): a register the enclosing loop computed."""

    def __init__(self, fn: Fn, n_in: int, n_out: int, n_const: int, constant_symbols: Optional[str]):
        self.fn, self.n_in, self.n_out, self.n_const = fn, n_in, n_out, n_const
        self.constant_symbols = constant_symbols
        self.dyn: dict = {}
        self.kernels = 0

    def get(self, loc) -> str:
        kind, x = loc
        if kind == "dyn":
            return self.dyn[x]
        if kind == "arena":
            return self.fn.op(f"getelementptr inbounds i8, ptr %arena, i64 {x}")
        if kind == "const" and self.constant_symbols:
            return f"@{self.constant_symbols}_const{x}"
        slot = x if kind == "arg" else self.n_in + self.n_out + x + (self.n_const if kind == "prepacked" else 0)
        p = self.fn.op(f"getelementptr ptr, ptr %bufs, i64 {slot}")
        return self.fn.op(f"load ptr, ptr {p}")


def render_steps(fn: Fn, mod: render.ModuleState, steps: list, ptrs: Pointers,
                 last_parallel: Optional[bool] = None, team: tuple[str, str, str] = WHOLE_TEAM) -> Optional[bool]:
    """Emit `steps` into fn, run by `team` (thread id, threads, barrier: a sub-team of a concurrent region
    runs its kernels with its own); returns whether the last kernel's last stage was split across threads.
    A kernel's function is rendered at its first call site (its leading barrier decided by the step before
    it there: the in-order schedule) and called again at a second one."""
    for step in steps:
        if isinstance(step, KernelStep):
            if step.function is None:
                step.function = f"kern{ptrs.kernels}"
                ptrs.kernels += 1
                _, step.ends_parallel = render.render_kernel(mod, step.kernel, step.function, step.noalias,
                                                             last_parallel)
            last_parallel = step.ends_parallel
            args = ", ".join("ptr " + ptrs.get(loc) for loc in step.ptrs)
            tid, nt, bar = team
            fn.do(f"call void @{step.function}({args}, i32 {tid}, i32 {nt}, ptr {bar})")
        else:
            _barrier(fn)
            {"cond": _render_cond, "while_loop": _render_while, "scan": _render_scan}[step.op](fn, mod, step, ptrs)
            last_parallel = None   # every control step ends in a barrier
    return last_parallel


def _barrier(fn: Fn) -> None:
    fn.do("call void @hb_barrier(ptr %bar, i32 %nt)")


def _copies(fn: Fn, mod: render.ModuleState, pairs: list, ptrs: Pointers) -> None:
    """Thread 0 copies each (destination pointer, source pointer, bytes); then all wait. No copies,
    no wait: every caller comes right after a barrier (a region's end, or the control step's start)."""
    mod.declares.add(MEMMOVE)
    pairs = [(d, s, n) for d, s, n in pairs if n]
    if pairs:
        with fn.when(fn.op("icmp eq i32 %tid, 0"), "copy"):
            for dst, src, nbytes in pairs:
                fn.do(f"call void @llvm.memmove.p0.p0.i64(ptr {dst}, ptr {src}, i64 {nbytes}, i1 false)")
        _barrier(fn)


def _run_region(fn: Fn, mod, region: RegionCode, ptrs: Pointers) -> None:
    render_steps(fn, mod, region.steps, ptrs)
    _barrier(fn)


def _render_cond(fn: Fn, mod, step: ControlStep, ptrs: Pointers) -> None:
    n = len(step.regions)
    index = fn.op(f"load i32, ptr {ptrs.get(step.inputs[0])}")
    index = fn.op(f"select i1 {fn.op(f'icmp slt i32 {index}, 0')}, i32 0, i32 {index}")
    index = fn.op(f"select i1 {fn.op(f'icmp sgt i32 {index}, {n - 1}')}, i32 {n - 1}, i32 {index}")
    for k, region in enumerate(step.regions):
        with fn.when(fn.op(f"icmp eq i32 {index}, {k}"), f"branch{k}_"):
            _run_region(fn, mod, region, ptrs)
            _copies(fn, mod, [(ptrs.get(dst), ptrs.get(src), nbytes)
                              for dst, src, nbytes in zip(step.outputs, region.outputs, region.nbytes)], ptrs)


def _init_carry(fn: Fn, mod, step: ControlStep, n: int, ptrs: Pointers) -> None:
    _copies(fn, mod, [(ptrs.get(dst), ptrs.get(src), nbytes)
                      for dst, src, nbytes in zip(step.outputs[:n], step.inputs[:n], step.out_bytes[:n])], ptrs)


def _carry_copies(fn: Fn, step: ControlStep, body: RegionCode, n: int, ptrs: Pointers) -> list:
    """The copies that make the body's results the next carried state. A result that is another
    carried value passed through (a swap) goes through its staging buffer first."""
    staged, direct, back = [], [], []
    for k, (dst, src, nbytes) in enumerate(zip(step.outputs[:n], body.outputs[:n], body.nbytes[:n])):
        if k in step.staging:
            staged.append((ptrs.get(step.staging[k]), ptrs.get(src), nbytes))
            back.append((ptrs.get(dst), ptrs.get(step.staging[k]), nbytes))
        elif src != dst:
            direct.append((ptrs.get(dst), ptrs.get(src), nbytes))
    return staged + direct + back


def _render_while(fn: Fn, mod, step: ControlStep, ptrs: Pointers) -> None:
    n = step.attrs["num_carry"]
    cond, body = step.regions
    _init_carry(fn, mod, step, n, ptrs)
    head, run, done = fn.label("while_head"), fn.label("while_body"), fn.label("while_done")
    fn.br(head)
    fn.start(head)
    _run_region(fn, mod, cond, ptrs)
    flag = fn.op(f"load i8, ptr {ptrs.get(cond.outputs[0])}")
    fn.do(f"br i1 {fn.op(f'icmp ne i8 {flag}, 0')}, label %{run}, label %{done}")
    fn.start(run)
    _run_region(fn, mod, body, ptrs)
    _copies(fn, mod, _carry_copies(fn, step, body, n, ptrs), ptrs)
    fn.br(head)
    fn.start(done)


def _render_scan(fn: Fn, mod, step: ControlStep, ptrs: Pointers) -> None:
    n, m, length = step.attrs["num_carry"], step.attrs["num_xs"], step.attrs["length"]
    body = step.regions[0]
    _init_carry(fn, mod, step, n, ptrs)
    loop = fn.begin_loop("0", str(length))
    t = fn.op(f"sub i64 {length - 1}, {loop.index}") if step.attrs.get("reverse") else loop.index
    for k in range(m):
        row = step.in_bytes[n + k] // length if length else 0
        ptrs.dyn[(step.key, k)] = fn.op(f"getelementptr inbounds i8, ptr {ptrs.get(step.inputs[n + k])}, "
                                        f"i64 {fn.op(f'mul i64 {t}, {row}')}")
    _run_region(fn, mod, body, ptrs)
    pairs = []   # per-step rows first: they may read the carried state the carry copies overwrite
    for dst, src, nbytes in zip(step.outputs[n:], body.outputs[n:], body.nbytes[n:]):
        row = fn.op(f"getelementptr inbounds i8, ptr {ptrs.get(dst)}, i64 {fn.op(f'mul i64 {t}, {nbytes}')}")
        pairs.append((row, ptrs.get(src), nbytes))
    _copies(fn, mod, pairs + _carry_copies(fn, step, body, n, ptrs), ptrs)
    fn.end_loop(loop)
