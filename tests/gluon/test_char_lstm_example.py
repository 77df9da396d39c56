"""examples/char_lstm.py, tiny: a few dozen steps already take the held-out perplexity below the unigram
baseline (the default run goes well below it)."""
import importlib.util
import os

import pytest

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "char_lstm.py")


def load_example():
    spec = importlib.util.spec_from_file_location("char_lstm", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_char_lstm_beats_the_unigram_baseline():
    pytest.importorskip("tqdm")
    result = load_example().main(["--hybridize", "--epochs", "1", "--steps", "60", "--hidden", "48", "--seq-len",
                                  "16", "--batch", "16", "--lr", "0.02"])
    assert result["perplexity"][-1] < 0.8 * result["unigram"], result
