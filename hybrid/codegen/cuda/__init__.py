"""The CUDA backend: the graph's kernels (hybrid.codegen.kernel descriptions) rendered as CUDA C,
compiled once per graph for the GPU's own architecture, launched from one device executable.

The executable allocates everything once: one arena laid out exactly by graph.memory_plan
(made with this backend's workspace rule, program.workspace: kernels' temporaries and control
flow's region arenas live in their nodes' scratch slots), device buffers for the graph inputs,
parameters and constants, and the checks region. A call copies the data inputs host->device (or
device->device for arrays kept on the GPU with `x.as_in_context(hb.gpu(0))`), uploads
parameters only when they changed, launches every kernel on one stream with no host
synchronisation between them (concurrent groups, passes/concurrent_groups.py, too: a decision, logged
at build: one kernel fills the GPU, and streams could not be measured without one), and copies the outputs back (or leaves them on the device
when the inputs were there). Kernels with checks (take's indices, integer pow's exponents)
write the extreme values seen to a small checks region, copied back after the launches; a
failed check raises the error eager code raises, and the call's outputs are discarded. PyCUDA is optional: importing this module needs nothing; build()
raises CudaUnavailable naming what is missing (PyCUDA, the driver, or a GPU).
"""
from __future__ import annotations

import os
import threading
import time
from typing import Optional

import numpy

from ...config import config
from ... import log
from ...core.array import NDArray
from ...core.context import DeviceNDArray, host_data
from ...errors import HybridError
from ...ir.graph import Graph, Value
from ...ir.types import to_numpy_dtype
from ...passes.concurrent_groups import regions
from .. import Backend, register_backend
from ..kernel.describe import first_failure
from .control import HostControl
from .program import Control, Program, build_program, workspace, write_dump
from .runtime import CudaUnavailable, get_runtime

__all__ = ["build", "CudaExecutable", "CudaUnavailable", "build_program"]



