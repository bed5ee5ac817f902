"""Shared fixtures: a CLI runner, fresh studies on disk, a fingerprint to prove a study unchanged, and read-only
media (a folder made read-only, and koodari run where its permissions hold)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import contextmanager
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


def copied_while_open(path: Path, into: Path, table: str, change) -> Path:
    """A copy into INTO of the study at PATH made while a session had it open, after CHANGE (a CLI call, which must
    succeed): the rows CHANGE added to TABLE are in the copy's -wal file only, not in its study file."""
    session = sqlite3.connect(path)
    try:
        session.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert change().exit_code == 0
        for suffix in ("", "-wal", "-shm"):
            shutil.copyfile(f"{path}{suffix}", into / f"{path.name}{suffix}")
    finally:
        session.close()
    copied = into / path.name
    alone = sqlite3.connect(f"{copied.as_uri()}?mode=ro&immutable=1", uri=True)
    assert alone.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0  # not in the study file itself
    alone.close()
    return copied


def folder_state(folder: Path) -> dict[str, bytes]:
    """Every file in FOLDER with its bytes: reading a study (or rescuing it) must leave its folder exactly so."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def as_plain_user(read_only: Path) -> list[str]:
    """The command prefix under which file permissions hold, so that `chmod a-w` makes READ_ONLY (a folder) read-only
    media: none for a plain user; as root (CI), util-linux `setpriv` keeps root's user id but drops the
    capabilities that override permissions. Skips the test where neither can be had."""
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without util-linux setpriv: chmod a-w does not stop root, so read-only media "
                        "cannot be made")
        caps = "-dac_override,-dac_read_search"
        prefix = [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]
    probe = subprocess.run([*prefix, sys.executable, "-c", f"open({str(read_only / 'probe')!r}, 'x')"],
                           capture_output=True, text=True)
    if probe.returncode == 0 or "PermissionError" not in probe.stderr:
        (read_only / "probe").unlink(missing_ok=True)
        pytest.skip(f"cannot make a read-only folder here (a write there gave: {probe.stderr.strip()[-200:]!r})")
    return prefix


def koodari_as(prefix: list[str], *args: str | Path) -> subprocess.CompletedProcess:
    """Run `koodari ARGS...` in a new process under PREFIX (see ``as_plain_user``)."""
    return subprocess.run([*prefix, sys.executable, "-c", "from koodari.cli import app; app()", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@contextmanager
def read_only(folder: Path, *unreadable: Path):
    """FOLDER and its files made read-only (and UNREADABLE files unreadable) for the block."""
    files = [p for p in folder.iterdir()]
    for p in files:
        p.chmod(0o444)
    for p in unreadable:
        p.chmod(0)
    folder.chmod(0o555)
    try:
        yield
    finally:
        folder.chmod(0o755)
        for p in files:
            p.chmod(0o644)
