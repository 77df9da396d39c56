"""Arrays: `NDArray` (eager, NumPy-backed) and `Tracer` (a value in a graph being traced).

Both share one operator surface (`Array`); every operator calls an `hb.np` function, which
calls `dispatch.bind`, so eager and traced code paths are the same Python lines.
"""
from __future__ import annotations

import itertools
from typing import Optional

import numpy

from ..errors import CastingError, DataDependentShapeError, HybridError, ShapeError, TracingError
from ..ir.types import TensorType, dtype_name, to_numpy_dtype
from .engine import ENGINE, Pending
from .source import user_line


class Array:
    """The operator and method surface shared by NDArray and Tracer."""

    __array_priority__ = 1000  # NumPy scalars on the left defer to our operators
    __slots__ = ()

    @property
    def type(self) -> TensorType:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> numpy.dtype:
        return to_numpy_dtype(self.type.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return self.type.size

    @property
    def nbytes(self) -> int:
        return self.type.nbytes

    @property
    def T(self) -> "Array":
        return _np.transpose(self)

    # the Python Array API standard (2023.12): hb.np is the namespace ---------------------------
    @property
    def mT(self) -> "Array":
        return _np.swapaxes(self, -1, -2)

    @property
    def device(self) -> str:
        return "cpu"

    def to_device(self, device, /, *, stream=None) -> "Array":
        if device != "cpu":
            raise ValueError(f"to_device: hybrid arrays of the Array API live on 'cpu', got {device!r}")
        return self

    def __array_namespace__(self, api_version=None):   # the standard's keyword, MXNet passes it by position
        if api_version not in (None, "2021.12", "2022.12", "2023.12"):
            raise ValueError(f"hybrid implements Array API version 2023.12, not {api_version}")
        return _np

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __iter__(self):
        """The rows along the first axis. A 0-d array is no iterable: as in NumPy, iter() itself raises, so
        `numpy.iterable(x)` is False and matplotlib takes a 0-d mean as the scalar it is (d2l's
        `plt.axvline(x=np.mean(xs))`)."""
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    # arithmetic (the forward operators of FORWARD_OPERATORS are installed below) ------------
    def __radd__(self, o): return _np.add(o, self)
    def __rsub__(self, o): return _np.subtract(o, self)
    def __rmul__(self, o): return _np.multiply(o, self)
    def __rtruediv__(self, o): return _np.divide(o, self)
    def __rpow__(self, o): return _np.power(o, self)
    def __floordiv__(self, o): return _np.floor_divide(self, o)
    def __rfloordiv__(self, o): return _np.floor_divide(o, self)
    def __rmod__(self, o): return _np.mod(o, self)
    def __matmul__(self, o): return _np.matmul(self, o)
    def __rmatmul__(self, o): return _np.matmul(o, self)
    def __neg__(self): return _np.negative(self)
    def __pos__(self): return self
    def __abs__(self): return _np.abs(self)
    def __invert__(self): return _np.invert(self)
    def __rand__(self, o): return _np.bitwise_and(o, self)
    def __ror__(self, o): return _np.bitwise_or(o, self)
    def __rxor__(self, o): return _np.bitwise_xor(o, self)
    def __lshift__(self, o): return _np.left_shift(self, o)
    def __rlshift__(self, o): return _np.left_shift(o, self)
    def __rshift__(self, o): return _np.right_shift(self, o)
    def __rrshift__(self, o): return _np.right_shift(o, self)
    __hash__ = object.__hash__       # kept: installing __eq__ below does not reset it

    def __getitem__(self, key): return _np.getitem(self, key)

    # in-place operators: the result is written into this array under NumPy's casting rule ------
    def __iadd__(self, o): return self._write_back(self + o, "x += y")
    def __isub__(self, o): return self._write_back(self - o, "x -= y")
    def __imul__(self, o): return self._write_back(self * o, "x *= y")
    def __itruediv__(self, o): return self._write_back(self / o, "x /= y")
    def __ifloordiv__(self, o): return self._write_back(self // o, "x //= y")
    def __imod__(self, o): return self._write_back(self % o, "x %= y")
    def __ipow__(self, o): return self._write_back(self ** o, "x **= y")
    def __imatmul__(self, o): return self._write_back(self @ o, "x @= y")
    def __iand__(self, o): return self._write_back(self & o, "x &= y")
    def __ior__(self, o): return self._write_back(self | o, "x |= y")
    def __ixor__(self, o): return self._write_back(self ^ o, "x ^= y")
    def __ilshift__(self, o): return self._write_back(self << o, "x <<= y")
    def __irshift__(self, o): return self._write_back(self >> o, "x >>= y")

    def _write_back(self, result: "Array", what: str) -> "Array":
        """Store `result` here (`what`: the write, e.g. "x += y" or "out="), after checking that it fits
        as NumPy does: the same shape, and a dtype NumPy's 'same_kind' rule lets in."""
        if tuple(result.shape) != tuple(self.shape):
            raise ShapeError(f"{what}: the result has shape {result.shape} but the array written into has shape "
                             f"{self.shape}; an in-place write cannot change the shape (NumPy: non-broadcastable "
                             f"output operand). Assign the result to a new name instead.{_where()}")
        if not numpy.can_cast(result.dtype, self.dtype, "same_kind"):
            raise CastingError(f"{what}: cannot cast the {result.dtype} result into the {self.dtype} array under "
                               f"NumPy's 'same_kind' rule. Assign the result to a new name for a {result.dtype} "
                               f"array, or cast the operand first (y.astype(x.dtype)).{_where()}")
        self._store(result)
        return self

    def _store(self, result: "Array") -> None:
        raise NotImplementedError  # NDArray writes its buffer; Tracer rebinds its graph value

    # NumPy's dispatch protocols (numpy.sum(x), numpy.exp(x, out=y)): hybrid/frontend/interop.py
    def __array_function__(self, func, types, args, kwargs):
        return _np._array_function(func, types, args, kwargs)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _np._array_ufunc(ufunc, method, inputs, kwargs)

    # methods (NumPy names) ---------------------------------------------------------------
    def reshape(self, *shape): return _np.reshape(self, shape[0] if len(shape) == 1 else shape)
    def transpose(self, *axes): return _np.transpose(self, (axes[0] if len(axes) == 1 else axes) or None)
    def swapaxes(self, a, b): return _np.swapaxes(self, a, b)
    def flatten(self): return _np.reshape(self, (-1,))
    def squeeze(self, axis=None): return _np.squeeze(self, axis)
    def expand_dims(self, axis): return _np.expand_dims(self, axis)
    def broadcast_to(self, shape): return _np.broadcast_to(self, shape)
    def astype(self, dtype, copy=True): return _np.astype(self, dtype, copy=copy)
    def abs(self): return _np.abs(self)   # MXNet's NDArray method
    # sum / mean / prod take NumPy's (and MXNet's) argument order: axis, dtype, out, keepdims
    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return _reduced_into(out, _np.sum(self, axis, keepdims=keepdims, dtype=dtype))

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return _reduced_into(out, _np.mean(self, axis, keepdims=keepdims, dtype=dtype))

    def max(self, axis=None, keepdims=False): return _np.max(self, axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return _np.min(self, axis, keepdims=keepdims)
    def prod(self, axis=None, dtype=None, out=None, keepdims=False):
        return _reduced_into(out, _np.prod(self, axis, keepdims=keepdims, dtype=dtype))
    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, correction=None):
        return _reduced_into(out, _np.var(self, axis, keepdims=keepdims, ddof=ddof, dtype=dtype, correction=correction))

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, correction=None):
        return _reduced_into(out, _np.std(self, axis, keepdims=keepdims, ddof=ddof, dtype=dtype, correction=correction))

    def argmax(self, axis=None, keepdims=False): return _np.argmax(self, axis, keepdims=keepdims)
    def argmin(self, axis=None, keepdims=False): return _np.argmin(self, axis, keepdims=keepdims)
    def any(self, axis=None, keepdims=False): return _np.any(self, axis, keepdims=keepdims)
    def all(self, axis=None, keepdims=False): return _np.all(self, axis, keepdims=keepdims)
    def ravel(self): return _np.ravel(self)
    def clip(self, min=None, max=None, out=None, *, a_min=None, a_max=None):   # NumPy's/MXNet's names
        return _reduced_into(out, _np.clip(self, min, max, a_min=a_min, a_max=a_max))
    def exp(self): return _np.exp(self)
    def log(self): return _np.log(self)
    def sqrt(self): return _np.sqrt(self)
    def tanh(self): return _np.tanh(self)
    def dot(self, o): return _np.dot(self, o)
    def take(self, indices, axis=None): return _np.take(self, indices, axis)
    def cumsum(self, axis=None, dtype=None): return _np.cumsum(self, axis, dtype)
    def diagonal(self, offset=0, axis1=0, axis2=1): return _np.diagonal(self, offset, axis1, axis2)
    def repeat(self, repeats, axis=None): return _np.repeat(self, repeats, axis)
    def tile(self, reps): return _np.tile(self, reps)
    def nonzero(self): return _np.nonzero(self)
    def round(self, decimals=0): return _np.round(self, decimals)

    def sort(self, axis=-1, descending=False, stable=True):
        """A sorted copy (MXNet's method: NumPy's `a.sort()` sorts in place and returns None)."""
        return _np.sort(self, axis, stable=stable, descending=descending)

    def argsort(self, axis=-1, descending=False, stable=True):
        return _np.argsort(self, axis, stable=stable, descending=descending)

    # Python's round()/math.floor/ceil/trunc give arrays, as MXNet's ndarray does
    def __round__(self, n=0): return _np.round(self, n)
    def __floor__(self): return _np.floor(self)
    def __ceil__(self): return _np.ceil(self)
    def __trunc__(self): return _np.trunc(self)

    def __format__(self, spec: str) -> str:
        """f"{x:.5f}" formats a 0-d array's value (MXNet and NumPy); an empty spec is str(x)."""
        if self.ndim == 0:
            return format(self.item(), spec)
        if not spec:
            return str(self)
        raise TypeError(f"format spec {spec!r} applies to 0-d arrays only, this one has shape {self.shape}; "
                        f"format its elements (x.item(i)) or x.tolist() instead")


# Versions of array contents, unique across all arrays: a freed array's version never comes back.
WRITE_CLOCK = itertools.count(1)


class NDArray(Array):
    """An eager array on the CPU, backed by a NumPy array. Autograd state lives in the slots.
    While the op making it is queued (core/engine.py) it is a future: `_pending` is set, `_ptype` is its
    type, and reading `_data` waits for the op (raising the op's error if it failed)."""

    __slots__ = ("_buf", "_type", "_pending", "_ptype", "_grad", "_grad_req", "_node", "_version", "_base",
                 "__weakref__")

    def __init__(self, data: numpy.ndarray, type_: Optional[TensorType] = None):
        self._buf = data
        # type_: the data's type where the caller knows it (an eager op's result), else made on first use: an
        # array's shape and dtype never change
        self._type = type_
        self._pending: Optional[Pending] = None
        self._grad: Optional[NDArray] = None
        self._grad_req = "null"
        self._node = None  # autograd: the tape entry that produced this array
        self._version = next(WRITE_CLOCK)  # renewed by every in-place write: device copies key on it
        self._base: Optional[NDArray] = None  # the array whose memory this view shares (hybrid.core.views)

    @classmethod
    def _future(cls, type_: TensorType) -> "NDArray":
        """A result of a queued op: its type now, its data when the engine has run the op (set _pending)."""
        out = cls(None)
        out._ptype = type_
        return out

    @property
    def _data(self) -> numpy.ndarray:
        if self._pending is not None:
            self.wait_to_read()
        return self._buf

    @_data.setter
    def _data(self, value: numpy.ndarray) -> None:
        self._buf = value
        self._type = None

    def wait_to_read(self) -> None:
        """Block until the op making this array has run; raise its error if it failed."""
        pending = self._pending
        if pending is None:
            return
        ENGINE.wait(pending)
        if pending.error is not None:
            ENGINE.reported(pending.error)
            raise pending.error
        self._pending = None

    def _assign(self, value, key=Ellipsis) -> None:
        """Write `value` into this array in place (all of it, or `key`). Every in-place write in
        hybrid goes through here, so the write version tells device backends when to re-upload; a
        write through a view renews its base's version too. Queued ops run first (core/engine.py):
        none may read the array after this write."""
        ENGINE.drain()
        self._data[key] = value
        self._version = next(WRITE_CLOCK)
        if self._base is not None:
            self._base._version = self._version

    def _write_version(self) -> int:
        """The version of this array's contents: a view changes when its base is written."""
        return self._version if self._base is None else max(self._version, self._base._version)

    def _check_writable(self, value=None) -> None:
        """Refuse an in-place write under autograd.record() where it would corrupt the recorded graph:
        the array (or the array it views) is a gradient target or a recorded result, or the written
        value carries a gradient the write would drop. Outside record() (optimizer updates) it is fine.
        A read-only array (np.broadcast_to's view, as NumPy) refuses every write."""
        if not self._data.flags.writeable:
            raise ValueError(f"assignment destination is read-only: this {self.type} array is a read-only view "
                             f"(np.broadcast_to returns one, as in NumPy, so a write cannot change every element "
                             f"that shares its memory). Write into a copy instead: `x = x.copy()`.{_where()}")
        from . import autograd
        if not autograd.is_recording():
            return
        from .tape import tracked
        base = self if self._base is None else self._base
        if tracked(self) or tracked(base):
            raise HybridError(f"in-place write to a {self.type} array that autograd is recording gradients "
                              f"for: the recorded graph would silently use the new values. Inside "
                              f"autograd.record() write `x = x + y` (a new array); update parameters outside "
                              f"record() (as optimizers do).{_where()}")
        if isinstance(value, NDArray) and tracked(value):
            raise HybridError(f"in-place write of a value that needs a gradient into an untracked {self.type} "
                              f"array under autograd.record(): the gradient would be lost. Build the result as "
                              f"a new array (np.where, np.concatenate) instead.{_where()}")

    def _store(self, result: Array) -> None:
        self._check_writable(result)
        self._assign(result._data)

    @property
    def type(self) -> TensorType:
        known = self._type
        if known is None:
            if self._pending is not None:
                return self._ptype
            known = self._type = TensorType(self._buf.shape, dtype_name(self._buf.dtype))
        return known

    @property
    def shape(self) -> tuple[int, ...]:
        return self._ptype.shape if self._pending is not None else self._buf.shape

    @property
    def dtype(self) -> numpy.dtype:
        return to_numpy_dtype(self._ptype.dtype) if self._pending is not None else self._buf.dtype

    def asnumpy(self) -> numpy.ndarray:
        """A NumPy copy of the data."""
        return self._data.copy()

    def __array__(self, dtype=None, copy=None):
        """NumPy's array protocol (NumPy 2 semantics, which trust it to honour `copy`): copy=True a fresh
        array, copy=False the data itself or a ValueError when a dtype conversion needs a copy, None either."""
        ENGINE.drain()          # the caller may write through this view: no queued op may read it later
        data = self._data
        if dtype is not None and numpy.dtype(dtype) != data.dtype:
            if copy is False:
                raise ValueError(f"numpy.asarray(NDArray, copy=False) to {numpy.dtype(dtype)}: the array is "
                                 f"{data.dtype}, so a copy is needed; pass copy=None or copy=True")
            return data.astype(dtype)
        return data.copy() if copy else data

    def item(self, *args):
        """A Python scalar: the only element, or the one at a flat index or an index tuple (NumPy's item)."""
        return self._data.item(*args)

    def asscalar(self):
        """MXNet's legacy NDArray.asscalar: the one element as a NumPy scalar of the array's dtype (MXNet
        asks for shape (1,); any one-element array is taken here, as int() and float() take them)."""
        if self.size != 1:
            raise ValueError(f"asscalar() of an array of shape {self.shape}: only a one-element array is a "
                             f"scalar; index one element first or call .item(i)")
        return self._data.reshape(-1)[0]

    def tolist(self):
        return self._data.tolist()

    def _scalar(self, convert: type):
        """MXNet's rule for int()/float()/complex()/bool(): any size-1 array converts, whatever its
        rank (the d2l book's `int(argmax(Y).reshape(1))`); NumPy 2 accepts only 0-d arrays."""
        if self.size != 1:
            if convert is bool:          # NumPy's message for empty or many elements
                return bool(self._data)
            raise TypeError(f"{convert.__name__}() of an array of shape {self.shape}: only size-1 arrays can be "
                            f"converted to Python scalars; index one element or call .item(i) instead")
        return convert(self._data.item())

    def __float__(self): return self._scalar(float)
    def __complex__(self): return self._scalar(complex)
    def __int__(self): return self._scalar(int)
    def __bool__(self): return self._scalar(bool)

    def __index__(self):
        if not numpy.issubdtype(self._data.dtype, numpy.integer):   # NumPy's rule: floats and bools are no index
            raise TypeError(f"only integer arrays can be used as an index, not a {self._data.dtype} array")
        return int(self._data)

    def __setitem__(self, key, value):
        self._check_writable(value)
        key, value = normalize_setitem_key(key), numpy.asarray(value, dtype=self._data.dtype)
        if value.ndim and value.shape[0] == 1:
            value = value.reshape(setitem_value_shape(value.shape, self._data[key].ndim))
        self._assign(value, key)

    def __repr__(self) -> str:
        return repr(self._data)

    def __str__(self) -> str:
        """NumPy's str: the values without array(...) or the dtype (print(x), f"{x}"), as MXNet's np arrays."""
        return str(self._data)

    def copy(self, order: str = "C") -> "NDArray":
        """A new array with the same contents (row-major, the only layout hybrid arrays have). Under autograd.record() a copy of a tracked array is
        recorded, with the identity as its gradient (as MXNet's copy() and PyTorch's clone()): a
        copy, or `astype` to the same dtype, must not cut the gradient path."""
        check_order(order, "copy")
        from . import autograd
        from .tape import tracked
        if autograd.is_recording() and tracked(self):
            from .dispatch import bind
            return bind("cast", self, dtype=self.type.dtype)
        return NDArray(self._data.copy())

    def __dlpack__(self, /, *, stream=None, max_version=None, dl_device=None, copy=None):
        """Zero-copy export through NumPy's DLPack support."""
        return self._data.__dlpack__(stream=stream, max_version=max_version, dl_device=dl_device, copy=copy)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    # autograd (implemented in hybrid.core.autograd) ----------------------------------
    def attach_grad(self, grad_req: str = "write") -> None:
        from . import autograd
        autograd.attach_grad(self, grad_req)

    @property
    def grad(self) -> Optional["NDArray"]:
        return self._grad

    def backward(self, head_grad=None, retain_graph: bool = False, *, out_grad=None) -> None:
        """Gradients of this array with respect to the recorded inputs; `out_grad` is MXNet's name
        for `head_grad`."""
        from . import autograd
        autograd.backward([self], [head_grad if out_grad is None else out_grad], retain_graph=retain_graph)

    def detach(self) -> "NDArray":
        return NDArray(self._data)

    # devices (hybrid.core.context) -------------------------------------------------------
    @property
    def context(self):
        """Where the data lives: hb.cpu(0) for NDArray (a DeviceNDArray reports its GPU)."""
        from .context import cpu
        return cpu(0)

    def as_in_context(self, ctx) -> "NDArray":
        """This array on `ctx`: itself where it already is; a copy placed on CPU device cpu(i)
        or cpu_pinned(i) / cpu_shared(i) (host memory, see core/context.HostDeviceArray); a device copy
        for hb.gpu(i)."""
        if ctx == self.context:
            return self
        from .context import on_host_device, to_device
        return on_host_device(self, ctx) if ctx.is_host else to_device(self, ctx)

    @property
    def device(self):
        """MXNet 2's name for `context`."""
        return self.context

    ctx = device

    def as_in_ctx(self, ctx) -> "NDArray":
        return self.as_in_context(ctx)

    def as_np_ndarray(self) -> "NDArray":
        """MXNet 2's conversion to its NumPy-style array: hybrid has only that kind, so the array itself."""
        return self

    as_nd_ndarray = as_np_ndarray   # and to the legacy one (the same type here)

    @property
    def stype(self) -> str:
        """MXNet's storage type: every hybrid array is dense ('default'); sparse storage is not offered."""
        return "default"

    def tostype(self, stype: str) -> "NDArray":
        """A dense copy for 'default'; sparse storage types are refused (hybrid's arrays are dense)."""
        if stype != "default":
            raise ValueError(f"tostype({stype!r}): hybrid has dense arrays only (docs/semantics.md); "
                             "keep stype='default'")
        return self.copy()

    def to_device(self, device, /, *, stream=None) -> "NDArray":
        """The Array API's move: 'cpu' (or hb.cpu()) keeps this array; a Context moves it there."""
        if device == "cpu":
            return self
        if stream is not None:
            raise ValueError("to_device: hybrid's devices take no stream argument")
        return self.as_in_context(device)

    def copyto(self, other):
        """A copy on a device (`other` a Context), or written into the NDArray `other` (returned)."""
        if isinstance(other, NDArray):
            if other.shape != self.shape:
                raise ValueError(f"copyto: target shape {other.shape} differs from source shape {self.shape}")
            other[...] = self.asnumpy()
            return other
        return self.copy() if other == self.context else self.as_in_context(other)


def _where() -> str:
    line = user_line()
    return f"\n  {line.describe()}" if line else ""


def _tracing_error(what: str, instead: str, data_dependent_shape: bool = False) -> TracingError:
    """The error for reading data while tracing; `data_dependent_shape`: the op's result shape depends
    on the data (a DataDependentShapeError, which hybridized blocks answer by running eagerly)."""
    line = user_line()
    where = line.describe() if line else "in traced code"
    kind = DataDependentShapeError if data_dependent_shape else TracingError
    return kind(f"{what} on a traced value: the value is not known while tracing.\n  {where}\n  {instead}")


_CONTROL_FLOW_HELP = ("Use np.where(cond, a, b) for a data-dependent choice, npx.cond / hb.lax.cond for a "
                      "data-dependent branch, npx.while_loop / hb.lax.while_loop for a data-dependent loop, or decide "
                      "outside the hybridized code (pass a Python value as an argument), or call the block without "
                      "hybridize() to debug.")


class Tracer(Array):
    """A value of the graph being traced. Shapes and dtypes are static; data is not known.

    A Tracer is a mutable reference to a graph value: an in-place write (`x += 1`, `x[0] = v`)
    rebinds it to the updated value, so every alias sees the write, as eagerly. A view (basic
    index, reshape, transpose of another Tracer) writes back into its base (hybrid.core.views)."""

    __slots__ = ("trace", "_value", "_base", "_read", "_write", "_seen", "_writes")

    def __init__(self, trace, value):
        self.trace = trace
        self._value = value
        self._base: Optional[Tracer] = None  # set by views.traced_view
        self._writes = 0  # writes into this root array (or through its views)

    @property
    def value(self):
        """The graph value now: a view re-reads itself from its base after any write to its family."""
        if self._base is not None:
            writes = self._root()._writes
            if self._seen != writes:
                self._value = self._read(self._base).value
                self._seen = writes
        return self._value

    def _root(self) -> "Tracer":
        x = self
        while x._base is not None:
            x = x._base
        return x

    def _rebind(self, new: "Tracer") -> None:
        """Make this array hold `new`'s value (a functional in-place write), writing views back into their base."""
        if self._base is not None:
            self._base._rebind(self._write(self._base, new))
            self._seen = self._root()._writes
        else:
            self._writes += 1
        self._value = new.value

    def _store(self, result: Array) -> None:
        self._rebind(result if result.dtype == self.dtype else _np.astype(result, self.dtype))

    @property
    def type(self) -> TensorType:
        return self.value.type

    def __bool__(self):
        raise _tracing_error("Python control flow (if/while/and/or/not) depends", _CONTROL_FLOW_HELP)

    def __float__(self):
        raise _tracing_error("float() was called", "Keep the value as an array (it is a graph value here); "
                             "return it from the function and convert the result after the call.")

    def __int__(self):
        raise _tracing_error("int() was called", "Keep the value as an array; shapes (x.shape) are static "
                             "and may be used in Python freely.")

    __index__ = __int__

    def __complex__(self):
        raise _tracing_error("complex() was called", "Keep the value as an array (it is a graph value here); "
                             "return it from the function and convert the result after the call.")

    def item(self):
        raise _tracing_error(".item() was called", "Return the value from forward and call .item() on the result.")

    def asnumpy(self):
        raise _tracing_error(".asnumpy() was called", "Return the value from forward and call .asnumpy() on the "
                             "result, or call the block without hybridize() to inspect it eagerly.")

    def tolist(self):
        raise _tracing_error(".tolist() was called", "Return the value from forward and call .tolist() on the "
                             "result, or call the block without hybridize() to inspect it eagerly.")

    def __array__(self, dtype=None, copy=None):
        raise _tracing_error("NumPy conversion (np.asarray / a NumPy function) was applied",
                             "Use hybrid.np functions inside hybridized code (np.stack to build an array from "
                             "traced values); NumPy cannot see traced values.")

    def __setitem__(self, key, value):
        self._rebind(_np._functional_setitem(self, key, value))

    def __repr__(self) -> str:
        return f"Tracer<{self.type}>"

    def copy(self, order: str = "C") -> "Tracer":
        """A new array of the same value: later in-place writes to either leave the other alone."""
        check_order(order, "copy")
        return Tracer(self.trace, self.value)

    # autograd calls are meaningless on a traced value
    def attach_grad(self, grad_req: str = "write"):
        raise _tracing_error("attach_grad() was called", "Attach gradients to parameters or inputs outside "
                             "the hybridized code.")

    def detach(self):
        from .dispatch import bind
        return bind("stop_gradient", self)


def write_out(out, result):
    """NumPy's `out=`: `result` (one array, or a tuple) written into `out`, which is returned. Hybrid arrays
    follow the in-place rule (the same shape, 'same_kind' casting; a traced `out` is updated functionally);
    NumPy arrays are assigned."""
    if out is None:
        return result
    outs = out if isinstance(out, tuple) else (out,)
    results = result if isinstance(result, tuple) else (result,)
    if len(outs) != len(results):
        raise ValueError(f"out= holds {len(outs)} arrays for {len(results)} results")
    for o, r in zip(outs, results):
        if isinstance(o, Array):
            o._write_back(r if isinstance(r, Array) else NDArray(numpy.asarray(r)), "out=")
        else:
            o[...] = numpy.asarray(r)
    return out if len(outs) > 1 else outs[0]


def setitem_value_shape(value_shape: tuple, region_ndim: int) -> tuple:
    """MXNet's (and PyTorch's) rule for `x[key] = value`: leading size-1 axes of a value of higher rank
    than the indexed region are dropped before it broadcasts. NumPy does so too, except into a single
    element, where NumPy 2 refuses a (1, 1) value: the d2l book's `preds[i] = net(x.reshape(1, -1))`."""
    drop = 0
    while drop < len(value_shape) - region_ndim and value_shape[drop] == 1:
        drop += 1
    return tuple(value_shape[drop:])


def normalize_setitem_key(key):
    """A key NumPy accepts for eager `x[key] = value` (our arrays converted to NumPy)."""
    if isinstance(key, tuple):
        return tuple(normalize_setitem_key(k) for k in key)
    return numpy.asarray(key) if isinstance(key, Array) else key


# The operators and methods are NumPy functions (promotion, broadcasting, indexing), which the
# user layer (hybrid.frontend.np) defines on top of this one; it installs itself here on import,
# as jax.numpy does for JAX's arrays.
_np = None


def _reduced_into(out, result):
    """A reduction method's `out=`: the result written into `out` (returned), else the result."""
    if out is None:
        return result
    out[...] = result
    return out


class UnsupportedOrderError(ValueError, NotImplementedError):
    """A layout order hybrid does not offer: NotImplementedError (MXNet's type) and, for creation
    functions given an order NumPy itself refuses there, ValueError (NumPy's type)."""


def check_order(order: str, what: str, creation: bool = False) -> None:
    """NumPy's memory-layout argument: hybrid arrays are row-major, so 'C' (and, for copies, 'K'/'A',
    which keep or pick the layout a C-ordered array already has; creation functions take 'C' or 'F'
    only, as NumPy); Fortran order is not offered."""
    if order not in (("C",) if creation else ("C", "K", "A")):
        raise UnsupportedOrderError(f"{what}(order={order!r}): hybrid arrays are row-major only; use order='C'")


def install_numpy(namespace) -> None:
    """Called by hybrid.frontend.np: the namespace whose functions the array operators call."""
    global _np
    _np = namespace


# The forward binary operators are the namespace's functions themselves: `x + y` calls np.add(x, y) with no
# method in between (eager code's one-op overhead is counted in Python calls).
FORWARD_OPERATORS = {"__add__": "add", "__sub__": "subtract", "__mul__": "multiply", "__truediv__": "divide",
                     "__pow__": "power", "__mod__": "mod", "__lt__": "less", "__le__": "less_equal",
                     "__gt__": "greater", "__ge__": "greater_equal", "__eq__": "equal", "__ne__": "not_equal",
                     "__and__": "bitwise_and", "__or__": "bitwise_or", "__xor__": "bitwise_xor"}


def install_operators(namespace) -> None:
    """Called by hybrid.frontend.np once it has defined the functions of FORWARD_OPERATORS."""
    for method, name in FORWARD_OPERATORS.items():
        setattr(Array, method, getattr(namespace, name))
