"""Device contexts (`hb.cpu()`, `hb.gpu(0)`) and arrays that live on a GPU.

`x.as_in_context(hb.gpu(0))` copies an NDArray to the device once; passing it to a function
hybridized with backend="cuda" then copies device->device instead of host->device, and the
results stay on the device too (as in MXNet, outputs follow their inputs' context). Every
eager path still works on a DeviceNDArray: reading its data (`asnumpy()`, NumPy conversion,
eager ops) downloads a host copy.
"""
from __future__ import annotations

import threading
from typing import Callable, Optional

import numpy

from ..errors import HybridError
from ..ir.types import TensorType, dtype_name, to_numpy_dtype
from .array import WRITE_CLOCK, NDArray


# MXNet's host memory kinds: plain, page-locked for fast GPU copies ("cpu_pinned"), and shared
# between processes ("cpu_shared"). hybrid's host arrays are all ordinary NumPy memory; the pinned and
# shared kinds are kept as names so code placing data on them runs and reads its placement back.
HOST_DEVICE_TYPES = ("cpu", "cpu_pinned", "cpu_shared")


class Context:
    """Where an array lives: Context("cpu", 0), Context("gpu", i), or MXNet's host-memory variants
    Context("cpu_pinned", i) / Context("cpu_shared", i) (host memory here, see HOST_DEVICE_TYPES)."""

    __slots__ = ("device_type", "device_id")

    def __init__(self, device_type: str, device_id: int = 0):
        if device_type not in HOST_DEVICE_TYPES + ("gpu",):
            raise HybridError(f"unknown device type {device_type!r}; use hb.cpu(), hb.gpu(i), hb.cpu_pinned(i) "
                              "or hb.cpu_shared(i)")
        self.device_type = device_type
        self.device_id = int(device_id)

    @property
    def is_host(self) -> bool:
        """Whether arrays on this device live in host memory (cpu, cpu_pinned, cpu_shared)."""
        return self.device_type in HOST_DEVICE_TYPES

    def __eq__(self, other) -> bool:
        return isinstance(other, Context) and (self.device_type, self.device_id) == (other.device_type,
                                                                                    other.device_id)

    def __hash__(self) -> int:
        return hash((self.device_type, self.device_id))

    def __repr__(self) -> str:
        return f"{self.device_type}({self.device_id})"

    # `with hb.cpu(1):` makes this the current device (MXNet's `with ctx:`): a parameter kept on several
    # devices (net.initialize(ctx=[...])) reads its replica for the current device; a block called on an
    # array placed on a device enters that device for the call.
    def __enter__(self) -> "Context":
        _scope_stack().append(self)
        return self

    def __exit__(self, *exc) -> None:
        _scope_stack().pop()


_SCOPE = threading.local()


def _scope_stack() -> list:
    if not hasattr(_SCOPE, "stack"):
        _SCOPE.stack = []
    return _SCOPE.stack


def device_scope() -> Optional[Context]:
    """The device of the innermost `with ctx:` block of this thread, None outside any."""
    stack = _scope_stack()
    return stack[-1] if stack else None


def cpu(device_id: int = 0) -> Context:
    return Context("cpu", device_id)


def gpu(device_id: int = 0) -> Context:
    return Context("gpu", device_id)


def cpu_pinned(device_id: int = 0) -> Context:
    """MXNet's page-locked host memory (for GPU `device_id`); ordinary host memory here."""
    return Context("cpu_pinned", device_id)


def cpu_shared(device_id: int = 0) -> Context:
    """MXNet's host memory shared between processes; ordinary host memory here (DataLoader workers
    send batches through pickled NumPy buffers)."""
    return Context("cpu_shared", device_id)


def is_host_device(device) -> bool:
    """Whether `device` (a Context, 'cpu' or None) names host memory."""
    return device is None or device == "cpu" or bool(getattr(device, "is_host", False))


Device = Context  # MXNet 2 renamed Context to Device; both names stay


def current_context() -> Context:
    """The device of the innermost `with ctx:` block, else hb.cpu(0). New arrays are still
    created in host memory and moved with `as_in_context` (see docs/semantics.md)."""
    scope = device_scope()
    return scope if scope is not None else cpu(0)


current_device = current_context


def num_gpus() -> int:
    """How many CUDA devices PyCUDA sees (0 without PyCUDA or a driver)."""
    try:
        import pycuda.driver as driver
        driver.init()
        return int(driver.Device.count())
    except Exception:  # no pycuda, no driver, no device: all mean "no GPU" here
        return 0


class HostDeviceArray(NDArray):
    """An NDArray in host memory placed on a host device other than cpu(0): CPU device `cpu(i)`, i > 0
    (several CPU "devices" in one process, for data parallelism over device replicas, tested like
    GPUs, run on the host), or cpu_pinned(i) / cpu_shared(i). Eager ops on it give plain NDArrays
    (cpu(0)); a block called on a cpu(i) array runs on that device's parameter replicas."""

    __slots__ = ("_ctx",)

    def __init__(self, data: numpy.ndarray, ctx: Context):
        super().__init__(data)
        self._ctx = ctx

    @property
    def context(self) -> Context:
        return self._ctx

    def detach(self) -> "HostDeviceArray":
        return HostDeviceArray(self._data, self._ctx)

    def __repr__(self) -> str:
        return f"{self._data!r} @{self.context}"


