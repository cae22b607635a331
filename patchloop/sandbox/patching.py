"""Patches in and out of a sandbox workspace, the same for every backend.

``apply_patch`` refuses a diff before any tool sees it when one of its paths is absolute,
climbs out with ``..``, enters ``.git``, resolves (inside the sandbox, where the links
live) to somewhere outside the workspace through a symlink, or creates a symlink that
points outside. That is the class of git's CVE-2023-23946 and CVE-2023-25652. Then
``git apply`` applies it; if that fails, a fuzzier apply is tried: GNU ``patch --fuzz=3``
after a clean ``--dry-run`` when the image has ``patch`` (so a partial apply never
happens), else ``git apply -C1 --recount``. Never ``--reject``: it would leave ``.rej``
files in the workspace. A refused or failed patch is an ``ExecResult`` with a non-zero
exit and a message for the model, not an exception.

Path parsing is deliberately conservative: every ``---``/``+++``, ``diff --git``,
``rename``/``copy`` line is checked wherever it appears, so a hunk with wrong line counts
cannot smuggle a header past the check; the cost is a rare false refusal.
"""

from __future__ import annotations

import posixpath
import re
import shlex
import time
from typing import Protocol

from patchloop.sandbox.base import SandboxError
from patchloop.types import ExecResult


class Workspace(Protocol):
    """What patch handling needs of a sandbox (``client.RunnerSandbox`` has it): declared here,
    so that this module, which the client imports, does not import the client back."""

    workdir: str
    base_commit: str
    task_id: str

    def run(self, cmd: str, *, timeout: float, env: dict | None = None) -> ExecResult: ...
    def write_file(self, path: str, data: str | bytes) -> None: ...
    def read_file(self, path: str) -> str: ...
    def realpaths(self, paths: list[str]) -> list[str]: ...

GIT_ENV = {
    "GIT_AUTHOR_NAME": "patchloop", "GIT_AUTHOR_EMAIL": "patchloop@localhost",
    "GIT_COMMITTER_NAME": "patchloop", "GIT_COMMITTER_EMAIL": "patchloop@localhost",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
    # the workspace may be owned by another uid than the one running git (copied trees)
    # git run by patchloop (diff, reset, apply) must not run code planted in the repo's own
    # config (fsmonitor, hooks) or see history rewritten by replace refs
    "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_NO_REPLACE_OBJECTS": "1",
    "GIT_CONFIG_COUNT": "4", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*",
    "GIT_CONFIG_KEY_1": "commit.gpgsign", "GIT_CONFIG_VALUE_1": "false",
    "GIT_CONFIG_KEY_2": "core.fsmonitor", "GIT_CONFIG_VALUE_2": "false",
    "GIT_CONFIG_KEY_3": "core.hooksPath", "GIT_CONFIG_VALUE_3": "/dev/null",
}
PATCH_FILE = ".git/patchloop.patch"
SYMLINK_MODE = re.compile(r"^(new file mode|new mode|index [0-9a-f]+\.\.[0-9a-f]+) 120000\s*$")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", '"': '"', "\\": "\\"}


def _unquote(text: str) -> str:
    """A path as git writes it: C-quoted (octal bytes, escapes) when it has odd characters."""
    text = text.strip()
    if not (len(text) >= 2 and text[0] == text[-1] == '"'):
        return text
    out, body, i = bytearray(), text[1:-1], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567" and i + 3 < len(body) + 1:
                out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
                i += 4
                continue
            out += _ESCAPES.get(nxt, nxt).encode()
            i += 2
            continue
        out += ch.encode()
        i += 1
    return out.decode("utf-8", "replace")


def _strip(path: str) -> str:
    """``a/x`` -> ``x``: the component ``-p1`` removes (git apply and ``patch -p1``)."""
    return path.split("/", 1)[1] if "/" in path else path


