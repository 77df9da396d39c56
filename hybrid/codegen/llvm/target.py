"""The host target and the LLVM compile step: IR text -> optimized object code (+ assembly).

The host CPU name and features come from llvmlite; on AVX-512 hosts "-prefer-256-bit" is
added so the vectorizer uses 512-bit registers (LLVM otherwise prefers 256-bit there).
Optimization is LLVM's O3 pipeline with loop and SLP vectorization.
"""
from __future__ import annotations

import functools
import threading
import time
from typing import Optional

import llvmlite.binding as llvm

from ... import log

# llvmlite works in LLVM's one global context, which is not thread-safe: the engine's worker thread may
# compile an eager kernel while the user's thread compiles a hybridized graph, so every use holds this
LLVM_LOCK = threading.RLock()


@functools.lru_cache(maxsize=None)
def _init() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()


@functools.lru_cache(maxsize=None)
def host() -> tuple[str, str, str]:
    """(triple, cpu name, feature string) of this machine."""
    _init()
    feats = llvm.get_host_cpu_features()
    features = feats.flatten()
    if feats.get("avx512f"):
        features += ",-prefer-256-bit"
    return llvm.get_process_triple(), llvm.get_host_cpu_name(), features


def target_id() -> str:
    triple, cpu, features = host()
    return f"{triple}|{cpu}|{features}"


@functools.lru_cache(maxsize=None)
def _target(triple: str) -> "llvm.Target":
    return llvm.Target.from_triple(triple)


@functools.lru_cache(maxsize=None)
def target_machine(pic: bool = False) -> "llvm.TargetMachine":
    """The shared target machine for compiling (never hand it to an engine: engines own theirs)."""
    return new_target_machine(pic)


def new_target_machine(pic: bool = False) -> "llvm.TargetMachine":
    triple, cpu, features = host()
    target = _target(triple)
    return target.create_target_machine(cpu=cpu, features=features, opt=3,
                                        reloc="pic" if pic else "default",
                                        codemodel="default" if pic else "jitdefault")


def optimize(module: "llvm.ModuleRef", tm: "llvm.TargetMachine") -> None:
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(module, pb)


def compile_ir(ir: str, pic: bool = False, want_asm: bool = False, name: str = "graph") -> tuple[bytes, Optional[str]]:
    """Parse, optimize and emit an object file (and assembly)."""
    _init()
    start = time.perf_counter()
    with LLVM_LOCK:
        tm = target_machine(pic)
        module = llvm.parse_assembly(ir)
        module.triple = host()[0]
        module.data_layout = str(tm.target_data)
        module.verify()
        optimize(module, tm)
        obj = tm.emit_object(module)
        asm = tm.emit_assembly(module) if want_asm else None
    log.log("compile", f"llvm: compiled {name} ({len(ir) // 1024} KiB IR) in "
                       f"{(time.perf_counter() - start) * 1e3:.0f} ms")
    return obj, asm
