"""HumanEval greedy on each generation engine, side by side, as committed stage records.

Each engine is one stage: open the engine on the model (timed: a server's start counts),
sample every problem with the chat prompt and the grader's stop rule through
``patchloop.evals.func.sample`` (timed), grade in the sandbox, and write
``bench/results/engines/<machine kind>/<stage>.json`` (per-problem verdicts, seconds, tokens,
engine, dtype, machine, commit): one folder per machine kind (amx, avx512, avx2, gpu), since
records of different kinds are never put in one table. ``report`` prints each kind's table and
ratios from the records alone, and which engine was fastest on each kind (the default's evidence).

    .venv/bin/python bench/engines.py run --engines hf,vllm --limit 40   # stages then report
    .venv/bin/python bench/engines.py stage vllm                         # all 164 problems
    .venv/bin/python bench/engines.py finish hf --limit 40             # grade what a killed stage sampled
    .venv/bin/python bench/engines.py report

Goal (engine issue): the default engine >= 3x the in-process ``transformers.generate`` path,
and a full greedy pass <= 6 min with the engine's start on an AMX machine, <= 15 on AVX2-only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results" / "engines"
MODEL = "qwen2.5-coder-0.5b-instruct"
SAME = ["settings.model", "settings.prompt", "settings.max_new_tokens", "settings.decoding", "settings.stop",
        "machine.kind", "machine.cpu"]


def stage_name(engine: str, dtype: str | None, limit: int | None) -> str:
    reserved = os.environ.get("VLLM_CPU_NUM_OF_RESERVED_CPU")  # vLLM's cores kept off compute
    tag = f"-reserve{reserved}" if engine == "vllm" and reserved is not None else ""
    return f"humaneval-{engine}{'-' + dtype if dtype else ''}{tag}-{limit or 'all'}"


def run_stage(args, engine: str) -> Path:
    from patchloop.evals.func.evaluate import load_func_problems
    from patchloop.evals.func.sample import sample_completions
    from patchloop.llm.generation.engines import open_generator

    problems = load_func_problems("humaneval")
    if args.limit:
        problems = dict(list(problems.items())[: args.limit])
    name = stage_name(engine, args.dtype, args.limit)
    out = Path(args.runs) / name
    samples = out / "samples.jsonl"
    if samples.exists():  # a stage times a whole pass: a rerun starts it over
        samples.unlink()
        samples.with_name(samples.name + ".settings.json").unlink(missing_ok=True)
    t0 = time.monotonic()
    gen = open_generator(engine, args.model, log_dir=out / "engine", dtype=args.dtype,
                         concurrency=args.concurrency, batch_size=args.batch_size)
    start_s = time.monotonic() - t0
    out.mkdir(parents=True, exist_ok=True)
    (out / "start_s.json").write_text(json.dumps({"start_s": start_s}))  # for `finish`, if grading fails
    try:
        meta = sample_completions(args.model, list(problems.values()), samples, prompt_format="chat",
                                  max_new_tokens=args.max_new_tokens, generator=gen)
    finally:
        gen.close()
    return finish_stage(args, name, problems, out, start_s, meta)


def finish_stage(args, name: str, problems: dict, out: Path, start_s: float | None, meta: dict) -> Path:
    """Grade a stage's samples and write its record (also for samples a killed stage left)."""
    from patchloop.evals.func.evaluate import evaluate_function_samples
    from patchloop.evals.stages import write_stage

    samples = out / "samples.jsonl"
    summary = evaluate_function_samples(problems, samples, out_dir=out / "graded", ks=[1], backend=args.backend,
                                        progress=True)
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    graded = [json.loads(r) for r in (out / "graded" / "results.jsonl").read_text().splitlines() if r.strip()]
    broken = [g for g in graded if g.get("infra_error")]
    if broken:  # a sandbox that could not run is no verdict on the model: no record, the samples kept
        raise SystemExit(f"{name}: {len(broken)} of {len(graded)} problems not graded ({broken[0].get('detail')}); "
                         f"fix that, then `bench/engines.py finish {name.split('-')[1]}"
                         f"{' --limit ' + str(args.limit) if args.limit else ''}` grades the kept samples")
    verdicts = {g["task_id"]: g["status"] for g in graded}
    tokens = sum(int(r.get("tokens") or 0) for r in rows)
    sample_s = meta["sampling_wall_s"]
    figures = {"problems": len(problems), "start_s": None if start_s is None else round(start_s, 1),
               "sample_s": sample_s, "total_s": round((start_s or 0.0) + sample_s, 1), "completion_tokens": tokens,
               "tokens_per_s": round(tokens / max(sample_s, 1e-9), 1),
               "pass@1": summary.get("pass@1"), "length_cut": sum(r.get("finish_reason") == "length" for r in rows)}
    settings = {k: v for k, v in meta.items() if k not in ("engine", "sampling_wall_s")}
    path = write_stage(RESULTS / meta["engine"]["machine"]["kind"], "engines", name, settings=settings, engine=meta["engine"], figures=figures,
                       items=[{"task_id": k, "status": v} for k, v in sorted(verdicts.items())],
                       wall_s=figures["total_s"])
    print(f"{name}: {json.dumps(figures)} -> {path}")
    return path


