"""The judge's stand-in for the candidate function (``func_server``'s judge side, trusted).

Tests call a ``Proxy``: arguments go over a pipe to the candidate process, and the reply comes
back through the strict codec's ``decode``, so the asserts compare plain data that the *judge*
built; an object whose ``__eq__`` always says True cannot cross the pipe. How the candidate
ended (a timeout, a death, a set-up that did not take) is raised as one of the exceptions
below. Standard library only: copied into sandboxes with the server, and imported by it before
any candidate runs.
"""

from __future__ import annotations

import os
import signal

if __package__:  # imported from the package (host side, tests)
    from patchloop.evals.func.codec import CodecError, decode, encode, recv, send
else:  # a file in the sandbox, imported while func_server.py has this directory on sys.path
    from func_codec import CodecError, decode, encode, recv, send


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
