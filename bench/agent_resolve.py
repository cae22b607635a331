"""Does the agent fix anything? patchloop (both action modes) beside mini-swe-agent on the same
served model, the same instances and the same step limit; resolved counts from `eval swe`.

A benchmark, not a test: it takes hours on a CPU.

    python bench/agent_resolve.py setup-mini                       # once: mini-swe-agent's own venv
    patchloop sandbox build-env --dataset builtin                  # the images mini's commands run in
    patchloop serve --model ~/.cache/patchloop/models/qwen2.5-coder-1.5b-instruct/hf --name policy &
    python bench/agent_resolve.py run --base-url http://127.0.0.1:8000/v1 --model-name policy \
        --dataset builtin --steps 15 --out runs/bench/resolve-1.5b

Per system it writes ``predictions.jsonl`` and ``eval/`` (the harness's report), and at the end
``summary.json`` and a Markdown table (resolved, wall time, tokens per instance) for
docs/benchmarks.md. mini-swe-agent 2.4.6 reaches the model through LiteLLM (pinned below,
never 1.82.7/1.82.8, which were compromised), installed under the cache, not in our lock.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("PATCHLOOP_CACHE", Path.home() / ".cache" / "patchloop"))
MINI_VENV = CACHE / "venvs" / "mini-swe-agent-2.4.6"
MINI_PINS = ["mini-swe-agent==2.4.6", "litellm==1.106.12"]


def setup_mini() -> None:
    subprocess.run([sys.executable, "-m", "venv", str(MINI_VENV)], check=True)
    subprocess.run([str(MINI_VENV / "bin" / "python"), "-m", "pip", "install", "-q", *MINI_PINS], check=True)
    print(f"mini-swe-agent in {MINI_VENV}")


def patchloop(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "patchloop", *args], cwd=ROOT, text=True, check=False)


def run_patchloop(a, mode: str, out: Path) -> dict:
    t0 = time.monotonic()
    patchloop("batch", "--dataset", a.dataset, "--model", f"openai:{a.model_name}", "--base-url", a.base_url,
              "--out", str(out), "--max-steps", str(a.steps), "--action-mode", mode, "--backend", a.backend)
    summary = json.loads((out / "summary.json").read_text())
    return {"wall_s": time.monotonic() - t0, "tokens": summary.get("tokens", 0), "n": summary.get("total", 0)}


def run_mini(a, out: Path) -> dict:
    from patchloop.evals.datasets import load_tasks
    from patchloop.evals.repos import checkout_task_repo
    from patchloop.evals.swe import env_image
    from patchloop.types import Prediction, append_jsonl

    out.mkdir(parents=True, exist_ok=True)
    t0, tokens, tasks = time.monotonic(), 0, load_tasks(a.dataset)
    done = {json.loads(x)["instance_id"] for x in (out / "predictions.jsonl").read_text().splitlines()} \
        if (out / "predictions.jsonl").exists() else set()
    for task in tasks:
        if task.instance_id in done:
            continue
        with tempfile.TemporaryDirectory(prefix="bench-mini-") as tmp:
            repo = checkout_task_repo(task, Path(tmp) / "repo")
            (Path(tmp) / "issue.md").write_text(task.problem_statement)
            traj = out / "trajectories" / f"{task.instance_id}.json"
            traj.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([str(MINI_VENV / "bin" / "python"), str(ROOT / "bench" / "mini_run.py"),
                            "--image", env_image(task)[0], "--repo", str(repo), "--issue-file", str(Path(tmp) / "issue.md"),
                            "--model-name", a.model_name, "--api-base", a.base_url, "--steps", str(a.steps),
                            "--out", str(traj)], check=False, timeout=a.instance_timeout)
            row = json.loads(traj.read_text()) if traj.exists() else {"model_patch": "", "exit_status": "crashed"}
        tokens += sum(m.get("extra", {}).get("response", {}).get("usage", {}).get("total_tokens", 0)
                      for m in row.get("messages", []) if isinstance(m, dict))
        append_jsonl(out / "predictions.jsonl", Prediction(task.instance_id, row["model_patch"], f"mini:{a.model_name}",
                                                           {"exit_status": row.get("exit_status")}))
    return {"wall_s": time.monotonic() - t0, "tokens": tokens, "n": len(tasks)}


def grade(a, out: Path, name: str) -> dict:
    patchloop("eval", "swe", "--dataset", a.dataset, "--predictions", str(out / "predictions.jsonl"),
              "--run-id", name, "--runs-dir", str(out.parent / "eval"), "--backend", a.backend, "--no-progress")
    return json.loads((out.parent / "eval" / name / "report.json").read_text())


def run(a) -> None:
    base = Path(a.out)
    rows = []
    systems = [(f"patchloop-{m}", lambda o, m=m: run_patchloop(a, m, o)) for m in a.modes.split(",")]
    if not a.skip_mini:
        systems.append(("mini-swe-agent", lambda o: run_mini(a, o)))
    for name, go in systems:
        stats = go(base / name)
        report = grade(a, base / name, name)
        resolved = report["resolved_instances"]
        rows.append({"system": name, "resolved": resolved, "instances": stats["n"], "wall_s": round(stats["wall_s"], 1),
                     "wall_s_per_resolved": round(stats["wall_s"] / resolved, 1) if resolved else None,
                     "tokens_per_instance": round(stats["tokens"] / max(1, stats["n"]))})
    (base / "summary.json").write_text(json.dumps({"model": a.model_name, "steps": a.steps, "rows": rows}, indent=2))
    table = ["| system | resolved | wall s | s / resolved | tokens / instance |", "|---|---|---|---|---|"]
    table += [f"| {r['system']} | {r['resolved']}/{r['instances']} | {r['wall_s']} | {r['wall_s_per_resolved']} | "
              f"{r['tokens_per_instance']} |" for r in rows]
    (base / "table.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("setup-mini")
    r = sub.add_parser("run")
    r.add_argument("--base-url", required=True)
    r.add_argument("--model-name", required=True)
    r.add_argument("--dataset", default="builtin")
    r.add_argument("--steps", type=int, default=15)
    r.add_argument("--modes", default="tools,text")
    r.add_argument("--backend", default="docker")
    r.add_argument("--instance-timeout", type=float, default=3600)
    r.add_argument("--skip-mini", action="store_true")
    r.add_argument("--out", required=True)
    a = ap.parse_args()
    setup_mini() if a.cmd == "setup-mini" else run(a)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    from patchloop.llm.quiet import quiet_env

    quiet_env()  # before transformers is imported: its loading bars stay out of the log
    main()
