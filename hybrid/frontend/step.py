"""Compiled training: hybridized blocks under autograd.record(), and `compile_step`.

CachedOp (MXNet's behaviour): a hybridized block called while recording, with some input or
parameter that wants a gradient, runs a compiled *forward* that also returns the values its
backward reads, and tapes one node whose backward runs the compiled *backward* graph (both
made by hybrid.core.ad.forward_backward from the block's traced graph). So eager and
hybridized blocks mix freely on one tape, both ways round.

`compile_step(net, loss_fn, trainer)` compiles a whole training step, forward + backward +
optimizer update, into one executable: the joint graph (one pipeline run, so CSE, fusion and
memory planning see forward and backward together) with the trainer's pure `update_fn` traced
onto its end. Each call writes the new weights and optimizer state into the existing arrays.
With a distributed trainer, `trainer.allreduce_traced` puts `allreduce` ops (effects, one per
gradient bucket) between backward and the update; such a graph gets the cleanup passes whole
(the ops survive DCE and CSE), and codegen builds it as segments split around them
(hybrid.codegen.segmented).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy

from ..config import config
from ..errors import HybridError
from ..ir.graph import Graph
from ..ir.types import TensorType
from ..core import ad, autograd, lax
from ..core import rng
from ..core.array import Array, NDArray
from ..core.tape import record_custom, tracked
from ..core.tracing import TraceContext, array_leaves, trace_function


def _build(graph: Graph, options, stage: str):
    """Optimize and build one graph with a CompiledFunction's options; its dumps go to the
    sub-folder `stage` of the dump folder (dump= or HYBRID_DUMP), beside the inference ones."""
    from .. import codegen, passes

    base = options.dump or config.get("dump")
    dump = os.path.join(base, stage) if base else None
    pipeline = passes.optimize(graph, opt_level=options.opt_level, dump=dump,
                               workspace_rule=codegen.workspace_rule(options.backend))
    return pipeline, codegen.build(pipeline.graph, options.backend, dump=dump, segment_opt_level=options.opt_level,
                                   **options.backend_options)


def _ordered(graph: Graph, named: dict[str, numpy.ndarray]) -> list[numpy.ndarray]:
    """Arrays in `graph.inputs` order (the executable contract), looked up by input name."""
    try:
        return [named[v.name] for v in graph.inputs]
    except KeyError as e:
        raise HybridError(f"graph @{graph.name} reads input %{e.args[0]}, which this call does not supply") from None


# -- CachedOp ----------------------------------------------------------------------------------------
@dataclass
class TrainingEntry:
    """The forward/backward executables of one (signature, differentiated inputs) pair."""
    forward_pipeline: Any
    backward_pipeline: Any
    forward: Any
    backward: Any
    saved: list[int]         # forward output position of each saved value
    differentiated: list[int]


def named_sources(entry, args: list) -> list[tuple[str, NDArray]]:
    """(graph input name, array) of a compiled call's array arguments and parameters."""
    data = [v.name for v in entry.traced.data_inputs if v.name != TraceContext.RNG_KEY]
    arrays = [a for a in array_leaves(args) if isinstance(a, NDArray)]
    params = [(v.name, p._data_eager()) for v, p in zip(entry.traced.params, entry.params)]
    return list(zip(data, arrays)) + params


