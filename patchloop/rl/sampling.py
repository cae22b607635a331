"""Sample k completions per training prompt and grade each: the first stage of RFT and DPO.

Generation is batched (``prompts_per_batch`` prompts x ``num_samples`` sequences per
``generate`` call) and stops each sequence where its code ends. Every completion is graded by
``ExecutionReward``, the reward GRPO trains on, with all-or-nothing scoring: a sample *passes*
when every test passes, in the same sandbox and with the same extraction as GRPO's reward and
evaluation. One JSONL line per prompt (its samples and verdicts) is appended as soon as its
batch is graded, so a killed run resumes at the first prompt it had not finished; the settings
are stored next to the file and a rerun with other settings is refused rather than mixed in.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

from patchloop.rl.data import grpo_rows, model_prompt
from patchloop.types import append_jsonl, end_torn_line, iter_jsonl, write_json

log = logging.getLogger(__name__)

_TOP_LEVEL = re.compile(r"\n(?=\S)")  # completion format: the function ends at the first unindented line
_FENCE = "```"


def code_end(text: str, prompt_format: str) -> int | None:
    """Where the code of a completion ends (cut the text there), or None while it goes on."""
    if prompt_format == "chat":
        first = text.find(_FENCE)
        close = text.find(_FENCE, first + len(_FENCE)) if first >= 0 else -1
        return close + len(_FENCE) if close >= 0 else None
    m = _TOP_LEVEL.search(text)
    return m.start() + 1 if m else None


def _code_end_criteria(tok, start: int, prompt_format: str):
    """A ``StoppingCriteria`` that ends each sequence of a batch once its code has ended."""
    import torch
    from transformers import StoppingCriteria

    class CodeEnd(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            texts = tok.batch_decode(input_ids[:, start:], skip_special_tokens=True)
            return torch.tensor([code_end(t, prompt_format) is not None for t in texts], device=input_ids.device)

    return CodeEnd()


def generate_groups(model, tok, prompts: list[Any], s, prompt_format: str, seed: int,
                    num_samples: int | None = None, greedy: bool = False) -> list[list[str]]:
    """``num_samples`` completions for each prompt, decoded in one batched ``generate`` call;
    text after the end of the code is cut off (``s`` is a ``SamplingSettings``)."""
    import torch
    from transformers import StoppingCriteriaList

    from patchloop.rl.evaluate import prompt_text

    k = 1 if greedy else (num_samples or s.num_samples)
    side, tok.padding_side = tok.padding_side, "left"
    try:
        enc = tok([prompt_text(tok, p) for p in prompts], return_tensors="pt", padding=True,
                  add_special_tokens=False).to(model.device)
    finally:
        tok.padding_side = side
    start = enc["input_ids"].shape[1]
    stop = StoppingCriteriaList([_code_end_criteria(tok, start, prompt_format)]) if s.stop_at_code_end else None
    sampling = {} if greedy else {"do_sample": True, "temperature": s.temperature, "top_p": s.top_p, "top_k": 0}
    torch.manual_seed(seed)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=s.max_new_tokens, num_return_sequences=k,
                             pad_token_id=tok.pad_token_id, stopping_criteria=stop,
                             **({"do_sample": False} if greedy else sampling))
    model.train(was_training)
    texts = tok.batch_decode(out[:, start:], skip_special_tokens=True)
    if s.stop_at_code_end:
        texts = [t[:end] if (end := code_end(t, prompt_format)) is not None else t for t in texts]
    return [texts[i * k:(i + 1) * k] for i in range(len(prompts))]


def to_device(model) -> None:
    """Sample on the GPU where there is one (the trainer places the model itself later)."""
    from patchloop.rl.common import has_cuda

    if has_cuda() and model.device.type != "cuda":
        model.to("cuda")


def as_completion(text: str, prompt_format: str):
    """A completion the way TRL hands it to a reward: text, or one assistant message."""
    return [{"role": "assistant", "content": text}] if prompt_format == "chat" else text


def grade_groups(reward, rows: list[dict], groups: list[list[str]], prompt_format: str) -> list[list[float | None]]:
    """The reward of every sample (``None``: could not be scored), grouped like ``groups``."""
    prompts, completions, cols = [], [], {}
    for row, texts in zip(rows, groups):
        for text in texts:
            prompts.append(row["prompt"])
            completions.append(as_completion(text, prompt_format))
            for key, val in row.items():
                if key != "prompt":
                    cols.setdefault(key, []).append(val)
    flat = reward(prompts, completions, **cols)
    out, i = [], 0
    for texts in groups:
        out.append(flat[i:i + len(texts)])
        i += len(texts)
    return out


def sampling_settings(cfg) -> dict[str, Any]:
    """Everything the samples depend on (a rerun must match it to reuse them)."""
    d = cfg.data
    return {"model": cfg.model.model_dump(mode="json"),
            "data": {k: v for k, v in d.model_dump(mode="json").items()},
            "sampling": cfg.sampling.model_dump(mode="json"), "grader": cfg.grader.model_dump(mode="json"),
            "train_seed": cfg.train.seed, "pass": "every test passes (ExecutionReward, partial=False)"}


def _done(path: Path, settings: dict[str, Any]) -> dict[str, dict]:
    """Records already written for these settings (a torn last line is dropped); a file made
    with other settings is refused."""
    side = path.with_name(path.name + ".settings.json")
    if path.exists() and side.exists():
        before = json.loads(side.read_text())
        if before != settings:
            changed = sorted(k for k in settings if before.get(k) != settings[k])
            raise ValueError(f"{path} was sampled with other settings ({', '.join(changed)}); "
                             "use another train.output_dir or delete it")
    write_json(side, settings)
    if not path.exists():
        return {}
    end_torn_line(path)
    return {rec["task_id"]: rec for rec in iter_jsonl(path, skip_bad=True) if isinstance(rec.get("samples"), list)}


def sample_and_grade(cfg, model, tok, rows: list[dict], path: str | Path, *, progress: bool = True) -> list[dict]:
    """One record per distinct training task: ``{"task_id", "samples": [{"completion",
    "reward", "passed"}], "generation_s", "grading_s"}``, in the order of ``rows``; finished
    tasks are read back, not redone. With ``sampling.max_wall_s`` the tasks not reached in time
    have no record (the list is shorter than ``rows``)."""
    from patchloop.rl.rewards import ExecutionReward

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = cfg.data.prompt_format
    unique = list({str(r.get("task_id", "")): r for r in rows}.values())
    done = _done(path, sampling_settings(cfg))
    todo = [(i, r) for i, r in enumerate(unique) if str(r.get("task_id", "")) not in done]
    if todo:
        engine = None
        if cfg.sampling.engine != "model":
            from patchloop.rl.engine_sampling import open_sampler

            engine = open_sampler(cfg)
        else:
            to_device(model)
        reward = ExecutionReward(prompt_format=fmt, partial=False, timeout_s=cfg.grader.timeout_s,
                                 backend=cfg.grader.backend)
        try:
            _sample_todo(cfg, (engine or model), tok, todo, reward, path, done, progress)
        finally:
            reward.close()
            if engine is not None:
                engine.close()
    return [done[t] for r in unique if (t := str(r.get("task_id", ""))) in done]


def _sample_todo(cfg, model, tok, todo, reward, path: Path, done: dict, progress: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    s, fmt = cfg.sampling, cfg.data.prompt_format
    n = s.prompts_per_batch
    t0 = time.monotonic()
    with Progress(TextColumn("sampling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=not progress) as bar:
        job = bar.add_task("sample", total=len(todo))
        for b in range(0, len(todo), n):
            if s.max_wall_s is not None and time.monotonic() - t0 >= s.max_wall_s:
                print(f"sampling: time budget of {s.max_wall_s:.0f}s spent; {len(todo) - b} of {len(todo)} "
                      "prompts left unsampled", flush=True)
                break
            part = todo[b:b + n]
            rows = grpo_rows([r for _, r in part], fmt)
            # Seeded by the first prompt's position: a run resumed at a batch boundary draws what
            # an uninterrupted one would (one killed inside a batch redraws the rest of it).
            t_start = time.perf_counter()
            prompts, seed = [model_prompt(r["prompt"], fmt) for _, r in part], s.seed * 1_000_003 + part[0][0]
            if s.engine != "model":  # ``model`` is then the generation interface's engine
                from patchloop.rl.engine_sampling import engine_groups

                groups = engine_groups(model, rows, prompts, s, fmt, seed)
            else:
                groups = generate_groups(model, tok, prompts, s, fmt, seed=seed)
            t_gen = time.perf_counter()
            rewards = grade_groups(reward, rows, groups, fmt)
            # The batch's times, shared evenly by its prompts: summed over records they give the cost split.
            gen_s, grade_s = (t_gen - t_start) / len(part), (time.perf_counter() - t_gen) / len(part)
            for row, texts, rs in zip(rows, groups, rewards):
                rec = {"task_id": row["task_id"], "generation_s": round(gen_s, 4), "grading_s": round(grade_s, 4),
                       "samples": [{"completion": t, "reward": r, "passed": r is not None and r >= 1.0}
                                   for t, r in zip(texts, rs)]}
                append_jsonl(path, rec)
                done[row["task_id"]] = rec
            bar.advance(job, len(part))
