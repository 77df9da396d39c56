"""The eager autograd tape: recording, backward and grad.

While `autograd.record()` is active, `dispatch.bind` reports every eager op here; an op is
taped when it is differentiable and one of its float inputs is tracked (attached with
`attach_grad`, or itself produced by a taped op). Each output array points at its TapeNode.

backward walks the nodes reachable from the heads in reverse topological order and applies
each op's registry gradient rule (or, for a hybridized block's compiled call, its compiled
backward) to the output cotangents, accumulating input cotangents by array identity. The
same `propagate` drives graph-level autodiff (hybrid.core.ad) on traced values.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional, Sequence

import numpy

from ..errors import HybridError, ShapeError
from ..ir.ops.complex import DIRECT_COMPLEX_GRAD, HOLOMORPHIC_GRAD
from ..ir.registry import get_op
from ..ir.types import is_float_dtype
from . import autograd, dispatch, lax
from .array import Array, NDArray


class TapeNode:
    """One recorded op: its inputs and outputs (Arrays) and how to pull cotangents back.
    `rule(cotangents) -> input cotangents` overrides the registry rule (compiled blocks)."""

    __slots__ = ("op", "attrs", "inputs", "outputs", "rule")

    def __init__(self, op: str, attrs: dict, inputs: Sequence[Array], outputs: Sequence[Array],
                 rule: Optional[Callable] = None):
        self.op = op
        self.attrs = attrs
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.rule = rule

    def vjp(self, cotangents: list) -> list:
        if self.rule is not None:
            return self.rule(cotangents)
        return registry_vjp(self.op, self.attrs, self.inputs, self.outputs, cotangents)


def registry_vjp(op: str, attrs: dict, inputs: list, outputs: list, cotangents: list) -> list:
    """Apply `op`'s gradient rule; checks that it returns one matching cotangent per input."""
    opdef = get_op(op)
    if opdef.grad is None:
        raise HybridError(f"op {op!r} has no gradient rule, so gradients cannot flow through it; wrap its input "
                          f"in np.stop_gradient(...) if no gradient is needed there")
    complex_value = next((v for v in list(inputs) + list(outputs) if v.dtype.kind == "c"), None)
    if complex_value is not None and op not in DIRECT_COMPLEX_GRAD:
        grads = _holomorphic_vjp(op, opdef, attrs, inputs, outputs, cotangents, str(complex_value.dtype))
    else:
        g = cotangents[0] if len(outputs) == 1 else cotangents
        grads = list(opdef.grad(g, inputs, outputs, **attrs))
    if len(grads) != len(inputs):
        raise HybridError(f"gradient rule of {op} returned {len(grads)} cotangents for {len(inputs)} inputs")
    for i, (x, ct) in enumerate(zip(inputs, grads)):
        if ct is not None and x.dtype.kind in "iu" and ct.type.dtype != x.type.dtype:
            # an attached integer array's gradient has its dtype (MXNet's rule); the rules compute in float
            grads[i] = ct = lax.bind("cast", ct, dtype=x.type.dtype)
        if ct is not None and (tuple(ct.shape) != tuple(x.shape) or ct.type.dtype != x.type.dtype):
            raise HybridError(f"gradient rule of {op} returned {ct.type} for input {i} of type {x.type}")
    return grads


def propagate(nodes: Iterable, cotangents: dict, needs: Callable[[Array], bool], keep: set,
              after: Optional[Callable] = None) -> None:
    """Reverse-mode sweep. `nodes` are consumers first; `cotangents` maps id(array) to its
    cotangent and is updated in place; `needs(x)` says whether input x wants one; entries of
    arrays not in `keep` are dropped once their producer has used them; `after(node,
    cotangents)` runs once each node is done (or skipped)."""
    for node in nodes:
        _propagate_one(node, cotangents, needs, keep)
        if after is not None:
            after(node, cotangents)


def _propagate_one(node, cotangents: dict, needs: Callable[[Array], bool], keep: set) -> None:
    """Pull one node's output cotangents back to its inputs (accumulated by array identity)."""
    cts = [cotangents.get(id(o)) for o in node.outputs]
    if all(ct is None for ct in cts):
        return
    cts = [ct if ct is not None else lax.zeros_like(o) for ct, o in zip(cts, node.outputs)]
    for o in node.outputs:
        if id(o) not in keep:
            cotangents.pop(id(o), None)
    for x, ct in zip(node.inputs, node.vjp(cts)):
        if ct is None or not needs(x):
            continue
        previous = cotangents.get(id(x))
        cotangents[id(x)] = ct if previous is None else previous + ct


def _conj(x):
    return lax.bind("conj", x) if x is not None and x.dtype.kind == "c" else x


