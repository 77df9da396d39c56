"""Parameters: named, initialized (possibly deferred until the first call) model weights."""
from __future__ import annotations

from typing import Optional

import numpy

from ..errors import HybridError, ShapeError
from ..ir.types import dtype_name, is_float_dtype, to_numpy_dtype
from ..core.array import NDArray
from ..core.context import Context, cpu, device_scope, is_host_device, on_host_device
from . import init as initializers


class DeferredInitializationError(HybridError):
    """A parameter's shape is not known yet: call the block on data first."""


class ParameterShapeError(ShapeError, AssertionError):
    """A layer's input does not fit the shape its parameter was given (e.g. in_channels=10 for 11
    channels). An AssertionError too, which is what MXNet raises here."""


class Parameter:
    """A model weight. `shape` may contain 0 for dimensions inferred at the first forward."""

    def __init__(self, name: str = "weight", shape=None, dtype="float32", init=None, grad_req: str = "write",
                 differentiable: bool = True, allow_deferred_init: bool = True, lr_mult: float = 1.0,
                 wd_mult: float = 1.0, grad_stype: str = "default", stype: str = "default"):
        for what, value in (("grad_stype", grad_stype), ("stype", stype)):
            if value != "default":
                raise HybridError(f"Parameter {name}: {what}={value!r}: hybrid stores every array densely; "
                                  f"use {what}='default' (sparse storage is not supported, see docs/semantics.md)")
        self.name = name
        # the Trainer scales this parameter's learning rate and weight decay by these
        self.lr_mult, self.wd_mult = float(lr_mult), float(wd_mult)
        self.grad_stype, self.stype = grad_stype, stype
        # MXNet also takes one int for a 1-d shape (Parameter('bias', shape=num_filter))
        self.shape = (int(shape),) if isinstance(shape, (int, numpy.integer)) else (
            tuple(shape) if shape is not None else None)
        self.dtype = to_numpy_dtype(dtype_name(dtype))
        self.init = init
        self._array: Optional[NDArray] = None          # the value on the first device of _ctx_list
        self._replicas: dict[Context, NDArray] = {}     # device -> its copy of the value (all of _ctx_list)
        self.grad_req = grad_req if differentiable else "null"
        self._ctx_list: list[Context] = [cpu(0)]
        self._deferred_init: Optional[initializers.Initializer] = None
        self.allow_deferred_init = allow_deferred_init

    def __repr__(self) -> str:
        return f"Parameter {self.name} (shape={self.shape}, dtype={self.dtype.name})"

    @property
    def is_initialized(self) -> bool:
        return self._array is not None

    @property
    def grad_req(self) -> str:
        return self._grad_req

    @grad_req.setter
    def grad_req(self, req: str) -> None:
        """'write', 'add' or 'null'. Changing it on an initialized parameter gives every replica a fresh
        zero gradient buffer, or none for 'null' (MXNet's rule: block.setattr('grad_req', 'null') frees them)."""
        if req not in ("write", "add", "null"):
            raise ValueError(f"Parameter {self.name}: grad_req must be 'write', 'add' or 'null', got {req!r}")
        changed = req != self.__dict__.get("_grad_req")
        self._grad_req = req
        if changed:
            for replica in self._replicas.values():
                replica.attach_grad(req)

    @property
    def _grad(self) -> Optional[list]:
        """The gradient buffer of each replica, None without them (grad_req='null' or not initialized):
        MXNet's internal attribute, which code written against MXNet reads."""
        if self.grad_req == "null" or not self._replicas:
            return None
        return [self._replicas[c].grad for c in self._ctx_list]

    def _shape_known(self) -> bool:
        return self.shape is not None and all(d > 0 for d in self.shape)

    def initialize(self, init=None, force_reinit: bool = False, ctx=None, device=None) -> None:
        """Set the value from `init` (or this parameter's own initializer), on every device of
        `ctx`/`device` (one Context or a list; default hb.cpu(0)): one replica per device, all equal."""
        if self._array is not None and not force_reinit:
            return
        self._ctx_list = _device_list(self, device if device is not None else ctx)
        if self.init is not None:
            chosen = initializers.create(self.init).given_global(init)
        else:
            chosen = initializers.create(init or initializers.Uniform())
        if isinstance(chosen, initializers.Mixed):
            chosen = chosen.for_name(self.name)
        if not self._shape_known():
            self._deferred_init = chosen
            return
        self._set_array(chosen.for_parameter(self.name, self.shape, self.dtype))

    def _infer_shape(self, shape) -> None:
        """Shape inference ahead of the first forward (MXNet's infer_shape): finish a pending deferred
        initialization, or only record the shape when initialize() has not been called yet."""
        if self._array is not None:
            return
        if self._deferred_init is not None:
            self._finish_deferred_init(shape)
        else:
            self.shape = tuple(shape)

    def _finish_deferred_init(self, shape) -> None:
        """Called by a layer in each forward with the shape its input implies (0: not implied): fixes the
        unknown dimensions at the first call, and checks the known ones."""
        if self.shape is not None and any(s > 0 and d > 0 and s != d for s, d in zip(self.shape, shape)):
            raise ParameterShapeError(f"parameter {self.name} has shape {tuple(self.shape)}, but this input needs "
                                      f"{tuple(shape)} (0: any); check the layer's in_units / in_channels against "
                                      "the input's shape")
        if self._array is not None:
            return
        if self.shape is not None:
            shape = tuple(s if s > 0 else d for s, d in zip(self.shape, shape))
        self.shape = tuple(shape)
        if self._deferred_init is None:
            raise DeferredInitializationError(f"parameter {self.name} was used before initialize(); call "
                                              f"net.initialize() first")
        self._set_array(self._deferred_init.for_parameter(self.name, self.shape, self.dtype))
        self._deferred_init = None

    def _set_array(self, data: numpy.ndarray) -> None:
        # a copy per device: optimizers update parameters in place and must never write into the caller's array
        value = NDArray(numpy.array(data, dtype=self.dtype, order="C"))
        self._replicas = {ctx: on_host_device(value, ctx) for ctx in self._ctx_list}
        self._array = self._replicas[self._ctx_list[0]]
        self.shape = self._array.shape
        if self.grad_req != "null":
            for replica in self._replicas.values():
                replica.attach_grad(self.grad_req)

    def _data_eager(self, ctx: Optional[Context] = None) -> NDArray:
        """The value on `ctx`; by default on the current device (`with ctx:`, which a block call on a
        placed array enters), or the first device outside any `with` block."""
        if self._array is None:
            if self._deferred_init is not None:
                raise DeferredInitializationError(
                    f"parameter {self.name} has unknown shape {self.shape}; it is set by the first forward call")
            raise DeferredInitializationError(f"parameter {self.name} is not initialized; call net.initialize()")
        if len(self._replicas) == 1 and ctx is None:
            return self._array
        ctx = ctx if ctx is not None else device_scope()
        if ctx is None:
            return self._array
        replica = self._replicas.get(ctx)
        if replica is None:
            raise HybridError(f"Parameter {self.name} was initialized on {self._ctx_list} but is used on {ctx}; "
                              f"initialize it there too (net.initialize(ctx=[...]) or param.reset_ctx([...]))")
        return replica

    def data(self, ctx=None):
        """The value on `ctx` (default: the current device): an NDArray eagerly, the parameter's graph
        input while tracing (the compiled code is then fed the replica of the device it is called on)."""
        _check_host(self, ctx)
        from ..core.tracing import current_trace
        trace = current_trace()
        return trace.param(self) if trace is not None else self._data_eager(ctx)

    def set_data(self, data) -> None:
        data = numpy.asarray(data, dtype=self.dtype)
        if self._shape_known() and tuple(data.shape) != self.shape:
            raise HybridError(f"parameter {self.name} has shape {self.shape}, got data of shape {data.shape}")
        if self._array is None:
            self._set_array(data)
        else:
            for replica in self._replicas.values():
                replica._assign(data)

    def list_data(self) -> list:
        """The value on each device of list_ctx(), in that order."""
        self._data_eager()
        return [self._replicas[c] for c in self._ctx_list]

    def list_grad(self) -> list:
        """The gradient on each device of list_ctx(), in that order."""
        return [self.grad(c) for c in self._ctx_list]

    def list_ctx(self) -> list:
        """The devices this parameter has a replica on (hb.cpu(0) unless initialized with ctx=[...])."""
        return list(self._ctx_list)

    list_device = list_ctx   # MXNet 2's name

    def reset_ctx(self, ctx) -> None:
        """Move the parameter to `ctx` (one device or a list): every new replica gets the current value
        (that of the first device), gradients start at zero."""
        devices = _device_list(self, ctx)
        if self._array is None:
            self._ctx_list = devices
            return
        value = self._array._data
        self._ctx_list = devices
        self._set_array(value)

    def reset_device(self, device) -> None:
        """MXNet 2's name for reset_ctx."""
        self.reset_ctx(device)

    def _sync_replicas(self) -> None:
        """Copy the first device's value into the other replicas (after the Trainer updated it)."""
        for ctx in self._ctx_list[1:]:
            self._replicas[ctx]._assign(self._array._data)

    def cast(self, dtype) -> None:
        """Convert the value (and gradient buffer) to `dtype`."""
        self.dtype = to_numpy_dtype(dtype_name(dtype))
        if self._array is not None:
            self._set_array(self._array._data.astype(self.dtype))

    def var(self):
        raise HybridError(f"Parameter {self.name}.var(): symbols do not exist in hybrid; inside forward use "
                          f"{self.name}.data(), which is the graph input while hybridized")

    def grad(self, ctx=None) -> NDArray:
        """The gradient on `ctx` (default: the current device)."""
        _check_host(self, ctx)
        g = self._data_eager(ctx).grad
        if g is None:
            raise HybridError(f"parameter {self.name} has no gradient (grad_req={self.grad_req!r})")
        return g

    def zero_grad(self) -> None:
        for replica in self._replicas.values():
            if replica.grad is not None:
                replica.grad._assign(0)


