"""Blocks (Gluon names): Block, HybridBlock, SymbolBlock.

A Block owns child blocks and parameters, registered by attribute assignment; parameters are
named by their path ("fc1.weight", "features.0.bias"). A HybridBlock can be hybridized: calls
then go through a CompiledFunction that traces `forward` once per input signature.
"""
from __future__ import annotations

import re
import warnings
from collections import OrderedDict
from typing import Callable, Optional

import numpy

from .. import fileio
from ..errors import DataDependentShapeError, FormatError, HybridError
from . import npx_arrays
from .block_api import BlockAPI, optimize_for as _optimize_for
from .hybridize import CompileOptions, CompiledFunction, positional_args
from .parameter import DeferredInitializationError, Parameter, ParameterDict
from ..core.array import NDArray
from ..core.context import Context, cpu
from ..core.tracing import current_trace

DEFAULT_DEVICE = cpu(0)


# Set by hybrid.frontend.aot (which builds on blocks, so blocks cannot import it): compile_library.
library_compiler: Optional[Callable] = None


class ChildRef:
    """What `Block._children` maps a child's name to: calling it gives the child block. MXNet 2 keeps
    `weakref.ref(child)` there and code written for it calls the entries; this reference is strong,
    because register_child's caller need not keep the child anywhere else."""

    __slots__ = ("block",)

    def __init__(self, block: "Block"):
        self.block = block

    def __call__(self) -> "Block":
        return self.block

    def __repr__(self) -> str:
        return f"ChildRef({type(self.block).__name__})"


def child_of(entry) -> "Block":
    """The child an entry of `Block._children` stands for: a ChildRef or MXNet 2's weakref is called; a
    Block stored there itself, as MXNet 1.x kept them (d2l's `MySequential.add` writes
    `self._children[block.name] = block`), is the child."""
    return entry if isinstance(entry, Block) else entry()


