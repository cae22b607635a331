"""In-sandbox fork server for function-level grading. Standard library only.

Copied into a sandbox with its sibling modules (``SERVER_FILES`` in ``patchloop.evals.func.grade``)
and run as ``exec python3 -I func_server.py BATCH_DIR``; one run grades a whole chunk of
samples, so a batch pays one interpreter start (and one import of the test machinery) instead
of one per sample. The host side lives in ``patchloop.evals.func.grade``, which also imports the value
codec (``func_codec``). This file is the server and this docstring the whole protocol; each
process has its module: ``func_judge`` (with ``func_proxy``, its view of the candidate),
``func_candidate``, and ``func_procs`` / ``func_scratch`` for the clean-up between samples.

Per sample, three processes:

* **server** (this process): pre-imports, forks one *judge* per sample, prints the results.
* **judge** (trusted, forked from the server): forks the candidate, then reads the sample's
  tests from a file descriptor the server opened and unlinked at start-up, and runs them.
  The candidate is reached only through a proxy function that sends the arguments over a pipe
  and decodes the reply with the strict codec below, so the asserts compare plain data that
  the *judge* built: an object whose ``__eq__`` always says True cannot cross the pipe.
* **candidate** (untrusted, forked from the judge): closes every descriptor but its two pipe
  ends, gets its own empty cwd, rlimits (CPU, address space, processes, file size, open
  files), and -- when the server holds CAP_SETUID/SETGID/CHOWN and the standard library is
  world-readable -- its own fresh uid, then runs the program.
  Monkeypatching ``builtins``, ``AssertionError`` or test helpers happens in *its* address
  space only; exiting early, printing, or dying just means no reply (FAIL).

What it defends against, and how:

* forged output: results are printed only after every candidate process of the chunk is dead,
  as a block after a final ``PLEND`` marker; the host accepts the block only when this
  process exits 0, which no candidate can arrange. Candidates never hold our stdout.
* snooping on the judge/server (``/proc/PID/fd``, ``/proc/PID/mem``): both are made
  non-dumpable, which closes those files to same-uid processes without CAP_SYS_PTRACE.
* reading the tests: the test files are opened and unlinked before any candidate runs, and
  their bytes only enter a judge after its candidate was forked. Structured tests send only
  arguments into the sandbox; the host keeps the expected values and compares them itself.
* escapes from the kill: judge and server are child subreapers, so double-forked or setsid'd
  descendants are re-parented to them and killed (with a fresh uid: ``kill(-1)`` as that uid).
* planting code for the trusted side: every module the judge and server use is imported
  before the first candidate runs, and this file's own directory (the sandbox user's, so
  writable by a candidate sharing that uid) leaves ``sys.path`` once the server's own
  modules are in.
* a defence that did not take: a failed ``prctl``, pre-import or candidate set-up (rlimits,
  uid, no_new_privs) stops grading with an error naming it (the host's ERROR, an
  infrastructure failure), never a verdict; the candidate reports its set-up before its
  program runs, so a program cannot forge that report.
* starving later samples: what a sample leaves in /tmp, /var/tmp and /dev/shm is removed
  before the next one starts; a sample that kills the server fails and the rest run again.
* partial credit: each top-level statement of ``check`` holding an ``assert`` counts as one
  test (a failure is counted and the next still runs); PASS still needs all of them.

Limits: RLIMIT_CPU (timeout + 1 s), RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NOFILE, no core files; and
RLIMIT_NPROC only with a fresh uid, because the kernel counts a uid's processes machine-wide:
with the sandbox's shared uid a fork bomb is bounded by the sandbox's pids limit instead,
and killed with the rest of the candidate's tree.

What it does not defend against: a candidate that runs as the server's uid (Docker's
``sandbox`` user, no capabilities) can kill the server or its judge -- the host then scores
the sample that was running FAIL and runs the others again -- and can read or write any file
that uid can (not the tests: see above). Arguments a ``check`` passes to the candidate must be
plain data too (a lambda argument makes that call fail), and in-place mutation of arguments is
invisible to the tests. The sandbox itself (Docker, or the weaker local backend) is the
boundary for everything outside this process tree (network, host files, disk outside /tmp).
"""

from __future__ import annotations

# Every module the judge and the server use is imported here, before any candidate runs: a
# module imported lazily would be looked up on sys.path *after* a candidate had a chance to
# plant a file of that name somewhere on it (a forged PASS, shown by the hack tests).
import json
import os
import shutil
import sys
import time

