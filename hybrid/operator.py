"""`hb.operator`: the op registry by MXNet's name for it (`mx.operator.get_all_registered_operators`).
hybrid's ops are registered in hybrid.ir.registry, the single source of truth; MXNet's CustomOp
Python operators are not offered (write the function with hb.np / hb.npx; it is differentiated and
compiled like any other)."""
from __future__ import annotations

from .ir.registry import all_ops


def get_all_registered_operators() -> list[str]:
    """The names of every registered primitive op, sorted."""
    return sorted(all_ops())


__all__ = ["get_all_registered_operators"]