class Block(BlockAPI):
    """Base class of all layers and models. Subclasses define `forward` (or, MXNet 1.x style,
    `hybrid_forward(self, F, x, ...)`; see block_api)."""

    def __init__(self):
        object.__setattr__(self, "_children", OrderedDict())
        object.__setattr__(self, "_reg_params", OrderedDict())

    def __setattr__(self, name: str, value) -> None:
        # re-assigning an attribute (e.g. to None) unregisters what it held before; as in MXNet, a child
        # or parameter may be replaced by one of its kind only (a tuple there would silently drop it)
        child = self._children.get(name)
        existing = child_of(child) if child is not None else self._reg_params.get(name)
        if existing is not None and value is not None and not isinstance(value, type(existing)):
            raise TypeError(f"{type(self).__name__}.{name} holds a {type(existing).__name__}; assigning a "
                            f"{type(value).__name__} to it is not allowed (a child or parameter attribute keeps "
                            f"its type). Assign None first to remove it, or use another attribute name")
        held = self._children.pop(name, None) is not None or self._reg_params.pop(name, None) is not None
        if isinstance(value, Block):
            self._children[name] = ChildRef(value)
        elif isinstance(value, Parameter):
            self._reg_params[name] = value
        object.__setattr__(self, name, value)
        if held or isinstance(value, (Block, Parameter)):
            self._structure_changed()

    def _structure_changed(self) -> None:
        """A child or parameter was added, replaced or removed (HybridBlock drops its compiled code)."""

    def register_child(self, block: "Block", name: Optional[str] = None) -> "Block":
        name = name if name is not None else str(len(self._children))
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            # the name becomes part of parameter paths, which the IR text form spells as %[A-Za-z0-9_.]+
            raise ValueError(f"child name {name!r} must be letters, digits and underscores")
        self._children[name] = ChildRef(block)
        return block

    def _child_items(self) -> list[tuple[str, "Block"]]:
        """(name, child block) in registration order (`_children` holds ChildRefs, as MXNet's weakrefs)."""
        return [(name, child_of(entry)) for name, entry in self._children.items()]

    def _child_blocks(self) -> list["Block"]:
        return [child_of(entry) for entry in self._children.values()]

    def collect_params(self, select: Optional[str] = None) -> ParameterDict:
        """Every parameter of this block and its children, by path; `select` is a regex filter. A
        parameter shared by several blocks (share_parameters) is listed under each path that reaches
        it, as MXNet 2 lists it; `_unique_params` lists it once."""
        self._warn_unregistered_blocks()
        result = ParameterDict(self._param_paths())
        if select is not None:
            pattern = re.compile(select)
            result = ParameterDict((k, v) for k, v in result.items() if pattern.match(k))
        return result

    def _warn_unregistered_blocks(self) -> None:
        """Blocks kept in a list, tuple or dict attribute are not children: their parameters are missed by
        collect_params, initialize and save_parameters. Say so (MXNet warns the same way)."""
        for block in [self, *self._descendants()]:
            for attr, value in vars(block).items():
                if attr.startswith("_") or not isinstance(value, (list, tuple, dict)):
                    continue
                if any(b not in block._child_blocks() for b in _blocks_inside(value)):
                    warnings.warn(f"{type(block).__name__}.{attr} is a {type(value).__name__} holding Blocks, which "
                                  "are not registered as children (their parameters are not collected, initialized "
                                  "or saved); use nn.Sequential / nn.HybridSequential or register_child()",
                                  stacklevel=3)

    def _descendants(self) -> list:
        out = []
        for child in self._child_blocks():
            out += [child, *child._descendants()]
        return out

    def _unique_params(self) -> ParameterDict:
        """Each parameter once, by its first path: the name it has in traced graphs, in a Trainer and in
        deduplicated checkpoints (what initializing, casting and compiling walk over)."""
        result = ParameterDict()
        self._collect("", result, set())
        return result

    def _collect(self, prefix: str, out: ParameterDict, seen: set) -> None:
        # a block or parameter reached by two paths is shared: it is listed once, by its first path
        for name, p in self._reg_params.items():
            if id(p) not in seen:
                seen.add(id(p))
                out[prefix + name] = p
        for name, child in self._child_items():
            child._collect(f"{prefix}{name}.", out, seen)

    def _param_paths(self, prefix: str = "") -> list:
        """(structural name, parameter) along every path: a shared parameter once per path that
        reaches it (_unique_params lists it once, by its first path)."""
        out = [(prefix + name, p) for name, p in self._reg_params.items()]
        for name, child in self._child_items():
            out += child._param_paths(f"{prefix}{name}.")
        return out

    def initialize(self, init=None, ctx=None, verbose: bool = False, force_reinit: bool = False,
                   device=None) -> "Block":
        """Initialize every parameter (default: Uniform(0.07), as Gluon). Unknown shapes wait for
        the first forward call. `ctx`/`device`: one CPU device or a list of them, one replica of
        each parameter per device (data parallelism in one process: gluon.utils.split_and_load, a
        Trainer sums the replicas' gradients). Parameters live in host memory; a CUDA-hybridized
        block copies them to its GPU."""
        for name, p in self._unique_params().items():
            p.name = name
            p.initialize(init, force_reinit, ctx=device if device is not None else ctx)
        return self

    def zero_grad(self) -> None:
        self._unique_params().zero_grad()

    def hybridize(self, active: bool = True, **options) -> None:
        for child in self._child_blocks():
            child.hybridize(active, **options)

    def save_parameters(self, filename: str, deduplicate: bool = False) -> None:
        """Save parameter values by structural name in npx.save's format (a versioned .npz, no pickle;
        npx.load reads it as a dict, as MXNet 2's does). A parameter shared
        by several blocks is written under each name that reaches it (MXNet's default), or once, by
        its first name, with deduplicate=True; load_parameters reads either file."""
        paths = self._unique_params().items() if deduplicate else self._param_paths()
        npx_arrays.save(filename, {name: p._data_eager()._data for name, p in paths})

    def save(self, prefix: str) -> tuple[str, str]:
        """MXNet 2's model save: parameters (`prefix-model.params`) and structure (`prefix-model.json`)
        for `load` on a model built again by the same code (frontend/block_save.py)."""
        from . import block_save
        return block_save.save(self, prefix)

    def load(self, prefix: str) -> None:
        """Load what `save(prefix)` wrote into this model (same structure, checked); the blocks that
        were hybridized are hybridized again."""
        from . import block_save
        block_save.load(self, prefix)

    def load_parameters(self, filename: str, allow_missing: bool = False, ignore_extra: bool = False,
                        ctx=None, cast_dtype: bool = False, dtype_source: str = "current", device=None) -> None:
        loaded = load_npz(filename)
        try:
            self.load_dict(loaded, allow_missing=allow_missing, ignore_extra=ignore_extra,
                           cast_dtype=cast_dtype, dtype_source=dtype_source)
        except HybridError as e:
            raise HybridError(f"{filename}: {e}") from None

    def __call__(self, *args, **kwargs):
        device = placed_device(args)
        if device is not None:
            with device:   # parameters kept on several devices read this device's replica
                return self._call(*args, **kwargs)
        return self._call(*args, **kwargs)

    def _call(self, *args, **kwargs):
        if self.__dict__.get("_pre_hooks") or self.__dict__.get("_post_hooks") or self.__dict__.get("_op_hooks"):
            return self._call_with_hooks(self.forward, args, kwargs)
        return self.forward(*args, **kwargs)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for name, child in self._child_items():
            lines.append("  (" + name + "): " + repr(child).replace("\n", "\n  "))
        lines.append(")")
        return "\n".join(lines) if self._children else f"{type(self).__name__}({self._extra_repr()})"

    def _extra_repr(self) -> str:
        return ""


