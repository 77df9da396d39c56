"""npx array operators with MXNet 2's names and semantics, composed from primitives (slice,
batch_dot, broadcast_like, sequence_mask, pick, topk, arange_like, reshape's special codes, masked
softmaxes, smooth_l1, gamma/gammaln), plus file and DLPack interchange."""
from __future__ import annotations

import builtins
import math
from typing import Optional, Sequence

import numpy

from ..core.array import Array, NDArray, _where
from ..core.promote import asarray, promote
from .. import fileio
from ..errors import FormatError, ShapeError
from . import np
from .npx_image import host_array

NPX_FORMAT = "hybrid-npx-arrays/1"


def slice(data, begin: Sequence, end: Sequence, step: Optional[Sequence] = None) -> Array:
    """data[begin[i]:end[i]:step[i]] on the leading len(begin) axes; None entries mean the default."""
    data = asarray(data)
    step = step or [None] * len(begin)
    if not len(begin) == len(end) == len(step) or len(begin) > data.ndim:
        raise ShapeError(f"npx.slice: begin {tuple(begin)}, end {tuple(end)} and step {tuple(step)} must have "
                         f"equal lengths, at most the input's {data.ndim} dimensions")
    return data[tuple(builtins.slice(b, e, s) for b, e, s in zip(begin, end, step))]


def batch_dot(a, b, transpose_a: bool = False, transpose_b: bool = False) -> Array:
    """Matrix products of the matching matrices of two batches (..., M, K) x (..., K, N)."""
    a, b = promote(a, b)
    if a.ndim < 3 or a.ndim != b.ndim:
        raise ShapeError(f"npx.batch_dot: expects two batches of matrices of the same rank (>= 3), got {a.shape} "
                         f"and {b.shape}")
    return np.matmul(np.swapaxes(a, -1, -2) if transpose_a else a, np.swapaxes(b, -1, -2) if transpose_b else b)


def sequence_mask(data, sequence_length=None, use_sequence_length: bool = False, value: float = 0.0,
                  axis: int = 0) -> Array:
    """Set positions t >= sequence_length[n] along the time `axis` (0 or 1; the batch is the other) to `value`."""
    data = asarray(data)
    if not use_sequence_length or sequence_length is None:
        return data
    if axis not in (0, 1):
        raise ValueError(f"npx.sequence_mask: axis must be 0 (time-major) or 1 (batch-major), got {axis}")
    steps, batch = data.shape[axis], data.shape[1 - axis]
    lengths = asarray(sequence_length)
    t = np.arange(steps, dtype=lengths.dtype)
    keep = np.expand_dims(t, 1) < np.reshape(lengths, (1, batch))              # (T, N)
    if axis == 1:
        keep = np.transpose(keep)
    keep = np.reshape(keep, tuple(keep.shape) + (1,) * (data.ndim - 2))
    return np.where(keep, data, np.full((), value, data.dtype))


def pick(data, index, axis: int = -1, mode: str = "raise", keepdims: bool = False) -> Array:
    """data[..., index[...], ...]: one element per position along `axis`, chosen by `index`.
    mode 'raise' (default here; MXNet's default is 'clip', see docs/semantics.md) rejects
    out-of-range indices, 'clip' clamps them, 'wrap' takes them modulo the axis length."""
    from .npx import checked_indices
    data = asarray(data)
    axis = axis % data.ndim
    depth = data.shape[axis]
    index = np.astype(asarray(index), "int32")
    if mode == "raise":
        index = checked_indices(index, depth, "npx.pick index")
    elif mode == "clip":
        index = np.clip(index, 0, depth - 1)
    elif mode == "wrap":
        index = np.mod(index, depth)
    else:
        raise ValueError(f"npx.pick: mode must be 'raise', 'clip' or 'wrap', got {mode!r}")
    expected = data.shape[:axis] + data.shape[axis + 1:]
    if index.shape == expected[:axis] + (1,) + expected[axis:]:
        index = np.squeeze(index, axis)
    if index.shape != expected:
        raise ShapeError(f"npx.pick: index shape {index.shape} must be the data shape {data.shape} without axis "
                         f"{axis}: {expected}")
    hit = np.expand_dims(index, axis) == np.reshape(np.arange(depth, dtype="int32"),
                                                    (depth,) + (1,) * (data.ndim - axis - 1))
    return np.sum(np.where(hit, data, np.zeros((), data.dtype)), axis=axis, keepdims=keepdims)


