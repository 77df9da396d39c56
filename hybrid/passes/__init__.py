"""Graph passes and the pass manager. `hb.passes.run(graph, ["cse", "fuse"])` runs passes by name.

Each pass is one module (its docstring lists its stages) registered under its name."""
from ..core import ad
from . import concurrent_groups, conv_layout, cse, dce, fold_batchnorm, fold_constants, fold_cond, fuse, hoist_invariants, \
    lower_complex, memory_plan, prune_regions, simplify, slice_broadcasts  # noqa: F401 (registers)
from .manager import PASSES, PipelineResult, optimize, pipeline_for, register_pass, run
from ..ir.memory_plan import MemoryPlan, Slot
from .memory_plan import MemoryPlanError, check_memory_plan

# graph autodiff lives in hybrid.core (the eager tape shares its gradient sweep); pipelines run it by name
register_pass("autodiff")(ad.autodiff)

__all__ = ["PASSES", "PipelineResult", "optimize", "pipeline_for", "register_pass", "run", "MemoryPlan", "Slot",
           "MemoryPlanError", "check_memory_plan"]