def _blocks_inside(value) -> list:
    """The Blocks in a nested list / tuple / dict."""
    if isinstance(value, Block):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    return [b for item in items for b in _blocks_inside(item)]


def placed_device(args) -> Optional[Context]:
    """The device of the first array argument placed off the default device (x.as_in_context(hb.cpu(1)),
    a GPU array), as MXNet runs a block under its input's context; None for host arrays on cpu(0), so a
    block called inside another keeps the device its caller entered."""
    for a in args:
        if isinstance(a, NDArray):
            ctx = a.context
            if ctx.device_type in ("cpu_pinned", "cpu_shared"):   # host memory that any cpu(i) reads
                return None
            return ctx if ctx != DEFAULT_DEVICE else None
    return None


def _arrays_in(value):
    if isinstance(value, NDArray):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _arrays_in(item)


def _check_one_device(name: str, args) -> None:
    """A hybridized block runs on one device: its array inputs must all be there (as in MXNet; host
    memory placed on cpu_pinned / cpu_shared mixes with any cpu device)."""
    if all(a.__class__ is NDArray or not isinstance(a, (NDArray, list, tuple)) for a in args):
        return   # the common case: plain host arrays on cpu(0) and static values
    devices = {a.context for a in _arrays_in(args) if a.context.device_type not in ("cpu_pinned", "cpu_shared")}
    if len(devices) > 1:
        raise ValueError(f"{name}: a hybridized block takes its inputs on one device, got arrays on "
                         f"{', '.join(sorted(map(repr, devices)))}; move them with x.as_in_context(device)")


MAX_NPZ_BYTES = 1 << 40


def load_npz(filename: str) -> dict[str, numpy.ndarray]:
    """Read a parameter file without unpickling anything: a dict written by npx.save / save_parameters
    (format checked), or a plain .npz of named arrays (older files, Trainer states, exports); errors
    name the file."""
    try:
        with fileio.open_regular(filename, MAX_NPZ_BYTES, "parameter file") as f, \
                numpy.load(f, allow_pickle=False) as data:
            contents = fileio.npz_contents(data)
        if "__format__" not in contents:
            return contents
        kind, arrays = npx_arrays.unpack(contents, filename)
        if kind != "dict":
            raise FormatError(f"parameter file {filename} holds a {kind} of arrays, not named parameters")
        return arrays
    except FormatError:
        raise
    except FileNotFoundError:
        raise FormatError(f"parameter file {filename} does not exist") from None
    except (ValueError, OSError, EOFError) as e:
        raise FormatError(f"parameter file {filename} is corrupt or truncated ({e})") from None
    except Exception as e:  # zipfile.BadZipFile and friends
        raise FormatError(f"parameter file {filename} is not a valid .npz archive ({type(e).__name__}: {e})") from None