class CudaExecutable:
    """Callable on a list of arrays (graph-input order); returns the outputs as NDArrays (device
    arrays when the data inputs were on the device)."""

    backend = "cuda"

    def __init__(self, graph: Graph, program: Program, runtime):
        self.graph = graph
        self.program = program
        self.runtime = runtime
        rt = runtime
        start = time.perf_counter()
        functions = rt.load_module(program.source, program.names)
        log.log("compile", f"cuda: {len(program.names)} kernels of @{graph.name} loaded for {rt.describe()} "
                           f"in {time.perf_counter() - start:.2f}s")
        self._owners: list = []
        self.address: dict[Value, int] = {}
        self.scratch_of: dict[int, int] = {}    # id(node) -> address of its scratch slot
        for v in graph.inputs:
            self.address[v] = self._alloc(v.type.nbytes)
        self._place_node_values(graph, self._alloc(graph.memory_plan.arena_bytes))
        self.check_values = numpy.zeros(max(program.check_bytes // 8, 1), numpy.int64)
        self.check_address = self._alloc(self.check_values.nbytes)
        self._functions = functions
        self.calls = self._bind(program)
        self._params: dict[int, tuple] = {}
        self._lock = threading.Lock()  # one call at a time: the input buffers and the arena are shared
        rt.synchronize()

    def _alloc(self, nbytes: int) -> int:
        owner, ptr = self.runtime.malloc(nbytes)
        self._owners.append(owner)
        return ptr

    def _bind(self, program: Program) -> list:
        """One no-argument callable per call of `program`: a bound launch, or a control-flow node run
        on the host (its regions placed and bound here, recursively)."""
        rt, calls = self.runtime, []
        for call in program.calls:
            if isinstance(call, Control):
                calls.append(HostControl(self, call).run)
                continue
            launch, refs = call
            args = []
            for ref in refs:
                if ref.kind == "value":
                    args.append(self.address[ref.value])
                elif ref.kind == "scratch":
                    args.append(self.scratch_of[id(ref.node)] + ref.offset)
                elif ref.kind == "check":
                    args.append(self.check_address + ref.offset)
                else:
                    ptr = self._alloc(ref.array.nbytes)
                    rt.htod(ptr, ref.array)
                    args.append(ptr)
            calls.append(rt.bind(self._functions[launch.name], launch.grid, launch.block, args))
        return calls

    def _place_node_values(self, graph: Graph, arena: int) -> None:
        """Addresses of node results and workspaces: exactly graph.memory_plan's offsets from `arena`
        (a loop body's result kept in a carried buffer: that buffer); constants get buffers of their own."""
        plan = graph.memory_plan
        for i, node in enumerate(graph.nodes):
            if node.op == "constant":
                self.address[node.output] = self._alloc(node.output.type.nbytes)
                self.runtime.htod(self.address[node.output], numpy.ascontiguousarray(node.attrs["value"]))
                continue
            for j, v in enumerate(node.outputs):
                slot = plan.slot(i, j)
                self.address[v] = self.address[graph.inputs[slot.carry]] if slot.carry is not None else \
                    arena + slot.offset
            scratch = plan.scratch(i)
            if scratch is not None:
                self.scratch_of[id(node)] = arena + scratch.offset

    def refresh_params(self) -> None:
        """Upload every parameter on the next call (after changing weights behind our back)."""
        self._params.clear()

    def _upload(self, index: int, v: Value, x) -> bool:
        """Copy input `index` to its device buffer; True when it came from the device."""
        rt = self.runtime
        if isinstance(x, DeviceNDArray):
            self._check(v, x.shape, x.dtype)
            rt.dtod(self.address[v], x.device_ptr, v.type.nbytes)
            return True
        # A parameter that comes with a write token (core.context.host_data) is uploaded only
        # when the token changed: hybrid renews it on every in-place write. A NumPy array
        # carries no token and is always uploaded.
        array, token = host_data(x)
        array = numpy.ascontiguousarray(array)
        target = to_numpy_dtype(v.dtype)
        if array.dtype != target and array.dtype.kind == target.kind:
            array = array.astype(target)  # e.g. a Python float (f64) for an f32 scalar input
        self._check(v, array.shape, array.dtype)
        if token is not None and v.name in self.graph.param_names:
            if self._params.get(index) == token:
                return False
            self._params[index] = token
        rt.htod(self.address[v], array)
        return False

    def _check(self, v: Value, shape, dtype) -> None:
        """Same element count (a (1,) array for a scalar input is fine) and dtype."""
        if int(numpy.prod(shape)) != v.type.size or numpy.dtype(dtype) != to_numpy_dtype(v.dtype):
            raise HybridError(f"graph @{self.graph.name} input %{v.name} is {v.type}, got an array of shape "
                              f"{tuple(shape)} and dtype {numpy.dtype(dtype).name}")

    def __call__(self, inputs: list) -> list:
        graph = self.graph
        if len(inputs) != len(graph.inputs):
            raise HybridError(f"graph @{graph.name} takes {len(graph.inputs)} inputs, got {len(inputs)}")
        with self._lock:
            return self._run(inputs)

    def _run(self, inputs: list) -> list:
        graph, rt = self.graph, self.runtime
        on_device = False
        for i, (v, x) in enumerate(zip(graph.inputs, inputs)):
            on_device |= self._upload(i, v, x) and v.name not in graph.param_names
        for launch in self.calls:  # one stream, no synchronisation in between
            launch()
        if self.program.checks:
            self.runtime.dtoh(self.check_values, self.check_address)
            self.runtime.synchronize()
            error = first_failure(self.program.checks, self.check_values.ctypes.data)
            if error is not None:
                raise error
        if on_device:
            outs = []
            for v in graph.outputs:
                out = DeviceNDArray.empty(v.type, rt)
                rt.dtod(out.device_ptr, self.address[v], v.type.nbytes)
                outs.append(out)
        else:
            outs = []
            for v in graph.outputs:
                out = numpy.empty(v.shape, to_numpy_dtype(v.dtype))
                rt.dtoh(out, self.address[v])
                outs.append(NDArray(out))
        rt.synchronize()
        return outs


def build(graph: Graph, options: dict) -> CudaExecutable:
    """Compile `graph` for the GPU (options["runtime"] "pycuda", the default) or the host emulator
    ("emulator") on device options["device"]. Allocation is always static: one arena, allocated once."""
    rt = get_runtime(options["runtime"], options["device"])  # fails first, and clearly, where no GPU can run it
    program = build_program(graph)   # planned by the memory planner for this backend's workspace rule
    concurrent = regions(program.graph)
    if concurrent:
        log.log("compile", f"cuda: @{graph.name}'s {len(concurrent)} concurrent region(s) run in order on one "
                           "stream: each kernel already fills the GPU, the launches are asynchronous already, "
                           "and streams could not be measured here (no GPU; the emulator runs one kernel at a time)")
    dump = options["dump"] or config.get("dump")
    if dump:
        write_dump(program, dump)
    return CudaExecutable(program.graph, program, rt)


register_backend(Backend("cuda", build, {"runtime": None, "device": 0},
                         doc="CUDA C kernels launched from one device executable (PyCUDA, or the host emulator)",
                         workspace=lambda top: workspace))
