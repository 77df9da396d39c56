"""The pass manager: named pipelines per opt level, verification, timing and IR dumps.

Stages of `optimize`:
  1. record the traced graph as stage 00-traced
  2. run each pass of the opt level's pipeline on a copy of the previous stage, verifying the
     IR after each in debug mode (HYBRID_DEBUG=1; the tests set it) and checking the memory plan
     once one exists
  3. record each stage's graph, wall time and node counts before/after
  4. dump (HYBRID_DUMP=<dir> or dump=<dir>): NN-<pass>.ir per stage, memory-plan.txt, passes.txt

A pass is `fn(graph, **context) -> Graph`; it may rewrite the graph it is given (a copy). The
context carries `frozen` (parameter name -> ndarray under freeze=True: only then do parameters
count as constants) and whatever else the caller passes; passes ignore what they do not use.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

from .. import log
from ..config import config
from ..errors import HybridError
from ..ir.graph import Graph
from ..ir.registry import has_effects
from ..ir.types import is_complex
from ..ir.verifier import verify

PassFn = Callable[..., Graph]
PASSES: dict[str, PassFn] = {}

# the control-flow passes (fold_cond, prune_regions, hoist_invariants) leave graphs without regions alone
CLEANUP = ["dce", "cse", "fold_constants", "fold_cond", "hoist_invariants", "prune_regions", "simplify", "dce"]
PIPELINES: dict[int, list[str]] = {
    0: [],
    1: CLEANUP,
    2: CLEANUP + ["conv_layout", "fuse", "concurrent_groups", "memory_plan"],
    3: CLEANUP[:-1] + ["fold_batchnorm", "dce", "conv_layout", "fuse", "concurrent_groups", "memory_plan"],  # inference only, needs freeze=True
}


def register_pass(name: str):
    """Decorator: make a `fn(graph, **context) -> Graph` available to pipelines under `name`."""
    def wrap(fn: PassFn) -> PassFn:
        PASSES[name] = fn
        return fn
    return wrap


def pipeline_for(opt_level: int, freeze: bool = False) -> list[str]:
    """The pass names run at `opt_level` (0 none, 1 cleanup, 2 + fusion and memory planning,
    3 + inference rewrites such as BatchNorm folding, which need freeze=True)."""
    if opt_level not in PIPELINES:
        raise HybridError(f"opt_level must be one of {sorted(PIPELINES)}, got {opt_level!r}")
    if opt_level == 3 and not freeze:
        log.log("compile", "opt_level=3 rewrites need frozen parameters (freeze=True); running opt_level 2")
        return list(PIPELINES[2])
    return list(PIPELINES[opt_level])


def debug_enabled() -> bool:
    return config.get("debug")


@dataclass
class Stage:
    name: str            # "00-traced", "01-dce", ...
    graph: Graph
    ms: float = 0.0
    nodes_before: int = 0


@dataclass
class PipelineResult:
    graph: Graph
    stages: list[Stage] = field(default_factory=list)

    def stage(self, name: Union[str, int, None] = None) -> Stage:
        """A stage by number (0 = traced), full name ("03-cse"), pass name (first match),
        "traced", or None / "final" for the optimized graph."""
        if name is None or name == "final":
            return self.stages[-1]
        if isinstance(name, int):
            if 0 <= name < len(self.stages):
                return self.stages[name]
        else:
            for s in self.stages:
                if s.name == name or s.name.split("-", 1)[-1] == name:
                    return s
        raise HybridError(f"no stage {name!r}; stages are {[s.name for s in self.stages]}")

    def stage_text(self, stage: Union[str, int, None] = None, format: str = "text") -> str:
        """The IR of a stage as text, or as Graphviz DOT (format="dot"; fused kernels as clusters)."""
        graph = self.stage(stage).graph
        if format == "text":
            return str(graph)
        if format == "dot":
            from ..viz import to_dot
            return to_dot(graph)
        raise ValueError(f"unknown IR format {format!r}; use 'text' or 'dot'")

    def report(self) -> str:
        """passes.txt: each pass's wall time and node counts, and the memory summary."""
        lines = [f"{'stage':<22}{'ms':>9}  nodes"]
        for s in self.stages:
            lines.append(f"{s.name:<22}{s.ms:>9.2f}  {s.nodes_before} -> {len(s.graph)}")
        lines.append(f"{'total':<22}{sum(s.ms for s in self.stages):>9.2f}  "
                     f"{len(self.stages[0].graph)} -> {len(self.graph)}")
        kernels = sum(1 for n in self.graph.nodes if n.op == "fused")
        if kernels:
            lines.append(f"fused kernels: {kernels}")
        if self.graph.memory_plan is not None:
            lines.append(f"memory: {self.graph.memory_plan.summary()}")
        return "\n".join(lines) + "\n"


