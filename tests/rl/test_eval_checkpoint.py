"""`patchloop eval func --model`: a checkpoint is sampled, graded in the sandbox, and the score
says how it was sampled; the run resumes and refuses to mix sampling settings."""

from __future__ import annotations

import json
import subprocess
import sys


def _eval(*args):
    """``eval func`` in a subprocess, sampling in process (``--engine hf``): a server engine's
    start would cost more than the tiny model's whole run; tests/llm covers the servers."""
    engine = ("--engine", "hf") if "--model" in args else ()
    return subprocess.run([sys.executable, "-m", "patchloop", "eval", "func", "--no-progress", "-b", "local", *engine,
                           *args],
                          check=False, capture_output=True, text=True, timeout=600)


def test_eval_func_measures_a_checkpoint_and_records_sampling(tiny_model, task_dir, tmp_path):
    out = tmp_path / "ev"
    args = ("--dataset", str(task_dir), "--model", str(tiny_model), "--n-samples", "2", "--temperature", "0.8",
            "--max-new-tokens", "12", "--k", "1,2", "--out", str(out))
    res = _eval(*args)
    assert res.returncode == 0, res.stderr[-2000:]
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    # default split of a datagen directory is heldout (8 tasks), two samples each
    assert len(samples) == 16 and len({s["task_id"] for s in samples}) == 8
    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples"] == 16 and summary["graded"] == 16 and summary["infra_errors"] == 0
    assert {"pass@1", "pass@2"} <= set(summary)
    meta = summary["meta"]
    assert meta["model"] == str(tiny_model) and meta["temperature"] == 0.8 and meta["n_samples"] == 2
    assert meta["decoding"] == "sampling" and meta["max_new_tokens"] == 12 and meta["split"] == "heldout"
    results = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert abs(summary["pass@1"] - sum(r["passed"] for r in results) / 16) < 1e-9

    again = _eval(*args)  # resumes: nothing sampled or graded twice
    assert again.returncode == 0, again.stderr[-2000:]
    assert len((out / "samples.jsonl").read_text().splitlines()) == 16
    assert len((out / "results.jsonl").read_text().splitlines()) == 16

    # killed mid-write: the last sample torn in half is made again, on a line of its own
    lines = (out / "samples.jsonl").read_text().splitlines()
    (out / "samples.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    torn = _eval(*args)
    assert torn.returncode == 0, torn.stderr[-2000:]
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines() if x != lines[-1][:20]]
    assert len(rows) == 16 and sorted((r["task_id"], r["sample"]) for r in rows) == sorted(
        (s["task_id"], s["sample"]) for s in samples)

    mixed = _eval("--dataset", str(task_dir), "--model", str(tiny_model), "--n-samples", "2",
                  "--temperature", "0.5", "--max-new-tokens", "12", "--out", str(out))
    assert mixed.returncode == 2 and "other settings (temperature)" in mixed.stderr


def test_eval_func_takes_a_training_output_dir_and_refuses_bad_requests(tiny_model, task_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_model, run / "final")
    (run / "DONE.json").write_text(json.dumps({"model": "elsewhere/final", "adapter": False}))  # relative, other cwd
    res = _eval("--dataset", str(task_dir), "--split", "sft", "--limit", "3", "--model", str(run),
                "--max-new-tokens", "8", "--out", str(tmp_path / "ev"))
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert summary["problems"] == 3 and summary["meta"]["decoding"] == "greedy" and summary["meta"]["split"] == "sft"

    greedy_many = _eval("--dataset", str(task_dir), "--model", str(run), "--n-samples", "4", "--out", str(tmp_path / "x"))
    assert greedy_many.returncode == 2 and "--temperature > 0" in greedy_many.stderr
    both = _eval("--dataset", str(task_dir), "--model", str(run), "--samples", "s.jsonl")
    assert both.returncode == 2 and "exactly one of --samples" in both.stderr
    empty = tmp_path / "empty-run"
    empty.mkdir()
    none = _eval("--dataset", str(task_dir), "--model", str(empty), "--out", str(tmp_path / "y"))
    assert none.returncode == 2 and "no finished checkpoint" in none.stderr
    nosplit = _eval("--dataset", str(task_dir), "--split", "nope", "--model", str(run))
    assert nosplit.returncode == 2 and "no split 'nope'" in nosplit.stderr


