"""Helpers for gradient rules.

A rule is `grad(cotangent, inputs, outputs, **attrs) -> [input cotangent or None, ...]`, where
the arrays are frontend Arrays: NDArrays on the eager tape, Tracers in graph autodiff. Rules
are written with array operators and the functions below, so one rule serves both. The
frontend is imported on first use, keeping hybrid.ir free of import-time frontend imports.
"""
from __future__ import annotations

from types import ModuleType


def np() -> ModuleType:
    """The hb.np namespace (array functions that work eagerly and traced)."""
    from ...frontend import np as namespace
    return namespace


def apply(op: str, *inputs, **attrs):
    """Apply a registry op to Arrays (eager now, or emitted into the active trace)."""
    from ...frontend.dispatch import apply as run
    return run(op, *inputs, **attrs)


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
    return np().where(cond, a, b)
