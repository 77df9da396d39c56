"""Concurrent groups of one compiled graph (passes/concurrent_groups.py) run side by side on sub-teams:
the same kernels on the same memory plan, so every schedule gives the in-order results bit for bit."""
import logging
import shutil

import numpy
import pytest

import hybrid as hb
from hybrid import np
from hybrid.model_zoo.cnn import BasicBlock, InceptionBlock
from hybrid.codegen import build, schedule_choice
from hybrid.codegen.schedule_choice import ScheduleChoice
from hybrid.passes.concurrent_groups import regions


def Residual():
    """ResNet's downsampling block: the 3x3 path and the 1x1 downsample of the same input, added."""
    return BasicBlock(16, 2, 8)


BLOCKS = [(InceptionBlock, (2, 8, 12, 12), 4), (Residual, (2, 8, 12, 12), 2)]


def _run(block, shape, backend, mode, threads, calls=3):
    hb.random.seed(0)
    net = block()
    net.initialize()
    x = np.array(numpy.random.default_rng(0).uniform(-1, 1, shape).astype("float32"))
    with hb.config(concurrent_groups=mode, num_threads=threads):
        net.hybridize(backend=backend)
        outs = [net(x).asnumpy() for _ in range(calls)]
    return net, outs


@pytest.mark.parametrize("block,shape,groups", BLOCKS, ids=["inception", "residual"])
@pytest.mark.parametrize("threads", [2, 3, 8])
def test_llvm_side_by_side_equals_in_order_bit_for_bit(block, shape, groups, threads):
    net, in_order = _run(block, shape, "llvm", "off", threads)
    assert net.ir().count("group c0.") >= groups       # marked whether or not they run side by side
    net, side = _run(block, shape, "llvm", "on", threads)
    for a, b in zip(in_order, side):
        assert a.tobytes() == b.tobytes()
    _, oracle = _run(block, shape, "interp", "off", 1, calls=1)
    numpy.testing.assert_allclose(side[0], oracle[0], rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("block,shape,groups", BLOCKS, ids=["inception", "residual"])
def test_interp_runs_groups_on_threads_with_the_same_results(block, shape, groups):
    _, in_order = _run(block, shape, "interp", "off", 2, calls=1)
    _, side = _run(block, shape, "interp", "on", 2, calls=2)
    assert in_order[0].tobytes() == side[0].tobytes() == side[1].tobytes()


def test_the_entry_point_holds_both_schedules_and_sub_team_barriers():
    from hybrid.codegen.llvm import module, target

    graph = hb.passes.run(hb.ir.parse("""
        graph @f(%x: f32[512,512]) -> f32[512,512] {
          %0 = exp(%x) : f32[512,512]
          %1 = transpose(%0) {perm=[1, 0]} : f32[512,512]
          %2 = tanh(%x) : f32[512,512]
          %3 = transpose(%2) {perm=[1, 0]} : f32[512,512]
          %4 = add(%1, %3) : f32[512,512]
          return %4
        }
    """), ["fuse", "concurrent_groups", "memory_plan"])
    assert len(regions(graph)) == 1
    triple = target.host()[0]
    plan = module.build_module(graph, triple, teams=2)
    assert (plan.concurrent_regions, plan.teams) == (1, 2)
    assert "side_by_side" in plan.ir and "getelementptr inbounds i8, ptr %bar, i64 128" in plan.ir
    aot = module.build_module(graph, triple)             # an AOT library's module: in order only
    assert (aot.concurrent_regions, aot.teams) == (0, 0) and "side_by_side" not in aot.ir
    x = numpy.random.default_rng(1).uniform(-1, 1, (512, 512)).astype("float32")
    expected = numpy.exp(x).T + numpy.tanh(x).T
    for mode in ("off", "on"):
        with hb.config(concurrent_groups=mode):
            exe = build(graph, "llvm", num_threads=2)
            got = [exe([x])[0].asnumpy() for _ in range(3)]
        schedule = exe.runner.schedule             # off: built without the side-by-side path
        assert (schedule is not None and schedule.decided) is (mode == "on")
        numpy.testing.assert_allclose(got[0], expected, rtol=1e-6, atol=1e-6)
        assert all(g.tobytes() == got[0].tobytes() for g in got)


def test_the_choice_measures_both_schedules_then_keeps_the_faster(caplog, monkeypatch):
    choice = ScheduleChoice("g", "llvm", regions=2, threads=2)
    assert choice.decided is None
    fake = {False: 1.0, True: 0.5}                        # seconds per call of each schedule
    with caplog.at_level(logging.DEBUG, logger="hybrid"):
        while choice.decided is None:
            concurrent = choice.next()
            choice.record(concurrent, fake[concurrent])
    assert choice.decided is True and choice.next() is True
    assert "faster in 7 of 7 paired calls, median time ratio 0.50, on 2 threads" in caplog.text
    # a noisy host: side by side wins most pairs but not nearly all, so the order stays
    noisy = ScheduleChoice("g", "llvm", regions=1, threads=2)
    pattern = iter([0.5, 0.5, 0.5, 3.0, 0.5, 0.5, 3.0, 0.5, 0.5])   # side-by-side calls / in-order call's 1.0
    while noisy.decided is None:
        concurrent = noisy.next()
        noisy.record(concurrent, next(pattern) if concurrent else 1.0)
    assert noisy.decided is False and "in 5 of 7 paired calls" in noisy.reason
    # within the margin the order stays (it leaves threads free); with one thread nothing is measured
    tie = ScheduleChoice("g", "llvm", regions=1, threads=2)
    while tie.decided is None:
        concurrent = tie.next()
        tie.record(concurrent, 1.0 if not concurrent else 0.99)
    assert tie.decided is False and "in order" in tie.reason
    assert ScheduleChoice("g", "llvm", regions=1, threads=1).decided is False
    # the first call of each schedule is a warm-up: never counted
    fresh = ScheduleChoice("g", "llvm", regions=1, threads=2)
    fresh.record(True, 100.0)
    fresh.record(False, 100.0)
    assert fresh.times == {False: [], True: []}
    assert schedule_choice.TRIALS >= 3


def test_profiled_calls_run_in_order_and_name_the_schedule():
    net, _ = _run(Residual, (2, 8, 12, 12), "llvm", "on", 2, calls=1)
    with hb.config(concurrent_groups="on", num_threads=2):
        with hb.profiler.profile() as p:
            net(np.array(numpy.ones((2, 8, 12, 12), "float32"))).asnumpy()
    calls = [e for e in p.events if e.category == "call"]
    assert calls and calls[-1].args.get("schedule", "").startswith("side by side")
    assert "@BasicBlock: concurrent kernel groups run side by side (concurrent_groups=on)" in p.table()


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found: the CUDA emulator needs it")
def test_cuda_emulator_runs_groups_in_order_and_logs_why(caplog):
    with caplog.at_level(logging.DEBUG, logger="hybrid"), hb.config(cuda_runtime="emulator"):
        _, got = _run(Residual, (2, 8, 12, 12), "cuda", "auto", 2, calls=1)
    _, oracle = _run(Residual, (2, 8, 12, 12), "interp", "off", 1, calls=1)
    numpy.testing.assert_allclose(got[0], oracle[0], rtol=2e-5, atol=2e-5)
    assert "run in order on one stream" in caplog.text
