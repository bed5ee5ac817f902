"""Nothing lost: a review's decisions survive other processes opening the study, background retraining,
and kill -9 (issue: closing any descriptor of a database file drops the process's POSIX locks)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pexpect
import pytest

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
