"""Trajectories: one JSON-lines file per episode (see docs/trajectories.md).

Line 1 is the episode header (``"type": "episode"``: instance, model, final patch, exit
reason, totals, the tool schemas and the opening messages); every further line is one
step (``"type": "step"``: the model's message and the tool results as OpenAI-format
dicts, tool calls, timings, token counts, and where the backend gives them the exact
prompt ids, the sampled token ids and log-probabilities). The file reads back into
``patchloop.types.Trajectory``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, convert_to_openai_messages

from patchloop.types import RecordError, Step, Trajectory, write_jsonl


def to_trajectory(values: dict, instance_id: str, model_name: str, wall_s: float,
                  tools: list[dict] | None = None) -> Trajectory:
    """Group the final state's messages into steps (one model call and its tool results)."""
    messages = values.get("messages", [])
    starts = [i for i, m in enumerate(messages) if isinstance(m, AIMessage)]
    opening = convert_to_openai_messages(messages[: starts[0] if starts else len(messages)])
    models = [e for e in values.get("step_log", []) if e.get("kind") == "model"]
    tool_times = _tool_times(values.get("step_log", []))
    steps = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(messages)
        chunk, ai = messages[start:end], messages[start]
        log = models[n] if n < len(models) else {}
        steps.append(Step(
            index=n,
            messages=convert_to_openai_messages(chunk),
            tool_calls=[{"name": c["name"], "args": c["args"], "id": c.get("id")} for c in ai.tool_calls]
            + [{"name": c.get("name"), "invalid": True, "args": c.get("args"), "error": c.get("error")}
               for c in ai.invalid_tool_calls],
            observations=[m.content if isinstance(m.content, str) else json.dumps(m.content) for m in chunk[1:]],
            model_s=log.get("model_s", 0.0),
            tools_s=tool_times[n] if n < len(tool_times) else 0.0,
            prompt_tokens=log.get("prompt_tokens", 0),
            completion_tokens=log.get("completion_tokens", 0),
            token_ids=log.get("token_ids"),
            logprobs=log.get("logprobs"),
            prompt_token_ids=prompt_ids(models, n) if n < len(models) else None,
            prompt_messages=log.get("prompt_messages"),
            context_cut=bool(log.get("context_cut")),
            continued=bool(log.get("continued")),
            extra={"temperature": log["temperature"]} if "temperature" in log else {},
        ))
    return Trajectory(
        instance_id=instance_id, model_name_or_path=model_name, steps=steps,
        model_patch=values.get("patch", ""), exit_reason=values.get("exit_reason", ""), wall_s=wall_s,
        prompt_tokens=values.get("prompt_tokens", 0), completion_tokens=values.get("completion_tokens", 0),
        extra={"opening_messages": opening, "tools": tools or [], "cost": values.get("cost", 0.0),
               "node_s": values.get("wall_s", 0.0)},
    )


def token_log(meta: dict, log: list[dict]) -> dict:
    """What the step log keeps of one call's ids (``meta`` is its ``response_metadata``): the
    sampled ids and logprobs, and the prompt ids, as the new ids alone when the prompt is the
    previous call's prompt and sampled ids plus those (``continued``), so the log grows with
    the conversation rather than its square. Continuation is checked on the ids, whatever
    the backend, so ``continued`` always means the prompt extends the last one exactly."""
    out = {"token_ids": meta.get("token_ids"), "logprobs": meta.get("logprobs"), "continued": False}
    prompt = meta.get("prompt_token_ids")
    if prompt is None:
        return out | {"prompt_token_ids": None}
    models = [e for e in log if e.get("kind") == "model"]
    before = prompt_ids(models, len(models) - 1) if models else None
    if before is not None and models[-1].get("token_ids") is not None:
        before = before + list(models[-1]["token_ids"])
        if len(prompt) > len(before) and list(prompt[: len(before)]) == before:
            return out | {"continued": True, "prompt_suffix_ids": list(prompt[len(before):])}
    return out | {"prompt_token_ids": list(prompt)}


def prompt_ids(models: list[dict], n: int) -> list[int] | None:
    """The whole prompt of model call ``n`` from the step log's compact entries."""
    start = n
    while start > 0 and models[start].get("continued"):
        start -= 1
    if models[start].get("prompt_token_ids") is None:
        return None
    ids = list(models[start]["prompt_token_ids"])
    for j in range(start + 1, n + 1):
        ids += list(models[j - 1].get("token_ids") or []) + list(models[j].get("prompt_suffix_ids") or [])
    return ids


def _tool_times(log: list[dict]) -> list[float]:
    """tools_s per step: each 'tools' entry belongs to the model entry before it."""
    out: list[float] = []
    for e in log:
        if e.get("kind") == "model":
            out.append(0.0)
        elif e.get("kind") == "tools" and out:
            out[-1] += e.get("tools_s", 0.0)
    return out


def write_trajectory(path: str | Path, traj: Trajectory) -> None:
    """Write atomically: header line, then one line per step."""
    head = traj.to_dict()
    steps = head.pop("steps")
    write_jsonl(path, [{"type": "episode", **head}] + [{"type": "step", **s} for s in steps])


def read_trajectory(path: str | Path) -> Trajectory:
    """Read a file written by ``write_trajectory``; errors name FILE:LINE."""
    path = Path(path)
    head: dict[str, Any] | None = None
    steps = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            kind = rec.pop("type", None)
            if kind == "episode" and head is None:
                head = rec
            elif kind == "step":
                steps.append(Step.from_dict(rec))
            else:
                raise ValueError(f"unexpected record type {kind!r}")
        except (json.JSONDecodeError, ValueError) as e:
            raise RecordError(f"{path}:{lineno}", str(e)) from None
    if head is None:
        raise RecordError(f"{path}:1", "no episode header line")
    return Trajectory.from_dict({**head, "steps": [s.to_dict() for s in steps]})


def sft_messages(traj: Trajectory) -> list[dict]:
    """The whole conversation as OpenAI-format messages, for SFT on tool-using chats."""
    return list(traj.extra.get("opening_messages", [])) + [m for s in traj.steps for m in s.messages]
