"""Temporary minimal local sandbox for agent tests until patchloop.sandbox lands."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from patchloop.types import ExecResult


class TmpSandbox:
    def __init__(self, repo: str | Path):
        self._root = tempfile.mkdtemp(prefix="pl-agent-")
        self.workdir = os.path.join(self._root, "repo")
        shutil.copytree(repo, self.workdir, symlinks=True)
        if not os.path.isdir(os.path.join(self.workdir, ".git")):
            self.run("git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm base", timeout=30)

    def run(self, cmd, *, timeout=None, env=None):
        t0 = time.monotonic()
        p = subprocess.Popen(["bash", "-c", cmd], cwd=self.workdir, env={**os.environ, "PATH": os.path.dirname(sys.executable) + ":" + os.environ["PATH"], **(env or {})},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout or 60)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            timed_out = True
        return ExecResult(cmd=cmd, exit_code=p.returncode, stdout=out, stderr=err,
                          duration_s=time.monotonic() - t0, timed_out=timed_out)

    def write_file(self, path, data):
        p = Path(self.workdir, path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)

    def read_file(self, path):
        return Path(self.workdir, path).read_text()

    def apply_patch(self, diff):
        Path(self._root, "p.diff").write_text(diff)
        return self.run(f"git apply {self._root}/p.diff")

    def diff(self):
        return self.run("git add -A -N . && git diff --no-color HEAD").stdout

    def reset(self):
        self.run("git reset -q --hard && git clean -qfdx")

    def close(self):
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
