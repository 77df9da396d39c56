import os

import pytest

# Verify the IR after every pass in the tests (the pass manager's debug mode).
os.environ.setdefault("HYBRID_DEBUG", "1")


@pytest.fixture(autouse=True)
def _seed():
    import hybrid as hb
    hb.np.random.seed(0)
    yield
