"""Gluon's Block conveniences beyond the core (mixed into Block): own-parameter access in the
1.x style (`self.params.get`, `get_constant`), `name`, `share_parameters`, `apply`, `cast`,
`load_dict`, forward (pre-)hooks, op hooks, `summary`, and the 1.x `hybrid_forward(F, x, ...)`
calling convention (F is a namespace with np, npx and their functions)."""
from __future__ import annotations

import functools
import inspect
import itertools
import types
from collections import OrderedDict, defaultdict
from typing import Callable, Optional

import numpy

from ..errors import HybridError
from .parameter import Constant, Parameter

_NAME_COUNTERS: dict = defaultdict(itertools.count)
_HOOK_IDS = itertools.count()


class HookHandle:
    """Returned by register_*_hook; `detach()` removes the hook (also usable as a context manager)."""

    def __init__(self, hooks: "OrderedDict", key: int):
        self._hooks, self._key = hooks, key

    def detach(self) -> None:
        self._hooks.pop(self._key, None)

    def __enter__(self) -> "HookHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.detach()


class SummaryAfterHybridizeError(HybridError, AssertionError):
    """summary() of a hybridized block (an AssertionError too, as MXNet raises)."""


def _shapes(values) -> str:
    """The shapes of the arrays in a (nested) list or tuple of call arguments or results."""
    if isinstance(values, (list, tuple)):
        return ", ".join(s for s in (_shapes(v) for v in values) if s)
    return str(tuple(values.shape)) if hasattr(values, "shape") else ""


class OwnParams(OrderedDict):
    """A block's own parameters (Gluon 1.x `self.params`): `get(name, **kwargs)` returns the
    parameter `name`, creating and registering it with the given shape/init/... on first use."""

    def __init__(self, block):
        super().__init__(block._reg_params)
        self._block = block

    def get(self, name: str, **kwargs) -> Parameter:
        existing = self._block._reg_params.get(name)
        if existing is not None:
            return existing
        param = Parameter(name, **kwargs)
        setattr(self._block, name, param)
        return param

    def get_constant(self, name: str, value=None) -> Parameter:
        existing = self._block._reg_params.get(name)
        if existing is not None:
            return existing
        if value is None:
            raise HybridError(f"get_constant({name!r}): no constant of that name yet; pass its value")
        const = Constant(value, name)
        setattr(self._block, name, const)
        return const


class _F(types.SimpleNamespace):
    """The `F` of hybrid_forward: F.np, F.npx, and F.<fn> for any npx or np function."""

    def __getattr__(self, name: str):
        for namespace in (self.npx, self.np):
            fn = getattr(namespace, name, None)
            if fn is not None:
                return fn
        raise AttributeError(f"hybrid_forward's F has no {name!r}: MXNet 1.x operators (F.FullyConnected, ...) "
                             "are spelled npx.fully_connected, npx.convolution, ... in MXNet 2 and hybrid")


def _namespace() -> _F:
    from . import np, npx
    return _F(np=np, npx=npx)


