"""RFT and DPO: the kept set, the preference pairs, resumable sampling, and LoRA steps on the
tiny model (adapter moves, base frozen), graded by the real execution reward in a local sandbox."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from datasets import Dataset, DatasetDict

from patchloop.datagen.functions import hf_rows
from patchloop.rl.config import load_config
from patchloop.rl.pairs import build_pairs, load_pairs
from patchloop.rl.rft import kept_set
from patchloop.rl.sample_config import DPORunConfig, RFTRunConfig
from patchloop.types import FunctionTask

# A prompt that ends inside a comment in the function body: a completion passes while what it
# writes on later lines still parses, so a random model's samples both pass and fail.
PROMPT = "def calc(x):\n    return x + 1  #"
TEST = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(5) == 6\n"


def _s(text, passed, reward=None):
    return {"completion": text, "passed": passed, "reward": (1.0 if passed else 0.0) if reward is None else reward}


def test_kept_set_keeps_distinct_passing_samples_up_to_m_per_prompt():
    records = [{"task_id": "a", "samples": [_s("x", True), _s(" x\n", True), _s("y", False), _s("z", True),
                                            _s("w", True)]},
               {"task_id": "b", "samples": [_s("q", False), _s("r", False)]}]
    kept, stats = kept_set(records, max_per_prompt=2)
    assert kept == [{"task_id": "a", "completion": "x"}, {"task_id": "a", "completion": "z"}]  # " x\n" is "x" again
    assert stats == {"prompts": 2, "samples": 7, "passed": 4, "kept": 2, "prompts_with_a_pass": 1}


def test_pairs_put_a_passing_sample_against_a_failing_one_of_the_same_prompt():
    records = [{"task_id": "a", "samples": [_s("good", True), _s("bad", False), _s("good ", True),
                                            _s("lost", False, reward=None) | {"reward": None}, _s("ok", True),
                                            _s("worse", False)]},
               {"task_id": "b", "samples": [_s("all", True), _s("pass", True)]}]
    pairs = build_pairs(records, {"a": "def a():", "b": "def b():"}, "chat", max_per_prompt=5)
    assert [(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs] == [("good", "bad"),
                                                                                          ("ok", "worse")]
    assert all(p["task_id"] == "a" and p["prompt"][0]["role"] == "user" and "def a():" in p["prompt"][0]["content"]
               for p in pairs)
    assert all(p["chosen"][0]["role"] == p["rejected"][0]["role"] == "assistant" for p in pairs)
    text = build_pairs(records, {"a": "def a():", "b": "def b():"}, "completion", max_per_prompt=1)
    assert text == [{"task_id": "a", "prompt": "def a():", "chosen": "good", "rejected": "bad"}]


def test_bad_pair_rows_are_one_line_each_and_skipped(tmp_path, caplog):
    p = tmp_path / "pairs.jsonl"
    p.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p", "chosen": "a"}\nnot json\n'
                 '{"prompt": "p", "chosen": "a", "rejected": "a"}\n')
    with caplog.at_level(logging.WARNING):
        ds = load_pairs(p)
    assert ds.to_list() == [{"prompt": "p", "chosen": "a", "rejected": "b"}]
    lines = [r.getMessage() for r in caplog.records]
    assert any(":2: skipped, missing rejected" in m for m in lines) and any(":3: skipped, not JSON" in m for m in lines)
    assert any(":4: skipped, chosen and rejected are the same" in m for m in lines)


@pytest.fixture
def comment_tasks(tmp_path):
    tasks = [FunctionTask(f"c/{i}", PROMPT, "calc", TEST, "", {
        "family": "arith", "level": 1, "params": [], "seed": i,
        "cases": [{"args": [1], "expected": 2}, {"args": [5], "expected": 6}]}) for i in range(4)]
    DatasetDict({"rl": Dataset.from_list(hf_rows(tasks))}).save_to_disk(str(tmp_path / "tasks" / "hf"))
    return tmp_path / "tasks"


def _common(model, tasks, out):
    return [f"model.name_or_path={model}", f"data.path={tasks}", f"train.output_dir={out}", "train.report_to=[]",
            "sampling.num_samples=8", "sampling.max_new_tokens=16", "sampling.temperature=1.5",
            "sampling.prompts_per_batch=2", "grader.backend=local", "lora.enabled=true", "lora.r=4",
            "train.learning_rate=1e-2", "train.per_device_train_batch_size=2", "max_length=96"]


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _assert_lora_moved_base_frozen(model, before):
    moved = {n: not torch.equal(before[n], p.detach()) for n, p in model.named_parameters()}
    assert any(v for n, v in moved.items() if "lora_" in n), "no LoRA weight changed"
    assert not any(v for n, v in moved.items() if "lora_" not in n), "a base weight changed under LoRA"


def _regrade(tasks_dir, task_id, completion):
    """The grader's verdict on one completion, from scratch (not the sampler's record)."""
    from datasets import load_from_disk

    from patchloop.rl.data import grpo_rows
    from patchloop.rl.rewards import ExecutionReward

    row = grpo_rows([r for r in load_from_disk(str(tasks_dir / "hf"))["rl"] if r["task_id"] == task_id],
                    "completion")[0]
    reward = ExecutionReward(partial=False, backend="local")
    try:
        return reward([row["prompt"]], [completion], **{k: [v] for k, v in row.items() if k != "prompt"})[0]
    finally:
        reward.close()


def _content(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("generation_s", "grading_s")}


@pytest.mark.train
@pytest.mark.slow
def test_sampling_stops_at_its_time_budget_and_keeps_what_it_finished(tiny_model, comment_tasks, tmp_path,
                                                                       monkeypatch):
    """A clock that moves 100 s per reading: the first batch (2 prompts) starts at 100 s, inside a
    150 s budget; the second would start at 200 s, so it never does."""
    import types

    from patchloop.rl import sampling
    from patchloop.rl.common import load_model
    from patchloop.rl.data import training_rows

    cfg = load_config(RFTRunConfig, None, [*_common(tiny_model, comment_tasks, tmp_path / "r"),
                                           "sampling.max_wall_s=150"])
    clock = iter(range(0, 10_000, 100))
    monkeypatch.setattr(sampling, "time", types.SimpleNamespace(monotonic=lambda: next(clock),
                                                                perf_counter=sampling.time.perf_counter))
    rows = training_rows(cfg.data, "rl", 0)
    records = sampling.sample_and_grade(cfg, *load_model(cfg.model), rows, tmp_path / "s.jsonl", progress=False)
    assert [r["task_id"] for r in records] == [str(r["task_id"]) for r in rows[:2]]
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 2


@pytest.mark.train
@pytest.mark.slow
def test_rft_keeps_only_passing_samples_resumes_and_trains_the_adapter(tiny_model, comment_tasks, tmp_path):
    from patchloop.rl.rft import build_trainer

    out = tmp_path / "rft"
    cfg = load_config(RFTRunConfig, None, [*_common(tiny_model, comment_tasks, out), "train.max_steps=2"])
    trainer, _, stats = build_trainer(cfg, progress=False)
    records = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert [len(r["samples"]) for r in records] == [8] * 4
    failing = {s["completion"] for r in records for s in r["samples"] if not s["passed"]}
    kept = [json.loads(x) for x in (out / "kept.jsonl").read_text().splitlines()]
    assert failing, "no failing sample: the test cannot tell a filter from none"
    assert kept and not {k["completion"] for k in kept} & failing
    assert all(_regrade(comment_tasks, k["task_id"], k["completion"]) == 1.0 for k in kept[:3])
    assert len(trainer.train_dataset) == len(kept) == stats["kept"] <= 2 * 4
    assert json.loads((out / "yield.json").read_text()) == stats
    before = _snapshot(trainer.model)
    trainer.train()
    _assert_lora_moved_base_frozen(trainer.model, before)

    # Killed mid-sampling: two prompts and a torn line on disk. The rerun keeps those two, makes
    # only the others (the same ones, seeded by position) and ends with the same records.
    lines = (out / "samples.jsonl").read_text().splitlines()
    (out / "samples.jsonl").write_text("\n".join(lines[:2]) + '\n{"task_id": "c/')
    from patchloop.rl.rft import prepare

    prepare(cfg, progress=False)
    assert [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()[:2]] == records[:2]
    again = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines() if x.endswith("}")]
    assert [_content(r) for r in again] == [_content(r) for r in records]  # the times differ, nothing else
    assert all(r["generation_s"] > 0 and r["grading_s"] > 0 for r in again)
    hotter = load_config(RFTRunConfig, None, [*_common(tiny_model, comment_tasks, out), "sampling.temperature=1.0"])
    # Refused before anything is sampled: the run's own config guard names the setting.
    with pytest.raises(ValueError, match=r"sampling\.temperature 1\.5, not 1\.0"):
        prepare(hotter, progress=False)


@pytest.mark.train
@pytest.mark.slow
def test_dpo_pairs_are_right_and_a_step_moves_only_the_adapter(tiny_model, comment_tasks, tmp_path):
    from patchloop.rl.dpo import build_trainer

    out = tmp_path / "dpo"
    cfg = load_config(DPORunConfig, None, [*_common(tiny_model, comment_tasks, out), "train.max_steps=2",
                                           "max_pairs_per_prompt=2"])
    trainer, _ = build_trainer(cfg, progress=False)
    pairs = [json.loads(x) for x in (out / "pairs.jsonl").read_text().splitlines()]
    assert pairs and len(trainer.train_dataset) == len(pairs)
    for p in pairs:
        assert p["prompt"] == PROMPT and p["chosen"] != p["rejected"]
        assert _regrade(comment_tasks, p["task_id"], p["chosen"]) == 1.0
        assert _regrade(comment_tasks, p["task_id"], p["rejected"]) == 0.0
    before = _snapshot(trainer.model)
    trainer.train()
    _assert_lora_moved_base_frozen(trainer.model, before)

    # The trainer also takes a pairs dataset made elsewhere, and then samples nothing.
    again = load_config(DPORunConfig, None, [*_common(tiny_model, comment_tasks, tmp_path / "dpo2"),
                                             "train.max_steps=1", f"pairs={out / 'pairs.jsonl'}"])
    trainer2, _ = build_trainer(again, progress=False)
    assert len(trainer2.train_dataset) == len(pairs) and not (tmp_path / "dpo2" / "samples.jsonl").exists()


@pytest.mark.train
def test_cli_bad_inputs_are_one_line(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "pairs.jsonl"
    bad.write_text("not json\n")
    res = subprocess.run([sys.executable, "-m", "patchloop", "train", "dpo", "--pairs", str(bad),
                          "--output-dir", str(tmp_path / "out"), "--report-to", "[]"],
                         check=False, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and res.stderr.strip().splitlines()[-1] == f"error: {bad}: no usable preference pairs"
    res = subprocess.run([sys.executable, "-m", "patchloop", "train", "rft", "--num-samples", "0"],
                         check=False, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "sampling.num_samples" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.train
def test_a_pairs_file_carrying_humaneval_is_refused_before_the_model_loads(tmp_path):
    """A user's pairs file is checked against HumanEval as every training set is, and the
    check's result is printed with the run."""
    import subprocess
    import sys

    from patchloop.datagen.filters.decontam import humaneval_path
    from patchloop.evals.func.evaluate import load_func_problems

    he = load_func_problems(humaneval_path())["HumanEval/12"]
    rows = [{"prompt": [{"role": "user", "content": "Write double(x)."}],
             "chosen": [{"role": "assistant", "content": "def double(x):\n    return 2 * x\n"}],
             "rejected": [{"role": "assistant", "content": "def double(x):\n    return x\n"}]},
            {"prompt": [{"role": "user", "content": he.prompt}],
             "chosen": [{"role": "assistant", "content": he.canonical_solution}],
             "rejected": [{"role": "assistant", "content": "    return None\n"}]}]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = subprocess.run([sys.executable, "-m", "patchloop", "train", "dpo", "--pairs", str(pairs),
                          "--output-dir", str(tmp_path / "out"), "--report-to", "[]"],
                         check=False, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert f"decontamination pairs {pairs}: 1 of 2 tasks contaminated by HumanEval" in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith(f"error: pairs {pairs}: 1 tasks contaminated by HumanEval")
