"""Offline stanza lemmatisation behind the normaliser: CLI, cache, spaCy, failure modes."""

import json
import shutil
import socket

import pytest

from koodari.errors import KoodariError
from koodari.nlp.cache import ensure_analysed
from koodari.nlp.pipeline import MODEL_FILES, FinnishPipeline, ModelSource
from koodari.store import Study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline() -> FinnishPipeline:
    return FinnishPipeline()


def test_no_socket_is_opened(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("koodari tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    fresh = FinnishPipeline()
    sentences = fresh.analyse("Se on hirveen tärkee asia. Jokkainen voijaan tietää se.")
    assert len(sentences) == 2


def test_dialect_reaches_the_standard_lemma(pipeline):
    tokens = [t for s in pipeline.analyse("Se on hirveen tärkee asia, jokkainen tietää sen.") for t in s]
    by_text = {t.text: t for t in tokens}
    assert by_text["tärkee"].normalised == "tärkeä"
    assert by_text["tärkee"].lemma == "tärkeä"
    assert by_text["jokkainen"].lemma == "jokainen"
    assert by_text["on"].lemma == "olla"
    assert all(t.start is not None for t in tokens)


def test_compound_lemmas_keep_the_ud_boundary(pipeline):
    tokens = pipeline.analyse_pretokenized([["työvalmentajat", "ohjaavat", "asiakkaita"]])[0]
    assert "#" in tokens[0].lemma and tokens[0].lemma.replace("#", "") == "työvalmentaja"


def test_lemmatise_cli_json(cli):
    result = cli("lemmatise", "--text", "Se on hirveen tärkee. Mä en tiiä.", "--json")
    assert result.exit_code == 0, result.output
    sentences = [json.loads(line) for line in result.output.splitlines()]
    assert len(sentences) == 2
    first = sentences[0]["tokens"]
    assert set(first[0]) == {"text", "start", "end", "normalised", "lemma", "upos"}
    assert [t["text"] for t in first] == ["Se", "on", "hirveen", "tärkee", "."]
    assert first[3] == {"text": "tärkee", "start": 14, "end": 20, "normalised": "tärkeä", "lemma": "tärkeä",
                        "upos": first[3]["upos"]}
    assert sentences[1]["tokens"][0]["normalised"] == "Minä"


def test_lemmatise_cli_pretokenized_file(cli, tmp_path):
    path = tmp_path / "sentences.txt"
    path.write_text("ossaaminen on tärkee\nTe-toimisto , esim. työvoimaneuvojat\n", encoding="utf-8")
    result = cli("lemmatise", "--file", path, "--pretokenized", "--json")
    assert result.exit_code == 0, result.output
    sentences = [json.loads(line)["tokens"] for line in result.output.splitlines()]
    assert [t["text"] for t in sentences[0]] == ["ossaaminen", "on", "tärkee"]
    assert [t["text"] for t in sentences[1]] == ["Te-toimisto", ",", "esim.", "työvoimaneuvojat"]
    assert sentences[0][0]["lemma"] == "osaaminen"


def test_lemmatise_needs_text_or_file(cli):
    result = cli("lemmatise", "--json")
    assert result.exit_code != 0 and "exactly one of --text or --file" in result.output


def test_missing_and_corrupt_models_name_the_path(tmp_path):
    shipped = ModelSource.shipped().path
    copy = tmp_path / "models"
    shutil.copytree(shipped, copy)
    (copy / MODEL_FILES["pos"]).unlink()
    with pytest.raises(KoodariError, match="missing") as missing:
        FinnishPipeline(ModelSource("koodari", copy))
    assert MODEL_FILES["pos"] in str(missing.value)
    (copy / MODEL_FILES["pos"]).write_bytes(b"not a model at all" * 100)
    with pytest.raises(KoodariError, match="corrupt") as corrupt:
        FinnishPipeline(ModelSource("koodari", copy))
    assert MODEL_FILES["pos"] in str(corrupt.value)


def test_official_models_setting(cli, tmp_path, monkeypatch):
    """KOODARI_STANZA_DIR points koodari at stanza's official models; a wrong folder is a clear error."""
    monkeypatch.setenv("KOODARI_STANZA_DIR", str(tmp_path / "stanza_resources"))
    result = cli("lemmatise", "--text", "testi")
    assert result.exit_code != 0
    assert "stanza_resources" in result.output and "does not exist" in result.output
    (tmp_path / "stanza_resources").mkdir()
    result = cli("lemmatise", "--text", "testi")
    assert "no Finnish ('fi') models" in result.output


def test_lemmas_are_cached_per_study(tmp_path, cli, study_path, pipeline):
    path = tmp_path / "h.txt"
    path.write_text("P1: Jokkainen voijaan tietää se kyllä. Se on iso tuo tulo.\nP2: Kiire kuormittaa.\n",
                    encoding="utf-8")
    assert cli("import", study_path, path).exit_code == 0
    with Study.open(study_path) as study:
        calls = pipeline.calls
        assert ensure_analysed(study, pipeline) == 3
        assert pipeline.calls > calls
        calls = pipeline.calls
        assert ensure_analysed(study, pipeline) == 0  # unchanged units: no NLP work at all
        assert pipeline.calls == calls
        row = study.conn.execute("SELECT tokens, normalised, lemmas FROM segment_nlp ORDER BY segment_id").fetchone()
        tokens = json.loads(row["tokens"])
        assert tokens[0]["text"] == "Jokkainen" and tokens[0]["normalised"] == "Jokainen"
        assert "jokainen" in row["lemmas"]
        doc = study.documents()[0]["text"]
        assert all(doc[t["start"]:t["end"]] == t["text"] for t in tokens)
    result = cli("analyse", study_path, "--json")
    report = json.loads(result.output)
    assert (report["analysed"], report["units"]) == (0, 3)


def test_spacy_component():
    import spacy

    nlp = spacy.blank("fi")
    nlp.add_pipe("koodari_finnish")  # found through the spacy_factories entry point
    doc = nlp("Se on hirveen tärkee asia.")
    tokens = {t.text: t for t in doc}
    assert tokens["tärkee"]._.normalised == "tärkeä"
    assert tokens["tärkee"].lemma_ == "tärkeä"
    assert tokens["on"].lemma_ == "olla"
    assert tokens["asia"].pos_ == "NOUN"


def test_many_texts_analysed_in_one_batch_match_each_alone(pipeline):
    """analyse_many tokenises all texts in one stanza call and lemmatises each distinct word once: every
    text still gets exactly the tokens, offsets and lemmas it gets alone."""
    texts = ["Mä oon kotona. Se on hirveen tärkee asia.", "", "  ", "Eka rivi\n\nToka kappale on tässä.",
             "Sana sana sanoja, sanoja.", "Hei!"]
    batched = pipeline.analyse_many(texts)
    assert len(batched) == len(texts)
    for text, tokens in zip(texts, batched, strict=True):
        assert tokens == [t for s in pipeline.analyse(text) for t in s]
        assert all(text[t.start : t.end] == t.text for t in tokens)
    assert [t.text for t in batched[3]] == ["Eka", "rivi", "Toka", "kappale", "on", "tässä", "."]
