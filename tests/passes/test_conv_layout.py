"""The channel-blocked layout pass (passes/conv_layout.py), text in / text out; the `rewrite` fixture also runs
both graphs on interp and asserts the numbers are unchanged. The backend rule here blocks every convolution
by 4 channels (a stand-in for a backend's rule: the LLVM one is tested in tests/codegen/test_conv_blocked.py)."""
import numpy

import hybrid as hb
from hybrid.codegen import build

from conftest import ir, random_inputs


def every_conv(node):
    return 4


HEAD = "graph @f(%x: f32[2,3,6,7], param %w1: f32[5,3,3,3], %b: f32[1,5,1,1], param %w2: f32[4,5,3,3])"
CONV1 = "%0 = conv2d(%x, %w1) {stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1} : f32[2,5,6,7]"
CHAIN = f"""
    {HEAD} -> f32[2,4,3,7] {{
      {CONV1}
      %1 = add(%0, %b) : f32[2,5,6,7]
      %2 = relu(%1) : f32[2,5,6,7]
      %3 = conv2d(%2, %w2) {{stride=[2, 1], padding=[1, 1], dilation=[1, 1], groups=1}} : f32[2,4,3,7]
      return %3
    }}
"""


def test_convolution_fed_by_a_convolution_reads_the_blocked_layout(rewrite):
    """5 channels in blocks of 4 (the last block half empty), stride 2 x 1, batch 2."""
    rewrite(["conv_layout"], CHAIN, f"""
        {HEAD} -> f32[2,4,3,7] {{
          {CONV1}
          %1 = add(%0, %b) : f32[2,5,6,7]
          %2 = relu(%1) : f32[2,5,6,7]
          %3 = to_blocked(%2) {{block=4, pad=[1, 1]}} : f32[2,2,8,9,4]
          %4 = conv2d_blocked(%3, %w2) {{stride=[2, 1], dilation=[1, 1]}} : f32[2,4,3,7]
          return %4
        }}
    """, conv_layout=every_conv)


def test_chains_of_convolutions_stay_blocked(rewrite):
    """Batch 1, unequal padding and a dilation: each convolution fed by one is rewritten, the first is not."""
    rewrite(["conv_layout"], """
        graph @f(%x: f32[1,4,5,9], %w1: f32[6,4,3,3], %w2: f32[7,6,3,3], %w3: f32[3,7,1,3]) -> f32[1,3,1,9] {
          %0 = conv2d(%x, %w1) {stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1} : f32[1,6,5,9]
          %1 = conv2d(%0, %w2) {stride=[1, 1], padding=[0, 1], dilation=[2, 1], groups=1} : f32[1,7,1,9]
          %2 = conv2d(%1, %w3) {stride=[1, 1], padding=[0, 1], dilation=[1, 1], groups=1} : f32[1,3,1,9]
          return %2
        }
    """, """
        graph @f(%x: f32[1,4,5,9], %w1: f32[6,4,3,3], %w2: f32[7,6,3,3], %w3: f32[3,7,1,3]) -> f32[1,3,1,9] {
          %0 = conv2d(%x, %w1) {stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1} : f32[1,6,5,9]
          %1 = to_blocked(%0) {block=4, pad=[0, 1]} : f32[1,2,5,11,4]
          %2 = conv2d_blocked(%1, %w2) {stride=[1, 1], dilation=[2, 1]} : f32[1,7,1,9]
          %3 = to_blocked(%2) {block=4, pad=[0, 1]} : f32[1,2,1,11,4]
          %4 = conv2d_blocked(%3, %w3) {stride=[1, 1], dilation=[1, 1]} : f32[1,3,1,9]
          return %4
        }
    """, conv_layout=every_conv)


def test_other_readers_keep_the_nchw_value(rewrite):
    """The value is also read by an elementwise op and returned: those keep reading the NCHW value (the
    producer's kernel will store both layouts)."""
    rewrite(["conv_layout"], f"""
        {HEAD} -> (f32[2,4,6,7], f32[2,5,6,7], f32[2,5,6,7]) {{
          {CONV1}
          %1 = relu(%0) : f32[2,5,6,7]
          %2 = conv2d(%1, %w2) {{stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1}} : f32[2,4,6,7]
          %3 = add(%1, %b) : f32[2,5,6,7]
          return %2, %3, %1
        }}
    """, f"""
        {HEAD} -> (f32[2,4,6,7], f32[2,5,6,7], f32[2,5,6,7]) {{
          {CONV1}
          %1 = relu(%0) : f32[2,5,6,7]
          %2 = to_blocked(%1) {{block=4, pad=[1, 1]}} : f32[2,2,8,9,4]
          %3 = conv2d_blocked(%2, %w2) {{stride=[1, 1], dilation=[1, 1]}} : f32[2,4,6,7]
          %4 = add(%1, %b) : f32[2,5,6,7]
          return %3, %4, %1
        }}
    """, conv_layout=every_conv)