def patch_paths(diff: str) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(raw paths as written, paths after ``-p1``, created symlinks as (path, target))."""
    raw: list[str] = []
    links: list[tuple[str, str]] = []
    current, pending_link, in_hunk = "", False, False
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            rest = line[len("diff --git "):]
            pair = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', rest) if '"' in rest else rest.split(" b/", 1)
            if '"' not in rest and len(pair) == 2:
                pair = [pair[0], "b/" + pair[1]]
            raw += [_unquote(p) for p in pair]
            current, pending_link, in_hunk = (_strip(_unquote(pair[-1])) if pair else ""), False, False
        elif line.startswith(("--- ", "+++ ")):
            path = _unquote(line[4:].split("\t", 1)[0])
            if path != "/dev/null":
                raw.append(path)
                if line.startswith("+++ "):
                    current = _strip(path)
        elif m := re.match(r"^(rename|copy) (from|to) (.+)$", line):
            raw.append("b/" + _unquote(m.group(3)))  # these lines carry no a/ b/ prefix
        elif SYMLINK_MODE.match(line):
            pending_link = True
        elif line.startswith("@@"):
            in_hunk = True
        elif pending_link and in_hunk and line.startswith("+"):
            links.append((current, line[1:]))
            pending_link = False
    raw = list(dict.fromkeys(raw))
    return raw, list(dict.fromkeys(_strip(p) for p in raw)), links


def refusal(diff: str) -> tuple[str | None, list[str]]:
    """Why the diff is refused by its text alone (None if fine), and the paths to resolve."""
    raw, stripped, links = patch_paths(diff)
    if not raw:
        return "no file paths found in the patch (expected a unified diff with ---/+++ headers)", []
    for path in raw:
        if path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", path):
            return f"absolute path {path!r}", []
        if ".." in re.split(r"[\\/]", path):
            return f"path {path!r} climbs out with '..'", []
    for path in stripped:
        if ".git" in path.split("/"):
            return f"path {path!r} is inside .git", []
    check = list(stripped)
    for path, target in links:
        if target.startswith("/"):
            return f"symlink {path!r} -> {target!r} points outside the workspace", []
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        if joined == ".." or joined.startswith("../"):
            return f"symlink {path!r} -> {target!r} points outside the workspace", []
        check.append(joined)
    return None, check


def _refused(cmd: str, why: str, start: float) -> ExecResult:
    return ExecResult(cmd=cmd, exit_code=1, stderr=f"patch refused: {why}\n", duration_s=time.monotonic() - start)


def apply_patch(box: Workspace, diff: str, fuzzy: str = "auto") -> ExecResult:
    """Check, then apply ``diff`` in ``box``'s workspace (see module doc).

    ``fuzzy`` picks the fallback: ``auto`` (GNU patch if the sandbox has it, else git),
    ``patch`` or ``git`` (``git apply -C1 --recount``).
    """
    start, cmd = time.monotonic(), "apply_patch"
    why, paths = refusal(diff)
    if why:
        return _refused(cmd, why, start)
    root, *resolved = box.realpaths([box.workdir] + [f"{box.workdir}/{p}" for p in paths])
    for path, real in zip(paths, resolved):
        if real != root and not real.startswith(root + "/"):
            return _refused(cmd, f"path {path!r} resolves to {real!r}, outside the workspace (symlink)", start)
    box.write_file(PATCH_FILE, diff if diff.endswith("\n") else diff + "\n")
    p = shlex.quote(PATCH_FILE)
    script = f"""
out=$(git apply --whitespace=nowarn {p} 2>&1) && {{ echo "applied with git apply"; rm -f {p}; exit 0; }}
if [ {shlex.quote(fuzzy)} = patch ] || {{ [ {shlex.quote(fuzzy)} = auto ] && command -v patch >/dev/null 2>&1; }}; then
  how="patch --fuzz=3"
  fuzzy=$(patch -p1 -u --batch --fuzz=3 -N --no-backup-if-mismatch --dry-run < {p} 2>&1) &&
  fuzzy=$(patch -p1 -u --batch --fuzz=3 -N --no-backup-if-mismatch < {p} 2>&1)
