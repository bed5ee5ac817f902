"""Nothing lost: a review's decisions survive other processes opening the study, background retraining,
and kill -9 (issue: closing any descriptor of a database file drops the process's POSIX locks)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from koodari.review import ResolveSession, ReviewSession
from koodari.store import Study
from tests.test_review import KOODARI, screen, spawn, study, template  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow


def decisions(path: Path, coder: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM decisions WHERE coder = ?", (coder,)).fetchone()[0]
    finally:
        conn.close()


def test_background_retrain_and_another_process_lose_no_decision(study):  # noqa: F811
    child = spawn(study, "zed", "--retrain-every", "1")
    screen(child, 0)
    child.send("\r")  # accept: starts a retrain in the background, which opens the study in this process
    screen(child, 1)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # the retrained model is trained for zed and saved as a new version
        conn = sqlite3.connect(study)
        versions = conn.execute("SELECT count(*) FROM model_versions").fetchone()[0]
        conn.close()
        if versions >= 2:
            break
        time.sleep(0.5)
    time.sleep(1)
    # another process opens and closes the study (the last one out checkpoints and may delete the WAL)
    out = subprocess.run([KOODARI, "units", str(study), "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for coded in (2, 3, 4):
        child.send("\r")
        screen(child, coded)
    child.kill(signal.SIGKILL)
    child.close(force=True)
    assert decisions(study, "zed") == 4
    conn = sqlite3.connect(study)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


@pytest.fixture(scope="module")
def pipeline():
    from koodari.nlp.pipeline import FinnishPipeline

    return FinnishPipeline()


def trained_on(s: Study, version: int) -> set[str]:
    return next(v for v in s.model_versions() if v.id == version).trained_on()


def test_a_coder_never_gets_a_model_trained_on_another_coders_codes(study, pipeline, cli):  # noqa: F811
    with Study.open(study) as s:
        c2 = ReviewSession(s, "c2", pipeline, background=False)
        c2.accept(c2.next_unit())
    assert cli("train", study, "--folds", "0").exit_code == 0  # the newest version now holds c2's codes
    with Study.open(study) as s:
        newest = s.model_versions(newest_first=True)[0]
        assert "c2" in newest.trained_on()
        c1 = ReviewSession(s, "c1", pipeline, retrain_every=1, background=True)
        assert c1.suggester.version != newest.id and "c2" not in trained_on(s, c1.suggester.version)
        c1.accept(c1.next_unit())
        c1.wait_for_training()
        assert c1.training_error is None
        # meanwhile another coder's session retrains: a newer version that c1 must not pick up
        c2 = ReviewSession(s, "c2", pipeline, retrain_every=1, background=False)
        c2.accept(c2.next_unit())
        c1.next_unit()
        assert trained_on(s, c1.suggester.version) & {"c2"} == set()
        assert "c1" in trained_on(s, c1.suggester.version)  # its own retrained model, with its own code


def test_resolve_session_retrains_in_the_background(study, pipeline):  # noqa: F811
    with Study.open(study) as s:
        for coder, rank in (("anna", 1), ("ben", 2)):
            session = ReviewSession(s, coder, pipeline, background=False)
            session.accept(session.next_unit(), rank)
        resolve = ResolveSession(s, ["anna", "ben"], pipeline, retrain_every=1)
        before = resolve.suggester.version
        resolve.accept(resolve.next_unit())
        resolve.wait_for_training()
        assert resolve.training_error is None
        resolve.next_unit()
        assert resolve.suggester.version > before
        assert "consensus" in trained_on(s, resolve.suggester.version)
