import re
import shutil
from textwrap import dedent

import numpy
import pytest

import hybrid as hb
from hybrid.errors import HybridError

GRAPH = dedent("""
    graph @f(%x: f32[4,8], %w: f32[8,8]) -> f32[4,8] {
      %0 = matmul(%x, %w) {transpose_a=false, transpose_b=false} : f32[4,8]
      %1 = relu(%0) : f32[4,8]
      %2 = transpose(%1) {perm=[1, 0]} : f32[8,4]
      %3 = exp(%2) : f32[8,4]
      %4 = neg(%3) : f32[8,4]
      %5 = transpose(%4) {perm=[1, 0]} : f32[4,8]
      return %5
    }
""")


def test_dot_draws_each_fused_kernel_as_a_cluster():
    fused = hb.passes.run(hb.ir.parse(GRAPH), ["fuse"])
    kernels = [n for n in fused.nodes if n.op == "fused"]
    dot = hb.viz.to_dot(fused)
    assert len(kernels) == 2
    assert dot.count("subgraph cluster_") == 2
    assert 'label="k0 (matmul)"' in dot and 'label="k1 (elementwise)"' in dot
    assert dot.count(" -> ") == 8  # x, w -> matmul -> relu -> transpose -> exp -> neg -> transpose -> return
    assert dot.startswith('digraph "f" {') and dot.rstrip().endswith("}")


def test_render_without_graphviz_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(HybridError, match="apt-get install graphviz"):
        hb.viz.render(GRAPH, str(tmp_path / "g.svg"))


def test_render_needs_a_picture_extension(tmp_path):
    with pytest.raises(HybridError, match=".png, .svg or .pdf"):
        hb.viz.render(GRAPH, str(tmp_path / "g.txt"))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed here")
def test_render_writes_svg(tmp_path):
    path = hb.viz.render(hb.passes.run(hb.ir.parse(GRAPH), ["fuse"]), str(tmp_path / "g.svg"))
    assert open(path).read().lstrip().startswith(("<?xml", "<svg"))


def test_dot_edges_join_declared_nodes_and_braces_balance():
    from hybrid.model_zoo import ZOO

    ctor, shape = ZOO["transformer"]
    net = ctor()
    net.initialize()
    graph = hb.passes.optimize(hb.trace(net, numpy.zeros(shape, numpy.float32)), 2).graph
    dot = hb.viz.to_dot(graph)
    declared = set(re.findall(r"^\s*(n\d+) \[", dot, re.M))
    edges = re.findall(r"^\s*(n\d+) -> (n\d+);", dot, re.M)
    assert edges and all(a in declared and b in declared for a, b in edges)
    assert dot.count("{") == dot.count("}")
    assert dot.count("subgraph cluster_") == sum(n.op == "fused" for n in graph.nodes)
