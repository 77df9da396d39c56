"""Learning-rate schedules (Gluon names): `scheduler(num_update) -> lr`.

`num_update` is the 1-based count of updates, as Gluon's optimizer passes it. Every schedule is
a pure function of it (no hidden state), so a run can be resumed or replayed exactly. Any
schedule can start with a warmup (Gluon's warmup_steps / warmup_begin_lr / warmup_mode
arguments), and `Warmup(schedule, steps)` prepends a warmup to any schedule, which then
starts at its own step 0 when the warmup ends.
"""
from __future__ import annotations

import math
from typing import Sequence

from ..errors import HybridError

WARMUP_MODES = ("linear", "constant")


class LRScheduler:
    """Base class: the warmup phase; subclasses define `after_warmup(num_update)`."""

    def __init__(self, base_lr: float = 0.01, warmup_steps: int = 0, warmup_begin_lr: float = 0.0,
                 warmup_mode: str = "linear"):
        if warmup_steps < 0:
            raise HybridError(f"{type(self).__name__}: warmup_steps must be >= 0, got {warmup_steps}")
        if warmup_mode not in WARMUP_MODES:
            raise HybridError(f"{type(self).__name__}: warmup_mode must be one of {WARMUP_MODES}, "
                              f"got {warmup_mode!r}")
        self.base_lr = float(base_lr)
        self.warmup_steps = int(warmup_steps)
        self.warmup_begin_lr = float(warmup_begin_lr)
        self.warmup_mode = warmup_mode

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            if self.warmup_mode == "constant":
                return self.warmup_begin_lr
            return self.warmup_begin_lr + (self.base_lr - self.warmup_begin_lr) * num_update / self.warmup_steps
        return self.after_warmup(num_update)

    def after_warmup(self, num_update: int) -> float:
        return self.base_lr

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in vars(self).items())})"


class FactorScheduler(LRScheduler):
    """Multiply the rate by `factor` every `step` updates, never below `stop_factor_lr`."""

    def __init__(self, step: int, factor: float = 1.0, stop_factor_lr: float = 1e-8, base_lr: float = 0.01,
                 warmup_steps: int = 0, warmup_begin_lr: float = 0.0, warmup_mode: str = "linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if step < 1:
            raise HybridError(f"FactorScheduler: step must be >= 1 update, got {step}")
        if factor > 1.0:
            raise HybridError(f"FactorScheduler: factor must be <= 1 (a decay), got {factor}")
        self.step, self.factor, self.stop_factor_lr = int(step), float(factor), float(stop_factor_lr)

    def after_warmup(self, num_update: int) -> float:
        decays = max(0, (num_update - 1) // self.step)
        floor = min(self.stop_factor_lr, self.base_lr)
        # MXNet multiplies the rate by factor once per decay (so its floats are base*f*f*..., not
        # base*f**n); the rate stops at the floor, so the loop is short. The last result is kept
        # to continue from, as rates are asked for in increasing update order.
        key = (self.base_lr, self.factor)
        memo = self.__dict__.get("_decayed")
        done, lr = memo[1:] if memo is not None and memo[0] == key and memo[1] <= decays else (0, self.base_lr)
        while done < decays and lr > floor and self.factor < 1.0:
            lr, done = lr * self.factor, done + 1
        self._decayed = (key, done, lr)
        return max(lr, floor)


class MultiFactorScheduler(LRScheduler):
    """Multiply the rate by `factor` after each update count listed in `step` (increasing)."""

    def __init__(self, step: Sequence[int], factor: float = 1.0, base_lr: float = 0.01, warmup_steps: int = 0,
                 warmup_begin_lr: float = 0.0, warmup_mode: str = "linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        step = [int(s) for s in step]
        if not step or any(b <= a for a, b in zip(step, step[1:])) or step[0] < 1:
            raise HybridError(f"MultiFactorScheduler: step must be a non-empty increasing list of update counts "
                              f">= 1, got {step}")
        self.step, self.factor = step, float(factor)

    def after_warmup(self, num_update: int) -> float:
        return self.base_lr * self.factor ** sum(num_update > s for s in self.step)


class CosineScheduler(LRScheduler):
    """Half a cosine from base_lr down to final_lr over updates warmup_steps..max_update."""

    def __init__(self, max_update: int, base_lr: float = 0.01, final_lr: float = 0.0, warmup_steps: int = 0,
                 warmup_begin_lr: float = 0.0, warmup_mode: str = "linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if max_update <= warmup_steps:
            raise HybridError(f"CosineScheduler: max_update ({max_update}) must exceed warmup_steps "
                              f"({warmup_steps})")
        self.max_update, self.final_lr = int(max_update), float(final_lr)

    def after_warmup(self, num_update: int) -> float:
        if num_update >= self.max_update:
            return self.final_lr
        phase = (num_update - self.warmup_steps) / (self.max_update - self.warmup_steps)
        return self.final_lr + (self.base_lr - self.final_lr) * (1.0 + math.cos(math.pi * phase)) / 2.0


class PolyScheduler(LRScheduler):
    """Polynomial decay from base_lr to final_lr over updates warmup_steps..max_update:
    final_lr + (base_lr - final_lr) * (1 - (n - warmup_steps) / (max_update - warmup_steps)) ** pwr."""

    def __init__(self, max_update: int, base_lr: float = 0.01, pwr: float = 2, final_lr: float = 0.0,
                 warmup_steps: int = 0, warmup_begin_lr: float = 0.0, warmup_mode: str = "linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if max_update < 1 or max_update <= warmup_steps:
            raise HybridError(f"PolyScheduler: max_update ({max_update}) must be >= 1 and exceed warmup_steps "
                              f"({warmup_steps})")
        self.max_update, self.power, self.final_lr = int(max_update), float(pwr), float(final_lr)

    def after_warmup(self, num_update: int) -> float:
        if num_update >= self.max_update:
            return self.final_lr
        remaining = 1.0 - (num_update - self.warmup_steps) / (self.max_update - self.warmup_steps)
        return self.final_lr + (self.base_lr - self.final_lr) * remaining ** self.power


class Warmup(LRScheduler):
    """`warmup_steps` updates ramping up to the wrapped schedule's base_lr, then that schedule,
    counted from 0 at the end of the warmup. Setting base_lr sets the wrapped schedule's."""

    def __init__(self, scheduler: LRScheduler, warmup_steps: int, warmup_begin_lr: float = 0.0,
                 warmup_mode: str = "linear"):
        if not callable(scheduler):
            raise HybridError(f"Warmup wraps a schedule (a callable of num_update), got {type(scheduler).__name__}")
        self.scheduler = scheduler
        super().__init__(scheduler.base_lr, warmup_steps, warmup_begin_lr, warmup_mode)

    @property
    def base_lr(self) -> float:
        return self.scheduler.base_lr

    @base_lr.setter
    def base_lr(self, value: float) -> None:
        self.scheduler.base_lr = value

    def after_warmup(self, num_update: int) -> float:
        return self.scheduler(num_update - self.warmup_steps)


__all__ = ["LRScheduler", "FactorScheduler", "MultiFactorScheduler", "CosineScheduler", "PolyScheduler", "Warmup"]
