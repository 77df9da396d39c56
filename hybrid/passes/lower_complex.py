"""lower_complex: complex arithmetic rewritten as real arithmetic on (re, im) pairs, so that every
backend compiles it with the kernels it already has.

A complex value of shape S becomes a real value of shape S + (2,) (its re and im along a last
axis: the bytes of a complex array, so graph inputs and outputs need no copy): complex inputs are
read through `view_real`, complex outputs written through `view_complex`, complex constants
become pair constants. Each op is rewritten once, here, from registry primitives:
  add/sub/neg/stop_gradient on the pairs directly; conj multiplies by (1, -1); mul, abs (hypot),
  eq/ne, where, cast, real/imag on the parts; div (Smith's algorithm, as NumPy), pow, exp, log,
  sqrt, the trigonometric and hyperbolic functions and their inverses, expm1, log1p, log2, log10,
  exp2 and sign from their real and imaginary parts (passes/complex_math.py);
  sum over the same axes; layout ops (reshape, transpose, broadcast_to, slice, concat, pad, take)
  with the pair axis appended (take_grad too); matmul as four real products; svd and eigh as the same ops on
  pairs (LAPACK's c/z routines take complex arrays as such pairs); fft/rfft/irfft by Cooley-Tukey steps of
  small DFT products (passes/fourier.py: O(n log n) for smooth lengths).
Any other op on a complex value is an error naming it, its dtype and the line. Regions (control
flow, fused kernels) holding complex values are refused the same way. The pass manager runs it
first, at every opt level, on graphs that hold complex values (manager.holds_complex).
"""
from __future__ import annotations

from typing import Optional

import numpy

from ..errors import HybridError
from ..ir.graph import Graph, Node, Value
from ..ir.types import COMPLEX_PART, TensorType, is_complex, to_numpy_dtype
from . import complex_math, fourier
from .manager import holds_complex, register_pass

ELEMENTWISE_PAIRS = ("add", "sub", "neg", "stop_gradient")   # the same op on (re, im) pairs


def _has_complex(types) -> bool:
    return any(is_complex(t.dtype) for t in types)




