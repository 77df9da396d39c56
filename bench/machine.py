"""What the benchmark ran on: CPU model, cores, vector flags, library versions."""
from __future__ import annotations

import os
import platform


def cpu_info() -> dict:
    model, flags = platform.processor() or "unknown", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = value.split()
    except OSError:
        pass
    vector = [f for f in flags if f in ("sse4_2", "avx", "avx2", "fma", "f16c") or f.startswith("avx512")]
    try:
        import llvmlite.binding as llvm
        llvm.initialize_native_target()
        target = llvm.get_host_cpu_name()
    except Exception:  # llvmlite missing: the rest of the report still stands
        target = "n/a"
    return {"cpu": model, "llvm_cpu": target, "cores": os.cpu_count(), "vector_flags": " ".join(vector),
            "platform": platform.platform(), "python": platform.python_version()}


def versions() -> dict:
    out = {}
    for name in ("numpy", "llvmlite", "torch", "onnxruntime", "onnx", "scipy_openblas32"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "installed")
        except ImportError:
            out[name] = "not installed"
    return out
