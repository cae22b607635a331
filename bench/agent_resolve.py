"""Does the agent fix anything? patchloop (both action modes) beside mini-swe-agent on the same
served model, the same instances and the same step limit; resolved counts from `eval swe`.

A benchmark, not a test: it takes hours on a CPU.

    python bench/agent_resolve.py setup-mini                       # once: mini-swe-agent's own venv
    patchloop serve --model ~/.cache/patchloop/models/qwen2.5-coder-1.5b-instruct/hf --name policy &
    python bench/agent_resolve.py run --base-url http://127.0.0.1:8000/v1 --model-name policy \
        --dataset builtin --steps 15 --out runs/bench/resolve-1.5b

Each task's environment image (the one the harness grades in, and mini's commands run in) is
built on first use. Per system it writes ``predictions.jsonl`` and ``eval/`` (the harness's report), and at the end
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


def run_patchloop(a, mode: str, out: Path, task) -> dict:
    """One instance through `patchloop batch` (which resumes into ``out``); its own wall time
    and tokens, not the process start, so both systems are timed the same way."""
    patchloop("batch", "--dataset", a.dataset, "--model", f"openai:{a.model_name}", "--base-url", a.base_url,
              "--out", str(out), "--max-steps", str(a.steps), "--action-mode", mode, "--backend", a.backend,
              "--temperature", "0", "--max-new-tokens", str(a.max_new_tokens), "--instances", task.instance_id)
    summary = json.loads((out / "summary.json").read_text())
    row = next((r for r in summary.get("instances", []) if r["instance_id"] == task.instance_id), {})
    return {"wall_s": row.get("wall_s", 0.0), "tokens": row.get("prompt_tokens", 0) + row.get("completion_tokens", 0),
            "exit": row.get("exit_reason") or row.get("error")}


def selected(a) -> list:
    from patchloop.evals.datasets import load_tasks

    tasks = load_tasks(a.dataset)
    if not a.instances:
        return tasks
    # in the order given: a run cut short has done the instances the user put first
    by_id = {t.instance_id: t for t in tasks}
    wanted = [i.strip() for i in a.instances.split(",") if i.strip()]
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise SystemExit(f"agent_resolve: not in {a.dataset}: {', '.join(missing)}")
    return [by_id[i] for i in dict.fromkeys(wanted)]


def run_mini(a, out: Path, task) -> dict:
    """One instance through mini-swe-agent (bench/mini_run.py in its own venv), its prediction
    appended to ``out/predictions.jsonl``."""
    from patchloop.evals.repos import checkout_task_repo
    from patchloop.evals.swe import env_image
    from patchloop.types import Prediction, append_jsonl

    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "MSWEA_SILENT_STARTUP": "1"}  # offline, quiet
    with tempfile.TemporaryDirectory(prefix="bench-mini-") as tmp:
        repo = checkout_task_repo(task, Path(tmp) / "repo")
        (Path(tmp) / "issue.md").write_text(task.problem_statement)
        traj = out / "trajectories" / f"{task.instance_id}.json"
        traj.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(MINI_VENV / "bin" / "python"), str(ROOT / "bench" / "mini_run.py"),
                        "--image", env_image(task)[0], "--repo", str(repo), "--issue-file", str(Path(tmp) / "issue.md"),
                        "--model-name", a.model_name, "--api-base", a.base_url, "--steps", str(a.steps),
                        "--max-tokens", str(a.max_new_tokens), "--out", str(traj)],
                       check=False, timeout=a.instance_timeout, env=env)
        row = json.loads(traj.read_text()) if traj.exists() else {"model_patch": "", "exit_status": "crashed"}
    tokens = sum(m.get("extra", {}).get("response", {}).get("usage", {}).get("total_tokens", 0)
                 for m in row.get("messages", []) if isinstance(m, dict))
    append_jsonl(out / "predictions.jsonl", Prediction(task.instance_id, row["model_patch"], f"mini:{a.model_name}",
                                                       {"exit_status": row.get("exit_status")}))
    return {"wall_s": row.get("wall_s", 0.0), "tokens": tokens, "exit": row.get("exit_status")}


def grade(a, out: Path, name: str) -> dict:
    patchloop("eval", "swe", "--dataset", a.dataset, "--predictions", str(out / "predictions.jsonl"),
              "--run-id", name, "--runs-dir", str(out.parent / "eval"), "--backend", a.backend, "--no-progress")
    return json.loads((out.parent / "eval" / name / "report.json").read_text())


def systems(a) -> dict:
    runs = {f"patchloop-{m}": (lambda o, t, m=m: run_patchloop(a, m, o, t)) for m in a.modes.split(",")}
    if not a.skip_mini:
        runs["mini-swe-agent"] = lambda o, t: run_mini(a, o, t)
    return runs


def run(a) -> None:
    """Instance by instance, every system in turn on it: whatever else loads the machine falls
    on all systems alike. ``rows.jsonl`` holds one line per (system, instance) and is resumed."""
    base = Path(a.out)
    base.mkdir(parents=True, exist_ok=True)
    rows_path, runs = base / "rows.jsonl", systems(a)
    done = [json.loads(x) for x in rows_path.read_text().splitlines()] if rows_path.exists() else []
    seen = {(r["system"], r["instance_id"]) for r in done}
    for task in selected(a):
        for name, go in runs.items():
            if (name, task.instance_id) in seen:
                continue
            row = {"system": name, "instance_id": task.instance_id, **go(base / name, task)}
            with rows_path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            done.append(row)
            print(f"{name} {task.instance_id}: {row['exit']}, {row['wall_s']:.0f} s, {row['tokens']} tokens", flush=True)
    write_summary(a, base, done, {name: grade(a, base / name, name) for name in runs})


def write_summary(a, base: Path, done: list[dict], reports: dict) -> None:
    rows = []
    for name, report in reports.items():
        mine = [r for r in done if r["system"] == name]
        wall, tokens, resolved = sum(r["wall_s"] for r in mine), sum(r["tokens"] for r in mine), report["resolved_instances"]
        rows.append({"system": name, "resolved": resolved, "instances": len(mine), "wall_s": round(wall, 1),
                     "wall_s_per_instance": round(wall / max(1, len(mine)), 1),
                     "wall_s_per_resolved": round(wall / resolved, 1) if resolved else None,
                     "tokens_per_instance": round(tokens / max(1, len(mine))),
                     "resolved_ids": report.get("resolved_ids", [])})
    (base / "summary.json").write_text(json.dumps({"model": a.model_name, "steps": a.steps, "rows": rows}, indent=2))
    table = ["| system | resolved | agent wall s | s / instance | s / resolved | tokens / instance |",
             "|---|---|---:|---:|---:|---:|"]
    table += [f"| {r['system']} | {r['resolved']}/{r['instances']} | {r['wall_s']} | {r['wall_s_per_instance']} | "
              f"{r['wall_s_per_resolved'] or '-'} | {r['tokens_per_instance']} |" for r in rows]
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
    r.add_argument("--instances", default="", help="comma-separated instance ids (default: all)")
    r.add_argument("--max-new-tokens", type=int, default=512, help="longest reply, for every system")
    r.add_argument("--skip-mini", action="store_true")
    r.add_argument("--out", required=True)
    a = ap.parse_args()
    setup_mini() if a.cmd == "setup-mini" else run(a)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    from patchloop.llm.quiet import quiet_env

    quiet_env()  # before transformers is imported: its loading bars stay out of the log
    main()
