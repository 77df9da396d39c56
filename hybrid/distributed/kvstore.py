"""MXNet's KVStore API over MPI allreduce: `hb.kv.create(kind)`.

Kinds:
  "local", "device"                 one process; a value given as a list (one array per device)
                                    is summed before it is stored
  "dist_sync", "dist_device_sync",  every process of the MPI job; pushed values are summed over
  "horovod"                         the devices of a process and then over all processes
                                    (allreduce), so every rank holds the same result
  "dist_async"                      a parameter server: not offered (an error says so)

Semantics follow MXNet: `init` stores a key's initial value (rank 0's, broadcast, after
checking that every rank declares the same shapes); `push` reduces and, with an optimizer set
(`set_optimizer`, "update on the store"), applies it to the stored weight, else overwrites
the stored value; `pull` copies the stored value out; `pushpull` is push then pull (into the
pushed arrays when no `out` is given); `broadcast` is init then pull.
`set_gradient_compression({'type': 'fp16' | 'bf16'})` makes pushed values travel and be summed
in 16 bits (hybrid.distributed.compression).
"""
from __future__ import annotations

from typing import Optional

import numpy

from ..errors import FormatError
from ..core.array import NDArray
from ..frontend.block import load_npz
from .comm import Communicator, world
from .compression import GradientCompression
from .errors import DistributedError

KINDS = ("local", "device", "dist_sync", "dist_device_sync", "horovod")
STATES_FORMAT_VERSION = 1


def create(name: str = "local", timeout: Optional[float] = None) -> "KVStore":
    """A KVStore of kind `name` (see the module doc); `timeout` bounds each collective (seconds)."""
    if name == "dist_async" or name.startswith("dist_async"):
        raise DistributedError("kvstore 'dist_async' (an asynchronous parameter server) is not offered by hybrid; "
                               "use 'dist_sync' or 'horovod', which synchronize every step through MPI allreduce")
    if name not in KINDS:
        raise DistributedError(f"unknown kvstore type {name!r}; choose one of {', '.join(KINDS)}")
    comm = None
    if name not in ("local", "device"):
        comm = world() if timeout is None else Communicator(world()._comm, timeout)
    return KVStore(name, comm)


