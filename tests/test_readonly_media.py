"""A read-only study (no write permission, or on read-only media: a USB stick, a read-only backup or share) is read
without a file created beside it, its last changes still in its -wal file shown, and every change refused in one
line. (A plain read-only SQLite connection to a WAL-mode study creates a -wal and a -shm file beside it, leaves
them there, and fails where it cannot create them.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import as_plain_user, copied_while_open, folder_state, koodari_as, read_only

TRANSCRIPT = "T1\n\nH: Mitä on vaikeinta?\nP1: Rahat loppuu aina kesken.\nH: Entä muuta?\nP1: Selkä on kipeä.\n"
REDUCTIONS = """reduction,subcategory,upper,question
rahat loppuu kesken,taloudelliset vaikeudet,taloudelliset ongelmat,T1
selkä on kipeä,terveysongelmat,terveys,T1
"""
READS = (("units", "--json"), ("tree", "--format", "csv"), ("history", "--tree", "--json"))


def make_inputs(folder: Path) -> tuple[Path, Path]:
    (folder / "t.txt").write_text(TRANSCRIPT, encoding="utf-8")
    (folder / "r.csv").write_text(REDUCTIONS, encoding="utf-8")
    return folder / "t.txt", folder / "r.csv"


def wal_study(cli, path: Path, transcript: Path, reductions: Path) -> Path:
    """A study in WAL mode (as every koodari study), with units and a tree, every change in the study file."""
    for args in (("init", path), ("import", path, transcript), ("reductions", "import", path, reductions)):
        result = cli(*args)
        assert result.exit_code == 0, result.output
    assert path.read_bytes()[18:20] == b"\x02\x02" and not Path(f"{path}-wal").exists()  # WAL mode, checkpointed
    return path


def changes(path: Path, transcript: Path, reductions: Path) -> list[tuple[str | Path, ...]]:
    return [("import", path, transcript), ("reductions", "import", path, reductions),
            ("assign", path, "--question", "T1", "--document", "t.txt"), ("analyse", path)]


def test_a_read_only_study_leaves_no_file_beside_it(cli, tmp_path):
    """A study without write permission in a writable folder: reading it (units, tree, history, every export)
    leaves its folder as it was, file for file; each change is refused in one line naming it."""
    folder, out = tmp_path / "study", tmp_path / "out"
    folder.mkdir(), out.mkdir()
    transcript, reductions = make_inputs(tmp_path)
    path = wal_study(cli, folder / "s.koodari", transcript, reductions)
    path.chmod(0o444)
    before = folder_state(folder)
    for args in READS:
        result = cli(args[0], path, *args[1:])
        assert result.exit_code == 0, result.output
    assert "Rahat loppuu aina kesken." in cli("units", path).output
    for kind, name in (("csv", "u.csv"), ("xlsx", "u.xlsx"), ("qdpx", "s.qdpx"), ("qdc", "s.qdc"),
                       ("tree-md", "t.md"), ("tree-docx", "t.docx")):
        result = cli("export", path, kind, out / name)
        assert result.exit_code == 0, result.output
        assert (out / name).stat().st_size > 0
    assert "taloudelliset vaikeudet" in (out / "t.md").read_text(encoding="utf-8")
    assert folder_state(folder) == before  # no -wal or -shm file left beside it
    for args in changes(path, transcript, reductions):
        result = cli(*args)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code != 0 and len(lines) == 1 and "Traceback" not in result.output, result.output
        assert f"{path}: the study file is read-only" in lines[0], args
    assert folder_state(folder) == before


def test_a_study_on_read_only_media_is_read_and_never_changed(cli, tmp_path):
    """The study file and its folder not writable (a stick, a read-only share): it is read as on a writable disk,
    each change is refused in one line naming the file, and the media is left byte for byte as it was."""
    stick, out = tmp_path / "stick", tmp_path / "out"
    stick.mkdir(), out.mkdir()
    transcript, reductions = make_inputs(tmp_path)
    path = wal_study(cli, stick / "s.koodari", transcript, reductions)
    expected = {args: cli(args[0], path, *args[1:]).output for args in READS}
    assert "Selkä on kipeä." in expected[READS[0]] and "terveysongelmat" in expected[READS[1]]
    before = folder_state(stick)
    with read_only(stick):
        prefix = as_plain_user(stick)
        for args in READS:
            result = koodari_as(prefix, args[0], path, *args[1:])
            assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
            assert result.stdout == expected[args], args
        exported = koodari_as(prefix, "export", path, "csv", out / "u.csv")
        assert exported.returncode == 0, exported.stderr
        refused = [koodari_as(prefix, *args) for args in changes(path, transcript, reductions)]
        # a review or `serve` writes each decision as it is made: refused at once, before a model is trained
        reviews = [koodari_as(prefix, "review", path, "--coder", "anna"),
                   koodari_as(prefix, "serve", path, "--coder", "anna", "--port", "0")]
        after = folder_state(stick)
    assert "rahat loppuu kesken,taloudelliset vaikeudet" in (out / "u.csv").read_text(encoding="utf-8-sig")
    for result in refused:
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert f"{path}: the study file is read-only" in result.stderr
    for result in reviews:
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert result.stderr.splitlines() == [f"error: {path}: the study file is read-only (no write permission), "
                                              "and a review writes each decision to it as it is made; nothing was "
                                              "changed (copy the study to a writable folder to code it)"]
    assert after == before


def test_the_last_changes_in_the_wal_file_are_shown_from_read_only_media(cli, tmp_path, monkeypatch):
    """A study copied to a stick while a session had it open: its last units are only in its -wal file. From
    read-only media they are shown, read in place with the -shm file, or from a private copy without it (in the
    temporary folder, removed afterwards); a -wal file that cannot be read is named in a one-line note, and the
    study file's own content is shown."""
    laptop, stick, scratch = tmp_path / "laptop", tmp_path / "stick", tmp_path / "scratch"
    for folder in (laptop, stick, scratch):
        folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    transcript, reductions = make_inputs(tmp_path)
    path = laptop / "s.koodari"
    assert cli("init", path).exit_code == 0
    # a session still open: the imported units stay in the -wal file
    copied = copied_while_open(path, stick, "segments", lambda: cli("import", path, transcript))
    for without in ((), ("s.koodari-shm",)):
        for name in without:
            (stick / name).unlink()
        before = folder_state(stick)
        with read_only(stick):
            prefix = as_plain_user(stick)
            listed = koodari_as(prefix, "units", copied, "--json")
            refused = koodari_as(prefix, "import", copied, transcript)
            after = folder_state(stick)
        assert listed.returncode == 0 and listed.stderr == "", listed.stderr
        assert "Selkä on kipeä." in listed.stdout, without
        assert refused.returncode != 0 and f"{copied}: the study file is read-only" in refused.stderr
        assert after == before and list(scratch.iterdir()) == []
    with read_only(stick, stick / "s.koodari-wal"):
        unread = koodari_as(prefix, "units", copied, "--json")
    assert unread.returncode == 0, unread.stderr
    assert unread.stderr.splitlines() == [f"note: {copied}-wal could not be read (permission denied), so the study's "
                                          "last changes, kept in it, are not shown"]
    assert unread.stdout.strip() == "[]" and list(scratch.iterdir()) == []


