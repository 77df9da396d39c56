"""The LLVM CPU backend: an optimized Graph -> one native entry point, run through ctypes.

Stages of `build`:
  1. module.build_module: kernels (codegen/kernel/) rendered to LLVM IR, one entry point
  2. the disk cache (cache.py) by hash of that IR + target + version; on a miss, target.compile_ir
     (O3, vectorized, host CPU) emits object code; a large module is compiled in parts on several cores
     (partition.py, workers.py). hybrid_sgemm (gemm.py or OpenBLAS) is a module of its own, compiled
     once per target (beside the graph's Python work when the graph has a matmul or convolution)
  3. MCJIT loads the object; runtime.Runner calls it (threads, arenas, output buffers)
Dumps: NN-llvm.ll and NN-asm.s in the dump folder (HYBRID_DUMP or dump=).

Knobs: HYBRID_COMPILE_WORKERS (compile worker processes, workers.py), HYBRID_NUM_THREADS (default: every core this process may use; the build option
num_threads= overrides it), HYBRID_CACHE_DIR (default ~/.cache/hybrid), HYBRID_CACHE_MAX_MB
(the cache's size cap, default 1024; 0 = none; least recently used entries go first), HYBRID_LOG=compile
(compile times, cache hits and misses, refused in-place slots).
"""
from __future__ import annotations

import functools
import os
import time
from typing import Optional

import llvmlite.binding as llvm
import numpy

from ...config import config
from ... import log
from ...core.array import NDArray
from ...core.context import host_data
from ...errors import HybridError
from ...ir.graph import Graph
from ...ir.types import to_numpy_dtype
from . import cache, conv_choice, module, profiling, support, target, workers
from .. import Backend, lapack, register_backend
from ..schedule_choice import ScheduleChoice
from .runtime import ProfileHook, Runner


def _next_dump_index(folder: str) -> int:
    names = [n for n in os.listdir(folder) if n[:2].isdigit()] if os.path.isdir(folder) else []
    return max((int(n[:2]) for n in names), default=-1) + 1


def _extern_symbols() -> None:
    try:
        from . import gemm
    except ImportError:
        return
    for name, addr in gemm.extern_symbols().items():
        llvm.add_symbol(name, addr)


class LLVMExecutable:
    """Callable on a list of arrays (graph-input order); returns the outputs as NDArrays."""

    backend = "llvm"

    def __init__(self, graph: Graph, plan: module.ModulePlan, engine, nthreads: int, profile: bool = True):
        self.graph = graph
        self.plan = plan
        self.engine = engine
        # a graph with nothing to split across threads still uses them for its concurrent groups
        self.nthreads = nthreads if plan.parallel or plan.concurrent_regions else 1
        self.input_specs = [(v.shape, to_numpy_dtype(v.dtype)) for v in graph.inputs]
        out_specs = [(v.shape, to_numpy_dtype(v.dtype)) for v in graph.outputs]
        self.runner = Runner(engine.get_function_address(module.ENTRY), plan.arena_bytes, len(graph.inputs),
                             out_specs, plan.constants, plan.output_sources, self.nthreads, keepalive=(engine,),
                             checks=plan.checks, packs=plan.packs,
                             profile=ProfileHook(engine.get_global_value_address(profiling.GLOBAL), plan.segments,
                                                 graph.name) if profile else None,
                             teams=plan.teams if self.nthreads == plan.teams else 0,
                             schedule=ScheduleChoice(graph.name, "llvm", plan.concurrent_regions, self.nthreads),
                             parallel=plan.parallel)

    def _check(self, inputs: list) -> tuple[list[numpy.ndarray], list]:
        """The inputs as C-contiguous arrays of the graph's types, and their write tokens (None where an
        input has none: a NumPy array; see core.context.host_data)."""
        if len(inputs) != len(self.input_specs):
            raise HybridError(f"graph @{self.graph.name} takes {len(self.input_specs)} inputs, got {len(inputs)}")
        arrays, tokens = [], []
        for v, a, (shape, dtype) in zip(self.graph.inputs, inputs, self.input_specs):
            a, token = host_data(a)
            tokens.append(token)
            if a.__class__ is not numpy.ndarray or a.dtype != dtype or a.shape != shape or not a.flags.c_contiguous:
                a = numpy.asarray(a)
                if a.shape != shape or a.dtype != dtype:
                    raise HybridError(f"input %{v.name} of graph @{self.graph.name} must be {dtype}{list(shape)}, "
                                      f"got {a.dtype}{list(a.shape)}; cast or reshape it before the call")
                a = numpy.ascontiguousarray(a)
            arrays.append(a)
        return arrays, tokens

    def __call__(self, inputs: list) -> list[NDArray]:
        arrays, tokens = self._check(inputs)
        return [NDArray(out) for out in self.runner(arrays, tokens)]

    def refresh_params(self) -> None:
        """Repack pre-packed weights at the next call: needed only after writing into a parameter through a
        raw NumPy view (`numpy.asarray(p.data())[...] = v`), which hybrid's write tokens cannot see."""
        self.runner.refresh_params()


def _cached_object(ir, name: str, pic: bool, dump: Optional[str] = None, key_text: Optional[str] = None) -> bytes:
    """ir: the module text, or a function making it (only called on a cache miss; key_text
    then stands for it in the key)."""
    key = cache.cache_key(key_text if key_text is not None else ir, target.target_id(), "pic" if pic else "jit")
    obj = None if dump else cache.load(key)
    if obj is None:
        ir = ir() if callable(ir) else ir
        obj, asm = target.compile_ir(ir, pic=pic, want_asm=bool(dump), name=name)
        cache.store(key, obj)
        if dump:
            os.makedirs(dump, exist_ok=True)
            n = _next_dump_index(dump)
            with open(os.path.join(dump, f"{n:02d}-llvm.ll"), "w") as f:
                f.write(ir)
            with open(os.path.join(dump, f"{n + 1:02d}-asm.s"), "w") as f:
                f.write(asm)
    return obj


