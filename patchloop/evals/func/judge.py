"""The judge process of the grader server (``func_server``): trusted, one per sample.

Forked from the server, it forks the candidate first and only then reads the sample's tests
(from a descriptor the server opened and unlinked), so the candidate never holds their bytes.
It runs them against a ``Proxy`` of the candidate, kills the candidate's whole tree, and sends
one report to the server. Standard library only: copied into sandboxes with the server, and
imported by it before any candidate runs.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import tempfile
import time

if __package__:  # imported from the package (host side, tests)
    from patchloop.evals.func import procs
    from patchloop.evals.func.candidate import candidate_main
    from patchloop.evals.func.codec import encode, send
    from patchloop.evals.func.proxy import (
        CandidateDied,
        CandidateError,
        CandidateSetupFailed,
        CandidateTimeout,
        Proxy,
    )
else:  # a file in the sandbox, imported while func_server.py has this directory on sys.path
    import func_procs as procs
    from func_candidate import candidate_main
    from func_codec import encode, send
    from func_proxy import CandidateDied, CandidateError, CandidateSetupFailed, CandidateTimeout, Proxy

MAX_REPORTED = 16 * 1024  # bytes of one structured-case return value sent back to the host


def run_tests(kind, test, entry_point, proxy):
    """Run one sample's tests against the proxy. Returns the judge's report (a dict)."""
    report = {"passed": 0, "total": 0, "outs": [], "detail": ""}
    try:
        proxy.wait_ready()
        if kind == "cases":
            _run_cases(test["args"], proxy, report)
        else:
            _run_in_namespace(kind, test, entry_point, proxy, report)
    except CandidateTimeout:
        proxy.state = "timeout"
    except CandidateDied:
        pass
    except CandidateSetupFailed as e:
        report["infra"] = f"candidate set-up failed, refusing to grade: {e}"
    except Exception as e:
        report["detail"] = f"{type(e).__name__}: {str(e)[:200]}"
    return report


def _run_cases(args_list, proxy, report) -> None:
    """Structured tests: record what the candidate returned for each argument list; the host
    compares that with the expected values, which never entered the sandbox."""
    report["total"] = len(args_list)
    for args in args_list:
        try:
            value = encode(proxy(*args))
            if len(json.dumps(value)) > MAX_REPORTED:  # keeps the report block small
                raise CandidateError(f"return value larger than {MAX_REPORTED} bytes as JSON")
            report["outs"].append({"v": value})
        except Exception as e:
            report["outs"].append({"exc": str(e)[:200]})


def _run_in_namespace(kind, test, entry_point, proxy, report) -> None:
    """MBPP-style asserts or a HumanEval-style ``check``, run where the entry point is the proxy."""
    import builtins

    ns = {"__name__": "__judge__", "__builtins__": builtins}
    for code in (test.get("prompt", ""), test.get("setup", "")):
        try:
            exec(compile(code, "<prompt>", "exec"), ns)
        except Exception:
            pass  # a prompt that is only a stub; the tests may not need it
    ns[entry_point] = proxy
    if kind == "asserts":
        report["total"] = len(test["asserts"])
        for src in test["asserts"]:
            try:
                exec(compile(src, "<assert>", "exec"), ns)
                report["passed"] += 1
            except Exception as e:
                report["detail"] = report["detail"] or f"{src[:120]}: {type(e).__name__} {str(e)[:120]}"
        return
    counted = counted_check(test["test"], ns, report)
    if counted is None:
        report["total"] = 1
        exec(compile(test["test"], "<test>", "exec"), ns)
    ns["check"](proxy)
    if counted is None:
        report["passed"] = 1
    elif report["passed"] < report["total"]:
        report["detail"] = report["detail"] or "some asserts failed"


def counted_check(source, ns, report):
    """Compile ``check`` so that each top-level statement holding an ``assert`` is one test:
    a failing one is counted and the next still runs (partial credit); the verdict is the same
    as the plain run's, since PASS still needs every one to pass. None when not applicable."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    checks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    if len(checks) != 1:
        return None
    units = 0
    body = []
    for stmt in checks[0].body:
        is_def = isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        if is_def or not any(isinstance(n, ast.Assert) for n in ast.walk(stmt)):
            body.append(stmt)
            continue
        units += 1
        body.append(ast.Try(  # try: <stmt> / except Exception: fail() / else: ok()
            body=[stmt],
            handlers=[ast.ExceptHandler(type=ast.Name("Exception", ast.Load()), name=None, body=[
                ast.Expr(ast.Call(ast.Name("__pl_unit", ast.Load()), [ast.Constant(False)], []))])],
            orelse=[ast.Expr(ast.Call(ast.Name("__pl_unit", ast.Load()), [ast.Constant(True)], []))],
            finalbody=[]))
    if units == 0:
        return None
    checks[0].body = body
    report["total"] = units

    def unit(ok):
        report["passed"] += bool(ok)

    ns["__pl_unit"] = unit
    exec(compile(ast.fix_missing_locations(tree), "<test>", "exec"), ns)
    return units


def judge_main(job, test_fd, result_w, uid, limits) -> None:
    """Never returns: forks the candidate, runs the tests, sends one report on ``result_w``."""
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)  # tests may print; nothing of ours goes to the server's stdout
    try:
        procs.prctl(procs.PR_SET_CHILD_SUBREAPER, 1, "PR_SET_CHILD_SUBREAPER")
    except OSError as e:  # without it a double-forked candidate would outlive the kill
        send(result_w, {"infra": f"judge set-up failed, refusing to grade: {e}"})
        os._exit(0)
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    workdir = tempfile.mkdtemp(prefix="plf-")
    if uid is not None:
        os.chown(workdir, uid, uid)
    deadline = time.monotonic() + job["timeout"]
    pid = os.fork()
    if pid == 0:
        candidate_main(job, req_r, resp_w, workdir, uid, limits)
    os.close(req_r)
    os.close(resp_w)
    with os.fdopen(test_fd, "rb") as fh:  # only now: the candidate never had these bytes
        test = json.loads(fh.read())
    proxy = Proxy(pid, req_w, resp_r, deadline)
    report = run_tests(job["kind"], test, job["entry_point"], proxy)
    report["state"] = proxy.state
    report["calls"] = proxy.calls
    procs.kill_and_reap(pid, group=True)
    if procs.has_children():  # orphans re-parented to us (we are their subreaper)
        procs.kill_descendants(uid)
    shutil.rmtree(workdir, ignore_errors=True)
    send(result_w, report)
    os._exit(0)
