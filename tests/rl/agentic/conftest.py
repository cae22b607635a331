"""Fixtures for agentic RL tests: the offline tiny model (built once per session)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    from patchloop.llm.catalog.tiny import init_tiny

    return init_tiny(tmp_path_factory.mktemp("agentic-tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def acting_dir(tiny_dir, docker_client, tmp_path_factory):
    """The tiny model fitted to fix textkit-1 in Docker about half the time (see ``fitted``)."""
    from tests.agent.conftest import load_instance
    from tests.rl.agentic.fitted import first_prompt_ids, fit

    prompt = first_prompt_ids(tiny_dir, load_instance("textkit-1"))
    return fit(tiny_dir, prompt, tmp_path_factory.mktemp("acting") / "model")


@pytest.fixture(scope="session")
def submitting_dir(tiny_dir, docker_client, tmp_path_factory):
    """The tiny model fitted to fix textkit-1 (then submit) or submit at once, in tool-calling
    mode and Docker sandboxes (see ``fitted_tools``)."""
    from patchloop.agent.workspace import open_workspace
    from tests.agent.conftest import agent_config, load_instance
    from tests.rl.agentic.fitted_tools import AGENT, fit_tools

    task = load_instance("textkit-1")
    with open_workspace(task, "docker") as (sandbox, python):
        return fit_tools(tiny_dir, tmp_path_factory.mktemp("submitting") / "model", task,
                         [(sandbox, agent_config(**AGENT, python=python))])
