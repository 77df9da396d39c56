"""Random hybrid programs for the differential fuzzer, as pasteable Python source.

A program is a list of assignments `vK = <expression over earlier values>` ending in a return of
a few values; its inputs are arrays of every dtype (size-0 and 0-d included) holding NaN, +-inf
and -0 among ordinary numbers. The generator tracks each value's shape and dtype (by running the
step eagerly on placeholders, so only valid programs come out) and whether the value is *exact*:
computed only with operations every configuration rounds identically (layout, comparisons,
min/max, single IEEE operations whose result no fused multiply-add can absorb). Operations that
are discontinuous in their operand (floor, comparisons, casts to integers, argmax, mod) only take
exact values, so a 1-ulp difference upstream can never turn into a different integer downstream.

`program_source(program)` is a complete script: paste it to reproduce a failure.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import ml_dtypes
import numpy as onp
from hypothesis import strategies as st

import hybrid as hb
from hybrid import np, npx
from hybrid.ir.types import is_float_dtype

DTYPES = ["float32", "float32", "float32", "float16", "bfloat16", "float64", "int32", "int8", "uint8", "int64", "uint32", "bool"]
DIMS = [1, 2, 3, 4, 5, 0]
SPECIALS = [onp.nan, onp.inf, -onp.inf, 0.0, -0.0, 1e-30, 60000.0]


@dataclass
class Value:
    name: str
    shape: tuple
    dtype: str
    exact: bool = True
    product: bool = False     # a mul/div result: a following add may fuse it into an fma
    diff: bool = True         # has a differentiable path from the inputs (a gradient program's outputs need one)
    rounding: str = ""        # the coarsest float type an inexact result on its path was rounded to


@dataclass
class Program:
    inputs: list = field(default_factory=list)     # NumPy arrays
    lines: list = field(default_factory=list)      # "vK = expr"
    outputs: list = field(default_factory=list)    # value names
    training: bool = False                         # dropout / batch statistics active
    grads: bool = False                            # also compare gradients
    rounding: list = field(default_factory=list)   # per output: Value.rounding (a float32 result
                                                   # cast to float64 is compared at float32's tolerance)

    def __repr__(self) -> str:                     # what hypothesis prints for a failing example
        return "\n" + program_source(self)


def _literal(a: onp.ndarray) -> str:
    def item(x):
        if is_float_dtype(a.dtype):
            x = float(x)
            if onp.isnan(x):
                return "onp.nan"
            if onp.isinf(x):
                return "onp.inf" if x > 0 else "-onp.inf"
            return repr(x)
        return repr(x.item() if hasattr(x, "item") else x)
    flat = ", ".join(item(x) for x in a.reshape(-1))
    return f"onp.array([{flat}], dtype={a.dtype.name!r}).reshape({a.shape!r})"


def program_source(p: Program) -> str:
    args = ", ".join(f"v{i}" for i in range(len(p.inputs)))
    body = "\n".join(f"    {line}" for line in p.lines) or "    pass"
    inputs = ",\n    ".join(_literal(a) for a in p.inputs)
    return (f"import numpy as onp, hybrid as hb\nfrom hybrid import autograd, np, npx\n\n"
            f"def program({args}):\n{body}\n    return ({', '.join(p.outputs)},)\n\n"
            f"inputs = [\n    {inputs},\n]\n"
            f"TRAINING = {p.training}   # run under autograd.train_mode()\n"
            f"GRADS = {p.grads}   # also compare the inputs' gradients\n"
            f"ROUNDING = {p.rounding!r}   # per output: the coarsest float type it was rounded to\n"
            "# compare: python -m tests.fuzz.run --repro <this file>\n")


def compile_program(p: Program):
    scope: dict = {}
    exec(program_source(p), scope)    # noqa: S102 - test code running its own generated program
    return scope["program"]


# -- inputs -------------------------------------------------------------------------------------
@st.composite
def arrays(draw, shape=None, dtype=None, specials=True):
    dtype = dtype or draw(st.sampled_from(DTYPES))
    if shape is None:
        shape = tuple(draw(st.lists(st.sampled_from(DIMS), min_size=0, max_size=3)))
    size = int(onp.prod(shape)) if shape else 1
    seed = draw(st.integers(0, 2 ** 16))
    rng = onp.random.default_rng(seed)
    d = onp.dtype(dtype)
    if d.kind == "b":
        a = rng.random(size) < 0.5
    elif d.kind in "iu":
        lo = 0 if d.kind == "u" else -6
        a = rng.integers(lo, 7, size).astype(d)   # in d before its extremes go in (uint64's max is no int64)
        if draw(st.booleans()) and size:        # the type's extremes
            a[rng.integers(0, size)] = onp.iinfo(d).min
            a[rng.integers(0, size)] = onp.iinfo(d).max
    else:
        a = rng.uniform(-3, 3, size)
        if specials and size and draw(st.booleans()):
            for _ in range(draw(st.integers(1, 3))):
                a[rng.integers(0, size)] = SPECIALS[rng.integers(0, len(SPECIALS))]
    return onp.asarray(a).astype(d).reshape(shape)


# -- steps ----------------------------------------------------------------------------------------
# (template, float only, needs an exact operand, result exact when operands are)
UNARY = [
    ("-{a}", False, False, True), ("np.abs({a})", False, False, True), ("npx.relu({a})", True, False, True),
    ("np.exp({a})", True, False, False), ("np.tanh({a})", True, False, False), ("np.sin({a})", True, False, False),
    ("np.cos({a})", True, False, False), ("np.expm1({a})", True, False, False), ("np.sinh({a})", True, False, False),
    ("np.arcsinh({a})", True, False, False), ("npx.sigmoid({a})", True, False, False),
    ("npx.erf({a})", True, False, False), ("np.log(np.abs({a}) + 1.0)", True, False, False),
    ("np.log1p(np.abs({a}))", True, False, False), ("np.sqrt(np.abs({a}))", True, False, True),
    ("npx.gelu({a})", True, False, False), ("np.floor({a})", False, True, True), ("np.ceil({a})", False, True, True),
    ("np.round({a})", False, True, True), ("np.sign({a})", False, True, True), ("({a} > 0)", False, True, True),
    ("np.isnan({a})", True, True, True), ("np.stop_gradient({a})", False, False, True),
    ("npx.softmax({a})", True, False, False), ("npx.log_softmax({a})", True, False, False),
]
# sin/cos of an inexact operand: bounded first. Where one ulp of the operand is a sizeable part of
# the period (|x| ~ 1e10: 2048 in float32), a 1-ulp difference upstream (expm1 differs by one ulp
# between NumPy and the inline kernels) gives unrelated results: no configuration is wrong.
PERIODIC = {"np.sin({a})": "np.sin(np.clip({a}, -8.0, 8.0))", "np.cos({a})": "np.cos(np.clip({a}, -8.0, 8.0))"}
# control flow (npx.cond / foreach / while_loop); a predicate only reads exact values (max, not sum)
CONTROL = [
    "npx.cond(np.max({a}) > 0, lambda x: np.tanh(x) * 2.0, lambda x: x - 1.0, [{a}])",
    "npx.cond(lambda x: np.max(x) < 1.0, lambda x: x * x, lambda x: np.sin(np.clip(x, -8.0, 8.0)), [{a}])",
    "npx.foreach(lambda x, s: (x * 2.0 + s, s + np.tanh(x)), {a}, np.zeros_like({a}[0]))[0]",
    "npx.foreach(lambda x, s: (x * 2.0 + s, s + np.tanh(x)), {a}, np.zeros_like({a}[0]))[1]",
    "npx.while_loop(lambda i, x: i < 3, lambda i, x: (x, (i + 1, np.tanh(x) + 1.0)), "
    "[np.zeros((), 'int32'), {a}], max_iterations=4)[1][1]",
    "npx.while_loop(lambda i, x: i < 2, lambda i, x: (x * 0.5, (i + 1, x * 0.5)), "
    "[np.zeros((), 'int32'), {a}], max_iterations=3)[0]",
]
# markers of expressions with no gradient (non-differentiable ops, integer or bool results)
NONDIFF = ("np.floor", "np.ceil", "np.round", "np.sign", "> 0)", "np.isnan", "np.stop_gradient", "np.mod",
           "==", "np.argmax", ".astype('int", ".astype('uint", ".astype('bool")
CASTS = ["float32", "float16", "bfloat16", "float64", "int32", "int8", "uint8", "int64", "uint32", "bool"]
BINARY = [
    ("{a} + {b}", False, False), ("{a} - {b}", False, False), ("{a} * {b}", False, False),
    ("np.maximum({a}, {b})", False, False), ("np.minimum({a}, {b})", False, False),
    ("{a} / (np.abs({b}) + 1.0)", True, False), ("{a} / {b}", True, True),
    ("np.power(np.abs({a}) + 0.5, np.clip({b}, -4.0, 4.0))", True, False),
    ("np.mod({a}, {b})", False, True), ("np.floor_divide({a}, {b})", False, True),
    ("np.where({a} > {b}, {a}, {b})", False, True), ("({a} == {b})", False, True),
]


def coarsest(float_types: list) -> str:
    """The float type with the fewest mantissa bits among `float_types` ("" for none)."""
    return max(float_types, key=lambda t: -ml_dtypes.finfo(t).nmant if t else -1000, default="")


def _float(v: Value) -> bool:
    return is_float_dtype(v.dtype)


class _Builder:
    def __init__(self, draw, program: Program):
        self.draw, self.p = draw, program
        self.values: list[Value] = []
        self.env: dict = {}

    def add_input(self, array: onp.ndarray) -> Value:
        name = f"v{len(self.p.inputs)}"
        self.p.inputs.append(array)
        v = Value(name, array.shape, array.dtype.name, diff=is_float_dtype(array.dtype))
        self.values.append(v)
        self.env[name] = np.array(array)
        return v

    def try_step(self, expr: str, exact: bool, product: bool = False) -> bool:
        """Run `expr` eagerly on the values so far; keep it as a step when it is valid."""
        name = f"t{len(self.p.lines)}"
        scope = dict(self.env, np=np, npx=npx, onp=onp)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with hb.autograd.train_mode() if self.p.training else _null():
                    hb.np.random.seed(0)
                    out = eval(expr, scope)    # noqa: S307 - the generator's own expression
        except (hb.HybridError, ValueError, TypeError, IndexError, ZeroDivisionError):
            return False
        if not isinstance(out, hb.NDArray) or out.size > 4096:
            return False
        self.p.lines.append(f"{name} = {expr}")
        operands = [v for v in self.values if re.search(rf"\b{v.name}\b", expr)]
        diff = any(v.diff for v in operands) and not any(m in expr for m in NONDIFF)
        rounded = [v.rounding for v in operands] + ([out.dtype.name] if is_float_dtype(out.dtype) and not exact else [])
        v = Value(name, tuple(out.shape), out.dtype.name, exact, product, diff, coarsest(rounded))
        self.values.append(v)
        self.env[name] = out
        return True

    def pick(self, pred=lambda v: True):
        options = [v for v in self.values if pred(v)]
        return self.draw(st.sampled_from(options)) if options else None


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _broadcast_partner(b: _Builder, a: Value, exact_needed: bool) -> Value:
    same = b.pick(lambda v: _compatible(v.shape, a.shape) and (v.exact or not exact_needed) and v is not a)
    if same is not None and b.draw(st.booleans()):
        return same
    shape = tuple(d if b.draw(st.booleans()) else 1 for d in a.shape[len(a.shape) - b.draw(
        st.integers(0, len(a.shape))):]) if a.shape else ()
    return b.add_input(b.draw(arrays(shape=shape, dtype=b.draw(st.sampled_from([a.dtype, "float32"])))))


def _compatible(s: tuple, t: tuple) -> bool:
    return all(x == y or x == 1 or y == 1 for x, y in zip(reversed(s), reversed(t)))


def _axis(b: _Builder, v: Value):
    if not v.shape:
        return None
    return b.draw(st.one_of(st.none(), st.integers(-len(v.shape), len(v.shape) - 1)))


def step(b: _Builder) -> None:
    kind = b.draw(st.sampled_from(["unary", "unary", "binary", "binary", "cast", "reduce", "layout", "layout",
                                   "matmul", "nn", "control"]))
    a = b.pick()
    if kind == "unary":
        tmpl, float_only, needs_exact, keeps = b.draw(st.sampled_from(UNARY))
        if float_only and not _float(a) or needs_exact and not a.exact:
            return
        if tmpl in PERIODIC and not a.exact:
            tmpl = PERIODIC[tmpl]
        b.try_step(tmpl.format(a=a.name), exact=a.exact and keeps)
    elif kind == "binary":
        tmpl, float_only, needs_exact = b.draw(st.sampled_from(BINARY))
        if float_only and not _float(a) or needs_exact and not a.exact:
            return
        c = _broadcast_partner(b, a, needs_exact)
        sums = tmpl.startswith(("{a} +", "{a} -"))
        exact = a.exact and c.exact and not (sums and (a.product or c.product)) and "power" not in tmpl
        b.try_step(tmpl.format(a=a.name, b=c.name), exact, product=tmpl.startswith(("{a} *", "{a} /")))
    elif kind == "cast":
        dtype = b.draw(st.sampled_from(CASTS))
        if not dtype.startswith("float") and _float(a) and not a.exact:
            return
        b.try_step(f"{a.name}.astype({dtype!r})", exact=a.exact)
    elif kind == "reduce":
        fn = b.draw(st.sampled_from(["sum", "prod", "mean", "max", "min", "argmax"]))
        if fn == "argmax" and not a.exact:
            return
        if fn == "mean" and not _float(a) and onp.dtype(a.dtype).itemsize == 8:
            return   # a float64 sum of 64-bit integers rounds at each addition: the mean of [max, min, 0, -3]
            #          depends on the order of additions, which NumPy leaves unspecified too (pairwise)
        keep = b.draw(st.booleans())
        exact = a.exact and (fn in ("max", "min", "argmax") or not _float(a))
        b.try_step(f"np.{fn}({a.name}, axis={_axis(b, a)}" + (f", keepdims={keep})" if fn != "argmax" else ")"), exact)
    elif kind == "layout":
        b.try_step(_layout(b, a), exact=a.exact)
    elif kind == "matmul":
        if not _float(a) or not a.shape:
            return
        k = b.draw(st.sampled_from([1, 3, 4, 0]))
        w = b.add_input(b.draw(arrays(shape=(a.shape[-1], k), dtype=a.dtype, specials=False)))
        b.try_step(f"{a.name} @ {w.name}", exact=False)
    elif kind == "control":
        if _float(a):
            b.try_step(b.draw(st.sampled_from(CONTROL)).format(a=a.name), exact=False)
    else:
        _nn_step(b)


def _layout(b: _Builder, a: Value) -> str:
    n = a.name
    nd = len(a.shape)
    options = [f"np.reshape({n}, (-1,))", f"np.broadcast_to({n}, (2,) + {n}.shape)",
               f"np.concatenate([{n}, {n}], axis=0)" if nd else f"np.stack([{n}, {n}])",
               f"np.stack([{n}, {n}], axis={b.draw(st.integers(0, nd))})", f"np.expand_dims({n}, 0)"]
    if nd:
        step_ = b.draw(st.sampled_from([1, 2, -1, -2, 3]))
        start = b.draw(st.integers(-4, 4))
        options += [f"np.transpose({n})", f"np.flip({n}, {b.draw(st.integers(0, nd - 1))})",
                    f"{n}[{start}::{step_}]", f"{n}[..., ::{step_}]", f"{n}[{start}:{start}]",
                    f"np.repeat({n}, 2, axis={b.draw(st.integers(0, nd - 1))})",
                    f"np.pad({n}, 1, constant_values=0.5)", f"np.tile({n}, 2)"]
    if nd >= 2:
        options += [f"np.swapaxes({n}, 0, 1)", f"np.tril({n})"]
    return b.draw(st.sampled_from(options))


def _nn_step(b: _Builder) -> None:
    """Convolution, pooling, batch norm, dropout: on a fresh NCHW input (or a 4-D value)."""
    x = b.pick(lambda v: len(v.shape) == 4 and v.dtype == "float32")
    if x is None or b.draw(st.booleans()):
        shape = (b.draw(st.sampled_from([1, 2])), b.draw(st.sampled_from([1, 3])), b.draw(st.sampled_from([4, 5])),
                 b.draw(st.sampled_from([4, 6])))
        x = b.add_input(b.draw(arrays(shape=shape, dtype="float32")))
    c = x.shape[1]
    which = b.draw(st.sampled_from(["conv", "maxpool", "avgpool", "batchnorm", "dropout", "global"]))
    if which == "conv":
        out = b.draw(st.sampled_from([1, 2]))
        w = b.add_input(b.draw(arrays(shape=(out, c, 3, 3), dtype="float32", specials=False)))
        stride, pad = b.draw(st.sampled_from([1, 2])), b.draw(st.sampled_from([0, 1]))
        b.try_step(f"npx.convolution({x.name}, {w.name}, stride={stride}, padding={pad})", exact=False)
    elif which in ("maxpool", "avgpool"):
        kind = which[:3]
        b.try_step(f"npx.pooling({x.name}, kernel=2, stride={b.draw(st.sampled_from([1, 2]))}, "
                   f"padding={b.draw(st.sampled_from([0, 1]))}, pool_type={kind!r})", exact=x.exact and kind == "max")
    elif which == "global":
        b.try_step(f"npx.pooling({x.name}, global_pool=True, pool_type='avg')", exact=False)
    elif which == "batchnorm":
        stats = [b.add_input(b.draw(arrays(shape=(c,), dtype="float32", specials=False))) for _ in range(3)]
        var = b.add_input(onp.abs(b.draw(arrays(shape=(c,), dtype="float32", specials=False))) + 0.5)
        if b.p.training:
            b.try_step(f"npx.batch_norm({x.name}, {stats[0].name}, {stats[1].name}, {stats[2].name}, {var.name}, "
                       "use_batch_stats=True)[0]", exact=False)
        else:
            b.try_step(f"npx.batch_norm({x.name}, {stats[0].name}, {stats[1].name}, {stats[2].name}, {var.name})",
                       exact=False)
    else:
        b.try_step(f"npx.dropout({x.name}, p=0.5, training=True)", exact=False)


@st.composite
def programs(draw, max_steps: int = 12, grads: bool = False) -> Program:
    p = Program(training=draw(st.booleans()), grads=grads)
    b = _Builder(draw, p)
    for _ in range(draw(st.integers(1, 2))):
        b.add_input(draw(arrays(dtype="float32" if grads else None)))
    for _ in range(draw(st.integers(1, max_steps))):
        step(b)
    made = [v for v in b.values if v.name.startswith("t")] or b.values
    if grads:   # outputs must be float and differentiable (eager raises on a loss with no recorded computation)
        made = [v for v in made if _float(v) and v.diff] or [b.values[0]]
    count = draw(st.integers(1, min(3, len(made))))
    p.outputs = [v.name for v in made[-count:]]
    p.rounding = [v.rounding for v in made[-count:]]
    return p
