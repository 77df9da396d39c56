"""hybrid_sgemm (generated and OpenBLAS lowerings) against NumPy in float64.

Tolerance: the float32 error bound of a K-term dot product, 4 * K * eps32 * (|op(A)| @ |op(B)|) elementwise
(a dropped or doubled term exceeds it for every K used here)."""
import threading

import numpy
import pytest
from hypothesis import given, settings, strategies as st

pytest.importorskip("llvmlite")
from hybrid.codegen.llvm import gemm  # noqa: E402
from hybrid.errors import HybridError, ShapeError  # noqa: E402

EPS32 = float(numpy.finfo(numpy.float32).eps)
IMPLS = ["generated", "openblas", "auto"]


def operands(rng, M, N, K, trans_a, trans_b):
    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(numpy.float32)
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(numpy.float32)
    return a, b


def check(c, a, b, trans_a, trans_b):
    opa = (a.T if trans_a else a).astype(numpy.float64)
    opb = (b.T if trans_b else b).astype(numpy.float64)
    ref = opa @ opb
    bound = 4 * max(opa.shape[1], 1) * EPS32 * (numpy.abs(opa) @ numpy.abs(opb)) + 1e-30
    bad = numpy.abs(c - ref) > bound
    assert not bad.any(), f"{bad.sum()} of {bad.size} elements off; worst {numpy.abs(c - ref).max()}"
    return ref


@pytest.fixture(scope="module", params=IMPLS)
def impl(request):
    if request.param != "generated" and gemm._openblas_function() is None:
        pytest.skip("scipy-openblas32 is not installed")
    return request.param


@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (3, 17, 5), (17, 3, 33), (1, 300, 7), (300, 1, 9), (64, 48, 257),
                                   (131, 75, 600), (200, 520, 3), (30, 2100, 70), (5, 2100, 9)])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False), (True, True)])
def test_shapes_and_transposes(impl, M, N, K, trans_a, trans_b):
    rng = numpy.random.default_rng(M * 1000 + N + K)
    a, b = operands(rng, M, N, K, trans_a, trans_b)
    for threads in (1, 2, 3):
        check(gemm.sgemm(a, b, trans_a, trans_b, impl=impl, threads=threads), a, b, trans_a, trans_b)


def dot_shapes():
    """Shapes the dot-product kernel (gemm_dot.py) takes on this host, at the edges of its rule and of its tiles."""
    cfg = gemm.host_config()
    k_min = 2 * cfg.width
    return [(1, 1, k_min), (5, 3, k_min + 1), (47, 10, 1024), (49, 7, 100), (256, 10, 1000), (13, cfg.dot_max_n, 257),
            (6, 13, 3 * k_min - 1), (100, 2, 512)]


@pytest.mark.parametrize("M,N,K", dot_shapes())
def test_narrow_outputs_of_a_transposed_weight(impl, M, N, K):
    assert gemm.host_config().runs_as_dot(N, K, False, True) or N > gemm.host_config().dot_max_n
    rng = numpy.random.default_rng(M + N + K)
    a, b = operands(rng, M, N, K, False, True)
    for threads in (1, 2, 3, 5):
        check(gemm.sgemm(a, b, False, True, impl=impl, threads=threads), a, b, False, True)


def test_dot_rule_needs_a_row_major_a_a_transposed_b_few_columns_and_two_vectors_of_k():
    cfg = gemm.host_config()
    k = 2 * cfg.width
    assert cfg.runs_as_dot(cfg.dot_max_n, k, False, True)
    assert not cfg.runs_as_dot(cfg.dot_max_n + 1, k, False, True)
    assert not cfg.runs_as_dot(3, k - 1, False, True)
    assert not cfg.runs_as_dot(3, k, True, True)
    assert not cfg.runs_as_dot(3, k, False, False)


@settings(max_examples=25, deadline=None)
@given(M=st.integers(1, 70), N=st.integers(1, 70), K=st.integers(1, 300), trans_a=st.booleans(),
       trans_b=st.booleans(), threads=st.integers(1, 4), impl_index=st.integers(0, 1))
def test_random_shapes(M, N, K, trans_a, trans_b, threads, impl_index):
    impl = IMPLS[impl_index] if gemm._openblas_function() is not None else "generated"
    a, b = operands(numpy.random.default_rng(K), M, N, K, trans_a, trans_b)
    check(gemm.sgemm(a, b, trans_a, trans_b, impl=impl, threads=threads), a, b, trans_a, trans_b)


