"""Run mini-swe-agent on one instance, its commands inside a container of ours. Executed with
the separate mini-swe-agent venv's Python (see bench/agent_resolve.py), never the project's.

    $MINI_VENV/bin/python bench/mini_run.py --image IMG --repo CHECKOUT --issue-file F \
        --model-name policy --api-base http://127.0.0.1:8000/v1 --steps 15 --out traj.json

The repository checkout is mounted at /testbed in a container with no network, started from
the task's patchloop environment image; the patch is ``git diff`` of the checkout afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import yaml
from minisweagent import package_dir
from minisweagent.agents.default import DefaultAgent
from minisweagent.environments.docker import DockerEnvironment
from minisweagent.models import get_model


def main() -> None:
    ap = argparse.ArgumentParser()
    for name in ("--image", "--repo", "--issue-file", "--model-name", "--api-base", "--out"):
        ap.add_argument(name, required=True)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--max-tokens", type=int, default=512, help="longest reply")
    ap.add_argument("--config", default="mini_textbased.yaml", help="a config shipped with mini-swe-agent")
    args = ap.parse_args()
    cfg = yaml.safe_load((Path(package_dir) / "config" / args.config).read_text())
    agent_cfg = {**cfg["agent"], "step_limit": args.steps, "cost_limit": 0.0}
    model_cfg = cfg.get("model", {})
    # The config's own model section (observation and format-error templates, model kwargs) with
    # the text-based model class it was written for: the served model answers in plain text.
    model = get_model(f"openai/{args.model_name}", {
        **model_cfg, "model_class": model_cfg.get("model_class", "litellm_textbased"), "cost_tracking": "ignore_errors",
        "model_kwargs": {**model_cfg.get("model_kwargs", {}), "api_base": args.api_base, "api_key": "not-needed",
                         "temperature": 0.0, "max_tokens": args.max_tokens}})
    env = DockerEnvironment(image=args.image, cwd="/testbed", timeout=120,
                            run_args=["--rm", "--network", "none", "-v", f"{Path(args.repo).resolve()}:/testbed"],
                            env=cfg.get("environment", {}).get("env", {}))
    agent = DefaultAgent(model, env, **agent_cfg)
    t0 = time.monotonic()
    try:
        result = agent.run(Path(args.issue_file).read_text())
        exit_status, message = result.get("exit_status"), result.get("submission", "")
    except Exception as e:  # noqa: BLE001 - the benchmark records why a run ended, whatever it was
        exit_status, message = type(e).__name__, str(e)[:500]
    patch = subprocess.run(["git", "diff"], cwd=args.repo, capture_output=True, text=True, check=False).stdout
    Path(args.out).write_text(json.dumps({
        "exit_status": exit_status, "message": str(message)[:2000], "model_patch": patch,
        "wall_s": round(time.monotonic() - t0, 1), "steps": getattr(agent, "n_calls", None),
        "messages": getattr(agent, "messages", []),
    }, default=str))


if __name__ == "__main__":
    main()  # runs in mini-swe-agent's own venv, where patchloop is not importable
