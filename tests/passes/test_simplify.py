def test_additive_and_multiplicative_identities(rewrite):
    rewrite(["simplify", "dce"], """
        graph @f(%x: f32[3]) -> f32[3] {
          %0 = constant() {value=dense<f32[]: 0.0>} : f32[]
          %1 = constant() {value=dense<f32[]: 1.0>} : f32[]
          %2 = add(%x, %0) : f32[3]
          %3 = mul(%1, %2) : f32[3]
          %4 = sub(%3, %0) : f32[3]
          %5 = div(%4, %1) : f32[3]
          %6 = exp(%5) : f32[3]
          return %6
        }
    """, """
        graph @f(%x: f32[3]) -> f32[3] {
          %0 = exp(%x) : f32[3]
          return %0
        }
    """)


def test_identity_that_widened_x_becomes_a_broadcast(rewrite):
    rewrite(["simplify", "dce"], """
        graph @f(%x: f32[3]) -> f32[2,3] {
          %0 = constant() {value=dense<f32[2,1]: [0.0, 0.0]>} : f32[2,1]
          %1 = add(%x, %0) : f32[2,3]
          return %1
        }
    """, """
        graph @f(%x: f32[3]) -> f32[2,3] {
          %0 = broadcast_to(%x) {shape=[2, 3]} : f32[2,3]
          return %0
        }
    """)


def test_float_times_zero_is_kept_for_nan_and_inf(rewrite):
    text = """
        graph @f(%x: f32[3]) -> f32[3] {
          %0 = constant() {value=dense<f32[]: 0.0>} : f32[]
          %1 = mul(%x, %0) : f32[3]
          return %1
        }
    """
    rewrite(["simplify"], text, text)


def test_integer_times_zero_folds(rewrite):
    rewrite(["simplify", "dce"], """
        graph @f(%x: i32[3]) -> i32[3] {
          %0 = constant() {value=dense<i32[]: 0>} : i32[]
          %1 = mul(%0, %x) : i32[3]
          return %1
        }
    """, """
        graph @f(%x: i32[3]) -> i32[3] {
          %0 = constant() {value=dense<i32[]: 0>} : i32[]
          %1 = broadcast_to(%0) {shape=[3]} : i32[3]
          return %1
        }
    """)


def test_non_identity_constants_are_kept(rewrite):
    text = """
        graph @f(%x: f32[2]) -> f32[2] {
          %0 = constant() {value=dense<f32[2]: [0.0, 1.0]>} : f32[2]
          %1 = add(%x, %0) : f32[2]
          %2 = mul(%1, %0) : f32[2]
          %3 = constant() {value=dense<f32[]: 0.0>} : f32[]
          %4 = sub(%3, %2) : f32[2]
          return %4
        }
    """
    rewrite(["simplify"], text, text)


def test_double_transpose_cancels_or_composes(rewrite):
    rewrite(["simplify", "dce"], """
        graph @f(%x: f32[2,3,4]) -> (f32[2,3,4], f32[4,2,3]) {
          %0 = transpose(%x) {perm=[1, 0, 2]} : f32[3,2,4]
          %1 = transpose(%0) {perm=[1, 0, 2]} : f32[2,3,4]
          %2 = transpose(%0) {perm=[2, 1, 0]} : f32[4,2,3]
          return %1, %2
        }
    """, """
        graph @f(%x: f32[2,3,4]) -> (f32[2,3,4], f32[4,2,3]) {
          %0 = transpose(%x) {perm=[2, 0, 1]} : f32[4,2,3]
          return %x, %0
        }
    """)


def test_reshape_chains_collapse(rewrite):
    rewrite(["simplify", "dce"], """
        graph @f(%x: f32[2,6]) -> (f32[3,4], f32[2,6]) {
          %0 = reshape(%x) {shape=[12]} : f32[12]
          %1 = reshape(%0) {shape=[4, 3]} : f32[4,3]
          %2 = reshape(%1) {shape=[3, 4]} : f32[3,4]
          %3 = reshape(%2) {shape=[2, 6]} : f32[2,6]
          return %2, %3
        }
    """, """
        graph @f(%x: f32[2,6]) -> (f32[3,4], f32[2,6]) {
          %0 = reshape(%x) {shape=[3, 4]} : f32[3,4]
          return %0, %x
        }
    """)


def test_broadcast_of_a_scalar_feeding_an_elementwise_op_is_dropped(rewrite):
    rewrite(["simplify", "dce"], """
        graph @f(%x: f32[2,3], %s: f32[]) -> f32[2,3] {
          %0 = broadcast_to(%s) {shape=[2, 3]} : f32[2,3]
          %1 = mul(%x, %0) : f32[2,3]
          return %1
        }
    """, """
        graph @f(%x: f32[2,3], %s: f32[]) -> f32[2,3] {
          %0 = mul(%x, %s) : f32[2,3]
          return %0
        }
    """)


def test_broadcast_that_sets_the_result_shape_stays(rewrite):
    text = """
        graph @f(%s: f32[], %t: f32[3]) -> f32[2,3] {
          %0 = broadcast_to(%s) {shape=[2, 3]} : f32[2,3]
          %1 = add(%0, %t) : f32[2,3]
          return %1
        }
    """
    rewrite(["simplify"], text, text)


def test_transposes_fold_into_matmul_attributes(rewrite):
    rewrite(["simplify", "dce"], """
        graph @f(%a: f32[2,5,4], %b: f32[2,6,5]) -> f32[2,4,6] {
          %0 = transpose(%a) {perm=[0, 2, 1]} : f32[2,4,5]
          %1 = transpose(%b) {perm=[0, 2, 1]} : f32[2,5,6]
          %2 = matmul(%0, %1) {transpose_a=false, transpose_b=false} : f32[2,4,6]
          return %2
        }
    """, """
        graph @f(%a: f32[2,5,4], %b: f32[2,6,5]) -> f32[2,4,6] {
          %0 = matmul(%a, %b) {transpose_a=true, transpose_b=true} : f32[2,4,6]
          return %0
        }
    """)


def test_batch_axis_transpose_is_not_folded_into_matmul(rewrite):
    text = """
        graph @f(%a: f32[4,2,5], %b: f32[2,5,6]) -> f32[2,4,6] {
          %0 = transpose(%a) {perm=[1, 0, 2]} : f32[2,4,5]
          %1 = matmul(%0, %b) {transpose_a=false, transpose_b=false} : f32[2,4,6]
          return %1
        }
    """
    rewrite(["simplify"], text, text)


def test_cast_to_the_same_dtype_is_dropped(rewrite):
    rewrite(["simplify", "dce"], """
        graph @f(%x: f32[3]) -> f32[3] {
          %0 = cast(%x) {dtype="f32"} : f32[3]
          %1 = neg(%0) : f32[3]
          return %1
        }
    """, """
        graph @f(%x: f32[3]) -> f32[3] {
          %0 = neg(%x) : f32[3]
          return %0
        }
    """)
