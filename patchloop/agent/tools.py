"""The agent's tools, defined once: the public methods of ``SandboxTools``.

LangGraph binds them to the model (``langchain_tools``) and TRL's multi-turn
``environment_factory`` can expose the very same methods to a policy in training (TRL
takes every public method but ``reset``/``get_reward`` as a tool, with its docstring and
type hints as the schema), so the model sees the same tools in use and in training.

A model's mistakes (a missing file, an edit that matches nothing, a failing command) come
back as text; only infrastructure failures (``SandboxError``) raise.
"""

from __future__ import annotations

import difflib
import functools
import posixpath
import re
import shlex

from pydantic import ValidationError

from patchloop.agent import edit_indent, submit_review, test_select
from patchloop.agent import repomap as rm
from patchloop.agent.call_repair import repair_arguments
from patchloop.agent.state import AgentConfig
from patchloop.evals import localize

QUIET_ENV = {"PYTHONDONTWRITEBYTECODE": "1"}  # no bytecode litter in the workspace
READ_ONLY = frozenset({"view", "search", "repo_map", "submit"})
MAP_EXTS = tuple(rm.GRAMMARS)


class ToolError(ValueError):
    """A model mistake in a tool call; its message goes back to the model."""


class SandboxTools:
    """Tools over one ``Sandbox``. Public methods are tools; helpers start with ``_``."""

    def __init__(self, sandbox, config: AgentConfig | None = None, issue: str = ""):
        self._sb = sandbox
        self._cfg = config or AgentConfig()
        self._issue = issue
        self._map_cache: dict[tuple[str, str], str] = {}
        self._tag_cache: dict[tuple[str, str], list[rm.Tag]] = {}
        self.submitted = False
        self.empty_submits = self.test_reviews = 0
        self.test_runs: list[dict] = []

    def reset(self, **row) -> str | None:
        """Start a new episode on a clean workspace (TRL calls this between rollouts)."""
        self._sb.reset()
        self.submitted = False
        self.empty_submits = self.test_reviews = 0
        self.test_runs = []
        self._issue = row.get("problem_statement", self._issue)
        return None

    # ------------------------------------------------------------------ tools

    def view(self, path: str, start: int | None = None, end: int | None = None) -> str:
        """Show a file with line numbers, or list a directory.

        Args:
            path: File or directory, relative to the repository root.
            start: First line to show (1-based). Large files are shown 200 lines at a time.
            end: Last line to show (inclusive).
        """
        rel = self._rel(path)
        kind = self._kind(rel)
        if kind == "dir":
            out = self._sh(f"find {shlex.quote(rel)} -maxdepth 2 -not -path '*/.git' -not -path '*/.git/*' "
                           f"-not -name '__pycache__' | sort | head -n 400")
            return out or "(empty directory)"
        if kind != "file":
            raise ToolError(f"{rel}: no such file or directory")
        text = self._sb.read_file(rel)
        if "\x00" in text:
            return f"{rel}: a binary file ({len(text)} characters); not shown"
        lines = text.splitlines()
        lo = max(1, start or 1)
        hi = min(len(lines), end or lo + 199)
        body = "\n".join(f"{i:>6}\t{lines[i - 1]}" for i in range(lo, hi + 1))
        more = f"\n[lines {lo}-{hi} of {len(lines)}; view with start={hi + 1} for more]" if hi < len(lines) else ""
        return (body or "(empty file)") + more

    def search(self, pattern: str, path: str = ".") -> str:
        """Search file contents with an extended regular expression (grep -E).

        Args:
            pattern: The regular expression.
            path: Directory or file to search in, relative to the repository root.
        """
        rel = self._rel(path)
        q = shlex.quote
        res = self._sb.run(
            f"grep -rnIE --exclude-dir=.git --exclude-dir=__pycache__ -e {q(pattern)} -- {q(rel)} > /tmp/.pl_search; "
            f"rc=$?; n=$(wc -l < /tmp/.pl_search); cut -c1-200 /tmp/.pl_search | head -n 50; echo \"__N__ $n $rc\"",
            timeout=min(60.0, self._cfg.command_timeout_s),
        )
        out, _, tail = res.stdout.rpartition("__N__ ")
        parts = tail.split()
        if len(parts) < 2 or parts[1] == "2":
            raise ToolError(f"search failed: {res.output.strip()[-500:] or 'bad pattern or path'}")
        total = int(parts[0])
        if total == 0:
            return f"no matches for {pattern!r} in {rel}"
        rest = f"\n[{total - 50} more matches not shown; narrow the pattern or path]" if total > 50 else ""
        return out.rstrip("\n") + rest

    def repo_map(self, query: str = "") -> str:
        """Outline of the repository (classes, functions, signatures) ranked by relevance.

        Args:
            query: Words to rank by (names, file names); the issue text is always included.
        """
        files = self._source_files()
        covered = ", ".join(rm.languages_of(files)) or "none of python, javascript, typescript, go, rust"
        return f"[outline of {len(files)} source files; languages: {covered}]\n" + rm.repo_map(
            files, f"{self._issue}\n{query}", self._cfg.repo_map_tokens, self._file_tags
        )

    def _listing(self) -> list[str]:
        """The files git knows (tracked and new, not ignored), for mapping a selector."""
        return self._sh("git ls-files -co --exclude-standard 2>/dev/null | head -n 20000").splitlines()

    def _source_files(self) -> dict[str, str]:
        """Path -> text of the files in a covered language (under 300 kB, the first 3,000
        files git knows), read once per size and mtime."""
        listing = self._sh("git ls-files -co --exclude-standard 2>/dev/null | head -n 3000 | "
                           "xargs -d '\\n' stat -c '%s %Y %n' 2>/dev/null")
        files = {}
        for line in listing.splitlines():
            size, mtime, name = (line.split(" ", 2) + ["", ""])[:3]
            if not name.endswith(MAP_EXTS) or not size.isdigit() or int(size) > 300_000:
                continue
            key = (name, f"{size}:{mtime}")
            if key not in self._map_cache:
                self._map_cache[key] = self._sb.read_file(name)
            files[name] = self._map_cache[key]
        return files

    def _file_tags(self, path: str, source: str) -> list[rm.Tag]:
        """``repomap.file_tags``, parsed once per file text: the opening message reads the same
        files for its named code and for each size of outline it tries."""
        key = (path, source)
        if key not in self._tag_cache:
            self._tag_cache[key] = rm.file_tags(path, source)
        return self._tag_cache[key]

    def _focus(self, budget_tokens: int) -> str:
        """The source of the definitions the issue names (``localize``), for the opening message."""
        return localize.focus_block(self._source_files(), self._issue, budget_tokens, self._file_tags)

    def edit(self, path: str, old: str, new: str) -> str:
        """Replace the one occurrence of `old` in a file with `new`.

        Args:
            path: File to edit, relative to the repository root.
            old: Exact text to replace, including indentation; it must occur exactly once.
            new: The replacement text.
        """
        rel = self._rel(path)
        if self._kind(rel) != "file":
            raise ToolError(f"{rel}: no such file (use create for a new file)")
        if old == new:  # seen from the 1.5B model, which then submitted believing it had fixed it
            raise ToolError("`new` is the same as `old`: nothing would change. Write the corrected text in `new`.")
        text = self._sb.read_file(rel)
        count = text.count(old) if old else 0
        note = ""
        if count == 0 and (found := edit_indent.indented_match(text, old, new)) is not None:
            (old, new), count = found, 1
            note = " (`old` matched with the file's indentation; `new` was indented the same)"
        if count == 0:
            raise ToolError(f"`old` does not occur in {rel}." + _did_you_mean(text, old))
        if count > 1:
            lines = [text[: m.start()].count("\n") + 1 for m in re.finditer(re.escape(old), text)]
            raise ToolError(f"`old` occurs {count} times in {rel} (lines {lines[:10]}); "
                            "include more surrounding lines so it matches once.")
        result = text.replace(old, new, 1)
        before, after = rm.syntax_error(rel, text), rm.syntax_error(rel, result)
        if after and not before and (shifted := edit_indent.reindent_one_line(text, old, new)) is not None:
            reindented = text.replace(old, shifted, 1)
            if not rm.syntax_error(rel, reindented):
                new, result, after = shifted, reindented, ""
                note = " (the lines after the first of `new` were indented like the line `old` starts on)"
        if after and not before:
            raise ToolError(f"edit refused, {rel} would not parse: {after}. The file is unchanged.")
        self._sb.write_file(rel, result)
        first = text[: text.index(old)].count("\n")
        lo = max(0, first - 3)
        shown = result.splitlines()[lo: first + new.count("\n") + 4]
        snippet = "\n".join(f"{lo + i + 1:>6}\t{s}" for i, s in enumerate(shown))
        return f"edited {rel}{note}:\n{snippet}"

    def create(self, path: str, content: str) -> str:
        """Create a new file with the given content.

        Args:
            path: New file, relative to the repository root; parent folders are created.
            content: The whole file content.
        """
        rel = self._rel(path)
        if self._kind(rel) != "missing":
            raise ToolError(f"{rel} already exists; use edit to change it")
        self._sb.write_file(rel, content)
        warn = rm.syntax_error(rel, content)
        return f"created {rel} ({len(content.splitlines())} lines)" + (f"; warning, it does not parse: {warn}" if warn else "")

    def run(self, command: str, timeout: float = 60.0) -> str:
        """Run a shell command (bash) in the repository root.

        Args:
            command: The command line.
            timeout: Seconds before the command and its children are killed.
        """
        res = self._sb.run(command, timeout=max(1.0, min(float(timeout), self._cfg.command_timeout_s)), env=QUIET_ENV)
        status = "timed out" if res.timed_out else f"exit code {res.exit_code}"
        return f"[{status}]\n{res.output}"

    def run_tests(self, selector: str = "") -> str:
        """Run the repository's tests and summarise the result.

        Args:
            selector: Which tests, e.g. a file, a directory or file::test_name; empty runs all.
        """
        note = ""
        if selector and (mapped := test_select.tests_for_source(selector, self._listing())) is not None:
            tests, note = mapped
            if not tests:
                raise ToolError(note)
            selector = " ".join(tests)
        res = self._run_test_command(selector)
        out = res.output
        summary = next((ln.strip(" =") for ln in reversed(out.splitlines())
                        if re.search(r"\b(passed|failed|error|no tests ran)\b", ln)), "no summary line")
        if res.timed_out:
            summary = f"timed out after {self._cfg.command_timeout_s:.0f}s"
        failed = [ln for ln in out.splitlines() if ln.startswith(("FAILED ", "ERROR "))]
        self.test_runs.append({"selector": selector, "exit_code": res.exit_code, "summary": summary})
        head = (f"note: {note}\n" if note else "") + f"tests ({selector or 'all'}): {summary} [exit code {res.exit_code}]"
        detail = "\n".join(failed[:20])
        return head + (f"\n{detail}" if detail else "") + (f"\n--- output ---\n{out[-3000:]}" if res.exit_code else "")

    def submit(self) -> str:
        """Finish: submit the current changes to the repository as the solution."""
        changed = bool(self._diff().strip())
        if not changed and self.empty_submits < self._cfg.empty_submit_retries:
            # Small models often submit before changing anything (3 of 16 real-model runs
            # did); one reminder costs a step, an empty prediction costs the instance.
            self.empty_submits += 1
            raise ToolError("nothing to submit: the repository is unchanged. Edit the code that "
                            "causes the issue first; call submit again to give up with no change.")
        if changed and self.test_reviews < self._cfg.submit_test_reviews:
            self.test_reviews += 1
            if broken := submit_review.regressions(self):
                raise ToolError(submit_review.refusal(broken))
        self.submitted = True
        stat = self._sh("git status --short")
        return f"submitted\n{stat}".strip()

    # ------------------------------------------------------------------ helpers

    def _rel(self, path: str) -> str:
        """A path relative to the workspace; refuses absolute paths elsewhere and `..` climbs."""
        p = (path or ".").strip()
        root = self._sb.workdir.rstrip("/")
        if p == root or p.startswith(root + "/"):
            p = p[len(root):].lstrip("/") or "."
        p = posixpath.normpath(p)
        if p == ".." or p.startswith(("/", "../")):
            raise ToolError(f"{path}: outside the repository; use paths relative to its root")
        return p

    def _kind(self, rel: str) -> str:
        q = shlex.quote(rel)
        out = self._sh(f"if [ -d {q} ]; then echo dir; elif [ -f {q} ]; then echo file; else echo missing; fi")
        return out.strip() or "missing"

    def _run_test_command(self, selector: str = ""):
        """The configured test command, with ``selector`` appended (run_tests and the submit
        review run the suite the same way)."""
        base = self._cfg.test_command.replace("{python}", shlex.quote(self._cfg.python))
        cmd = f"{base} {' '.join(shlex.quote(s) for s in shlex.split(selector))}".strip()
        return self._sb.run(cmd, timeout=self._cfg.command_timeout_s, env={**QUIET_ENV, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})

    def _sh(self, cmd: str) -> str:
        return self._sb.run(cmd, timeout=60.0).stdout

    def _diff(self) -> str:
        """The workspace diff; the sandbox already leaves out the build litter (bytecode, tool
        caches) that running the tests leaves behind."""
        return self._sb.diff()


