"""bench/agent_resolve.py picks the instances the user names, in the user's order."""

from __future__ import annotations

import argparse

import pytest

from bench import agent_resolve
from patchloop.evals.datasets import BUILTIN, load_tasks


def _args(instances: str) -> argparse.Namespace:
    return argparse.Namespace(dataset=str(BUILTIN), instances=instances)


def test_instances_run_in_the_order_given_and_unknown_ones_are_refused():
    ids = [t.instance_id for t in load_tasks(BUILTIN)]
    assert [t.instance_id for t in agent_resolve.selected(_args(""))] == ids
    wanted = [ids[-1], ids[0], ids[-1]]
    assert [t.instance_id for t in agent_resolve.selected(_args(",".join(wanted)))] == [ids[-1], ids[0]]
    with pytest.raises(SystemExit, match="not in .*: no-such-instance"):
        agent_resolve.selected(_args(f"{ids[0]},no-such-instance"))
