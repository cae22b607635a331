import pytest

from calckit import chunks, merge_spans


def test_chunks_even():
    assert chunks([1, 2, 3, 4], 2) == [[1, 2], [3, 4]]


def test_chunks_with_remainder():
    assert chunks("abcde", 2) == ["ab", "cd", "e"]


def test_chunks_rejects_zero():
    with pytest.raises(ValueError):
        chunks([1], 0)


def test_merge_overlapping():
    assert merge_spans([(1, 3), (2, 5), (8, 9)]) == [(1, 5), (8, 9)]


def test_merge_touching():
    assert merge_spans([(5, 6), (1, 5)]) == [(1, 6)]


def test_merge_contained():
    assert merge_spans([(1, 10), (2, 3)]) == [(1, 10)]


def test_merge_nothing():
    assert merge_spans([]) == []