def test_one_blocked_copy_per_value(rewrite):
    """Two convolutions with the same padding share one blocked copy; one with another padding reads NCHW."""
    rewrite(["conv_layout"], f"""
        {HEAD} -> (f32[2,4,6,7], f32[2,4,6,7], f32[2,4,4,5]) {{
          {CONV1}
          %1 = conv2d(%0, %w2) {{stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1}} : f32[2,4,6,7]
          %2 = conv2d(%0, %w2) {{stride=[2, 1], padding=[1, 1], dilation=[1, 1], groups=1}} : f32[2,4,3,7]
          %3 = conv2d(%0, %w2) {{stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1}} : f32[2,4,4,5]
          return %1, %2, %3
        }}
    """.replace("f32[2,4,6,7], f32[2,4,6,7], f32", "f32[2,4,6,7], f32[2,4,3,7], f32"), f"""
        {HEAD} -> (f32[2,4,6,7], f32[2,4,3,7], f32[2,4,4,5]) {{
          {CONV1}
          %1 = to_blocked(%0) {{block=4, pad=[1, 1]}} : f32[2,2,8,9,4]
          %2 = conv2d_blocked(%1, %w2) {{stride=[1, 1], dilation=[1, 1]}} : f32[2,4,6,7]
          %3 = conv2d_blocked(%1, %w2) {{stride=[2, 1], dilation=[1, 1]}} : f32[2,4,3,7]
          %4 = conv2d(%0, %w2) {{stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1}} : f32[2,4,4,5]
          return %2, %3, %4
        }}
    """, conv_layout=every_conv)


UNCHANGED = {
    "not from a convolution": f"""
        {HEAD} -> f32[2,4,3,3] {{
          {CONV1}
          %1 = max_pool2d(%0) {{kernel=[2, 2], stride=[2, 2], padding=[0, 0]}} : f32[2,5,3,3]
          %2 = conv2d(%1, %w2) {{stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1}} : f32[2,4,3,3]
          return %2
        }}
    """,
    "fewer channels than a block": """
        graph @f(%x: f32[1,4,5,5], %w1: f32[3,4,3,3], %w2: f32[2,3,3,3]) -> f32[1,2,5,5] {
          %0 = conv2d(%x, %w1) {stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1} : f32[1,3,5,5]
          %1 = conv2d(%0, %w2) {stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1} : f32[1,2,5,5]
          return %1
        }
    """,
    "grouped": """
        graph @f(%x: f32[1,4,5,5], %w1: f32[8,4,3,3], %w2: f32[4,4,3,3]) -> f32[1,4,5,5] {
          %0 = conv2d(%x, %w1) {stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1} : f32[1,8,5,5]
          %1 = conv2d(%0, %w2) {stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=2} : f32[1,4,5,5]
          return %1
        }
    """,
}


def test_values_from_other_producers_keep_nchw(rewrite):
    for name, text in UNCHANGED.items():
        try:
            rewrite(["conv_layout"], text, text, conv_layout=every_conv)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None


def test_without_a_backend_rule_nothing_changes(rewrite):
    rewrite(["conv_layout"], CHAIN, CHAIN)


def test_a_rule_declining_the_producer_keeps_nchw(rewrite):
    """The producer's kernel does not store the blocked layout (the rule declines it): nothing to save."""
    rewrite(["conv_layout"], CHAIN, CHAIN, conv_layout=lambda node: 4 if node.inputs[0].shape[1] == 5 else None)


def test_blocked_graph_through_fusion_equals_the_original_on_interp():
    """After the pass, fusion puts the to_blocked at the end of the producer's kernel; the fused graph runs on
    interp with the original graph's numbers (the optimize pipeline with the rule, opt level 2)."""
    graph = ir(CHAIN)
    optimized = hb.passes.optimize(graph, conv_layout=every_conv).graph
    kernel = next(n for n in optimized.nodes if n.op == "fused")
    assert [n.op for n in kernel.regions[0].nodes] == ["conv2d", "add", "relu", "to_blocked"]
    assert [n.op for n in optimized.nodes if n.op != "fused"] == ["conv2d_blocked"]
    inputs = random_inputs(graph)
    for got, want in zip(build(optimized, "interp")(inputs), build(graph, "interp")(inputs)):
        numpy.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
