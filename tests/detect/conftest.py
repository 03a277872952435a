import pytest

from safewatch import Detector


@pytest.fixture(scope="session")
def detector() -> Detector:
    d = Detector()
    d.warm_up()
    return d