def _did_you_mean(text: str, old: str) -> str:
    """The closest block of the file to `old`, so the model can copy it exactly."""
    lines, want = text.splitlines(), old.splitlines() or [old]
    n = len(want)
    best, where = 0.0, 0
    for i in range(max(1, len(lines) - n + 1)):
        score = difflib.SequenceMatcher(None, "\n".join(lines[i:i + n]), old).quick_ratio()
        if score > best:
            score = difflib.SequenceMatcher(None, "\n".join(lines[i:i + n]), old).ratio()
            if score > best:
                best, where = score, i
    if best < 0.6:
        return " No similar text found; view the file first."
    block = "\n".join(lines[where:where + n])
    hint = " (the whitespace differs)" if block.split() == old.split() else ""
    return f" Did you mean lines {where + 1}-{where + n}{hint}?\n{block}"


def workspace_diff(tools: SandboxTools) -> str:
    """The diff of the workspace the tools act on (the graph's patch; not a tool itself)."""
    return tools._diff()


def run_call(call: dict, by_name: dict, specs: dict) -> str:
    """Run one tool call of the model's (``by_name``: the LangChain tools, ``specs`` their
    schemas); every mistake in it comes back as text the model can act on."""
    tool = by_name.get(call["name"])
    if tool is None:
        return f"error: unknown tool {call['name']!r}; the tools are: {', '.join(by_name)}"
    args, notes, problem = repair_arguments(call["name"], call.get("args") or {}, specs[call["name"]].get("parameters", {}))
    notes_text = "".join(f"note: {n}.\n" for n in notes)
    if problem:
        return f"{notes_text}error: bad arguments for {call['name']}: {problem}"
    try:
        return notes_text + str(tool.invoke(args))
    except ValidationError as e:
        errs = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        return f"error: bad arguments for {call['name']}: {errs}"
    except ToolError as e:
        return f"error: {e}"
    except (OSError, UnicodeError) as e:  # a file the model named cannot be read or written
        return f"error: {call['name']}: {type(e).__name__}: {e}"


def langchain_tools(tools: SandboxTools) -> list:
    """The public tool methods as LangChain tools (schemas from type hints and docstrings)."""
    from langchain_core.tools import StructuredTool

    return [StructuredTool.from_function(getattr(tools, name), name=name, description=desc, args_schema=schema)
            for name, (desc, schema) in _schemas().items()]


@functools.cache
def _schemas() -> dict:
    """Docstring parsing is slow (~10 ms a tool): done once per process, not per episode."""
    from langchain_core.tools import StructuredTool

    probe = SandboxTools(sandbox=None)
    out = {}
    for name in TOOL_NAMES:
        t = StructuredTool.from_function(getattr(probe, name), name=name, parse_docstring=True)
        out[name] = (t.description, t.args_schema)
    return out


TOOL_NAMES = ("view", "search", "repo_map", "edit", "create", "run", "run_tests", "submit")
