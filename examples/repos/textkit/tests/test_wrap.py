from textkit import wrap


def test_wrap_breaks_at_spaces(pangram):
    lines = wrap(pangram, 15)
    assert all(len(line) <= 15 for line in lines)
    assert " ".join(lines) == pangram


def test_long_word_gets_own_line():
    assert wrap("a supercalifragilistic b", 5) == ["a", "supercalifragilistic", "b"]


def test_empty_text():
    assert wrap("", 10) == []