def _check_host(param: "Parameter", ctx) -> None:
    devices = ctx if isinstance(ctx, (list, tuple)) else [ctx]
    for d in devices:
        if not is_host_device(d):
            raise HybridError(f"Parameter {param.name}: parameters live in host memory (hb.cpu(i)); hybridize with "
                              f"backend='cuda' to run on {d} (the backend copies parameters to the device)")


def _device_list(param: "Parameter", ctx) -> list[Context]:
    """`ctx` (None, a Context or a list of them) as a list of distinct CPU devices (default [cpu(0)])."""
    if ctx is None:
        return [cpu(0)]
    devices = list(ctx) if isinstance(ctx, (list, tuple)) else [ctx]
    if not devices:
        raise HybridError(f"Parameter {param.name}: the device list is empty; give e.g. [hb.cpu(0), hb.cpu(1)]")
    for d in devices:
        if not isinstance(d, Context):
            raise HybridError(f"Parameter {param.name}: expected devices (hb.cpu(i)), got {type(d).__name__}")
    _check_host(param, devices)
    if len(set(devices)) != len(devices):
        raise HybridError(f"Parameter {param.name}: device list {devices} names a device twice")
    return devices


class Constant(Parameter):
    """A parameter that is never trained (grad_req='null'), initialized to `value`."""

    def __init__(self, value, name: str = "const"):
        import numpy as _numpy
        value = value.asnumpy() if isinstance(value, NDArray) else _numpy.asarray(value)
        super().__init__(name, value.shape, value.dtype if is_float_dtype(value.dtype) else "float32",
                         init=initializers.Constant(value), grad_req="null")
        self._set_array(value)  # usable before initialize(), which keeps (or with force_reinit, resets) it


