"""What a Trainer with a distributed kvstore does: keep the replicas identical.

- once, when the parameters exist: check that every rank has the same parameter names, shapes
  and dtypes (a clear error on every rank otherwise), then broadcast rank 0's values;
- every step, eagerly: as backward finishes each parameter's gradient (the tape's grad-ready
  hook), copy it into its bucket; a full bucket starts its non-blocking allreduce, so the
  communication overlaps the rest of backward; `reduce_gradients` waits and writes the reduced
  gradients back;
- in a compiled step (`hb.compile_step`): `traced_allreduce` puts one `allreduce` IR op per
  bucket between backward and the update; the executable is split around them
  (hybrid.codegen.segmented), starting each bucket's message before the rest of backward runs.

Buckets follow reverse parameter order, the order backward produces gradients in. With gradient
compression the buckets (eager) and the allreduce ops (compiled) carry float16/bfloat16 values.
"""
from __future__ import annotations

import weakref
from typing import Optional

import numpy

from ..core.dispatch import bind
from ..core.tape import add_grad_ready_hook
from ..ir.ops.collective import set_communicator
from .buckets import Buckets, default_bucket_bytes, plan_buckets
from .comm import Communicator
from .compression import GradientCompression
from .errors import DistributedError
from .kvstore import check_same_signature


class DataParallel:
    """Gradient synchronization of one Trainer's parameters over `comm` (op "sum" or "avg")."""

    def __init__(self, comm: Communicator, params: list, reduce: str, bucket_bytes: Optional[int] = None,
                 compression: Optional[GradientCompression] = None):
        self.comm, self.reduce = comm, reduce
        self.compression = compression if compression is not None else GradientCompression(None)
        self.params = params                                    # [(name, Parameter)] in model order
        self.bucket_bytes = default_bucket_bytes() if bucket_bytes is None else bucket_bytes
        self.order = list(range(len(params)))[::-1]             # bucket order: as backward makes them
        self._buckets: Optional[Buckets] = None
        self._slot: dict[int, int] = {}                         # id(weight array) -> bucket slot
        self._handed: set[int] = set()
        self._stale = False
        set_communicator(comm)

    # -- once -----------------------------------------------------------------------------------
    def synchronize_parameters(self) -> bool:
        """Check the ranks agree on the parameters, then give every rank rank 0's values.
        Returns whether any value changed on any rank (the ranks had started out different)."""
        check_same_signature(self.comm, [(name, p.shape, p.dtype) for name, p in self.params],
                             "Trainer(kvstore=...)")
        changed = False
        for _, p in self.params:
            weight = _first_replica(p)
            value = self.comm.broadcast(weight._data)
            changed |= not numpy.array_equal(value, weight._data)
            p.set_data(value)   # every device replica of this rank
        changed = bool(self.comm.allreduce(numpy.array(int(changed)))[()])
        weights = [_first_replica(self.params[i][1]) for i in self.order]
        self._buckets = Buckets(self.comm, [(w.shape, w.dtype) for w in weights], self.bucket_bytes, self.reduce,
                                self.compression)
        # a parameter with replicas on several devices is final only once the Trainer has summed them
        self._slot = {id(w): slot for slot, w in enumerate(weights)
                      if len(self.params[self.order[slot]][1].list_ctx()) == 1}
        self_ref = weakref.ref(self)

        def on_ready(array) -> None:  # a weak reference: the tape must not keep old trainers alive
            me = self_ref()
            if me is None:
                handle.remove()
            else:
                me._grad_ready(array)

        handle = add_grad_ready_hook(on_ready)
        return changed

    # -- each eager step ------------------------------------------------------------------------
    @property
    def buckets(self) -> Buckets:
        return self._buckets

    def _grad_ready(self, array) -> None:
        slot = self._slot.get(id(array))
        if slot is None or array._grad_req != "write":   # 'add' gradients are final only at step()
            return
        if slot in self._handed:
            self._stale = True                            # backward ran again before step()
            return
        self._handed.add(slot)
        self._buckets.ready(slot, array.grad._data)

    def reduce_gradients(self) -> None:
        """Finish every bucket's allreduce and write the results into the parameters' .grad."""
        weights = [_first_replica(self.params[i][1]) for i in self.order]
        if self._stale:  # the early messages hold an older gradient: drain them, send the current ones
            if self._buckets.pending:
                self._buckets.wait_all_started()
            self._handed.clear()
            self._stale = False
        for slot, w in enumerate(weights):
            if slot not in self._handed:
                if w.grad is None:
                    raise DistributedError(f"Trainer: parameter {self.params[self.order[slot]][0]!r} has no gradient "
                                           "buffer; every rank must reduce the same gradients")
                self._buckets.ready(slot, w.grad._data)
        for w, reduced in zip(weights, self._buckets.wait()):
            w.grad._assign(reduced)
        self._handed.clear()

    # -- compiled steps -------------------------------------------------------------------------
    def traced_allreduce(self, grads: list) -> list:
        """One allreduce op per bucket on traced gradients (model order in, model order out)."""
        wide = {i: g.dtype for i, g in enumerate(grads)}
        ordered = [_cast(grads[i], self.compression.wire_dtype(grads[i].dtype)) for i in self.order]
        reduced: dict[int, object] = {}
        groups = plan_buckets([(g.shape, g.dtype) for g in ordered], self.bucket_bytes)
        for b, members in enumerate(groups):
            outs = bind("allreduce", *[ordered[m] for m in members], reduce=self.reduce, bucket=b)
            outs = outs if isinstance(outs, tuple) else (outs,)
            reduced.update({self.order[m]: out for m, out in zip(members, outs)})
        return [_cast(reduced[i], wide[i]) for i in range(len(grads))]


def _cast(value, dtype):
    return value if value.dtype == dtype else value.astype(dtype)


def _first_replica(param):
    """The parameter's value on its first device (the one the Trainer updates)."""
    return param._data_eager(param.list_ctx()[0])
