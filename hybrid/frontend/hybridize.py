"""The compiled-function cache behind `HybridBlock.hybridize()` and `@hb.hybridize`.

The first call with a new signature (array shapes and dtypes, the training flag, and the
values of non-array arguments) traces the function, optimizes the graph, builds an
executable for the chosen backend and caches it; later calls with that signature run the
executable directly. Each recompile is logged with its reason (HYBRID_LOG=recompiles), and
more than `max_signatures` signatures raise instead of piling up silently.
"""
from __future__ import annotations

import inspect
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy

from .. import log
from ..config import config
from ..errors import HybridError
from ..ir.graph import Graph
from ..ir.types import TensorType, dtype_name
from ..core.array import Array, NDArray
from ..core.engine import CALL_MIN_FLOPS, ENGINE, MIN_ELEMENTS, annotate
from ..core.source import user_line
from ..ir.cost import describe_shapes, node_flops
from ..core import autograd
from ..core import rng
from ..core.tracing import TraceContext, array_leaves, has_arrays, trace_function, unflatten



@dataclass
class CompileOptions:
    backend: str = field(default_factory=lambda: config.get("backend"))
    opt_level: int = 2
    freeze: bool = False
    dump: Optional[str] = None
    max_signatures: int = 8
    backend_options: dict = field(default_factory=dict)

    def check(self) -> None:
        """Fail at hybridize() on a backend or option the backend does not know, not at the first call."""
        from .. import codegen
        codegen.resolve_options(self.backend, dict(self.backend_options, dump=self.dump))


@dataclass
class CompiledEntry:
    """One compiled signature: the traced graph, the pipeline's stages and the executable."""
    signature: tuple
    traced: Graph
    pipeline: Any            # passes.manager.PipelineResult
    executable: Any          # codegen Executable
    params: list             # Parameter objects in graph-input order
    random_ops: int
    structure: Any
    num_outputs: int
    side_targets: list
    feed: list = field(default_factory=list)  # per executable input: (ARG, index) | (PARAM, Parameter) | (RNG, None)
    args_only: bool = False  # feed is exactly the array arguments in order
    queued: Optional[bool] = None   # calls go to the engine (core/engine.py): one plain result, enough work


ARG, PARAM, RNG = 0, 1, 2


def input_plan(entry: CompiledEntry) -> list[tuple[int, Any]]:
    """How each executable input is filled, worked out once per signature so that a call does no
    name lookups. Inputs go by name: the trace adds `rng.key` where the first random op runs,
    which may come between parameters."""
    data = [v.name for v in entry.traced.data_inputs if v.name != TraceContext.RNG_KEY]
    params = {v.name: p for v, p in zip(entry.traced.params, entry.params)}
    plan: list[tuple[int, Any]] = []
    for v in entry.pipeline.graph.inputs:
        if v.name == TraceContext.RNG_KEY:
            plan.append((RNG, None))
        elif v.name in params:
            plan.append((PARAM, params[v.name]))
        else:
            plan.append((ARG, data.index(v.name)))
    return plan


def signature_of(args, training: bool) -> tuple:
    parts = []
    for a in args:
        if a.__class__ is NDArray:       # the hot case, without the property calls
            data = a._data
            parts.append(("array", data.shape, data.dtype))
        elif isinstance(a, Array):
            parts.append(("array", a.shape, a.dtype))
        elif has_arrays(a):   # a list of arrays (RNN states): its structure and each array's type
            parts.append(("arrays", type(a).__name__, signature_of(a, training)[:-1]))
        else:
            try:
                hash(a)
            except TypeError:
                raise HybridError(f"argument of type {type(a).__name__} is neither an array nor hashable; "
                                  "hybridized code takes arrays and hashable Python values") from None
            parts.append(("static", type(a).__name__, a))  # 2 and 2.0 are equal but trace differently
    return tuple(parts) + (("training", training),)


def explain_change(old: tuple, new: tuple) -> str:
    if len(old) != len(new):
        return f"{len(new) - 1} arguments instead of {len(old) - 1}"
    reasons = []
    for i, (a, b) in enumerate(zip(old, new)):
        if a != b:
            label = "training flag" if a[0] == "training" else f"argument {i}"
            reasons.append(f"{label}: {_describe(a)} -> {_describe(b)}")
    return "; ".join(reasons)


