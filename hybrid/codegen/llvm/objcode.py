"""LLVM IR text -> optimized object code, with llvmlite alone: the compile step of target.py, and the script
a compile worker process runs (workers.py).

It imports nothing of hybrid (so it stays importable by path) and only the standard library at its top
(so a worker starts in a fraction of a second; importing hybrid would take seconds).

Worker protocol, over the worker's stdin/stdout: a request is one JSON line {"triple", "cpu", "features",
"pic", "asm", "level", "ir": byte count} followed by that many bytes of IR text; the reply is one JSON line
{"ok": true, "obj": n, "asm": m, "cpu_s": the worker's process CPU time so far} followed by the object's n
bytes and the assembly's m bytes, or {"ok": false, "error": text}. End of input ends the worker.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time
from typing import Optional


@functools.lru_cache(maxsize=None)
def _init() -> None:
    import llvmlite.binding as llvm
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()


def new_target_machine(triple: str, cpu: str, features: str, pic: bool):
    """A target machine for the host or an AOT library (pic: position-independent code)."""
    import llvmlite.binding as llvm
    _init()
    return llvm.Target.from_triple(triple).create_target_machine(
        cpu=cpu, features=features, opt=3, reloc="pic" if pic else "default",
        codemodel="default" if pic else "jitdefault")


@functools.lru_cache(maxsize=None)
def target_machine(triple: str, cpu: str, features: str, pic: bool):
    """The shared target machine for compiling (never hand it to an engine: engines own theirs)."""
    return new_target_machine(triple, cpu, features, pic)


def optimize(module, tm, level: int = 3) -> None:
    """LLVM's O<level> pipeline with loop and SLP vectorization and unrolling (O1: neither vectorizer)."""
    import llvmlite.binding as llvm
    pto = llvm.create_pipeline_tuning_options(speed_level=level)
    pto.loop_vectorization = level >= 2
    pto.slp_vectorization = level >= 2
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(module, pb)


def compile_text(ir: str, triple: str, cpu: str, features: str, pic: bool = False, want_asm: bool = False,
                 level: int = 3) -> tuple[bytes, Optional[str]]:
    """Parse, verify, optimize at O<level> and emit an object file (and its assembly). Not thread-safe:
    llvmlite works in LLVM's one global context (target.LLVM_LOCK guards it in hybrid's process)."""
    import llvmlite.binding as llvm
    tm = target_machine(triple, cpu, features, pic)
    module = llvm.parse_assembly(ir)
    module.triple = triple
    module.data_layout = str(tm.target_data)
    module.verify()
    optimize(module, tm, level)
    obj = tm.emit_object(module)
    return obj, (tm.emit_assembly(module) if want_asm else None)


def _reply(out, header: dict, *payloads: bytes) -> None:
    out.write(json.dumps(header).encode() + b"\n")
    for p in payloads:
        out.write(p)
    out.flush()


def serve(inp, out) -> None:
    """Answer compile requests (see the module doc) until the input ends."""
    while True:
        line = inp.readline()
        if not line:
            return
        try:
            req = json.loads(line)
            ir = inp.read(req["ir"]).decode()
        except (ValueError, KeyError, UnicodeDecodeError) as e:
            _reply(out, {"ok": False, "error": f"bad request: {e}"})
            return   # the stream is out of step: nothing after this can be read reliably
        try:
            obj, asm = compile_text(ir, req["triple"], req["cpu"], req["features"], req["pic"], req["asm"],
                                    req["level"])
        except Exception as e:   # an IR or LLVM error goes back to the parent, which raises it
            _reply(out, {"ok": False, "error": f"{type(e).__name__}: {e}"})
            continue
        asm_bytes = asm.encode() if asm is not None else b""
        _reply(out, {"ok": True, "obj": len(obj), "asm": len(asm_bytes) if asm is not None else None,
                     "cpu_s": time.process_time()}, obj, asm_bytes)


if __name__ == "__main__":
    # run by path: the folder of this file comes first on sys.path, where hybrid's own modules must not be
    # mistaken for top-level ones by anything llvmlite imports
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    _init()   # now, while the parent is still busy with other work
    serve(sys.stdin.buffer, sys.stdout.buffer)
