"""Control flow on the CUDA backend: the host runs the loop or branch, launching each region's
kernels on the one stream.

A scan needs no synchronisation (its trip count is static): per step, the sequences' row t is
copied device-to-device into the body's input buffers, and the body's per-step results into
row t of the stacked results. A cond reads its index back, and a while_loop its condition once
per iteration: the only waits, and only what a data-dependent decision needs. Loop-carried
state lives in the node's result buffers; the body writes a new value straight there when the
memory plan says so (the body reads the old one no later), else to its own buffer, copied
back after it (values that swap places go through a staging buffer). Region arenas, staging
and row buffers lie in the node's scratch slot of the memory plan.
"""
from __future__ import annotations

import numpy

from ...ir.control import branch_index
from ...ir.memory_plan import region_layout
from ...ir.types import to_numpy_dtype
from .program import row_buffers


class HostControl:
    def __init__(self, exe, call):
        self.exe, self.node, self.rt = exe, call.node, exe.runtime
        node, address = self.node, exe.address
        ins = [address[v] for v in node.inputs]
        self.outs = [address[v] for v in node.outputs]
        self.sizes = [v.type.nbytes for v in node.outputs]
        n = node.attrs.get("num_carry", 0)
        self.rows = []
        # region arenas, staging, scan rows: the node's scratch slot (none when they take no bytes)
        scratch = exe.scratch_of.get(id(node), 0)
        if node.op == "cond":
            region_inputs = [ins[1:]] * len(node.regions)
            self.index = numpy.zeros((), to_numpy_dtype(node.inputs[0].dtype))
        elif node.op == "while_loop":
            region_inputs = [self.outs + ins[n:]] * 2
            self.flag = numpy.zeros((), numpy.bool_)
        elif node.op == "scan":
            m = node.attrs["num_xs"]
            body = node.regions[0]
            stage = [scratch + offset for offset in row_buffers(node)]
            self.rows = [(buffer, ins[n + k], body.inputs[n + k].type.nbytes) for k, buffer in enumerate(stage)]
            region_inputs = [self.outs[:n] + stage + ins[n + m:]]
        self.inits = list(zip(self.outs[:n], ins[:n], self.sizes[:n]))
        self.regions = []
        for region, program, inputs in zip(node.regions, call.regions, region_inputs):
            for v, a in zip(region.inputs, inputs):
                address[v] = a
            exe._place_node_values(region, scratch)
            self.regions.append((exe._bind(program), [address[v] for v in region.outputs]))
        self.staging = {k: scratch + offset for k, offset in region_layout(node)[1].items()}

    def copy(self, dst: int, src: int, nbytes: int) -> None:
        if nbytes and dst != src:
            self.rt.dtod(dst, src, nbytes)

    def carry(self, outputs: list) -> None:
        """The body's results become the carried state."""
        n = len(self.inits)
        for k, src in enumerate(outputs[:n]):
            if k in self.staging:
                self.copy(self.staging[k], src, self.sizes[k])
        for k, src in enumerate(outputs[:n]):
            if k not in self.staging:
                self.copy(self.outs[k], src, self.sizes[k])
        for k, buffer in self.staging.items():
            self.copy(self.outs[k], buffer, self.sizes[k])

    def run(self) -> None:
        getattr(self, "_" + self.node.op)()

    def _cond(self) -> None:
        self.rt.dtoh(self.index, self.exe.address[self.node.inputs[0]])
        self.rt.synchronize()
        calls, outputs = self.regions[branch_index(self.index, len(self.regions))]
        for call in calls:
            call()
        for dst, src, nbytes in zip(self.outs, outputs, self.sizes):
            self.copy(dst, src, nbytes)

    def _while_loop(self) -> None:
        for dst, src, nbytes in self.inits:
            self.copy(dst, src, nbytes)
        (cond_calls, cond_out), (body_calls, body_out) = self.regions
        while True:
            for call in cond_calls:
                call()
            self.rt.dtoh(self.flag, cond_out[0])
            self.rt.synchronize()
            if not self.flag:
                break
            for call in body_calls:
                call()
            self.carry(body_out)

    def _scan(self) -> None:
        n, length = len(self.inits), self.node.attrs["length"]
        for dst, src, nbytes in self.inits:
            self.copy(dst, src, nbytes)
        calls, outputs = self.regions[0]
        for step in range(length):
            t = length - 1 - step if self.node.attrs.get("reverse") else step
            for buffer, base, row in self.rows:
                self.copy(buffer, base + t * row, row)
            for call in calls:
                call()
            for dst, src, nbytes in zip(self.outs[n:], outputs[n:], self.sizes[n:]):
                row = nbytes // length
                self.copy(dst + t * row, src, row)
            self.carry(outputs)
