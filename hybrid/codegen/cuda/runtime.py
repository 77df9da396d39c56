"""Device runtimes behind the CUDA executable: PyCUDA on a GPU, or the host emulator.

Both offer the same small interface (alloc, copies on one stream, module loading, launches,
synchronize), so the executable's arena layout, argument binding and launch order are the
same code whichever runs them. `get_runtime()` picks PyCUDA unless HYBRID_CUDA_RUNTIME=emulator
(tests on machines without a GPU); it never falls back silently: a missing PyCUDA, driver or
GPU raises CudaUnavailable naming which one is missing.
"""
from __future__ import annotations

import atexit
from typing import Optional

import numpy

from ...config import config
from ...errors import HybridError
from . import compiler


class CudaUnavailable(HybridError):
    """backend="cuda" cannot run here: PyCUDA, the NVIDIA driver or a GPU is missing."""


def _probe_pycuda():
    """The pycuda.driver module, initialized, or CudaUnavailable saying what is missing."""
    try:
        import pycuda.driver as driver  # noqa: F401
    except ImportError as e:
        text = str(e)
        if "libcuda" in text:
            raise CudaUnavailable(f"the NVIDIA driver library (libcuda.so) is missing, so PyCUDA cannot load ({text}). "
                                  "Install the NVIDIA driver, or use backend='llvm' on this machine.") from None
        raise CudaUnavailable("PyCUDA is not installed: `pip install hybrid[cuda]` (it builds against the CUDA "
                              "toolkit and the NVIDIA driver), or use backend='llvm' on this machine.") from None
    try:
        driver.init()
    except Exception as e:  # pycuda raises its own driver errors
        raise CudaUnavailable(f"the NVIDIA driver failed to initialize ({e}): is the driver installed and "
                              "loaded (nvidia-smi)?") from None
    if driver.Device.count() == 0:
        raise CudaUnavailable("PyCUDA and the driver are present but no GPU is visible (check "
                              "CUDA_VISIBLE_DEVICES and nvidia-smi).")
    return driver


class PyCudaRuntime:
    """One device's primary context, one stream; allocations live as long as this runtime."""

    name = "pycuda"

    def __init__(self, device: int = 0):
        driver = _probe_pycuda()
        if device >= driver.Device.count():
            raise CudaUnavailable(f"GPU {device} was asked for but only {driver.Device.count()} are visible")
        self.driver = driver
        self.device = driver.Device(device)
        self.context = self.device.retain_primary_context()
        self.context.push()
        atexit.register(self._pop)
        major, minor = self.device.compute_capability()
        self.arch = f"sm_{major}{minor}"
        self.stream = driver.Stream()
        self._keep: list = []

    def _pop(self) -> None:
        try:
            self.context.pop()
        except Exception:  # already gone at interpreter exit
            pass

    def describe(self) -> str:
        return f"{self.device.name()} ({self.arch})"

    def malloc(self, nbytes: int) -> tuple:
        """(owner, device pointer); the memory is freed when the owner is garbage-collected."""
        mem = self.driver.mem_alloc(max(int(nbytes), 1))
        return mem, int(mem)

    def htod(self, dst: int, src: numpy.ndarray) -> None:
        self.driver.memcpy_htod_async(dst, numpy.ascontiguousarray(src), self.stream)

    def dtoh(self, dst: numpy.ndarray, src: int) -> None:
        self.driver.memcpy_dtoh_async(dst, src, self.stream)

    def dtod(self, dst: int, src: int, nbytes: int) -> None:
        self.driver.memcpy_dtod_async(dst, src, nbytes, self.stream)

    def load_module(self, source: str, names: list[str]) -> dict:
        from pycuda import compiler as pyc

        cubin = pyc.compile(source, no_extern_c=True, arch=self.arch, options=list(compiler.NVCC_FLAGS),
                            cache_dir=compiler.cache_dir())
        module = self.driver.module_from_buffer(cubin)
        self._keep.append(module)
        functions = {}
        for name in names:
            fn = module.get_function(name)
            functions[name] = fn
        return functions

    def bind(self, fn, grid: tuple, block: tuple, args: list[int]):
        """A no-argument callable that launches fn on the stream. The arguments never change
        (arena addresses are fixed), so they are packed once here, not at every call."""
        if not hasattr(fn, "_launch_kernel"):  # an older PyCUDA: pack per call
            fn.prepare("P" * len(args))
            return lambda: fn.prepared_async_call(grid, block, self.stream, *args)
        from pycuda._pvt_struct import pack

        packed = pack("P" * len(args), *args)
        return lambda: fn._launch_kernel(grid, block, packed, 0, self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()


_RUNTIMES: dict[tuple, object] = {}


def get_runtime(name: Optional[str] = None, device: int = 0):
    """The shared runtime for `name` ("pycuda" | "emulator"; default $HYBRID_CUDA_RUNTIME or pycuda)."""
    name = name or config.get("cuda_runtime")
    key = (name, device)
    if key not in _RUNTIMES:
        if name == "pycuda":
            _RUNTIMES[key] = PyCudaRuntime(device)
        elif name == "emulator":
            from .emulator import EmulatorRuntime
            _RUNTIMES[key] = EmulatorRuntime()
        else:
            raise HybridError(f"unknown CUDA runtime {name!r}; use 'pycuda' (a GPU) or 'emulator' (tests on the host)")
    return _RUNTIMES[key]
