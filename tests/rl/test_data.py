"""Row selection for the trainers: level caps (scarce labels) and level shares (curriculum)."""

from __future__ import annotations

from patchloop.rl.data import select


def _rows():
    return [{"task_id": f"t/L{lv}/{i:03d}", "level": lv, "family": "arith"} for lv in (1, 2, 3) for i in range(50)]


def test_level_cap_keeps_the_same_few_tasks_whatever_the_seed():
    picked = [select(_rows(), level_caps={3: 5}, seed=s) for s in (0, 1)]
    for rows in picked:
        assert sum(r["level"] == 3 for r in rows) == 5
        assert sum(r["level"] == 2 for r in rows) == 50  # other levels untouched
    l3 = [sorted(r["task_id"] for r in rows if r["level"] == 3) for rows in picked]
    assert l3[0] == l3[1] == [f"t/L3/{i:03d}" for i in range(5)]
    assert [r["task_id"] for r in picked[0]] != [r["task_id"] for r in picked[1]]  # order is shuffled by seed


def test_level_weights_resample_after_the_cap():
    rows = select(_rows(), levels=[2, 3], level_caps={3: 4}, level_weights={2: 0.5, 3: 0.5}, max_samples=40)
    assert len(rows) == 40
    l3 = [r for r in rows if r["level"] == 3]
    assert len(l3) == 20 and len({r["task_id"] for r in l3}) == 4  # four tasks, cycled to their share
