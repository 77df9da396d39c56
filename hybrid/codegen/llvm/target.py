"""The host target and the LLVM compile step: IR text -> optimized object code (+ assembly).

The host CPU name and features come from llvmlite; on AVX-512 hosts "-prefer-256-bit" is
added so the vectorizer uses 512-bit registers (LLVM otherwise prefers 256-bit there).
Optimization is LLVM's O3 pipeline with loop and SLP vectorization (objcode.py, which compile workers run
too).
"""
from __future__ import annotations

import functools
import threading
import time
from typing import Optional

import llvmlite.binding as llvm

from ... import log
from . import objcode

# llvmlite works in LLVM's one global context, which is not thread-safe: the engine's worker thread may
# compile an eager kernel while the user's thread compiles a hybridized graph, so every use holds this
LLVM_LOCK = threading.RLock()


@functools.lru_cache(maxsize=None)
def host() -> tuple[str, str, str]:
    """(triple, cpu name, feature string) of this machine."""
    objcode._init()
    feats = llvm.get_host_cpu_features()
    features = feats.flatten()
    if feats.get("avx512f"):
        features += ",-prefer-256-bit"
    return llvm.get_process_triple(), llvm.get_host_cpu_name(), features


def target_id() -> str:
    triple, cpu, features = host()
    return f"{triple}|{cpu}|{features}"


def target_machine(pic: bool = False) -> "llvm.TargetMachine":
    """The shared target machine for compiling (never hand it to an engine: engines own theirs)."""
    return objcode.target_machine(*host(), pic)


def new_target_machine(pic: bool = False) -> "llvm.TargetMachine":
    """A target machine of its own, for an execution engine (which takes ownership)."""
    return objcode.new_target_machine(*host(), pic)


def compile_ir(ir: str, pic: bool = False, want_asm: bool = False, name: str = "graph",
               level: int = 3) -> tuple[bytes, Optional[str]]:
    """Parse, optimize and emit an object file (and assembly) in this process."""
    start = time.perf_counter()
    with LLVM_LOCK:
        obj, asm = objcode.compile_text(ir, *host(), pic, want_asm, level)
    log.log("compile", f"llvm: compiled {name} ({len(ir) // 1024} KiB IR, O{level}) in "
                       f"{(time.perf_counter() - start) * 1e3:.0f} ms")
    return obj, asm