def call_recorded(fn, entry, args: list):
    """Run `fn` (a CompiledFunction) on `args` as a taped compiled forward; None when nothing
    it reads wants a gradient (the caller then runs the plain executable)."""
    sources = named_sources(entry, args)
    wrt = tuple(name for name, array in sources if tracked(array))
    if not wrt:
        return None
    key = (entry.signature, wrt)
    training = fn.training_cache.get(key)
    if training is None:
        pair = ad.forward_backward(entry.traced, wrt, outputs=range(entry.num_outputs))
        fwd_pipeline, fwd = _build(pair.forward, fn.options, "forward")
        bwd_pipeline, bwd = _build(pair.backward, fn.options, "backward")
        training = TrainingEntry(fwd_pipeline, bwd_pipeline, fwd, bwd, pair.saved, pair.differentiated)
        fn.training_cache[key] = training
    named = dict(sources)
    if entry.random_ops:
        named[TraceContext.RNG_KEY] = rng.take_keys(entry.random_ops)
    outputs = training.forward(_ordered(training.forward_pipeline.graph, named))
    total = len(entry.traced.outputs)
    results = outputs[:entry.num_outputs]
    for target, value in zip(entry.side_targets, outputs[entry.num_outputs:total]):
        target(value)
    saved = dict(named, **{f"saved.{k}": outputs[i] for k, i in enumerate(training.saved)})

    def rule(cotangents: list) -> list:
        if autograd.is_recording():
            raise HybridError(f"higher-order gradients (create_graph=True) through the hybridized {fn.name} are "
                              "not supported: its backward is compiled. Call hybridize(False) on it for that.")
        given = dict(saved, **{f"grad.{i}": cotangents[i] for i in training.differentiated})
        return training.backward(_ordered(training.backward_pipeline.graph, given))

    live = ad.active_values(entry.traced, wrt)
    connected = [v in live for v in entry.traced.outputs[:entry.num_outputs]]
    record_custom(fn.name, [array for name, array in sources if name in wrt], results, rule, connected)
    return results


# -- compile_step ----------------------------------------------------------------------------------
@dataclass
class StepEntry:
    pipeline: Any
    executable: Any
    params: dict            # graph input name -> Parameter (every parameter the step reads)
    random_ops: int
    side_targets: list
    num_side: int