def _holomorphic_vjp(op: str, opdef, attrs: dict, inputs: list, outputs: list, cotangents: list, dtype: str) -> list:
    """The complex cotangents (hybrid/ir/ops/complex.py's convention) of an op holomorphic in its
    complex operands: its real rule applied to conj(g), conjugated; a real operand keeps the real part."""
    if op not in HOLOMORPHIC_GRAD:
        raise complex_gradient_error(op, dtype)
    conj = [_conj(c) for c in cotangents]
    grads = list(opdef.grad(conj[0] if len(outputs) == 1 else conj, inputs, outputs, **attrs))
    out = []
    for x, ct in zip(inputs, grads):
        ct = _conj(ct)
        if ct is not None and ct.dtype.kind == "c" and x.dtype.kind != "c":
            ct = lax.bind("real", ct)
        out.append(ct)
    return out + grads[len(inputs):]


# -- recording -------------------------------------------------------------------------------
def _inexact(dtype) -> bool:
    """A NumPy dtype gradients flow through: float (bfloat16 included) or complex."""
    return is_float_dtype(dtype) or dtype.kind == "c"


def _integer(dtype) -> bool:
    return dtype.kind in "iu"


def tracked(x) -> bool:
    """Whether gradients flow into x: a float, complex or integer NDArray that is attached or was
    recorded. Integer arrays carry gradients only on a path from an integer array the user attached
    (MXNet's rule: its gradient has its own dtype); an integer result of float math cuts the path."""
    return (isinstance(x, NDArray) and (_inexact(x.dtype) or _integer(x.dtype))
            and (x._node is not None or x._grad_req != "null"))


def carries_gradient(output_dtype, inputs) -> bool:
    """Whether an output of a differentiable op on `inputs` (some tracked) is recorded: a float or
    complex output always; an integer one when a tracked input is itself an integer array."""
    return _inexact(output_dtype) or (_integer(output_dtype)
                                      and any(tracked(x) and _integer(x.dtype) for x in inputs))


def complex_gradient_error(op: str, dtype: str, loc: Optional[str] = None) -> HybridError:
    """An op on complex values without a complex gradient rule (hybrid/ir/ops/complex.py)."""
    where = f" at {loc}" if loc else ""
    return HybridError(f"{op}{where}: a gradient was asked to flow through a complex value ({dtype}), and {op} has "
                       "no gradient rule for complex values (the elementwise functions, sums, layout ops, matmul, "
                       "real/imag/conj/abs, svd/eigh and the FFTs have). Compute this part outside autograd.record() / with "
                       "the input detached (stop_gradient), or write it with real arithmetic")


def _record(op: str, inputs, attrs: dict, outputs) -> None:
    if not autograd.is_recording() or not get_op(op).differentiable:
        return
    if not any(tracked(x) for x in inputs):
        return
    carried = [carries_gradient(o.dtype, inputs) for o in outputs]
    if not any(carried):
        return
    node = TapeNode(op, attrs, inputs, outputs)
    for o, carry in zip(outputs, carried):
        if carry:
            o._node = node


def record_custom(name: str, inputs: Sequence[NDArray], outputs: Sequence[NDArray], rule: Callable,
                  connected: Optional[Sequence[bool]] = None) -> None:
    """Tape a call whose backward is `rule(output cotangents) -> input cotangents` (used by
    hybridized blocks: their compiled forward runs now, their compiled backward later).
    `connected[i]`: whether output i depends differentiably on the inputs; the others are not
    taped, so backward() from them raises as it does eagerly instead of giving zeros."""
    node = TapeNode(name, {}, inputs, outputs, rule)
    for i, o in enumerate(outputs):
        if carries_gradient(o.dtype, inputs) and (connected is None or connected[i]):
            o._node = node


dispatch.recorder = _record


# -- backward ----------------------------------------------------------------------------------
def _topological(heads: list[NDArray]) -> list[TapeNode]:
    """Tape nodes reachable from the heads, producers before consumers (iterative DFS)."""
    order: list[TapeNode] = []
    seen: set[int] = set()
    for head in heads:
        root = head._node
        if root is None or id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, 0)]
        while stack:
            node, i = stack.pop()
            if i == len(node.inputs):
                order.append(node)
                continue
            stack.append((node, i + 1))
            x = node.inputs[i]
            child = x._node if isinstance(x, NDArray) else None
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                stack.append((child, 0))
    return order


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _seeds(heads: list, head_grads: Optional[list], what: str) -> list[NDArray]:
    from .promote import asarray

    if head_grads is None:
        head_grads = [None] * len(heads)
    if len(head_grads) != len(heads):
        raise HybridError(f"{what}: {len(heads)} heads but {len(head_grads)} head gradients")
    seeds = []
    for i, (head, g) in enumerate(zip(heads, head_grads)):
        if not isinstance(head, NDArray):
            raise HybridError(f"{what}: head {i} is a {type(head).__name__}, not an eager array; call it on the "
                              f"result of a computation recorded under autograd.record()")
        if head._node is None and head._grad_req == "null":
            raise HybridError(
                f"{what}: head {i} ({head.type}) has no recorded computation that depends on an array with a "
                f"gradient. Run the forward pass inside `with autograd.record():` and call attach_grad() on "
                f"the inputs (parameters are attached by initialize()) before recording; stop_gradient, "
                f"comparisons and integer results cut the path; a graph is also freed by a previous backward "
                f"unless retain_graph=True.")
        if g is None:  # MXNet's rule: a non-scalar head gets a gradient of ones (d sum(head))
            seeds.append(NDArray(numpy.ones(head.shape, head.dtype)))
            continue
        g = asarray(g, head.dtype)
        if tuple(g.shape) != tuple(head.shape):
            raise ShapeError(f"{what}: head_grad {i} has shape {g.shape} but its head has shape {head.shape}")
        seeds.append(g)
    return seeds


