def test_cse_merges_commutative_operands_in_either_order(rewrite):
    rewrite(["cse", "dce"], """
        graph @f(%a: f32[4], %b: f32[4]) -> f32[4] {
          %0 = add(%a, %b) : f32[4]
          %1 = add(%b, %a) : f32[4]
          %2 = mul(%0, %1) : f32[4]
          return %2
        }
    """, """
        graph @f(%a: f32[4], %b: f32[4]) -> f32[4] {
          %0 = add(%a, %b) : f32[4]
          %1 = mul(%0, %0) : f32[4]
          return %1
        }
    """)


def test_cse_keeps_order_of_non_commutative_ops(rewrite):
    text = """
        graph @f(%a: f32[4], %b: f32[4]) -> f32[4] {
          %0 = sub(%a, %b) : f32[4]
          %1 = sub(%b, %a) : f32[4]
          %2 = mul(%0, %1) : f32[4]
          return %2
        }
    """
    rewrite(["cse"], text, text)


def test_cse_merges_equal_constants_and_chains(rewrite):
    rewrite(["cse", "dce"], """
        graph @f(%a: f32[4]) -> f32[4] {
          %0 = constant() {value=dense<f32[]: 2.0>} : f32[]
          %1 = constant() {value=dense<f32[]: 2.0>} : f32[]
          %2 = mul(%a, %0) : f32[4]
          %3 = mul(%a, %1) : f32[4]
          %4 = exp(%2) : f32[4]
          %5 = exp(%3) : f32[4]
          %6 = sub(%4, %5) : f32[4]
          return %6
        }
    """, """
        graph @f(%a: f32[4]) -> f32[4] {
          %0 = constant() {value=dense<f32[]: 2.0>} : f32[]
          %1 = mul(%a, %0) : f32[4]
          %2 = exp(%1) : f32[4]
          %3 = sub(%2, %2) : f32[4]
          return %3
        }
    """)


def test_cse_does_not_merge_different_attributes_or_signed_zeros(rewrite):
    text = """
        graph @f(%a: f32[2,3]) -> (f32[2,1], f32[1,3], f32[], f32[]) {
          %0 = sum(%a) {axes=[1], keepdims=true} : f32[2,1]
          %1 = sum(%a) {axes=[0], keepdims=true} : f32[1,3]
          %2 = constant() {value=dense<f32[]: 0.0>} : f32[]
          %3 = constant() {value=dense<f32[]: -0.0>} : f32[]
          return %0, %1, %2, %3
        }
    """
    rewrite(["cse"], text, text)
