"""The agent's state (what a checkpoint holds) and its configuration.

The state is plain data only (LangChain messages, numbers, strings, lists of dicts) so a
strict checkpoint serializer can rebuild it without importing arbitrary Python types.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field


class AgentConfig(BaseModel):
    """Limits and knobs of one episode; the same in `fix`, `batch` and RL rollouts."""

    max_steps: int = Field(30, description="Model calls allowed in one episode; the guard stops before the next one past it.")
    max_tokens: int = Field(400_000, description="Prompt + completion tokens allowed; the guard stops when the next call could exceed it.")
    max_cost: float = Field(0.0, description="Cost limit in the backend's currency where it reports cost (0 = no limit).")
    max_wall_s: float = Field(1800.0, description="Wall-clock seconds for the episode, measured across resumes.")
    context_tokens: int | None = Field(None, description="The model's context window; None asks the backend (max_model_len, the checkpoint's config), else 32,000. Older observations are shortened to fit.")
    completion_tokens: int = Field(1024, description="Longest model reply, in tokens: asked of the backend and reserved in the context.")
    observation_chars: int = Field(6_000, description="Cap on one tool observation (head and tail kept).")
    command_timeout_s: float = Field(120.0, description="Upper bound on the timeout of one `run`/`run_tests` command.")
    approve: Literal["auto", "ask"] = Field("auto", description="`ask`: commands that change the workspace wait for approval (an interrupt).")
    action_mode: Literal["tools", "text"] = Field(
        "tools", description="`tools`: the model calls tools; `text`: one shell command in a ```bash block per turn, `submit` to finish (for models whose tool calling is weak).")
    empty_submit_retries: int = Field(1, description="How many times `submit` with no change is refused (the model is told to edit first) before it ends the episode with an empty patch.")
    submit_test_reviews: int = Field(1, description="How many submits run the repository's tests first; one whose change breaks tests that pass without it is refused with their names (a second submit goes through).")
    retry_temperature: float = Field(0.7, ge=0, description="Sampling temperature of the reply after one the agent could not act on (no tool call, a format error) or one that repeats an earlier reply, where the model samples cooler; a greedy model writes the failed reply again. 0 keeps the model's own.")
    leave_out_repeats: bool = Field(True, description="Leave a step whose reply and results repeat an earlier step's out of what the model is sent, with one line saying so: a small model copies the replies it is shown.")
    demonstrations: bool = Field(False, description="Add the prompt version's worked example (demo_<mode>.md) to the system prompt.")
    prompt_version: str = Field("v1", description="Which prompt templates under patchloop/agent/prompts/ to use.")
    repo_map_tokens: int = Field(1_500, description="Token budget of the repository outline.")
    focus_tokens: int = Field(800, description="Token budget of the source of the functions and classes the issue names, shown in the opening message (0 = leave it out).")
    python: str = Field("python", description="The Python inside the sandbox (the host venv's for the local backend).")
    test_command: str = Field(
        "{python} -m pytest -q -rfE --tb=short -p no:cacheprovider",
        description="How `run_tests` runs the repository's tests (`{python}` is filled in); a selector is appended.",
    )


class AgentState(TypedDict, total=False):
    """One episode. Nodes return partial updates; counters are summed by reducers."""

    messages: Annotated[list[AnyMessage], add_messages]
    steps: Annotated[int, operator.add]
    prompt_tokens: Annotated[int, operator.add]
    completion_tokens: Annotated[int, operator.add]
    cost: Annotated[float, operator.add]
    wall_s: Annotated[float, operator.add]  # time spent inside nodes, so resumes do not reset the clock
    last_call_tokens: int  # tokens of the latest model call: the guard's forecast of the next one
    step_log: Annotated[list[dict[str, Any]], operator.add]  # per-step timings and sampled tokens
    patch: str  # the workspace diff after the latest tool step: what a resume restores
    submitted: bool
    exit_reason: str
