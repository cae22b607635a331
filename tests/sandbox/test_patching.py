"""apply_patch / diff on both backends, and the path checks that keep a patch inside the
workspace (the class of git's CVE-2023-23946 and CVE-2023-25652)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patchloop.sandbox.patching import apply_patch, patch_paths, refusal
from tests.sandbox.backends import BACKENDS, assert_closed_clean, make_git_repo, open_box

GOOD = """\
diff --git a/mod.py b/mod.py
--- a/mod.py
+++ b/mod.py
@@ -1,3 +1,3 @@
 def f():
-    return 1
+    return 2
 # end
"""


def _patch(path: str, body: str = "+pwned\n", old: str = "/dev/null") -> str:
    return f"--- {old}\n+++ {path}\n@@ -0,0 +1 @@\n{body}"


def _symlink_patch(name: str, target: str) -> str:
    return (f"diff --git a/{name} b/{name}\nnew file mode 120000\nindex 0000000..1111111\n--- /dev/null\n"
            f"+++ b/{name}\n@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n")


@pytest.mark.parametrize(("diff", "why"), [
    (_patch("b/../outside.txt"), "climbs out"),
    (_patch("b/sub/../../outside.txt"), "climbs out"),
    (_patch("/etc/passwd"), "absolute"),
    (_patch("b/x", old="/etc/shadow"), "absolute"),
    ('--- /dev/null\n+++ "b/\\056\\056/evil"\n@@ -0,0 +1 @@\n+x\n', "climbs out"),  # C-quoted ".."
    ("diff --git a/x b/x\nrename from x\nrename to ../x\n", "climbs out"),
    (_patch("b/.git/hooks/pre-commit"), "inside .git"),
    (_symlink_patch("link", "/etc"), "points outside"),
    (_symlink_patch("sub/link", "../../.."), "points outside"),
    (_symlink_patch("link", ".."), "points outside"),
    ("just some text\n", "no file paths"),
])
def test_hostile_patch_text_is_refused(diff, why):
    reason, _ = refusal(diff)
    assert reason is not None and why in reason


def test_header_hidden_inside_a_miscounted_hunk_is_still_checked():
    sneaky = GOOD.replace(" # end\n", "--- a/mod.py\n+++ b/../../escape.py\n@@ -0,0 +1 @@\n+x\n")
    assert "climbs out" in refusal(sneaky)[0]


def test_paths_of_a_plain_git_diff():
    _, stripped, links = patch_paths(GOOD + _symlink_patch("docs/link", "../mod.py"))
    assert stripped == ["mod.py", "docs/link"] and links == [("docs/link", "../mod.py")]
    assert refusal(GOOD)[0] is None


segment = st.text(alphabet="abcxyz._-", min_size=1, max_size=6).filter(lambda s: s not in (".", "..", ".git"))


@given(st.lists(segment, min_size=1, max_size=4), st.integers(0, 4))
def test_dotdot_anywhere_is_refused_and_clean_paths_pass(parts, at):
    clean = "/".join(parts)
    assert refusal(_patch("b/" + clean))[0] is None
    bad = parts[:at] + [".."] + parts[at:]
    assert "climbs out" in refusal(_patch("b/" + "/".join(bad)))[0]


# ---------------------------------------------------------------- on a real workspace


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_git_repo(tmp_path_factory.mktemp("patch") / "repo", {"mod.py": "def f():\n    return 1\n# end\n", "gone.txt": "to be deleted\n"})


@pytest.fixture(scope="module", params=BACKENDS)
def box(request, repo):
    sb = open_box(request, request.param, repo=str(repo), task_id=f"patch-{request.param}")
    yield sb
    sb.close()
    assert_closed_clean(request, sb)


@pytest.fixture
def clean(box):
    box.reset()
    return box


def test_good_patch_applies_with_git_apply_and_shows_in_diff(clean):
    res = clean.apply_patch(GOOD)
    assert res.ok and "applied with git apply" in res.stdout
    assert clean.read_file("mod.py") == "def f():\n    return 2\n# end\n"
    assert "+    return 2" in clean.diff()


def test_same_size_edit_in_the_second_of_the_reset_shows_in_diff(clean):
    """git trusts an index entry whose stat matches the file, unless the index file is no
    older than the entry ("racily clean"). A same-size edit in the second of a reset is
    caught only that way, so the diff's copy of the index must keep the index's mtime: a
    fresh mtime on the copy hid such edits (a flaky CI failure). ``checkStat=minimal`` (mtime
    to the second and size only) lets the test build that state without racing the clock."""
    stamp = "202001010000.00"
    prep = clean.run(f"git config core.checkStat minimal && git config core.trustctime false && "
                     f"touch -t {stamp} mod.py && git update-index -q --refresh; "
                     f"sed -i 's/return 1/return 3/' mod.py && touch -t {stamp} mod.py .git/index", timeout=30)
    assert prep.ok, prep.output
    assert "+    return 3" in clean.diff()


DRIFTED = "import os\nimport re\n\ndef f():\n    return 1\n# end\nx = 1\ny = 3\n"
AGAINST_ORIGINAL = """\
--- a/mod.py
+++ b/mod.py
@@ -2,7 +2,7 @@
 import sys

 def f():
