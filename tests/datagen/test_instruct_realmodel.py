"""OSS-Instruct end to end against the real 0.5B Instruct model served over HTTP by
``patchloop serve``: a handful of items, every reply accounted for, every kept task verified."""

from __future__ import annotations

import json

import pytest

from patchloop.datagen.instruct.oss_instruct import OssInstructConfig, run_oss_instruct
from patchloop.datagen.instruct.teacher import ChatTeacher
from patchloop.types import FunctionTask, read_jsonl
from tests.conftest import REAL_MODEL
from tests.datagen.test_seeds import MODULE

# A CPU shared with other work decodes slowly: two items, short replies, a long time limit.
pytestmark = [pytest.mark.realmodel, pytest.mark.slow, pytest.mark.train, pytest.mark.timeout(1800)]
N = 2


def test_oss_instruct_with_the_real_teacher_accounts_for_every_reply(tmp_path, served_real_model, grader):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"id": "p==1:m.py", "package": "p", "version": "1", "licence": "MIT",
                                 "path": "m.py", "text": MODULE}) + "\n")
    teacher = ChatTeacher(f"openai:{REAL_MODEL}", base_url=served_real_model, temperature=0.7, max_tokens=320,
                          timeout=1500)
    stats = run_oss_instruct(seeds, tmp_path / "oss", OssInstructConfig(n=N), teacher, grader, progress=False)
    y = stats["yield"]
    assert y["generated"] == N and stats["teacher"]["tokens"] > 0
    # every reply is either a named drop or a kept task; parsed ones were all executed
    assert sum(stats["drops"].values()) + y["kept"] == N and y["parsed"] == y["executed"]
    rows = read_jsonl(tmp_path / "oss" / "tasks.jsonl")
    assert len(rows) == y["kept"] == y["passed"]
    if rows:  # what was kept passes the grader again
        tasks = [FunctionTask.from_dict(r) for r in rows]
        assert all(r.passed for r in grader(tasks, [t.canonical_solution for t in tasks]))
