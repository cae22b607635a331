"""Averages and running sums."""


def mean(values):
    """Arithmetic mean; raises ValueError on an empty sequence."""
    if not values:
        raise ValueError("mean of nothing")
    total = 0
    for v in values:
        total += v
    return total / len(values)


def median(values):
    """Middle value (mean of the two middle ones for an even count)."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("median of nothing")
    mid = n // 2
    if n % 2 == 1:
        return ordered[mid]
    else:
        return (ordered[mid - 1] + ordered[mid]) / 2


def clamp(x, low, high):
    """``x`` limited to ``[low, high]``."""
    if low > high:
        raise ValueError("low must not exceed high")
    if x < low:
        return low
    if x > high:
        return high
    return x


def running_total(values):
    """Prefix sums: ``[a, a+b, a+b+c, ...]``."""
    out = []
    acc = 0
    for v in values:
        acc = acc + v
        out.append(acc)
    return out
