"""Fusion: text in, text out, and the interp backend gives the same numbers (the rewrite fixture)."""
import numpy
import pytest

import hybrid as hb
from hybrid.passes.fuse import MAX_INPUTS


def test_elementwise_chain_with_broadcast_becomes_one_kernel(rewrite):
    # scalar constants are copied into the body
    rewrite(["fuse"], """
        graph @f(%x: f32[8,128], %b: f32[128]) -> f32[8,128] {
          %0 = add(%x, %b) : f32[8,128]
          %1 = relu(%0) : f32[8,128]
          %2 = constant() {value=dense<f32[]: 2.0>} : f32[]
          %3 = mul(%1, %2) : f32[8,128]
          return %3
        }
    """, """
        graph @f(%x: f32[8,128], %b: f32[128]) -> f32[8,128] {
          %0 = fused(%x, %b) {kind="elementwise", name="k0"} : f32[8,128] {
            graph @k0(%i0: f32[8,128], %i1: f32[128]) -> f32[8,128] {
              %0 = add(%i0, %i1) : f32[8,128]
              %1 = relu(%0) : f32[8,128]
              %2 = constant() {value=dense<f32[]: 2.0>} : f32[]
              %3 = mul(%1, %2) : f32[8,128]
              return %3
            }
          }
          return %0
        }
    """)


def test_softmax_becomes_one_reduce_kernel(rewrite):
    rewrite(["fuse"], """
        graph @softmax(%x: f32[4,16]) -> f32[4,16] {
          %0 = max(%x) {axes=[1], keepdims=true} : f32[4,1]
          %1 = stop_gradient(%0) : f32[4,1]
          %2 = sub(%x, %1) : f32[4,16]
          %3 = exp(%2) : f32[4,16]
          %4 = sum(%3) {axes=[1], keepdims=true} : f32[4,1]
          %5 = div(%3, %4) : f32[4,16]
          return %5
        }
    """, """
        graph @softmax(%x: f32[4,16]) -> f32[4,16] {
          %0 = fused(%x) {kind="reduce", name="k0"} : f32[4,16] {
            graph @k0(%i0: f32[4,16]) -> f32[4,16] {
              %0 = max(%i0) {axes=[1], keepdims=true} : f32[4,1]
              %1 = stop_gradient(%0) : f32[4,1]
              %2 = sub(%i0, %1) : f32[4,16]
              %3 = exp(%2) : f32[4,16]
              %4 = sum(%3) {axes=[1], keepdims=true} : f32[4,1]
              %5 = div(%3, %4) : f32[4,16]
              return %5
            }
          }
          return %0
        }
    """)


def test_matmul_takes_bias_activation_and_residual_epilogue(rewrite):
    rewrite(["fuse"], """
        graph @dense(%x: f32[8,32], param %w: f32[16,32], param %b: f32[16], %r: f32[8,16]) -> f32[8,16] {
          %0 = matmul(%x, %w) {transpose_a=false, transpose_b=true} : f32[8,16]
          %1 = add(%0, %b) : f32[8,16]
          %2 = relu(%1) : f32[8,16]
          %3 = add(%2, %r) : f32[8,16]
          return %3
        }
    """, """
        graph @dense(%x: f32[8,32], param %w: f32[16,32], param %b: f32[16], %r: f32[8,16]) -> f32[8,16] {
          %0 = fused(%x, %w, %b, %r) {kind="matmul", name="k0"} : f32[8,16] {
            graph @k0(%i0: f32[8,32], %i1: f32[16,32], %i2: f32[16], %i3: f32[8,16]) -> f32[8,16] {
              %0 = matmul(%i0, %i1) {transpose_a=false, transpose_b=true} : f32[8,16]
              %1 = add(%0, %i2) : f32[8,16]
              %2 = relu(%1) : f32[8,16]
              %3 = add(%2, %i3) : f32[8,16]
              return %3
            }
          }
          return %0
        }
    """)


