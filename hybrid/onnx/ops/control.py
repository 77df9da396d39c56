"""Control flow with subgraphs: If, Loop, Scan. Branch choices and trip counts must be known when
the graph is built (hybrid compiles static graphs), so If picks its branch and Loop / Scan unroll."""
from __future__ import annotations

import numpy

from ...frontend import np
from ...core.array import NDArray
from .base import OnnxNode, converts, normalize_axis
from .shape import const_array


def run_body(node: OnnxNode, body, values: list) -> list:
    env = dict(node.env)
    for value_info, value in zip(body.input, values):
        env[value_info.name] = value
    return node.runner.run(body, env)


@converts("If")
def _if(node: OnnxNode):
    take_then = bool(node.const(0).reshape(-1)[0])
    outputs = run_body(node, node.attr("then_branch" if take_then else "else_branch"), [])
    return tuple(outputs)


def _known_bool(node: OnnxNode, value) -> bool:
    if not isinstance(value, NDArray):
        raise node.fail("the loop condition is computed from the model's inputs; hybrid unrolls loops, so the "
                        "condition must be known when the model is built")
    return bool(value.asnumpy().reshape(-1)[0])


@converts("Loop")
def _loop(node: OnnxNode):
    body = node.attr("body")
    trip = int(node.const(0).reshape(-1)[0]) if node.has(0) else None
    cond = bool(node.const(1).reshape(-1)[0]) if node.has(1) else True
    carried = list(node.inputs[2:])
    if trip is None and node.has(1) is False:
        raise node.fail("a Loop with neither a trip count nor a condition never ends")
    scans: list[list] = []
    i = 0
    while cond and (trip is None or i < trip):
        iteration = const_array(numpy.array(i, numpy.int64))
        outs = run_body(node, body, [iteration, const_array(numpy.array(cond))] + carried)
        cond = _known_bool(node, outs[0])
        carried = outs[1:1 + len(carried)]
        scans.append(outs[1 + len(carried):])
        i += 1
    n_scan = len(body.output) - 1 - len(carried)
    if n_scan and not scans:
        raise node.fail("a Loop that runs zero iterations has empty scan outputs of unknown shape")
    stacked = [np.stack([step[j] for step in scans], axis=0) for j in range(n_scan)]
    return tuple(carried + stacked)


@converts("Scan")
def _scan(node: OnnxNode):
    if node.opset < 9:
        raise node.fail("Scan-8 (with a batch axis and sequence_lens) is not supported; use opset 9 or later")
    body = node.attr("body")
    n_in = node.attr("num_scan_inputs")
    states, xs = list(node.inputs[:len(node.inputs) - n_in]), list(node.inputs[len(node.inputs) - n_in:])
    in_axes = [normalize_axis(a, x.ndim, node) for a, x in zip(node.attr("scan_input_axes", [0] * n_in), xs)]
    in_dirs = node.attr("scan_input_directions", [0] * n_in)
    steps = xs[0].shape[in_axes[0]]
    outputs: list[list] = []
    for t in range(steps):
        slices = []
        for x, axis, reverse in zip(xs, in_axes, in_dirs):
            index = steps - 1 - t if reverse else t
            key = [slice(None)] * x.ndim
            key[axis] = index
            slices.append(x[tuple(key)])
        outs = run_body(node, body, states + slices)
        states = outs[:len(states)]
        outputs.append(outs[len(states):])
    n_out = len(body.output) - len(states)
    out_axes = node.attr("scan_output_axes", [0] * n_out)
    out_dirs = node.attr("scan_output_directions", [0] * n_out)
    stacked = []
    for j in range(n_out):
        seq = [step[j] for step in outputs]
        if out_dirs[j]:
            seq = seq[::-1]
        axis = out_axes[j] % (seq[0].ndim + 1)
        stacked.append(np.stack(seq, axis=axis))
    return tuple(states + stacked)
