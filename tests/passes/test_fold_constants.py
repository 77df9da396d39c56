from textwrap import dedent

import numpy

import hybrid as hb


def test_fold_evaluates_constant_subgraphs_with_the_registry(rewrite):
    rewrite(["fold_constants", "dce"], """
        graph @f(%x: f32[2]) -> f32[2] {
          %0 = constant() {value=dense<f32[2]: [1.0, 4.0]>} : f32[2]
          %1 = sqrt(%0) : f32[2]
          %2 = constant() {value=dense<f32[]: 3.0>} : f32[]
          %3 = mul(%1, %2) : f32[2]
          %4 = add(%x, %3) : f32[2]
          return %4
        }
    """, """
        graph @f(%x: f32[2]) -> f32[2] {
          %0 = constant() {value=dense<f32[2]: [3.0, 6.0]>} : f32[2]
          %1 = add(%x, %0) : f32[2]
          return %1
        }
    """)


PARAM_GRAPH = """
    graph @f(%x: f32[2], param %w: f32[2]) -> f32[2] {
      %0 = constant() {value=dense<f32[]: 1.0>} : f32[]
      %1 = add(%w, %0) : f32[2]
      %2 = mul(%x, %1) : f32[2]
      return %2
    }
"""


def test_parameters_are_not_constants_without_freeze(rewrite):
    rewrite(["fold_constants"], PARAM_GRAPH, PARAM_GRAPH)


def test_frozen_parameters_fold(rewrite):
    frozen = {"w": numpy.array([0.5, -2.0], numpy.float32)}
    rewrite(["fold_constants", "dce"], PARAM_GRAPH, """
        graph @f(%x: f32[2], param %w: f32[2]) -> f32[2] {
          %0 = constant() {value=dense<f32[2]: [1.5, -1.0]>} : f32[2]
          %1 = mul(%x, %0) : f32[2]
          return %1
        }
    """, frozen=frozen)


def test_fold_does_not_materialize_large_broadcasts(rewrite):
    text = """
        graph @f(%x: f32[512,512]) -> f32[512,512] {
          %0 = constant() {value=dense<f32[]: 2.0>} : f32[]
          %1 = broadcast_to(%0) {shape=[512, 512]} : f32[512,512]
          %2 = mul(%x, %1) : f32[512,512]
          return %2
        }
    """
    rewrite(["fold_constants"], text, text)


def test_folded_value_equals_the_reference_bit_for_bit():
    g = hb.ir.parse(dedent("""
        graph @f() -> f32[3] {
          %0 = constant() {value=dense<f32[3]: [0.1, 0.7, 2.5]>} : f32[3]
          %1 = tanh(%0) : f32[3]
          %2 = erf(%1) : f32[3]
          return %2
        }
    """))
    folded = hb.passes.run(g, ["fold_constants", "dce"])
    assert [n.op for n in folded.nodes] == ["constant"]
    expected = hb.ir.get_op("erf").ref(numpy.tanh(numpy.array([0.1, 0.7, 2.5], numpy.float32)))
    numpy.testing.assert_array_equal(folded.nodes[0].attrs["value"], expected)


def test_a_reference_that_raises_is_left_to_run_time(monkeypatch, caplog):
    monkeypatch.setenv("HYBRID_LOG", "compile")
    text = dedent("""
        graph @f() -> f32[1] {
          %0 = constant() {value=dense<f32[3]: [1.0, 2.0, 3.0]>} : f32[3]
          %1 = constant() {value=dense<i32[1]: [5]>} : i32[1]
          %2 = take(%0, %1) {axis=0} : f32[1]
          return %2
        }
    """).strip()
    with caplog.at_level("INFO", logger="hybrid"):
        assert str(hb.passes.run(hb.ir.parse(text), ["fold_constants"])) == text
    assert "not folding take" in caplog.text and "out of range" in caplog.text
