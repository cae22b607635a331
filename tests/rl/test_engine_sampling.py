"""RFT/DPO sampling through the generation interface (``sampling.engine``): k requests per
prompt in flight together, each chat answer ending at the grader's rule, and on the tiny model
a real run that samples with the in-process engine and keeps its samples resumable."""

from __future__ import annotations

import json

import pytest

from patchloop.llm.generation import GenResult
from patchloop.rl.config import load_config
from patchloop.rl.engine_sampling import engine_groups
from patchloop.rl.sample_config import RFTRunConfig, SamplingSettings
from tests.rl.test_rft_dpo import _common, comment_tasks  # noqa: F401


class ScriptedEngine:
    """Answers each request with its index; records what it was asked."""

    def __init__(self):
        self.asked = []

    def render(self, prompt):
        return [len(str(prompt))]

    def generate(self, reqs, on_result=None):
        self.asked = reqs
        return [GenResult(f"answer {i}", [i], [0.0], "stop", 1) for i in range(len(reqs))]


def test_k_requests_per_prompt_grouped_in_order_with_the_graders_stop_rule():
    gen, s = ScriptedEngine(), SamplingSettings(num_samples=3, temperature=0.9, max_new_tokens=40)
    rows = [{"entry_point": "f"}, {"entry_point": "g"}]
    groups = engine_groups(gen, rows, ["p1", "p2"], s, "chat", seed=7)
    assert groups == [["answer 0", "answer 1", "answer 2"], ["answer 3", "answer 4", "answer 5"]]
    assert len({r.seed for r in gen.asked}) == 6 and {r.temperature for r in gen.asked} == {0.9}
    rule = gen.asked[3].settled
    assert not rule("```python\ndef f():\n    return 1\n```")  # prompt 2's answer must define g
    assert rule("```python\ndef g():\n    return 1\n```")
    engine_groups(gen, rows, ["p1", "p2"], s, "completion", seed=7)
    assert all(r.settled is None for r in gen.asked)  # a body is read to its end, as the grader reads it


def test_a_failed_request_fails_the_batch_with_its_reason():
    class Broken(ScriptedEngine):
        def generate(self, reqs, on_result=None):
            return [GenResult("", [], [], "error", 1, error="vllm: HTTP 500: died")] * len(reqs)

    with pytest.raises(RuntimeError, match="2 of 2 generations failed: vllm: HTTP 500: died"):
        engine_groups(Broken(), [{"entry_point": "f"}], ["p"], SamplingSettings(num_samples=2), "chat", seed=0)


@pytest.mark.train
@pytest.mark.slow
def test_rft_samples_through_the_in_process_engine_and_resumes(tiny_model, comment_tasks, tmp_path):  # noqa: F811
    from patchloop.rl.common import load_model
    from patchloop.rl.data import training_rows
    from patchloop.rl.sampling import sample_and_grade

    out = tmp_path / "rft"
    cfg = load_config(RFTRunConfig, None, [*_common(tiny_model, comment_tasks, out), "sampling.engine=hf"])
    model, tok = load_model(cfg.model)
    rows = training_rows(cfg.data, "rl", cfg.train.seed)
    records = sample_and_grade(cfg, model, tok, rows, out / "samples.jsonl", progress=False)
    assert len(records) == 4 and all(len(r["samples"]) == 8 for r in records)
    assert any(s["passed"] for r in records for s in r["samples"]) or all(
        s["reward"] is not None for r in records for s in r["samples"])
    settings = json.loads((out / "samples.jsonl.settings.json").read_text())
    assert settings["sampling"]["engine"] == "hf"
    again = sample_and_grade(cfg, model, tok, rows, out / "samples.jsonl", progress=False)  # nothing redone
    assert again == records
    other = load_config(RFTRunConfig, None, [*_common(tiny_model, comment_tasks, out), "sampling.engine=model"])
    with pytest.raises(ValueError, match="other settings \\(sampling\\)"):
        sample_and_grade(other, model, tok, rows, out / "samples.jsonl", progress=False)
