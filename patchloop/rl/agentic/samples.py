"""Training samples from trajectories, built from the token ids the model saw and sampled.

A run of steps joined by ``continued`` is one token sequence: each step's prompt is the
previous step's prompt, its sampled ids and then the ids of the tool results (or nudge) and
the template's glue. So the whole run is the last step's prompt plus its sampled ids, with
the loss mask 1 exactly on the sampled ids and 0 on the first prompt, the tool outputs and
the glue. Nothing is decoded or re-tokenized, so the ids trained on are the ids sampled.

Where context fitting shortened the conversation the prompt no longer extends the earlier
ids, and a new segment starts: a trajectory gives one segment per run (see
``docs/trajectories.md`` for the step fields).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from patchloop.types import Trajectory


@dataclass
class Segment:
    """One token sequence of a trajectory, with what the model sampled marked."""

    input_ids: list[int] = field(default_factory=list)
    """Prompt ids of the segment's first call, then every later sampled id and tool/suffix id."""
    model_mask: list[int] = field(default_factory=list)
    """1 exactly on the tokens the model sampled; 0 on the prompt, tool outputs and template glue."""
    logprobs: list[float] = field(default_factory=list)
    """Same length as ``input_ids``: the sampled logprob where ``model_mask`` is 1 (NaN where the
    backend gave ids but no logprobs), else 0.0."""
    prompt_len: int = 0
    """Length of the first prompt: everything before the first sampled token."""

    def extend(self, ids: list[int], sampled: bool, logprobs: list[float] | None = None) -> None:
        self.input_ids += ids
        self.model_mask += [int(sampled)] * len(ids)
        if not sampled:
            self.logprobs += [0.0] * len(ids)
        else:
            self.logprobs += list(logprobs) if logprobs is not None else [float("nan")] * len(ids)


def trajectory_segments(traj: Trajectory) -> list[Segment]:
    """One segment per maximal run of steps joined by `continued`; raises ValueError (one line)
    when the trajectory carries no token ids."""
    if not traj.steps:
        raise ValueError(f"{traj.instance_id}: the trajectory has no model steps, so no token ids")
    segments: list[Segment] = []
    for step in traj.steps:
        where = f"{traj.instance_id} step {step.index}"
        if step.prompt_token_ids is None or step.token_ids is None:
            raise ValueError(f"{where}: no token ids recorded (a backend that gives none, e.g. a hosted API "
                             "or a server asked without return_token_ids)")
        if step.logprobs is not None and len(step.logprobs) != len(step.token_ids):
            raise ValueError(f"{where}: {len(step.logprobs)} logprobs for {len(step.token_ids)} sampled ids")
        prompt = list(step.prompt_token_ids)
        if step.continued and segments:
            seg = segments[-1]
            if prompt[: len(seg.input_ids)] != seg.input_ids:
                raise ValueError(f"{where}: marked continued but its prompt does not extend the earlier ids")
            seg.extend(prompt[len(seg.input_ids):], sampled=False)
        else:
            seg = Segment(prompt_len=len(prompt))
            seg.extend(prompt, sampled=False)
            segments.append(seg)
        seg.extend(list(step.token_ids), sampled=True, logprobs=step.logprobs)
    return segments
