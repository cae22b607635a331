"""A real local model as teacher (``hf:DIR``, the untrained tiny model): its output is noise,
which is the normal case the stages must survive: every reply a counted drop, no crash."""

from __future__ import annotations

import json

import pytest

from patchloop.datagen.instruct import open_teacher
from patchloop.datagen.instruct.oss_instruct import OssInstructConfig, run_oss_instruct
from tests.datagen.test_seeds import MODULE

pytestmark = pytest.mark.train


def test_a_noisy_local_teacher_gives_counted_drops_not_crashes(tmp_path, grader):
    from patchloop.llm.catalog.tiny import init_tiny

    model = init_tiny(tmp_path / "tiny", seed=0)
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"id": "p:m.py", "text": MODULE, "licence": "MIT"}) + "\n")
    teacher = open_teacher(f"hf:{model}", base_url=None, temperature=1.0, top_p=1.0, max_tokens=24)
    stats = run_oss_instruct(seeds, tmp_path / "oss", OssInstructConfig(n=3), teacher, grader, progress=False)
    assert stats["items"] == 3 and stats["yield"]["generated"] == 3 and stats["yield"]["kept"] == 0
    assert sum(stats["drops"].values()) == 3 and stats["teacher"]["tokens"] > 0
    # the three prompts share the template's opening, which the engine prefilled only once
    assert 0 < stats["teacher"]["cached_prompt_tokens"] < stats["teacher"]["prompt_tokens"]
    assert json.loads((tmp_path / "oss" / "fingerprint.json").read_text())["settings"]["teacher"]["model"] == f"hf:{model}"
