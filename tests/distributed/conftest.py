import pytest


@pytest.fixture
def comm():
    from hybrid.distributed import world
    return world()
