"""Teacher-driven task synthesis: Self-Instruct, Evol-Instruct, OSS-Instruct, SelfCodeAlign.

Every stage is one command, writes item by item, resumes, and refuses a rerun with another
fingerprint into the same output (see ``stage``). Every kept task passed ``evals``' function
grader in a sandbox.
"""

from __future__ import annotations


def open_teacher(model: str, *, base_url: str | None, temperature: float, top_p: float, max_tokens: int):
    """A ``ChatTeacher`` over a model spec (``openai:NAME`` + base URL, or ``hf:DIR``)."""
    from patchloop.datagen.instruct.teacher import ChatTeacher

    return ChatTeacher(model, base_url=base_url, temperature=temperature, top_p=top_p, max_tokens=max_tokens)


def open_grader(backend: str, timeout_s: float):
    """The evaluation grader with one sandbox kept open across calls (close it when done)."""
    from patchloop.evals.func.grade import FunctionGrader

    return FunctionGrader(backend, timeout_s=timeout_s)
