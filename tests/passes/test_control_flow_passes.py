"""Control-flow passes, text in / text out: fold_cond, prune_regions, hoist_invariants, and the
general passes (DCE, CSE, constant folding) inside regions."""

LOOP = """
graph @f(%x: f32[4], %w: f32[4], %n: i32[]) -> f32[4] {
  %0 = constant() {value=dense<i32[]: 0>} : i32[]
  %1 = constant() {value=dense<f32[]: 3.0>} : f32[]
  %2, %3, %4 = while_loop(%x, %0, %x, %n, %w, %1) {num_carry=3} : f32[4], i32[], f32[4] {
    graph @cond(%a0: f32[4], %a1: i32[], %a2: f32[4], %k0: i32[], %k1: f32[4], %k2: f32[]) -> bool[] {
      %0 = lt(%a1, %k0) : bool[]
      return %0
    }
    graph @body(%a0: f32[4], %a1: i32[], %a2: f32[4], %k0: i32[], %k1: f32[4], %k2: f32[]) -> (f32[4], i32[], f32[4]) {
      %0 = exp(%k1) : f32[4]
      %1 = mul(%0, %k2) : f32[4]
      %2 = add(%a0, %1) : f32[4]
      %3 = constant() {value=dense<i32[]: 1>} : i32[]
      %4 = add(%a1, %3) : i32[]
      %5 = neg(%a2) : f32[4]
      return %2, %4, %5
    }
  }
  return %2
}
"""


def test_prune_and_hoist_a_while_loop(rewrite):
    """exp(w) * 3 is hoisted before the loop; the unread carried %a2 and the now unread %w go."""
    rewrite(["hoist_invariants", "prune_regions", "dce"], LOOP, """
    graph @f(%x: f32[4], %w: f32[4], %n: i32[]) -> f32[4] {
      %0 = constant() {value=dense<i32[]: 0>} : i32[]
      %1 = constant() {value=dense<f32[]: 3.0>} : f32[]
      %2 = exp(%w) : f32[4]
      %3 = mul(%2, %1) : f32[4]
      %4, %5 = while_loop(%x, %0, %n, %3) {num_carry=2} : f32[4], i32[] {
        graph @cond(%a0: f32[4], %a1: i32[], %k0: i32[], %k1: f32[4]) -> bool[] {
          %0 = lt(%a1, %k0) : bool[]
          return %0
        }
        graph @body(%a0: f32[4], %a1: i32[], %k0: i32[], %k1: f32[4]) -> (f32[4], i32[]) {
          %0 = add(%a0, %k1) : f32[4]
          %1 = constant() {value=dense<i32[]: 1>} : i32[]
          %2 = add(%a1, %1) : i32[]
          return %0, %2
        }
      }
      return %4
    }""")


def test_fold_cond_on_a_constant_index_inlines_the_branch(rewrite):
    rewrite(["fold_cond"], """
    graph @g(%x: f32[3]) -> f32[3] {
      %0 = constant() {value=dense<i32[]: 5>} : i32[]
      %1 = cond(%0, %x) : f32[3] {
        graph @branch0(%a0: f32[3]) -> f32[3] {
          %0 = neg(%a0) : f32[3]
          return %0
        }
        graph @branch1(%a0: f32[3]) -> f32[3] {
          %0 = exp(%a0) : f32[3]
          %1 = add(%0, %a0) : f32[3]
          return %1
        }
      }
      return %1
    }""", """
    graph @g(%x: f32[3]) -> f32[3] {
      %0 = constant() {value=dense<i32[]: 5>} : i32[]
      %1 = exp(%x) : f32[3]
      %2 = add(%1, %x) : f32[3]
      return %2
    }""")


def test_scan_drops_unread_steps_and_passthrough_state(rewrite):
    """ys[1] is unread; carried %a1 passes through (it becomes invariant); CSE and DCE run inside."""
    rewrite(["prune_regions", "cse", "dce"], """
    graph @s(%h: f32[2], %w: f32[2], %xs: f32[5,2]) -> (f32[2], f32[5,2]) {
      %0, %1, %2, %3 = scan(%h, %w, %xs) {num_carry=2, num_xs=1, length=5, reverse=false} : f32[2], f32[2], f32[5,2], f32[5,2] {
        graph @body(%a0: f32[2], %a1: f32[2], %a2: f32[2]) -> (f32[2], f32[2], f32[2], f32[2]) {
          %0 = mul(%a0, %a1) : f32[2]
          %1 = mul(%a0, %a1) : f32[2]
          %2 = add(%0, %a2) : f32[2]
          %3 = tanh(%1) : f32[2]
          %4 = sin(%a2) : f32[2]
          return %2, %a1, %3, %4
        }
      }
      return %0, %2
    }""", """
    graph @s(%h: f32[2], %w: f32[2], %xs: f32[5,2]) -> (f32[2], f32[5,2]) {
      %0, %1 = scan(%h, %xs, %w) {num_carry=1, num_xs=1, length=5, reverse=false} : f32[2], f32[5,2] {
        graph @body(%a0: f32[2], %a2: f32[2], %k0: f32[2]) -> (f32[2], f32[2]) {
          %0 = mul(%a0, %k0) : f32[2]
          %1 = add(%0, %a2) : f32[2]
          %2 = tanh(%0) : f32[2]
          return %1, %2
        }
      }
      return %0, %1
    }""")


def test_pipeline_keeps_loops_and_plans_their_regions():
    import hybrid as hb
    from hybrid import lax, np

    f = hb.hybridize(lambda x, w: lax.fori_loop(0, 8, lambda i, v: np.tanh(v * np.exp(w)), x), backend="llvm")
    x = np.array([0.1, 0.2, 0.3])
    f(x, x)
    final = f.ir()
    assert "scan(" in final and "exp(%" in final.split("scan(")[0]   # exp(w) hoisted before the loop
    assert final.count("# ") > 0 and "->" in final                   # memory plan comments, in regions too
    graph = f.compiled.last.pipeline.graph
    scan = next(n for n in graph.nodes if n.op == "scan")
    assert scan.regions[0].memory_plan is not None