class HybridBlock(Block):
    """A Block whose forward can be traced and compiled with `hybridize()`."""

    def __init__(self):
        super().__init__()
        object.__setattr__(self, "_compiled", None)

    def hybridize(self, active: bool = True, backend: Optional[str] = None, opt_level: int = 2,
                  freeze: bool = False, dump: Optional[str] = None, max_signatures: int = 8,
                  **backend_options) -> None:
        """Compile forward on the next call (per input signature). `backend`: 'interp', 'llvm' or 'cuda'."""
        if not active:
            object.__setattr__(self, "_compiled", None)
            return
        options = CompileOptions(opt_level=opt_level, freeze=freeze, dump=dump, max_signatures=max_signatures,
                                 backend_options=backend_options)
        if backend is not None:
            options.backend = backend
        object.__setattr__(self, "_compiled", CompiledFunction(self.forward, type(self).__name__, options,
                                                               self._unique_params, self._finish_deferred_shapes))

    def register_child(self, block: "Block", name: Optional[str] = None) -> "Block":
        child = super().register_child(block, name)
        self._structure_changed()
        return child

    def _structure_changed(self) -> None:
        """A new or replaced child or parameter changes what forward computes: compiled signatures
        of this block are dropped (recompiled with the same options at the next call)."""
        if self.__dict__.get("_compiled") is not None:
            old = self._compiled
            object.__setattr__(self, "_compiled", CompiledFunction(self.forward, old.name, old.options,
                                                                   self._unique_params, self._finish_deferred_shapes))

    def _call(self, *args, **kwargs):
        if self.__dict__.get("_pre_hooks") or self.__dict__.get("_post_hooks") or self.__dict__.get("_op_hooks"):
            return self._call_with_hooks(self._run, args, kwargs)
        return self._run(*args, **kwargs)

    def _run(self, *args, **kwargs):
        compiled = self._compiled
        if compiled is None or current_trace() is not None or compiled.eager_because:
            try:
                return self.forward(*args, **kwargs)
            except DeferredInitializationError:
                if not self._infer_from_hook(args):   # MXNet 2: infer_shape(*inputs), then forward again
                    raise
                return self.forward(*args, **kwargs)
        _check_one_device(type(self).__name__, args)
        try:
            return compiled(*positional_args(self.forward, args, kwargs))
        except DataDependentShapeError as error:
            # MXNet hybridizes blocks whose results' shapes depend on the data (np.unique, x[mask]); a
            # compiled graph has static shapes, so this block runs eagerly from now on (said once, with why)
            compiled.eager_because = str(error)
            warnings.warn(f"hybridized {type(self).__name__} runs eagerly: its forward has a result whose shape "
                          f"depends on the data, which a compiled graph cannot hold. {error}", stacklevel=3)
            return self.forward(*args, **kwargs)

    def optimize_for(self, x, *args, backend: Optional[str] = None, **kwargs) -> None:
        """Hybridize for `backend` and compile for these inputs (MXNet's optimize_for)."""
        _optimize_for(self, x, *args, backend=backend, **kwargs)

    # RecurrentCell.infer_shape(i, x, is_bidirect) is MXNet's other protocol (a stack's cell i), not this one
    _infer_shape_from_inputs = True

    def infer_shape(self, *args) -> None:
        """MXNet 2's hook for deferred shapes: set the unknown dimensions of parameters from the call's
        inputs (`self.w.shape = (x.shape[-1], 100)`). Override it where forward reads a parameter of
        unknown shape itself; built-in layers fix theirs in their first forward, so the default does nothing."""

    def _infer_from_hook(self, args) -> bool:
        """Run infer_shape(*args) and finish the deferred initialization of every parameter whose
        shape it made known; whether any was."""
        if not self._infer_shape_from_inputs:
            return False
        self.infer_shape(*args)
        done = False
        for p in self._unique_params().values():
            if not p.is_initialized and p._shape_known():
                p._infer_shape(p.shape)
                done = done or p.is_initialized
        return done

    def _finish_deferred_shapes(self, args) -> None:
        """Gluon's deferred init: a parameter of unknown shape gets it from infer_shape(*inputs), or else
        from one eager forward."""
        params = self._unique_params().values()
        if all(p.is_initialized for p in params):
            return
        self._infer_from_hook(args)
        if any(not p.is_initialized for p in params):
            from ..core.autograd import pause
            with pause(train_mode=False):
                self.forward(*args)

    def refresh_params(self) -> None:
        """After writing into a parameter through a raw NumPy view, make the compiled code re-read the
        parameters at the next call (see CompiledFunction.refresh_params); a no-op when not hybridized."""
        if self._compiled is not None:
            self._compiled.refresh_params()

    def ir(self, stage: Optional[str] = None, format: str = "text") -> str:
        """The IR of the last compiled signature: the optimized graph, or any stage by name."""
        if self._compiled is None:
            raise HybridError(f"{type(self).__name__} is not hybridized: call net.hybridize() and run it once")
        return self._compiled.ir(stage, format)

    def export(self, path: str, epoch: int = 0, library: bool = False) -> tuple[str, ...]:
        """Write `path-symbol.json` and `path-EPOCH.params` (MXNet's names; hybrid's checked format,
        frontend/export.py) for the last compiled signature and return their names; library=True also
        writes the native library `path.so` + `path.h` (hb.compile_library)."""
        from .export import export_compiled
        if self._compiled is None or self._compiled.last is None:
            raise HybridError("export needs a hybridized block that has run once: call net.hybridize(), then net(x)")
        files = export_compiled(self._compiled, path, epoch)
        if library:
            from ..ir.types import to_numpy_dtype
            examples = [numpy.zeros(part[1], to_numpy_dtype(part[2])) for part in self._compiled.last.signature
                        if part[0] == "array"]
            library_compiler(self, examples, f"{path}.so")
            files = tuple(files) + (f"{path}.so",)
        return files


