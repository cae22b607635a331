"""Function-level evaluation (HumanEval/MBPP-style): grading and pass@k.

Host side: ``grade`` (the one verdict, :func:`~patchloop.evals.func.grade.grade_function_batch`)
and ``evaluate`` (``eval func``: samples, resumable results, pass@k). In-sandbox side, standard
library only, shipped into the sandbox under flat ``func_*`` names (``grade.SERVER_FILES``):
``server`` (one fork server per chunk), ``judge``, ``proxy``, ``candidate``, ``procs``,
``scratch`` and ``codec``.
"""
