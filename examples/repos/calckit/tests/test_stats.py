import pytest

from calckit import clamp, mean, median, running_total


def test_mean_of_integers():
    assert mean([1, 2, 3, 4]) == 2.5


def test_mean_of_one():
    assert mean([7]) == 7


def test_mean_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        mean([])


def test_median_odd():
    assert median([5, 1, 3]) == 3


def test_median_even():
    assert median([4, 1, 3, 2]) == 2.5


def test_median_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        median([])


@pytest.mark.parametrize("x,expected", [(-5, 0), (5, 5), (15, 10), (0, 0), (10, 10)])
def test_clamp(x, expected):
    assert clamp(x, 0, 10) == expected


def test_clamp_rejects_inverted_bounds():
    with pytest.raises(ValueError):
        clamp(1, 5, 0)


def test_running_total():
    assert running_total([1, 2, 3, 4]) == [1, 3, 6, 10]


def test_running_total_empty():
    assert running_total([]) == []