def topk(data, axis: int = -1, k: int = 1, ret_typ: str = "indices", is_ascend: bool = False, dtype="float32"):
    """The k largest (smallest with is_ascend) entries along `axis`, in order: their indices (as
    `dtype`, MXNet's default float32), values, both, or a 0/1 mask. The first k of a stable
    argsort (descending unless is_ascend: ties in index order, NaN counted largest), so the values
    differentiate as a gather."""
    data = asarray(data)
    axis = axis % data.ndim
    depth = data.shape[axis]
    if not 1 <= k <= depth:
        raise ValueError(f"npx.topk: k must be in [1, {depth}] for axis {axis} of shape {data.shape}, got {k}")
    if ret_typ not in ("indices", "value", "both", "mask"):
        raise ValueError(f"npx.topk: ret_typ must be 'indices', 'value', 'both' or 'mask', got {ret_typ!r}")
    order = np.argsort(data, axis=axis, descending=not is_ascend)
    top = np.moveaxis(np.moveaxis(order, axis, -1)[..., :k], -1, axis)
    vals = np.take_along_axis(data, top, axis=axis)
    idxs = np.astype(top, dtype)
    if ret_typ == "indices":
        return idxs
    if ret_typ == "value":
        return vals
    if ret_typ == "mask":
        rank = np.argsort(order, axis=axis)    # each element's place in the order
        return np.astype(rank < k, data.dtype)
    return vals, idxs


