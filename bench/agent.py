"""Agent overhead: what one step costs besides the model, and the share of wall time in the sandbox.

    .venv/bin/python bench/agent.py [--backend local|docker|both] [--episodes 3] [--out runs/bench/agent.json]

The model is a scripted replayer (answers in microseconds), so everything left is ours:
graph + checkpointing (SQLite, synchronous, as in `batch`), prompt/context handling, tool
dispatch and result formatting, and the sandbox calls the tools make. A proxy around the
sandbox times every call into it. Per step we report:

- agent overhead = wall - model time - sandbox time (our own code: LangGraph, checkpoints, tools' Python)
- sandbox share  = sandbox time / wall (where the time really goes)

The script is the same realistic 12-step episode on the built-in `textkit-1` instance: repo
map, searches, views, a failed then a good edit, test runs, a shell command, submit.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from patchloop.agent.runner import open_checkpointer, run_episode
from patchloop.agent.state import AgentConfig
from patchloop.agent.workspace import open_workspace
from patchloop.evals.datasets import load_tasks
from patchloop.types import write_json


def _call(name: str, i: int, **args: Any) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"b{i}"}])


SCRIPT = [
    _call("repo_map", 0, query="truncate"),
    _call("search", 1, pattern="def truncate"),
    _call("view", 2, path="textkit/trunc.py"),
    _call("search", 3, pattern="truncate", path="tests"),
    _call("view", 4, path="tests/test_trunc.py"),
    _call("run_tests", 5, selector="tests/test_trunc.py"),
    _call("edit", 6, path="textkit/trunc.py", old="if len(text) < widht:", new="x"),  # near miss
    _call("edit", 7, path="textkit/trunc.py", old="    if len(text) < width:", new="    if len(text) <= width:"),
    _call("run", 8, command="python -c 'import textkit; print(textkit.truncate(\"hello\", 5))'"),
    _call("run_tests", 9, selector=""),
    _call("view", 10, path="textkit"),
    _call("submit", 11),
]


class Replay(BaseChatModel):
    replies: list[AIMessage]

    @property
    def _llm_type(self) -> str:
        return "replay"

    def bind_tools(self, tools: Any, **kw: Any) -> Replay:
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kw) -> ChatResult:
        turn = sum(isinstance(m, AIMessage) for m in messages)
        msg = self.replies[min(turn, len(self.replies) - 1)]
        return ChatResult(generations=[ChatGeneration(message=msg)])


class TimedSandbox:
    """Forwards to a real sandbox and sums the seconds spent inside it."""

    def __init__(self, inner):
        self._inner, self.seconds, self.calls = inner, 0.0, 0
        self.workdir = inner.workdir

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def timed(*a, **kw):
            t0 = time.perf_counter()
            try:
                return attr(*a, **kw)
            finally:
                self.seconds += time.perf_counter() - t0
                self.calls += 1
        return timed


def episode(task, backend: str, ckpt_dir: Path, n: int) -> dict:
    with open_workspace(task, backend) as (sb, python):
        timed = TimedSandbox(sb)
        cfg = AgentConfig(python=python, max_steps=len(SCRIPT) + 2)
        t0 = time.perf_counter()
        traj = run_episode(Replay(replies=SCRIPT), timed, task, cfg,
                           checkpointer=open_checkpointer(ckpt_dir / f"{backend}-{n}.sqlite"), thread_id=f"bench-{n}")
        wall = time.perf_counter() - t0
    assert traj.exit_reason == "submitted" and "<= width" in traj.model_patch, traj.exit_reason
    model = sum(s.model_s for s in traj.steps)
    steps = len(traj.steps)
    return {"steps": steps, "wall_s": wall, "model_s": model, "sandbox_s": timed.seconds, "sandbox_calls": timed.calls,
            "overhead_per_step_ms": 1000 * (wall - model - timed.seconds) / steps,
            "sandbox_share": timed.seconds / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="local", choices=["local", "docker", "both"])
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--out", default="runs/bench/agent.json")
    args = ap.parse_args()
    task = next(t for t in load_tasks("builtin") if t.instance_id == "textkit-1")
    backends = ["local", "docker"] if args.backend == "both" else [args.backend]
    results = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}, python {platform.python_version()}"}
    print(f"{'backend':8} {'steps':>5} {'wall s':>7} {'sandbox s':>9} {'calls':>5} {'overhead/step ms':>17} {'sandbox share':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            episode(task, backend, Path(tmp), -1)  # warm-up: imports, image lookup, grammar loading
            runs = [episode(task, backend, Path(tmp), n) for n in range(args.episodes)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            results[backend] = {"episodes": runs, "median": med}
            print(f"{backend:8} {med['steps']:>5.0f} {med['wall_s']:>7.2f} {med['sandbox_s']:>9.2f} "
                  f"{med['sandbox_calls']:>5.0f} {med['overhead_per_step_ms']:>17.1f} {100 * med['sandbox_share']:>12.0f}%")
    write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    from patchloop.llm.quiet import quiet_env

    quiet_env()  # before transformers is imported: its loading bars stay out of the log
    main()
