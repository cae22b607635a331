"""Teacher stages with several items in flight (``workers``): truly concurrent, the same output
as one at a time, one shared grader sandbox taking turns, and a dead teacher still stops."""

from __future__ import annotations

import threading

import pytest

from patchloop.datagen.instruct.oss_instruct import OssInstructConfig, run_oss_instruct
from patchloop.datagen.instruct.self_instruct import SelfInstructConfig
from patchloop.datagen.instruct.stage import StageError
from patchloop.datagen.instruct.teacher import LLMError, ScriptedTeacher
from patchloop.evals.func.grade import FunctionGrader
from tests.datagen import teacher_replies as R

REPLIES = [R.good("double_all"), R.NO_CODE, R.good("triple_all", 3), R.WRONG, R.bare_asserts("count_a"),
           R.UNPARSABLE]


@pytest.fixture(scope="module")
def shared_grader():
    grader = FunctionGrader("local", timeout_s=5.0)
    yield grader
    grader.close()


def by_seed(seed: int) -> str:
    """A reply chosen by the sample's seed, so it does not depend on the order of the calls."""
    return REPLIES[seed % len(REPLIES)]


def test_workers_keep_items_in_flight_together_and_give_the_same_output(tmp_path, seeds, shared_grader):
    serial = run_oss_instruct(seeds, tmp_path / "serial", OssInstructConfig(n=12),
                              ScriptedTeacher(lambda p, s: by_seed(s)), shared_grader, progress=False)
    together, first_four = threading.Barrier(4, timeout=60), threading.Semaphore(4)

    def gathered(prompt, seed):
        if first_four.acquire(blocking=False):
            together.wait()  # BrokenBarrierError, raised out of the stage, unless 4 calls are in flight at once
        return by_seed(seed)
    stats = run_oss_instruct(seeds, tmp_path / "parallel", OssInstructConfig(n=12, workers=4),
                             ScriptedTeacher(gathered), shared_grader, progress=False)
    assert not together.broken
    assert stats["yield"] == serial["yield"] and stats["yield"]["kept"] >= 4
    assert stats["fingerprint"] == serial["fingerprint"]  # workers are not part of the recipe
    assert (tmp_path / "parallel" / "tasks.jsonl").read_text() == (tmp_path / "serial" / "tasks.jsonl").read_text()


def test_a_dead_teacher_stops_a_stage_with_workers_and_the_rest_is_not_asked(tmp_path, seeds, shared_grader):
    dead = ScriptedTeacher(lambda p, s: LLMError("cannot reach http://127.0.0.1:9/v1"))
    with pytest.raises(StageError, match="3 teacher failures in a row.*cannot reach"):
        run_oss_instruct(seeds, tmp_path / "dead", OssInstructConfig(n=200, workers=2), dead, shared_grader,
                         progress=False)
    assert dead.calls <= 3 + 2 + 2  # the failures, then at most what the two workers had started


def test_self_instruct_runs_its_items_in_order():
    """Its novelty filter compares each instruction with the tasks kept before it."""
    with pytest.raises(ValueError, match="less than or equal to 1"):
        SelfInstructConfig(n=4, workers=2)
