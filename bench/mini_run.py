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
from minisweagent.models.litellm_model import LitellmModel


def main() -> None:
    ap = argparse.ArgumentParser()
    for name in ("--image", "--repo", "--issue-file", "--model-name", "--api-base", "--out"):
        ap.add_argument(name, required=True)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--config", default="mini_textbased.yaml", help="a config shipped with mini-swe-agent")
    args = ap.parse_args()
    cfg = yaml.safe_load((Path(package_dir) / "config" / args.config).read_text())
    agent_cfg = {**cfg["agent"], "step_limit": args.steps, "cost_limit": 0.0}
    model = LitellmModel(model_name=f"openai/{args.model_name}", cost_tracking="ignore_errors",
                         model_kwargs={"api_base": args.api_base, "api_key": "not-needed", "temperature": 0.0,
                                       **cfg.get("model", {}).get("model_kwargs", {})})
    env = DockerEnvironment(image=args.image, cwd="/testbed", timeout=120,
                            run_args=["--rm", "--network", "none", "-v", f"{Path(args.repo).resolve()}:/testbed"],
                            **{k: v for k, v in cfg.get("environment", {}).items() if k in ("env",)})
    agent = DefaultAgent(model, env, **agent_cfg)
    t0 = time.monotonic()
    try:
        exit_status, message = agent.run(Path(args.issue_file).read_text())
    except Exception as e:  # noqa: BLE001 - the benchmark records why a run ended, whatever it was
        exit_status, message = type(e).__name__, str(e)[:500]
    patch = subprocess.run(["git", "diff"], cwd=args.repo, capture_output=True, text=True, check=False).stdout
    Path(args.out).write_text(json.dumps({
        "exit_status": exit_status, "message": str(message)[:2000], "model_patch": patch,
        "wall_s": round(time.monotonic() - t0, 1), "steps": getattr(agent, "n_calls", None),
        "messages": getattr(agent, "messages", []),
    }, default=str))


if __name__ == "__main__":
    from patchloop.llm.quiet import quiet_env

    quiet_env()  # before transformers is imported: its loading bars stay out of the log
    main()
