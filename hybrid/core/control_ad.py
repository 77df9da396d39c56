"""Reverse-mode rules for the control-flow ops, used when graph autodiff (ad.py) replays a graph.

  cond   the backward is a cond on the same index whose branch k is branch k's own backward
         (autodiff of the branch with cotangent inputs), so only the taken branch runs
  scan   the forward scan also stacks what the backward needs per step; the backward is a scan
         in the opposite direction carrying the carried state's cotangents and the sums of the
         cotangents of the loop-invariant operands, emitting each step's sequence cotangents.
         Per step it saves either the body's residuals (the values the body's backward reads;
         the default) or only the carried state and recomputes the body in the backward step
         (checkpointing: `hb.config`-free switch `CHECKPOINT_SCANS`, or a scan node whose attrs
         say checkpoint=true)
  while_loop  has no reverse rule (its trip count is unknown until it has run); bound it
         (npx.while_loop(max_iterations=...), lax.fori_loop with static bounds) to make a scan
"""
from __future__ import annotations

from typing import Callable

from ..errors import HybridError
from ..ir.graph import Graph, Node
from ..ir.types import is_float
from . import control
from .array import Tracer

NOT_DIFFERENTIABLE = ("while_loop is not differentiable: its trip count is only known once it has run. "
                      "Bound it: npx.while_loop(..., max_iterations=N) or lax.fori_loop with Python-int bounds "
                      "(both become a scan), or wrap its inputs in np.stop_gradient(...)")


def _float_names(graph: Graph, positions) -> list[str]:
    return [graph.inputs[p].name for p in positions if is_float(graph.inputs[p].dtype)]


def _backward_of(graph: Graph, wrt: list[str]) -> tuple[Graph, list[int]]:
    """graph's joint forward+backward with cotangent inputs (ad.autodiff seed="inputs"), and the
    positions of the outputs that take a cotangent."""
    from .ad import _differentiable_outputs, autodiff
    return autodiff(graph, wrt, seed="inputs"), _differentiable_outputs(graph, None)


def emit_forward(ctx, node: Node, operands: list[Tracer]) -> tuple[list[Tracer], Callable]:
    """Emit `node` into trace `ctx` (its regions copied) and return (its results, the tape rule
    `cotangents -> operand cotangents`)."""
    if node.op == "while_loop":
        outs = _emit(ctx, node, operands, node.regions)

        def refuse(cts):
            raise HybridError(f"{NOT_DIFFERENTIABLE}\n  at {node.loc or 'an unknown line'}")
        return outs, refuse
    if node.op == "cond":
        return _emit(ctx, node, operands, node.regions), lambda cts: _cond_vjp(node, operands, cts)
    if node.op == "scan":
        return _scan_forward(ctx, node, operands)
    raise HybridError(f"autodiff: node {node.op} is a fused kernel; differentiate the graph before fusion "
                      "(autodiff runs on traced primitives)")


def _emit(ctx, node: Node, operands: list[Tracer], regions: list[Graph], attrs=None) -> list[Tracer]:
    new = ctx.graph.add_node(node.op, [x.value for x in operands], attrs or node.attrs, node.loc,
                             regions=[r.copy() for r in regions])
    return [Tracer(ctx, v) for v in new.outputs]


def _run(graph: Graph, inputs: list) -> list:
    from .replay import replay
    return replay(graph, list(inputs), {})


# -- cond -----------------------------------------------------------------------------------------
def _cond_vjp(node: Node, operands: list[Tracer], cts: list) -> list:
    xs = operands[1:]
    branches = []
    for region in node.regions:
        wrt = _float_names(region, range(len(region.inputs)))
        joint, taking = _backward_of(region, wrt)
        n_out = len(region.outputs)

        def backward(*args, joint=joint, taking=taking, wrt=wrt, region=region):
            primal, cot = list(args[:len(xs)]), list(args[len(xs):])
            grads = dict(zip(wrt, _run(joint, primal + [cot[i] for i in taking])[n_out:]))
            return tuple(grads.get(v.name, control._zeros(v.type)) for v in region.inputs)
        branches.append(backward)
    grads = control.switch(operands[0], branches, *xs, *cts)
    return [None] + [g if is_float(x.type.dtype) else None for g, x in zip(grads, xs)]


# -- scan -----------------------------------------------------------------------------------------
CHECKPOINT_SCANS = False   # True: every scan saves only its carried state and recomputes in the backward


