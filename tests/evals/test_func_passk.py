"""pass@k against brute-force enumeration of every k-subset of the samples."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patchloop.evals.passk import mean_pass_at_k, pass_at_k


def brute_force(n: int, c: int, k: int) -> float:
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_matches_enumeration_for_every_small_case(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert math.isclose(pass_at_k(n, c, k), brute_force(n, c, k), abs_tol=1e-12)


@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_matches_enumeration_property(nck):
    n, c, k = nck
    assert math.isclose(pass_at_k(n, c, k), brute_force(n, c, k), abs_tol=1e-12)


def test_pass_at_1_is_the_pass_rate_and_large_n_is_stable():
    assert pass_at_k(200, 37, 1) == pytest.approx(37 / 200)
    assert pass_at_k(200, 0, 100) == 0.0
    assert pass_at_k(200, 200, 100) == 1.0
    assert 0.0 < pass_at_k(1000, 1, 10) < 1.0


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_mean_reports_only_k_every_problem_can_support():
    out = mean_pass_at_k({"a": (10, 5), "b": (4, 0)}, [1, 4, 10])
    assert set(out) == {"pass@1", "pass@4"}
    assert out["pass@1"] == pytest.approx((0.5 + 0.0) / 2)
    assert out["pass@4"] == pytest.approx((brute_force(10, 5, 4) + 0.0) / 2)
