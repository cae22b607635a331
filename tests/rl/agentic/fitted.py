"""A tiny model fitted to act on one built-in instance, so training tests have real rollouts
that sometimes resolve it: the model the project builds offline, fine-tuned (plain torch, a
hundred steps or two) on the agent's real first prompt for textkit-1 to reply either with the fix
or with a look around, half and half. Sampled rollouts then resolve the task or not by the draw.

The prompt names the sandbox's working directory, which is the same in every Docker sandbox
(``/workspace``) and random under the local backend: the rollouts these tests make run in Docker,
so the prompt the model was fitted on is the prompt it gets."""

from __future__ import annotations

import math
from pathlib import Path

from patchloop.rl.agentic.config import AgentSettings

FIX_REPLY = "```bash\nsed -i 's/len(text) < width/len(text) <= width/' textkit/trunc.py\n```"
LOOK_REPLY = "```bash\nls\n```"
AGENT = AgentSettings(max_steps=2, context_tokens=4096, completion_tokens=48, repo_map_tokens=100,
                      action_mode="text")


def first_prompt_ids(model_dir: Path, task) -> list[int]:
    """The token ids the agent really sends the model first in Docker (read back from a trajectory)."""
    from patchloop.agent.runner import run_episode
    from patchloop.agent.state import AgentConfig
    from patchloop.agent.workspace import open_workspace
    from patchloop.llm import load_chat_model

    model = load_chat_model(f"hf:{model_dir}", max_tokens=4, temperature=0)
    with open_workspace(task, "docker") as (sb, python):
        cfg = AgentConfig(**{**AGENT.model_dump(), "max_steps": 1, "python": python})
        traj = run_episode(model, sb, task, cfg)
    return list(traj.steps[0].prompt_token_ids)


def fit(model_dir: Path, prompt: list[int], out: Path, max_steps: int = 300) -> Path:
    """Fine-tune a copy of ``model_dir`` to answer ``prompt`` with either reply; save it to ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: far faster than two fighting over a busy machine
    try:
        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        replies = [tok(r + "<|im_end|>", add_special_tokens=False)["input_ids"] for r in (FIX_REPLY, LOOK_REPLY)]
        width = len(prompt) + max(map(len, replies))
        ids = torch.full((2, width), tok.pad_token_id or 0)
        labels = torch.full((2, width), -100)
        mask = torch.zeros((2, width), dtype=torch.long)
        for i, r in enumerate(replies):
            ids[i, : len(prompt) + len(r)] = torch.tensor(prompt + r)
            labels[i, len(prompt): len(prompt) + len(r)] = torch.tensor(r)
            mask[i, : len(prompt) + len(r)] = 1
        # Both replies start with the same fence, so the only uncertainty a perfect fit keeps is
        # the choice between them: ln 2 once per reply, averaged over every label token.
        floor = 2 * math.log(2) / int((labels != -100).sum())
        torch.manual_seed(0)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        model.train()
        for _ in range(max_steps):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            if loss.item() < floor + 0.008:  # what is left is the coin flip and little else
                break
        model.save_pretrained(out)
        tok.save_pretrained(out)
        return out
    finally:
        torch.set_num_threads(threads)
