import pytest

from textkit import truncate


def test_short_text_is_untouched():
    assert truncate("abc", 10) == "abc"


def test_long_text_gets_placeholder(pangram):
    out = truncate(pangram, 12)
    assert out == "The quick..."
    assert len(out) == 12


@pytest.mark.parametrize("placeholder", ["...", "~", ""])
def test_result_never_exceeds_width(pangram, placeholder):
    for width in range(len(placeholder), len(pangram) + 2):
        assert len(truncate(pangram, width, placeholder)) <= width


def test_width_smaller_than_placeholder_is_rejected():
    with pytest.raises(ValueError):
        truncate("hello", 2)
