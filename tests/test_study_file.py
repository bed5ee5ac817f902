"""The study file itself: damaged, read-only, or created on a full disk — one line, nothing lost."""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
from pathlib import Path

from tests.test_review import KOODARI


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line_error(result) -> str:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_a_damaged_study_is_refused_for_reading_and_writing(seed_study, cli, tmp_path):
    size = seed_study.stat().st_size
    page = 4096
    with seed_study.open("r+b") as fh:  # random bytes over three pages in the middle of the file
        fh.seek((size // 2) // page * page)
        fh.write(os.urandom(3 * page))
    before = digest(seed_study)
    message = one_line_error(cli("export", seed_study, "csv", tmp_path / "out.csv"))
    assert "damaged" in message and "backup" in message
    transcript = tmp_path / "t.txt"
    transcript.write_text("T8\n\nH: Mitä?\nP1: Te-toimisto on tärkee.\n", encoding="utf-8")
    assert "damaged" in one_line_error(cli("import", seed_study, transcript))
    assert digest(seed_study) == before
    assert not (tmp_path / "out.csv").exists()


def test_a_read_only_study_can_be_read_but_not_changed(study_path, cli, tmp_path):
    transcript = tmp_path / "t.txt"
    transcript.write_text("T1\n\nH: Mitä?\nP1: Kiire on hirvee.\n", encoding="utf-8")
    study_path.chmod(0o444)
    before = digest(study_path)
    assert cli("units", study_path, "--json").exit_code == 0
    assert "read-only" in one_line_error(cli("import", study_path, transcript))
    assert digest(study_path) == before
    study_path.chmod(0o644)
    assert cli("import", study_path, transcript).exit_code == 0


def test_init_on_a_full_disk_leaves_nothing_behind(tmp_path):
    target = tmp_path / "new.koodari"

    def small_disk() -> None:  # writes past 16 KB fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))

    out = subprocess.run([KOODARI, "init", str(target)], capture_output=True, text=True, preexec_fn=small_disk,
                         timeout=120)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "cannot create the study" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    out = subprocess.run([KOODARI, "init", str(target)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([KOODARI, "units", str(target), "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