def test_fusion_never_creates_a_cycle(rewrite):
    # exp cannot join add: the transpose between them reads exp's result
    rewrite(["fuse"], """
        graph @f(%x: f32[4,4]) -> f32[4,4] {
          %0 = exp(%x) : f32[4,4]
          %1 = transpose(%0) {perm=[1, 0]} : f32[4,4]
          %2 = add(%0, %1) : f32[4,4]
          %3 = tanh(%2) : f32[4,4]
          return %3
        }
    """, """
        graph @f(%x: f32[4,4]) -> f32[4,4] {
          %0 = exp(%x) : f32[4,4]
          %1 = transpose(%0) {perm=[1, 0]} : f32[4,4]
          %2 = fused(%0, %1) {kind="elementwise", name="k0"} : f32[4,4] {
            graph @k0(%i0: f32[4,4], %i1: f32[4,4]) -> f32[4,4] {
              %0 = add(%i0, %i1) : f32[4,4]
              %1 = tanh(%0) : f32[4,4]
              return %1
            }
          }
          return %2
        }
    """)


def test_reductions_over_different_axes_stay_apart(rewrite):
    rewrite(["fuse"], """
        graph @f(%x: f32[4,6]) -> f32[1,1] {
          %0 = exp(%x) : f32[4,6]
          %1 = sum(%0) {axes=[1], keepdims=true} : f32[4,1]
          %2 = sum(%1) {axes=[0], keepdims=true} : f32[1,1]
          return %2
        }
    """, """
        graph @f(%x: f32[4,6]) -> f32[1,1] {
          %0 = fused(%x) {kind="reduce", name="k0"} : f32[4,1] {
            graph @k0(%i0: f32[4,6]) -> f32[4,1] {
              %0 = exp(%i0) : f32[4,6]
              %1 = sum(%0) {axes=[1], keepdims=true} : f32[4,1]
              return %1
            }
          }
          %1 = sum(%0) {axes=[0], keepdims=true} : f32[1,1]
          return %1
        }
    """)


def test_values_needed_outside_become_kernel_results(rewrite):
    # %0 is returned and %1 feeds the transpose: both are kernel results
    rewrite(["fuse"], """
        graph @f(%x: f32[4], %y: f32[4]) -> (f32[4], f32[4]) {
          %0 = exp(%x) : f32[4]
          %1 = mul(%0, %y) : f32[4]
          %2 = neg(%1) : f32[4]
          %3 = transpose(%1) {perm=[0]} : f32[4]
          %4 = add(%2, %3) : f32[4]
          return %4, %0
        }
    """, """
        graph @f(%x: f32[4], %y: f32[4]) -> (f32[4], f32[4]) {
          %0, %1, %2 = fused(%x, %y) {kind="elementwise", name="k0"} : f32[4], f32[4], f32[4] {
            graph @k0(%i0: f32[4], %i1: f32[4]) -> (f32[4], f32[4], f32[4]) {
              %0 = exp(%i0) : f32[4]
              %1 = mul(%0, %i1) : f32[4]
              %2 = neg(%1) : f32[4]
              return %0, %1, %2
            }
          }
          %3 = transpose(%1) {perm=[0]} : f32[4]
          %4 = add(%2, %3) : f32[4]
          return %4, %0
        }
    """)


def test_kernels_respect_the_operand_limit():
    graph = hb.ir.Graph("wide")
    acc = graph.add_input("x0", hb.ir.TensorType((4,), "f32"))
    for i in range(1, MAX_INPUTS + 4):
        acc = graph.add_node("add", [acc, graph.add_input(f"x{i}", acc.type)]).output
    graph.outputs = [acc]
    fused = hb.passes.run(graph, ["fuse"])
    kernels = [n for n in fused.nodes if n.op == "fused"]
    assert len(kernels) == 2
    assert all(len(k.inputs) <= MAX_INPUTS for k in kernels)


def test_lone_nodes_stay_plain(rewrite):
    text = """
        graph @f(%x: f32[4,8], %w: f32[8,2]) -> f32[8,4] {
          %0 = matmul(%x, %w) {transpose_a=false, transpose_b=false} : f32[4,2]
          %1 = transpose(%x) {perm=[1, 0]} : f32[8,4]
          %2 = exp(%1) : f32[8,4]
          return %2
        }
    """
    rewrite(["fuse", "dce"], text, """
        graph @f(%x: f32[4,8], %w: f32[8,2]) -> f32[8,4] {
          %0 = transpose(%x) {perm=[1, 0]} : f32[8,4]
          %1 = exp(%0) : f32[8,4]
          return %1
        }
    """)