def _part_objects(plan: module.ModulePlan, name: str, pic: bool) -> list[bytes]:
    """Object code of each part of a split module (module.ModulePlan.parts), each cached under its own key;
    the parts not cached are compiled together on this thread and the compile workers (workers.py)."""
    keys = [cache.cache_key(ir, target.target_id(), "pic" if pic else "jit") for ir, _ in plan.parts]
    objects = [cache.load(key) for key in keys]
    missing = [i for i, obj in enumerate(objects) if obj is None]
    if missing:
        start = time.perf_counter()
        jobs = [workers.Job(plan.parts[i][0], f"{name} part {i}", plan.parts[i][1], pic) for i in missing]
        for i, obj in zip(missing, workers.compile_all(jobs)):
            cache.store(keys[i], obj)
            objects[i] = obj
        log.log("compile", f"llvm: compiled {name} in {len(plan.parts)} parts ({len(missing)} not cached) in "
                           f"{(time.perf_counter() - start) * 1e3:.0f} ms")
    return objects


def _sgemm_key(impl: str, pic: bool) -> str:
    return cache.cache_key(module.sgemm_source_key(impl), target.target_id(), "pic" if pic else "jit")


_SGEMM_PENDING: dict[str, workers.Background] = {}   # cache key -> its compile under way
os.register_at_fork(after_in_child=_SGEMM_PENDING.clear)   # a forked child has not the threads compiling them


def _start_sgemm(graph: Graph) -> None:
    """When the graph will likely call hybrid_sgemm (a float32 matmul or convolution; a wrong guess costs only
    time) and its object is not cached, compile it now, beside the Python work of building the module."""
    if not any(node.op == "matmul" or node.op.startswith("conv") for _, node in graph.walk()):
        return
    key = _sgemm_key("auto", False)
    if key in _SGEMM_PENDING or cache.contains(key):
        return
    log.log("compile", "llvm: compiling hybrid_sgemm[auto] beside the graph's module")
    _SGEMM_PENDING[key] = workers.background(workers.Job(module.sgemm_ir("auto"), "hybrid_sgemm[auto]"),
                                             lambda obj: cache.store(key, obj))


def _sgemm_object(impl: str, pic: bool) -> bytes:
    key = _sgemm_key(impl, pic)
    pending = _SGEMM_PENDING.pop(key, None)
    if pending is not None:
        return pending.result()
    # keyed by the generator's source, so a warm start does not regenerate the GEMM IR
    return _cached_object(lambda: module.sgemm_ir(impl), f"hybrid_sgemm[{impl}]", pic,
                          key_text=module.sgemm_source_key(impl))


@functools.lru_cache(maxsize=None)
def _runtime_object() -> bytes:
    """The JIT's runtime helpers, compiled once per process (a few milliseconds: not worth a cache entry)."""
    return target.compile_ir(support.runtime_ir(target.host()[0]), name="hybrid_runtime")[0]


def compile_objects(plan: module.ModulePlan, name: str, dump: Optional[str] = None, pic: bool = False) -> list[bytes]:
    """Object code for a module plan (its parts, when it is split and nothing is dumped) and the GEMM module
    it calls (compiled once per target and implementation), through the disk cache, and the JIT's runtime
    helpers (support.runtime_ir, once per process)."""
    objects = _part_objects(plan, name, pic) if plan.parts and not dump else [_cached_object(plan.ir, name, pic, dump)]
    if plan.uses_sgemm:
        objects.append(_sgemm_object(plan.gemm_impl, pic))
    if plan.links_runtime:
        objects.append(_runtime_object())
    return objects


def build(graph: Graph, options: dict) -> LLVMExecutable:
    """options: num_threads (None: the num_threads setting), profile (False: calls are never reported
    to the profiler; an eager op's kernel reports itself), dump, and the common ones."""
    num_threads, dump, profile = options["num_threads"], options["dump"], options["profile"]
    start = time.perf_counter()
    triple, _, _ = target.host()
    _start_sgemm(graph)
    nthreads = config.check("num_threads", num_threads) if num_threads else config.get("num_threads")
    side_by_side = nthreads > 1 and config.get("concurrent_groups") != "off"
    plan = module.build_module(graph, triple, teams=nthreads if side_by_side else 0)
    dump = dump or config.get("dump")
    objects = compile_objects(plan, graph.name, dump)
    if plan.uses_lapack:
        lapack.load()
    with target.LLVM_LOCK:
        _extern_symbols()
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), target.new_target_machine(False))
        for obj in objects:
            engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        engine.finalize_object()
    exe = LLVMExecutable(graph, plan, engine, nthreads, profile)
    log.log("compile", f"llvm: built @{graph.name} ({len(graph.nodes)} kernels, arena {plan.arena_bytes} B, "
                       f"{exe.nthreads} threads) in {(time.perf_counter() - start) * 1e3:.0f} ms")
    return exe


register_backend(Backend("llvm", build, {"num_threads": None, "profile": True},
                         doc="native code for the host CPU through llvmlite, one entry point per graph",
                         workspace=module.workspace_rule, conv_layout=conv_choice.blocked_input))
