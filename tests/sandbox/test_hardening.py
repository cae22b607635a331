"""A LocalSandbox whose mount lock-down did not take refuses to start, naming the step.

Each failure is real: the sandbox runs a copy of the runner with one hardening mount broken
(the kernel then refuses it), so what is under test is the runner's and the client's handling
of a mount the kernel did not make, never a mocked call.
"""

from __future__ import annotations

import pytest

from patchloop.sandbox import boot, local
from patchloop.sandbox.base import SandboxError

RUNNER = {source: (boot.RUNNER_DIR / source).read_text(encoding="utf-8") for source in boot.RUNNER_FILES.values()}

pytestmark = pytest.mark.skipif(not local.unshare_prefix(), reason="needs unshare: the lock-down runs only in namespaces")


def _start_with(tmp_path, monkeypatch, old: str, new: str):
    holders = [name for name, text in RUNNER.items() if old in text]
    assert len(holders) == 1, f"{len(holders)} runner files contain {old!r}: update this test"
    for name, text in RUNNER.items():  # only what the backend ships: a missing module fails here
        (tmp_path / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    monkeypatch.setattr(local, "runner_bundle", lambda: boot.runner_bundle(tmp_path))
    return local.LocalSandbox(task_id="hardening")


@pytest.mark.parametrize(("name", "old", "new", "says"), [
    ("dev_shm_tmpfs", '_mount("tmpfs", "/dev/shm", "tmpfs"', '_mount("tmpfs", "/dev/shm", "no-such-fs"', "mount /dev/shm"),
    ("minimal_dev", '"size=1m,mode=755"', '"size=1m,mode=755,no_such_option"', "minimal /dev"),
    ("read_only_remounts", "_mount(None, target, None, flags, None)",
     '_mount(None, target.rstrip("/") + "/no-such-mount", None, flags, None)', "could not make read-only"),
    ("proc_knobs", '_mount(None, knob, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)',
     '_mount(None, knob + "-no-such-knob", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)', "mount /proc/sys"),
])
def test_a_hardening_mount_that_fails_stops_the_sandbox(tmp_path, monkeypatch, name, old, new, says):
    with pytest.raises(SandboxError, match="runner refused to start: mount lock-down failed") as err:
        _start_with(tmp_path, monkeypatch, old, new)
    assert says in str(err.value)


def test_the_unbroken_copy_starts_locked_down(tmp_path, monkeypatch):
    with _start_with(tmp_path, monkeypatch, "MS_RDONLY, MS_NOSUID", "MS_RDONLY, MS_NOSUID") as sb:
        assert sb.ready_info["readonly_root"] and sb.ready_info["minimal_dev"] and sb.ready_info["tmpfs"]
        assert "Read-only file system" in sb.run("touch /etc/patchloop-probe", timeout=10).stderr
