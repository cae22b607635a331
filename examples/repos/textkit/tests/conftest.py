import pytest


@pytest.fixture
def pangram():
    return "The quick brown fox jumps over the lazy dog"
