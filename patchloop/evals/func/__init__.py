"""Function-level evaluation (HumanEval/MBPP-style): grading and pass@k.

Host side: ``grade`` (the one verdict, :func:`~patchloop.evals.func.grade.grade_function_batch`),
``evaluate`` (samples, resumable results, pass@k), ``sample`` (a checkpoint's completions) and
``run`` (``eval func`` as one call: sample, then grade). In-sandbox side, standard
library only, shipped into the sandbox under flat ``func_*`` names (``grade.SERVER_FILES``):
``server`` (one fork server per chunk), ``judge``, ``proxy``, ``candidate``, ``procs``,
``scratch`` and ``codec``.
"""