def _describe(part: tuple) -> str:
    """One signature entry as the IR prints types: `f32[2,3]`; static values as `int 2`."""
    if part[0] == "array":
        return str(TensorType(part[1], dtype_name(part[2])))
    return " ".join(str(p) for p in part[1:])


def argument_names(fn: Callable) -> list[str]:
    try:
        return [p.name for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


def positional_args(fn: Callable, args: tuple, kwargs: dict) -> list:
    """`args` and `kwargs` bound to `fn`'s parameters as one positional list (the signature
    cache and the trace see arguments by position)."""
    if not kwargs:
        return list(args)
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{getattr(fn, '__qualname__', fn)}: {e}") from None
    bound.apply_defaults()  # a keyword after an omitted default stays positional
    if bound.kwargs:
        raise HybridError(f"hybridized code takes positional-or-keyword arguments; pass "
                          f"{', '.join(bound.kwargs)} positionally or drop the keyword-only marker")
    return list(bound.args)


SLOW_COMPILE_SECONDS = 1.0


def report_compile(name: str, backend: str, seconds: float) -> None:
    """One line on stderr when tracing, optimizing and building a signature took over a second, so a
    long first call is explained (MXNet prints nothing; users asked what the pause was)."""
    if seconds > SLOW_COMPILE_SECONDS:
        print(f"[hybrid] compiled {name} for {backend} in {seconds:.1f} s (cached for later calls)", file=sys.stderr)


class _Deferred:
    """An executable built at its first call: a signature only ever called under
    autograd.record() runs its compiled forward/backward pair (frontend.step) instead."""

    def __init__(self, build: Callable[[], Any]):
        self._build = build
        self.built: Any = None

    def __call__(self, inputs: list) -> list:
        if self.built is None:
            self.built = self._build()
        return self.built(inputs)


class CompiledFunction:
    """Traces, compiles and caches `fn` per signature; `params()` lists the parameters it may read."""

    def __init__(self, fn: Callable, name: str, options: CompileOptions,
                 params: Optional[Callable[[], dict]] = None, prepare: Optional[Callable[[list], None]] = None):
        options.check()
        self.fn = fn
        self.name = name
        self.options = options
        self.params = params or (lambda: {})
        self.prepare = prepare  # runs before each trace (a block's deferred parameter shapes)
        self.cache: dict[tuple, CompiledEntry] = {}
        self.training_cache: dict[tuple, Any] = {}  # (signature, differentiated inputs) -> step.TrainingEntry
        self.last: Optional[CompiledEntry] = None
        self.arg_names = argument_names(fn)
        # why a hybridized block runs this function eagerly instead (a data-dependent result shape), or None
        self.eager_because: Optional[str] = None

    def compile(self, args: list) -> CompiledEntry:
        """The cached entry for the arguments' signature, tracing and compiling on a miss."""
        sig = signature_of(args, autograd.is_training())
        entry = self.cache.get(sig)
        return entry if entry is not None else self._compile_new(sig, args)

    def _compile_new(self, sig: tuple, args: list) -> CompiledEntry:
        from .. import codegen, passes
        if self.cache:
            previous = self.last.signature if self.last else next(iter(self.cache))
            reason = explain_change(previous, sig)
            if len(self.cache) >= self.options.max_signatures:
                raise HybridError(
                    f"{self.name} was compiled for {len(self.cache)} signatures, the limit (last change: {reason}). "
                    "Pad inputs to a few fixed shapes, or raise the limit with hybridize(max_signatures=N).")
            log.log("recompiles", f"recompiling {self.name} (signature {len(self.cache) + 1}): {reason}")
        if self.prepare is not None:
            self.prepare(args)
        started = time.perf_counter()
        param_names = {id(p): name for name, p in self.params().items()}
        graph, ctx, structure = trace_function(self.fn, args, self.name, param_names, self.arg_names)
        pipeline = passes.optimize(graph, opt_level=self.options.opt_level, freeze=self.options.freeze,
                                   dump=self.options.dump, workspace_rule=codegen.workspace_rule(self.options.backend),
                                   conv_layout=codegen.conv_layout_rule(self.options.backend),
                                   frozen={param_names.get(id(p), p.name): p._data_eager()._data
                                           for p in ctx.params_used} if self.options.freeze else None)
        traced_in = time.perf_counter() - started

        def build():
            begin = time.perf_counter()
            built = codegen.build(pipeline.graph, self.options.backend, dump=self.options.dump,
                                  **self.options.backend_options)
            report_compile(self.name, self.options.backend, traced_in + time.perf_counter() - begin)
            return built
        executable = _Deferred(build)
        entry = CompiledEntry(sig, graph, pipeline, executable, list(ctx.params_used), ctx.random_ops,
                              structure, len(graph.outputs) - len(ctx.side_outputs),
                              [target for target, _ in ctx.side_outputs])
        entry.feed = input_plan(entry)
        entry.args_only = entry.feed == [(ARG, i) for i in range(sum(isinstance(a, NDArray)
                                                                      for a in array_leaves(args)))]
        self.cache[sig] = entry
        return entry

    def input_arrays(self, entry: CompiledEntry, args: list) -> list:
        """The executable's inputs in its graph's input order (see input_plan): NDArrays, read by the
        executable when it runs (a queued one may still be pending), and random keys, drawn now so they
        follow program order."""
        arrays = [a for a in array_leaves(args) if isinstance(a, NDArray)]
        if entry.args_only:    # the hot case: no parameters, no random key
            return arrays
        inputs = []
        for kind, source in entry.feed:
            if kind == ARG:
                inputs.append(arrays[source])
            elif kind == PARAM:
                inputs.append(source._data_eager())
            else:
                inputs.append(rng.take_keys(entry.random_ops))
        return inputs

    def _queue_worthy(self, entry: CompiledEntry, args: list) -> bool:
        """Queue this call? One plain result on a host backend, and work enough (or an argument that is a
        queued op's result: the call then returns at once too)."""
        if entry.queued is None:
            graph = entry.pipeline.graph
            entry.queued = (self.options.backend != "cuda" and entry.structure is None and not entry.side_targets
                            and (sum(v.type.size for v in graph.outputs) >= MIN_ELEMENTS
                                 or sum(node_flops(n) for n in graph.nodes) >= CALL_MIN_FLOPS))
        return entry.queued or (self.options.backend != "cuda" and entry.structure is None and not entry.side_targets
                                and any(isinstance(a, NDArray) and a._pending is not None for a in args))

    def _queued_call(self, entry: CompiledEntry, args: list) -> NDArray:
        """The call queued on the engine; its result is a future."""
        inputs = self.input_arrays(entry, args)
        out = NDArray._future(entry.pipeline.graph.outputs[0].type)
        line = user_line()
        where = line.describe() if line else None

        def work(pending) -> None:
            try:
                out._buf = entry.executable(inputs)[0]._data
            except Exception as exc:
                shapes = describe_shapes([a.type for a in args if isinstance(a, NDArray)])
                pending.error = annotate(exc, f"{self.name} (compiled)", shapes, where)
        deps = [a._pending for a in inputs if isinstance(a, NDArray) and a._pending is not None and not a._pending.done]
        out._pending = ENGINE.submit(work, deps)
        return out

    def __call__(self, *args):
        args = [NDArray(numpy.asarray(a)) if isinstance(a, numpy.ndarray) else a for a in args]
        entry = self.compile(args)
        self.last = entry
        if autograd.is_recording():
            from .step import call_recorded
            results = call_recorded(self, entry, args)  # compiled forward now, compiled backward on the tape
            if results is not None:
                return unflatten(results, entry.structure)
        if self._queue_worthy(entry, args) and ENGINE.enabled:
            return self._queued_call(entry, args)
        outputs = entry.executable(self.input_arrays(entry, args))
        if entry.structure is None and not entry.side_targets:   # one plain result: the common, hot case
            return outputs[0]
        results = outputs  # cuda may keep them on the GPU
        for target, value in zip(entry.side_targets, results[entry.num_outputs:]):
            target(value)
        return unflatten(results[:entry.num_outputs], entry.structure)

    def refresh_params(self) -> None:
        """Make every compiled signature re-read its parameters at the next call (CUDA uploads them, LLVM repacks
        its pre-packed weights). Only needed after writing into a parameter through a raw NumPy view
        (`numpy.asarray(p.data())[...] = v`): hybrid's own writes (set_data, trainers, `x[...] = v`) are seen."""
        for entry in self.cache.values():
            built = entry.executable.built
            if hasattr(built, "refresh_params"):
                built.refresh_params()

    # -- inspection -------------------------------------------------------------------------
    def ir(self, stage: Optional[str] = None, format: str = "text") -> str:
        if self.last is None:
            raise HybridError(f"{self.name} has not been compiled yet: call it once on example inputs")
        return self.last.pipeline.stage_text(stage, format)
