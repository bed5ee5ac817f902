"""Analysing an archive on Dask, resumably, with one writer; importing folders of transcripts.

The slow tests run real stanza models in real worker processes (LocalCluster, or `dask scheduler` and
`dask worker` started as programs) and kill them with SIGKILL the way a crash or an operator would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from koodari.cli import app
from tests.conftest import ROOT
from tests.studies import copy_study

QUOTES = [json.loads(line)["text"] for line in (ROOT / "corpora/kainuu-2012/quotes.jsonl").open(encoding="utf-8")]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
BIN = Path(sys.executable).parent


def transcript(quotes: list[str]) -> str:
    """A transcript of real (dialectal) interview quotes, with an interviewer line now and then."""
    lines = []
    for i, quote in enumerate(quotes):
        if i % 5 == 0:
            lines.append("H: Kerro lisää siitä.")
        lines.append(f"V: {quote}")
    return "\n\n".join(lines) + "\n"


def make_study(folder: Path, name: str, quotes_per_file: int, files: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(files):
        path = folder / f"{name}-{k}.txt"
        path.write_text(transcript(QUOTES[k::files][:quotes_per_file]), encoding="utf-8")
        paths.append(path)
    study = folder / f"{name}.koodari"
    run = CliRunner()
    assert run.invoke(app, ["init", str(study)]).exit_code == 0
    result = run.invoke(app, ["import", str(study), *map(str, paths)])
    assert result.exit_code == 0, result.output
    return study


def analyses(study: Path) -> list[tuple]:
    conn = sqlite3.connect(study)
    try:
        return conn.execute(
            "SELECT segment_id, pipeline, tokens, normalised, lemmas FROM segment_nlp ORDER BY segment_id").fetchall()
    finally:
        conn.close()


def committed(study: Path) -> int:
    conn = sqlite3.connect(study, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM segment_nlp").fetchone()[0]
    finally:
        conn.close()


def units(study: Path) -> int:
    conn = sqlite3.connect(study)
    try:
        return conn.execute("SELECT count(*) FROM segments").fetchone()[0]
    finally:
        conn.close()


def koodari(*args: str | Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "koodari"), *map(str, args)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(processes: list[subprocess.Popen]) -> None:
    """End what this test started (and their children), by process id."""
    for proc in processes:
        if proc.poll() is None:
            children = psutil.Process(proc.pid).children(recursive=True)
            proc.kill()
            for child in children:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            proc.wait(timeout=30)


def worker_processes(parent: int) -> list[psutil.Process]:
    """Dask worker processes spawned by a nanny (or a LocalCluster) in process ``parent``."""
    found = []
    for child in psutil.Process(parent).children():
        cmd = " ".join(child.cmdline())
        if "spawn_main" in cmd and "resource_tracker" not in cmd:
            found.append(child)
    return found


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, list[tuple]]:
    """Three short transcripts, analysed in-process by `koodari analyse` (the result every run must equal)."""
    study = make_study(tmp_path_factory.mktemp("archive"), "ref", quotes_per_file=12)
    template = copy_study(study, study.with_name("template.koodari"))
    result = CliRunner().invoke(app, ["analyse", str(study), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["analysed"] == report["units"] == units(study) > 30 and report["failed"] == []
    return template, analyses(study)


@pytest.mark.slow
def test_in_process_run_stores_what_the_nlp_cache_stores(reference, tmp_path):
    from koodari.nlp.cache import ensure_analysed
    from koodari.nlp.pipeline import FinnishPipeline
    from koodari.store import Study

    template, expected = reference
    study = copy_study(template, tmp_path / "cache.koodari")
    with Study.open(study) as s:
        ensure_analysed(s, FinnishPipeline())
    assert analyses(study) == expected


@pytest.mark.slow
def test_local_cluster_matches_in_process_token_for_token(reference, tmp_path, cli):
    template, expected = reference
    study = copy_study(template, tmp_path / "two.koodari")
    result = cli("analyse", study, "--workers", "2", "--batch-tokens", "60", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert analyses(study) == expected
    assert report["analysed"] == len(expected) and report["failed"] == []
    # two worker processes, each loaded the models once, however many batches it analysed
    assert report["batches"] >= 6
    assert report["worker_processes"] == 2 and report["model_loads"] == 2
    again = json.loads(cli("analyse", study, "--workers", "2", "--json").output)
    assert again["analysed"] == 0 and again["batches"] == 0  # nothing left: no cluster work at all


@pytest.mark.slow
def test_killed_client_loses_only_batches_in_flight_and_resume_redoes_no_committed_unit(reference, tmp_path):
    template, expected = reference
    study = copy_study(template, tmp_path / "killed.koodari")
    run = koodari("analyse", study, "--batch-tokens", "5")
    try:
        wait_until(lambda: committed(study) >= 3 or run.poll() is not None, 120, "the first batches")
        assert run.poll() is None, "the run ended before it could be killed"
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        stop([run])
    done = committed(study)
    assert 3 <= done < len(expected)
    resumed = koodari("analyse", study, "--json")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert json.loads(out)["analysed"] == len(expected) - done  # committed units are not analysed again
    assert analyses(study) == expected


@pytest.mark.slow
def test_external_cluster_survives_a_killed_worker_and_a_killed_scheduler_loses_only_batches_in_flight(
        reference, tmp_path):
    template, expected = reference
    study = copy_study(template, tmp_path / "cluster.koodari")
    address = f"tcp://127.0.0.1:{free_port()}"
    port = address.rsplit(":", 1)[1]
    started: list[subprocess.Popen] = []
    try:
        scheduler = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", port,
                                      "--no-dashboard"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(scheduler)
        worker = subprocess.Popen([str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1",
                                   "--no-dashboard"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(worker)
        run = koodari("analyse", study, "--scheduler", address, "--batch-tokens", "3")
        started.append(run)
        wait_until(lambda: committed(study) >= 3 or run.poll() is not None, 180, "the first batches")
        assert run.poll() is None, run.stderr.read()
        # kill -9 the worker process: its nanny starts a new one, the scheduler hands the lost batch to it
        (victim,) = worker_processes(worker.pid)
        victim.send_signal(signal.SIGKILL)
        before = committed(study)
        wait_until(lambda: committed(study) >= before + 3 or run.poll() is not None, 180, "the replaced worker")
        assert run.poll() is None, run.stderr.read()
        assert [p.pid for p in worker_processes(worker.pid)] != [victim.pid]
        # kill -9 the scheduler: the client stops with one line; everything committed stays
        scheduler.send_signal(signal.SIGKILL)
        out, err = run.communicate(timeout=60)
        assert run.returncode != 0
        assert err.strip().splitlines() == [err.strip().splitlines()[-1]], err  # one line, no traceback
        assert "lost the connection to the Dask scheduler" in err and "run `koodari analyse` again" in err
    finally:
        stop(started)
    done = committed(study)
    assert done < len(expected)
    resumed = koodari("analyse", study, "--json")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert json.loads(out)["analysed"] == len(expected) - done
    assert analyses(study) == expected  # identical, token for token, to one uninterrupted in-process run


@pytest.mark.slow
def test_a_unit_that_cannot_be_analysed_is_reported_and_skipped(tmp_path, cli):
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "good.txt").write_text("H: Mitä kuuluu?\n\nV: Se on hirveen tärkee asia. Jokkainen tietää sen.\n",
                                     encoding="utf-8")
    (folder / "dump.txt").write_text("V: Alku on tässä.\n\nV: " + "sana toinen kolmas " * 55_000 + "\n\n"
                                     "V: Loppu on hyvä.\n", encoding="utf-8")
    study = tmp_path / "s.koodari"
    assert cli("init", study).exit_code == 0
    assert cli("import", study, folder).exit_code == 0
    result = cli("analyse", study, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.splitlines()[-1])
    conn = sqlite3.connect(study)
    big = conn.execute("SELECT id FROM segments WHERE length(text) > 1000000").fetchone()[0]
    (failure,) = report["failed"]
    assert failure["unit"] == big and failure["document"] == "dump.txt" and "characters" in failure["reason"]
    analysed = {r[0] for r in conn.execute("SELECT segment_id FROM segment_nlp")}
    assert analysed == {r[0] for r in conn.execute("SELECT id FROM segments")} - {big}
    conn.close()


def test_a_scheduler_that_does_not_answer_is_one_line_within_ten_seconds(tmp_path, cli):
    study = tmp_path / "s.koodari"
    assert cli("init", study).exit_code == 0
    (tmp_path / "t.txt").write_text("V: Se on tärkee asia.\n", encoding="utf-8")
    assert cli("import", study, tmp_path / "t.txt").exit_code == 0
    started = time.monotonic()
    result = cli("analyse", study, "--scheduler", f"tcp://127.0.0.1:{free_port()}")
    assert time.monotonic() - started < 10
    assert result.exit_code != 0
    (line,) = result.output.strip().splitlines()
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:" in line
    both = cli("analyse", study, "--workers", "1", "--scheduler", "tcp://127.0.0.1:8786")
    assert both.exit_code != 0 and "not both" in both.output


# -- importing a folder --------------------------------------------------------------------------

VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Haastattelija>Mitä kuuluu?\n\n" \
      "00:00:05.000 --> 00:00:09.000\n<v V>Hyvää kuuluu, kiitos.\n"
SRT = "1\n00:00:01,000 --> 00:00:03,000\nH: Kerro työstäsi.\n\n2\n00:00:04,000 --> 00:00:08,000\nV: Teen töitä.\n"


def archive_folder(root: Path) -> Path:
    folder = root / "archive"
    (folder / "2012" / "kesä").mkdir(parents=True)
    (folder / ".git").mkdir()
    (folder / "a.txt").write_text("H: Mitä kuuluu?\n\nV: Se on hirveen tärkee asia.\n", encoding="utf-8")
    (folder / "2012" / "b.vtt").write_text(VTT, encoding="utf-8")
    (folder / "2012" / "kesä" / "c.srt").write_text(SRT, encoding="utf-8")
    (folder / "2012" / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (folder / "2012" / "kesä" / "empty.txt").write_bytes(b"")
    (folder / "2012" / "nocues.vtt").write_text("WEBVTT\n\njust text\n", encoding="utf-8")
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4")
    (folder / ".git" / "HEAD.txt").write_text("ref", encoding="utf-8")
    return folder


def test_import_a_folder_recursively_refusing_bad_files_and_keeping_the_rest(tmp_path, cli, study_path):
    folder = archive_folder(tmp_path)
    result = cli("import", study_path, folder, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["documents"] == 3 and summary["ignored"] == 1
    refused = {Path(r["file"]).name: r["reason"] for r in summary["refused"]}
    assert refused == {"broken.docx": "not a valid .docx file (BadZipFile)", "empty.txt": "file is empty",
                       "nocues.vtt": "no cues with timestamps found in this .vtt file"}
    conn = sqlite3.connect(study_path)
    names = sorted(r[0] for r in conn.execute("SELECT name FROM documents"))
    assert names == ["a.txt", "b.vtt", "c.srt"]  # nothing of a refused file; nothing from hidden folders
    assert conn.execute("SELECT count(*) FROM segments").fetchone()[0] == summary["segments"] >= 6
    conn.close()
    again = json.loads(cli("import", study_path, folder, "--json").output.strip().splitlines()[-1])
    assert again["documents"] == 0 and again["already_imported"] == 3


@pytest.mark.slow
def test_import_a_folder_shows_progress_for_files_and_tokens_in_a_terminal(tmp_path, study_path):
    import pexpect

    folder = archive_folder(tmp_path)
    child = pexpect.spawn(str(BIN / "koodari"), ["import", str(study_path), str(folder), "--analyse"], env=ENV,
                          encoding="utf-8", dimensions=(40, 160), timeout=120)
    child.expect(r"importing \(files\).*6/6")
    child.expect("refused 3 files")
    child.expect(r"broken\.docx: not a valid \.docx file")
    child.expect(r"analysing \(words\).*\d+ tokens")
    child.expect(r"imported \S*3\S* documents.*analysed \S*\d+\S* units")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    conn = sqlite3.connect(study_path)
    assert conn.execute("SELECT count(*) FROM segment_nlp").fetchone()[0] == \
        conn.execute("SELECT count(*) FROM segments").fetchone()[0] >= 6
    conn.close()
