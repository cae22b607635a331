"""The candidate process of the grader server (``func_server``): untrusted from ``exec`` on.

Forked from the judge, it closes every descriptor but its two pipe ends, gets its own empty
cwd, rlimits and -- when the server may switch uids -- a fresh uid, reports that set-up, and
only then runs the program and answers calls. Whatever it writes after that is only ever *a
return value*: the judge decodes it with the strict codec. Standard library only: copied into
sandboxes with the server, and imported by it before any candidate runs.
"""

from __future__ import annotations

import math
import os
import resource
import sys

if __package__:  # imported from the package (host side, tests)
    from patchloop.evals.func.codec import decode, encode, recv, send
    from patchloop.evals.func.procs import PR_SET_NO_NEW_PRIVS, prctl
else:  # a file in the sandbox, imported while func_server.py has this directory on sys.path
    from func_codec import decode, encode, recv, send
    from func_procs import PR_SET_NO_NEW_PRIVS, prctl


def candidate_main(job, req_r, resp_w, workdir, uid, limits) -> None:
    """Never returns. Everything before ``exec`` of the program is ours; after it, nothing is
    trusted: whatever this process writes on ``resp_w`` is only ever *a return value*."""
    try:
        os.setpgid(0, 0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.dup2(req_r, 3)
        os.dup2(resp_w, 4)
        os.closerange(5, 65536)  # our stdout, the judge's result pipe, the test descriptors
        os.chdir(workdir)
        cpu = math.ceil(job["timeout"]) + 1
        for res, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, limits["memory_bytes"]),
                           (resource.RLIMIT_FSIZE, limits["file_bytes"]),
                           (resource.RLIMIT_NOFILE, 64), (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(res, (value, value))
        if uid is not None:  # root: a fresh uid, so RLIMIT_NPROC counts only this tree
            resource.setrlimit(resource.RLIMIT_NPROC, (limits["nproc"], limits["nproc"]))
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        prctl(PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")
        os.environ.clear()
        os.environ.update({"HOME": workdir, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        sys.argv = ["candidate"]
    except BaseException as e:  # setup failed: that is our failure, say so
        send(4, {"setup_error": repr(e)[:300]})
        os._exit(0)
    # Sent before the program runs, so it cannot be forged: the judge reads it first.
    send(4, {"setup": True})
    _serve_candidate(job)


def _serve_candidate(job) -> None:
    import builtins

    namespace = {"__name__": "__candidate__", "__builtins__": builtins}
    try:
        exec(compile(job["program"], "<completion>", "exec"), namespace)
        fn = namespace.get(job["entry_point"])
        if not callable(fn):
            raise NameError(f"entry point {job['entry_point']!r} is not defined")
    except BaseException as e:
        send(4, {"load_error": f"{type(e).__name__}: {str(e)[:300]}"})
        os._exit(0)
    send(4, {"ready": True})
    while True:
        req = recv(3, None)
        if req is None:
            os._exit(0)
        try:
            value = fn(*decode(req["args"]), **decode(req.get("kwargs", {"__d": []})))
            reply = {"ok": encode(value)}
        except BaseException as e:  # SystemExit from the function is an error, not an exit
            reply = {"exc": type(e).__name__, "msg": str(e)[:300]}
        send(4, reply)
