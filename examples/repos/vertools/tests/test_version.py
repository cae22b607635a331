import pytest

from vertools import Version, parse


@pytest.mark.parametrize("text", ["0.0.1", "1.2.3", "10.20.30", "1.0.0-alpha.1"])
def test_round_trip(text):
    assert str(parse(text)) == text


@pytest.mark.parametrize("bad", ["1.2", "01.2.3", "1.2.3-", "v1.2.3", ""])
def test_rejects_malformed(bad):
    with pytest.raises(ValueError):
        parse(bad)


class TestOrdering:
    def test_core_ordering(self):
        assert parse("1.2.3") < parse("1.10.0") < parse("2.0.0")

    def test_prerelease_identifiers(self):
        assert parse("1.0.0-alpha") < parse("1.0.0-alpha.1")
        assert parse("1.0.0-alpha.2") < parse("1.0.0-alpha.10")
        assert parse("1.0.0-2") < parse("1.0.0-alpha")

    def test_equal_versions(self):
        assert parse("1.2.3") == Version(1, 2, 3)
