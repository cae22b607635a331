"""Dedup on a table of known duplicates: exact copies (re-indented, re-cased), near copies
(one identifier renamed in a long function), and distinct tasks that share a template."""

from __future__ import annotations

import pytest

from patchloop.datagen.filters.dedup import DedupConfig, NearIndex, dedup

BASE = '''def merge_intervals(intervals):
    """Merge overlapping closed intervals and return them sorted by their start point."""
    ordered = sorted(intervals, key=lambda pair: pair[0])
    merged = []
    for start, end in ordered:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
'''

CASES = [
    # (name, text, duplicate of "base"?, how)
    ("reindented", "\n".join("  " + line for line in BASE.splitlines()), True, "exact"),
    ("recased", BASE.upper(), True, "exact"),
    ("renamed_once", BASE.replace("ordered = sorted", "ordered_pairs = sorted")
     .replace("in ordered:", "in ordered_pairs:"), True, "near"),
    ("extra_comment", BASE.replace("    merged = []\n", "    merged = []  # result list\n"), True, "near"),
    ("other_task", '''def word_lengths(sentence):
    """Return the length of every word of a sentence, in order, ignoring punctuation marks."""
    return [len(w.strip(".,;:!?")) for w in sentence.split()]
''', False, None),
    ("same_template_other_body", '''def merge_intervals(intervals):
    """Merge overlapping closed intervals and return them sorted by their start point."""
    out = []
    for lo, hi in sorted(intervals):
        if not out or lo > out[-1][1]:
            out.append([lo, hi])
        else:
            out[-1][1] = max(hi, out[-1][1])
    return out
''', False, None),
]


@pytest.mark.parametrize("name,text,dup,how", CASES, ids=[c[0] for c in CASES])
def test_known_duplicates_are_found_and_distinct_tasks_kept(name, text, dup, how):
    res = dedup([{"task_id": "base", "prompt": BASE}, {"task_id": name, "prompt": text}])
    assert [r["task_id"] for r in res.kept] == (["base"] if dup else ["base", name])
    if dup:
        (removed,) = res.removed
        assert (removed.id, removed.duplicate_of, removed.reason) == (name, "base", how)
        assert removed.jaccard >= 0.7


def test_bigcode_settings_are_the_defaults():
    cfg = DedupConfig()
    assert (cfg.shingle, cfg.num_perm, cfg.threshold) == (5, 256, 0.7)


def test_whole_table_counts_and_first_of_a_group_is_kept():
    rows = [{"task_id": "base", "prompt": BASE}] + [{"task_id": c[0], "prompt": c[1]} for c in CASES]
    res = dedup(rows)
    assert res.counts() == {"input": 7, "kept": 3, "exact": 2, "near": 2}
    assert [r["task_id"] for r in res.kept] == ["base", "other_task", "same_template_other_body"]


def test_rows_duplicating_an_existing_pool_are_removed_and_the_pool_is_not():
    res = dedup([{"task_id": "new", "prompt": BASE.upper()}], against=[{"task_id": "old", "prompt": BASE}])
    assert res.kept == [] and res.removed[0].duplicate_of == "old"


def test_near_index_answers_none_for_novel_text():
    idx = NearIndex()
    idx.add("a", BASE)
    assert idx.match(CASES[4][1]) is None
    assert idx.match(CASES[2][1])[:2] == ("a", "near")