else
  how="git apply -C1 --recount"
  fuzzy=$(git apply --whitespace=nowarn -C1 --recount {p} 2>&1)
fi
rc=$?
rm -f {p}
if [ $rc -eq 0 ]; then printf 'applied with %s (git apply failed: %s)\\n%s\\n' "$how" "$out" "$fuzzy"; exit 0; fi
printf 'patch does not apply.\\ngit apply: %s\\n%s: %s\\n' "$out" "$how" "$fuzzy" >&2
exit 1
"""
    res = box.run(script, timeout=120, env=GIT_ENV)
    return ExecResult(cmd=cmd, exit_code=res.exit_code, stdout=res.stdout, stderr=res.stderr,
                      duration_s=time.monotonic() - start, timed_out=res.timed_out,
                      oom_killed=res.oom_killed, truncated=res.truncated)


# Untracked files that running code leaves behind and no fix consists of. As ignore rules
# they apply to untracked files only: a repository that tracks a .pyc still sees it change.
LITTER_PATTERNS = ("__pycache__/", "*.py[co]", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/", ".hypothesis/")


def workspace_diff(box: Workspace) -> str:
    """Everything changed since the base commit, as a patch ``git apply`` takes back.

    ``git add -A`` goes into a throw-away index, so the workspace's own index (which the
    code under test may use) is left as it was. New, deleted and binary files included;
    untracked build litter (bytecode, tool caches: ``LITTER_PATTERNS``) left out. The copy
    keeps the index's mtime (``cp -p``): git tells a racily clean entry (a same-size edit in
    the second the index was written) from a clean one by comparing it with that mtime.
    """
    litter = shlex.quote("\n".join(LITTER_PATTERNS) + "\n")
    script = f"""
export GIT_INDEX_FILE=.git/patchloop.index
rm -f "$GIT_INDEX_FILE"; cp -p .git/index "$GIT_INDEX_FILE" 2>/dev/null
printf %s {litter} > .git/patchloop.exclude
own=$(git config core.excludesFile) && [ -f "$own" ] && cat "$own" >> .git/patchloop.exclude
git -c core.excludesFile=.git/patchloop.exclude add -A && \\
  git diff --cached --binary --no-color --no-ext-diff --no-textconv --no-renames \\
  {shlex.quote(box.base_commit)} > .git/patchloop.diff
rc=$?; rm -f "$GIT_INDEX_FILE" .git/patchloop.exclude; exit $rc
"""
    res = box.run(script, timeout=300, env=GIT_ENV)
    if not res.ok:
        raise SandboxError(box.task_id, f"diff failed: {res.output}")
    out = box.read_file(".git/patchloop.diff")
    box.run("rm -f .git/patchloop.diff", timeout=30)
    return out


# Everything in .git but the object store (whose contents are addressed by hash and so cannot
# lie), plus objects/info (alternates can point at foreign object stores). The tar is kept on
# the host and put back by the runner's ``restore_git`` at every reset.
GIT_STATE_FILE = "patchloop-git-state.tar"


def git_state_snapshot(tmpdir: str) -> str:
    """Shell that writes the tar of git's own files to ``tmpdir/GIT_STATE_FILE``."""
    out = shlex.quote(f"{tmpdir}/{GIT_STATE_FILE}")
    return f"mkdir -p .git/objects/info && tar -C .git -cf {out} --exclude=./objects . ./objects/info"


def reset_script(base_commit: str, tmpdir: str) -> str:
    """Shell that returns the workspace to ``base_commit`` and empties the sandbox's /tmp
    (``-xdev``: not into read-only directories the local backend keeps mounted there)."""
    return (f"rm -f .git/index.lock .git/patchloop.*; git reset -q --hard {shlex.quote(base_commit)} && "
            f"git clean -ffdxq && {{ find {shlex.quote(tmpdir)} -mindepth 1 -xdev -delete 2>/dev/null; true; }}")
