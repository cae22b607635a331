"""The command runner that runs inside every sandbox, standard library only.

Booted into the sandbox by :mod:`patchloop.sandbox.boot`, where its modules run under their
``RUNNER_FILES`` names: ``output`` (output capping, also used on the host), ``procs`` (libc
calls, sweeping and reaping), ``mounts`` (the local backend's mount lock-down) and ``server``
(the request loop).
"""
