"""A large LLVM module split into parts compiled by worker processes (codegen/llvm/partition.py, workers.py):
the split itself as text in, text out; graphs compiled split (PART_COST lowered so small graphs split too)
give the interp backend's results (rtol 1e-5: the same float32 operations per element as the whole module);
a worker that cannot start or dies is logged and its parts are compiled in this process."""
from __future__ import annotations

import logging
import re

import llvmlite.binding as llvm
import numpy
import pytest

from hybrid import config, passes
from hybrid.codegen.llvm import module, partition, target, workers
from hybrid.codegen.llvm.dedup import own_name

from test_llvm_util import compare, graph_of, op

rng = numpy.random.default_rng(0)

HELPER = "define internal void @hb_help(ptr %p) nounwind {\nentry:\n  ret void\n}\n"
DATA = "@hb_data = hidden global ptr null, align 8"


def _kernel(name: str, body: str = "", attrs: str = "noinline nounwind") -> str:
    return (f"define internal void @{name}(ptr %p) {attrs} {{\nentry:\n{body}  call void @hb_help(ptr %p)\n"
            "  ret void\n}\n")


def _parse(pieces: list[str]) -> "llvm.ModuleRef":
    text = module._assemble(pieces, set(), target.host()[0])
    mod = llvm.parse_assembly(text)
    mod.verify()
    return mod


def test_split_keeps_inlinable_functions_with_callers_and_data_with_the_entry(monkeypatch):
    monkeypatch.setattr(partition, "PART_COST", 1)
    epilogue = _kernel("k1_epi", attrs="nounwind")    # passed by address: LLVM could inline it, so it stays
    k1 = _kernel("k1", "  %f = getelementptr i8, ptr @k1_epi, i64 0\n")
    k2 = _kernel("k2")
    shared = _kernel("hb_tile")     # noinline, called by two kernels: lives in one part, declared in the other
    k3 = _kernel("k3", "  call void @hb_tile(ptr %p)\n")
    k4 = _kernel("k4", "  call void @hb_tile(ptr %p)\n")
    entry = ("define void @hybrid_entry(ptr %p) nounwind {\nentry:\n  %d = load ptr, ptr @hb_data\n"
             + "".join(f"  call void @{k}(ptr %p)\n" for k in ("k1", "k2", "k3", "k4")) + "  ret void\n}\n")
    parts = partition.split([HELPER], [DATA], [epilogue, k1, k2, shared, k3, k4], entry)
    assert len(parts) == 6   # one per unit: the entry, {k1, k1_epi}, k2, hb_tile, k3, k4
    names = [set(p.names) for p in parts]
    assert "hybrid_entry" in names[0]
    assert any({"k1", "k1_epi"} <= n for n in names)
    assert sorted(n for p in names for n in p) == sorted(["hybrid_entry", "k1_epi", "k1", "k2", "hb_tile", "k3", "k4"])
    for i, part in enumerate(parts):
        text = "\n".join(part.pieces)
        assert (DATA in text) == (i == 0)
        assert "define internal void @hb_help" in text          # helpers: a copy in every part
        for name in part.names:
            defined = re.search(r"^define (\w+ )?void @" + name + r"\(", text, re.M).group(1)
            # only what another part calls loses internal linkage
            called_elsewhere = any(re.search(rf"@{name}\(", "\n".join(q.pieces)) for q in parts if q is not part)
            assert defined == ("hidden " if called_elsewhere else "internal " if name != "hybrid_entry" else None)
        _parse(part.pieces)   # every call outside the part is declared


def test_small_module_is_one_part():
    parts = partition.split([HELPER], [DATA], [_kernel("k1"), _kernel("k2")],
                            "define void @hybrid_entry(ptr %p) {\nentry:\n  ret void\n}\n")
    assert len(parts) == 1 and parts[0].pieces[:2] == [HELPER, DATA]