def _kernels(fn, *shapes):
    rng = numpy.random.default_rng(0)
    args = [rng.standard_normal(s).astype(numpy.float32) for s in shapes]
    graph = hb.passes.run(hb.trace(fn, *args), ["dce", "cse", "fold_constants", "simplify", "dce", "fuse"])
    return [n for n in graph.nodes if n.op != "constant"]


@pytest.mark.parametrize("fn", [
    lambda x: hb.npx.softmax(x, axis=-1),
    lambda x: hb.npx.log_softmax(x, axis=-1),
    lambda x, g, b: hb.npx.layer_norm(x, g, b),
], ids=["softmax", "log_softmax", "layer_norm"])
def test_normalizations_become_one_or_two_kernels(fn):
    shapes = [(6, 32)] if fn.__code__.co_argcount == 1 else [(6, 32), (32,), (32,)]
    nodes = _kernels(fn, *shapes)
    assert 1 <= len(nodes) <= 2, [n.op for n in nodes]
    assert any(n.op == "fused" and n.attrs["kind"] == "reduce" for n in nodes)


def test_transformer_block_kernels_are_at_most_a_third_of_its_primitives():
    from hybrid.model_zoo import ZOO

    ctor, shape = ZOO["transformer"]
    net = ctor()
    net.initialize()
    graph = hb.trace(net, numpy.zeros(shape, numpy.float32))
    optimized = hb.passes.optimize(graph, 2).graph
    primitives = [n for n in graph.nodes if n.op != "constant"]
    kernels = [n for n in optimized.nodes if n.op != "constant"]
    assert len(kernels) * 3 <= len(primitives), (len(kernels), len(primitives))


def test_a_node_that_cannot_join_logs_why(monkeypatch, caplog):
    monkeypatch.setenv("HYBRID_LOG", "fusion")
    graph = hb.ir.parse("""
        graph @f(%x: f32[4,4]) -> f32[4,4] {
          %0 = exp(%x) : f32[4,4]
          %1 = transpose(%0) {perm=[1, 0]} : f32[4,4]
          %2 = add(%0, %1) : f32[4,4]
          return %2
        }
    """)
    with caplog.at_level("INFO", logger="hybrid"):
        hb.passes.run(graph, ["fuse"])
    assert "add" in caplog.text and "cycle through transpose" in caplog.text


def test_group_ids_stay_unique_after_a_producer_is_absorbed(rewrite):
    # reshape(%b) is absorbed into exp's kernel; the transpose's new group must not take the
    # id of neg's still-open group (regression: ids came from len(groups))
    rewrite(["fuse"], """
        graph @f(%x: f32[2,4], %b: f32[4], %y: f32[4,2]) -> f32[4,2] {
          %0 = exp(%x) : f32[2,4]
          %1 = reshape(%b) {shape=[1, 4]} : f32[1,4]
          %2 = neg(%y) : f32[4,2]
          %3 = add(%0, %1) : f32[2,4]
          %4 = transpose(%3) {perm=[1, 0]} : f32[4,2]
          %5 = add(%4, %2) : f32[4,2]
          return %5
        }
    """, """
        graph @f(%x: f32[2,4], %b: f32[4], %y: f32[4,2]) -> f32[4,2] {
          %0 = fused(%x, %b) {kind="elementwise", name="k0"} : f32[2,4] {
            graph @k0(%i0: f32[2,4], %i1: f32[4]) -> f32[2,4] {
              %0 = exp(%i0) : f32[2,4]
              %1 = reshape(%i1) {shape=[1, 4]} : f32[1,4]
              %2 = add(%0, %1) : f32[2,4]
              return %2
            }
          }
          %1 = transpose(%0) {perm=[1, 0]} : f32[4,2]
          %2 = fused(%y, %1) {kind="elementwise", name="k1"} : f32[4,2] {
            graph @k1(%i0: f32[4,2], %i1: f32[4,2]) -> f32[4,2] {
              %0 = neg(%i0) : f32[4,2]
              %1 = add(%i1, %0) : f32[4,2]
              return %1
            }
          }
          return %2
        }
    """)


