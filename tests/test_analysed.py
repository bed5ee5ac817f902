"""The one analysed-text type: its cache format (old rows still load), its views, the staged pipeline, the one
cache, and the NLP layer's imports."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from koodari.agreement import CodingTable, _analyse_table_units
from koodari.nlp.analysed import AnalysedText, AnalysedToken
from koodari.nlp.cache import analyse_texts, analyse_units, text_key
from koodari.nlp.pipeline import FinnishPipeline
from koodari.store import Study

NLP = Path(__file__).resolve().parent.parent / "koodari" / "nlp"

# a unit's analysis as koodari 0.1 stored it in segment_nlp: a JSON list of token objects, offsets into the
# document; the last object is as hand-made rows and the oldest versions wrote it (no UPOS, no offsets)
OLD_ROW = [
    {"text": "Jokkainen", "normalised": "Jokainen", "lemma": "jokainen", "upos": "PRON", "start": 4, "end": 13},
    {"text": "tykkää", "normalised": "tykkää", "lemma": "tykätä", "upos": "VERB", "start": 14, "end": 20},
    {"text": "työ#valmentajasta", "lemma": "työ#valmentaja"},
    {"text": ".", "normalised": ".", "lemma": ".", "upos": "PUNCT", "start": 38, "end": 39},
]


def test_json_roundtrip_and_the_views_the_features_read():
    text = AnalysedText.from_json(OLD_ROW, "Jokkainen tykkää työvalmentajasta.", offset=4)
    assert AnalysedText.from_json(text.to_json(), text.text, 4) == text
    assert json.loads(text.to_json())[0] == OLD_ROW[0]  # the stored format is unchanged
    assert text.tokens[2] == AnalysedToken("työ#valmentajasta", "", "työ#valmentaja", "X")
    # content lemmas: stop lemmas (jokainen is content, se would not be) and punctuation left out, '#' kept
    assert text.lemma_text == "jokainen tykätä työ#valmentaja"
    assert text.words[2] == ("työ#valmentajasta", "työ#valmentajasta", "työvalmentaja")
    assert text.normalised_text == "jokainen tykkää työ#valmentajasta ."
    assert text.relative().tokens[0].start == 0 and text.relative().text[0:9] == "Jokkainen"
    joined = AnalysedText.join([text, AnalysedText.from_json([{"text": "ja", "lemma": "ja"}], "ja")])
    assert joined.words == text.words and joined.text.endswith(" ja")  # `ja` is a stop lemma
    assert hash(joined) == hash(AnalysedText.join([text, AnalysedText.from_json([{"text": "ja", "lemma": "ja"}],
                                                                                 "ja")]))


def test_old_cached_rows_still_load(cli, tmp_path):
    """Rows cached by an earlier koodari (the same pipeline version) load as they are: no NLP work."""
    path = tmp_path / "s.koodari"
    assert cli("init", path).exit_code == 0
    (tmp_path / "h.txt").write_text("P1: Jokkainen tykkää työvalmentajasta.\n", encoding="utf-8")
    assert cli("import", path, tmp_path / "h.txt").exit_code == 0
    pipeline = FinnishPipeline()  # models are not loaded until something is analysed
    with Study.open(path) as study:
        unit = study.units_for_search()[0]
        study.store_analyses(pipeline.id, [(unit["id"], json.dumps(OLD_ROW), "", "")])
        [analysed] = analyse_units(study, pipeline, [unit["id"]])
        assert analysed.text == unit["text"] and analysed.lemma_text == "jokainen tykätä työ#valmentaja"
        assert analysed.text[analysed.tokens[0].start - analysed.offset :][:9] == "Jokkainen"
        [free] = analyse_texts(study, pipeline, [unit["text"]])  # the same words as free text: the unit's row
        assert free.tokens[0].start == 0 and free.lemma_text == analysed.lemma_text
        assert analyse_units(study, pipeline, [10_000]) == [AnalysedText("")]
    assert pipeline.calls == 0 and "_tagger" not in pipeline.__dict__


@pytest.mark.slow
def test_the_pipeline_is_a_sequence_of_named_stages():
    pipeline = FinnishPipeline()
    assert pipeline.pipe_names == ["tokenise", "normalise", "tag", "backoff", "morphology", "written"]
    assert FinnishPipeline(dictionary_backoff=False, morphology=False).pipe_names == ["tokenise", "normalise", "tag",
                                                                                     "written"]
    texts = ["Mä oon hirveen tärkee.", "Niinku ei oo.", ""]
    analysed = pipeline.pipe(texts)
    assert [list(a.tokens) for a in analysed] == pipeline.analyse_many(texts)
    assert analysed[0] == pipeline(texts[0]) and analysed[2] == AnalysedText("")
    first = analysed[0].tokens
    assert [t.normalised for t in first[:4]] == ["Minä", "olen", "hirveän", "tärkeä"]
    assert all(texts[0][t.start : t.end] == t.spoken for t in first)
    # a form the normaliser makes two words keeps one token with a lemma and a tag per word
    niinku = analysed[1].tokens[0]
    assert niinku.normalised == "Niin kuin" and len(niinku.lemma.split()) == 2 and "+" in niinku.upos


@pytest.mark.slow
def test_each_coded_text_is_analysed_once_in_one_cache(cli, tmp_path):
    """The model as a coder: study units come from the unit cache, other coded texts from the text cache; no text
    is analysed into both."""
    path = tmp_path / "s.koodari"
    assert cli("init", path).exit_code == 0
    (tmp_path / "h.txt").write_text("P1: Kiire kuormittaa.\nP2: Kela maksaa tuen.\n", encoding="utf-8")
    assert cli("import", path, tmp_path / "h.txt").exit_code == 0
    pipeline = FinnishPipeline()
    with Study.open(path) as study:
        units = study.units_for_search()
        table = CodingTable("sub", ["anna", "ben"])
        for row in units:
            table.texts[f"S{row['id']}"] = row["text"]
        table.texts["R1"] = "Asunto on tärkeä."  # an imported coding with no study unit
        analysed = _analyse_table_units(study, pipeline, table, sorted(table.texts))
        assert {u: a.text for u, a in analysed.items()} == table.texts
        assert analysed[f"S{units[1]['id']}"].offset > 0  # offsets into the document: from the unit cache
        cached = study.text_analyses(pipeline.id, [text_key(t) for t in table.texts.values()])
        assert list(cached) == [text_key("Asunto on tärkeä.")]
        assert all(r["tokens"] is not None for r in study.unit_analyses(pipeline.id, [r["id"] for r in units]))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_nlp_layer_has_no_cycle_and_no_corpus_import():
    imports = {path.stem: _imports(path) for path in NLP.glob("*.py")}
    assert "koodari.nlp.normaliser" not in imports["resources"]  # the normaliser reads its resources, not back
    for name, found in imports.items():
        assert "koodari.corpus" not in found, name
        assert not {"stanza", "spacy", "torch"} & {m.split(".")[0] for m in found} or name == "loader", name
    code = ("import sys, koodari.nlp.cache, koodari.nlp.pipeline, koodari.classify; "
            "print(sorted(m for m in ('stanza', 'spacy', 'torch', 'koodari.corpus') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"  # importing the NLP layer loads no model library and no corpus
