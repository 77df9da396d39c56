"""`hb.device`: MXNet 2's device names (Device, cpu, gpu, current_device, num_gpus)."""
from .core.context import Device, cpu, cpu_pinned, cpu_shared, current_device, gpu, num_gpus

__all__ = ["Device", "cpu", "gpu", "cpu_pinned", "cpu_shared", "current_device", "num_gpus"]