def _sweep(order: list[TapeNode], heads: list, seeds: list, create_graph: bool, keep_ids: set,
           retain_graph: bool, after: Optional[Callable] = None) -> dict:
    """Seed the heads and propagate over `order`; returns the cotangents of `keep_ids`."""
    cotangents: dict[int, Array] = {}
    for head, seed in zip(heads, seeds):
        previous = cotangents.get(id(head))
        cotangents[id(head)] = seed if previous is None else previous + seed
    scope = autograd.record() if create_graph else autograd.pause()
    with scope:
        propagate(reversed(order), cotangents, tracked, keep_ids, after)
    if not retain_graph:
        for node in order:  # free the graph (and break the array <-> node reference cycles)
            for o in node.outputs:
                o._node = None
            node.inputs = node.outputs = []
    return cotangents


def backward(heads, head_grads=None, retain_graph: bool = False, train_mode: bool = True) -> None:
    """Accumulate d(heads)/d(x) into `x.grad` for every attached array x the heads depend on
    (written for grad_req='write', added for 'add')."""
    heads = _as_list(heads)
    seeds = _seeds(heads, None if head_grads is None else _as_list(head_grads), "backward()")
    order = _topological(heads)
    leaves: dict[int, NDArray] = {id(h): h for h in heads if h._grad_req != "null"}
    for node in order:
        for x in node.inputs:
            if isinstance(x, NDArray) and x._grad_req != "null":
                leaves[id(x)] = x
    # a leaf's gradient is final once the last node reading it is done: write it then and tell
    # the grad-ready hooks, so e.g. its allreduce starts while backward goes on
    readers: dict[int, int] = {}
    for node in order:
        for key in {id(x) for x in node.inputs if id(x) in leaves}:
            readers[key] = readers.get(key, 0) + 1
    written: set[int] = set()

    def write(key: int, cotangents: dict) -> None:
        written.add(key)
        leaf, ct = leaves[key], cotangents.get(key)
        if ct is None or leaf._grad is None:
            return
        if leaf._grad_req == "add":
            leaf._grad._data += ct._data
        else:
            leaf._grad._assign(ct._data)
        for hook in list(_GRAD_READY_HOOKS):
            hook(leaf)

    def after(node: TapeNode, cotangents: dict) -> None:
        for key in {id(x) for x in node.inputs if id(x) in readers}:
            readers[key] -= 1
            if readers[key] == 0:
                write(key, cotangents)

    cotangents = _sweep(order, heads, seeds, False, set(leaves), retain_graph, after)
    for key in leaves:
        if key not in written:
            write(key, cotangents)


_GRAD_READY_HOOKS: list[Callable[[NDArray], None]] = []


class HookHandle:
    """Returned by `add_grad_ready_hook`; `remove()` unregisters the hook."""

    def __init__(self, hook: Callable):
        self._hook = hook

    def remove(self) -> None:
        if self._hook in _GRAD_READY_HOOKS:
            _GRAD_READY_HOOKS.remove(self._hook)


def add_grad_ready_hook(hook: Callable[[NDArray], None]) -> HookHandle:
    """Call `hook(array)` during backward() as soon as `array.grad` holds its final gradient
    (used by data-parallel training to start each gradient's allreduce early)."""
    _GRAD_READY_HOOKS.append(hook)
    return HookHandle(hook)


def grad(heads, variables, head_grads=None, retain_graph: Optional[bool] = None, create_graph: bool = False,
         train_mode: bool = True):
    """d(heads)/d(variables), returned (x.grad is left alone). With create_graph the result is
    itself recorded, so it can be differentiated again."""
    single = not isinstance(variables, (list, tuple))
    variables = _as_list(variables)
    for i, v in enumerate(variables):
        if not isinstance(v, NDArray) or v._grad_req == "null":
            kind = f"{v.type}" if isinstance(v, Array) else type(v).__name__
            raise HybridError(f"autograd.grad: variable {i} ({kind}) is not attached for gradients. Call "
                              f"x.attach_grad() before `with autograd.record():`, then compute the heads from x.")
    heads = _as_list(heads)
    seeds = _seeds(heads, None if head_grads is None else _as_list(head_grads), "autograd.grad()")
    retain = create_graph if retain_graph is None else retain_graph
    cotangents = _sweep(_topological(heads), heads, seeds, create_graph, {id(v) for v in variables}, retain)
    result = [cotangents.get(id(v)) if id(v) in cotangents else lax.zeros_like(v) for v in variables]
    return result[0] if single else result