def regrade(args) -> Path:
    """``finish``: grade the samples a stage left (its engine's start time as the stage saved it,
    else None)."""
    from patchloop.evals.func.evaluate import load_func_problems

    problems = load_func_problems("humaneval")
    if args.limit:
        problems = dict(list(problems.items())[: args.limit])
    name = stage_name(args.engine, args.dtype, args.limit)
    out = Path(args.runs) / name
    meta = json.loads((out / "samples.jsonl.settings.json").read_text())
    started = out / "start_s.json"
    start_s = json.loads(started.read_text())["start_s"] if started.exists() else None
    return finish_stage(args, name, problems, out, start_s, meta)


def report(_args=None) -> dict:
    """One table per machine kind, then the fastest engine of each kind."""
    kinds = sorted(d for d in RESULTS.iterdir() if d.is_dir() and any(d.glob("*.json")))
    if not kinds:
        raise SystemExit(f"no stage records under {RESULTS}/<machine kind>/")
    out = {kind.name: kind_report(kind) for kind in kinds}
    print("fastest engine per machine kind (sampling seconds per problem):")
    for kind, rep in out.items():
        print(f"  {kind}: {rep['fastest']}")
    (RESULTS / "report.json").write_text(json.dumps({k: {"machine": v["machine"], "fastest": v["fastest"]}
                                                     for k, v in out.items()}, indent=1) + "\n")
    return out


def kind_report(folder: Path) -> dict:
    from patchloop.evals.stages import read_stages, require_same

    records = read_stages(folder)
    require_same(records, SAME)
    rows = []
    for name, r in sorted(records.items()):
        f = r["figures"]
        rows.append({"stage": name, "engine": r["engine"].get("engine"), "dtype": r["engine"].get("dtype"),
                     **{k: f[k] for k in ("problems", "start_s", "sample_s", "total_s", "tokens_per_s", "pass@1")},
                     "s_per_problem": round(f["sample_s"] / f["problems"], 2), "commit": r["commit"][:12]})
    base = {r["problems"]: r for r in rows if r["engine"] == "hf"}
    for r in rows:
        ref = base.get(r["problems"])
        r["speedup_vs_hf"] = round(ref["sample_s"] / r["sample_s"], 2) if ref else None
    machine = next(iter(records.values()))["machine"]
    print(f"\n{folder.name}: {machine.get('cpu')} ({machine.get('cores')} cores, {', '.join(machine.get('flags', []))})")
    cols = ["stage", "dtype", "problems", "start_s", "sample_s", "total_s", "s_per_problem", "tokens_per_s",
            "pass@1", "speedup_vs_hf"]
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r.get(c)) for c in cols))
    best = min(rows, key=lambda r: r["s_per_problem"])
    out = {"machine": machine, "rows": rows, "fastest": f"{best['engine']} ({best['dtype']}, {best['stage']})"}
    (folder / "report.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["stage", "finish", "run", "report"])
    ap.add_argument("engine", nargs="?", default="vllm", help="stage: hf, vllm, or a server URL")
    ap.add_argument("--engines", default="hf,vllm", help="run: the stages, in order")
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--limit", type=int, default=None, help="the first N HumanEval problems (default all 164)")
    ap.add_argument("--dtype", default=None, help="engine dtype (default: the engine's own choice here)")
    ap.add_argument("--max-new-tokens", type=int, default=512)
    ap.add_argument("--concurrency", type=int, default=32, help="requests in flight (server engines)")
    ap.add_argument("--batch-size", type=int, default=16, help="rows per generate call (hf)")
    ap.add_argument("--backend", default="auto", help="grading sandbox: docker, local, auto")
    ap.add_argument("--runs", default="runs/bench/engines")
    args = ap.parse_args(argv)
    if args.what == "report":
        report(args)
    elif args.what == "stage":
        run_stage(args, args.engine)
    elif args.what == "finish":
        regrade(args)
    else:
        for engine in args.engines.split(","):
            run_stage(args, engine.strip())
        report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
