import pytest

from intervals import Interval, merge, total_length


def iv(a, b):
    return Interval(a, b)


def test_disjoint_stay_apart():
    assert merge([iv(5, 6), iv(1, 2)]) == [iv(1, 2), iv(5, 6)]


def test_overlapping_join():
    assert merge([iv(1, 4), iv(3, 8)]) == [iv(1, 8)]


def test_touching_join():
    assert merge([iv(1, 3), iv(3, 5)]) == [iv(1, 5)]


def test_empty_input():
    assert merge([]) == []


def test_invalid_interval():
    with pytest.raises(ValueError):
        iv(3, 1)


def test_total_length_of_overlaps():
    assert total_length([iv(0, 10), iv(5, 15)]) == 15


class TestOverlaps:
    @pytest.mark.parametrize("a, b, expected", [((1, 3), (2, 5), True), ((1, 2), (3, 4), False)])
    def test_overlaps(self, a, b, expected):
        assert iv(*a).overlaps(iv(*b)) is expected
