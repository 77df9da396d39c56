"""MXNet's index-based optimizer API on top of the pure update rule of `base.Optimizer`.

MXNet's updaters, Trainer internals and tests drive an optimizer by parameter index:

    states = [opt.create_state_multi_precision(i, w) for i, w in enumerate(weights)]
    opt.update_multi_precision(indices, weights, grads, states)   # writes weights and states in place

Each index has its own update count (Adam's bias correction uses it), and its learning rate and
weight decay are scaled by `param_dict[i].lr_mult / wd_mult` or by `set_lr_mult` / `set_wd_mult`
(keyed by index, or by name through `param_idx2name`). A subclass written against MXNet's API (its
own `create_state(index, weight)` and `step(indices, weights, grads, states)`) runs through the same
two entry points."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy

from ...core.array import NDArray


class IndexedOptimizerAPI:
    """Mixin for `base.Optimizer`: per-index counts, multipliers and in-place updates."""

    def _init_indexed(self, param_dict: Optional[dict], begin_num_update: int) -> None:
        self.param_dict = dict(param_dict or {})
        self.lr_mult: dict = {}
        self.wd_mult: dict = {}
        self.begin_num_update = int(begin_num_update)
        self._index_update_count: dict = {}

    # -- per-index bookkeeping -----------------------------------------------------------------
    def set_lr_mult(self, args_lr_mult: dict) -> None:
        """Learning-rate multipliers by parameter index or name (replaces earlier ones)."""
        self.lr_mult = dict(args_lr_mult)

    def set_wd_mult(self, args_wd_mult: dict) -> None:
        """Weight-decay multipliers by parameter index or name (replaces earlier ones)."""
        self.wd_mult = dict(args_wd_mult)

    def _update_count(self, index) -> None:
        """Count one more update of each given index; num_update is the largest count."""
        for i in (index if isinstance(index, (list, tuple)) else [index]):
            self._index_update_count[i] = self._index_update_count.get(i, self.begin_num_update) + 1
            self.num_update = max(self._index_update_count[i], self.num_update)

    def _multiplier(self, index, table: dict, attribute: str) -> float:
        if index in self.param_dict:
            return float(getattr(self.param_dict[index], attribute))
        if index in table:
            return float(table[index])
        if index in self.idx2name:
            return float(table.get(self.idx2name[index], 1.0))
        return 1.0

    def _get_lrs(self, indices: Sequence) -> list[float]:
        base = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return [base * self._multiplier(i, self.lr_mult, "lr_mult") for i in indices]

    def _get_lr(self, index) -> float:
        return self._get_lrs([index])[0]

    def _get_wds(self, indices: Sequence) -> list[float]:
        return [self.wd * self._multiplier(i, self.wd_mult, "wd_mult") for i in indices]

    def _get_wd(self, index) -> float:
        return self._get_wds([index])[0]

    # -- states and updates ----------------------------------------------------------------------
    def _mxnet_style(self) -> bool:
        """A subclass that implements MXNet's step() itself (rather than the pure update rule)."""
        return getattr(type(self).step, "__qualname__", "").split(".")[0] != IndexedOptimizerAPI.__name__

    def create_state_multi_precision(self, index, weight):
        """The state of one weight: a float32 master copy first for half-precision weights when
        multi_precision is set; arrays of the weight's shape."""
        if self._mxnet_style():
            if self._master_copy(weight.dtype):
                master = weight.astype("float32")
                return (master, self.create_state(index, master))
            return self.create_state(index, weight)
        flat = tuple(NDArray(s) for s in self.create_full_state(_host(weight)))
        return _mxnet_state(flat, self._master_copy(weight.dtype))

    def update_multi_precision(self, indices: Sequence, weights: Sequence, grads: Sequence, states: Sequence) -> None:
        """One update of each weight, written in place into the weights and their states."""
        if self._mxnet_style():
            self._step_with_master_copies(indices, weights, grads, states)
            return
        for index, weight, grad, state in zip(indices, weights, grads, states):
            state = _flat_state(state, self._master_copy(weight.dtype))
            self._update_count(index)
            new_weight, new_state = self.full_update(weight, grad, state, self._get_lr(index),
                                                     self._index_update_count[index], self._get_wd(index),
                                                     self.idx2name.get(index))
            new_state = [numpy.array(_host(s)) for s in new_state]   # read before writing: a state may alias
            weight[...] = new_weight
            for old, new in zip(state, new_state):
                old[...] = new

    def step(self, indices: Sequence, weights: Sequence, grads: Sequence, states: Sequence) -> None:
        """MXNet's step: the same in-place update as update_multi_precision."""
        self.update_multi_precision(indices, weights, grads, states)

    fused_step = step

    def _step_with_master_copies(self, indices, weights, grads, states) -> None:
        masters, inner, grads32 = [], [], []
        for weight, grad, state in zip(weights, grads, states):
            master = self._master_copy(weight.dtype)
            masters.append(state[0] if master else weight)
            inner.append(state[1] if master else state)
            grads32.append(grad.astype("float32") if master else grad)
        use_fused = self.use_fused_step and type(self).fused_step is not IndexedOptimizerAPI.fused_step
        (self.fused_step if use_fused else self.step)(indices, masters, grads32, inner)
        for master, weight in zip(masters, weights):
            if master is not weight:
                weight[...] = master.astype(weight.dtype)


def _mxnet_state(flat: tuple, master: bool):
    """MXNet's state layout from the flat tuple of the pure rule: None for no state, the array for
    one, a tuple for several; (master weight, that) under multi_precision."""
    inner = flat[1:] if master else flat
    shaped = None if not inner else inner[0] if len(inner) == 1 else tuple(inner)
    return (flat[0], shaped) if master else shaped


def _flat_state(state, master: bool) -> tuple:
    """The inverse of _mxnet_state."""
    def flat(s):
        return () if s is None else tuple(s) if isinstance(s, (tuple, list)) else (s,)
    return (state[0],) + flat(state[1]) if master else flat(state)


def _host(a) -> numpy.ndarray:
    return a.asnumpy() if hasattr(a, "asnumpy") else numpy.asarray(a)
