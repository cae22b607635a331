"""``make demo``: the learning loop on a real code model, offline, one resumable stage at a time.

real model (fetched by the command first) -> verified function tasks -> HumanEval pass@1 on a fixed subset
-> rejection-sampling fine-tuning (LoRA) on the tasks -> HumanEval again -> ``report.html``.

RFT is the method here because it is the cheapest to move a real model on two CPU cores: one
sampling pass and a few SFT steps, where a GRPO step costs a minute of generation. The subset
is the same every run (seeded), so before and after are paired problem by problem. The training
tasks come from the procedural families (lists, strings, dicts, parsing) and are checked against
HumanEval before training (``rl.data.refuse_humaneval_overlap``), so the test cannot leak in.
Each stage writes under the run directory and is skipped when its output is there.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from rich.console import Console

from patchloop.demo.tiny import CONFIGS, stage
from patchloop.rl.config import load_config
from patchloop.rl.sample_config import RFTRunConfig

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"
FAMILIES = ["list", "string", "dict", "parse"]  # the HumanEval-like ones (arith is a toy chain)

# Sized for < 30 min on 2 free cores (docs/benchmarks.md has the stage times as measured).
PLAN = {"tasks": 160, "subset": 40, "eval_tokens": 384, "batch": 16,
        "rft": ["data.max_samples=32", "data.validation_size=0", "validation.before=false",
                "sampling.num_samples=4", "sampling.prompts_per_batch=4", "sampling.max_new_tokens=192",
                "train.num_train_epochs=2", "train.save_steps=8", "train.max_wall_s=900", "max_kept_per_prompt=2"]}


def humaneval_subset(n: int, seed: int) -> dict:
    """``n`` HumanEval problems drawn with ``seed`` (in task order): fixed across runs."""
    from patchloop.evals.func.evaluate import load_func_problems

    problems = load_func_problems("humaneval")
    ids = sorted(random.Random(seed).sample(sorted(problems), min(n, len(problems))),
                 key=lambda t: int(t.split("/")[-1]))
    return {t: problems[t] for t in ids}


def humaneval_pass(model: str | Path, problems: dict, out: Path, *, backend: str, seed: int,
                   max_new_tokens: int = PLAN["eval_tokens"], prompt_format: str = "chat",
                   batch_size: int = PLAN["batch"]) -> dict:
    """Greedy pass@1 of ``model`` on ``problems`` (chat format unless told); resumable through ``out``."""
    from patchloop.evals.func.evaluate import evaluate_function_samples
    from patchloop.rl.evaluate import sample_completions

    if (done := finished_humaneval(out)) is not None:
        return done
    meta = sample_completions(model, list(problems.values()), out / "samples.jsonl", temperature=0.0,
                              max_new_tokens=max_new_tokens, prompt_format=prompt_format,
                              batch_size=batch_size, seed=seed, progress=True)
    summary = evaluate_function_samples(problems, out / "samples.jsonl", out_dir=out, ks=[1], backend=backend,
                                        timeout_s=10.0, progress=True, meta=meta)
    if summary.get("infra_errors"):  # counted as failures, so the pass rate would be a false figure
        raise ValueError(f"{out}: {summary['infra_errors']} of {summary['samples']} HumanEval samples were not "
                         "graded (the grading sandbox failed); rerun to grade them again")
    return summary


def finished_humaneval(out: Path) -> dict | None:
    """The summary of a finished evaluation (there, and every sample graded), else None."""
    path = out / "summary.json"
    summary = json.loads(path.read_text()) if path.exists() else None
    return None if summary is None or summary.get("infra_errors") else summary


def per_problem(out: Path) -> dict[str, bool]:
    rows = [line for line in (out / "per_task.jsonl").read_text().splitlines() if line.strip()]
    return {r["task_id"]: r["c"] > 0 for r in map(json.loads, rows)}


def rft_config(out: Path, model: str, seed: int) -> RFTRunConfig:
    return load_config(RFTRunConfig, CONFIGS / "qwen0.5b-cpu-rft.yaml",
                       [f"model.name_or_path={model}", f"data.path={out / 'tasks'}",
                        f"train.output_dir={out / 'rft'}", f"train.seed={seed}", *PLAN["rft"]])


def run_real_demo(out: str | Path = "runs/demo", *, model: str = DEFAULT_MODEL, backend: str = "auto",
                  seed: int = 0, console: Console | None = None) -> dict:
    """Run (or resume) every stage on ``model``; return pass@1 before and after."""
    from patchloop.datagen.functions import FunctionsConfig
    from patchloop.datagen.run_functions import run_functions
    from patchloop.demo.report import write_real_report
    from patchloop.llm.catalog.models import CATALOG, is_fetched, model_dir, resolve_model_path
    from patchloop.rl.rft import run_rft

    console = console or Console(soft_wrap=True)  # piped: long lines stay whole
    out = Path(out)
    earlier = out / "figures.json"  # a resumed run keeps the times of the stages it skips
    times: dict[str, float] = json.loads(earlier.read_text()).get("stage_s", {}) if earlier.exists() else {}

    def timed(name: str, fn):
        t = time.monotonic()
        result = fn()
        if time.monotonic() - t > 1.0 or name not in times:  # a skipped stage takes no time
            times[name] = round(time.monotonic() - t, 1)
        return result

    if model in CATALOG and not is_fetched(model_dir(model)):
        raise ValueError(f"{model} is not fetched yet: run `patchloop model fetch {model}` first")
    elif model not in CATALOG and not (Path(model).expanduser() / "config.json").exists():
        raise ValueError(f"{model}: neither a catalog model (`patchloop model list`) nor a checkpoint directory")
    resolve_model_path(model)
    timed("tasks", lambda: stage(
        console, "verified tasks", lambda: (out / "tasks" / "fingerprint.json").exists(),
        lambda: run_functions(FunctionsConfig(n=PLAN["tasks"], seed=seed, families=FAMILIES),
                              out / "tasks", backend=backend, progress=True)))
    problems = humaneval_subset(PLAN["subset"], seed)
    console.print(f"[bold]- HumanEval pass@1 before[/bold] ({len(problems)} problems, greedy)")
    before = timed("eval_before", lambda: humaneval_pass(model, problems, out / "eval" / "before",
                                                         backend=backend, seed=seed))
    cfg = rft_config(out, model, seed)
    timed("rft", lambda: stage(console, "RFT (sample, keep what passes, LoRA SFT)",
                                lambda: (out / "rft" / "final").exists(), lambda: run_rft(cfg)))
    console.print("[bold]- HumanEval pass@1 after[/bold]")
    after = timed("eval_after", lambda: humaneval_pass(out / "rft" / "final", problems, out / "eval" / "after",
                                                       backend=backend, seed=seed))
    figures = {"model": model, "problems": list(problems), "pass@1": {"before": before["pass@1"],
               "after RFT": after["pass@1"]}, "stage_s": times}
    yield_path = out / "rft" / "yield.json"
    if yield_path.exists():
        figures["rft_yield"] = json.loads(yield_path.read_text())
    (out / "figures.json").write_text(json.dumps(figures, indent=2))
    report = write_real_report(out, figures, per_problem(out / "eval" / "before"),
                               per_problem(out / "eval" / "after"), out / "rft" / "metrics.jsonl")
    console.print(f"report: {report}")
    for k, v in figures["pass@1"].items():
        console.print(f"HumanEval pass@1 ({len(problems)}-problem subset) {k:>9}: {100 * v:5.1f}%")
    return figures
