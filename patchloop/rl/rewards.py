"""Reward functions with TRL's signature: ``reward(prompts, completions, **columns) -> list[float | None]``.

They are callable classes, not closures, so they pickle (Ray workers, multiprocessing data
loaders) and carry their settings. The execution reward hands the raw completion to the
evaluation grader (``patchloop.evals.func.grade.grade_function_batch``, which extracts the code with
``patchloop.evals.extract`` as ``eval func`` does): training and measurement share one verdict,
including its reward-hacking defences (forged output, early exit, patched helpers,
always-equal objects all score 0 there, so they score 0 here).

``None`` means "could not be scored" (sandbox/infrastructure failure): TRL leaves it out of
the group baseline instead of treating it as a wrong answer. A batch in which *every* sample
failed for infrastructure reasons raises, so a broken sandbox never trains the model on noise.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Sequence
from typing import Any

from patchloop.evals.extract import completion_text, python_blocks
from patchloop.rl.data import TASK_COLUMNS, DataError, row_to_task
from patchloop.types import FunctionTask

log = logging.getLogger(__name__)


class RewardInfraError(RuntimeError):
    """Every sample of a batch failed for infrastructure reasons (no reward signal at all)."""


def _column(kwargs: dict, name: str, n: int, default: Any = None) -> list:
    val = kwargs.get(name)
    return list(val) if val is not None else [default] * n


class ExecutionReward:
    """1.0 when all tests pass (or the fraction passing with ``partial``), 0.0 otherwise.

    Needs the task columns ``task_id, entry_point, test`` (and ``cases``/``task_prompt`` when the
    dataset has them) as keyword arguments, which TRL passes from the dataset row.
    """

    def __init__(self, *, prompt_format: str = "completion", partial: bool = False, timeout_s: float = 5.0,
                 backend: str = "auto", reuse_sandbox: bool = True):
        self.__name__ = "execution"  # TRL names the logged column after this
        self.prompt_format = prompt_format  # recorded only: the grader reads bodies and chat replies alike
        self.partial = partial
        self.timeout_s = timeout_s
        self.backend = backend
        self.reuse_sandbox = reuse_sandbox
        self._sandbox = None
        self.last_results: list = []  # FuncResults of the latest batch (the training log reads them)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_sandbox"] = None  # a live sandbox does not travel; the copy opens its own
        state["last_results"] = []
        return state

    def _open(self):
        if self._sandbox is None and self.reuse_sandbox:
            from patchloop.sandbox import open_sandbox

            self._sandbox = open_sandbox(backend=self.backend, task_id="rl-reward")
        return self._sandbox

    def close(self) -> None:
        if self._sandbox is not None:
            sb, self._sandbox = self._sandbox, None
            sb.close()

    def grade(self, tasks, codes):
        from patchloop.evals.func.grade import grade_function_batch
        from patchloop.sandbox.base import SandboxError

        try:
            sandbox = self._open()
        except SandboxError as e:
            log.warning("reward sandbox did not open: %s", e)
            sandbox = None
        results = grade_function_batch(tasks, codes, sandbox=sandbox, backend=self.backend,
                                       timeout_s=self.timeout_s, partial=self.partial)
        if sandbox is not None and results and all(r.infra_error for r in results):
            # A reused sandbox can die between batches: one fresh try before declaring failure.
            self.close()
            results = grade_function_batch(tasks, codes, sandbox=None, backend=self.backend,
                                           timeout_s=self.timeout_s, partial=self.partial)
        return results

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        n = len(completions)
        cols = {k: _column(kwargs, k, n) for k in (*TASK_COLUMNS, "canonical_solution")}
        tasks = []
        for i in range(n):
            row = {k: v[i] for k, v in cols.items() if v[i] is not None}
            if "task_prompt" not in row:
                prompt = prompts[i] if i < len(prompts) else ""
                row["task_prompt"] = prompt if isinstance(prompt, str) else ""
            try:
                tasks.append(row_to_task(row))
            except DataError as e:  # one unusable row: that sample is unscored (None), not the batch
                log.warning("reward: %s", e)
                tasks.append(FunctionTask(str(row.get("task_id", "?")), ""))
        # The raw text goes to the grader, which extracts the code exactly as `eval func` does.
        results = self.grade(tasks, [completion_text(c) for c in completions])
        self.last_results = results
        if results and all(r.infra_error for r in results):
            raise RewardInfraError(f"all {n} samples failed for infrastructure reasons; first: {results[0].detail}")
        rewards = [None if r.infra_error else (r.fraction if self.partial else float(r.passed)) for r in results]
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            scored = [r for r in results if not r.infra_error]
            log_metric("pass_rate", sum(r.passed for r in scored) / max(1, len(scored)))
            log_metric("infra_errors", float(n - len(scored)))
        return rewards


class FormatReward:
    """1.0 when the answer is well-formed code: it parses as Python and (chat format) came in a
    fenced block. Cheap, runs nothing; a shaping term for models that have not learnt to stop."""

    def __init__(self, *, prompt_format: str = "completion"):
        self.__name__ = "format"
        self.prompt_format = prompt_format

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        out = []
        tps = _column(kwargs, "task_prompt", len(completions))
        for i, c in enumerate(completions):
            text = completion_text(c)
            if self.prompt_format == "chat":
                blocks = python_blocks(text)
                if not blocks:
                    out.append(0.0)
                    continue
                program = blocks[0]
            else:
                prompt = tps[i] if tps[i] is not None else (prompts[i] if isinstance(prompts[i], str) else "")
                program = prompt + text
            try:
                ast.parse(program)
                out.append(1.0 if text.strip() else 0.0)
            except (SyntaxError, ValueError):
                out.append(0.0)
        return out


class WeightedReward:
    """Weighted sum of reward functions; ``None`` wherever any part could not score the sample
    (an infra failure must not be papered over by the cheap terms)."""

    def __init__(self, parts: Sequence[tuple[Any, float]], name: str = "weighted"):
        if not parts:
            raise ValueError("WeightedReward needs at least one (reward, weight) part")
        self.__name__ = name
        self.parts = [(f, float(w)) for f, w in parts]

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        total: list[float | None] = [0.0] * len(completions)
        for fn, weight in self.parts:
            if weight == 0:
                continue
            vals = fn(prompts, completions, **kwargs)
            for i, v in enumerate(vals):
                total[i] = None if v is None or total[i] is None else total[i] + weight * v
        return total

    def close(self) -> None:
        for fn, _ in self.parts:
            if hasattr(fn, "close"):
                fn.close()


def build_reward(settings, prompt_format: str) -> WeightedReward:
    """The reward a GRPO config asks for (``RewardSettings``)."""
    exe = ExecutionReward(prompt_format=prompt_format, partial=settings.partial_credit,
                          timeout_s=settings.timeout_s, backend=settings.backend)
    return WeightedReward([(exe, settings.execution_weight),
                           (FormatReward(prompt_format=prompt_format), settings.format_weight)], name="reward")