@pytest.mark.parametrize("R,K", [(1, 1), (5, 3), (6, 1024), (7, 1025), (64, 1537), (150, 300), (13, 3100)])
@pytest.mark.parametrize("trans", [False, True])
@pytest.mark.parametrize("operand", ["a", "b"])
def test_prepacked_operand(R, K, trans, operand):
    """A or B packed once (`hybrid_sgemm_pack_a/_b`, threads splitting the panels) then read in place: `pack`
    fills the buffer with NaN first, so a panel float the packer skipped or a thread overwrote would show.
    R is the packed operand's panel dimension (M for A, N for B)."""
    rng = numpy.random.default_rng(R * 7 + K)
    for other in (1, 17, 100):
        M, N = (R, other) if operand == "a" else (other, R)
        a, b = operands(rng, M, N, K, trans if operand == "a" else False, trans if operand == "b" else False)
        for threads in (1, 2, 3):
            x = a if operand == "a" else b
            packed = gemm.pack(x, operand, trans, threads=threads)
            if operand == "a":
                assert packed.size == gemm.packed_a_floats(M, K)
                c = gemm.sgemm(packed, b, packed_a=(M, K), threads=threads)
            else:
                assert packed.size == gemm.packed_b_floats(N, K)
                c = gemm.sgemm(a, packed, packed_b=(K, N), threads=threads)
            check(c, a, b, trans and operand == "a", trans and operand == "b")


def test_prepacked_operands_need_the_generated_kernel():
    if gemm._openblas_function() is None:
        pytest.skip("scipy-openblas32 is not installed")
    a = numpy.ones((3, 4), numpy.float32)
    with pytest.raises(HybridError, match="generated"):
        gemm.sgemm(gemm.pack(a, "a"), a.T, packed_a=(3, 4), impl="openblas")


