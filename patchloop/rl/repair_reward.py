"""The single-turn repair reward, with TRL's signature: ``reward(prompts, completions, **columns)``.

Each completion goes, as sampled, to ``evals.repair.grade_repair``, the grader evaluation
uses: the same extraction of the function, the same replacement at ``base_commit`` and the
same SWE harness, so a reply resolved in evaluation earns 1.0 here and one that fails there
earns 0.0. The dataset columns it reads are those ``datagen.repos.repair`` writes:
``instance`` (the instance as JSON) and ``targets`` (the code the prompt showed).

A reply cut at the token limit earns 0 (``evals.repair``): a ``truncated`` or ``finish_reason``
column says so where the rollout knows, else the length of ``completion_ids`` (TRL passes
them) against ``max_completion_tokens``, else an unclosed code block. ``None`` is an
infrastructure failure (as in ``rl.rewards``); a batch with nothing but those raises.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from patchloop.evals.repair import RepairResult, grade_repair, repair_task
from patchloop.evals.swe import DEFAULT_TIMEOUT
from patchloop.rl.rewards import RewardInfraError, _column

log = logging.getLogger(__name__)


class RepairReward:
    """1.0 when the reply's function resolves the instance, 0.0 otherwise (faults included)."""

    def __init__(self, *, backend: str = "auto", timeout_s: float = DEFAULT_TIMEOUT, workers: int = 1,
                 max_completion_tokens: int | None = None, log_dir: str | None = None):
        self.__name__ = "repair"  # TRL names the logged column after this
        self.backend = backend
        self.timeout_s = timeout_s
        self.workers = max(1, workers)
        self.max_completion_tokens = max_completion_tokens
        self.log_dir = log_dir
        self.last_results: list[RepairResult] = []  # the latest batch's verdicts, for the training log

    def close(self) -> None:
        """Nothing to release (each reply is graded in a sandbox of its own); trainers call it."""

    def __getstate__(self) -> dict:
        return dict(self.__dict__, last_results=[])

    def _truncated(self, kwargs: dict, i: int, n: int) -> bool:
        flags = _column(kwargs, "truncated", n, False)
        reasons = _column(kwargs, "finish_reason", n, None)
        ids = _column(kwargs, "completion_ids", n, None)
        by_length = self.max_completion_tokens is not None and ids[i] is not None \
            and len(ids[i]) >= self.max_completion_tokens
        return bool(flags[i]) or reasons[i] == "length" or by_length

    def _grade(self, instance: Any, completion: Any, targets, truncated: bool) -> RepairResult:
        try:
            task = repair_task(instance)
        except (ValueError, TypeError) as e:  # one unusable row: that sample is unscored, not the batch
            log.warning("repair reward: %s", e)
            return RepairResult("?", "error", f"unusable row: {e}")
        return grade_repair(task, completion, targets=targets or (), truncated=truncated, backend=self.backend,
                            timeout=self.timeout_s, log_dir=self.log_dir)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        n = len(completions)
        instances = _column(kwargs, "instance", n)
        targets = _column(kwargs, "targets", n, ())
        jobs = [(instances[i], completions[i], targets[i], self._truncated(kwargs, i, n)) for i in range(n)]
        with ThreadPoolExecutor(self.workers) as pool:
            results = list(pool.map(lambda job: self._grade(*job), jobs))
        self.last_results = results
        if results and all(r.reward is None for r in results):
            raise RewardInfraError(f"all {n} repair replies failed for infrastructure reasons; first: {results[0].reason}")
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            scored = [r for r in results if r.reward is not None]
            log_metric("resolved_rate", sum(r.resolved for r in scored) / max(1, len(scored)))
            log_metric("infra_errors", float(n - len(scored)))
        return [r.reward for r in results]
