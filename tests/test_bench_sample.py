"""bench/mxnet_tests/sample.py: the held-out MXNet measurement's systematic sample keeps the
collected items at positions 0, N, 2N, ... and the same ones on every run."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ran(tmp_path, every: int) -> list[str]:
    (tmp_path / "test_items.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('i', range(10))\ndef test_item(i):\n    pass\n")
    env = dict(os.environ, PYTHONPATH=ROOT, MXNET_SHIM_SAMPLE_EVERY=str(every))
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "bench.mxnet_tests.sample", "-p", "no:cacheprovider",
                          "-p", "no:xdist", "-o", "addopts=", "-v", "--rootdir", str(tmp_path), "test_items.py"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    return [line.split("::")[1].split()[0] for line in out.stdout.splitlines() if " PASSED" in line]


def test_every_third_item_is_kept_in_collection_order(tmp_path):
    expected = [f"test_item[{i}]" for i in (0, 3, 6, 9)]
    assert _ran(tmp_path, 3) == expected
    assert _ran(tmp_path, 3) == expected   # the same sample again


def test_every_item_runs_without_a_sample(tmp_path):
    assert _ran(tmp_path, 1) == [f"test_item[{i}]" for i in range(10)]
