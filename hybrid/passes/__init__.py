"""Graph passes and the pass manager. `hb.passes.run(graph, ["cse", "fuse"])` runs passes by name."""
from .manager import PASSES, PipelineResult, optimize, pipeline_for, register_pass, run

__all__ = ["PASSES", "PipelineResult", "optimize", "pipeline_for", "register_pass", "run"]
