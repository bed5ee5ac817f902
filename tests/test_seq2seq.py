"""Lemmatising without torch: the numpy port of stanza's seq2seq lemmatizer (koodari.nlp.seq2seq) and its exports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from koodari.errors import KoodariError
from koodari.nlp.dialect_model import EXPORTED_NAME, MODEL_NAME, DialectModel, shipped_model
from koodari.nlp.pipeline import EXPORTED_FILES, FinnishPipeline, ModelSource
from koodari.nlp.resources import normaliser_dir, stanza_dir
from koodari.nlp.seq2seq import Seq2SeqLemmatiser

ROOT = Path(__file__).resolve().parent.parent
LEMMATIZER = stanza_dir() / EXPORTED_FILES["lemma"]

# dialect and standard sentences, and each token's lemma as koodari gave it with stanza's lemmatizer (commit 3ead02b)
SENTENCES = [
    "Mä oon ollu siellä kotona koko päivän .",
    "Se on hirveen tärkee asia , jokkainen tietää sen .",
    "meijän mummo ahisti niihen kotonansa",
    "Työvalmentajat ohjaavat asiakkaita TE-toimistoon .",
    "kyllä se semmosta tuota oli ku mentiin sinne mettään",
]
BEFORE = [
    ["minä", "olla", "olla", "siellä", "kotona", "koko", "päivä", "."],
    ["se", "olla", "hirveä", "tärkeä", "asia", ",", "jokainen", "tietää", "se", "."],
    ["minä", "mummo", "ahdistaa", "se", "koto"],
    ["työ#valmentaja", "ohjata", "asiakas", "T##toimisto", "."],
    ["kyllä", "se", "semmoinen", "tuo", "olla", "kun", "mennä", "sinne", "metsä"],
]

PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps({"torch": "torch" in sys.modules, "stanza": "stanza" in sys.modules}),
                              file=sys.stderr))
from koodari.cli import app
sys.argv = ["koodari", *sys.argv[1:]]
app()
"""


