"""The comparison page of ``eval report``, rendered in headless Chromium as a reviewer sees it.

Three runs: the gold patches, a mixed run (one resolved, one patch that does not apply, one
that applies and fixes nothing, all real on the local backend), and a hostile run made by
hand (markup in instance ids, reasons and model names; an infrastructure error; an instance
submitted but never finished). Chromium dumps the DOM and takes a screenshot once; the tests
read both.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from patchloop.evals.datasets import load_predictions, load_tasks
from patchloop.evals.report import build_report, write_reports
from patchloop.evals.run import run_swe_eval
from patchloop.evals.run_page import write_page
from patchloop.evals.swe import InstanceResult
from patchloop.types import Prediction, Task
from tests.evals.swe_helpers import make_patch

EVIL = 'evil<script>alert("id")</script>\'&"'
EVENT_ATTR = re.compile(r"""<[a-z]+(?:\s+[\w-]+(?:=(?:"[^"]*"|'[^']*'|[^\s>"']+))?)*?\s+on\w+\s*=""")
EVIL_REASON = '<img src=x onerror=alert(1)> "quoted" & <b>bold</b>'


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.fail("headless Chromium is needed for the report tests: run tools/sysdeps.sh (apt-get install chromium)")


def headless(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    # a smuggled alert() would block headless Chromium: fail on it here, before it can hang
    text = page.read_text(encoding="utf-8").lower()
    assert "<script" not in text and not EVENT_ATTR.search(text), "markup from a run reached the page"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
           f"--user-data-dir={tmp / 'profile'}", *args, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


class Dom(HTMLParser):
    """Tags seen, and each table (by class) as rows of (text, [hrefs]) cells."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.tables: dict[str, list[list[tuple[str, list[str]]]]] = {}
        self._table = self._row = self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("class") or "", [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ["", []]
            self._row.append(self._cell)
        elif tag == "a" and self._cell is not None and attrs.get("href"):
            self._cell[1].append(attrs["href"])

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = None
        elif tag == "table":
            self._table = self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data

    def rows(self, cls: str) -> dict[str, list[tuple[str, list[str]]]]:
        """Body rows of table ``cls`` keyed by their first cell's text."""
        return {" ".join(r[0][0].split()): r for r in self.tables[cls][1:]}


def hostile_run(root: Path, tasks: list[Task]) -> Path:
    evil = Task(EVIL, FAIL_TO_PASS=["t::a", "t::b"], PASS_TO_PASS=["t::c"])
    gone = Task("never-finished", FAIL_TO_PASS=["t::a"])
    run_dir = root / "hostile"
    (run_dir / "logs").mkdir(parents=True)
    log = run_dir / "logs" / "evil.log"
    log.write_text("<script>alert('log')</script>\n")
    results = {EVIL: InstanceResult(EVIL, "unresolved", reason=EVIL_REASON, model_name_or_path="<b>model</b>",
                                    tests={"t::a": "PASSED", "t::b": "FAILED", "t::c": "PASSED"}, log_path=str(log)),
               tasks[0].instance_id: InstanceResult(tasks[0].instance_id, "error", reason="docker: engine went away")}
    preds = {t.instance_id: Prediction(t.instance_id, "x") for t in (evil, gone, tasks[0])}
    write_reports(run_dir, build_report([evil, gone, tasks[0]], preds, results, run_id="hostile"))
    report = json.loads((run_dir / "report.json").read_text())  # a verdict this page does not know
    report["instances"]["row-7"] = {"verdict": "no-such-verdict", "reason": "line 7: not JSON",
                                    "fail_to_pass": ["2", 1, 0], "pass_to_pass": "?"}  # hand-edited: unknown
    report["unreadable"] = {"data.jsonl:9": "missing base_commit"}  # rows a dataset could not give
    report["settings"] = {"timeout": 300.0, "backend": "docker"}
    (run_dir / "run.json").write_text(json.dumps({"timeout": 1.0, "seed": 5}))  # run.json: shown, not over report
    (run_dir / "report.json").write_text(json.dumps(report))
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    tasks = load_tasks("builtin")[:3]
    run_swe_eval(tasks, load_predictions("gold", tasks), root / "gold", backend="local", progress=False)
    mixed = {tasks[0].instance_id: Prediction(tasks[0].instance_id, tasks[0].patch, "sft-model"),
             tasks[1].instance_id: Prediction(tasks[1].instance_id, tasks[2].patch, "sft-model"),
             tasks[2].instance_id: Prediction(tasks[2].instance_id, make_patch(tasks[2], {"NOTES.txt": "looked\n"}),
                                              "sft-model")}
    run_swe_eval(tasks, mixed, root / "mixed", backend="local", progress=False, timeout=120)
    return root, tasks, [root / "gold", root / "mixed", hostile_run(root, tasks)]


@pytest.fixture(scope="module")
def rendered(runs, tmp_path_factory):
    root, tasks, dirs = runs
    page = write_page(dirs, root / "pages" / "compare.html")
    tmp = tmp_path_factory.mktemp("chromium")
    dom = headless(page, tmp, "--dump-dom")
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    shot = tmp / "page.png"
    res = headless(page, tmp, f"--screenshot={shot}", "--window-size=1400,2400")
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    return page, Dom(dom.stdout), shot, tasks


def test_screenshot_is_a_rendered_page(rendered):
    from PIL import Image

    _, _, shot, _ = rendered
    assert shot.stat().st_size > 50_000
    with Image.open(shot) as img:
        assert img.size == (1400, 2400)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colours) > 200  # text, badges and charts, not a blank or error page


def test_matrix_shows_each_instance_in_each_run_with_counts_and_links(rendered):
    page, dom, _, tasks = rendered
    rows = dom.rows("matrix")
    assert [h[0] for h in dom.tables["matrix"][0]] == ["instance", "resolved in", "gold", "mixed", "hostile"]
    a, b, c = (t.instance_id for t in tasks)
    assert set(rows) == {a, b, c, " ".join(EVIL.split()), "never-finished", "row-7", "data.jsonl:9"}
    assert "no-such-verdict" in rows["row-7"][4][0] and "line 7: not JSON" in rows["row-7"][4][0]
    assert "unreadable" in rows["data.jsonl:9"][4][0] and "missing base_commit" in rows["data.jsonl:9"][4][0]
    assert "missing" in rows["never-finished"][4][0] and "no result was recorded" in rows["never-finished"][4][0]
    assert [rows[i][1][0] for i in (a, b, c, "never-finished")] == ["2/3", "1/2", "1/2", "0/1"]
    assert "The 3 marked rows are those where the runs that have the instance disagree" in page.read_text()
    gold, mixed = rows[a][2], rows[a][3]
    assert gold[0].split()[:1] == ["resolved"] and f"F2P {len(tasks[0].FAIL_TO_PASS)}/{len(tasks[0].FAIL_TO_PASS)}" in gold[0]
    assert "patch_failed" in rows[b][3][0] and f"F2P —/{len(tasks[1].FAIL_TO_PASS)}" in rows[b][3][0]
    assert "unresolved" in rows[c][3][0] and f"F2P 0/{len(tasks[2].FAIL_TO_PASS)}" in rows[c][3][0]
    assert "error" in rows[a][4][0] and "engine went away" in rows[a][4][0]
    assert "not submitted in this run" in rows[c][4][0]
    for cell, tail in ((gold, tasks[0].instance_id), (mixed, tasks[0].instance_id)):
        log, patch = (page.parent / unquote(h) for h in cell[1])
        assert log.read_text().startswith("== ") and log.name == f"{tail}.log"
        assert patch.read_text() == tasks[0].patch


def test_runs_table_names_model_settings_and_date(rendered):
    _, dom, _, _ = rendered
    runs = dom.rows("runs")
    assert set(runs) == {"gold", "mixed", "hostile"}
    text = " ".join(runs["mixed"][i][0] for i in range(len(runs["mixed"])))
    assert "sft-model" in text and "timeout 120 s" in text and "backend local → local" in text
    assert "2/3" not in text and "1/3 resolved" in text and "patch_failed 1" in text and "unresolved 1" in text
    assert " UTC" in runs["gold"][2][0]
    hostile = runs["hostile"][3][0]
    assert "timeout 300 s" in hostile and "seed 5" in hostile and "timeout 1 s" not in hostile


def test_differences_list_what_each_run_gained_and_lost(rendered):
    _, dom, _, tasks = rendered
    diffs = dom.rows("diffs")
    lost = diffs["gold → mixed"][2]
    anchors = {a["id"] for _, a in dom.tags if "id" in a}
    assert lost[0].startswith("2:") and len(lost[1]) == 2 and all(h[1:] in anchors for h in lost[1])
    assert tasks[1].instance_id in lost[0] and tasks[2].instance_id in lost[0]
    assert diffs["gold → mixed"][1][0].strip() == "none"
    assert diffs["mixed → hostile"][3][0] == "0"


def test_hostile_text_is_shown_as_text_never_as_markup(rendered):
    page, dom, _, _ = rendered
    assert not [t for t, _ in dom.tags if t == "script"]
    assert all(a.get("src", "").startswith("data:image/png;base64,") for t, a in dom.tags if t == "img")
    assert not any(k.startswith("on") for _, a in dom.tags for k in a)
    rows = dom.rows("matrix")
    assert EVIL_REASON.split("\n")[0] in rows[" ".join(EVIL.split())][4][0]
    assert "<b>model</b>" in " ".join(c[0] for c in dom.rows("runs")["hostile"])
    assert "<script" not in page.read_text().lower()


def test_a_single_run_and_an_old_report_still_render(runs, tmp_path):
    _, _, dirs = runs
    old = tmp_path / "old"
    shutil.copytree(dirs[1], old)
    report = json.loads((old / "report.json").read_text())
    for key in ("instances", "created_at", "settings", "models", "backends"):
        report.pop(key)
    (old / "report.json").write_text(json.dumps(report))
    page = write_page([old], tmp_path / "one.html")
    dom = Dom(headless(page, tmp_path, "--dump-dom").stdout)
    assert "One run: nothing to compare" in page.read_text()
    rows = dom.rows("matrix")
    assert len(rows) == 3 and all("F2P ?" in r[2][0] for r in rows.values())
    assert "(file time)" in " ".join(c[0] for c in dom.rows("runs")["mixed"])


def test_a_resume_that_changes_nothing_keeps_the_run_date(tmp_path):
    task = Task("t-1", FAIL_TO_PASS=["t::a"])
    preds = {"t-1": Prediction("t-1", "x")}

    def report(verdict: str, when: str) -> dict:
        rep = build_report([task], preds, {"t-1": InstanceResult("t-1", verdict)}, run_id="r")
        rep["created_at"] = when
        return rep

    write_reports(tmp_path, report("unresolved", "2026-01-01T10:00:00+00:00"))
    write_reports(tmp_path, report("unresolved", "2026-01-02T10:00:00+00:00"))
    assert json.loads((tmp_path / "report.json").read_text())["created_at"] == "2026-01-01T10:00:00+00:00"
    write_reports(tmp_path, report("resolved", "2026-01-03T10:00:00+00:00"))
    assert json.loads((tmp_path / "report.json").read_text())["created_at"] == "2026-01-03T10:00:00+00:00"


def test_report_md_lists_each_instance_with_its_test_counts():
    from patchloop.evals.report import markdown

    tasks = [Task("a|b`c", FAIL_TO_PASS=["t::a", "t::b"], PASS_TO_PASS=["t::c"]), Task("d", FAIL_TO_PASS=["t::a"])]
    results = {"a|b`c": InstanceResult("a|b`c", "unresolved", reason="t::b failed\nmore",
                                       tests={"t::a": "PASSED", "t::b": "FAILED", "t::c": "PASSED"}),
               "d": InstanceResult("d", "patch_failed", reason="does not apply")}
    md = markdown(build_report(tasks, {t.instance_id: Prediction(t.instance_id, "x") for t in tasks}, results,
                               run_id="r"))
    assert "| `a\\|b'c` | unresolved | 1/2 | 1/1 |" in md
    assert "| `d` | patch_failed | —/1 | —/0 |" in md
    assert "- `a\\|b'c`: t::b failed\n" in md
