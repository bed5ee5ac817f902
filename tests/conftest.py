"""Shared fixtures: a CLI runner, fresh studies on disk, and a fingerprint to prove a study unchanged."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

# one sentence-embedding cache for the whole run (and the CLI subprocesses it starts), never the user's own
os.environ.setdefault("KOODARI_EMBEDDING_CACHE",
                      str(Path(tempfile.mkdtemp(prefix="koodari-test-")) / "sentence-embeddings.sqlite3"))

from koodari.cli import app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def cli(runner):
    """Run `koodari ARGS...`; returns the click Result."""

    def invoke(*args: str | Path, input: str | None = None):
        return runner.invoke(app, [str(a) for a in args], input=input)

    return invoke


@pytest.fixture
def study_path(tmp_path: Path, cli) -> Path:
    path = tmp_path / "study.koodari"
    result = cli("init", path)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="session")
def seed_study_template(tmp_path_factory) -> Path:
    from koodari.corpus import load_corpus
    from koodari.store import Study

    path = tmp_path_factory.mktemp("seed") / "seed.koodari"
    with Study.create(path) as study:
        load_corpus(study, "kainuu-2012")
    return path


@pytest.fixture
def seed_study(seed_study_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of a study loaded with the kainuu-2012 corpus."""
    path = tmp_path / "seed.koodari"
    src = sqlite3.connect(seed_study_template)
    dst = sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    return path


def fingerprint(path: Path) -> str:
    """A digest of a study's whole content (schema and rows), independent of WAL state."""
    conn = sqlite3.connect(path)
    try:
        digest = hashlib.sha256()
        for line in conn.iterdump():
            digest.update(line.encode("utf-8"))
        return digest.hexdigest()
    finally:
        conn.close()


def code_transcript(cli, study: Path, folder: Path, transcript: str, reduction: str, texts: list[str] | None = None,
                    coder: str = "anna") -> None:
    """Import a T8 transcript into a seed study and code its units (all, or those in ``texts``) as
    'Työ- ja elinkeinotoimisto' by ``coder``."""
    from koodari.store import Study

    path = folder / "t.txt"
    path.write_text(transcript, encoding="utf-8")
    assert cli("import", study, path).exit_code == 0
    with Study.open(study) as s:
        te = s.find_category(s.find_question("T8"), "sub", "Työ- ja elinkeinotoimisto")
        for seg in s.conn.execute("SELECT id, text FROM segments WHERE is_interviewer = 0").fetchall():
            if texts is None or seg["text"] in texts:
                s.add_reduction(reduction, te.id, coder, "review", segment_id=seg["id"])
