"""In-sandbox fork server for function-level grading. Standard library only.

Copied into a sandbox and run as ``exec python3 -I func_server.py BATCH_DIR``; one run grades
a whole chunk of samples, so a batch pays one interpreter start (and one import of the test
machinery) instead of one per sample. The host side lives in ``patchloop.evals.func``, which
also imports the value codec below.

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
  writable by a candidate sharing that uid) leaves ``sys.path`` once ``func_codec`` is in.
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
import ast
import json
import math
import os
import resource
import shutil
import signal
import sys
import tempfile
import time

try:  # in the package (host side, tests) ...
    from patchloop.evals.func_codec import CodecError, decode, encode, recv, send
except ImportError:  # ... or copied into a sandbox next to func_codec.py
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, _HERE)
    from func_codec import CodecError, decode, encode, recv, send

    # That directory belongs to the sandbox user, whom candidates may share: nothing may be
    # imported from it again.
    sys.path.remove(_HERE)
    sys.path_importer_cache.pop(_HERE, None)

MAX_REPORTED = 16 * 1024  # bytes of one structured-case return value sent back to the host
# What candidates commonly import, loaded once here so each fork starts with it (our own
# modules are imported at the top of this file).
PRELOAD = ("re", "string", "collections", "itertools", "functools", "heapq", "bisect",
           "typing", "copy", "hashlib", "random", "statistics", "fractions", "decimal", "datetime",
           "operator", "ctypes", "traceback")

# ------------------------------------------------------------------ process hygiene


def _prctl(option, arg, what) -> None:
    """prctl(2), raising ``OSError`` naming ``what`` when it fails: each call is a defence, and
    a grader that silently went without one would hand out verdicts it cannot vouch for."""
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({what}) failed: {os.strerror(err)}")


PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 4, 36, 38


def _children(pid):
    """Direct children of ``pid`` (a /proc scan; subreapers make orphans our children)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read()
                if int(stat[stat.rindex(b")") + 2:].split()[1]) == pid:
                    out.append(int(name))
            except (OSError, ValueError, IndexError):
                continue
    return out


