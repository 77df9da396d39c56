"""`gluon.Trainer`: applies an optimizer to a set of parameters (Gluon's names and semantics).

    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.9})
    with autograd.record():
        loss = loss_fn(net(x), y)
    loss.backward()
    trainer.step(batch_size)      # gradients are scaled by 1/batch_size, as Gluon

`step` runs the update eagerly and writes the new weights and optimizer state into the
existing parameter arrays (in place). The same update is available as a pure function of
arrays, `update_fn`, so a compiled training step (`hb.compile_step`) can trace it:

    lr, t = trainer.begin_update()          # advances the update count; the rate of this update
    new_w, new_s = trainer.update_fn(weights, grads, trainer.states(), lr, t, 1 / batch_size)
    trainer.commit(new_w, new_s)            # in place (NumPy or NDArray results)

`update_fn` rescales the gradients, clips them by global norm when `clip_global_norm` is set,
then applies the optimizer's `update` rule to each parameter (see gluon.optimizer.base).

Data-parallel training (`kvstore="dist_sync" | "dist_device_sync" | "horovod"`, a KVStore, under
mpiexec / hybrid-launch; docs/distributed.md): the parameters are checked and broadcast from rank
0 once they exist; gradients are allreduced in buckets overlapped with backward, then every rank
applies the same update. "dist_sync" sums the gradients over workers (MXNet: pass the global
batch size to step), "horovod" averages them (Horovod's DistributedTrainer: pass the per-worker
batch size). `update_on_kvstore=True` applies the optimizer on the store instead (kv.set_optimizer:
push gradients, pull weights). "local" / "device" (one process) leave the gradients as they are.
`compression_params={'type': 'fp16' | 'bf16'}` (MXNet's argument) makes the gradients travel and be
summed in 16 bits, over devices and workers (hybrid.distributed.compression).

Several devices in one process (`net.initialize(ctx=[hb.cpu(0), hb.cpu(1)])`, a batch cut with
gluon.utils.split_and_load, one forward/backward per slice): each parameter has one replica per
device. `step` first sums the replicas' gradients and writes the sum into every replica's gradient
(MXNet's 'device'/'local' kvstore, also hybrid's default kvstore=None), then reduces over workers,
updates the first replica and copies it into the others, so the replicas stay identical.
"""
from __future__ import annotations

import warnings
from typing import Optional, Sequence, Union

import numpy

from .. import fileio
from ..errors import FormatError, HybridError
from ..core import autograd
from ..core.array import Array, NDArray
from ..frontend.block import load_npz
from ..frontend.parameter import Parameter
from ..distributed import kvstore as kv
from ..distributed.compression import GradientCompression
from ..distributed.data_parallel import DataParallel
from .optimizer import Optimizer, create
from .utils import clip_by_global_norm

STATES_FORMAT_VERSION = 1


def _as_parameter_list(params) -> list[tuple[str, Parameter]]:
    items = list(params.items()) if isinstance(params, dict) else [(getattr(p, "name", str(i)), p)
                                                                     for i, p in enumerate(params)]
    for name, p in items:
        if not isinstance(p, Parameter):
            raise HybridError(f"Trainer: expected Parameters (e.g. net.collect_params()), got {type(p).__name__} "
                              f"for {name!r}")
    seen = set()
    unique = []
    for name, p in items:
        if id(p) not in seen:  # shared parameters are updated once
            seen.add(id(p))
            unique.append((name, p))
    return unique


