"""Fixtures for the RL tests: the offline tiny model (built once) and a small task directory
in the shape ``patchloop datagen functions`` writes (HF DatasetDict under ``hf/``)."""

from __future__ import annotations

import random

import pytest

from patchloop.types import FunctionTask


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from patchloop.llm.catalog.tiny import init_tiny

    return init_tiny(tmp_path_factory.mktemp("rl-tiny") / "model", seed=0)


def arith_tasks(level: int, n: int, seed: int) -> list[FunctionTask]:
    from patchloop.datagen.families import arith
    from patchloop.datagen.functions import to_task

    rng = random.Random(seed)
    return [to_task(arith(random.Random(rng.random()), level), seed) for _ in range(n)]


@pytest.fixture(scope="session")
def task_dir(tmp_path_factory):
    from datasets import Dataset, DatasetDict

    from patchloop.datagen.functions import hf_rows

    out = tmp_path_factory.mktemp("rl-tasks")
    sft = arith_tasks(1, 8, 1) + arith_tasks(2, 8, 2)
    rl = [FunctionTask(t.task_id, t.prompt, t.entry_point, t.test, "", t.extra) for t in arith_tasks(3, 8, 3)]
    held = arith_tasks(2, 4, 4) + arith_tasks(3, 4, 5)
    DatasetDict({"sft": Dataset.from_list(hf_rows(sft)), "rl": Dataset.from_list(hf_rows(rl)),
                 "heldout": Dataset.from_list(hf_rows(held))}).save_to_disk(str(out / "hf"))
    return out
