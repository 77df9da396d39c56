"""The official ONNX backend test suite against hybrid (slow tier: the whole suite on interp and on llvm,
the PyTorch-operator models on llvm), and a fast default-tier run of the on-disk PyTorch operator and simple models on interp.
Every failure must be in tests/onnx/backend_suite.py's reviewed EXPECTED_FAILURES list."""
import numpy
import pytest

from backend_suite import EXPECTED_FAILURES, LLVM_EXPECTED_FAILURES, backend_class, expected_reason, run_suite, summary


def test_every_expected_failure_has_a_reason():
    assert EXPECTED_FAILURES and all(reason.strip() for _, reason in EXPECTED_FAILURES + LLVM_EXPECTED_FAILURES)


@pytest.mark.parametrize("backend,kind", [("interp", "pytorch-operator"), ("interp", "simple"),
                                          pytest.param("llvm", "pytorch-operator", marks=pytest.mark.slow)])
def test_disk_models(backend, kind):
    """The suite's stored inputs and outputs, compared as BackendTest does (rtol/atol of the case)."""
    import onnx
    from onnx import numpy_helper
    from onnx.backend.test.loader import load_model_tests
    import glob
    import os

    runner = backend_class(backend)
    ran = 0
    for case in load_model_tests(kind=kind):
        if expected_reason(case.name, backend):
            continue
        model = onnx.load(os.path.join(case.model_dir, "model.onnx"))
        for folder in sorted(glob.glob(os.path.join(case.model_dir, "test_data_set*"))):
            def read(prefix):
                files = sorted(glob.glob(os.path.join(folder, f"{prefix}_*.pb")),
                               key=lambda p: int(p.rsplit("_", 1)[1].split(".")[0]))
                return [numpy_helper.to_array(onnx.load_tensor(f)) for f in files]
            outputs = runner.run_model(model, read("input"))
            for got, want in zip(outputs, read("output")):
                assert got.dtype == want.dtype, case.name
                if want.dtype == object:   # strings (StringNormalizer's models): equal, as BackendTest compares them
                    assert got.tolist() == want.tolist(), case.name
                else:
                    numpy.testing.assert_allclose(got, want, rtol=case.rtol, atol=case.atol, err_msg=case.name)
            ran += 1
    assert ran >= (23 if kind == "simple" else 5)


def test_bfloat16_attention_compiles_on_every_host():
    """A row max and a mask compare of bfloat16 values: LLVM rounded them through compiler-rt's
    __truncsfbf2, which the JIT did not link, and the process crashed on hosts without AVX512-BF16."""
    report = run_suite("llvm", r"^test_attention_4d_causal(_padded_kv)?_bf16_cpu$")
    node = report["node"]
    assert len(node["passed"]) == 2 and not node["expected"] and not node["details"], summary(report)


# The whole suite on interp (about 2 minutes on an idle 2-core host), and on llvm the shard of cases named
# test_a* to test_l* (about 1,100 node cases, the light models among them: about 1,000 compiled modules, a few
# minutes of CPU with a cold compile cache). The other llvm shard (about 20 minutes on the loaded development
# host) is run by hand: `python tests/onnx/backend_suite.py --backend llvm --include 'test_[m-zM-Z]'`.
# Floors just under the measured node pass rates (2026-12-02, fifth session, AVX2 host: interp 1826/1884 = 96.9%,
# llvm first shard 1049/1083 = 96.9% then, before the 10 bfloat16 Attention cases that crashed there were fixed,
# second shard 767/801 = 95.8%), so a regression fails here; the target is 90%.
SHARDS = {"interp": None, "llvm": r"test_[a-lA-L]"}
NODE_FLOOR = {"interp": 0.945, "llvm": 0.965}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["interp", "llvm"])
def test_backend_suite(backend):
    report = run_suite(backend, SHARDS[backend])
    print(summary(report))
    unexpected = [line for groups in report.values() for line in groups["details"]]
    assert not unexpected, "failures outside EXPECTED_FAILURES:\n" + "\n".join(unexpected)
    for kind in ("pytorch-converted", "pytorch-operator", "real (light models, local files)"):
        assert not report[kind]["expected"], f"{kind} must pass completely: {report[kind]['expected']}"
    node = report["node"]
    assert len(node["passed"]) / (len(node["passed"]) + len(node["expected"])) >= NODE_FLOOR[backend]
