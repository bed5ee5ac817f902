"""`koodari rescue`: a damaged study is refused, and every row that can still be read goes into a new study."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import as_plain_user, copied_while_open, folder_state, koodari_as, read_only

REDUCTIONS = """reduction,subcategory,upper,question
rahat loppuu kesken,taloudelliset vaikeudet,taloudelliset ongelmat,T1
selkä on kipeä,terveysongelmat,terveys,T1
ei ole ketään kenen kanssa puhua,yksinäisyys,sosiaaliset ongelmat,T1
"""


def study_of_300_units(cli, folder: Path) -> Path:
    """A study with 300 long units (several leaf pages of them) and three reductions."""
    path = folder / "s.koodari"
    turns = "\n".join(f"P{i % 3 + 1}: {'tämä on hyvin pitkä vastaus haastattelussa ' * 12}{i}" for i in range(300))
    (folder / "t.txt").write_text(turns + "\n", encoding="utf-8")
    (folder / "r.csv").write_text(REDUCTIONS, encoding="utf-8")
    for args in (("init", path), ("import", path, folder / "t.txt"), ("reductions", "import", path, folder / "r.csv")):
        result = cli(*args)
        assert result.exit_code == 0, result.output
    return path


def unit_pages(path: Path, units: int | None = 300) -> tuple[int, list[int]]:
    """The study's page size and the numbers of the leaf pages holding its units (checked to be UNITS)."""
    conn = sqlite3.connect(path)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        leaves = [p for (p,) in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'segments' AND pagetype = 'leaf' ORDER BY pageno")]
        assert units is None or conn.execute("SELECT count(*) FROM segments").fetchone()[0] == units
    finally:
        conn.close()
    assert len(leaves) >= 3
    return page_size, leaves


def damaged_study(cli, folder: Path) -> tuple[Path, int]:
    """A study with 300 long units, one leaf page of its units overwritten; returns it and its unit count."""
    path = study_of_300_units(cli, folder)
    page_size, leaves = unit_pages(path)
    with path.open("r+b") as file:
        file.seek((leaves[1] - 1) * page_size)
        file.write(b"\xff" * page_size)
    return path, 300


def test_rescue_copies_every_readable_row_of_a_damaged_study(cli, tmp_path):
    path, units = damaged_study(cli, tmp_path)
    refused = cli("units", path)
    assert refused.exit_code != 0 and "damaged" in refused.output
    # the command to run, with the study's path as given (it works from any folder)
    assert f"koodari rescue {path} {tmp_path / 's-rescued.koodari'}" in " ".join(refused.output.split())
    assert "Traceback" not in refused.output
    before = path.read_bytes()
    new = tmp_path / "rescued.koodari"
    result = cli("rescue", path, new, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert path.read_bytes() == before  # the damaged study is only read
    # the units on the damaged page are lost, the units after it are not
    assert report["segments"]["unreadable"] >= 1 and 100 < report["segments"]["copied"] < units
    assert all(v == {"copied": v["copied"], "unreadable": 0} for k, v in report.items() if k != "segments")
    listed = json.loads(cli("units", new, "--json").output)
    assert len(listed) == report["segments"]["copied"] and listed[-1]["text"].endswith(" 299")
    tree = cli("tree", new, "--question", "T1")
    assert tree.exit_code == 0 and all(name in tree.output for name in ("yksinäisyys", "terveysongelmat"))
    assert report["reductions"] == {"copied": 3, "unreadable": 0}
    text = cli("rescue", path, tmp_path / "again.koodari")
    assert text.exit_code == 0 and "rows unreadable" in text.output and "are lost from" in text.output
    exists = cli("rescue", path, new)
    assert exists.exit_code != 0 and "already exists" in exists.output


def test_rescue_of_a_whole_study_is_a_complete_copy_and_refuses_other_files(cli, tmp_path):
    path = tmp_path / "whole.koodari"
    assert cli("init", path).exit_code == 0
    (tmp_path / "r.csv").write_text(REDUCTIONS, encoding="utf-8")
    assert cli("reductions", "import", path, tmp_path / "r.csv").exit_code == 0
    result = cli("rescue", path, tmp_path / "copy.koodari")
    assert result.exit_code == 0 and "is a complete copy" in result.output
    copy_tree = cli("tree", tmp_path / "copy.koodari", "--format", "csv").output
    assert copy_tree == cli("tree", path, "--format", "csv").output and "yksinäisyys" in copy_tree
    (tmp_path / "notes.txt").write_text("not a study at all, just some text " * 10, encoding="utf-8")
    other = cli("rescue", tmp_path / "notes.txt", tmp_path / "x.koodari")
    assert other.exit_code != 0 and "not a koodari study" in other.output and not (tmp_path / "x.koodari").exists()


def test_rescue_runs_no_statement_but_the_schema_s_own(cli, tmp_path):
    """A file made to look like a study whose schema holds another statement (an ATTACH that would create a file) is
    refused in one line (SQLite finds the schema malformed before koodari's own check), and nothing is written."""
    path = tmp_path / "crafted.koodari"
    assert cli("init", path).exit_code == 0
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA writable_schema = ON")
    target = tmp_path / "planted.db"
    conn.execute("INSERT INTO sqlite_master VALUES ('table', 'x', 'x', 0, ?)", (f"ATTACH '{target}' AS planted",))
    conn.commit()
    conn.close()
    result = cli("rescue", path, tmp_path / "out.koodari")
    assert result.exit_code != 0 and "nothing can be rescued" in result.output and "Traceback" not in result.output
    assert not target.exists() and not (tmp_path / "out.koodari").exists()


def test_a_page_holding_another_page_s_units_is_not_a_complete_copy(cli, tmp_path):
    """A misdirected write: a leaf page of units holds a copy of another one. Its own units cannot be read (a
    lookup finds no such row), so the report must not call the rescued study a complete copy."""
    path = study_of_300_units(cli, tmp_path)
    page_size, leaves = unit_pages(path)
    with path.open("r+b") as file:
        first = file.read(page_size * leaves[0])[-page_size:]
        file.seek((leaves[1] - 1) * page_size)
        file.write(first)
    assert "damaged" in cli("units", path).output
    result = cli("rescue", path, tmp_path / "new.koodari")
    assert result.exit_code == 0, result.output
    assert "complete copy" not in result.output and "are lost from" in result.output
    report = json.loads(cli("rescue", path, tmp_path / "again.koodari", "--json").output)
    assert report["segments"]["copied"] < 300 and report["segments"]["unreadable"] != 0
    units = json.loads(cli("units", tmp_path / "new.koodari", "--json").output)
    assert len(units) == report["segments"]["copied"] and units[-1]["text"].endswith(" 299")


def test_a_garbled_row_is_lost_not_the_whole_rescue(cli, tmp_path):
    """A unit whose bytes were garbled into a value its table refuses (a negative character offset): the study is
    refused as damaged with `koodari rescue` as the way out, and the rescue keeps every other row (it wrote nothing)."""
    path = study_of_300_units(cli, tmp_path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute("UPDATE segments SET char_start = -1 WHERE id = 8")
    conn.commit()
    conn.close()
    refused = cli("units", path)
    assert "damaged" in refused.output and "koodari rescue" in refused.output
    result = cli("rescue", path, tmp_path / "new.koodari", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["segments"] == {"copied": 299, "unreadable": 1} and report["reductions"]["copied"] == 3
    units = json.loads(cli("units", tmp_path / "new.koodari", "--json").output)
    assert len(units) == 299 and units[-1]["text"].endswith(" 299")


def test_a_huge_row_id_past_a_damaged_page_is_sought_not_walked(cli, tmp_path):
    """A unit with row id 2**40 after a damaged page: the row-by-row pass seeks the next row id in the table's
    index instead of looking up a trillion absent ones (it would not end), and the unit is copied."""
    path = study_of_300_units(cli, tmp_path)
    conn = sqlite3.connect(path)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(segments)")]
    rest = [c for c in columns if c != "id"]
    values = ", ".join("seq + 1000" if c == "seq" else c for c in rest)
    conn.execute(f"INSERT INTO segments (id, {', '.join(rest)}) SELECT {2**40}, {values} FROM segments WHERE id = 300")
    conn.commit()
    conn.close()
    page_size, leaves = unit_pages(path, units=None)
    with path.open("r+b") as file:
        file.seek((leaves[1] - 1) * page_size)
        file.write(b"\xff" * page_size)
    out = tmp_path / "out.koodari"
    done = subprocess.run([sys.executable, "-c", "from koodari.cli import app; app()", "rescue", str(path), str(out),
                           "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert 100 < report["segments"]["copied"] < 301
    check = sqlite3.connect(out)
    assert check.execute("SELECT count(*) FROM segments WHERE id = ?", (2**40,)).fetchone()[0] == 1
    check.close()



def test_rescue_leaves_nothing_beside_the_damaged_study(cli, tmp_path):
    """A plain read-only SQLite connection to a WAL-mode study leaves a -wal and a -shm file beside it: rescuing
    (and refusing) a damaged study must leave its folder as it was, file for file and byte for byte."""
    stick = tmp_path / "stick"
    stick.mkdir()
    path, _ = damaged_study(cli, stick)
    before = folder_state(stick)
    assert "damaged" in cli("units", path).output
    result = cli("rescue", path, tmp_path / "new.koodari", "--json")
    assert result.exit_code == 0, result.output
    assert 100 < json.loads(result.stdout)["segments"]["copied"] < 300
    assert folder_state(stick) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.koodari", "stick"]  # no scratch copy left either


def rescue_as(prefix: list[str], *args: Path) -> subprocess.CompletedProcess:
    return koodari_as(prefix, "rescue", *args)


def test_rescue_from_read_only_media(cli, tmp_path):
    """A study on read-only media (the file and its folder not writable, as on a CD or a read-only share) is
    rescued into a complete copy, and the media is left as it was. (A read-only SQLite connection must create a
    -wal and a -shm file to read a WAL-mode study: without the fix the rescue fails.)"""
    stick = tmp_path / "stick"
    stick.mkdir()
    path = stick / "s.koodari"
    assert cli("init", path).exit_code == 0
    (tmp_path / "r.csv").write_text(REDUCTIONS, encoding="utf-8")
    assert cli("reductions", "import", path, tmp_path / "r.csv").exit_code == 0
    before = folder_state(stick)
    (tmp_path / "out").mkdir()
    with read_only(stick):
        done = rescue_as(as_plain_user(stick), path, tmp_path / "out" / "new.koodari")
        after = folder_state(stick)
    assert done.returncode == 0, done.stderr
    assert "is a complete copy" in done.stdout and "Traceback" not in done.stderr
    assert after == before
    tree = cli("tree", tmp_path / "out" / "new.koodari", "--format", "csv").output
    assert tree == cli("tree", path, "--format", "csv").output and "yksinäisyys" in tree


def copied_with_reductions_in_wal(cli, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A study on the laptop copied to the stick while a session had it open, so that its reductions are only in
    the copy's -wal file; (the copy, the stick, an empty folder for new studies)."""
    laptop, stick, out = tmp_path / "laptop", tmp_path / "stick", tmp_path / "out"
    for folder in (laptop, stick, out):
        folder.mkdir()
    path = laptop / "s.koodari"
    assert cli("init", path).exit_code == 0
    (tmp_path / "r.csv").write_text(REDUCTIONS, encoding="utf-8")
    copied = copied_while_open(path, stick, "reductions", lambda: cli("reductions", "import", path, tmp_path / "r.csv"))
    return copied, stick, out


def test_a_wal_file_on_read_only_media_is_read_or_named(cli, tmp_path):
    """A study copied to a stick while a session had it open: its last changes (the reductions) are only in its
    -wal file. From read-only media the rescue still reads them; when the -wal file cannot be read, the rescue says
    so in one line instead of losing them silently, and does not call its copy complete."""
    copied, stick, out = copied_with_reductions_in_wal(cli, tmp_path)
    before = folder_state(stick)
    with read_only(stick):
        prefix = as_plain_user(stick)
        with_shm = rescue_as(prefix, copied, out / "a.koodari")
    assert with_shm.returncode == 0, with_shm.stderr
    assert "is a complete copy" in with_shm.stdout and folder_state(stick) == before
    (stick / "s.koodari-shm").unlink()  # copied without its -shm file: read from a copy made beside the new study
    before = folder_state(stick)
    with read_only(stick):
        without_shm = rescue_as(prefix, copied, out / "b.koodari")
    assert without_shm.returncode == 0, without_shm.stderr
    assert "is a complete copy" in without_shm.stdout and folder_state(stick) == before
    for name in ("a.koodari", "b.koodari"):
        tree = cli("tree", out / name, "--question", "T1")
        assert tree.exit_code == 0 and "yksinäisyys" in tree.output, name
    assert sorted(p.name for p in out.iterdir()) == ["a.koodari", "b.koodari"]
    with read_only(stick, stick / "s.koodari-wal"):
        unread = rescue_as(prefix, copied, out / "c.koodari")
    assert unread.returncode == 0, unread.stderr
    note = " ".join(unread.stderr.split())
    assert f"note: {copied}-wal could not be read (permission denied)" in note and "are not in" in note
    assert "complete copy" not in unread.stdout and "Traceback" not in unread.stderr
    assert cli("units", out / "c.koodari").exit_code == 0  # the study file's own rows, as a study
    rescued = sqlite3.connect(out / "c.koodari")
    assert rescued.execute("SELECT count(*) FROM reductions").fetchone()[0] == 0
    rescued.close()


def test_a_killed_rescues_private_copy_is_removed_by_the_next(cli, tmp_path):
    """A rescue killed while it read a -wal file from its private copy (a folder beside the new study) left the
    folder behind; the next rescue into that folder removes it, and never a copy whose process still runs."""
    copied, stick, out = copied_with_reductions_in_wal(cli, tmp_path)
    (stick / "s.koodari-shm").unlink()  # the -wal file's changes are read from a private copy beside the new study
    ended = subprocess.Popen([sys.executable, "-c", "pass"])  # a process that has ended: its id names none now
    ended.wait()
    stale = out / f".koodari-{ended.pid}-x1"
    stale.mkdir()
    (stale / "s.koodari").write_bytes(b"a copy left by a killed rescue")
    running = out / f".koodari-{os.getpid()}-x2"  # this test's own process: still running
    running.mkdir()
    done = subprocess.run([sys.executable, "-c", "from koodari.cli import app; app()", "rescue", str(copied),
                           str(out / "new.koodari")], capture_output=True, text=True)
    assert done.returncode == 0 and "is a complete copy" in done.stdout, done.stderr
    assert not stale.exists() and running.exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(["new.koodari", running.name])
