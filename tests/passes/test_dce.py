def test_dce_drops_unread_nodes(rewrite):
    rewrite(["dce"], """
        graph @f(%x: f32[4], %y: f32[4]) -> f32[4] {
          %0 = exp(%x) : f32[4]
          %1 = add(%0, %y) : f32[4]
          %2 = mul(%0, %0) : f32[4]
          %3 = tanh(%2) : f32[4]
          return %1
        }
    """, """
        graph @f(%x: f32[4], %y: f32[4]) -> f32[4] {
          %0 = exp(%x) : f32[4]
          %1 = add(%0, %y) : f32[4]
          return %1
        }
    """)


def test_dce_keeps_every_read_node_and_unused_inputs(rewrite):
    text = """
        graph @f(%x: f32[4], %unused: f32[4]) -> (f32[4], f32[4]) {
          %0 = exp(%x) : f32[4]
          %1 = neg(%0) : f32[4]
          return %0, %1
        }
    """
    rewrite(["dce"], text, text)
