"""The training example end to end (slow: about 30 s with the llvm backend on 2 cores)."""
import os
import re
import subprocess
import sys

import pytest

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train_lenet.py")


@pytest.mark.slow
def test_train_lenet_hybridized_reaches_97_percent():
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    out = subprocess.run([sys.executable, EXAMPLE, "--hybridize", "--backend", "llvm"], capture_output=True,
                         text=True, timeout=600, check=True).stdout
    accuracy = float(re.search(r"final test accuracy ([0-9.]+)", out).group(1))
    assert accuracy >= 0.97, out
    assert re.search(r"time per epoch: eager [0-9.]+ s", out), out
