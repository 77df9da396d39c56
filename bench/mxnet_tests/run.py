"""Held-out measurement: MXNet 2.0's own Python unit tests run against hybrid (`import mxnet` gives
`hybrid` through bench/mxnet_tests/shim.py). The test files are read from a local clone of
apache/mxnet at run time and never stored in this repository.

    python -m bench.mxnet_tests.run --mxnet /path/to/mxnet-clone            # prints the table
    python -m bench.mxnet_tests.run --mxnet ... --files test_loss.py --write  # and writes RESULTS.md
    python -m bench.mxnet_tests.run --mxnet ... --files test_numpy_op.py --sample-every 100  # 1-in-100 items

Per file: tests passed / run (pytest's count of collected test items, parametrizations included;
a file that fails to import counts its `def test_` functions as failed), and the most common
failure reasons over all files (the first line of each error), to say what to fix first.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNITTEST = "tests/python/unittest"
DEFAULT_FILES = ["test_gluon.py", "test_numpy_gluon.py", "test_loss.py", "test_metric.py", "test_gluon_trainer.py",
                 "test_gluon_utils.py", "test_gluon_data.py", "test_optimizer.py", "test_numpy_loss.py",
                 "test_gluon_rnn.py", "test_gluon_model_zoo.py"]
SECTION = "## MXNet 2.0 unit tests against hybrid (held-out, issue 17)"


def git_show(clone: str, path: str) -> str:
    """A file of the clone's HEAD (the clone may be a bare mirror without a work tree)."""
    return subprocess.run(["git", "--git-dir", _git_dir(clone), "show", f"HEAD:{path}"], check=True,
                          capture_output=True, text=True).stdout


def _git_dir(clone: str) -> str:
    return os.path.join(clone, ".git") if os.path.isdir(os.path.join(clone, ".git")) else clone


def run_file(clone: str, name: str, workdir: str, timeout: float, sample_every: int = 1) -> dict:
    """Run one test file under the shim (every `sample_every`th collected item only, when above 1:
    bench/mxnet_tests/sample.py); its counts and failure reasons."""
    source = git_show(clone, f"{UNITTEST}/{name}")
    with open(os.path.join(workdir, name), "w") as f:
        f.write(source)
    report = os.path.join(workdir, name + ".xml")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, workdir, os.environ.get("PYTHONPATH", "")]),
               MPLBACKEND="Agg", MXNET_SHIM_SAMPLE_EVERY=str(sample_every))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "bench.mxnet_tests.shim", "-p", "bench.mxnet_tests.sample",
           "-p", "no:cacheprovider",
           "-p", "no:xdist", "-o", "addopts=", f"--junitxml={report}", "--rootdir", workdir, name]
    started = time.monotonic()
    try:
        subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    result = {"file": name, "seconds": time.monotonic() - started, "timed_out": timed_out,
              "defined": len(re.findall(r"^def test_", source, re.M)), "reasons": collections.Counter()}
    if timed_out or not os.path.exists(report):
        result.update(run=result["defined"], passed=0, skipped=0)
        result["reasons"]["(timed out)" if timed_out else "(no report)"] += result["defined"]
        return result
    run = passed = skipped = 0
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome = [child for child in case if child.tag in ("failure", "error", "skipped")]
        if outcome and outcome[0].tag == "skipped":
            skipped += 1
            continue
        if outcome and outcome[0].get("message") == "collection failure":   # the file did not import
            result.update(run=result["defined"], passed=0, skipped=0)
            result["reasons"][_reason(outcome[0])] += result["defined"]
            return result
        run += 1
        if not outcome:
            passed += 1
            continue
        result["reasons"][_reason(outcome[0])] += 1
    result.update(run=run, passed=passed, skipped=skipped)
    return result


def _reason(element) -> str:
    """The exception line of a failure: 'AttributeError: module hybrid has no attribute nd'."""
    message = element.get("message") or ""
    if message in ("", "collection failure") or message.startswith("failed on setup"):
        errors = [ln[1:].strip() for ln in (element.text or "").splitlines() if ln.startswith("E ")]
        message = errors[-1] if errors else message
    text = message.strip().splitlines()
    line = text[0] if text else element.tag
    line = re.sub(r"0x[0-9a-f]+", "0x..", line)
    return line[:160]


def table(results: list) -> str:
    lines = ["| file | passed | run | pass rate | skipped | seconds |", "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        rate = r["passed"] / r["run"] if r["run"] else 0.0
        lines.append(f"| {r['file']}{' (timed out)' if r['timed_out'] else ''} | {r['passed']} | {r['run']} | "
                     f"{100 * rate:.0f}% | {r['skipped']} | {r['seconds']:.0f} |")
    passed, run = sum(r["passed"] for r in results), sum(r["run"] for r in results)
    lines.append(f"| **all** | **{passed}** | **{run}** | **{100 * passed / max(run, 1):.0f}%** | "
                 f"{sum(r['skipped'] for r in results)} | {sum(r['seconds'] for r in results):.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mxnet", required=True, help="a clone of apache/mxnet (bare or with a work tree)")
    parser.add_argument("--files", nargs="*", default=DEFAULT_FILES, help=f"files of {UNITTEST}")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per file")
    parser.add_argument("--top", type=int, default=12, help="how many failure reasons to list")
    parser.add_argument("--sample-every", type=int, default=1,
                        help="run every Nth collected item of each file only (a reproducible systematic sample)")
    parser.add_argument("--reports", help="keep each file's JUnit XML report (every item's outcome) in this folder")
    parser.add_argument("--write", action="store_true", help="write the table into bench/RESULTS.md")
    args = parser.parse_args()
    commit = subprocess.run(["git", "--git-dir", _git_dir(args.mxnet), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for helper in (f"{UNITTEST}/common.py", "tests/python/common/models.py"):   # their helpers
            with open(os.path.join(workdir, os.path.basename(helper)), "w") as f:
                f.write(git_show(args.mxnet, helper))
        for name in args.files:
            results.append(run_file(args.mxnet, name, workdir, args.timeout, args.sample_every))
            r = results[-1]
            if args.reports and os.path.exists(os.path.join(workdir, name + ".xml")):
                os.makedirs(args.reports, exist_ok=True)
                shutil.copy(os.path.join(workdir, name + ".xml"), args.reports)
            print(f"{name}: {r['passed']}/{r['run']} passed in {r['seconds']:.0f} s", flush=True)
    reasons = collections.Counter()
    for r in results:
        reasons.update(r["reasons"])
    text = "\n".join([
        SECTION, "",
        f"MXNet's own tests (apache/mxnet {commit}, {UNITTEST}) run with `import mxnet` aliased to hybrid "
        "(bench/mxnet_tests/shim.py; the files are read from the clone at run time, never stored here): "
        f"`python -m bench.mxnet_tests.run --mxnet CLONE {' '.join(sys.argv[3:])}`. "
        "A file that fails to import counts all its test functions as failed. Many tests use the legacy "
        "`mx.nd`/`mx.sym` APIs, which hybrid leaves out by design (docs/semantics.md).", "",
        table(results), "", "Most common failure reasons (count: first line of the error):", "",
        *[f"- {count}: `{reason}`" for reason, count in reasons.most_common(args.top)]])
    print(text)
    if args.write:
        from bench.train_bench import write_section
        write_section(text, SECTION)


if __name__ == "__main__":
    main()
