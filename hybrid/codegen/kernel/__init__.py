"""hybrid.codegen.kernel: the backend-neutral kernel description: what one fused node (or plain primitive node)
computes, stated once, so the LLVM and CUDA backends only render it.

Stages of `lower_node`:
  1. give every value of the node's (sub)graph a *lazy* form: a function from an index tuple
     (typed `E` expressions of loop variables) to the value's scalar `E` at that index.
     Elementwise ops substitute their registry scalar expression; layout ops
     (reshape/transpose/slice/concat/pad/broadcast_to/take) are index maps; iota and
     random_uniform (threefry2x32) are expressions of the index.
  2. materialize what must be: reductions and pooling (a `Stage` whose expression holds a
     `reduce`), matmul/conv2d (a `GemmStage`; conv2d pads its input once, then an all-affine
     im2col `Stage` fills a (N, G, Cg, KH, KW, OH, OW) column buffer that the GEMM reads as
     (N, G) stacks of Kc x P matrices; its gradients lower to GEMMs plus gathers), and the
     kernel's outputs. Materialized values are read back through `load`.
  3. fold a GEMM's elementwise tail into its `epilogue` when it reads the product at the
     same index (bias, activation, residual), and simplify all index arithmetic.

Expressions (`E`): op is a SCALAR_OPS name (hybrid/ir/scalar.py, typed here) or one of
  const (value), ivar (value = loop variable id, i64), load (value = buffer name, args =
  one i64 index per buffer dim; buffers are dense row-major), reduce (value = Reduction,
  args = (body,)), acc (the GEMM product at the current element, in an epilogue),
  idiv (floor division of non-negative i64), shr (logical shift right of u32),
  threefry (args = k0, k1, counter, all u32 -> the first output word of threefry2x32).
Loads are always in bounds: guarded reads (pad, concat, pooling windows) clamp the index
and select the fill value, so renderers may evaluate both sides of a select.

Modules: expr (E, constructors, traversals), index_math (index arithmetic), describe (the
dataclasses renderers read), scalar (registry scalar expressions -> E), context (the
lowering's state), lower (lower_node, lazy values, reductions, pooling), gemm (matmul, conv2d),
grads (the gradient ops), epilogue (GEMM epilogue folding).
"""
from .context import Lazy, identity_buffer
from .describe import (Buffer, GemmStage, Kernel, LapackStage, PoolGeometry, Reduction, SortStage, Stage, fresh_var,
                       stage_over, stage_reads, temp_buffer)
from .expr import (INDEX, KERNEL_OPS, E, both, cast, clamp, const, iadd, iconst_op, imax, imin, imul, in_range, ivar,
                   load, rewrite, select, substitute, walk)
from .index_math import affine, bounds, evaluate, flat_affine, simplify
from .lower import lower_node
from .scalar import from_scalar

__all__ = ["INDEX", "KERNEL_OPS", "E", "Buffer", "GemmStage", "Kernel", "LapackStage", "Lazy", "PoolGeometry", "Reduction",
           "SortStage", "Stage", "affine", "flat_affine",
           "both", "bounds", "cast", "clamp", "const", "evaluate", "fresh_var", "from_scalar", "iadd", "iconst_op",
           "identity_buffer", "imax", "imin", "imul", "in_range", "ivar", "load", "lower_node", "rewrite", "select",
           "simplify", "stage_over", "stage_reads", "substitute", "temp_buffer", "walk"]
