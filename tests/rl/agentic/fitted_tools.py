"""A tiny model fitted to finish episodes of the agent in tool-calling mode (the default one)
on the built-in instance ``textkit-1``, in Docker sandboxes: the model the project builds
offline, fine-tuned (plain torch, about a hundred steps) on the agent's real prompts with the
real tool schemas.

On the task prompt it calls ``edit`` with the fix or ``submit`` at once (about two times in
three it edits); after the edit's real tool result it calls ``submit``. So its episodes end by submitting (none
is cut by the step limit, which GRPO masks), a group of rollouts holds resolved and unresolved
ones by the draw, and a resolved one has a tool output between its two model turns. (The text
mode model of ``fitted.py`` acts once and is cut by the step limit; it suits RFT and DPO.)
The prompt names the sandbox's working directory: ``/workspace`` in every Docker sandbox, so the
prompt fitted on is the prompt rollouts get (a local sandbox's random directory name alone moves
a model this small off its fit).
"""

from __future__ import annotations

import json
from pathlib import Path

from langchain_core.messages import AIMessage, ToolMessage

EDIT_ARGS = {"path": "textkit/trunc.py", "old": "if len(text) < width:", "new": "if len(text) <= width:"}
EDIT = "The comparison must include equality.\n<tool_call>\n" + json.dumps({"name": "edit", "arguments": EDIT_ARGS}) + "\n</tool_call>"
SUBMIT = "<tool_call>\n" + json.dumps({"name": "submit", "arguments": {}}) + "\n</tool_call>"


def agent_prompts(engine, task, sandbox, cfg):
    """(the first prompt's ids, the prompt after the edit and its real result) as the agent
    builds them: opening messages fitted to the model, tools as ``bind_tools`` renders them,
    the second by token continuation."""
    from langchain_core.utils.function_calling import convert_to_openai_tool

    from patchloop.agent.tools import SandboxTools, langchain_tools
    from patchloop.agent.window import fit_to_model, opening_messages, reserve_tokens, schema_specs
    from patchloop.llm.clients.hf import HFChatModel, to_template_messages
    from patchloop.llm.serving.continuation import new_suffix_ids

    cfg, count, _ = fit_to_model(HFChatModel.over_engine(engine), cfg)
    tools = SandboxTools(sandbox, cfg, task.problem_statement)
    lc_tools = langchain_tools(tools)
    schemas = [convert_to_openai_tool(t) for t in lc_tools]
    opening = opening_messages(task, tools, cfg, count, reserve_tokens(schema_specs(lc_tools), cfg, count))
    first = engine.render(to_template_messages(opening), schemas)
    result = tools.edit(**EDIT_ARGS)
    sandbox.reset()
    ai = AIMessage(EDIT.split("\n")[0], tool_calls=[{"name": "edit", "args": EDIT_ARGS, "id": "c1"}])
    convo = to_template_messages([*opening, ai, ToolMessage(result, tool_call_id="c1")])
    edit_ids = engine.encode(EDIT) + [engine.tokenizer.eos_token_id]
    second = first + edit_ids + new_suffix_ids(engine, convo, len(opening), schemas, edit_ids[-1])
    return first, second


# the episodes these tests run; no outline and no named code: the prompt the fit's edit rate was set on
AGENT = {"max_steps": 4, "completion_tokens": 64, "repo_map_tokens": 0, "focus_tokens": 0}


def _reply_nats(model, cache, prompt: list[int], replies: list[list[int]], labels: list[list[int]]):
    """Summed negative log-likelihood of ``labels`` (-100: not scored) after ``prompt``, whose
    keys and values but the last token's are in ``cache``; one batch row per reply."""
    import copy

    import torch

    past = copy.deepcopy(cache)
    past.batch_repeat_interleave(len(replies))
    out = model(input_ids=torch.tensor([prompt[-1:] + r for r in replies]), past_key_values=past)
    lab = torch.tensor(labels)
    keep = lab >= 0
    lp = torch.log_softmax(out.logits[:, :-1].float(), -1).gather(2, lab.clamp(min=0)[..., None])[..., 0]
    return -(lp * keep).sum(), keep.sum()


def _batches(engine, task, workspaces) -> list[tuple[list[int], list[list[int]], list[list[int]], float]]:
    """Per prompt: its replies (right-padded), their labels (pads not scored), and the least
    summed loss they allow. On each workspace's first prompt the fix is taught twice and the
    submit once, so the model edits about two times in three there; after the edit's result,
    submit."""
    import math

    eot = engine.tokenizer.eos_token_id
    edit, submit = engine.encode(EDIT) + [eot], engine.encode(SUBMIT) + [eot]
    pad = len(edit) - len(submit)
    out = []
    for sandbox, cfg in workspaces:
        first, second = agent_prompts(engine, task, sandbox, cfg)
        out.append((first, [edit, edit, submit + [eot] * pad], [edit, edit, submit + [-100] * pad],
                    2 * math.log(3 / 2) + math.log(3)))
        out.append((second, [submit], [submit], 0.0))
    return out


def fit_tools(base_dir: Path, out_dir: Path, task, workspaces, steps: int = 300) -> Path:
    """Fine-tune a copy of ``base_dir`` (see the module docstring) on the agent's prompts in
    ``workspaces`` (``(sandbox, agent config)`` pairs); save it to ``out_dir``. The long prompts' keys and values are
    computed without gradients and refreshed every few steps, so a step costs a
    forward-backward of the replies alone."""
    import torch

    from patchloop.llm.serving.local import LocalModel

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: far faster than two fighting over a busy machine
    engine = LocalModel(str(base_dir))
    batches = _batches(engine, task, workspaces)
    model = engine.model
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    near = False
    for step in range(steps):
        fresh = near or step % 5 == 0
        if fresh:
            model.eval()
            with torch.no_grad():
                caches = [model(torch.tensor([b[0][:-1]]), use_cache=True).past_key_values for b in batches]
            model.train()
        excess = 0.0
        for (prompt, replies, labels, floor), cache in zip(batches, caches):
            total, count = _reply_nats(model, cache, prompt, replies, labels)
            (total / count).backward()
            excess = max(excess, total.item() - floor)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        near = excess < 0.25  # within a quarter nat of the best fit on every prompt
        if near and fresh:  # a stale cache flatters: only a fresh one may end the fit
            break
    model.eval()
    model.save_pretrained(out_dir)
    engine.tokenizer.save_pretrained(out_dir)
    torch.set_num_threads(threads)
    return out_dir
