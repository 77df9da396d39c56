"""The optimizer contract shared by eager training and compiled training steps.

An optimizer is a pure update rule written with `hb.np` functions:

    new_weight, new_state = opt.update(weight, grad, state, lr, t, wd=None, name=None)

- `weight`, `grad` and every array of `state` are hybrid Arrays (NDArray eagerly, Tracer when
  a whole training step is traced by `hb.compile_step`), all of the weight's shape and dtype;
- `state` is the tuple `opt.create_state(weight)` returned (NumPy zeros), possibly empty;
- `lr` (this update's learning rate) and `t` (the 1-based update count, for Adam's bias
  correction) are Python floats or 0-d float32 Arrays, so a compiled step takes them as inputs
  and a learning-rate schedule never forces a recompile;
- `wd` is this parameter's weight decay (the optimizer's `wd` times Parameter.wd_mult; None means
  `opt.wd`), `name` its structural name (LARS skips biases and norm scales by name);
- `grad` is the gradient already rescaled by the trainer (1/batch_size) and clipped;
  `preprocess` applies the optimizer's own elementwise `clip_gradient`.
Nothing is modified in place here: the Trainer writes the results back into the parameters.

`multi_precision=True` keeps a float32 master copy of float16/bfloat16 weights as the first
state array; `create_full_state` / `full_update` add it around `create_state` / `update`.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy

from ...errors import HybridError
from ...frontend import np
from ...core.array import Array
from .indexed import IndexedOptimizerAPI

_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: make the optimizer creatable by its lower-case class name."""
    _REGISTRY[cls.__name__.lower()] = cls
    return cls


def create(name, **kwargs) -> "Optimizer":
    """An optimizer from its name ('sgd', 'nag', 'adam', 'adamw', 'rmsprop') and hyperparameters."""
    if isinstance(name, Optimizer):
        if kwargs:
            raise HybridError("optimizer_params must be empty when an Optimizer instance is given; "
                              f"set {sorted(kwargs)} on the instance instead")
        return name
    cls = _REGISTRY.get(str(name).lower())
    if cls is None:
        raise HybridError(f"unknown optimizer {name!r}; choose one of {', '.join(sorted(_REGISTRY))} "
                          "or pass an Optimizer instance")
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise HybridError(f"bad optimizer_params for {cls.__name__}: {e}") from None


class ScheduleConflict(HybridError, UserWarning):
    """set_learning_rate on an optimizer that follows a schedule (MXNet raises a UserWarning)."""


class Optimizer(IndexedOptimizerAPI):
    """Base class: learning rate (or a schedule), weight decay, elementwise gradient clipping;
    MXNet's index-based API (create_state_multi_precision, update_multi_precision) comes from
    IndexedOptimizerAPI.

    `learning_rate` is the rate of the next update: the schedule's value at `num_update` when
    an `lr_scheduler` is set (its base_lr then comes from `learning_rate` if that is given).
    """

    default_lr = 0.01

    def __init__(self, learning_rate: Optional[float] = None, wd: float = 0.0, clip_gradient: Optional[float] = None,
                 lr_scheduler: Optional[Callable[[int], float]] = None, multi_precision: bool = False,
                 rescale_grad: float = 1.0, use_fused_step: Optional[bool] = None, aggregate_num: Optional[int] = None,
                 param_idx2name: Optional[dict] = None, begin_num_update: int = 0, param_dict: Optional[dict] = None,
                 lazy_update: bool = False):
        # use_fused_step / aggregate_num choose MXNet kernels and lazy_update its row-sparse path; one
        # traced update serves every case here (arrays are dense), so they are kept only to be reported
        self.use_fused_step, self.aggregate_num, self.lazy_update = bool(use_fused_step), aggregate_num, lazy_update
        self.multi_precision = bool(multi_precision)
        self.rescale_grad = float(rescale_grad)
        self.idx2name = dict(param_idx2name or {})
        self.lr_scheduler = lr_scheduler
        if lr_scheduler is not None and learning_rate is not None:
            lr_scheduler.base_lr = float(learning_rate)
        self.lr = float(learning_rate if learning_rate is not None else
                        getattr(lr_scheduler, "base_lr", self.default_lr))
        self.wd = float(wd)
        if clip_gradient is not None and clip_gradient <= 0:
            raise HybridError(f"clip_gradient must be positive, got {clip_gradient}")
        self.clip_gradient = clip_gradient
        self.num_update = int(begin_num_update)
        self._init_indexed(param_dict, begin_num_update)

    # -- learning rate ---------------------------------------------------------------------
    def lr_at(self, t: int) -> float:
        """The learning rate of update number t (1-based, as Gluon's num_update)."""
        return float(self.lr_scheduler(t)) if self.lr_scheduler is not None else self.lr

    @property
    def learning_rate(self) -> float:
        return self.lr_at(max(self.num_update, 1)) if self.lr_scheduler is not None else self.lr

    def set_learning_rate(self, lr: float) -> None:
        if self.lr_scheduler is not None:
            raise ScheduleConflict("set_learning_rate: this optimizer follows an lr_scheduler; change the schedule "
                              "(scheduler.base_lr) instead of setting a fixed rate")
        self.lr = float(lr)

    # -- the update rule ----------------------------------------------------------------
    def create_state(self, weight: numpy.ndarray) -> tuple[numpy.ndarray, ...]:
        """Fresh optimizer state for one weight (NumPy arrays; the trainer wraps them)."""
        return ()

    def preprocess(self, grad: Array) -> Array:
        if self.rescale_grad != 1.0:
            grad = grad * self.rescale_grad
        return grad if self.clip_gradient is None else np.clip(grad, -self.clip_gradient, self.clip_gradient)

    def decay(self, wd) -> float:
        """This update's weight decay: the per-parameter `wd` the trainer passes, else the optimizer's."""
        return self.wd if wd is None else wd

    def update(self, weight: Array, grad: Array, state: tuple, lr, t, wd=None, name=None) -> tuple[Array, tuple]:
        raise NotImplementedError(f"{type(self).__name__} must define update()")

    # -- multi-precision wrappers (what the Trainer calls) ---------------------------------------
    def _master_copy(self, dtype) -> bool:
        return self.multi_precision and numpy.dtype(dtype).itemsize == 2 and numpy.dtype(dtype).kind in "fV"

    def create_full_state(self, weight: numpy.ndarray) -> tuple[numpy.ndarray, ...]:
        """create_state, preceded by a float32 master weight for half-precision weights."""
        if self._master_copy(weight.dtype):
            master = weight.astype(numpy.float32)
            return (master,) + tuple(self.create_state(master))
        return tuple(self.create_state(weight))

    def full_update(self, weight: Array, grad: Array, state: tuple, lr, t, wd=None, name=None):
        """update, run on the float32 master weight for half-precision weights (multi_precision)."""
        if self._master_copy(weight.dtype):
            master, inner = state[0], tuple(state[1:])
            new_master, new_inner = self.update(master, np.astype(grad, "float32"), inner, lr, t, wd, name)
            return np.astype(new_master, weight.dtype), (new_master,) + tuple(new_inner)
        return self.update(weight, grad, state, lr, t, wd, name)

    def __repr__(self) -> str:
        fields = {k: v for k, v in vars(self).items() if k not in ("num_update", "lr_scheduler")}
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in fields.items())})"


def zeros_state(weight: numpy.ndarray, count: int) -> tuple[numpy.ndarray, ...]:
    return tuple(numpy.zeros_like(weight) for _ in range(count))