@pytest.mark.slow
def test_a_read_only_study_without_a_model_still_suggests(cli, tmp_path):
    """A study on read-only media whose model was never trained (or predates its tree): `suggest` trains one for
    itself, keeps nothing, and leaves the media as it was; `train`, a change, is refused before training."""
    stick = tmp_path / "stick"
    stick.mkdir()
    transcript, reductions = make_inputs(tmp_path)
    path = wal_study(cli, stick / "s.koodari", transcript, reductions)
    before = folder_state(stick)
    with read_only(stick):
        prefix = as_plain_user(stick)
        suggested = koodari_as(prefix, "suggest", path, "--text", "Selkä on tosi kipeä.", "--question", "T1",
                               "--json")
        trained = koodari_as(prefix, "train", path)
        after = folder_state(stick)
    assert suggested.returncode == 0, suggested.stderr
    assert json.loads(suggested.stdout)[0]["category"] == "terveysongelmat"
    assert trained.returncode != 0 and trained.stderr.splitlines() == [
        f"error: {path}: the study file is read-only (no write permission); nothing was changed"]
    assert after == before


def test_a_writable_study_in_a_read_only_folder_is_read(cli, tmp_path):
    """The study file writable, its folder not (a shared folder one may edit files in but not add them to): SQLite
    cannot make the -wal file it reads and writes a WAL-mode study through, so the study is read as a read-only one
    (it failed: 'cannot open study (attempt to write a readonly database)'), and each change is refused in one line
    that names the folder as the reason."""
    folder = tmp_path / "shared"
    folder.mkdir()
    transcript, reductions = make_inputs(tmp_path)
    path = wal_study(cli, folder / "s.koodari", transcript, reductions)
    expected = {args: cli(args[0], path, *args[1:]).output for args in READS}
    before = folder_state(folder)
    folder.chmod(0o555)
    try:
        prefix = as_plain_user(folder)
        read = {args: koodari_as(prefix, args[0], path, *args[1:]) for args in READS}
        refused = [koodari_as(prefix, *args) for args in changes(path, transcript, reductions)]
        review = koodari_as(prefix, "review", path, "--coder", "anna")
    finally:
        folder.chmod(0o755)
    for args, result in read.items():
        assert result.returncode == 0 and result.stdout == expected[args], (args, result.stderr)
    for result in [*refused, review]:
        assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith(f"error: {path}: the study's folder is read-only (no write permission; "), \
            result.stderr
    assert folder_state(folder) == before
