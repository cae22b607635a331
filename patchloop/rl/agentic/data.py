"""From a rollouts directory to training rows of token ids: what agentic RFT and DPO share.

The rollouts are run first (``rollouts.run_rollouts``: resumed, skipped when finished), by the
start model itself unless ``rollouts.model`` names a server that serves it. A trajectory becomes
``samples.trajectory_segments``: the exact ids the model saw and sampled, with the model's own
tokens marked, so nothing is re-tokenized and tool outputs stay out of the loss.
"""

from __future__ import annotations

import logging
from pathlib import Path

from patchloop.types import Trajectory

log = logging.getLogger(__name__)


def collect_rollouts(cfg, *, progress: bool = True) -> tuple[Path, list[dict]]:
    """Run (or resume) the rollouts a training config asks for; return their directory and rows."""
    from patchloop.rl.agentic.rollouts import acting_spec, run_rollouts

    out = cfg.rollouts.directory(cfg.train.output_dir)
    rows = run_rollouts(cfg.rollouts, out, model_spec=acting_spec(cfg.model, cfg.rollouts), progress=progress)
    return out, rows


def trainable(row: dict) -> bool:
    """Scored, not masked, with a trajectory on disk to learn from."""
    return not row.get("masked") and bool(row.get("trajectory"))


def load_segments(out: Path, row: dict) -> list | None:
    """The token segments of a row's trajectory, or None (one warning line naming the rollout)
    when it cannot be trained on (unreadable, or sampled by a backend that gave no token ids)."""
    from patchloop.agent.trajectory import read_trajectory
    from patchloop.rl.agentic.samples import trajectory_segments
    from patchloop.types import RecordError

    where = f"{row['task_id']} sample {row['sample']}"
    try:
        traj: Trajectory = read_trajectory(out / row["trajectory"])
        return trajectory_segments(traj)
    except (OSError, RecordError, ValueError) as e:
        log.warning("%s: not trained on: %s", where, e)
        return None


def by_task(rows: list[dict]) -> dict[str, list[dict]]:
    """Trainable rows grouped by task, in the rows' order."""
    out: dict[str, list[dict]] = {}
    for r in rows:
        if trainable(r):
            out.setdefault(r["task_id"], []).append(r)
    return out


def sampled_key(segments: list) -> tuple:
    """What makes two trajectories the same to train on: the tokens the model sampled."""
    return tuple(tuple(i for i, m in zip(s.input_ids, s.model_mask) if m) for s in segments)


def resumed_rows(rows: list[dict], used: set[tuple[str, int]] | None) -> list[dict]:
    """The rows to build training data from: all of them on a fresh run; on a resumed one only
    those the first run used (``used``), so a rollout a rerun retried cannot change the data
    under a checkpoint."""
    return rows if used is None else [r for r in rows if (r["task_id"], r["sample"]) in used]
