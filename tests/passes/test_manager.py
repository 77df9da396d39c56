import os
from textwrap import dedent

import numpy
import pytest

import hybrid as hb
from hybrid.errors import HybridError
from hybrid.ir.verifier import VerifyError
from hybrid.passes import manager

SMALL = dedent("""
    graph @f(%x: f32[4,8], %y: f32[4,8]) -> f32[4,8] {
      %0 = add(%x, %y) : f32[4,8]
      %1 = add(%y, %x) : f32[4,8]
      %2 = mul(%0, %1) : f32[4,8]
      %3 = exp(%2) : f32[4,8]
      return %3
    }
""")


def test_pipelines_per_opt_level():
    assert hb.passes.pipeline_for(0) == []
    assert hb.passes.pipeline_for(1) == ["dce", "cse", "fold_constants", "fold_cond", "hoist_invariants",
                                         "prune_regions", "simplify", "dce"]
    assert hb.passes.pipeline_for(2) == hb.passes.pipeline_for(1) + ["conv_layout", "fuse", "concurrent_groups",
                                                                         "memory_plan"]
    assert "fold_batchnorm" in hb.passes.pipeline_for(3, freeze=True)
    assert hb.passes.pipeline_for(3) == hb.passes.pipeline_for(2)  # BatchNorm folding needs freeze=True
    with pytest.raises(HybridError, match="opt_level"):
        hb.passes.pipeline_for(7)


def test_unknown_pass_names_the_known_ones():
    with pytest.raises(HybridError, match="unknown pass 'fusion'.*'fuse'"):
        hb.passes.run(hb.ir.parse(SMALL), ["fusion"])


def test_verifier_runs_after_every_pass_and_names_it():
    @hb.passes.register_pass("_broken")
    def broken(graph, **context):
        graph.nodes.reverse()  # uses before definitions
        return graph

    try:
        with pytest.raises(VerifyError, match="after pass '_broken'"):
            hb.passes.run(hb.ir.parse(SMALL), ["cse", "_broken"])
    finally:
        del manager.PASSES["_broken"]


def test_stages_timings_and_text(tmp_path):
    result = hb.passes.optimize(hb.ir.parse(SMALL), 2, dump=str(tmp_path))
    names = [s.name for s in result.stages]
    assert names == ["00-traced", "01-dce", "02-cse", "03-fold_constants", "04-fold_cond", "05-hoist_invariants",
                     "06-prune_regions", "07-simplify", "08-dce", "09-fuse", "10-concurrent_groups",
                     "11-memory_plan"]
    assert result.stage("cse").nodes_before == 4 and len(result.stage("cse").graph) == 3
    assert result.stage_text("traced") == str(hb.ir.parse(SMALL))
    assert result.stage_text(9) == result.stage_text("fuse") == result.stage_text("09-fuse")
    assert result.stage_text() == str(result.graph)
    assert result.stage_text("fuse", format="dot").startswith('digraph "f"')
    with pytest.raises(HybridError, match="no stage 'llvm'"):
        result.stage_text("llvm")
    with pytest.raises(ValueError, match="format"):
        result.stage_text(format="svg")


def test_dump_folder_files_parse_back(tmp_path):
    result = hb.passes.optimize(hb.ir.parse(SMALL), 2, dump=str(tmp_path))
    files = sorted(os.listdir(tmp_path))
    assert files == sorted([s.name + ".ir" for s in result.stages] + ["memory-plan.txt", "passes.txt"])
    for stage in result.stages:
        text = (tmp_path / f"{stage.name}.ir").read_text()
        assert str(hb.ir.parse(text)) + "\n" == text
    report = (tmp_path / "passes.txt").read_text()
    assert "02-cse" in report and "4 -> 3" in report
    assert "memory: naive" in report and "fused kernels: 1" in report
    assert (tmp_path / "memory-plan.txt").read_text().startswith(result.graph.memory_plan.summary())


def test_hybrid_dump_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_DUMP", str(tmp_path / "env"))
    hb.passes.optimize(hb.ir.parse(SMALL), 1)
    assert (tmp_path / "env" / "passes.txt").exists()
    assert (tmp_path / "env" / "01-dce.ir").exists()


def test_hybridize_dump_and_ir_stages(tmp_path):
    @hb.hybridize(backend="interp", dump=str(tmp_path))
    def f(a, b):
        return hb.np.tanh(a * b + 1).sum(axis=1)

    a = numpy.ones((3, 4), numpy.float32)
    out = f(a, a)
    numpy.testing.assert_allclose(numpy.asarray(out), numpy.tanh(a * a + 1).sum(axis=1), rtol=1e-6)
    assert (tmp_path / "00-traced.ir").exists() and (tmp_path / "passes.txt").exists()
    assert "fused(" in f.ir()
    assert "fused(" not in f.ir(stage="traced")
    assert "cluster_" in f.ir(format="dot")


def test_memory_plan_is_dropped_by_later_rewrites():
    graph = hb.passes.run(hb.ir.parse(SMALL), ["memory_plan"])
    assert graph.memory_plan is not None and graph.copy().memory_plan is graph.memory_plan
    assert hb.passes.run(graph, ["dce"]).memory_plan is None


def test_frozen_values_need_freeze():
    with pytest.raises(HybridError, match="freeze=True"):
        hb.passes.optimize(hb.ir.parse(SMALL), 2, frozen={"x": numpy.zeros((4, 8), numpy.float32)})


def test_run_takes_a_single_pass_name():
    assert len(hb.passes.run(hb.ir.parse(SMALL), "cse")) == 3