class _ScanBackward:
    """How one scan differentiates: `body` is the forward body, which also stacks `saved` per step;
    `step(by_name, saved_t, cts)` emits one backward step: the gradients of the body's float
    inputs (by name) given the step's inputs by name, its saved values and the cotangents of
    the body's results."""

    def __init__(self, body: Graph, n: int, checkpoint: bool):
        from .ad import _differentiable_outputs, autodiff, forward_backward
        self.names = [v.name for v in body.inputs]
        self.wrt = _float_names(body, range(len(body.inputs)))
        self.carry_names = self.names[:n]
        self.n_out = len(body.outputs)
        if checkpoint:
            self.joint = autodiff(body, self.wrt, seed="inputs")
            self.taking = _differentiable_outputs(body, None)
            self.split = None
            self.body = body.copy()
            self.body.outputs = self.body.outputs + self.body.inputs[:n]
            self.n_residuals = 0
            return
        self.split = forward_backward(body, self.wrt)
        read = {v.name for v in self.split.backward.inputs}
        forward = self.split.forward
        self.body = forward
        self.n_residuals = len(self.split.saved)
        self.carry_names = [name for name in self.names[:n] if name in read]
        carried = [v for v in forward.inputs if v.name in self.carry_names]
        forward.outputs = (forward.outputs[:self.n_out] + [forward.outputs[p] for p in self.split.saved] + carried)

    def step(self, by_name: dict, saved: list, cts: list) -> dict:
        by_name = dict(by_name)
        by_name.update(zip(self.carry_names, saved[self.n_residuals:]))
        if self.split is None:
            primal = [by_name[name] for name in self.names]
            grads = _run(self.joint, primal + [cts[i] for i in self.taking])[self.n_out:]
            return dict(zip(self.wrt, grads))
        args = []
        for v in self.split.backward.inputs:
            kind, _, index = v.name.partition(".")
            if kind == "saved" and index.isdigit():
                args.append(saved[int(index)])
            elif kind == "grad" and index.isdigit():
                args.append(cts[int(index)])
            else:
                args.append(by_name[v.name])
        return dict(zip(self.wrt, _run(self.split.backward, args)))


def _scan_forward(ctx, node: Node, operands: list[Tracer]):
    backward = _ScanBackward(node.regions[0], node.attrs["num_carry"],
                             node.attrs.get("checkpoint", CHECKPOINT_SCANS))
    outs = _emit(ctx, node, operands, [backward.body])
    n_results = len(node.outputs)
    saved = outs[n_results:]
    return outs[:n_results], lambda cts: _scan_vjp(node, operands, saved, cts[:n_results], backward)


def _scan_vjp(node: Node, operands: list, saved: list, cts: list, backward: _ScanBackward) -> list:
    n, m = node.attrs["num_carry"], node.attrs["num_xs"]
    body = node.regions[0]
    carry0, xs, consts = operands[:n], operands[n:n + m], operands[n + m:]
    const_in = body.inputs[n + m:]
    float_consts = [j for j, v in enumerate(const_in) if is_float(v.dtype)]
    float_xs = [k for k in range(m) if is_float(xs[k].type.dtype)]
    zeros = control._zeros
    n_saved = len(saved)

    def step(carry, x):
        ct_carry, acc = list(carry[:n]), list(carry[n:])
        saved_t, x_t, ct_y = list(x[:n_saved]), list(x[n_saved:n_saved + m]), list(x[n_saved + m:])
        by_name = {v.name: a for v, a in zip(body.inputs[n:], x_t + list(consts))}
        grads = backward.step(by_name, saved_t, ct_carry + ct_y)
        new_ct = [grads.get(v.name, zeros(v.type)) if is_float(v.dtype) else ct
                  for v, ct in zip(body.inputs[:n], ct_carry)]
        new_acc = [a + grads[const_in[j].name] if const_in[j].name in grads else a
                   for a, j in zip(acc, float_consts)]
        ct_x = [grads.get(body.inputs[n + k].name, zeros(body.inputs[n + k].type)) for k in float_xs]
        return tuple(new_ct + new_acc), tuple(ct_x)

    init = tuple(list(cts[:n]) + [zeros(const_in[j].type) for j in float_consts])
    seqs = tuple(list(saved) + list(xs) + list(cts[n:]))
    final, ct_xs = control.scan(step, init, seqs, length=node.attrs["length"], reverse=not node.attrs["reverse"])
    result: list = [ct if is_float(x.type.dtype) else None for ct, x in zip(final[:n], carry0)]
    by_x = dict(zip(float_xs, ct_xs))
    result += [by_x.get(k) for k in range(m)]
    by_const = dict(zip(float_consts, final[n:]))
    result += [by_const.get(j) for j in range(len(consts))]
    return result