class _Lowering:
    def __init__(self, graph: Graph):
        self.old = graph
        self.g = Graph(graph.name)
        self.map: dict[Value, Value] = {}      # real values: old -> new
        self.pair: dict[Value, Value] = {}     # complex values: old -> new (re, im) pairs
        self.loc: Optional[str] = None
        self.math = complex_math.ComplexMath(self.op, self.const)
        self.fourier = fourier.Fourier(self.op, self.const)

    # -- emitting ------------------------------------------------------------------------------
    def op(self, name: str, *inputs: Value, **attrs) -> Value:
        return self.g.add_node(name, list(inputs), attrs, self.loc).output

    def const(self, value, dtype: str) -> Value:
        return self.op("constant", value=numpy.asarray(value, to_numpy_dtype(dtype)))

    def re(self, p: Value) -> Value:
        return self._part(p, 0)

    def im(self, p: Value) -> Value:
        return self._part(p, 1)

    def _part(self, p: Value, k: int) -> Value:
        shape = p.type.shape
        nd = len(shape)
        sliced = self.op("slice", p, begin=(0,) * (nd - 1) + (k,), end=shape[:-1] + (k + 1,), step=(1,) * nd)
        return self.op("reshape", sliced, shape=shape[:-1])

    def make(self, re: Value, im: Value) -> Value:
        """(re, im) pairs from two real values of one dtype (broadcast against each other)."""
        shape = tuple(numpy.broadcast_shapes(re.type.shape, im.type.shape))
        parts = []
        for v in (re, im):
            if v.type.shape != shape:
                v = self.op("broadcast_to", v, shape=shape)
            parts.append(self.op("reshape", v, shape=shape + (1,)))
        return self.op("concat", *parts, axis=len(shape))

    # -- the rewrite ---------------------------------------------------------------------------
    def run(self) -> Graph:
        for v in self.old.inputs:
            new = self.g.add_input(v.name, v.type, v.name in self.old.param_names)
            if is_complex(v.dtype):
                self.pair[v] = self.op("view_real", new)
            else:
                self.map[v] = new
        for node in self.old.nodes:
            self.loc = node.loc
            types = [v.type for v in node.inputs] + [o.type for o in node.outputs]
            if node.regions and (_has_complex(types) or any(holds_complex(r) for r in node.regions)):
                raise self._error(node, "inside control flow (cond/while_loop/scan) or an already fused kernel")
            if not _has_complex(types):
                new = self.g.add_node(node.op, [self.map[v] for v in node.inputs], node.attrs, node.loc,
                                      [o.type for o in node.outputs], node.regions)
                self.map.update(zip(node.outputs, new.outputs))
                continue
            result = self.lower(node)
            (out,) = node.outputs
            (self.pair if is_complex(out.dtype) else self.map)[out] = result
        self.loc = None
        self.g.outputs = [self.op("view_complex", self.pair[v]) if is_complex(v.dtype) else self.map[v]
                          for v in self.old.outputs]
        return self.g

    def _error(self, node: Node, why: str = "this op") -> HybridError:
        types = [v.type for v in node.inputs] + [o.type for o in node.outputs]
        dtype = next((t.dtype for t in types if is_complex(t.dtype)), "complex values")
        where = f" at {node.loc}" if node.loc else ""
        return HybridError(
            f"{node.op} on {dtype}{where}: compiled code computes complex numbers for arithmetic, abs/real/imag/"
            f"conj/angle, the elementary functions (exp, log, sqrt, pow, trigonometric, hyperbolic), sums, layout "
            f"ops, matmul, svd/eigh and the FFTs, not {why}. Run it eagerly (outside the "
            "hybridized function), or write it with np.real/np.imag")

    def lower(self, node: Node) -> Value:
        op, attrs = node.op, node.attrs
        ins = node.inputs
        P = [self.pair.get(v) for v in ins]               # the pairs of the complex operands
        R = [self.map.get(v) for v in ins]                # the real operands
        out_t = node.outputs[0].type
        if op == "constant":
            value = numpy.array(attrs["value"])      # a C-ordered copy (0-d stays 0-d)
            return self.const(value.reshape(-1).view(value.real.dtype).reshape(value.shape + (2,)),
                              COMPLEX_PART[out_t.dtype])
        if op in ELEMENTWISE_PAIRS:
            return self.op(op, *P)
        if op == "conj":
            return self.op("mul", P[0], self.const([1, -1], COMPLEX_PART[out_t.dtype]))
        if op == "real":
            return self.re(P[0])
        if op == "imag":
            return self.im(P[0])
        if op == "view_real":
            return P[0]
        if op == "view_complex":
            return R[0]
        if op == "mul":
            (ar, ai), (br, bi) = self._parts(P[0]), self._parts(P[1])
            return self.make(self.op("sub", self.op("mul", ar, br), self.op("mul", ai, bi)),
                             self.op("add", self.op("mul", ar, bi), self.op("mul", ai, br)))
        if op in ("div", "pow"):
            return self.make(*getattr(self.math, op)(self._parts(P[0]), self._parts(P[1])))
        if op == "abs":
            return self.op("hypot", *self._parts(P[0]))
        if op in complex_math.UNARY:
            return self.make(*getattr(self.math, op)(self._parts(P[0])))
        if op in ("eq", "ne"):
            (ar, ai), (br, bi) = self._parts(P[0]), self._parts(P[1])
            join = "logical_and" if op == "eq" else "logical_or"
            return self.op(join, self.op(op, ar, br), self.op(op, ai, bi))
        if op == "where":
            cond = R[0]
            cond = self.op("reshape", cond, shape=cond.type.shape + (1,))
            return self.op("where", cond, P[1], P[2])
        if op == "cast":
            return self._cast(node, P[0], R[0], ins[0].type, attrs["dtype"])
        if op == "sum":
            return self.op("sum", P[0], axes=tuple(attrs["axes"]), keepdims=attrs["keepdims"])
        if op == "reshape":
            return self.op("reshape", P[0], shape=tuple(attrs["shape"]) + (2,))
        if op == "broadcast_to":
            return self.op("broadcast_to", P[0], shape=tuple(attrs["shape"]) + (2,))
        if op == "transpose":
            perm = tuple(attrs["perm"])
            return self.op("transpose", P[0], perm=perm + (len(perm),))
        if op == "slice":
            return self.op("slice", P[0], begin=tuple(attrs["begin"]) + (0,), end=tuple(attrs["end"]) + (2,),
                           step=tuple(attrs["step"]) + (1,))
        if op == "concat":
            return self.op("concat", *P, axis=attrs["axis"])
        if op in ("take", "take_grad"):
            return self.op(op, P[0], R[1], **attrs)
        if op == "pad":
            value = complex(attrs["value"])
            parts = [self.op("pad", part, pads=tuple(attrs["pads"]), value=v)
                     for part, v in zip(self._parts(P[0]), (value.real, value.imag))]
            return self.make(*parts)
        if op == "matmul":
            ta, tb = attrs.get("transpose_a", False), attrs.get("transpose_b", False)
            (ar, ai), (br, bi) = self._parts(P[0]), self._parts(P[1])
            mm = lambda x, y: self.op("matmul", x, y, transpose_a=ta, transpose_b=tb)  # noqa: E731
            return self.make(self.op("sub", mm(ar, br), mm(ai, bi)), self.op("add", mm(ar, bi), mm(ai, br)))
        if op in ("svd", "eigh"):       # LAPACK's complex routines read and write the pairs as they are
            return self.op(op, P[0], **attrs, pairs=True)
        if op == "fft":
            if P[0].type.shape[-2] == 0:
                return P[0]
            return self.make(*self.fourier.fft(self._parts(P[0]), attrs.get("inverse", False)))
        if op == "rfft":
            return self.make(*self.fourier.rfft(R[0]))
        if op == "irfft":
            return self.fourier.irfft(self._parts(P[0]), attrs["n"])
        raise self._error(node)

    def _parts(self, p: Value) -> tuple[Value, Value]:
        return self.re(p), self.im(p)

    def _cast(self, node: Node, p: Optional[Value], x: Optional[Value], src: TensorType, dtype: str) -> Value:
        if p is not None and is_complex(dtype):           # c64 <-> c128
            return self.op("cast", p, dtype=COMPLEX_PART[dtype])
        if p is not None:                                 # to a real type: NumPy keeps the real part
            if dtype == "bool":
                re, im = self._parts(p)
                zero = self.const(0, re.type.dtype)
                return self.op("logical_or", self.op("ne", re, zero), self.op("ne", im, zero))
            return self.op("cast", self.re(p), dtype=dtype)
        part = COMPLEX_PART[dtype]
        re = x if src.dtype == part else self.op("cast", x, dtype=part)
        zero = self.op("broadcast_to", self.const(0, part), shape=src.shape) if src.shape else self.const(0, part)
        return self.make(re, zero)


@register_pass("lower_complex")
def lower_complex(graph: Graph, **_) -> Graph:
    """Complex values as (re, im) pairs of reals (see the module doc); graphs without complex values
    are returned as they are."""
    if not holds_complex(graph):
        return graph
    return _Lowering(graph).run()

