"""The real path: a PyPI sdist (``inflection``, downloaded once into the cache), its own test
suite run in the environment image, and candidates validated by the harness."""

from __future__ import annotations

import pytest

from patchloop.datagen.repos.candidates import generate
from patchloop.datagen.repos.issues import TemplateWriter
from patchloop.datagen.repos.source import prepare_source
from patchloop.datagen.repos.suite import run_suite
from patchloop.datagen.repos.validate import validate_candidate

pytestmark = pytest.mark.docker


def test_inflection_sdist_gives_validated_instances(tmp_path, docker_client):
    src = prepare_source(tmp_path, package="inflection==0.5.1")
    assert src.license == "MIT" and src.origin == "pypi:inflection==0.5.1"
    assert (src.path / "test_inflection.py").is_file()  # the sdist carries its tests
    suite = run_suite(src, timeout=600)
    assert suite.skip_reason() == "" and len(suite.passing) > 400
    assert suite.covered.get("inflection/__init__.py")
    cands = list(generate(src.path, src.slug, suite.covered, seed=0, limit=4))
    assert len(cands) == 4 and all(c.path == "inflection/__init__.py" for c in cands)
    kept = []
    for cand in cands:
        outcome, task = validate_candidate(cand, src, suite.passing, tmp_path / "work", TemplateWriter(), timeout=120)
        if task is not None:
            kept.append(task)
            assert outcome.kept and outcome.fail_to_pass == len(task.FAIL_TO_PASS)
    assert kept, "none of the first four inflection candidates validated"
    assert kept[0].extra["license"] == "MIT" and kept[0].base_commit != src.base_commit