def on_host_device(array: NDArray, ctx: Context) -> NDArray:
    """A copy of `array` placed on host device `ctx` (a plain NDArray for cpu(0))."""
    data = numpy.array(array._data, copy=True)
    return NDArray(data) if ctx == cpu(0) else HostDeviceArray(data, ctx)


class DeviceNDArray(NDArray):
    """An NDArray whose data is in GPU memory (owned by `_owner`, at address `device_ptr`)."""

    __slots__ = ("_owner", "_ptr", "_runtime", "_device_id")

    def __init__(self, type_: TensorType, runtime, device_id: int = 0):
        # NDArray.__init__ would store host data; the device array keeps only autograd state.
        self._grad = None
        self._grad_req = "null"
        self._node = None
        self._pending = None          # device arrays are never queued (core/engine.py)
        self._version = next(WRITE_CLOCK)
        self._base = None
        self._type = type_
        self._runtime = runtime
        self._device_id = device_id
        self._owner, self._ptr = runtime.malloc(type_.nbytes)

    @classmethod
    def empty(cls, type_: TensorType, runtime, device_id: int = 0) -> "DeviceNDArray":
        return cls(type_, runtime, device_id)

    @classmethod
    def from_host(cls, data: numpy.ndarray, runtime, device_id: int = 0) -> "DeviceNDArray":
        data = numpy.ascontiguousarray(data)
        out = cls(TensorType(tuple(data.shape), dtype_name(data.dtype)), runtime, device_id)
        runtime.htod(out._ptr, data)
        runtime.synchronize()
        return out

    @property
    def device_ptr(self) -> int:
        return self._ptr

    @property
    def context(self) -> Context:
        return gpu(self._device_id)

    @property
    def type(self) -> TensorType:
        return self._type

    @property
    def shape(self) -> tuple[int, ...]:
        return self._type.shape

    @property
    def dtype(self) -> numpy.dtype:
        return to_numpy_dtype(self._type.dtype)

    @property
    def _data(self) -> numpy.ndarray:  # type: ignore[override]
        """A host copy (what every eager path reads)."""
        host = numpy.empty(self._type.shape, to_numpy_dtype(self._type.dtype))
        self._runtime.dtoh(host, self._ptr)
        self._runtime.synchronize()
        return host

    def asnumpy(self) -> numpy.ndarray:
        return self._data

    def __setitem__(self, key, value) -> None:
        host = self._data
        staged = NDArray(host)
        staged[key] = value
        self._runtime.htod(self._ptr, host)
        self._runtime.synchronize()

    def copy(self) -> "DeviceNDArray":
        out = DeviceNDArray(self._type, self._runtime, self._device_id)
        self._runtime.dtod(out._ptr, self._ptr, self._type.nbytes)
        self._runtime.synchronize()
        return out

    def detach(self) -> "DeviceNDArray":
        return self

    def as_in_context(self, ctx: Context) -> NDArray:
        if ctx == self.context:
            return self
        if ctx.device_type == "cpu":
            return NDArray(self._data) if ctx.device_id == 0 else HostDeviceArray(self._data, ctx.device_id)
        return to_device(NDArray(self._data), ctx)

    def __repr__(self) -> str:
        return f"{self._data!r} @{self.context}"


def host_data(x) -> tuple[numpy.ndarray, Optional[int]]:
    """What a host executable reads for input `x` (NDArray, device array or NumPy array): its data,
    and its write token, which changes whenever hybrid writes into the array (NDArray._assign), so
    backends re-upload or repack a parameter exactly when it changed. None where unknown (a NumPy
    array, a device array's host copy): read it anew every call."""
    if isinstance(x, DeviceNDArray):
        return x._data, None
    if isinstance(x, NDArray):
        return x._data, x._write_version()
    return numpy.asarray(x), None


# device type -> runtime(device_id): how to reach a device's memory (malloc, copies). A backend
# that drives the device registers it (hybrid.codegen registers "gpu": the CUDA runtime).
_RUNTIMES: dict[str, Callable[[int], object]] = {}


def register_device_runtime(device_type: str, runtime: Callable[[int], object]) -> None:
    _RUNTIMES[device_type] = runtime


def to_device(array: NDArray, ctx: Context, runtime: Optional[object] = None) -> DeviceNDArray:
    """Copy a host NDArray to GPU ctx.device_id (through the runtime of the backend that drives it)."""
    if runtime is None:
        if ctx.device_type not in _RUNTIMES:
            raise HybridError(f"no runtime for {ctx}: import hybrid (its CUDA backend drives GPUs)")
        runtime = _RUNTIMES[ctx.device_type](ctx.device_id)
    return DeviceNDArray.from_host(array._data, runtime, ctx.device_id)


__all__ = ["Context", "Device", "cpu", "gpu", "current_context", "current_device", "device_scope", "num_gpus",
           "DeviceNDArray", "HostDeviceArray", "host_data", "on_host_device", "to_device"]