if __package__:  # imported from the package (host side, tests) ...
    from patchloop.evals.func import procs
    from patchloop.evals.func.codec import CodecError, recv
    from patchloop.evals.func.judge import judge_main
    from patchloop.evals.func.scratch import scratch_restore, scratch_snapshot
else:  # ... or run in a sandbox from the directory the host wrote SERVER_FILES into
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, _HERE)
    import func_procs as procs
    from func_codec import CodecError, recv
    from func_judge import judge_main  # and, through it, func_candidate and func_proxy
    from func_scratch import scratch_restore, scratch_snapshot

    # That directory belongs to the sandbox user, whom candidates may share: nothing may be
    # imported from it again.
    sys.path.remove(_HERE)
    sys.path_importer_cache.pop(_HERE, None)

# What candidates commonly import, loaded once here so each fork starts with it (our own
# modules are imported at the top of this file).
PRELOAD = ("re", "string", "collections", "itertools", "functools", "heapq", "bisect",
           "typing", "copy", "hashlib", "random", "statistics", "fractions", "decimal", "datetime",
           "operator", "ctypes", "traceback")


def run_job(job, test_fd, limits):
    """Fork a judge for one sample; return its report, or a failure the host can score."""
    snap = scratch_snapshot()
    try:
        return _run_judge(job, test_fd, limits)
    finally:
        scratch_restore(snap)


def _run_judge(job, test_fd, limits):
    uid = procs.fresh_uid() if limits.get("switch_uid") else None
    result_r, result_w = os.pipe()
    try:
        pid = os.fork()
    except OSError as e:  # e.g. the pids cgroup is full: an infrastructure problem
        os.close(result_r)
        os.close(result_w)
        return {"infra": f"fork failed: {e}"}
    if pid == 0:
        os.close(result_r)
        try:
            judge_main(job, test_fd, result_w, uid, limits)
        finally:
            os._exit(70)
    os.close(result_w)
    os.close(test_fd)
    try:
        report = recv(result_r, time.monotonic() + job["timeout"] + limits["grace_s"])
        if report is None:
            report = {"judge_failed": "judge ended without a report"}
    except TimeoutError:
        report = {"state": "timeout", "judge_failed": "tests outran the deadline"}
    except (CodecError, ValueError) as e:
        report = {"judge_failed": f"bad report: {e}"}
    os.close(result_r)
    procs.kill_and_reap(pid)
    if procs.has_children():  # only when the judge died before cleaning up after its candidate
        procs.kill_descendants(uid)
    return report


def harden_server() -> None:
    """The server's own defences; raises (naming the one that failed) rather than grade without."""
    # non-dumpable: /proc/<us>/fd and /mem are closed to same-uid candidates
    procs.prctl(procs.PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE")
    procs.prctl(procs.PR_SET_CHILD_SUBREAPER, 1, "PR_SET_CHILD_SUBREAPER")
    failed = []
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception as e:  # noqa: BLE001 -- any failure leaves the name free to plant
            failed.append(f"{name} ({type(e).__name__}: {str(e)[:80]})")
    if failed:
        raise RuntimeError("could not pre-import " + ", ".join(failed)
                           + "; a candidate could plant a module of that name for the judge")


def main(batch_dir) -> int:
    try:
        harden_server()
    except Exception as e:  # noqa: BLE001 -- whatever failed, no verdict comes from this run
        sys.stderr.write(f"grader set-up failed, refusing to grade: {e}\n")
        shutil.rmtree(batch_dir, ignore_errors=True)
        return 3
    with open(os.path.join(batch_dir, "jobs.json"), encoding="utf-8") as fh:
        batch = json.load(fh)
    jobs, limits = batch["jobs"], batch["limits"]
    limits["switch_uid"] = procs.can_switch_uid()
    test_fds = []
    for i in range(len(jobs)):  # open, then unlink: no candidate can ever open them by name
        path = os.path.join(batch_dir, f"test-{i}.json")
        test_fds.append(os.open(path, os.O_RDONLY))
        os.unlink(path)
    results = []
    for i, job in enumerate(jobs):
        # Progress marker: if a candidate kills us, the host blames the sample named last.
        sys.stdout.write(f"PLS {i}\n")
        sys.stdout.flush()
        report = run_job(job, test_fds[i], limits)
        report["i"] = i
        results.append(report)
    shutil.rmtree(batch_dir, ignore_errors=True)
    # Every candidate is dead now, so nothing but us can write after this marker.
    out = ["", "PLEND"] + [json.dumps(r, separators=(",", ":")) for r in results] + [f"PLDONE {len(results)}"]
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
