"""The pass manager: named pipelines per opt level, verification, timing and IR dumps.

Stages of `optimize`:
  1. record the traced graph as stage 00-traced
  2. run each pass of the opt level's pipeline on a copy, verifying after each in debug mode
  3. record each stage's text, wall time and node counts (passes.txt in the dump folder)
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..errors import HybridError
from ..ir.graph import Graph
from ..ir.verifier import verify

PassFn = Callable[..., Graph]
PASSES: dict[str, PassFn] = {}


def register_pass(name: str):
    """Decorator: make a Graph -> Graph function available to pipelines under `name`."""
    def wrap(fn: PassFn) -> PassFn:
        PASSES[name] = fn
        return fn
    return wrap


def pipeline_for(opt_level: int, freeze: bool = False) -> list[str]:
    return []


def debug_enabled() -> bool:
    return os.environ.get("HYBRID_DEBUG", "") not in ("", "0")


@dataclass
class Stage:
    name: str
    graph: Graph
    ms: float = 0.0
    nodes_before: int = 0


@dataclass
class PipelineResult:
    graph: Graph
    stages: list[Stage] = field(default_factory=list)

    def stage_text(self, stage: Optional[str] = None, format: str = "text") -> str:
        graph = self.graph if stage is None else self.stage(stage).graph
        if format == "text":
            return str(graph)
        raise ValueError(f"unknown IR format {format!r}; use 'text'")

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name or s.name.split("-", 1)[-1] == name:
                return s
        raise HybridError(f"no stage {name!r}; stages are {[s.name for s in self.stages]}")


def run(graph: Graph, names: list[str], verify_each: bool = True, **context) -> Graph:
    """Run the named passes in order on a copy of `graph` (for users and tests)."""
    return _run_pipeline(graph, names, verify_each, **context).graph


def _run_pipeline(graph: Graph, names: list[str], verify_each: bool, **context) -> PipelineResult:
    result = PipelineResult(graph, [Stage("00-traced", graph, 0.0, len(graph))])
    current = graph
    for i, name in enumerate(names, 1):
        try:
            fn = PASSES[name]
        except KeyError:
            raise HybridError(f"unknown pass {name!r}; passes are {sorted(PASSES)}") from None
        start = time.perf_counter()
        before = len(current)
        current = fn(current.copy(), **context)
        ms = (time.perf_counter() - start) * 1e3
        if verify_each:
            verify(current)
        result.stages.append(Stage(f"{i:02d}-{name}", current, ms, before))
    result.graph = current
    return result


def optimize(graph: Graph, opt_level: int = 2, freeze: bool = False, dump: Optional[str] = None,
             frozen: Optional[dict] = None) -> PipelineResult:
    """Optimize a traced graph with the pipeline of `opt_level`; dump stages to `dump` (or HYBRID_DUMP)."""
    result = _run_pipeline(graph, pipeline_for(opt_level, freeze), debug_enabled(), frozen=frozen or {})
    dump = dump or os.environ.get("HYBRID_DUMP")
    if dump:
        write_dump(result, dump)
    return result


def write_dump(result: PipelineResult, folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    lines = [f"{'pass':<24}{'ms':>9}  nodes"]
    for stage in result.stages:
        with open(os.path.join(folder, f"{stage.name}.ir"), "w") as f:
            f.write(str(stage.graph) + "\n")
        lines.append(f"{stage.name:<24}{stage.ms:>9.2f}  {stage.nodes_before} -> {len(stage.graph)}")
    with open(os.path.join(folder, "passes.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