class BlockAPI:
    """Mixed into Block; relies on its _children / _reg_params."""

    def __init_subclass__(cls, **kwargs):
        """Every block constructor also takes MXNet 1.x's `params=` (`nn.Dense(8, params=other.params)`, as
        the d2l book shares layers): once the constructor has made the block's own parameters, those named
        in `params` are replaced by them (share_parameters). A constructor with its own `params` argument
        keeps it."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or "params" in inspect.signature(init).parameters:
            return

        @functools.wraps(init)
        def init_then_share(self, *args, params: Optional[dict] = None, **kw):
            init(self, *args, **kw)
            if params is not None:
                self.share_parameters(params)
        cls.__init__ = init_then_share

    # -- names and parameters ------------------------------------------------------------------
    @property
    def name(self) -> str:
        """A unique name per instance, the class name lower-cased plus a counter ("dense0")."""
        name = self.__dict__.get("_name")
        if name is None:
            prefix = type(self).__name__.lower()
            name = f"{prefix}{next(_NAME_COUNTERS[prefix])}"
            object.__setattr__(self, "_name", name)
        return name

    @property
    def params(self) -> OwnParams:
        return OwnParams(self)

    def share_parameters(self, shared: dict) -> "BlockAPI":
        """Use the Parameters in `shared` (structural names, as collect_params gives them) instead of
        this block's own ones of the same name; other parameters are kept. None shares nothing (MXNet)."""
        if shared is None:
            return self
        if not isinstance(shared, dict):
            raise HybridError("share_parameters takes a dict of Parameters, e.g. other.collect_params()")
        self._share("", shared)
        return self

    def _share(self, prefix: str, shared: dict) -> None:
        for name in list(self._reg_params):
            # a membership test, not shared.get: a block's `params` (OwnParams) creates what get() asks for
            if prefix + name in shared:
                setattr(self, name, shared[prefix + name])
        for name, child in self._child_items():
            child._share(f"{prefix}{name}.", shared)

    def setattr(self, name: str, value) -> None:
        """Set attribute `name` (e.g. 'grad_req', 'lr_mult') of every parameter of this block and its children."""
        for p in self._unique_params().values():
            setattr(p, name, value)

    def apply(self, fn: Callable) -> "BlockAPI":
        """fn(block) on every child (recursively), then on this block."""
        for child in self._child_blocks():
            child.apply(fn)
        fn(self)
        return self

    def cast(self, dtype) -> None:
        """Convert every parameter to `dtype` (e.g. 'float16' for inference)."""
        for p in self._unique_params().values():
            p.cast(dtype)

    def reset_device(self, device) -> None:
        """Move every parameter to `device` (one device or a list; Parameter.reset_device)."""
        for p in self._unique_params().values():
            p.reset_device(device)

    reset_ctx = reset_device   # MXNet 1.x's name

    def load_dict(self, param_dict: dict, device=None, allow_missing: bool = False, ignore_extra: bool = False,
                  cast_dtype: bool = False, dtype_source: str = "current") -> None:
        """Set parameters from {structural name: array}; names may carry MXNet's 'arg:'/'aux:' prefixes.
        With cast_dtype, dtype_source='current' keeps each parameter's dtype, 'saved' adopts the file's."""
        params = self._unique_params()
        loaded = {k.split(":", 1)[1] if k.startswith(("arg:", "aux:")) else k: v for k, v in param_dict.items()}
        loaded = self._translate_saved_names(loaded, "")
        paths, first = self._param_paths(), {}
        for path, p in paths:   # a shared parameter saved under each of its names: read as its first name
            first.setdefault(id(p), path)
        alias = {path: first[id(p)] for path, p in paths}
        loaded = {alias.get(k, k): v for k, v in loaded.items()}
        missing = [k for k in params if k not in loaded]
        extra = [k for k in loaded if k not in params]
        if missing and not allow_missing:
            raise HybridError(f"the data lacks parameters {missing}; pass allow_missing=True to keep their "
                              "current values")
        if extra and not ignore_extra:
            raise HybridError(f"the data has parameters this model does not: {extra}; pass ignore_extra=True "
                              "to skip them")
        for name, value in loaded.items():
            if name not in params:
                continue
            value = value.asnumpy() if hasattr(value, "asnumpy") else numpy.asarray(value)
            p = params[name]
            if value.dtype != p.dtype and not cast_dtype:
                raise HybridError(f"load_dict: {name} is {value.dtype} in the data but {p.dtype} in the model; "
                                  "pass cast_dtype=True")
            if cast_dtype and dtype_source == "saved":
                p.cast(value.dtype)
            p.name = name
            p.set_data(value)

    def _translate_saved_names(self, loaded: dict, prefix: str) -> dict:
        """Let each block (children first) rewrite the entries under its structural `prefix` that an
        older layout of its parameters saved (e.g. an RNN layer's per-layer weights), before matching."""
        for name, child in self._child_items():
            loaded = child._translate_saved_names(loaded, f"{prefix}{name}.")
        return self._translate_own_saved_names(loaded, prefix)

    def _translate_own_saved_names(self, loaded: dict, prefix: str) -> dict:
        """Overridden by blocks whose parameter layout changed; the default keeps the names."""
        return loaded

    # -- hooks -----------------------------------------------------------------------------------
    def _hooks(self, kind: str) -> "OrderedDict":
        key = f"_{kind}_hooks"
        hooks = self.__dict__.get(key)
        if hooks is None:
            hooks = OrderedDict()
            object.__setattr__(self, key, hooks)
        return hooks

    def _add_hook(self, kind: str, hook) -> HookHandle:
        hooks = self._hooks(kind)
        key = next(_HOOK_IDS)
        hooks[key] = hook
        return HookHandle(hooks, key)

    def register_forward_pre_hook(self, hook: Callable) -> HookHandle:
        """hook(block, inputs) before each call (inputs: the tuple of arguments)."""
        return self._add_hook("pre", hook)

    def register_forward_hook(self, hook: Callable) -> HookHandle:
        """hook(block, inputs, outputs) after each call."""
        return self._add_hook("post", hook)

    def register_op_hook(self, callback: Callable, monitor_all: bool = False) -> HookHandle:
        """callback(value_name, op_name, array) for the output of every primitive op of each call
        (and, with monitor_all, for each op's inputs). The graph is evaluated op by op for this,
        eagerly, after the call: a monitoring aid, as MXNet's, not a fast path; random ops draw anew."""
        return self._add_hook("op", (callback, monitor_all))

    def _call_with_hooks(self, run: Callable, args: tuple, kwargs: dict):
        hooks = self.__dict__
        for hook in list(hooks.get("_pre_hooks", {}).values()):
            hook(self, args)
        out = run(*args, **kwargs)
        for hook in list(hooks.get("_post_hooks", {}).values()):
            hook(self, args, out)
        if hooks.get("_op_hooks"):
            self._run_op_hooks(args, kwargs)
        return out

    def _run_op_hooks(self, args: tuple, kwargs: dict) -> None:
        from ..core.autograd import pause
        from ..core.replay import replay
        from .api import trace
        from .hybridize import positional_args
        with pause():
            graph = trace(self, *positional_args(self.forward, args, kwargs))
            params = {name: p.data() for name, p in self._unique_params().items()}
            inputs = [a for a in args if hasattr(a, "shape")]
            for callback, monitor_all in list(self._op_hooks.values()):
                def on_node(node, ins, outs, callback=callback, monitor_all=monitor_all):
                    if monitor_all:
                        for i, (value, x) in enumerate(zip(node.inputs, ins)):
                            callback(f"{value.name}_input{i}", node.op, x)
                    for value, y in zip(node.outputs, outs):
                        callback(value.name, node.op, y)
                replay(graph, inputs, params, on_node=on_node)

    # -- summary -----------------------------------------------------------------------------------
    def summary(self, *inputs) -> str:
        """Print (and return) a table of every layer's output shape and parameter count for a call on
        `inputs`, with totals, like Gluon's Block.summary."""
        from ..core.autograd import pause
        if self.__dict__.get("_compiled") is not None:
            raise SummaryAfterHybridizeError(
                f"{type(self).__name__}.summary() times each layer's own call, which a hybridized block makes once "
                "inside its compiled graph: call summary() before hybridize(), or after hybridize(False)")
        rows: list = []
        handles = []

        def record(block, _inputs, outputs, depth):
            shapes = _shapes(outputs)
            count = sum(int(numpy.prod(p.shape)) for p in block._reg_params.values() if p.shape)
            rows.append((depth, f"{type(block).__name__}-{len(rows) + 1}", shapes, count))

        def attach(block, depth):
            for child in block._child_blocks():
                attach(child, depth + 1)
            handles.append(block.register_forward_hook(lambda b, i, o, d=depth: record(b, i, o, d)))

        attach(self, 0)
        try:
            with pause():
                self(*inputs)
        finally:
            for h in handles:
                h.detach()
        params = self._unique_params()
        total = sum(int(numpy.prod(p.shape)) for p in params.values())
        trainable = sum(int(numpy.prod(p.shape)) for p in params.values() if p.grad_req != "null")
        lines = ["-" * 80, f"{'Layer (type)':>30}{'Output Shape':>32}{'Param #':>16}", "=" * 80,
                 f"{'Input':>30}{_shapes(inputs):>32}{0:>16}"]
        # hooks fire innermost first; the table lists blocks in call order, outermost last (as Gluon does)
        for depth, label, shapes, count in rows:
            lines.append(f"{'  ' * depth + label:>30}{shapes:>32}{count:>16}")
        lines += ["=" * 80, f"Parameters in forward computation graph: {total}",
                  f"Trainable params: {trainable}", f"Non-trainable params: {total - trainable}", "-" * 80]
        text = "\n".join(lines)
        print(text)
        return text

    # -- the 1.x calling convention ------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        hybrid_forward = getattr(self, "hybrid_forward", None)
        if hybrid_forward is None:
            raise NotImplementedError(f"{type(self).__name__} must define forward(self, x, ...) (or the MXNet 1.x "
                                      "hybrid_forward(self, F, x, ...))")
        own = {name: p.data() for name, p in self._reg_params.items()}
        return hybrid_forward(_namespace(), *args, **kwargs, **own)