@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("N", [530, 10])
def test_epilogue_sees_finished_tiles_that_partition_c(impl, threads, N):
    # N = 530: several MC blocks, epilogue column groups and K blocks; N = 10: the dot-product kernel's row blocks
    M, K = 301, 600
    a, b = operands(numpy.random.default_rng(1), M, N, K, False, True)
    ref = a.astype(numpy.float64) @ b.T.astype(numpy.float64)
    bias = numpy.linspace(-20, 20, N).astype(numpy.float32)
    covered = numpy.zeros((M, N), numpy.int32)
    lock = threading.Lock()
    unfinished = []

    def epilogue(m0, m1, n0, n1, c):
        tile = c[m0:m1, n0:n1]
        with lock:
            covered[m0:m1, n0:n1] += 1
            if not numpy.allclose(tile, ref[m0:m1, n0:n1], rtol=1e-4, atol=1e-3):
                unfinished.append((m0, m1, n0, n1))
        numpy.maximum(tile + bias[n0:n1], 0, out=tile)

    c = gemm.sgemm(a, b, trans_b=True, impl=impl, threads=threads, epilogue=epilogue)
    assert (covered == 1).all(), "epilogue tiles must cover C exactly once"
    assert not unfinished, f"epilogue ran on unfinished tiles {unfinished[:3]}"
    numpy.testing.assert_allclose(c, numpy.maximum(ref + bias, 0), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("trans_a,trans_b,N", [(False, False, 29), (True, True, 29), (False, True, 7)])
def test_leading_dimensions_wider_than_rows(impl, trans_a, trans_b, N):
    """lda/ldb/ldc larger than the row length: sub-matrices of wider arrays, C's padding left untouched
    (N = 7 with B transposed: the dot-product kernel)."""
    M, K = 37, 70
    rng = numpy.random.default_rng(4)
    a_wide = rng.standard_normal((K, M + 5) if trans_a else (M, K + 3)).astype(numpy.float32)
    b_wide = rng.standard_normal((N, K + 7) if trans_b else (K, N + 2)).astype(numpy.float32)
    c_wide = numpy.full((M, N + 11), 7.0, numpy.float32)
    a = a_wide[:, :M] if trans_a else a_wide[:, :K]
    b = b_wide[:, :K] if trans_b else b_wide[:, :N]
    fn, _, _ = gemm.compile_standalone(impl)
    for tid in range(2):
        fn(M, N, K, a_wide.ctypes.data, a_wide.shape[1], int(trans_a), b_wide.ctypes.data, b_wide.shape[1],
           int(trans_b), c_wide.ctypes.data, c_wide.shape[1], gemm._EPILOGUE_CTYPE(), None, tid, 2)
    check(c_wide[:, :N], a, b, trans_a, trans_b)
    assert (c_wide[:, N:] == 7.0).all()


def test_k_zero_gives_zeros_and_calls_epilogue(impl):
    calls = []
    c = gemm.sgemm(numpy.ones((5, 0), numpy.float32), numpy.ones((0, 7), numpy.float32), impl=impl, threads=2,
                   out=numpy.full((5, 7), numpy.nan, numpy.float32), epilogue=lambda *t: calls.append(t[:4]))
    assert (c == 0).all()
    assert sum((m1 - m0) * (n1 - n0) for m0, m1, n0, n1 in calls) == 35


def test_concurrent_calls_with_the_same_tid():
    """Two Python threads both calling with tid 0: one takes the pooled buffer, the other a temporary one."""
    rng = numpy.random.default_rng(2)
    pairs = [operands(rng, 150, 170, 300, False, False) for _ in range(4)]
    errors = []

    def worker(a, b):
        try:
            for _ in range(5):
                check(gemm.sgemm(a, b, impl="generated", threads=1), a, b, False, False)
        except AssertionError as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_linked_into_another_module_with_a_native_epilogue():
    """How the LLVM backend uses it: link gemm_llvm_ir() into a module holding an IR epilogue (bias + relu)."""
    import ctypes
    import llvmlite.binding as llvm
    from llvmlite import ir

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    for name, address in gemm.extern_symbols("auto").items():
        llvm.add_symbol(name, address)
    module = ir.Module("graph")
    f32p = ir.FloatType().as_pointer()
    i64 = ir.IntType(64)
    epi = ir.Function(module, gemm.EPILOGUE_TYPE, "epi")
    m0, m1, n0, n1, c, ldc, ctx = epi.args
    bld = ir.IRBuilder(epi.append_basic_block())
    bias = bld.bitcast(ctx, f32p)
    # Scalar double loop over the tile: c = max(c + bias[j], 0).
    row_bb, col_bb, next_bb, done_bb = (epi.append_basic_block(n) for n in ("row", "col", "next", "done"))
    bld.branch(row_bb)
    bld.position_at_end(row_bb)
    i = bld.phi(i64)
    i.add_incoming(m0, epi.entry_basic_block)
    bld.cbranch(bld.icmp_signed("<", i, m1), col_bb, done_bb)
    bld.position_at_end(col_bb)
    j = bld.phi(i64)
    j.add_incoming(n0, row_bb)
    p = bld.gep(c, [bld.add(bld.mul(i, ldc), j)])
    v = bld.fadd(bld.load(p), bld.load(bld.gep(bias, [j])))
    bld.store(bld.select(bld.fcmp_ordered(">", v, ir.Constant(ir.FloatType(), 0)), v,
                         ir.Constant(ir.FloatType(), 0)), p)
    j_next = bld.add(j, ir.Constant(i64, 1))
    j.add_incoming(j_next, col_bb)
    bld.cbranch(bld.icmp_signed("<", j_next, n1), col_bb, next_bb)
    bld.position_at_end(next_bb)
    i_next = bld.add(i, ir.Constant(i64, 1))
    i.add_incoming(i_next, next_bb)
    bld.branch(row_bb)
    bld.position_at_end(done_bb)
    bld.ret_void()

    target = llvm.Target.from_default_triple()
    tm = target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
                                      opt=3)
    mod = llvm.parse_assembly(str(module))
    mod.link_in(llvm.parse_assembly(gemm.gemm_llvm_ir("auto")))
    mod.verify()
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    fn = gemm._SGEMM_CTYPE(engine.get_function_address("hybrid_sgemm"))
    epi_ptr = gemm._EPILOGUE_CTYPE(engine.get_function_address("epi"))

    rng = numpy.random.default_rng(3)
    for M, N, K in ((37, 45, 29), (300, 260, 400)):
        a, b = operands(rng, M, N, K, True, False)
        bias_v = rng.standard_normal(N).astype(numpy.float32)
        out = numpy.empty((M, N), numpy.float32)
        for tid in range(3):
            fn(M, N, K, a.ctypes.data, M, 1, b.ctypes.data, N, 0, out.ctypes.data, N, epi_ptr,
               ctypes.c_void_p(bias_v.ctypes.data), tid, 3)
        ref = a.T.astype(numpy.float64) @ b
        numpy.testing.assert_allclose(out, numpy.maximum(ref + bias_v, 0), rtol=1e-4, atol=1e-4)