def _keys_values(key, value, what: str) -> list[tuple]:
    if isinstance(key, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(key):
            raise DistributedError(f"kvstore.{what}: {len(key)} keys need a list of {len(key)} values")
        return list(zip(key, value))
    return [(key, value)]


def _arrays(value) -> list:
    """The per-device arrays of one key's value (a single array is one device)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _host(array) -> numpy.ndarray:
    return numpy.asarray(array._data if isinstance(array, NDArray) else array)


def _write(target, value: numpy.ndarray) -> None:
    if isinstance(target, NDArray):
        target._assign(value)
    elif isinstance(target, numpy.ndarray):
        target[...] = value
    else:
        raise DistributedError(f"kvstore.pull: out must be NDArrays or NumPy arrays, got {type(target).__name__}")


class KVStore:
    """A key-value store of arrays, synchronized over the MPI job for the dist kinds."""

    def __init__(self, kind: str, comm: Optional[Communicator]):
        self.type = kind
        self._comm = comm
        self._store: dict = {}
        self._optimizer = None
        self._states: dict = {}
        self._counts: dict = {}
        self._compression = GradientCompression(None)

    @property
    def rank(self) -> int:
        return self._comm.rank if self._comm is not None else 0

    @property
    def num_workers(self) -> int:
        return self._comm.size if self._comm is not None else 1

    @property
    def comm(self) -> Optional[Communicator]:
        return self._comm

    def set_gradient_compression(self, compression_params: dict) -> None:
        """Reduce pushed values in float16 or bfloat16: {'type': 'fp16' | 'bf16' | 'none'}."""
        self._compression = GradientCompression(compression_params)

    @property
    def gradient_compression(self) -> GradientCompression:
        return self._compression

    # -- init / push / pull ----------------------------------------------------------------------
    def init(self, key, value) -> None:
        """Store each key's initial value: rank 0's, after checking that all ranks agree on shapes."""
        pairs = [(k, _host(_arrays(v)[0])) for k, v in _keys_values(key, value, "init")]
        for k, _ in pairs:
            if k in self._store:
                raise DistributedError(f"kvstore.init: key {k!r} is already initialized")
        if self._comm is not None:
            check_same_signature(self._comm, [(str(k), v.shape, v.dtype) for k, v in pairs], "kvstore.init")
        for k, v in pairs:
            self._store[k] = self._comm.broadcast(v) if self._comm is not None else numpy.array(v)

    def push(self, key, value, priority: int = 0) -> None:
        """Reduce the value(s) (over devices, then over ranks) and update or overwrite the store."""
        pairs = _keys_values(key, value, "push")
        reduced = self._reduce([k for k, _ in pairs], [v for _, v in pairs])
        for (k, _), merged in zip(pairs, reduced):
            if self._optimizer is not None:
                self._update(k, merged)
            else:
                self._store[k] = merged

    def pull(self, key, out=None, priority: int = 0, ignore_sparse: bool = True) -> None:
        """Copy each key's stored value into `out` (an array, or a list: one per device)."""
        if out is None:
            raise DistributedError("kvstore.pull: give out=, the array(s) to copy the stored value into")
        for k, targets in _keys_values(key, out, "pull"):
            stored = self._stored(k, "pull")
            for target in _arrays(targets):
                _write(target, stored)

    def pushpull(self, key, value, out=None, priority: int = 0) -> None:
        """push then pull; without `out` the result is written back into `value`."""
        self.push(key, value, priority)
        self.pull(key, value if out is None else out, priority)

    def broadcast(self, key, value, out, priority: int = 0) -> None:
        """Rank 0's `value` for each key, stored and copied into `out` on every rank."""
        self.init(key, value)
        self.pull(key, out, priority)

    def barrier(self) -> None:
        if self._comm is not None:
            self._comm.barrier()

    def _stored(self, key, what: str) -> numpy.ndarray:
        if key not in self._store:
            raise DistributedError(f"kvstore.{what}: key {key!r} was never initialized; call kv.init(key, value) "
                                   "first")
        return self._store[key]

    def _reduce(self, keys: list, values: list) -> list[numpy.ndarray]:
        """Sum each key's per-device arrays locally, then over ranks (one bucketed allreduce)."""
        local = []
        for k, v in zip(keys, values):
            stored = self._stored(k, "push")
            arrays = [_host(a) for a in _arrays(v)]
            for a in arrays:
                if a.shape != stored.shape:
                    raise DistributedError(f"kvstore.push: key {k!r} holds shape {stored.shape}, pushed {a.shape}")
            local.append(self._compression.sum_local([a.astype(stored.dtype, copy=False) for a in arrays]))
        if self._comm is None:
            return local
        from .buckets import Buckets

        buckets = Buckets(self._comm, [(a.shape, a.dtype) for a in local], compression=self._compression)
        for i, a in enumerate(local):
            buckets.ready(i, a)
        return [numpy.array(r) for r in buckets.wait()]

    # -- update on the store --------------------------------------------------------------------
    def set_optimizer(self, optimizer) -> None:
        """Apply `optimizer` (a gluon.optimizer.Optimizer) to the stored weight on every push.
        Every rank applies it to the same reduced gradient, so the weights stay identical."""
        if not hasattr(optimizer, "update") or not hasattr(optimizer, "create_state"):
            raise DistributedError(f"kvstore.set_optimizer: expected a gluon optimizer, got {type(optimizer).__name__}")
        self._optimizer = optimizer

    def _update(self, key, grad: numpy.ndarray) -> None:
        from ..core import autograd

        weight = self._stored(key, "push")
        if key not in self._states:
            self._states[key] = tuple(NDArray(s) for s in self._optimizer.create_state(weight))
            self._counts[key] = 0
        self._counts[key] += 1
        t = self._counts[key]
        self._optimizer.num_update = max(self._optimizer.num_update, t)
        with autograd.pause():
            new_weight, new_state = self._optimizer.update(NDArray(weight), NDArray(grad), self._states[key],
                                                           self._optimizer.lr_at(t), float(t))
        self._store[key] = numpy.array(numpy.asarray(new_weight), dtype=weight.dtype)
        for old, new in zip(self._states[key], new_state):
            old._assign(numpy.asarray(new))

    def save_optimizer_states(self, fname: str, dump_optimizer: bool = False) -> None:
        """Write the optimizer state of every key and its update count to an .npz (no pickle)."""
        if self._optimizer is None:
            raise DistributedError("kvstore.save_optimizer_states: no optimizer is set (call set_optimizer first)")
        arrays = {"__format_version__": numpy.array(STATES_FORMAT_VERSION)}
        for key, state in self._states.items():
            arrays[f"count/{key}"] = numpy.array(self._counts[key])
            for i, s in enumerate(state):
                arrays[f"state/{key}/{i}"] = s._data
        with open(fname, "wb") as f:
            numpy.savez(f, **arrays)

    def load_optimizer_states(self, fname: str) -> None:
        if self._optimizer is None:
            raise DistributedError("kvstore.load_optimizer_states: set the optimizer first (set_optimizer)")
        loaded = load_npz(fname)
        version = loaded.get("__format_version__")
        if version is None or int(version) != STATES_FORMAT_VERSION:
            raise FormatError(f"{fname}: not a kvstore optimizer-state file of format version "
                              f"{STATES_FORMAT_VERSION} (found {None if version is None else int(version)})")
        by_key = {str(k): k for k in self._store}
        for name, count in loaded.items():
            if not name.startswith("count/"):
                continue
            skey = name[len("count/"):]
            key = by_key.get(skey, int(skey) if skey.lstrip("-").isdigit() else skey)
            weight = self._stored(key, "load_optimizer_states")
            fresh = self._optimizer.create_state(weight)
            states = []
            for i, template in enumerate(fresh):
                value = loaded.get(f"state/{skey}/{i}")
                if value is None or value.shape != template.shape:
                            raise FormatError(f"{fname}: optimizer state {i} of key {skey!r} is missing or has the wrong "
                                      f"shape (expected {template.shape})")
                states.append(NDArray(numpy.array(value)))
            self._states[key] = tuple(states)
            self._counts[key] = int(count)


def check_same_signature(comm: Communicator, entries: list[tuple[str, tuple, numpy.dtype]], what: str) -> None:
    """Raise the same DistributedError on every rank when the ranks declare different arrays."""
    mine = ";".join(f"{name}:{'x'.join(map(str, shape))}:{numpy.dtype(dtype).name}" for name, shape, dtype in entries)
    everyone = comm.allgather_text(mine)
    reference = everyone[0].split(";")
    for rank, text in enumerate(everyone[1:], start=1):
        if text == everyone[0]:
            continue
        theirs = text.split(";")
        if len(theirs) != len(reference):
            raise DistributedError(f"{what}: rank 0 declares {len(reference)} arrays but rank {rank} declares "
                                   f"{len(theirs)}; every rank must build the same model")
        for a, b in zip(reference, theirs):
            if a != b:
                raise DistributedError(f"{what}: ranks disagree on a parameter: rank 0 has {a}, rank {rank} has {b} "
                                       "(name:shape:dtype); every rank must build the same model with the same shapes")