def arange_like(data, start: float = 0.0, step: float = 1.0, repeat: int = 1, ctx=None, axis: Optional[int] = None,
                dtype="float32") -> Array:
    """start, start + step, ... shaped like `data` (or as long as data.shape[axis]), each value `repeat` times."""
    data = asarray(data)
    n = data.size if axis is None else data.shape[axis]
    values = numpy.repeat(start + step * numpy.arange(-(-n // repeat)), repeat)[:n].astype(dtype)
    out = np.array(values)
    return np.reshape(out, data.shape) if axis is None else out


def _reshape_codes(shape: tuple, codes: Sequence[int]) -> list:
    """MXNet 2's npx.reshape codes: -1 infer, -2 copy this dim, -3 drop this dim (it must be 1),
    -4 copy all remaining dims, -5 merge two dims, -6 split a dim into the next two values."""
    out, i, codes = [], 0, list(codes)
    j = 0
    while j < len(codes):
        c = codes[j]
        if c >= 0 or c == -1:
            out.append(c)
            i += 1
        elif c == -2:
            out.append(shape[i])
            i += 1
        elif c == -3:
            if shape[i] != 1:
                raise ShapeError(f"npx.reshape: code -3 drops a dimension of size 1, but dimension {i} of {shape} "
                                 f"is {shape[i]}")
            i += 1
        elif c == -4:
            out.extend(shape[i:])
            i = len(shape)
        elif c == -5:
            out.append(shape[i] * shape[i + 1])
            i += 2
        elif c == -6:
            a, b = codes[j + 1], codes[j + 2]
            a = shape[i] // b if a == -1 else a
            b = shape[i] // a if b == -1 else b
            if a * b != shape[i]:
                raise ShapeError(f"npx.reshape: -6 splits dimension {i} ({shape[i]}) into {codes[j + 1]} x "
                                 f"{codes[j + 2]}")
            out += [a, b]
            i += 1
            j += 2
        else:
            raise ShapeError(f"npx.reshape: unknown code {c} in {tuple(codes)}")
        j += 1
    return out


def reshape(a, newshape, reverse: bool = False, order: str = "C") -> Array:
    """Reshape with MXNet 2's special codes (see _reshape_codes); `reverse` reads codes and
    dimensions right to left."""
    a = asarray(a)
    codes = [int(newshape)] if isinstance(newshape, (int, numpy.integer)) else [int(c) for c in newshape]
    if reverse:
        shape = _reshape_codes(tuple(reversed(a.shape)), list(reversed(codes)))[::-1]
    else:
        shape = _reshape_codes(tuple(a.shape), codes)
    return np.reshape(a, tuple(shape))


def _axes_arg(axes) -> Optional[tuple[int, ...]]:
    return None if axes is None else np._shape(axes)


def _broadcast_like_shape(lhs: tuple, rhs: tuple, lhs_axes: Optional[tuple], rhs_axes: Optional[tuple]) -> tuple:
    """The shape npx.broadcast_like gives `lhs` (see there); a ShapeError names both shapes otherwise."""
    def fail(why: str) -> ShapeError:
        return ShapeError(f"npx.broadcast_like: lhs {lhs} cannot be broadcast like rhs {rhs}: {why}{_where()}")

    if lhs_axes is None and rhs_axes is None:
        if len(lhs) != len(rhs):
            raise fail("without lhs_axes/rhs_axes both must have the same number of dimensions (np.broadcast_to "
                       "prepends missing ones)")
        bad = [i for i, (a, b) in enumerate(zip(lhs, rhs)) if a not in (1, b)]
        if bad:
            raise fail(f"dimension {bad[0]} is {lhs[bad[0]]}, neither 1 nor {rhs[bad[0]]}")
        return rhs
    if lhs_axes is None or rhs_axes is None:
        raise ValueError(f"npx.broadcast_like: pass both lhs_axes and rhs_axes (the pairs of axes to match) or "
                         f"neither, got lhs_axes={lhs_axes}, rhs_axes={rhs_axes}{_where()}")
    if not lhs_axes or len(lhs_axes) != len(rhs_axes):
        raise fail(f"lhs_axes {lhs_axes} and rhs_axes {rhs_axes} must be non-empty and of one length")
    out = list(lhs)
    for la, ra in zip(lhs_axes, rhs_axes):
        if not (-len(lhs) <= la < len(lhs) and -len(rhs) <= ra < len(rhs)):
            raise fail(f"axis pair ({la}, {ra}) is out of range")
        if lhs[la] not in (1, rhs[ra]) or out[la] != lhs[la] and out[la] != rhs[ra]:
            raise fail(f"lhs axis {la} (size {lhs[la]}) cannot take size {rhs[ra]} of rhs axis {ra}")
        out[la] = rhs[ra]
    return tuple(out)


def broadcast_like(lhs, rhs, lhs_axes=None, rhs_axes=None) -> Array:
    """`lhs` broadcast to the shape of `rhs` (MXNet's broadcast_like): the two have one rank and each lhs dim is
    1 or rhs's. With lhs_axes and rhs_axes (ints or tuples, pairs matched in order), only those lhs axes of
    size 1 take the sizes of the paired rhs axes. rhs gives only its shape: the result keeps lhs's dtype, and
    the gradient sums back onto lhs's shape (rhs gets none)."""
    lhs = asarray(lhs)
    rhs_shape = tuple(rhs.shape) if isinstance(rhs, (Array, numpy.ndarray)) else numpy.shape(rhs)
    return np.broadcast_to(lhs, _broadcast_like_shape(tuple(lhs.shape), rhs_shape, _axes_arg(lhs_axes),
                                                      _axes_arg(rhs_axes)))


def _masked_shifted(data, mask, axis: int, temperature: float):
    """(x, keep, data / temperature less its largest unmasked entry along `axis`): the masked
    softmaxes' common start. An empty axis has nothing to shift (and no max)."""
    (x,) = promote(data, to_float=True)
    keep = np.astype(asarray(mask), "bool")
    low = np.full((), float(numpy.finfo(x.dtype).min), x.dtype)
    scaled = np.where(keep, x * (1.0 / temperature), low)
    if scaled.shape[axis] == 0:
        return x, keep, scaled
    return x, keep, scaled - np.stop_gradient(np.max(scaled, axis, keepdims=True))


def masked_softmax(data, mask, axis: int = -1, temperature: float = 1.0, normalize: bool = True) -> Array:
    """softmax(data / temperature) over the unmasked entries (mask true); masked entries are 0."""
    x, keep, shifted = _masked_shifted(data, mask, axis, temperature)
    e = np.where(keep, np.exp(shifted), np.zeros((), x.dtype))
    return e / np.maximum(np.sum(e, axis, keepdims=True), 1e-30) if normalize else e


def masked_log_softmax(data, mask, axis: int = -1, temperature: float = 1.0, normalize: bool = True) -> Array:
    """log_softmax(data / temperature) over the unmasked entries; masked entries are -inf."""
    x, keep, shifted = _masked_shifted(data, mask, axis, temperature)
    total = np.sum(np.where(keep, np.exp(shifted), np.zeros((), x.dtype)), axis, keepdims=True)
    out = shifted - np.log(total) if normalize else shifted
    return np.where(keep, out, np.full((), -math.inf, x.dtype))


def smooth_l1(data, scalar: float = 1.0) -> Array:
    """0.5 (sigma x)^2 where |x| < 1/sigma^2, else |x| - 0.5/sigma^2 (sigma = scalar)."""
    (x,) = promote(data, to_float=True)
    s2 = float(scalar) ** 2
    ax = np.abs(x)
    return np.where(ax < 1.0 / s2, x * x * (0.5 * s2), ax - 0.5 / s2)


# Lanczos approximation (g = 7, 9 terms): about 15 significant digits for x >= 0.5
_LANCZOS_G = 7.0
_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
            1.5056327351493116e-7)


def _lgamma_positive(x: Array) -> Array:
    """log Gamma(x) for x >= 0.5 from the Lanczos series (written in primitives, so it differentiates)."""
    z = x - 1.0
    series = np.full((), _LANCZOS[0], x.dtype) + 0.0 * z
    for i, c in enumerate(_LANCZOS[1:], start=1):
        series = series + c / (z + float(i))
    t = z + (_LANCZOS_G + 0.5)
    return 0.5 * math.log(2 * math.pi) + (z + 0.5) * np.log(t) - t + np.log(series)


def gammaln(x) -> Array:
    """log |Gamma(x)|; the reflection formula covers x < 0.5."""
    (x,) = promote(x, to_float=True)
    big = np.maximum(x, 0.5)              # keep both branches finite; np.where picks one
    small = np.minimum(x, 0.5)
    reflected = (math.log(math.pi) - np.log(np.abs(np.sin(small * math.pi)))
                 - _lgamma_positive(1.0 - small))
    return np.where(x >= 0.5, _lgamma_positive(big), reflected)


def gamma(x) -> Array:
    """Gamma(x), with its sign for negative non-integer x."""
    (x,) = promote(x, to_float=True)
    magnitude = np.exp(gammaln(x))
    small = np.minimum(x, 0.5)
    negative = (x < 0.5) & (np.sin(small * math.pi) < 0)
    return np.where(negative, -magnitude, magnitude)


# -- files and interchange -------------------------------------------------------------------------
def save(file: str, arr) -> None:
    """Save one array in NumPy's .npy format, as MXNet 2 documents (numpy.load reads it; NumPy's format
    version is in its header), to exactly `file` (no suffix added). A list or dict of arrays (MXNet 1.x's
    nd.save), and a bfloat16 array (.npy cannot describe it), go to hybrid's versioned .npz. Never pickles."""
    if isinstance(arr, dict):
        _save_versioned(file, "dict", {f"d:{k}": host_array(v) for k, v in arr.items()})
    elif isinstance(arr, (list, tuple)):
        _save_versioned(file, "list", {f"l:{i}": host_array(v) for i, v in enumerate(arr)})
    elif (data := host_array(arr)).dtype.isbuiltin == 1:   # (2: a user-defined dtype such as ml_dtypes.bfloat16)
        with open(file, "wb") as f:
            numpy.save(f, data, allow_pickle=False)
    else:
        _save_versioned(file, "single", {"s:0": data})


def _save_versioned(file: str, kind: str, arrays: dict) -> None:
    with open(file, "wb") as f:
        fileio.save_npz(f, {"__format__": numpy.array(NPX_FORMAT), "__kind__": numpy.array(kind), **arrays})


def savez(file: str, *args, **kwds) -> None:
    """Save positional arrays as arr_0, arr_1, ... and keyword arrays by name in NumPy's .npz format (as
    MXNet 2 and numpy.savez: numpy.load lists exactly these names; a bfloat16 entry's name carries
    fileio.BFLOAT16_TAG); npx.load gives the dict back."""
    named = {f"arr_{i}": a for i, a in enumerate(args)}
    clash = set(named) & set(kwds)
    if clash:
        raise ValueError(f"npx.savez: keyword names {sorted(clash)} clash with positional array names")
    with open(file, "wb") as f:
        fileio.save_npz(f, {k: host_array(v) for k, v in {**named, **kwds}.items()})


def load(file: str):
    """An NDArray from a .npy file, a dict of NDArrays from a .npz (NumPy's or npx.savez's), or what npx.save
    wrote in hybrid's versioned format (an NDArray, a list or a dict). Never unpickles: an object array is
    refused."""
    try:
        with open(file, "rb") as f:
            magic = f.read(6)
        if magic == b"\x93NUMPY":
            return NDArray(numpy.load(file, allow_pickle=False))
        with numpy.load(file, allow_pickle=False) as data:
            contents = fileio.npz_contents(data)
    except FileNotFoundError:
        raise FormatError(f"npx.load: {file} does not exist") from None
    except Exception as e:  # corrupt zip, object arrays (pickles) and the like
        raise FormatError(f"npx.load: {file} is not an array file written by npx.save/savez or numpy.save/savez "
                          f"({type(e).__name__}: {e})") from None
    if "__format__" not in contents:
        return {k: NDArray(v) for k, v in contents.items()}
    kind, arrays = unpack(contents, file)
    if kind == "single":
        return NDArray(arrays["0"])
    if kind == "list":
        return [NDArray(arrays[str(i)]) for i in range(len(arrays))]
    return {k: NDArray(v) for k, v in arrays.items()}


def unpack(contents: dict, file: str) -> tuple[str, dict]:
    """The kind ('single', 'list' or 'dict') and the arrays by key (name, or position as a string) of
    an archive npx.save wrote, read as {entry: NumPy array}; its format version is checked."""
    contents = dict(contents)
    if str(contents.pop("__format__", "")) != NPX_FORMAT:
        raise FormatError(f"npx.load: {file} is not in format {NPX_FORMAT!r} (written by npx.save/savez)")
    kind = str(contents.pop("__kind__", ""))
    if kind not in ("single", "list", "dict"):
        raise FormatError(f"npx.load: {file} holds an unknown kind {kind!r} of contents")
    return kind, {k[2:]: v for k, v in contents.items()}


def from_numpy(ndarray: numpy.ndarray, zero_copy: bool = True) -> NDArray:
    """An NDArray over the NumPy array's memory (zero_copy), else over a copy. As MXNet documents, a
    zero-copy array takes the memory over: the NumPy array becomes read-only (writes raise ValueError;
    the NDArray's writes show through it), and it must be C-contiguous."""
    ndarray = numpy.asarray(ndarray)
    if not zero_copy:
        return NDArray(numpy.ascontiguousarray(ndarray).copy())
    if not ndarray.flags.c_contiguous:
        raise ValueError(f"npx.from_numpy(zero_copy=True) needs a C-contiguous array (got strides {ndarray.strides} "
                         f"for shape {ndarray.shape}); pass zero_copy=False or numpy.ascontiguousarray(a)")
    owned = ndarray.view()           # the NDArray's writable view; the caller's array is frozen
    ndarray.flags.writeable = False
    return NDArray(owned)


def to_dlpack_for_read(data):
    """A DLPack capsule over the array's memory (for torch.utils.dlpack.from_dlpack and friends)."""
    return host_array(data).__dlpack__() if not isinstance(data, NDArray) else data._data.__dlpack__()


def to_dlpack_for_write(data):
    """A DLPack capsule over the array's memory that consumers may write through (a versioned DLPack
    1.0 capsule without the read-only flag; NumPy marks arrays from unversioned capsules read-only)."""
    return (data._data if isinstance(data, NDArray) else host_array(data)).__dlpack__(max_version=(1, 0))


class _Capsule:
    """Presents a bare CPU DLPack capsule through the __dlpack__ protocol NumPy reads."""

    def __init__(self, capsule):
        self._capsule = capsule

    def __dlpack__(self, stream=None, **_):
        return self._capsule

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU


def from_dlpack(dlpack) -> NDArray:
    """An NDArray sharing memory with a DLPack producer (a tensor with __dlpack__, or a capsule)."""
    source = dlpack if hasattr(dlpack, "__dlpack__") else _Capsule(dlpack)
    return NDArray(numpy.from_dlpack(source))


__all__ = ["slice", "batch_dot", "sequence_mask", "pick", "topk", "arange_like", "reshape", "masked_softmax",
           "masked_log_softmax", "smooth_l1", "gamma", "gammaln", "save", "savez", "load", "from_numpy",
           "to_dlpack_for_read", "to_dlpack_for_write", "from_dlpack"]
