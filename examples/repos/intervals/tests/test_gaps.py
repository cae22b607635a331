from intervals import Interval, gaps


def test_gap_between_two():
    assert gaps([Interval(0, 2), Interval(5, 9)], 0, 9) == [Interval(2, 5)]


def test_gaps_at_edges():
    assert gaps([Interval(3, 4)], 0, 10) == [Interval(0, 3), Interval(4, 10)]


def test_fully_covered():
    assert gaps([Interval(-5, 50)], 0, 10) == []
