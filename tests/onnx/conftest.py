import os
import sys

import pytest

pytest.importorskip("onnx", reason="the ONNX tests need the `onnx` extra (pip install -e '.[onnx]')")
# the shared finite-difference helper of the autograd tests
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "autograd"))
