"""The dialect model's n-best forms and forced scores in numpy (koodari.nlp.dialect_beam, Seq2SeqLemmatiser.nbest
and .score): the torch reference's results, sane n-best lists, no torch, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from koodari.errors import KoodariError
from koodari.nlp.dialect_beam import BeamModel
from koodari.nlp.dialect_model import EXPORTED_NAME, MODEL_NAME
from koodari.nlp.resources import normaliser_dir

ROOT = Path(__file__).resolve().parent.parent
# spoken forms the normaliser meets (lower-cased, as it asks), one with δ, one the model keeps, one never seen
WORDS = ["mennään", "ahistamaan", "niihen", "meijän", "tuota", "mettään", "kahtoo", "pualet", "elämäki", "poekkennik",
         "siäl", "lämpymii", "leevottu", "anttak", "tδä", "on", "ja", "se", "qxzzy", "Baljon"]


def same_nbest(ours: list[tuple[str, float]], theirs: list[tuple[str, float]], tie: float = 1e-5) -> bool:
    """The same forms in the same order with log-probabilities within 1e-4, where float32 rounding may only swap
    two forms (or the k-th) whose log-probabilities are within ``tie`` of each other."""
    mine, other = dict(ours), dict(theirs)
    if any(abs(mine[f] - other[f]) >= 1e-4 for f in mine.keys() & other.keys()):
        return False
    if len(ours) != len(theirs):
        return False
    return all(a == b or abs(x - y) < tie for (a, x), (b, y) in zip(ours, theirs, strict=True))


@pytest.fixture(scope="module")
def beam() -> BeamModel:
    return BeamModel(normaliser_dir() / MODEL_NAME)


def _skn_sample(every: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Every ``every``-th distinct dialect word and (dialect, standard) pair of the shipped SKN lexicon (SKN dev's
    pairs, lower-cased)."""
    lines = (normaliser_dir() / "skn-lexicon.tsv").read_text(encoding="utf-8").splitlines()
    pairs = sorted({(f[0].lower(), f[1].lower()) for f in (line.split("\t") for line in lines[1:]) if len(f) > 1})
    return sorted({d for d, _ in pairs})[::every], pairs[::every]


@pytest.mark.slow
def test_numpy_gives_the_torch_references_nbest_and_scores(beam):
    """On a sample of SKN words and pairs (and the odd words above), the same forms in the same order as the torch
    version (bench/dialect_beam_torch.py over stanza's model), and the same log-probabilities."""
    sys.path.insert(0, str(ROOT))
    from bench.dialect_beam_torch import BeamModel as TorchBeamModel

    words, pairs = _skn_sample(60)
    words += WORDS
    pairs += [(w, w.capitalize()) for w in WORDS] + [("mettään", ""), ("niihen", "niihin")]
    torch_beam = TorchBeamModel(normaliser_dir() / MODEL_NAME)
    for k in (5, 2):
        ours, theirs = beam.nbest(words, k), torch_beam.nbest(words, k)
        assert list(ours) == list(theirs)  # the same words in the same order
        exact = [[f for f, _ in ours[w]] == [f for f, _ in expected] for w, expected in theirs.items()]
        assert sum(exact) >= len(exact) - 1  # float32 rounding may swap two forms within 1e-5 of each other
        for word, expected in theirs.items():
            assert same_nbest(ours[word], expected), (word, ours[word], expected)
    assert beam.score(pairs) == pytest.approx(torch_beam.score(pairs), abs=1e-4)


def test_nbest_lists_are_sorted_within_k_and_keep_the_word(beam):
    """At most k forms, best first, no empty or <UNK> form, and the word itself among them (the edit classifier's
    'keep': the words here are ones the model keeps or nearly so); a form's n-best score is its forced score."""
    lists = beam.nbest(WORDS + WORDS[:3], k=4)
    assert sorted(lists) == sorted(set(WORDS))
    for word, forms in lists.items():
        scores = [s for _, s in forms]
        assert 1 <= len(forms) <= 4 and scores == sorted(scores, reverse=True), word
        assert all(f and "<UNK>" not in f and s <= 0 for f, s in forms), word
        assert len({f for f, _ in forms}) == len(forms), word
    for word in ("on", "ja", "se", "tuota"):
        assert lists[word][0][0] == word  # kept as it is, first
    assert "Baljon" in dict(lists["Baljon"])  # a capital the model never saw: only 'keep' can give the word back
    assert lists["pualet"][0][0] == "puolet" and lists["siäl"][0][0] == "siellä" and "metsään" in dict(lists["mettään"])
    assert [f for f, _ in lists["qxzzy"]] == ["qxzzy"]  # q, x, z: never seen, so only 'keep'
    rewrites = [(w, f) for w, forms in lists.items() for f, _ in forms if f != w]
    scored = dict(zip(rewrites, beam.score(rewrites), strict=True))
    for (word, form), forced in scored.items():
        assert dict(lists[word])[form] == pytest.approx(forced, abs=1e-4), (word, form)
    assert len(beam.nbest(["mettään"], k=1)["mettään"]) == 1
    assert beam.nbest([], k=5) == {} and beam.score([]) == []


def test_scores_rank_the_standard_form_above_a_wrong_one(beam):
    """Forced scores are log-probabilities: the standard form scores above a garbled one, all below zero."""
    right, wrong, odd = beam.score([("mettään", "metsään"), ("mettään", "mätsään"), ("mettään", "Metsään")])
    assert wrong < right < 0 and odd < right


def test_shared_between_threads(beam):
    """Calls from several threads at once give what one thread gets."""
    expected = beam.nbest(WORDS, 3)
    results: list[dict] = []
    threads = [threading.Thread(target=lambda: results.append(beam.nbest(WORDS, 3))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


def test_beam_model_imports_no_torch():
    """A fresh process asks for n-best forms and scores: neither torch nor stanza is imported."""
    code = ("import json, sys\n"
            "from koodari.nlp.dialect_beam import BeamModel\n"
            "from koodari.nlp.resources import normaliser_dir\n"
            "beam = BeamModel(normaliser_dir() / 'skn-seq2seq.pt')\n"
            "best = beam.nbest(['pualet'], 3)['pualet'][0][0]\n"
            "score = beam.score([('mettään', 'metsään')])[0]\n"
            "print(json.dumps([best, score < 0, 'torch' in sys.modules, 'stanza' in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["puolet", True, False, False]


def test_missing_or_damaged_export_is_a_one_line_error(tmp_path):
    """The checkpoint without its export, or a damaged export: one line naming the export, on first use."""
    shutil.copy(normaliser_dir() / MODEL_NAME, tmp_path / MODEL_NAME)
    with pytest.raises(KoodariError, match="missing") as missing:
        BeamModel(tmp_path / MODEL_NAME).nbest(["mettään"])
    assert EXPORTED_NAME in str(missing.value) and "\n" not in str(missing.value)
    (tmp_path / EXPORTED_NAME).write_bytes((normaliser_dir() / EXPORTED_NAME).read_bytes()[:40_000])
    for model in (BeamModel(tmp_path / MODEL_NAME), BeamModel(tmp_path / EXPORTED_NAME)):
        with pytest.raises(KoodariError, match="damaged") as damaged:
            model.score([("mettään", "metsään")])
        assert str(tmp_path / EXPORTED_NAME) in str(damaged.value) and "\n" not in str(damaged.value)
