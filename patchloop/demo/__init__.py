"""``patchloop demo`` and the learning benchmark's helpers: the real loop end to end.

``tiny``: the offline demo on the tiny model (``make demo QUICK=1``); ``real``: the same loop on
a fetched code model, with ``report`` its HTML page; ``learning_bench``: the plan and figures of
``bench/learning_real.py``. It sits on top of every package and nothing imports it but the
command line: the training curves themselves are drawn by ``evals.training_report``.
"""