def test_no_cycle_through_a_kernel_entered_twice():
    """Two scalar reductions whose elementwise tails cross (a LARS trust ratio): a kernel that
    reads one kernel through one member and feeds it through another is a cycle even when no
    single node depends on it; the grouping must see dependencies per kernel."""
    import numpy
    import hybrid as hb
    from hybrid import np

    def trust(w, g, lr):
        wn, gn = np.sqrt(np.sum(w * w)), np.sqrt(np.sum(g * g))
        scale = wn / (gn + wn * 0.01)
        return w - g * (lr * np.where((wn > 0) & (gn > 0), scale, 1.0))

    rng = numpy.random.default_rng(0)
    w, g = rng.random((4, 3), numpy.float32), rng.random((4, 3), numpy.float32)
    lr = numpy.array(0.1, numpy.float32)
    got = hb.hybridize(trust, backend="interp")(w, g, lr)
    numpy.testing.assert_allclose(got.asnumpy(), trust(np.array(w), np.array(g), 0.1).asnumpy(), rtol=1e-6)


def test_rotary_embedding_crossing_products_fuse_without_a_cycle(rewrite):
    """The rotary-embedding graph (ONNX RotaryEmbedding): two tables each multiply both halves of x,
    and each half is read by both the difference and the sum. The pass once checked cycles with
    per-node ancestor bitsets fixed when each node was placed, which missed the dependencies a kernel
    gains when it later grows or absorbs a producer, and emitted a cycle between kernels here ("fusion
    produced a cycle", seen importing ONNX RotaryEmbedding); group-level reachability kept closed as
    kernels grow and merge orders them."""
    rewrite(["fuse"], """
        graph @rotary(%x: f32[2,3,4,8], %cos: f32[2,3,4], %sin: f32[2,3,4]) -> f32[2,3,4,8] {
          %0 = exp(%cos) : f32[2,3,4]
          %1 = exp(%sin) : f32[2,3,4]
          %2 = reshape(%0) {shape=[2, 3, 1, 4]} : f32[2,3,1,4]
          %3 = reshape(%1) {shape=[2, 3, 1, 4]} : f32[2,3,1,4]
          %4 = slice(%x) {begin=[0, 0, 0, 0], end=[2, 3, 4, 4], step=[1, 1, 1, 1]} : f32[2,3,4,4]
          %5 = slice(%x) {begin=[0, 0, 0, 4], end=[2, 3, 4, 8], step=[1, 1, 1, 1]} : f32[2,3,4,4]
          %6 = mul(%2, %4) : f32[2,3,4,4]
          %7 = mul(%3, %5) : f32[2,3,4,4]
          %8 = sub(%6, %7) : f32[2,3,4,4]
          %9 = mul(%3, %4) : f32[2,3,4,4]
          %10 = mul(%2, %5) : f32[2,3,4,4]
          %11 = add(%9, %10) : f32[2,3,4,4]
          %12 = concat(%8, %11) {axis=3} : f32[2,3,4,8]
          return %12
        }
    """, """
        graph @rotary(%x: f32[2,3,4,8], %cos: f32[2,3,4], %sin: f32[2,3,4]) -> f32[2,3,4,8] {
          %0 = slice(%x) {begin=[0, 0, 0, 0], end=[2, 3, 4, 4], step=[1, 1, 1, 1]} : f32[2,3,4,4]
          %1 = slice(%x) {begin=[0, 0, 0, 4], end=[2, 3, 4, 8], step=[1, 1, 1, 1]} : f32[2,3,4,4]
          %2, %3 = fused(%sin, %1, %0) {kind="elementwise", name="k0"} : f32[2,3,4,4], f32[2,3,4,4] {
            graph @k0(%i0: f32[2,3,4], %i1: f32[2,3,4,4], %i2: f32[2,3,4,4]) -> (f32[2,3,4,4], f32[2,3,4,4]) {
              %0 = exp(%i0) : f32[2,3,4]
              %1 = reshape(%0) {shape=[2, 3, 1, 4]} : f32[2,3,1,4]
              %2 = mul(%1, %i1) : f32[2,3,4,4]
              %3 = mul(%1, %i2) : f32[2,3,4,4]
              return %2, %3
            }
          }
          %4, %5 = fused(%cos, %0, %2, %1, %3) {kind="elementwise", name="k1"} : f32[2,3,4,4], f32[2,3,4,4] {
            graph @k1(%i0: f32[2,3,4], %i1: f32[2,3,4,4], %i2: f32[2,3,4,4], %i3: f32[2,3,4,4], %i4: f32[2,3,4,4]) -> (f32[2,3,4,4], f32[2,3,4,4]) {
              %0 = exp(%i0) : f32[2,3,4]
              %1 = reshape(%0) {shape=[2, 3, 1, 4]} : f32[2,3,1,4]
              %2 = mul(%1, %i1) : f32[2,3,4,4]
              %3 = sub(%2, %i2) : f32[2,3,4,4]
              %4 = mul(%1, %i3) : f32[2,3,4,4]
              %5 = add(%i4, %4) : f32[2,3,4,4]
              return %3, %5
            }
          }
          %6 = concat(%4, %5) {axis=3} : f32[2,3,4,8]
          return %6
        }
    """)


