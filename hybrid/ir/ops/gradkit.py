"""Helpers for gradient rules.

A rule is `grad(cotangent, inputs, outputs, **attrs) -> [input cotangent or None, ...]`, where
the arrays are core Arrays: NDArrays on the eager tape, Tracers in graph autodiff. Rules are
written with array operators, `apply` and the primitive functions of `lax()`, so one rule serves
both. Those functions live in hybrid.core.lax, a layer above the IR: it installs itself here when
imported, and rules run only from core (the tape and graph autodiff).
"""
from __future__ import annotations

from types import ModuleType
from typing import Optional

_lax: Optional[ModuleType] = None


def install_lax(module: ModuleType) -> None:
    """Called by hybrid.core.lax on import."""
    global _lax
    _lax = module


def lax() -> ModuleType:
    """hybrid.core.lax: primitive functions on core arrays (eager now, or emitted into a trace)."""
    if _lax is None:
        raise RuntimeError("gradient rules run through hybrid.core (the tape or graph autodiff); import hybrid.core.lax "
                           "before calling one directly")
    return _lax


def apply(op: str, *inputs, **attrs):
    """Apply a registry op to Arrays (eager now, or emitted into the active trace)."""
    return lax().bind(op, *inputs, **attrs)


def unbroadcast(g, shape: tuple[int, ...]):
    """Sum a cotangent over the axes along which an input of `shape` was broadcast."""
    if tuple(g.shape) == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    if axes:
        g = apply("sum", g, axes=axes, keepdims=False)
    return g if tuple(g.shape) == tuple(shape) else apply("reshape", g, shape=tuple(shape))


def keep_reduced(g, in_shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool):
    """A reduction's cotangent (or output) reshaped with the reduced axes kept, then broadcast to
    the input shape."""
    if not keepdims:
        kept = tuple(1 if i in axes else d for i, d in enumerate(in_shape))
        if tuple(g.shape) != kept:
            g = apply("reshape", g, shape=kept)
    return g if tuple(g.shape) == tuple(in_shape) else apply("broadcast_to", g, shape=tuple(in_shape))


def where(cond, a, b):
    return lax().where(cond, a, b)


def dilate(g, axis: int, step: int):
    """Insert step-1 zeros between neighbours along `axis` (length n -> (n-1)*step+1), with
    primitives only: pad a new unit axis to `step`, merge it, drop the trailing zeros."""
    if step == 1 or g.shape[axis] == 0:
        return g
    n = g.shape[axis]
    split = tuple(g.shape[:axis + 1]) + (1,) + tuple(g.shape[axis + 1:])
    pads = [0] * (2 * len(split))
    pads[2 * (axis + 1) + 1] = step - 1
    g = apply("pad", apply("reshape", g, shape=split), pads=tuple(pads), value=0.0)
    g = apply("reshape", g, shape=tuple(g.shape[:axis]) + (n * step,) + tuple(g.shape[axis + 2:]))
    end = list(g.shape)
    end[axis] = (n - 1) * step + 1
    return apply("slice", g, begin=(0,) * g.ndim, end=tuple(end), step=(1,) * g.ndim)


def resize(g, before: list[int], after: list[int]):
    """Zero-pad each axis by before/after amounts; negative amounts cut instead."""
    if any(b > 0 for b in before) or any(a > 0 for a in after):
        pads = tuple(v for b, a in zip(before, after) for v in (max(b, 0), max(a, 0)))
        g = apply("pad", g, pads=pads, value=0.0)
    if any(b < 0 for b in before) or any(a < 0 for a in after):
        begin = tuple(max(-b, 0) for b in before)
        end = tuple(d - max(-a, 0) for d, a in zip(g.shape, after))
        g = apply("slice", g, begin=begin, end=end, step=(1,) * g.ndim)
    return g