def test_a_prompt_longer_than_the_context_fails_alone(tiny_model, tmp_path):
    ok = {"task_id": "p/ok", "prompt": "def f(x):\n    \"\"\"Return x.\"\"\"\n", "entry_point": "f",
          "test": "def check(candidate):\n    assert candidate(1) == 1\n"}
    huge = dict(ok, task_id="p/huge", prompt="def f(x):\n    \"\"\"" + "return x, " * 8000 + "\"\"\"\n")
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps(ok) + "\n" + json.dumps(huge) + "\n")
    out = tmp_path / "ev"
    res = _eval("--dataset", str(problems), "--model", str(tiny_model), "--max-new-tokens", "8", "--out", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "p/huge sample 0: prompt of" in res.stderr and "exceeds the model's context" in res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples"] == 2 and summary["graded"] == 2


def test_eval_func_on_bundled_humaneval_with_a_chat_prompt(tiny_model, tmp_path):
    """No file to hand over: `--dataset humaneval`, a fixed subset, the chat prompt recorded
    with its version, the samples written per item with the raw text, and a rerun resumes.
    (The tiny model fails these problems; the plumbing is what is under test.)"""
    out = tmp_path / "he"
    ids = "HumanEval/0,HumanEval/2,HumanEval/163"
    args = ("--dataset", "humaneval", "--problems", ids, "--model", str(tiny_model), "--prompt-format", "chat",
            "--max-new-tokens", "6", "--k", "1", "--out", str(out))
    res = _eval(*args)
    assert res.returncode == 0, res.stderr[-2000:]
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert [s["task_id"] for s in samples] == ids.split(",") and all(isinstance(s["raw"], str) for s in samples)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problems"] == 3 and summary["graded"] == 3 and summary["infra_errors"] == 0
    meta = summary["meta"]
    assert meta["dataset"] == "humaneval" and meta["problem_ids"] == ids.split(",")
    assert meta["prompt"]["format"] == "chat" and meta["prompt"]["version"] == "chat-v1"
    assert "one ```python code block" in meta["prompt"]["template"]
    assert meta["decoding"] == "greedy" and meta["sampling_wall_s"] > 0 and summary["grading_wall_s"] > 0
    settings = json.loads((out / "samples.jsonl.settings.json").read_text())
    assert settings["prompt"]["version"] == "chat-v1"

    again = _eval(*args)  # resumes: nothing sampled twice, and the wall time is the first run's
    assert again.returncode == 0, again.stderr[-2000:]
    assert len((out / "samples.jsonl").read_text().splitlines()) == 3
    assert json.loads((out / "samples.jsonl.settings.json").read_text())["sampling_wall_s"] == settings["sampling_wall_s"]

    other_prompt = _eval(*[a if a != "chat" else "completion" for a in args])
    assert other_prompt.returncode == 2 and "other settings (prompt, prompt_format, stop)" in other_prompt.stderr
    unknown = _eval("--dataset", "humaneval", "--problems", "HumanEval/0,HumanEval/999", "--model", str(tiny_model),
                    "--out", str(tmp_path / "x"))
    assert unknown.returncode == 2 and "unknown problem id(s): HumanEval/999" in unknown.stderr


def test_loading_a_model_draws_no_third_party_bars(tiny_model, tmp_path):
    """The CLI keeps transformers' 'Loading weights' bar and hub bars out of the terminal."""
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY")}
    r = subprocess.run([sys.executable, "-m", "patchloop", "eval", "func", "--dataset", "humaneval", "--limit", "1",
                        "--model", str(tiny_model), "--max-new-tokens", "2", "--backend", "local", "--k", "1",
                        "--out", str(tmp_path / "ev")], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-1500:]
    assert "1 problems, 1 samples" in r.stdout
    assert "Loading weights" not in r.stdout + r.stderr
