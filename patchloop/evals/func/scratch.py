"""Scratch-space cleanup between samples of one grader server run (``func_server``).

Every sample shares the sandbox's /tmp, /var/tmp and /dev/shm; what one leaves there is
removed before the next starts, so a sample that fills them cannot starve the samples after
it (or the next upload) of space. Standard library only: copied into sandboxes with the
server, and imported by it before any candidate runs.
"""

from __future__ import annotations

import os
import shutil

SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")


def scratch_snapshot():
    """The names in each scratch dir now, for ``scratch_restore`` to keep."""
    snap = {}
    for d in SCRATCH:
        try:
            snap[d] = set(os.listdir(d))
        except OSError:
            continue
    return snap


def scratch_restore(snap) -> None:
    """Remove what a sample left in the shared scratch dirs. Every process of the sample is
    dead by now, so nothing moves under us; symlinks are never followed (a link to /etc must
    not have /etc chmod-ed)."""
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
