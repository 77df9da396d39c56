"""`hb.context`: MXNet's device-context names (Context, cpu, gpu, current_context, num_gpus)."""
from .core.context import Context, cpu, cpu_pinned, cpu_shared, current_context, gpu, num_gpus

__all__ = ["Context", "cpu", "gpu", "cpu_pinned", "cpu_shared", "current_context", "num_gpus"]
