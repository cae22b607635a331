"""Chunking sequences and merging numeric spans."""


def chunks(seq, size):
    """Consecutive slices of ``seq`` of length ``size`` (the last may be shorter)."""
    if size < 1:
        raise ValueError("size must be positive")
    return [seq[i:i + size] for i in range(0, len(seq), size)]


def merge_spans(spans):
    """Merge overlapping or touching ``(start, end)`` spans; result sorted by start."""
    merged = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            last_start, last_end = merged[-1]
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged
