"""hybrid: write a model once with NumPy-like arrays and Gluon blocks; run it eagerly, or
hybridize it into a typed SSA graph that is optimized and compiled (interp, LLVM, CUDA)."""
from . import codegen, ir, passes, viz
from .codegen.library import load_library
from .config import config
from .errors import CastingError, FormatError, HybridError, IndexOutOfRangeError, ShapeError, TracingError
from .core import autograd
from .frontend import init, np, npx, nn
from .frontend.aot import compile_library
from .frontend.api import hybridize, load, trace
from .core.array import NDArray
from .core.context import Context, cpu, gpu
from .frontend.parameter import Parameter
from .frontend.step import compile_step
from .distributed import kvstore as kv
from .version import __version__
from . import gluon
from .gluon import Trainer

__all__ = ["config", "ir", "passes", "viz", "autograd", "init", "np", "npx", "nn", "hybridize", "load", "trace", "NDArray", "Context", "cpu", "gpu",
           "Parameter", "compile_step", "compile_library", "load_library", "gluon", "Trainer", "kv", "CastingError", "FormatError", "HybridError", "IndexOutOfRangeError", "ShapeError", "TracingError",
           "__version__"]