def test_matmul_reads_a_reshaped_operand_in_place(rewrite):
    # LeNet's flatten between pooling and the first dense layer: the reshape view joins the matmul kernel
    # (no copy kernel of its own)
    rewrite(["fuse"], """
        graph @head(%x: f32[2,4,6,6], %w: f32[5,36], %b: f32[5]) -> f32[2,5] {
          %0 = max_pool2d(%x) {kernel=[2, 2], stride=[2, 2], padding=[0, 0]} : f32[2,4,3,3]
          %1 = reshape(%0) {shape=[2, 36]} : f32[2,36]
          %2 = matmul(%1, %w) {transpose_b=true} : f32[2,5]
          %3 = add(%2, %b) : f32[2,5]
          return %3
        }
    """, """
        graph @head(%x: f32[2,4,6,6], %w: f32[5,36], %b: f32[5]) -> f32[2,5] {
          %0 = max_pool2d(%x) {kernel=[2, 2], stride=[2, 2], padding=[0, 0]} : f32[2,4,3,3]
          %1 = fused(%0, %w, %b) {kind="matmul", name="k0"} : f32[2,5] {
            graph @k0(%i0: f32[2,4,3,3], %i1: f32[5,36], %i2: f32[5]) -> f32[2,5] {
              %0 = reshape(%i0) {shape=[2, 36]} : f32[2,36]
              %1 = matmul(%0, %i1) {transpose_b=true} : f32[2,5]
              %2 = add(%1, %i2) : f32[2,5]
              return %2
            }
          }
          return %1
        }
    """)


def test_pooling_ends_a_convolution_kernel(rewrite):
    """conv -> bias -> ReLU -> pooling is one kernel (the LLVM backend pools in the convolution's output loop:
    tests/codegen/test_conv_direct.py); the pooled value's consumer starts the next one."""
    rewrite(["fuse"], """
        graph @f(%x: f32[2,3,8,8], param %w: f32[4,3,3,3], param %b: f32[1,4,1,1]) -> f32[2,4,4,4] {
          %0 = conv2d(%x, %w) {stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1} : f32[2,4,8,8]
          %1 = add(%0, %b) : f32[2,4,8,8]
          %2 = relu(%1) : f32[2,4,8,8]
          %3 = max_pool2d(%2) {kernel=[2, 2], stride=[2, 2], padding=[0, 0]} : f32[2,4,4,4]
          %4 = tanh(%3) : f32[2,4,4,4]
          return %4
        }
    """, """
        graph @f(%x: f32[2,3,8,8], param %w: f32[4,3,3,3], param %b: f32[1,4,1,1]) -> f32[2,4,4,4] {
          %0 = fused(%x, %w, %b) {kind="conv", name="k0"} : f32[2,4,4,4] {
            graph @k0(%i0: f32[2,3,8,8], %i1: f32[4,3,3,3], %i2: f32[1,4,1,1]) -> f32[2,4,4,4] {
              %0 = conv2d(%i0, %i1) {stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1} : f32[2,4,8,8]
              %1 = add(%0, %i2) : f32[2,4,8,8]
              %2 = relu(%1) : f32[2,4,8,8]
              %3 = max_pool2d(%2) {kernel=[2, 2], stride=[2, 2], padding=[0, 0]} : f32[2,4,4,4]
              return %3
            }
          }
          %1 = tanh(%0) : f32[2,4,4,4]
          return %1
        }
    """)
