import pytest

from ledger import format_cents, to_cents


@pytest.mark.parametrize("text, cents", [("12.5", 1250), ("0.05", 5), ("7", 700), ("3.99", 399)])
def test_to_cents(text, cents):
    assert to_cents(text) == cents


@pytest.mark.parametrize("bad", ["1.234", "abc", "", "1,5"])
def test_to_cents_rejects(bad):
    with pytest.raises(ValueError):
        to_cents(bad)


@pytest.mark.parametrize("cents, text", [(1250, "12.50"), (5, "0.05"), (-5, "-0.05"), (0, "0.00")])
def test_format_cents(cents, text):
    assert format_cents(cents) == text
