"""Repository-level tasks from real code by bug injection (SWE-smith's procedural recipe).

``source``: a PyPI sdist or a local directory becomes a git repository at a base commit, with
its licence, requirements and test command. ``suite``: its tests run once in a sandbox to
record which pass and which lines they cover. ``mutations`` + ``candidates``: libcst
mutations of covered functions, each candidate a diff named by its hash. ``validate``: the
harness runs each candidate and keeps those with FAIL_TO_PASS and PASS_TO_PASS tests.
``teacher_bugs``: functions a teacher model rewrites with a bug. ``combine``: pairs of kept bugs in
one file, validated again as harder tasks.
``issues``: problem statements (template or teacher). ``pipeline``: the resumable whole.
"""