def run(graph: Graph, names: Union[list[str], str], verify_each: bool = True, **context) -> Graph:
    """Run the named passes in order on a copy of `graph` (for users and tests):
    `hb.passes.run(graph, ["cse", "fuse"])` (a single name also works)."""
    if isinstance(names, str):
        names = [names]
    return run_pipeline(graph, names, verify_each, **context).graph


def run_pipeline(graph: Graph, names: list[str], verify_each: bool, **context) -> PipelineResult:
    result = PipelineResult(graph, [Stage("00-traced", graph, 0.0, len(graph))])
    current = graph
    for i, name in enumerate(names, 1):
        try:
            fn = PASSES[name]
        except KeyError:
            raise HybridError(f"unknown pass {name!r}; passes are {sorted(PASSES)}") from None
        start = time.perf_counter()
        before = len(current)
        work = current.copy()
        if name != "memory_plan":
            work.memory_plan = None  # any other rewrite makes an earlier plan stale
        current = fn(work, **context)
        ms = (time.perf_counter() - start) * 1e3
        if verify_each:
            _check(current, name)
        result.stages.append(Stage(f"{i:02d}-{name}", current, ms, before))
    result.graph = current
    return result


def _check(graph: Graph, name: str) -> None:
    from .memory_plan import check_memory_plan

    try:
        verify(graph)
        if graph.memory_plan is not None:
            check_memory_plan(graph)
    except HybridError as e:
        raise type(e)(f"after pass {name!r}: {e}") from None


def optimize(graph: Graph, opt_level: int = 2, freeze: bool = False, dump: Optional[str] = None,
             frozen: Optional[dict] = None, **context) -> PipelineResult:
    """Optimize a traced graph with the pipeline of `opt_level`; dump stages to `dump` (or HYBRID_DUMP).
    `frozen` (parameter name -> array) is only read with freeze=True: then parameters are constants."""
    if frozen and not freeze:
        raise HybridError("optimize() got frozen parameter values but freeze=False; pass freeze=True to treat "
                          "the parameters as constants (the executable then ignores later weight changes)")
    names = _whole_graph_passes(graph, pipeline_for(opt_level, freeze))
    if context.get("conv_layout") is None:      # the backend's convolutions read NCHW: no stage to record
        names = [name for name in names if name != "conv_layout"]
    if holds_complex(graph):    # a lowering, at every level: backends compute complex values as real pairs
        names = ["lower_complex"] + names
    if slices_a_broadcast(graph):   # at every level: never materialize a broadcast only to slice it
        names = ["slice_broadcasts"] + names
    result = run_pipeline(graph, names, debug_enabled(), frozen=frozen or {}, **context)
    dump = dump or config.get("dump")
    if dump:
        write_dump(result, dump)
    return result


# Passes that a graph with effects (e.g. allreduce) gets per segment instead: codegen builds it
# as pure segments split around those ops (hybrid.codegen.segmented), each fused and planned.
PER_SEGMENT = ("fuse", "concurrent_groups", "memory_plan")


def holds_complex(graph: Graph) -> bool:
    """Whether any value of `graph` (or of its regions) is complex."""
    return any(is_complex(v.dtype) for v in graph.inputs) or any(
        any(is_complex(o.dtype) for o in n.outputs) or any(holds_complex(r) for r in n.regions) for n in graph.nodes)


def slices_a_broadcast(graph: Graph) -> bool:
    """Whether a node of `graph` (or of its regions) slices the result of a broadcast_to."""
    return any((n.op == "slice" and n.inputs[0].producer is not None and n.inputs[0].producer.op == "broadcast_to")
               or any(slices_a_broadcast(r) for r in n.regions) for n in graph.nodes)


def _whole_graph_passes(graph: Graph, names: list[str]) -> list[str]:
    if not has_effects(graph):
        return names
    log.log("compile", f"@{graph.name} has ops with effects: {', '.join(PER_SEGMENT)} run per segment at build")
    return [name for name in names if name not in PER_SEGMENT]


def write_dump(result: PipelineResult, folder: str) -> None:
    """NN-<pass>.ir for every stage, memory-plan.txt (when planned) and passes.txt."""
    os.makedirs(folder, exist_ok=True)
    for stage in result.stages:
        with open(os.path.join(folder, f"{stage.name}.ir"), "w") as f:
            f.write(str(stage.graph) + "\n")
    if result.graph.memory_plan is not None:
        with open(os.path.join(folder, "memory-plan.txt"), "w") as f:
            f.write(result.graph.memory_plan.table() + "\n")
    with open(os.path.join(folder, "passes.txt"), "w") as f:
        f.write(result.report())
