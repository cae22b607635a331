"""patchloop.agent: one LangGraph agent used at the terminal (`fix`), in batch (`batch`) and
as the RL policy's environment.

- ``state.py``: ``AgentConfig`` (limits, knobs) and the checkpointed ``AgentState``
- ``tools.py``: ``SandboxTools``, whose public methods are the tools (also TRL's environment)
- ``repomap.py``: tree-sitter syntax checks and the ranked repository outline
- ``context.py``: prompt templates (``prompts/<version>/``), observation caps, context fitting
- ``graph.py`` + ``runner.py``: guard -> model -> tools -> ... -> finish; run or resume an episode
- ``trajectory.py``: the JSON-lines trajectory format (docs/trajectories.md)
- ``workspace.py``, ``fix.py``, ``batch.py``, ``console.py``: sandboxes, the two commands, terminal output

Modules import LangGraph lazily from the commands, so ``patchloop --help`` stays instant.
"""
