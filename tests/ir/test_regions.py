"""Node regions in the IR: text round trip, verification, serialization and the interp oracle."""
import numpy as onp
import pytest

from hybrid import codegen
from hybrid.ir import parse, verify
from hybrid.ir.serialize import dumps, loads
from hybrid.ir.verifier import VerifyError

# sum of x * 2^k while the sum stays under a bound: a while_loop whose trip count depends on data,
# a cond inside its body, and a scan nested in a cond branch
PROGRAM = """graph @prog(%x: f32[3], %bound: f32[], %idx: i32[], %seq: f32[4,3]) -> (f32[3], f32[3], f32[4,3]) {
  %0 = while_loop(%x, %bound) {num_carry=1} : f32[3] {
    graph @cond(%a0: f32[3], %k0: f32[]) -> bool[] {
      %0 = sum(%a0) {axes=[0], keepdims=false} : f32[]
      %1 = lt(%0, %k0) : bool[]
      return %1
    }
    graph @body(%a0: f32[3], %k0: f32[]) -> f32[3] {
      %0 = constant() {value=dense<f32[]: 2.0>} : f32[]
      %1 = mul(%a0, %0) : f32[3]
      return %1
    }
  }
  %1 = cond(%idx, %x) : f32[3] {
    graph @branch0(%a0: f32[3]) -> f32[3] {
      %0 = neg(%a0) : f32[3]
      return %0
    }
    graph @branch1(%a0: f32[3]) -> f32[3] {
      %0 = exp(%a0) : f32[3]
      return %0
    }
    graph @branch2(%a0: f32[3]) -> f32[3] {
      return %a0
    }
  }
  %2, %3 = scan(%x, %seq) {num_carry=1, num_xs=1, length=4, reverse=false} : f32[3], f32[4,3] {
    graph @body(%a0: f32[3], %a1: f32[3]) -> (f32[3], f32[3]) {
      %0 = add(%a0, %a1) : f32[3]
      %1 = tanh(%0) : f32[3]
      return %0, %1
    }
  }
  return %0, %1, %3
}"""


def reference(x, bound, idx, seq):
    w = x.copy()
    while w.sum() < bound:
        w = w * 2
    branch = [-x, onp.exp(x), x][min(max(idx, 0), 2)]
    carry, ys = x.copy(), []
    for t in range(4):
        carry = carry + seq[t]
        ys.append(onp.tanh(carry))
    return w, branch, onp.stack(ys)


def test_regions_print_nested_and_round_trip():
    graph = parse(PROGRAM)
    verify(graph)
    assert str(graph) == PROGRAM
    assert [len(n.regions) for n in graph.nodes] == [2, 3, 1]
    assert graph.node_count() == 3 + 4 + 2 + 2
    clone = graph.copy()
    assert clone == graph and clone.nodes[0].regions[1] is not graph.nodes[0].regions[1]
    assert str(loads(dumps(graph))) == PROGRAM


@pytest.mark.parametrize("backend", ["interp", "llvm"])
@pytest.mark.parametrize("bound, idx", [(0.5, 0), (40.0, 1), (1e4, 7), (-1.0, -3)])
def test_backends_run_regions(backend, bound, idx):
    rng = onp.random.default_rng(1)
    x = rng.uniform(0.1, 1.0, 3).astype("f4")
    seq = rng.normal(size=(4, 3)).astype("f4")
    exe = codegen.build(parse(PROGRAM), backend)
    got = exe([x, onp.float32(bound), onp.int32(idx), seq])
    for g, want in zip(got, reference(x, onp.float32(bound), idx, seq)):
        onp.testing.assert_allclose(g, want, rtol=1e-6)


def _broken(old, new):
    assert old in PROGRAM
    return PROGRAM.replace(old, new)


@pytest.mark.parametrize("text, fragment", [
    (_broken("      %0 = exp(%a0) : f32[3]\n      return %0", "      %0 = sum(%a0) {axes=[0], keepdims=false} : f32[]\n"
             "      return %0"), "branch 1's results"),
    (_broken("graph @cond(%a0: f32[3], %k0: f32[]) -> bool[] {\n      %0 = sum(%a0) {axes=[0], keepdims=false} : f32[]\n"
             "      %1 = lt(%0, %k0) : bool[]\n      return %1",
             "graph @cond(%a0: f32[3], %k0: f32[]) -> f32[] {\n      %0 = sum(%a0) {axes=[0], keepdims=false} : f32[]\n"
             "      return %0"), "cond region's result"),
    (_broken("%2, %3 = scan(%x, %seq) {num_carry=1, num_xs=1, length=4,", "%2, %3 = scan(%x, %seq) {num_carry=1, "
             "num_xs=1, length=5,"), "leading axis must be the length 5"),
    (_broken("graph @branch2(%a0: f32[3]) -> f32[3] {", "graph @branch2(%a0: f32[2]) -> f32[2] {"),
     "branch 2's parameter list"),
])
def test_verifier_checks_region_signatures(text, fragment):
    with pytest.raises(VerifyError) as info:
        verify(parse(text))
    assert fragment in str(info.value), str(info.value)


def test_regions_cannot_capture_outer_values():
    """A region sees only its own inputs: reading an outer value is a parse error."""
    text = _broken("      %0 = neg(%a0) : f32[3]", "      %0 = neg(%x) : f32[3]")
    with pytest.raises(Exception) as info:
        parse(text)
    assert "%x is used before it is defined" in str(info.value)