@pytest.mark.slow
def test_cli_lemmatises_as_before_without_torch(tmp_path):
    """`koodari lemmatise --pretokenized` in a fresh process: stanza's lemmas, and neither torch nor stanza loaded."""
    path = tmp_path / "sentences.txt"
    path.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KOODARI_STANZA_DIR", None)
    done = subprocess.run([sys.executable, "-c", PROBE, "lemmatise", "--pretokenized", "--file", str(path), "--json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    lemmas = [[t["lemma"] for t in json.loads(line)["tokens"]] for line in done.stdout.splitlines()]
    assert lemmas == BEFORE
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    assert modules == {"torch": False, "stanza": False}


@pytest.fixture(scope="module")
def numpy_lemmatizer() -> Seq2SeqLemmatiser:
    return Seq2SeqLemmatiser.load(LEMMATIZER)


@pytest.mark.slow
def test_numpy_and_stanza_agree(numpy_lemmatizer):
    """The same lemma from numpy and from stanza over the checkpoint, with the dictionary and with the seq2seq alone,
    for the lemmatizer (words of the seed corpus with several UPOS) and the dialect model (SKN-like words)."""
    from koodari.nlp.loader import stanza_pipeline
    from koodari.nlp.pipeline import stanza_lemmas

    def stanza(checkpoint: Path, ensemble: bool):
        return stanza_pipeline(lang="fi", processors="tokenize,lemma", dir=str(stanza_dir()),
                               tokenize_model_path=str(stanza_dir() / "fi_koodari_tokenizer.pt"),
                               lemma_model_path=str(checkpoint), lemma_ensemble_dict=ensemble,
                               tokenize_pretokenized=True, download_method=None, use_gpu=False,
                               logging_level="ERROR", allow_unknown_language=True)

    quotes = (ROOT / "corpora" / "kainuu-2012" / "quotes.jsonl").read_text(encoding="utf-8").splitlines()
    words = sorted({w.strip(".,?!-–") for q in quotes[:40] for w in json.loads(q)["text"].split()} - {""})
    words += ["Kajaanissa", "TE-toimistoon", "työvoimaneuvojat", "ß-testi", "ⅷ", "öljyä123", "x" * 60]
    pairs = [(w, u) for w in words for u in ("NOUN", "VERB", "ADJ", "PROPN", "??")]
    checkpoint = stanza_dir() / "fi_koodari_lemmatizer.pt"
    assert numpy_lemmatizer.lemmatise(pairs) == stanza_lemmas(stanza(checkpoint, True), pairs)
    seq2seq = numpy_lemmatizer.predict([w for w, _ in pairs], [u for _, u in pairs])
    assert seq2seq == stanza_lemmas(stanza(checkpoint, False), pairs)
    assert sum(a != b for a, b in zip(seq2seq, numpy_lemmatizer.lemmatise(pairs), strict=True)) > 50  # both used

    dialect = DialectModel(normaliser_dir() / EXPORTED_NAME)
    spoken = ["mennään", "ahistamaan", "niihen", "meijän", "tuota", "mettään", "kahtoo", "pualet", "Elämäki", "δ"]
    spoken += [w.lower() for w in words[:150]]
    theirs = [(w.lemma or w.text).lower() for s in stanza(normaliser_dir() / MODEL_NAME, True)(
        _document(spoken)).sentences for w in s.words]
    assert dialect.guess(spoken) == theirs


def _document(words: list[str]):
    from koodari.nlp.loader import stanza_document

    return stanza_document([[{"id": (i,), "text": w, "upos": "X"} for i, w in enumerate(words, start=1)]])


def test_dictionary_lookup_as_stanza(numpy_lemmatizer):
    """The training dictionary: the (word, UPOS) entry first, then the word's; None for an unseen word."""
    pos_dict = numpy_lemmatizer.pos_dict
    word, lemma = next((w, lem) for w, lem in pos_dict["VERB"].items() if pos_dict["*"].get(w) not in (None, lem))
    assert numpy_lemmatizer.lookup(word, "VERB") == lemma
    assert numpy_lemmatizer.lookup(word, "NOUN") == pos_dict["*"][word]
    assert numpy_lemmatizer.lookup("ahistamaanpa", "VERB") is None
    assert numpy_lemmatizer.lemmatise([("on", "AUX"), ("", "X")]) == ["olla", "_"]


def _one_line(error: pytest.ExceptionInfo, name: str) -> None:
    assert name in str(error.value) and "\n" not in str(error.value)


def test_damaged_or_missing_exports_are_one_line_errors(tmp_path):
    """A missing, truncated or tampered export is refused in one line naming the file, before any analysis."""
    copy = tmp_path / "stanza"
    shutil.copytree(stanza_dir(), copy)
    exported = copy / EXPORTED_FILES["lemma"]

    exported.write_bytes(LEMMATIZER.read_bytes()[: 50_000])  # a cut-off download
    with pytest.raises(KoodariError, match="corrupt") as corrupt:
        FinnishPipeline(ModelSource("koodari", copy))
    _one_line(corrupt, exported.name)

    with np.load(LEMMATIZER, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "dec2vocab.weight"}
    np.savez(exported, **arrays)  # a readable archive that lacks a weight
    with pytest.raises(KoodariError, match="damaged") as damaged:
        FinnishPipeline(ModelSource("koodari", copy))._lemma_trainer  # noqa: B018  # loaded on first use
    _one_line(damaged, exported.name)

    arrays["meta.json"] = np.frombuffer(b"{not json", dtype=np.uint8)
    np.savez(exported, **arrays)
    with pytest.raises(KoodariError, match="damaged") as garbled:
        Seq2SeqLemmatiser.load(exported)
    _one_line(garbled, exported.name)

    exported.unlink()
    with pytest.raises(KoodariError, match="missing") as missing:
        FinnishPipeline(ModelSource("koodari", copy))
    _one_line(missing, exported.name)
    assert "export_seq2seq.py" in str(missing.value)


def test_dialect_model_without_its_export_is_refused(tmp_path):
    """A normaliser folder with the dialect checkpoint but no export names the missing file; no model at all is
    fine (the normaliser works without a learned model); a damaged export fails in one line on first use."""
    assert shipped_model(tmp_path) is None
    shutil.copy(normaliser_dir() / MODEL_NAME, tmp_path / MODEL_NAME)
    with pytest.raises(KoodariError, match="missing") as missing:
        shipped_model(tmp_path)
    _one_line(missing, EXPORTED_NAME)
    (tmp_path / EXPORTED_NAME).write_bytes(b"PK\x03\x04 not really a zip" * 10)
    with pytest.raises(KoodariError, match="damaged") as damaged:
        shipped_model(tmp_path).guess(["mennään"])
    _one_line(damaged, EXPORTED_NAME)


def test_fingerprint_covers_the_export(tmp_path):
    """A re-exported lemmatizer with other weights changes the pipeline's id (cached analyses go stale)."""
    sys.path.insert(0, str(ROOT / "models"))
    from export_seq2seq import write_npz

    copy = tmp_path / "stanza"
    shutil.copytree(stanza_dir(), copy)
    before = ModelSource("koodari", copy).fingerprint()
    with np.load(LEMMATIZER, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["dec2vocab.bias"] = arrays["dec2vocab.bias"] + np.float32(0.5)
    write_npz(copy / EXPORTED_FILES["lemma"], arrays)
    assert ModelSource("koodari", copy).fingerprint() != before
    assert ModelSource.shipped().fingerprint() == before  # same files, same id


@pytest.mark.slow
def test_spacy_loads_without_torch_and_torch_still_imports_later():
    """spaCy's Finnish tagger loads with torch hidden; stanza (tagger="stanza", official models) can still import
    torch afterwards in the same process."""
    code = ("import sys\n"
            "from koodari.nlp.loader import spacy_load\n"
            "from koodari.nlp.pipeline import SPACY_LOAD_EXCLUDE, SPACY_MODEL\n"
            "nlp = spacy_load(SPACY_MODEL, SPACY_LOAD_EXCLUDE)\n"
            "print('torch' in sys.modules, [t.pos_ for t in nlp('Se on tärkeä asia .')])\n"
            "import torch\n"
            "print(float(torch.ones(2).sum()))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["False ['PRON', 'AUX', 'ADJ', 'NOUN', 'PUNCT']", "2.0"]
