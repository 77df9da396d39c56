"""`hb.device`: MXNet 2's device names (Device, cpu, gpu, current_device, num_gpus)."""
from .core.context import Device, cpu, current_device, gpu, num_gpus

__all__ = ["Device", "cpu", "gpu", "current_device", "num_gpus"]