class CompiledStep:
    """`step(data, label, batch_size=None) -> loss`: one compiled forward + backward + update.

    The gradient is that of the summed per-sample loss, scaled by 1/batch_size by the trainer
    (batch_size defaults to data.shape[0]), exactly as `loss.backward(); trainer.step(n)`."""

    def __init__(self, net, loss_fn: Callable, trainer, backend: Optional[str] = None, opt_level: int = 2,
                 dump: Optional[str] = None, **backend_options):
        from .hybridize import CompileOptions

        self.net, self.loss_fn, self.trainer = net, loss_fn, trainer
        self.options = CompileOptions(opt_level=opt_level, dump=dump, backend_options=backend_options)
        if backend is not None:
            self.options.backend = backend
        self.options.check()
        self.cache: dict[tuple, StepEntry] = {}
        self.last: Optional[StepEntry] = None

    def __call__(self, data, label, batch_size: Optional[int] = None) -> NDArray:
        data, label = (x if isinstance(x, Array) else NDArray(numpy.asarray(x)) for x in (data, label))
        key = (data.shape, data.type.dtype, label.shape, label.type.dtype)
        entry = self.cache.get(key)
        if entry is None:
            entry = self.cache[key] = self._compile(data, label)
        self.last = entry
        batch_size = data.shape[0] if batch_size is None else batch_size
        if batch_size <= 0:
            raise HybridError(f"compile_step: batch_size must be positive, got {batch_size}")
        lr, t = self.trainer.begin_update()
        named = {"data": data._data, "label": label._data, "lr": numpy.float32(lr), "t": numpy.float32(t),
                 "rescale": numpy.float32(1.0 / batch_size)}
        named.update({name: p._data_eager()._data for name, p in entry.params.items()})
        for (name, _), state in zip(self._trainable(), self.trainer.states()):
            named.update({f"state.{name}.{k}": s._data for k, s in enumerate(state)})
        if entry.random_ops:
            named[TraceContext.RNG_KEY] = rng.take_keys(entry.random_ops)
        outputs = entry.executable(_ordered(entry.pipeline.graph, named))
        loss, rest = outputs[0], outputs[1:]
        for target, value in zip(entry.side_targets, rest[:entry.num_side]):
            target(value)
        rest = rest[entry.num_side:]
        count = len(self._trainable())
        new_weights, flat_states = rest[:count], iter(rest[count:])
        new_states = [tuple(next(flat_states) for _ in state) for state in self.trainer.states()]
        self.trainer.commit(new_weights, new_states)
        return loss

    def ir(self, stage: Optional[str] = None) -> str:
        if self.last is None:
            raise HybridError("compile_step has not run yet: call it once on a batch")
        return self.last.pipeline.stage_text(stage)

    def _trainable(self) -> list[tuple[str, Any]]:
        names = {id(p): name for name, p in self.net._unique_params().items()}
        result = []
        for p in self.trainer.trainable_params:
            if id(p) not in names:
                raise HybridError(f"compile_step: the trainer updates parameter {p.name!r}, which is not a parameter "
                                  "of the network; give the Trainer net.collect_params()")
            result.append((names[id(p)], p))
        return result

    def _compile(self, data: NDArray, label: NDArray) -> StepEntry:
        net, loss_fn = self.net, self.loss_fn
        if any(not p.is_initialized for p in net._unique_params().values()):
            with autograd.pause(train_mode=False):
                net(data)  # deferred shapes: one eager forward fixes them
        names = {id(p): name for name, p in net._unique_params().items()}

        def forward(data, label):
            with autograd.train_mode():
                loss = loss_fn(net(data), label)
            return loss

        graph, ctx, _ = trace_function(forward, [data, label], "train_step", names, ["data", "label"])
        if len(graph.outputs) - len(ctx.side_outputs) != 1:
            raise HybridError("compile_step: loss_fn must return one array (the per-sample or total loss)")
        trainable = self._trainable()
        in_graph = {v.name for v in graph.inputs}
        step = TraceContext("train_step")
        with step:
            wrt = [name for name, _ in trainable if name in in_graph]
            emitted = ad.emit_with_grads(step, graph, wrt, [0], lambda i, loss: lax.full_like(loss, 1))
            grad_of = dict(zip(wrt, emitted.grads))
            weights, grads = [], []
            for name, p in trainable:   # a weight the loss does not read gets a zero gradient
                weight = emitted.inputs[name] if name in emitted.inputs else step.input(name, p._data_eager().type)
                weights.append(weight)
                grads.append(grad_of[name] if name in grad_of else lax.zeros_like(weight))
            loss = emitted.outputs[0]
            grads = self.trainer.allreduce_traced(grads)
            scalars = [step.input(name, TensorType((), "f32")) for name in ("lr", "t", "rescale")]
            states = [tuple(step.input(f"state.{name}.{k}", s.type) for k, s in enumerate(state))
                      for (name, _), state in zip(trainable, self.trainer.states())]
            new_weights, new_states = self.trainer.update_fn(weights, grads, states, *scalars)
            results = [loss] + emitted.outputs[1:] + list(new_weights)
            results += [s for state in new_states for s in state]
            step.graph.outputs = [step.value_of(r) for r in results]
        pipeline, executable = _build(step.graph, self.options, "train_step")
        inputs = {v.name for v in step.graph.inputs}
        params = {name: p for name, p in net._unique_params().items() if name in inputs}
        return StepEntry(pipeline, executable, params, ctx.random_ops, [t for t, _ in ctx.side_outputs],
                         len(ctx.side_outputs))


def compile_step(net, loss_fn: Callable, trainer, backend: Optional[str] = None, opt_level: int = 2,
                 dump: Optional[str] = None, **backend_options) -> CompiledStep:
    """Compile `loss_fn(net(data), label)`'s forward, backward and `trainer`'s update into one
    executable: `step = hb.compile_step(net, loss_fn, trainer); loss = step(data, label)`."""
    return CompiledStep(net, loss_fn, trainer, backend, opt_level, dump, **backend_options)
