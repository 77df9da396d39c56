"""hybrid: write a model once with NumPy-like arrays and Gluon blocks; run it eagerly, or
hybridize it into a typed SSA graph that is optimized and compiled (interp, LLVM, CUDA)."""
from . import codegen, ir, passes, viz
from .codegen.library import load_library
from .config import config
from .errors import CastingError, FormatError, HybridError, IndexOutOfRangeError, ShapeError, TracingError
from .core import autograd
from .frontend import init, np, npx, nn
from .core import lax
from .frontend import eager_kernels  # noqa: F401  (installs compiled kernels for large eager ops)
from .frontend.aot import compile_library
from .frontend.api import hybridize, trace
from .core.array import NDArray
from .core.context import Context, Device, cpu, cpu_pinned, cpu_shared, current_context, current_device, gpu, num_gpus
from .frontend.parameter import Parameter
from .frontend.step import compile_step
from .distributed import kvstore as kv
from .version import __version__
from . import gluon, profiler
from .gluon import Trainer
# MXNet's top-level modules (import hybrid as mx)
from . import base, context, device, image, io, lr_scheduler, metric, ndarray, operator, optimizer, random, test_utils, util
from .base import MXNetError  # noqa: E402  (mx.MXNetError: HybridError, the base of hybrid's input errors)
from .legacy import ALIASES as _LEGACY, legacy_api_error as _legacy_api_error

numpy, numpy_extension, initializer, nd = np, npx, init, ndarray  # MXNet's long module names
from .util import np_array, np_shape, use_np  # MXNet's top-level NumPy-mode scopes (no-ops here)


def _register_submodules() -> None:
    """`import hybrid.np` (like `import mxnet.numpy`) finds the namespaces that live in frontend/."""
    import sys
    for name, module in (("np", np), ("npx", npx), ("numpy", np), ("numpy_extension", npx), ("init", init),
                         ("initializer", init), ("autograd", autograd), ("nn", nn), ("nd", ndarray)):
        sys.modules.setdefault(f"{__name__}.{name}", module)
        # `from mxnet.numpy.random import multinomial` (the d2l book): the namespace's own submodules
        children = [c for c in ("random", "linalg", "fft") if hasattr(module, c)]
        for child in children:
            sys.modules.setdefault(f"{__name__}.{name}.{child}", getattr(module, child))
        if children and not hasattr(module, "__path__"):
            module.__path__ = []     # a package to the import system, its submodules all registered above


_register_submodules()


def load(path: str, backend=None):
    """Load a model without its code: `prefix` of an export (prefix-symbol.json + prefix-0000.params)
    or an ONNX file (`model.onnx`, imported through hb.onnx)."""
    if str(path).endswith(".onnx"):
        from .onnx import import_model
        return import_model(path, backend=backend)
    from .frontend.api import load as load_export
    return load_export(path, backend=backend)


def __getattr__(name: str):
    # hb.onnx needs the `onnx` package (the `onnx` extra), so it loads on first use
    if name == "onnx":
        import importlib
        return importlib.import_module(".onnx", __name__)
    if name in _LEGACY:
        raise _legacy_api_error(name)
    raise AttributeError(f"module 'hybrid' has no attribute {name!r}")

__all__ = ["config", "ir", "passes", "viz", "autograd", "init", "np", "npx", "nn", "lax", "hybridize", "load", "trace", "NDArray", "Context", "Device", "cpu", "gpu", "cpu_pinned", "cpu_shared",
           "current_context", "current_device", "num_gpus", "context", "device", "image", "io", "initializer",
           "lr_scheduler", "metric", "nd", "ndarray", "operator", "optimizer", "random", "test_utils", "util",
           "np_array", "np_shape", "use_np", "Parameter", "compile_step", "profiler", "compile_library", "load_library", "gluon", "Trainer", "kv", "CastingError", "FormatError", "HybridError", "MXNetError", "IndexOutOfRangeError", "ShapeError", "TracingError",
           "__version__"]
