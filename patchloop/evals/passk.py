"""Unbiased pass@k (Chen et al., 2021, "Evaluating Large Language Models Trained on Code").

With ``n`` samples of which ``c`` pass, pass@k = 1 - C(n-c, k) / C(n, k): the probability
that at least one of ``k`` samples drawn without replacement passes. Computed as a running
product (as in the paper's numpy snippet) so large ``n`` neither overflows nor loses precision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate for one problem. Requires 0 <= c <= n and 1 <= k <= n."""
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    prob_all_fail = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_fail *= 1.0 - k / i
    return 1.0 - prob_all_fail


def mean_pass_at_k(counts: Mapping[str, tuple[int, int]] | Iterable[tuple[int, int]], ks: Iterable[int]) -> dict[str, float]:
    """Mean pass@k over problems, from ``(n, c)`` per problem. A ``k`` is reported only when
    every problem has at least ``k`` samples (otherwise the estimate is undefined)."""
    pairs = list(counts.values()) if isinstance(counts, Mapping) else list(counts)
    out: dict[str, float] = {}
    if not pairs:
        return out
    for k in sorted(set(ks)):
        if k >= 1 and all(n >= k for n, _ in pairs):
            out[f"pass@{k}"] = sum(pass_at_k(n, c, k) for n, c in pairs) / len(pairs)
    return out
