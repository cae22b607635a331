"""Capture what a real small model writes as the agent's policy, as test data for the parsers.

Starts ``patchloop serve`` over a local checkpoint, runs the agent for a few steps on
built-in instances in both action modes, and writes each reply exactly as sampled (the
token ids the server returned, decoded) with the instance, mode and step, one JSON line
each. The stored file says which command made it.

    python bench/capture_replies.py --model ~/.cache/patchloop/models/qwen2.5-coder-0.5b-instruct/hf \
        --out tests/llm/data/qwen25_coder_05b_replies.jsonl --steps 2

``--base-url URL --model-name NAME`` captures from a server already running (a llama.cpp
``serve`` of the same model, say); ``--model`` then only names the tokenizer.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def serve(model: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "patchloop", "serve", "--model", model, "--port", "0",
                             "--name", "policy", "--host", "127.0.0.1"], stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if "http://" in line:
            return proc, line[line.index("http://"):].split()[0].rstrip("/") + ("" if "/v1" in line else "/v1")
    raise SystemExit("serve exited before it listened")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--instances", default="textkit-1,intervals-1")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--base-url", default="", help="a running OpenAI-compatible server (default: start serve)")
    ap.add_argument("--model-name", default="policy", help="the model's name on --base-url")
    args = ap.parse_args()

    from transformers import AutoTokenizer

    from patchloop.agent.runner import run_episode
    from patchloop.agent.state import AgentConfig
    from patchloop.agent.workspace import open_workspace
    from patchloop.evals.datasets import load_tasks
    from patchloop.llm import load_chat_model

    tok = AutoTokenizer.from_pretrained(args.model)
    proc, url = (None, args.base_url) if args.base_url else serve(args.model)
    header = {"captured_with": " ".join(["python", *sys.argv]), "model": args.model,
              "sampling": {"temperature": 0.0, "max_tokens": args.max_new_tokens}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(header) + "\n")  # then one line per reply as it comes: a slow run keeps what it got
    rows = []
    try:
        for iid in args.instances.split(","):
            task = next(t for t in load_tasks("builtin") if t.instance_id == iid)
            for mode in ("tools", "text"):
                model = load_chat_model(f"openai:{args.model_name}", base_url=url, max_tokens=args.max_new_tokens,
                                        temperature=0.0, return_token_ids=True, timeout=600)
                cfg = AgentConfig(max_steps=args.steps, action_mode=mode, completion_tokens=args.max_new_tokens,
                                  python=sys.executable)
                t0 = time.monotonic()
                with open_workspace(task, "local") as (sb, python):
                    traj = run_episode(model, sb, task, cfg.model_copy(update={"python": python}))
                for s in traj.steps:
                    text = tok.decode(s.token_ids or [], skip_special_tokens=True)
                    rows.append({"instance_id": iid, "action_mode": mode, "step": s.index, "reply": text,
                                 "parsed_calls": [c.get("name") for c in s.tool_calls if not c.get("invalid")]})
                    with out.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(rows[-1], ensure_ascii=False) + "\n")
                print(f"{iid} {mode}: {len(traj.steps)} steps, {time.monotonic() - t0:.0f}s", flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"{len(rows)} replies in {args.out}")


if __name__ == "__main__":
    from patchloop.llm.quiet import quiet_env

    quiet_env()  # before transformers is imported: its loading bars stay out of the log
    main()