def test_micro_kernel_uses_vector_fma():
    if gemm.host_config().width == 4:
        pytest.skip("host has no AVX2/FMA: the generated kernel uses SSE multiply-adds")
    asm = gemm.gemm_asm("generated")
    reg = {16: "zmm", 8: "ymm"}[gemm.host_config().width]
    fmas = [line for line in asm.splitlines() if "vfmadd" in line and reg in line]
    assert len(fmas) >= gemm.host_config().mr * gemm.host_config().nr // gemm.host_config().width


@pytest.mark.parametrize("cpu, features, width, reg", [
    ("skylake-avx512", "+avx512f,+avx512vl,+avx512bw,+avx512dq,+avx2,+avx,+fma,+sse4.2", 16, "zmm"),
    ("haswell", "+avx2,+avx,+fma,+sse4.2,-avx512f", 8, "ymm")])
def test_each_host_kind_variant_compiles_to_its_fma(cpu, features, width, reg):
    """Whichever kind of host runs the tests, the other kind's blocking (AVX-512: a 6 x 64 tile of zmm
    registers; AVX2: 6 x 16 of ymm) is generated for that CPU and must compile to its vector FMAs, one per
    accumulator register of the tile at least, with no accumulator spilled to the stack."""
    import llvmlite.binding as llvm
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    config = gemm.host_config(features)
    assert config.width == width
    tm = llvm.Target.from_default_triple().create_target_machine(cpu=cpu, features=features, opt=3)
    mod = llvm.parse_assembly(gemm.gemm_llvm_ir("generated", features=features))
    mod.verify()
    pb = llvm.create_pass_builder(tm, llvm.PipelineTuningOptions(speed_level=3))
    pb.getModulePassManager().run(mod, pb)
    asm = tm.emit_assembly(mod)
    fmas = [line for line in asm.splitlines() if "vfmadd" in line and reg in line]
    assert len(fmas) >= config.mr * config.nr // width
    # the tile's accumulators stay in registers: no vector spill or reload among the micro-kernel's FMAs
    lines = asm.splitlines()
    start = lines.index("hybrid_gemm_ukernel:")
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(".Lfunc_end"))
    fma_lines = [i for i in range(start, end) if "vfmadd" in lines[i]]
    assert not [line for line in lines[fma_lines[0]:fma_lines[-1]] if "rsp" in line and reg in line]
    # so do the dot-product kernel's (gemm_dot.py) in its K loop: each tile variant's first rows x cols FMAs (one
    # step of the loop over whole vectors) with no spill among them (the masked K tail, once per row block, may)
    from hybrid.codegen.llvm import gemm_dot
    for rows, cols in gemm_dot.column_variants(width):
        start = lines.index(f"hybrid_gemm_dot_{rows}x{cols}:")
        end = next(i for i in range(start, len(lines)) if lines[i].startswith(".Lfunc_end"))
        fma_lines = [i for i in range(start, end) if "vfmadd" in lines[i] and reg in lines[i]]
        assert len(fma_lines) >= 2 * rows * cols      # the loop and the tail
        step = lines[fma_lines[0]:fma_lines[rows * cols - 1]]
        assert not [line for line in step if "rsp" in line and reg in line]
    other = {"zmm": "ymm", "ymm": "zmm"}[reg]
    if reg == "ymm":       # AVX2 code must not use AVX-512 registers (it would fault on an AVX2 host)
        assert not any(other in line for line in asm.splitlines())


def test_shape_mismatch_names_shapes():
    with pytest.raises(ShapeError, match=r"sgemm: op\(a\) is 3x4 but op\(b\) is 5x2"):
        gemm.sgemm(numpy.ones((3, 4)), numpy.ones((5, 2)))
    with pytest.raises(Exception, match="unknown impl"):
        gemm.sgemm(numpy.ones((3, 4)), numpy.ones((4, 2)), impl="mkl")