class ParameterDict(dict):
    """Parameters by their path in the block tree ("fc1.weight"); printed as the dict MXNet 2's
    collect_params returns. A shared parameter may be listed under several paths; the methods
    below act on it once."""

    def _distinct(self) -> list:
        return list({id(p): p for p in self.values()}.values())

    def initialize(self, init=None, force_reinit: bool = False, ctx=None, device=None, verbose: bool = False) -> None:
        for p in self._distinct():
            p.initialize(init, force_reinit, ctx=ctx, device=device)

    def reset_ctx(self, ctx) -> None:
        for p in self._distinct():
            p.reset_ctx(ctx)

    reset_device = reset_ctx

    def setattr(self, name: str, value) -> None:
        """Set one attribute on every parameter (MXNet 1.x's ParameterDict.setattr, e.g.
        `collect_params('.*bias').setattr('wd_mult', 0)` or `.setattr('grad_req', 'null')`)."""
        for p in self._distinct():
            if not hasattr(p, name):
                raise AttributeError(f"ParameterDict.setattr: parameter {p.name!r} has no attribute {name!r} "
                                     f"(settable: lr_mult, wd_mult, grad_req, ...)")
            setattr(p, name, value)

    def zero_grad(self) -> None:
        for p in self._distinct():
            p.zero_grad()