def test_part_count_grows_with_cost_up_to_the_cap(monkeypatch):
    kernels = [_kernel(f"k{i}") for i in range(20)]
    entry = "define void @hybrid_entry(ptr %p) {\nentry:\n  ret void\n}\n"
    total = sum(partition.cost(t) for t in kernels + [entry])
    monkeypatch.setattr(partition, "PART_COST", total // 3)
    assert len(partition.split([], [], kernels, entry)) == 3
    monkeypatch.setattr(partition, "PART_COST", 1)
    assert len(partition.split([], [], kernels, entry)) == partition.MAX_PARTS


def _elementwise_graph():
    """Several kernels (reductions split them), no GEMM: nothing but the graph's own parts to compile."""
    x = rng.standard_normal((16, 40)).astype("f4")

    def body(g, a):
        c = op(g, "relu", op(g, "add", op(g, "mul", a, a), a))
        top = op(g, "max", c, axes=(1,), keepdims=True)
        e = op(g, "exp", op(g, "sub", c, top))
        return [op(g, "div", e, op(g, "sum", e, axes=(1,), keepdims=True)), op(g, "sum", c, axes=(0,), keepdims=False)]
    return graph_of({"a": ((16, 40), "f32")}, body, name="softish"), [x]


def _layers_graph():
    x = rng.standard_normal((2, 3, 10, 10)).astype("f4")
    w1 = (rng.standard_normal((4, 3, 3, 3)) * 0.3).astype("f4")
    w2 = (rng.standard_normal((8, 16)) * 0.3).astype("f4")

    def body(g, a, k1, k2):
        c = op(g, "relu", op(g, "conv2d", a, k1, stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1))
        m = op(g, "tanh", op(g, "matmul", op(g, "reshape", op(g, "exp", op(g, "mul", c, c)), shape=(100, 8)), k2))
        return [m, op(g, "sum", c, axes=(2, 3), keepdims=False)]
    graph = graph_of({"a": ((2, 3, 10, 10), "f32"), "k1": ((4, 3, 3, 3), "f32"), "k2": ((8, 16), "f32")}, body,
                     name="layers")
    return graph, [x, w1, w2]


@pytest.mark.parametrize("compile_workers", [0, 1])
def test_split_module_equals_interp(compile_workers, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(partition, "PART_COST", 1)
    graph, inputs = _layers_graph()
    plan = module.build_module(passes.optimize(graph).graph, target.host()[0])
    assert len(plan.parts) > 1
    with config(cache_dir=str(tmp_path), compile_workers=compile_workers, log="compile"), \
            caplog.at_level(logging.INFO, logger="hybrid"):
        compare(graph, inputs, rtol=1e-5, atol=1e-5)
    said = [r.getMessage() for r in caplog.records]
    assert any(re.search(rf"compiled layers in {len(plan.parts)} parts", m) for m in said), said
    assert any("in a worker" in m for m in said) == (compile_workers > 0)


def test_bfloat16_module_split_links_its_helpers(tmp_path, monkeypatch):
    """Every part defines the weak __truncsfbf2 (and the internal barrier): the engine must link them."""
    monkeypatch.setattr(partition, "PART_COST", 1)
    x = rng.standard_normal((64, 33)).astype("f4")

    def body(g, a):
        b = op(g, "cast", a, dtype="bf16")
        return [op(g, "cast", op(g, "max", b, axes=(1,), keepdims=False), dtype="f32"),
                op(g, "cast", op(g, "relu", op(g, "mul", b, b)), dtype="f32")]
    graph = graph_of({"a": ((64, 33), "f32")}, body, name="bf")
    with config(cache_dir=str(tmp_path), compile_workers=1):
        compare(graph, [x], rtol=1e-2, atol=1e-2)


def test_worker_that_dies_is_logged_and_its_parts_compiled_here(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(partition, "PART_COST", 1)
    workers.shutdown()
    monkeypatch.setattr(workers, "SCRIPT", str(tmp_path / "no-such-worker.py"))   # python starts, then exits 2
    graph, inputs = _elementwise_graph()
    with config(cache_dir=str(tmp_path), compile_workers=1, log="compile"), \
            caplog.at_level(logging.INFO, logger="hybrid"):
        compare(graph, inputs, rtol=1e-5, atol=1e-5)
    lost = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    assert lost and "exited with status" in lost[0] and "in this process" in lost[0], lost
    workers.shutdown()


def test_worker_that_cannot_start_is_logged(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(partition, "PART_COST", 1)
    workers.shutdown()
    monkeypatch.setattr(workers.sys, "executable", str(tmp_path / "no-such-python"))
    monkeypatch.setattr(workers, "_failed", None)
    graph, inputs = _elementwise_graph()
    with config(cache_dir=str(tmp_path), compile_workers=2, log="compile"), \
            caplog.at_level(logging.INFO, logger="hybrid"):
        compare(graph, inputs, rtol=1e-5, atol=1e-5)
    said = [r.getMessage() for r in caplog.records if "cannot start a compile worker" in r.getMessage()]
    assert len(said) == 1 and "no-such-python" in said[0], said
    monkeypatch.setattr(workers, "_failed", None)


def test_worker_returns_the_compile_error():
    """An IR error is the compile's, not the worker's: raised with LLVM's message, and the worker stays usable."""
    bad = workers.Job("define void @f() {\nentry:\n  ret i32 0\n}\n", "bad")
    good = workers.Job("define void @f() {\nentry:\n  ret void\n}\n", "good")
    (worker,) = workers._take(1)
    try:
        with pytest.raises(RuntimeError, match="(?s)bad in a worker process failed.*doesn't match function result type"):
            worker.compile(bad)
        assert worker.compile(good)[:4] in (b"\x7fELF", b"\xcf\xfa\xed\xfe")   # an object file
    finally:
        workers._give_back(worker)


def test_forked_child_forgets_the_compiles_under_way():
    """A child forked while the GEMM module compiles in a thread of the parent must not wait on that thread
    (it does not exist in the child): it compiles the module again if it needs it."""
    import os
    import hybrid.codegen.llvm as backend
    backend._SGEMM_PENDING["stand-in key"] = None
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(0 if not backend._SGEMM_PENDING else 1)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        assert "stand-in key" in backend._SGEMM_PENDING   # the parent's own entry stays
    finally:
        backend._SGEMM_PENDING.pop("stand-in key", None)


def test_every_part_gets_the_loop_metadata_its_kernels_use(tmp_path, monkeypatch):
    """Long exp loops carry the module's interleave loop-ID node (render.INTERLEAVE_MD): kernels of every part
    use it, so every part must define it (ONNX's AlexNet failed to parse: undefined metadata '!9000')."""
    monkeypatch.setattr(partition, "PART_COST", 1)
    x = rng.standard_normal((64, 64)).astype("f4")

    def body(g, a):
        return [op(g, "exp", op(g, "mul", a, a)), op(g, "tanh", op(g, "matmul", op(g, "exp", a), a))]
    graph = graph_of({"a": ((64, 64), "f32")}, body, name="md")
    plan = module.build_module(passes.optimize(graph).graph, target.host()[0])
    users = [text for text, _ in plan.parts if "!llvm.loop !9000" in text]
    assert len(plan.parts) > 1 and len(users) > 1, len(plan.parts)
    for text, _ in plan.parts:
        llvm.parse_assembly(text).verify()
    with config(cache_dir=str(tmp_path), compile_workers=1):
        compare(graph, [x], rtol=1e-5, atol=1e-5)