# MXNet's graph-partitioning backends and the backend that compiles such a graph here: oneDNN (named
# MKLDNN before MXNet 2) fuses operators for the CPU, as llvm does; TensorRT does so for NVIDIA GPUs,
# as cuda does. Their int8 quantizing variants change the numbers and have no counterpart.
MXNET_BACKENDS = {"onednn": "llvm", "mkldnn": "llvm", "tensorrt": "cuda"}
_QUANTIZING = ("onednn_quantize", "mkldnn_quantize")


def backend_for(name: Optional[str]) -> Optional[str]:
    """A backend name as optimize_for takes it: hybrid's own ('interp', 'llvm', 'cuda') unchanged, or
    one of MXNet's partitioning backends (any case) mapped to hybrid's backend for the same device."""
    if name is None:
        return None
    key = name.lower()
    if key in _QUANTIZING:
        raise HybridError(f"optimize_for(backend={name!r}): int8 quantization is not offered; "
                          f"backend='{MXNET_BACKENDS[key.split('_')[0]]}' compiles the float graph for the same device")
    return MXNET_BACKENDS.get(key, name)


def optimize_for(block, x, *args, backend: Optional[str] = None, clear: bool = False, backend_opts=None,
                 partition_if_dynamic: bool = True, **kwargs) -> None:
    """MXNet's optimize_for: hybridize for `backend` and compile on (x, *args). `backend` is one of
    hybrid's ('interp', 'llvm', 'cuda') or an MXNet partitioning backend: 'ONEDNN' / 'MKLDNN' compile
    with llvm (fused CPU kernels), 'TensorRT' with cuda; the quantizing ones raise. `backend_opts` and
    other keywords are the chosen backend's options (an unknown one is an error naming the valid
    ones). `clear` and `partition_if_dynamic` change nothing: each call compiles afresh, and every
    compiled graph has static shapes."""
    options = dict(kwargs)
    options.update(backend_opts or {})
    block.hybridize(True, backend=backend_for(backend), **options)
    block(x, *args)