class Trainer:
    """Updates `params` (a ParameterDict, dict or list of Parameters) with an optimizer given by
    name ('sgd', 'nag', 'adam', 'adamw', 'rmsprop') and `optimizer_params`, or an Optimizer.
    `clip_global_norm`: clip the (rescaled) gradients to this global L2 norm before the update."""

    def __init__(self, params, optimizer: Union[str, Optimizer] = "sgd", optimizer_params: Optional[dict] = None,
                 clip_global_norm: Optional[float] = None, kvstore: Union[None, str, kv.KVStore] = None,
                 update_on_kvstore: Optional[bool] = None, compression_params: Optional[dict] = None):
        if isinstance(params, Parameter):
            raise HybridError("Trainer takes a collection of parameters: pass net.collect_params() or a list")
        named = _as_parameter_list(params)
        self._named = [(name, p) for name, p in named if p.grad_req != "null"]
        if not self._named:
            # MXNet accepts this (a block holding only Constants); step() then changes nothing
            warnings.warn("Trainer: none of the given parameters is trainable (all have grad_req='null'); "
                          "step() will not change anything", stacklevel=2)
        self._optimizer = create(optimizer, **(optimizer_params or {}))
        if clip_global_norm is not None and clip_global_norm <= 0:
            raise HybridError(f"Trainer: clip_global_norm must be positive, got {clip_global_norm}")
        self.clip_global_norm = clip_global_norm
        self._states: Optional[list[tuple[NDArray, ...]]] = None
        self._kvstore = kv.create(kvstore) if isinstance(kvstore, str) else kvstore
        self._compression = GradientCompression(compression_params)
        if self._kvstore is not None and compression_params is not None:
            self._kvstore.set_gradient_compression(compression_params)
        distributed = self._kvstore is not None and self._kvstore.comm is not None
        self._update_on_kvstore = bool(update_on_kvstore) and self._kvstore is not None
        if self._update_on_kvstore and clip_global_norm is not None:
            raise HybridError("Trainer: clip_global_norm needs the gradients of every parameter in one place; it "
                              "cannot be combined with update_on_kvstore=True")
        self._data_parallel = (DataParallel(self._kvstore.comm, self._named,
                                            "avg" if self._kvstore.type == "horovod" else "sum",
                                            compression=self._compression)
                               if distributed and not self._update_on_kvstore else None)
        self._kv_ready = False
        if all(p.is_initialized for _, p in self._named):
            self._init_kvstore(first_step=False)

    # -- learning rate ---------------------------------------------------------------------
    @property
    def optimizer(self) -> Optimizer:
        return self._optimizer

    @property
    def learning_rate(self) -> float:
        return self._optimizer.learning_rate

    def set_learning_rate(self, lr: float) -> None:
        self._optimizer.set_learning_rate(lr)

    @property
    def trainable_params(self) -> list[Parameter]:
        return [p for _, p in self._named]

    @property
    def _params(self) -> list[Parameter]:
        """The trainable parameters in update order (MXNet's attribute name, which code written
        against MXNet reads); `_named` pairs each with its name."""
        return self.trainable_params

    # -- the step ---------------------------------------------------------------------------
    def step(self, batch_size: int) -> None:
        """One update of every trainable parameter from its gradient, scaled by 1/batch_size."""
        if not isinstance(batch_size, (int, numpy.integer)) or batch_size <= 0:
            raise HybridError(f"Trainer.step: batch_size must be a positive int (the number of samples the "
                              f"loss summed over), got {batch_size!r}")
        self.allreduce_grads()
        self.update(batch_size)

    def allreduce_grads(self) -> None:
        """Sum the gradients over the devices of this process, then reduce them over the workers
        (with a distributed kvstore)."""
        self._init_kvstore(first_step=True)
        if self._update_on_kvstore:
            return        # the store's push sums the devices' and workers' gradients
        self._reduce_replicas()
        if self._data_parallel is not None:
            self._data_parallel.reduce_gradients()
            for _, p in self._named:   # the workers' sum, into every device's gradient
                grads = p.list_grad()
                for g in grads[1:]:
                    g._assign(grads[0]._data)

    def _reduce_replicas(self) -> None:
        """Every replica's gradient becomes the sum over the replicas (kvstore 'device' semantics)."""
        for _, p in self._named:
            if len(p.list_ctx()) > 1:
                grads = p.list_grad()
                total = self._compression.sum_local([g._data for g in grads])
                for g in grads:
                    g._assign(total)

    def update(self, batch_size: int) -> None:
        """Apply the optimizer to the (already reduced) gradients, scaled by 1/batch_size."""
        if self._update_on_kvstore:
            self._update_on_store(batch_size)
            return
        weights = [self._weight(name, p) for name, p in self._named]
        grads = [self._grad(name, p) for name, p in self._named]
        states = self.states()
        lr, t = self.begin_update()
        with autograd.pause():
            new_weights, new_states = self.update_fn(weights, grads, states, lr, float(t), 1.0 / batch_size)
        self.commit(new_weights, new_states)

    # -- the kvstore ------------------------------------------------------------------------------
    @property
    def kvstore(self) -> Optional[kv.KVStore]:
        return self._kvstore

    def _init_kvstore(self, first_step: bool) -> None:
        """Once the parameters exist: make every replica rank 0's (or load them into the store)."""
        if self._kv_ready or self._kvstore is None:
            return
        self._kv_ready = True
        if self._update_on_kvstore:
            self._kvstore.set_optimizer(self._optimizer)
            self._kvstore.init(list(range(len(self._named))), [self._weight(n, p) for n, p in self._named])
            self._kvstore.pull(list(range(len(self._named))), [self._weight(n, p) for n, p in self._named])
            return
        if self._data_parallel is not None and self._data_parallel.synchronize_parameters() and first_step:
            from ..distributed import DistributedError
            raise DistributedError(
                "Trainer: the parameters differed across ranks until this first step, so its gradients were computed "
                "from different weights. Create the Trainer after the parameters exist (give layers their input "
                "sizes, e.g. nn.Dense(64, in_units=32), or run one forward pass first): it then broadcasts rank 0's "
                "values before training starts")

    def _update_on_store(self, batch_size: int) -> None:
        keys = list(range(len(self._named)))
        self._weights_exist()
        with autograd.pause():   # one gradient per device: the store sums them
            grads = [[g * (1.0 / batch_size) for g in p.list_grad()] for _, p in self._named]
        self._kvstore.push(keys, grads)
        self._kvstore.pull(keys, [p.list_data() for _, p in self._named])

    def allreduce_traced(self, grads: Sequence[Array]) -> list[Array]:
        """For a compiled step: the gradients after this trainer's allreduce ops (one per bucket),
        or the gradients themselves without a distributed kvstore."""
        if self._update_on_kvstore and self._kvstore.comm is not None:
            raise HybridError("compile_step: update_on_kvstore=True updates on the store, outside the compiled "
                              "step; use update_on_kvstore=False (the default) to compile the whole step")
        several = [(name, p.list_ctx()) for name, p in self._named if len(p.list_ctx()) > 1]
        if several:
            raise HybridError(f"compile_step: parameter {several[0][0]!r} has replicas on {several[0][1]}; a compiled "
                              "step runs on one device. Train several devices with the eager or hybridized step "
                              "(forward/backward per slice, then trainer.step), or one device per process with a "
                              "distributed kvstore")
        self._init_kvstore(first_step=False)
        if self._data_parallel is None:
            return list(grads)
        return self._data_parallel.traced_allreduce(list(grads))

    def zero_grad(self) -> None:
        """Set every trainable parameter's gradient to zero (needed with grad_req='add')."""
        for _, p in self._named:
            p.zero_grad()

    def update_fn(self, weights: Sequence[Array], grads: Sequence[Array], states: Sequence[tuple], lr, t,
                  rescale=1.0) -> tuple[list[Array], list[tuple]]:
        """Pure update of all parameters: arrays in, arrays out (NDArrays or Tracers)."""
        if not len(weights) == len(grads) == len(states) == len(self._named):
            raise HybridError(f"Trainer.update_fn: expected {len(self._named)} weights, grads and states, got "
                              f"{len(weights)}, {len(grads)} and {len(states)}")
        grads = [g * rescale for g in grads]
        if self.clip_global_norm is not None:
            grads, _ = clip_by_global_norm(grads, self.clip_global_norm)
        opt = self._optimizer
        # per-parameter multipliers (Parameter.lr_mult / wd_mult); lr may be a traced 0-d array
        results = [opt.full_update(w, g, s, lr if p.lr_mult == 1.0 else lr * p.lr_mult, t,
                                   opt.wd * p.wd_mult, name)
                   for (name, p), w, g, s in zip(self._named, weights, grads, states)]
        return [w for w, _ in results], [s for _, s in results]

    def begin_update(self) -> tuple[float, int]:
        """Advance the update count; return (learning rate, 1-based update number) of this update."""
        self._optimizer.num_update += 1
        t = self._optimizer.num_update
        return self._optimizer.lr_at(t), t

    def states(self) -> list[tuple[NDArray, ...]]:
        """The optimizer state of each trainable parameter (created at first use)."""
        if self._states is None:
            self._states = [tuple(NDArray(s) for s in self._optimizer.create_full_state(self._weight(name, p)._data))
                            for name, p in self._named]
        return self._states

    def commit(self, new_weights: Sequence, new_states: Sequence[tuple]) -> None:
        """Write updated weights and states into the existing arrays (in place). A new state may be
        an old weight array itself (DCASGD keeps the previous weight), so states are read first."""
        new_states = [[numpy.asarray(n).copy() for n in new] for new in new_states]
        for (name, p), w in zip(self._named, new_weights):
            self._weight(name, p)._assign(numpy.asarray(w))
            p._sync_replicas()
        for old, new in zip(self.states(), new_states):
            for o, n in zip(old, new):
                o._assign(n)

    def _weights_exist(self) -> None:
        for name, p in self._named:
            self._weight(name, p)

    def _weight(self, name: str, p: Parameter) -> NDArray:
        """The parameter's value on its first device (the replica the optimizer updates)."""
        if not p.is_initialized:
            raise HybridError(f"Trainer: parameter {name!r} is not initialized (shape {p.shape}); call "
                              "net.initialize() and run one forward pass before trainer.step()")
        return p._data_eager(p.list_ctx()[0])

    def _grad(self, name: str, p: Parameter) -> NDArray:
        grad = self._weight(name, p).grad
        if grad is None:
            raise HybridError(f"Trainer: parameter {name!r} has no gradient buffer (grad_req={p.grad_req!r}); "
                              "its gradient was never attached")
        return grad

    # -- checkpoints ---------------------------------------------------------------------------
    def save_states(self, filename: str) -> None:
        """Save the optimizer state and update count to an .npz file (versioned, no pickle)."""
        arrays = {"__format_version__": numpy.array(STATES_FORMAT_VERSION),
                  "__num_update__": numpy.array(self._optimizer.num_update)}
        for (name, _), state in zip(self._named, self.states()):
            for i, s in enumerate(state):
                arrays[f"{name}/{i}"] = s._data
        with open(filename, "wb") as f:
            fileio.save_npz(f, arrays)

    def load_states(self, filename: str) -> None:
        loaded = load_npz(filename)
        version = loaded.get("__format_version__")
        if version is None or int(version) != STATES_FORMAT_VERSION:
            raise FormatError(f"{filename}: not a trainer-state file of format version {STATES_FORMAT_VERSION} "
                              f"(found {None if version is None else int(version)})")
        for (name, _), state in zip(self._named, self.states()):
            for i, s in enumerate(state):
                key = f"{name}/{i}"
                if key not in loaded or loaded[key].shape != s.shape:
                    raise FormatError(f"{filename}: optimizer state {key!r} is missing or has the wrong shape "
                                      f"(expected {s.shape}); was it saved with the same model and optimizer?")
                s._assign(loaded[key])
        self._optimizer.num_update = int(loaded["__num_update__"])
