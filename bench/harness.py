"""SWE harness throughput: instances evaluated per minute with 1 and 2 workers, and where the
time goes (environment image build vs test runs vs the rest: checkout, sandbox start, patches).

    .venv/bin/python bench/harness.py [--backend docker] [--repeat 2] [--out runs/bench/harness.json]

Workload: the built-in instances (``examples/swe``) with their gold patches, so every instance
runs its full FAIL_TO_PASS + PASS_TO_PASS selection. Each worker count gets a fresh run dir (no
resume shortcuts); ``--repeat`` copies of the instance list (renamed ids) make runs long
enough to time. The image build is measured separately on a one-off tag (an extra no-op setup
step), so the shared cached image is neither rebuilt nor counted in the per-run figures,
which use the cached image as a real batch does after its first instance.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchloop.evals.datasets import load_predictions, load_tasks
from patchloop.evals.run import load_results, run_swe_eval
from patchloop.evals.swe import env_image, requirements_of, resolve_backend
from patchloop.types import Task, write_json


def workload(repeat: int) -> list[Task]:
    tasks = []
    for r in range(repeat):
        for t in load_tasks("builtin"):
            d = t.to_dict()
            d["instance_id"] = f"{t.instance_id}-r{r}"
            tasks.append(Task.from_dict(d))
    return tasks


def measure_build(tasks: list[Task]) -> dict:
    """Cold environment image build (wheelhouse already cached), on a throwaway tag."""
    import docker

    from patchloop.sandbox.images import ensure_env_image

    t0 = time.monotonic()
    tag = ensure_env_image(requirements_of(tasks[0]), setup=(f"true bench-{time.time_ns()}",))
    cold = time.monotonic() - t0
    client = docker.from_env()
    client.images.remove(tag, force=True)
    client.close()
    t0 = time.monotonic()
    env_image(tasks[0])  # the shared tag: built once ever, then a cache hit
    return {"cold_build_s": round(cold, 2), "cached_lookup_s": round(time.monotonic() - t0, 3)}


def run(tasks: list[Task], workers: int, backend: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-harness-") as tmp:
        t0 = time.monotonic()
        report = run_swe_eval(tasks, load_predictions("gold", tasks), Path(tmp) / "run", workers=workers,
                              backend=backend, timeout=120, progress=False)
        wall = time.monotonic() - t0
        results = list(load_results(Path(tmp) / "run" / "results.jsonl").values())
    test_s = sum(r.test_s for r in results)
    total_s = sum(r.total_s for r in results)
    build_s = sum(r.build_s for r in results)
    return {
        "workers": workers, "instances": len(tasks), "resolved": report["resolved_instances"],
        "wall_s": round(wall, 2), "instances_per_min": round(60 * len(tasks) / wall, 1),
        "sum_instance_s": round(total_s, 2), "sum_image_s": round(build_s, 2), "sum_test_run_s": round(test_s, 2),
        "sum_other_s": round(total_s - test_s - build_s, 2),
        "test_run_share": round(test_s / total_s, 3) if total_s else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="docker", choices=["docker", "local", "auto"])
    ap.add_argument("--repeat", type=int, default=2, help="copies of the built-in instance list")
    ap.add_argument("--out", default="runs/bench/harness.json")
    args = ap.parse_args()
    backend = resolve_backend(args.backend)
    tasks = workload(args.repeat)
    out: dict = {"machine": f"{platform.machine()} {platform.python_version()}", "backend": backend}
    if backend == "docker":
        out["image"] = measure_build(tasks)
        print(f"env image: cold build {out['image']['cold_build_s']} s (wheelhouse cached), "
              f"cached lookup {out['image']['cached_lookup_s']} s")
    out["runs"] = []
    for workers in (1, 2):
        r = run(tasks, workers, backend)
        out["runs"].append(r)
        print(f"{backend} workers={workers}: {r['instances']} instances ({r['resolved']} resolved) in {r['wall_s']} s "
              f"= {r['instances_per_min']}/min; per-instance time: test run {r['sum_test_run_s']} s, "
              f"image {r['sum_image_s']} s, checkout+sandbox+patches {r['sum_other_s']} s "
              f"(test run {100 * r['test_run_share']:.0f}%)")
    write_json(args.out, out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