-    return 1
+    return 2
 # end
 x = 1
 y = 2
""".replace("\n\n", "\n \n")


@pytest.mark.parametrize(("fuzzy", "how"), [("patch", "patch --fuzz=3"), ("git", "git apply -C1 --recount")])
def test_drifted_patch_applies_with_the_fuzzy_fallback(clean, fuzzy, how):
    """Outer context lines changed since the patch was made: plain git apply refuses it."""
    clean.write_file("mod.py", DRIFTED)
    res = apply_patch(clean, AGAINST_ORIGINAL, fuzzy=fuzzy)
    assert res.ok, res.output
    assert f"applied with {how}" in res.stdout and "git apply failed" in res.stdout
    assert "return 2" in clean.read_file("mod.py")
    assert clean.run("git status --porcelain --untracked-files=all", timeout=30).stdout.split() == ["M", "mod.py"]


def test_patch_that_does_not_apply_is_an_observation_and_leaves_no_reject_files(clean):
    bad = GOOD.replace("-    return 1", "-    return 42").replace(" # end", " # nothing like it")
    res = clean.apply_patch(bad)
    assert res.exit_code == 1 and "patch does not apply" in res.stderr
    assert clean.run("git status --porcelain --untracked-files=all", timeout=30).stdout == ""


@pytest.mark.parametrize("diff", [_patch("b/../outside.txt"), _patch("/tmp/abs.txt")])
def test_escaping_patch_is_refused_before_any_tool_runs(clean, diff):
    res = clean.apply_patch(diff)
    assert res.exit_code == 1 and res.stderr.startswith("patch refused:")
    assert clean.run("ls ../outside.txt /tmp/abs.txt", timeout=30).exit_code != 0


def test_patch_through_a_symlink_pointing_outside_is_refused(clean, tmp_path):
    outside = tmp_path if clean.backend == "local" else "/tmp"
    assert clean.run(f"ln -s {outside} escape", timeout=30).ok
    res = clean.apply_patch(_patch("b/escape/pwned.txt"))
    assert res.exit_code == 1 and "outside the workspace (symlink)" in res.stderr
    assert clean.run(f"test -e {outside}/pwned.txt", timeout=30).exit_code == 1
    assert not (tmp_path / "pwned.txt").exists()


def test_patch_creating_a_symlink_outside_is_refused_but_inside_is_fine(clean):
    assert "points outside" in clean.apply_patch(_symlink_patch("link", "/etc/passwd")).stderr
    res = clean.apply_patch(_symlink_patch("link", "mod.py"))
    assert res.ok, res.output
    assert clean.run("readlink link", timeout=30).stdout == "mod.py\n"


def test_diff_has_new_deleted_and_binary_files_and_round_trips(clean):
    clean.write_file("new/data.bin", bytes(range(256)) * 4)
    clean.write_file("new/notes.md", "ünïcode ✓\n")
    assert clean.run("rm gone.txt && git add -N new/notes.md", timeout=30).ok
    index_before = clean.run("git diff --cached --stat", timeout=30).stdout
    diff = clean.diff()
    assert "deleted file mode" in diff and "gone.txt" in diff
    assert "new/notes.md" in diff and "+ünïcode ✓" in diff
    assert "GIT binary patch" in diff
    assert clean.run("git diff --cached --stat", timeout=30).stdout == index_before  # index untouched
    clean.reset()
    assert clean.diff() == ""
    res = clean.apply_patch(diff)
    assert res.ok, res.output
    assert clean.read_bytes("new/data.bin") == bytes(range(256)) * 4
    assert clean.diff() == diff


def test_diff_leaves_out_untracked_build_litter_but_not_tracked_files(clean):
    clean.write_file("pkg/__pycache__/mod.cpython-311.pyc", b"\x00litter")
    clean.write_file(".pytest_cache/v/cache/lastfailed", "{}")
    clean.write_file("stray.pyc", b"\x00")
    clean.write_file("new/real.py", "x = 1\n")
    diff = clean.diff()
    assert "new/real.py" in diff
    assert "__pycache__" not in diff and ".pytest_cache" not in diff and "stray.pyc" not in diff
    # a repository that tracks a .pyc (committed after the base) still sees it in the diff
    assert clean.run("git add -f stray.pyc && git -c user.name=t -c user.email=t@t commit -qm pyc", timeout=30).ok
    assert "stray.pyc" in clean.diff()
    clean.reset()
    assert clean.diff() == ""