class SymbolBlock(HybridBlock):
    """A block made from an exported graph: runs without the model's Python code."""

    def __init__(self, graph, params: dict[str, numpy.ndarray]):
        super().__init__()
        object.__setattr__(self, "graph", graph)
        for value in graph.params:
            p = Parameter(value.name, value.shape, value.type.dtype, grad_req="write")
            p.set_data(params[value.name])
            self._reg_params[value.name] = p

    @staticmethod
    def imports(symbol_file: str, input_names=None, param_file: Optional[str] = None, device=None,
                allow_missing: bool = False, ignore_extra: bool = False,
                backend: Optional[str] = None) -> "SymbolBlock":
        """Load an export: `imports('net-symbol.json', ['data'], 'net-0000.params')` as in MXNet, or
        `imports('net')` (the prefix; its parameter file is the one the graph file names).
        input_names, when given, must be one name per input of the exported graph."""
        from .export import load_exported
        graph, params = load_exported(symbol_file, param_file)
        if input_names is not None:
            names = [input_names] if isinstance(input_names, str) else list(input_names)
            if len(names) != len(graph.data_inputs):
                raise ValueError(f"SymbolBlock.imports({symbol_file!r}): input_names {names} has {len(names)} names; "
                                 f"the exported graph has {len(graph.data_inputs)} inputs "
                                 f"({', '.join(v.name for v in graph.data_inputs)})")
        block = SymbolBlock(graph, params)
        if device is not None:
            block.reset_device(device)
        if backend is not None:
            block.hybridize(backend=backend)
        return block

    def __repr__(self) -> str:
        inputs = ", ".join(f"{v.name}: {v.type}" for v in self.graph.data_inputs)
        outputs = ", ".join(str(v.type) for v in self.graph.outputs)
        return f"SymbolBlock(\n  ({inputs}) -> ({outputs})\n)"

    def forward(self, *inputs):
        from ..core.replay import replay
        params = {name: p.data() for name, p in self._reg_params.items()}
        outputs = replay(self.graph, list(inputs), params)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)
