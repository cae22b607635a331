"""`patchloop fix` logic with a scripted model: the user's tree changes only on apply,
and a stopped run continues with --resume."""

from __future__ import annotations

import io
import subprocess

import pytest
from rich.console import Console

from patchloop.agent.fix import run_fix
from tests.agent.agent_scripted import ScriptedChatModel
from tests.agent.conftest import agent_config
from tests.agent.test_agent_graph import FIX_SCRIPT, _task


@pytest.fixture
def user_repo(tmp_path, monkeypatch):
    from patchloop.evals.repos import checkout_task_repo

    monkeypatch.setenv("PATCHLOOP_CACHE", str(tmp_path / "cache"))
    return checkout_task_repo(_task(), tmp_path / "mine")


def _fix(repo, model, **kw):
    out = io.StringIO()
    code = run_fix(repo=str(repo) if repo else None, issue=_task().problem_statement, model_spec="scripted", base_url=None,
                   cfg=agent_config(approve="auto"), backend="local", console=Console(file=out, width=150),
                   model=model, **kw)
    return code, out.getvalue()


def test_fix_with_apply_changes_the_users_tree(user_repo):
    code, text = _fix(user_repo, ScriptedChatModel(replies=FIX_SCRIPT), apply=True, resume=None)
    assert code == 0
    assert "<= width" in (user_repo / "textkit" / "trunc.py").read_text()
    assert "→ edit" in text and "tests: tests (tests/test_trunc.py):" in text and "passed" in text
    assert "+    if len(text) <= width:" in text and "applied to" in text


def test_a_stopped_fix_resumes_by_thread_id(user_repo):
    def crash(turn):
        if turn == 4:
            raise KeyboardInterrupt  # the user pressed Ctrl-C while the model was thinking

    code, text = _fix(user_repo, ScriptedChatModel(replies=FIX_SCRIPT, on_call=crash), apply=False, resume=None)
    assert "<= width" not in (user_repo / "textkit" / "trunc.py").read_text()  # nothing applied

    threads = list((user_repo.parent / "cache" / "fix" / "threads").glob("fix-*.json"))
    assert len(threads) == 1
    assert code == 130 and f"Continue where it stopped with: patchloop fix --resume {threads[0].stem}" in text
    assert "Traceback" not in text
    turns = []
    code, text = _fix(None, ScriptedChatModel(replies=FIX_SCRIPT, on_call=turns.append), apply=True,
                      resume=threads[0].stem)
    assert code == 0 and turns == [4, 5]
    assert f"resumed {threads[0].stem} after step 4; the workspace was restored from the checkpoint" in text
    assert "<= width" in (user_repo / "textkit" / "trunc.py").read_text()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=user_repo, capture_output=True, text=True, check=False).stdout
    assert status.strip() == "M textkit/trunc.py"


def test_fix_refuses_a_missing_repo(tmp_path):
    code, text = _fix(tmp_path / "nope", ScriptedChatModel(replies=FIX_SCRIPT), apply=False, resume=None)
    assert code == 2 and f"--repo {tmp_path / 'nope'}: no such directory" in text


def test_fix_applies_on_top_of_uncommitted_work(user_repo):
    notes = user_repo / "NOTES.md"
    notes.write_text("my work in progress\n")  # untracked
    slug = user_repo / "textkit" / "slug.py"
    slug.write_text(slug.read_text() + "\n# my uncommitted tweak\n")  # modified
    code, text = _fix(user_repo, ScriptedChatModel(replies=FIX_SCRIPT), apply=True, resume=None)
    assert code == 0, text
    assert "<= width" in (user_repo / "textkit" / "trunc.py").read_text()
    assert slug.read_text().endswith("# my uncommitted tweak\n") and notes.read_text() == "my work in progress\n"
    assert "NOTES.md" not in text and "slug.py" not in text  # the diff shown holds only the agent's change


def test_ask_mode_asks_at_the_terminal_and_never_applies_unasked(user_repo, monkeypatch):
    # answers: approve the edit, decline the test run with a note, then decline applying
    monkeypatch.setattr("sys.stdin", io.StringIO("y\nrun only test_trunc please\nn\n"))
    out = io.StringIO()
    code = run_fix(repo=str(user_repo), issue=_task().problem_statement, model_spec="scripted", base_url=None,
                   cfg=agent_config(approve="ask"), backend="local", console=Console(file=out, width=150),
                   model=ScriptedChatModel(replies=FIX_SCRIPT), apply=False, resume=None)
    text = out.getvalue()
    assert code == 0
    assert text.count("approve ") == 2 and "approve edit?" in text and "approve run_tests?" in text
    assert "The user declined" in text and "run only test_trunc please" in text
    assert "not applied; your working tree is unchanged" in text
    assert "<= width" not in (user_repo / "textkit" / "trunc.py").read_text()


def test_a_terminal_sees_a_spinner_from_the_start_until_the_first_model_reply(user_repo, monkeypatch):
    """No silent stretch before the first event: the sandbox opening and the first model call
    each show a spinner, and it is already up when the model is asked."""
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))  # do not apply
    out = io.StringIO()
    seen_at_first_call = []
    model = ScriptedChatModel(replies=FIX_SCRIPT, on_call=lambda turn: seen_at_first_call.append(out.getvalue()))
    code = run_fix(repo=str(user_repo), issue=_task().problem_statement, model_spec="scripted", base_url=None,
                   cfg=agent_config(approve="auto"), backend="local", apply=False, resume=None, model=model,
                   console=Console(file=out, width=150, force_terminal=True))
    assert code == 0
    assert "opening a sandbox" in seen_at_first_call[0]
    assert "reading the repository, then the model is thinking" in seen_at_first_call[0]
