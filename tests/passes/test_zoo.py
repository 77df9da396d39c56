"""Every model-zoo model: optimized (levels 1-3) equals unoptimized on interp (levels 2-3 run from
one arena laid out by the memory plan), the plan passes the checker, and the dump folder is
written and parses back."""
import os

import numpy
import pytest

import hybrid as hb
from hybrid.codegen.interp import run_graph
from hybrid.model_zoo import ZOO
from hybrid.passes import check_memory_plan


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_optimizes_without_changing_results(name, tmp_path, arena_run):
    ctor, shape = ZOO[name]
    net = ctor()
    net.initialize()
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal(shape).astype(numpy.float32)
    graph = hb.trace(net, x)
    params = net.collect_params()
    frozen = {v.name: params[v.name].data().asnumpy() for v in graph.params}
    inputs = [x] + [frozen[v.name] for v in graph.params]
    expected = run_graph(hb.passes.optimize(graph, 0).graph, inputs)
    for level, freeze in [(1, False), (2, False), (3, True)]:
        dump = str(tmp_path / f"O{level}")
        result = hb.passes.optimize(graph, level, freeze=freeze, frozen=frozen if freeze else None, dump=dump)
        outputs = arena_run(result.graph, inputs) if level >= 2 else run_graph(result.graph, inputs)
        for got, want in zip(outputs, expected):
            numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=f"{name} at opt_level {level}")
        if level >= 2:
            check_memory_plan(result.graph)
            assert result.graph.memory_plan.arena_bytes <= result.graph.memory_plan.naive_bytes + 64 * len(
                result.graph.memory_plan.slots)
            assert any(n.op == "fused" for n in result.graph.nodes)
        files = sorted(os.listdir(dump))
        assert "passes.txt" in files and files[0] == "00-traced.ir"
        for stage in result.stages:
            text = open(os.path.join(dump, stage.name + ".ir")).read()
            assert str(hb.ir.parse(text)) + "\n" == text


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_training_graph_optimizes_without_changing_gradients(name, arena_run):
    """The joint forward+backward graph (autodiff pass) through opt_level 2: same outputs and
    gradients, run from the planned arena."""
    ctor, shape = ZOO[name]
    net = ctor()
    net.initialize()
    x = numpy.random.default_rng(1).standard_normal(shape).astype(numpy.float32)
    joint = hb.passes.run(hb.trace(net, x), ["autodiff"])
    params = net.collect_params()
    inputs = [x] + [params[v.name].data().asnumpy() for v in joint.inputs[1:]]
    optimized = hb.passes.optimize(joint, 2).graph
    check_memory_plan(optimized)
    for got, want in zip(arena_run(optimized, inputs), run_graph(joint, inputs)):
        numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=name)