def _kill_and_reap(pid: int, group: bool = False) -> None:
    """SIGKILL a child (its whole process group with ``group``) and reap it, whether or not
    it is still there: another path (the proxy) may have reaped it already."""
    try:
        (os.killpg if group else os.kill)(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _has_children() -> bool:
    """Cheap: any child left (alive or zombie)? Subreaper orphans count as our children."""
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return False
    return True


def kill_descendants(uid=None) -> None:
    """Kill and reap every descendant of this process, including re-parented orphans."""
    if uid is not None:
        helper = os.fork()
        if helper == 0:  # kill(-1) as the candidate's own uid reaches exactly its processes
            try:
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(helper, 0)
    for _ in range(1000):
        kids = _children(os.getpid())
        if not kids:
            break
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in kids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break


# ------------------------------------------------------------------ the candidate (untrusted)


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
        _prctl(PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")
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


# ------------------------------------------------------------------ the judge (trusted)


class CandidateTimeout(BaseException):
    """The candidate ran out of time. A BaseException so ``except Exception`` in tests
    cannot swallow it (the proxy also records it, so swallowing it would change nothing)."""


class CandidateDied(BaseException):
    """The candidate process ended without replying (exit, crash, kill, rlimit)."""


class CandidateSetupFailed(BaseException):
    """The candidate's own hardening (rlimits, uid, no_new_privs) failed before its program
    ran: the grader's failure, reported as such, never blamed on the sample."""


class CandidateError(Exception):
    """The candidate raised an exception that is not a builtin exception type."""


class Proxy:
    """Stands in for the candidate function inside the tests: arguments go over a pipe,
    the reply comes back through ``decode``, so tests only ever see plain data."""

    def __init__(self, pid, req_w, resp_r, deadline):
        self.pid, self.req_w, self.resp_r, self.deadline = pid, req_w, resp_r, deadline
        self.calls = 0
        self.state = ""  # "", "timeout" or "died: why"
        self.__name__ = "candidate"

    def wait_ready(self):
        setup = self._reply()  # written by our code before the program ran (candidate_main)
        if "setup_error" in setup:
            raise CandidateSetupFailed(str(setup["setup_error"]))
        if setup.get("setup") is not True:
            self.state = "died: malformed set-up message"
            raise CandidateDied(self.state)
        msg = self._reply()
        if "ready" not in msg:
            self.state = "died: " + str(msg.get("load_error") or msg.get("setup_error") or msg)
            raise CandidateDied(self.state)

    def __call__(self, *args, **kwargs):
        if self.state:
            raise CandidateTimeout() if self.state == "timeout" else CandidateDied(self.state)
        self.calls += 1
        try:
            send(self.req_w, {"args": encode(list(args)), "kwargs": encode(dict(kwargs))})
        except (BrokenPipeError, OSError):
            self._ended()
        msg = self._reply()
        if "ok" in msg:
            try:
                return decode(msg["ok"])
            except (CodecError, RecursionError, ValueError, TypeError) as e:
                raise CandidateError(f"reply is not plain data: {e}") from None
        name = str(msg.get("exc", ""))
        cls = getattr(__import__("builtins"), name, None)
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            cls = CandidateError
        raise cls(f"candidate raised {name}: {msg.get('msg', '')}")

    def _reply(self):
        try:
            msg = recv(self.resp_r, self.deadline)
        except TimeoutError:
            self.state = "timeout"
            raise CandidateTimeout() from None
        except (CodecError, ValueError, RecursionError) as e:
            self.state = f"died: malformed reply ({e})"
            raise CandidateDied(self.state) from None
        if msg is None:
            self._ended()
        if type(msg) is not dict:
            self.state = "died: malformed reply"
            raise CandidateDied(self.state)
        return msg

    def _ended(self):
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            status = 0
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
            self.state = "timeout"  # the CPU rlimit fired
            raise CandidateTimeout()
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
        self.state = f"died: candidate exited (status {code}) without a result"
        raise CandidateDied(self.state)


def run_tests(kind, test, entry_point, proxy):
    """Run one sample's tests against the proxy. Returns the judge's report (a dict)."""
    import builtins

    report = {"passed": 0, "total": 0, "outs": [], "detail": ""}
    ns = {"__name__": "__judge__", "__builtins__": builtins}
    try:
        proxy.wait_ready()
        if kind == "cases":
            report["total"] = len(test["args"])
            for args in test["args"]:
                try:
                    value = encode(proxy(*args))
                    if len(json.dumps(value)) > MAX_REPORTED:  # keeps the report block small
                        raise CandidateError(f"return value larger than {MAX_REPORTED} bytes as JSON")
                    report["outs"].append({"v": value})
                except Exception as e:
                    report["outs"].append({"exc": str(e)[:200]})
            return report
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
            return report
        counted = counted_check(test["test"], ns, report)
        if counted is None:
            report["total"] = 1
            exec(compile(test["test"], "<test>", "exec"), ns)
        ns["check"](proxy)
        if counted is None:
            report["passed"] = 1
        elif report["passed"] < report["total"]:
            report["detail"] = report["detail"] or "some asserts failed"
    except CandidateTimeout:
        proxy.state = "timeout"
    except CandidateDied:
        pass
    except CandidateSetupFailed as e:
        report["infra"] = f"candidate set-up failed, refusing to grade: {e}"
    except Exception as e:
        report["detail"] = f"{type(e).__name__}: {str(e)[:200]}"
    return report


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
        _prctl(PR_SET_CHILD_SUBREAPER, 1, "PR_SET_CHILD_SUBREAPER")
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
    _kill_and_reap(pid, group=True)
    if _has_children():  # orphans re-parented to us (we are their subreaper)
        kill_descendants(uid)
    shutil.rmtree(workdir, ignore_errors=True)
    send(result_w, report)
    os._exit(0)


# ------------------------------------------------------------------ the server


def _fresh_uid():
    return 0x40000000 + int.from_bytes(os.urandom(3), "big")


def can_switch_uid() -> bool:
    """True when we may give each candidate its own uid: effective CAP_CHOWN, CAP_SETGID and
    CAP_SETUID (sandboxes usually run without them, even as uid 0)."""
    try:
        with open("/proc/self/status") as fh:
            caps = next((int(line.split()[1], 16) for line in fh if line.startswith("CapEff:")), 0)
        return caps & 0xC1 == 0xC1 and _stdlib_world_readable()
    except (OSError, ValueError):
        return False


def _stdlib_world_readable() -> bool:
    """A fresh uid must still be able to import the standard library (an interpreter under
    a private home directory would make every non-preloaded import fail)."""
    path = os.path.dirname(os.__file__)
    if not os.stat(path).st_mode & 0o004:
        return False
    while path not in ("/", ""):
        if not os.stat(path).st_mode & 0o001:
            return False
        path = os.path.dirname(path)
    return True


SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")


def _scratch_snapshot():
    snap = {}
    for d in SCRATCH:
        try:
            snap[d] = set(os.listdir(d))
        except OSError:
            continue
    return snap


def _scratch_restore(snap) -> None:
    """Remove what a sample left in the shared scratch dirs, so a sample that fills /tmp
    cannot starve the samples after it (or the next upload) of space. Every process of the
    sample is dead by now, so nothing moves under us; symlinks are never followed (a link
    to /etc must not have /etc chmod-ed)."""
    for d, before in snap.items():
        try:
            new = set(os.listdir(d)) - before
        except OSError:
            continue
        for name in new:
            path = os.path.join(d, name)
            if os.path.isdir(path) and not os.path.islink(path):
                _open_up(path)  # a candidate may have chmod-ed its dirs shut
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def _open_up(top) -> None:
    """chmod 0700 ``top`` and every directory under it, never through a symlink."""
    try:
        os.chmod(top, 0o700)
    except OSError:
        return
    for root, dirs, _ in os.walk(top):  # os.walk does not descend into symlinked dirs
        for sub in dirs:
            sub_path = os.path.join(root, sub)
            try:
                if not os.path.islink(sub_path):
                    os.chmod(sub_path, 0o700)
            except OSError:
                pass


def run_job(job, test_fd, limits):
    """Fork a judge for one sample; return its report, or a failure the host can score."""
    snap = _scratch_snapshot()
    try:
        return _run_judge(job, test_fd, limits)
    finally:
        _scratch_restore(snap)


def _run_judge(job, test_fd, limits):
    uid = _fresh_uid() if limits.get("switch_uid") else None
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
    _kill_and_reap(pid)
    if _has_children():  # only when the judge died before cleaning up after its candidate
        kill_descendants(uid)
    return report


def harden_server() -> None:
    """The server's own defences; raises (naming the one that failed) rather than grade without."""
    _prctl(PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE")  # /proc/<us>/fd and /mem closed to same-uid candidates
    _prctl(PR_SET_CHILD_SUBREAPER, 1, "PR_SET_CHILD_SUBREAPER")
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
    limits["switch_uid"] = can_switch_uid()
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
