"""A pytest plugin that keeps every Nth collected test item (MXNET_SHIM_SAMPLE_EVERY=N), so a
systematic sample of a big file (test_numpy_op.py collects ~11,000 items) runs in minutes and the
same sample is drawn on every run: collection order is the file's order, and the kept items are
those at positions 0, N, 2N, ... (bench/mxnet_tests/run.py --sample-every N loads it)."""
from __future__ import annotations

import os

SAMPLE_EVERY = int(os.environ.get("MXNET_SHIM_SAMPLE_EVERY", "1"))


def pytest_collection_modifyitems(session, config, items) -> None:
    if SAMPLE_EVERY <= 1:
        return
    kept = items[::SAMPLE_EVERY]
    config.hook.pytest_deselected(items=[item for index, item in enumerate(items) if index % SAMPLE_EVERY])
    items[:] = kept
