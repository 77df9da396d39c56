"""Running the official ONNX backend test suite (onnx.backend.test.BackendTest) against hybrid.

`EXPECTED_FAILURES` is the reviewed list: a regex over test names and the reason each group cannot
pass. `run_suite` runs the suite for one hybrid backend and sorts the outcome into passed,
expected failures, unexpected failures and stale entries (listed, but passing).

    python tests/onnx/backend_suite.py --backend llvm [--kinds pytorch-converted simple ...] [--include REGEX]

prints the pass rate per kind (the numbers in docs/onnx.md and bench/RESULTS.md).
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import unittest

# Test kinds: BackendTest's class names ("OnnxBackend<kind>Test") -> report names.
KINDS = {"NodeModel": "node", "SimpleModel": "simple", "PyTorchConvertedModel": "pytorch-converted",
         "PyTorchOperatorModel": "pytorch-operator", "RealModel": "real (light models, local files)"}

EXPECTED_FAILURES: list[tuple[str, str]] = [
    (r"^test_tfidfvectorizer", "TfIdfVectorizer: its n-gram pooling over token ids is not implemented"),
    (r"^test_loop16_seq_none$", "the ONNX runner cannot compare a sequence that holds a 0-d tensor (its "
     "assert_similar_outputs recurses into the tensor and calls len() on it); hybrid's output equals the expected "
     "one (tests/onnx/test_onnx_import.py::test_sequence_outputs_match_the_reference)"),
    (r"^test_(bernoulli|random|dropout_.*training|training_dropout)", "random sampling ops: hybrid's "
     "counter-based generator cannot reproduce ONNX Runtime's draws, and training-mode Dropout is a training op"),
    (r"^test_batchnorm_.*training_mode", "training-mode BatchNormalization"),
    (r"^test_ai_onnx_ml_", "ops of the ai.onnx.ml domain (classical ML: label encoders, tree ensembles) are "
     "outside the standard domain hybrid imports"),
    (r"^test_(nonmaxsuppression|unique|compress|nonzero)", "data-dependent output shapes: these ops run eagerly "
     "and raise a clear error when compiled (the suite compiles every model)"),
    (r"^test_range_float.*_expanded", "Range expanded into a Loop whose trip count is computed from float inputs; "
     "hybrid unrolls loops, so trip counts must be known when the model is built"),
    (r"^test_dft_inverse", "the expected values come from NumPy's float32 FFT, whose rounding (1.9e-7 where the "
     "exact value is 0) exceeds the case's atol of 1e-7; hybrid's transform sums in float64 and is exact there"),
    (r"^test_scan_sum$", "Scan-8 (opset 8's batch axis and sequence_lens); Scan from opset 9 is supported"),
]


# failures of the llvm backend only (codegen bugs, reported to the llvm owner); none known
LLVM_EXPECTED_FAILURES: list[tuple[str, str]] = []


def expected_reason(name: str, hybrid_backend: str = "interp"):
    extra = LLVM_EXPECTED_FAILURES if hybrid_backend == "llvm" else []
    for pattern, reason in EXPECTED_FAILURES + extra:
        if re.search(pattern, name):
            return reason
    return None


def backend_class(hybrid_backend: str):
    from hybrid.onnx.backend import HybridBackend
    return type(f"HybridBackend_{hybrid_backend}", (HybridBackend,), {"default_backend": hybrid_backend})


def _kind(case) -> str:
    cls = case.id().split(".")[-2]
    return KINDS.get(cls.removeprefix("OnnxBackend").removesuffix("Test"), cls)


def run_suite(hybrid_backend: str, include: str | None = None, progress: str | None = None,
              kinds: list[str] | None = None) -> dict:
    """Run BackendTest on CPU; returns {kind: {"passed": [...], "expected": [...], "unexpected": [...],
    "stale": [...]}} (test names without the _cpu suffix). `kinds`: only these report kinds (all when
    None). `progress`: a file that gets one line per case (name ... ok / FAIL / ERROR) as it finishes,
    so a run stopped early still tells what it measured."""
    import onnx.backend.test

    suite = onnx.backend.test.BackendTest(backend_class(hybrid_backend), __name__)
    suite.exclude(r"_cuda$")
    if include:
        suite.include(include)
    # the list keeps the cases: a TestSuite drops its references to the tests it has run
    cases = [case for case in _iter_tests(suite.test_suite) if not kinds or _kind(case).split(" ")[0] in kinds]
    with open(progress or os.devnull, "w", buffering=1) as stream:
        runner = unittest.TextTestRunner(stream=stream, verbosity=2 if progress else 0)
        result = runner.run(unittest.TestSuite(cases))
    failed = {t.id(): tb for t, tb in result.failures + result.errors}
    skipped = {t.id() for t, _ in result.skipped}
    report: dict = collections.defaultdict(lambda: collections.defaultdict(list))
    for case in cases:
        test_id = case.id()
        if test_id in skipped:
            continue
        name, kind = test_id.split(".")[-1].removesuffix("_cpu"), _kind(case)
        reason = expected_reason(name, hybrid_backend)
        if test_id in failed:
            report[kind]["expected" if reason else "unexpected"].append(name)
            report[kind]["messages"].append(f"{name}: {_last_line(failed[test_id])}")
            if not reason:
                report[kind]["details"].append(f"{name}: {_last_line(failed[test_id])}")
        else:
            report[kind]["passed"].append(name)
            if reason:
                report[kind]["stale"].append(name)
    return report


def _iter_tests(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _iter_tests(item)
        else:
            yield item


def _last_line(traceback: str) -> str:
    lines = [line for line in traceback.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def summary(report: dict) -> str:
    lines = [f"{'kind':34s} {'passed':>7s} {'total':>6s} {'rate':>7s} {'expected fail':>14s} {'unexpected':>11s}"]
    for kind, groups in sorted(report.items()):
        passed = len(groups["passed"])
        total = passed + len(groups["expected"]) + len(groups["unexpected"])
        lines.append(f"{kind:34s} {passed:7d} {total:6d} {100 * passed / max(total, 1):6.1f}% "
                     f"{len(groups['expected']):14d} {len(groups['unexpected']):11d}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="llvm", choices=["interp", "llvm"])
    parser.add_argument("--include", default=None, help="regex of test names to run (default: all)")
    parser.add_argument("--messages", default=None, help="write every failure's last error line to this file")
    parser.add_argument("--progress", default=None, help="write one line per case to this file as it finishes")
    parser.add_argument("--kinds", nargs="+", default=None, choices=sorted(k.split(" ")[0] for k in KINDS.values()),
                        help="run only these kinds of cases (default: all)")
    args = parser.parse_args()
    report = run_suite(args.backend, args.include, args.progress, args.kinds)
    if args.messages:
        with open(args.messages, "w") as f:
            f.writelines(f"[{kind}] {line}\n" for kind, groups in report.items() for line in groups["messages"])
    print(f"hybrid backend {args.backend}")
    print(summary(report))
    reasons = collections.Counter(expected_reason(name, args.backend) for groups in report.values()
                                  for name in groups["expected"])
    print("expected failures by reason:")
    for reason, count in reasons.most_common():
        print(f"  {count:4d}  {reason}")
    for kind, groups in report.items():
        for line in groups["details"]:
            print(f"unexpected [{kind}] {line}")
        for name in groups["stale"]:
            print(f"stale expected-failure entry [{kind}] {name} passes")


if __name__ == "__main__":
    sys.exit(main())
