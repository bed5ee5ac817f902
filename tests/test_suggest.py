"""Suggestions learned from the researcher's coding: train, suggest, evaluate through the CLI."""

import json

import numpy as np
import pytest

from koodari.classify import Example, SuggestionModel
from koodari.errors import KoodariError
from koodari.nlp.analysed import AnalysedText
from koodari.store import Study
from tests.conftest import fingerprint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained_seed(seed_study_template, tmp_path_factory):
    """A seed study copy with a trained model (training analyses ~600 texts once)."""
    import sqlite3

    from typer.testing import CliRunner

    from koodari.cli import app

    path = tmp_path_factory.mktemp("trained") / "seed.koodari"
    src, dst = sqlite3.connect(seed_study_template), sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    result = CliRunner().invoke(app, ["train", str(path), "--json", "--folds", "3"])
    assert result.exit_code == 0, result.output
    return path, json.loads(result.output)


@pytest.fixture(scope="module")
def seed_data(trained_seed):
    """The seed study's training data, as `koodari train` gathered it (analyses cached by training)."""
    from koodari.nlp.pipeline import FinnishPipeline
    from koodari.suggest import training_data

    with Study.open(trained_seed[0]) as study:
        return training_data(study, FinnishPipeline())


def test_train_records_a_model_version(trained_seed, seed_data):
    """The version holds the model that training made and the figures an evaluation of that data gives."""
    from koodari.evaluate import cross_validate
    from koodari.suggest import load_model

    path, record = trained_seed
    assert record["version"] == 1
    assert record["examples"] == len(seed_data.examples) == 144 and record["classes"] > 300
    # a first training embeds the 1,909 evidence texts and 144 examples with the sentence encoder (once a process)
    assert record["metrics"]["train_seconds"] - record["metrics"]["embed_seconds"] < 30
    assert 0 <= record["metrics"]["embed_seconds"] <= record["metrics"]["train_seconds"]
    evaluation = cross_validate(seed_data.examples, seed_data.always, seed_data.tree, folds=3)
    summary = evaluation.summary()
    assert {key: record["metrics"][key] for key in summary} == summary
    assert record["metrics"]["agreement_with_coders"] == evaluation.by_coder()
    assert summary["top1"] == round(float(np.mean(np.array(evaluation.gold) == np.array(evaluation.predicted))), 4)
    with Study.open(path) as study:
        row = study.conn.execute("SELECT kind, training, metrics, model FROM model_versions").fetchone()
        assert row["kind"] == "neighbours" and json.loads(row["training"])["coders"]
        assert not row["model"].startswith(b"\x80")  # not a pickle: a numpy .npz archive (zip)
        assert row["model"][:2] == b"PK"
        stored = load_model(study, 1)
    fresh = SuggestionModel.fit(seed_data.examples, seed_data.always)  # the same training, in memory
    docs = [e.analysis for e in seed_data.examples[:40]]
    assert np.allclose(stored.weights, fresh.weights) and list(stored.classes) == list(fresh.classes)
    assert np.allclose(stored.predict_proba(docs), fresh.predict_proba(docs), atol=1e-9)


def test_suggest_text_json(cli, trained_seed):
    path, _ = trained_seed
    # the speakers' abbreviation finds the category's full name: te-toimisto = Työ- ja elinkeinotoimisto
    result = cli("suggest", path, "--text", "Te-toimisto on tosi tärkee yhteistyökumppani", "--question", "T8",
                 "--top", "3", "--json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert len(items) == 3
    assert set(items[0]) >= {"category", "level", "probability", "path", "reason"}
    assert items[0]["level"] == "sub" and items[0]["path"][0] == items[0]["category"]
    assert items[0]["probability"] >= items[1]["probability"] >= items[2]["probability"]
    assert "Työ- ja elinkeinotoimisto" in [item["category"] for item in items]
    assert "words:" in items[0]["reason"] or "like:" in items[0]["reason"]
    with Study.open(path) as study:
        t8 = study.find_question("T8")
        names = {c.name for c in study.categories(t8)}
    assert all(item["category"] in names for item in items)  # candidates come from the question's tree


def test_suggest_file_and_levels(cli, trained_seed, tmp_path):
    path, _ = trained_seed
    utterances = tmp_path / "u.txt"
    utterances.write_text("Kiire kuormittaa ja asiakkaita on liikaa\nMotivointi on hirveen tärkee taito\n",
                          encoding="utf-8")
    result = cli("suggest", path, "--file", utterances, "--level", "upper", "--top", "2", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert len(lines) == 2 and all(len(items) == 2 for items in lines)
    assert all(item["level"] == "upper" and item["path"][0] is None for items in lines for item in items)
    combining = json.loads(cli("suggest", path, "--text", "kiire", "--level", "combining", "--json").output)
    assert combining[0]["path"][:2] == [None, None] and combining[0]["path"][2] == combining[0]["category"]
    table = cli("suggest", path, "--text", "Motivointi on hirveen tärkee taito", "--question", "T4")
    assert table.exit_code == 0 and "asiakkaan motivointi" in table.output


def held_out_log_loss(data, blocks: str) -> tuple[float, float, list[float]]:
    """Mean log loss, among each example's own question's categories, of models trained without the example:
    (calibrated, uncalibrated, the fitted temperatures). Uncalibrated: T = 1 (lexical) or the default block
    weights (lexical and semantic)."""
    from koodari.classify import default_weights, softmax
    from koodari.crossfit import fold_of

    examples = data.examples
    fold = fold_of(len(examples), 3, seed=1)
    calibrated, plain, temperatures = [], [], []
    for k in range(3):
        train = [e for e, f in zip(examples, fold, strict=True) if f != k]
        model = SuggestionModel.fit(train, data.always, blocks=blocks)
        test = [e for e, f in zip(examples, fold, strict=True) if f == k and e.label in set(model.classes.tolist())]
        docs = [e.analysis for e in test]
        questions = data.tree.question_of(model.classes)
        allowed = questions[None, :] == np.array([e.question_id for e in test])[:, None]
        truth = np.searchsorted(model.classes, [e.label for e in test])
        components = model.components(model.transform(docs), docs)
        if blocks == "lexical":
            temperatures.append(model.estimator.temperature_)
            scores = {"calibrated": components[0] / model.estimator.temperature_, "plain": components[0]}
        else:
            scores = {"calibrated": sum(w * c for w, c in zip(model.weights, components, strict=True)),
                      "plain": sum(w * c for w, c in zip(default_weights(len(components) > 9, blocks), components,
                                                          strict=True))}
        for name, out in (("calibrated", calibrated), ("plain", plain)):
            p = softmax(np.where(allowed, scores[name], -np.inf))[np.arange(len(test)), truth]
            out += list(-np.log(np.clip(p, 1e-12, 1)))
    return float(np.mean(calibrated)), float(np.mean(plain)), temperatures


def test_probabilities_are_calibrated(seed_data):
    """The temperature (lexical model) and the block weights (the default model) are fitted on out-of-fold
    predictions, and on examples no model saw they give a lower log loss than T = 1 / the default weights."""
    calibrated, plain, temperatures = held_out_log_loss(seed_data, "lexical")
    assert all(abs(t - 1) > 0.1 for t in temperatures)
    assert calibrated < plain - 0.05
    calibrated, plain, _ = held_out_log_loss(seed_data, "both")
    assert calibrated < plain - 0.05


def import_reductions_csv(cli, study, header: str, rows: list[str]) -> None:
    """Write a reductions CSV beside the study and import it through the CLI."""
    csv = study.parent / "reductions.csv"
    csv.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    assert cli("reductions", "import", study, csv).exit_code == 0


def test_a_subcategory_with_no_coded_example_is_still_suggestible(tmp_path, cli):
    study = tmp_path / "s.koodari"
    cli("init", study)
    import_reductions_csv(cli, study, "reduction,subcategory,upper,question", [
        "kiire kuormittaa,kiire,työn kuormitus,Q1",
        "liikaa asiakkaita,asiakkaiden määrä,työn kuormitus,Q1",
        "esimies tukee,esimiehen tuki,työyhteisö,Q1",
    ])
    with Study.open(study) as s:
        q = s.find_question("Q1")
        s.ensure_path(q, "työnohjaus", "työyhteisö")  # a category without any reduction yet
    assert cli("train", study, "--folds", "0").exit_code == 0
    items = json.loads(cli("suggest", study, "--text", "työnohjausta tarvittaisiin", "--json").output)
    assert items[0]["category"] == "työnohjaus"


def test_a_category_description_from_a_codebook_is_evidence(tmp_path, cli):
    """A code imported from another QDA tool with only a description (no reduction, a name that shares no
    word with the utterance) is found through its description."""
    study = tmp_path / "s.koodari"
    cli("init", study)
    qdc = tmp_path / "codebook.qdc"
    qdc.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>'
        '<Code guid="11111111-1111-1111-1111-111111111111" name="elämäntilanne" isCodable="false">'
        '<Code guid="22222222-2222-2222-2222-222222222222" name="talous" isCodable="false">'
        '<Code guid="33333333-3333-3333-3333-333333333333" name="heikko toimeentulo" isCodable="true">'
        "<Description>Asiakkaalla on pikavippejä ja velkoja. Ulosotto vie palkan.</Description></Code>"
        "</Code></Code></Codes></CodeBook>",
        encoding="utf-8",
    )
    assert cli("import", study, qdc).exit_code == 0
    import_reductions_csv(cli, study, "reduction,subcategory,upper,combining,question", [
        "asunto on kaukana,asumisen ongelmat,asuminen,elämäntilanne,default",
        "vuokrat maksamatta,asumisen ongelmat,asuminen,elämäntilanne,default",
        "perhe tukee,perheen tuki,perhe,elämäntilanne,default",
    ])
    trained = json.loads(cli("train", study, "--folds", "0", "--json").output)
    assert trained["description_sentences"] == 2
    items = json.loads(cli("suggest", study, "--text", "pikavipit ja velat painaa", "--json").output)
    assert items[0]["category"] == "heikko toimeentulo"
    assert items[0]["path"] == ["heikko toimeentulo", "talous", "elämäntilanne"]
    assert "described: “Asiakkaalla on pikavippejä ja velkoja.”" in items[0]["reason"]


def test_description_sentences_are_examples_of_their_category(tmp_path):
    from koodari.suggest import category_examples, description_sentences

    assert description_sentences("Yksi lause. Toinen lause tässä!\nKolmas rivi") == [
        "Yksi lause.", "Toinen lause tässä!", "Kolmas rivi"]
    assert description_sentences(None) == [] and description_sentences("  ") == []
    with Study.create(tmp_path / "s.koodari") as study:
        q = study.add_question("Q1", "Mikä kuormittaa?")
        upper = study.ensure_category(
            q, "upper", "työn kuormitus", description="Kiire ja pirstaleisuus. Liikaa asiakkaita."
        )
        examples = category_examples(study)
    mine = [e for e in examples if e.label == upper]
    assert [(e.source, e.text) for e in mine] == [
        ("category", "työn kuormitus"),
        ("description", "Kiire ja pirstaleisuus."),
        ("description", "Liikaa asiakkaita."),
    ]


def test_temperature_is_calibrated_within_the_question():
    from koodari.classify import fit_temperature

    # the true class (0) wins within its question, but a class of another question (2) scores higher
    scores = np.array([[2.0, 0.0, 5.0], [2.0, 0.0, 5.0], [0.0, 2.0, 5.0]])
    truth = np.array([0, 0, 1])
    allowed = np.array([[True, True, False]] * 3)
    # among all classes the other question's class must be flattened away: a high temperature
    assert fit_temperature(scores, truth) > fit_temperature(scores, truth, allowed)


def test_low_confidence_is_flagged_as_possible_new_category(trained_seed, cli):
    path, _ = trained_seed
    items = json.loads(cli("suggest", path, "--text", "Kävin eilen kalassa ja sain hauen.", "--json").output)
    assert items[0]["new"] is True


def test_no_coded_material_is_a_clear_error(cli, study_path):
    result = cli("suggest", study_path, "--text", "kiire", "--json")
    assert result.exit_code != 0
    assert "no coded material" in result.output and str(study_path) in result.output
    assert cli("train", study_path).exit_code != 0


def test_evaluate_cli(cli, trained_seed):
    path, _ = trained_seed
    result = cli("evaluate", path, "--folds", "3", "--level", "upper", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert set(summary) >= {"n", "top1", "top3", "macro_f1", "kappa", "learning_curve"}
    assert summary["n"] == 144 and 0 < summary["top1"] <= summary["top3"] <= 1
    assert [p["fraction"] for p in summary["learning_curve"]] == [0.1, 0.25, 0.5, 0.75, 1.0]
    table = cli("evaluate", path, "--folds", "3")
    assert table.exit_code == 0 and "learning curve" in table.output and "top-1 vs coded examples" in table.output
    assert any(0x2801 <= ord(ch) <= 0x28FF for ch in table.output)  # the braille line of the terminal plot


def test_model_roundtrip_without_pickle():
    tokens = [AnalysedText.from_json([{"text": w, "lemma": w, "normalised": w}], w)
              for w in ("kiire", "motivointi", "kela", "asunto")]
    examples = [Example(text=w.text, label=i % 2 + 1, question_id=1, analysis=w) for i, w in enumerate(tokens)]
    described = [Example(text="kiire ja kela", label=2, question_id=1, source="description",
                         analysis=AnalysedText.from_json([{"text": w, "lemma": w, "normalised": w}
                                                                  for w in ("kiire", "ja", "kela")]))]
    for kind in ("linear", "neighbours"):
        model = SuggestionModel.fit(examples, described, kind=kind, calibrate=False)
        again = SuggestionModel.from_bytes(model.to_bytes())
        docs = list(tokens)
        assert np.allclose(model.predict_proba(docs), again.predict_proba(docs))
        x = again.transform(docs[:1])
        assert again.similar_descriptions(x, 2)[0][1] == "kiire ja kela"
        assert again.similar_descriptions(x, 1) == []


def test_a_model_saved_before_descriptions_were_kept_still_loads():
    """Studies trained by koodari 0.1 hold models without description arrays: they load and suggest."""
    import io

    tokens = [AnalysedText.from_json([{"text": w, "lemma": w, "normalised": w}], w)
              for w in ("kiire", "motivointi", "kela", "asunto")]
    examples = [Example(text=w.text, label=i % 2 + 1, question_id=1, analysis=w) for i, w in enumerate(tokens)]
    model = SuggestionModel.fit(examples, [], kind="neighbours", calibrate=False)
    arrays = dict(np.load(io.BytesIO(model.to_bytes()), allow_pickle=False))
    for key in ("desc_data", "desc_indices", "desc_indptr", "desc_shape", "desc_labels"):
        del arrays[key]
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    old = SuggestionModel.from_bytes(buffer.getvalue())
    docs = list(tokens)
    assert old.description_texts == [] and old.similar_descriptions(old.transform(docs[:1]), 1) == []
    assert np.allclose(old.predict_proba(docs), model.predict_proba(docs))


def test_spacy_suggester_component(trained_seed):
    import spacy

    path, _ = trained_seed
    nlp = spacy.blank("fi")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("koodari_finnish")
    nlp.add_pipe("koodari_suggester", config={"study": str(path), "question": "T4", "top": 3})
    doc = nlp("Motivointi on hirveen tärkee taito. Asiakasta pittää kannustaa.")
    assert len(doc._.koodari) == 3 and doc._.koodari[0]["level"] == "sub"
    sentences = list(doc.sents)
    assert len(sentences) == 2 and all(len(s._.koodari) == 3 for s in sentences)
    assert "asiakkaan motivointi" in [item["category"] for item in sentences[0]._.koodari]


def test_reasons_name_features_in_words():
    from koodari.suggest import feature_in_words

    assert feature_in_words("~tärke") == "tärke… (stem)"
    assert feature_in_words("+valmentaja") == "valmentaja (part of a compound)"
    assert feature_in_words("työ#valmentaja") == "työvalmentaja"


@pytest.mark.parametrize("name", ["linear-lexical", "neighbours-lexical", "neighbours-both"])
def test_a_model_written_by_the_code_before_the_estimators_saved_themselves_loads(name):
    """Blobs written by main's code before issue 14 (tests/data/models/make_old_models.py) load and give the
    probabilities that code gave."""
    from pathlib import Path

    here = Path(__file__).parent / "data" / "models"
    expected = np.load(here / "expected.npz", allow_pickle=False)
    model = SuggestionModel.from_bytes((here / f"{name}.npz").read_bytes())
    docs = [AnalysedText.from_json([{"text": w, "lemma": w, "normalised": w, "upos": "NOUN"} for w in q.split()])
            for q in expected["queries"]]
    assert np.allclose(model.predict_proba(docs), expected[name.replace("-", "_")], atol=1e-6)
    again = SuggestionModel.from_bytes(model.to_bytes())  # and saved again by the new code, unchanged
    assert np.allclose(again.predict_proba(docs), expected[name.replace("-", "_")], atol=1e-6)


def test_estimators_check_their_inputs_at_the_edge():
    import scipy.sparse as sp

    from koodari.classify import LinearSuggester, NeighbourSuggester

    X = sp.csr_matrix(np.eye(4))
    for estimator in (LinearSuggester(), NeighbourSuggester()):
        with pytest.raises(ValueError, match="4 feature rows for 3 labels"):
            estimator.fit(X, [1, 2, 1])
        estimator.fit(X, [1, 2, 1, 2])
        with pytest.raises(ValueError, match="3 features given, the model was fitted on 4"):
            estimator.predict_proba(sp.csr_matrix(np.eye(3)))
    analysis = AnalysedText.from_json([{"text": "kiire", "lemma": "kiire", "normalised": "kiire"}])
    with pytest.raises(KoodariError, match="unknown model kind 'typo'"):
        SuggestionModel.fit([Example(text="kiire", label=1, question_id=1, analysis=analysis)], [], kind="typo")
    with pytest.raises(KoodariError, match="stored model"):
        SuggestionModel.from_bytes(b"not a model")


def test_a_read_only_study_still_suggests_and_searches(trained_seed, cli, tmp_path):
    """Reading never needs to write: a study without write permission suggests for new text and searches,
    and its file stays as it was (the analyses of the new texts are simply not kept)."""
    path, _ = trained_seed
    copy = tmp_path / "read-only.koodari"
    copy.write_bytes(path.read_bytes())
    transcript = tmp_path / "haastattelu.txt"
    transcript.write_text("T8\n\nH: Kenen kanssa puhut?\nP1: Ei oo ketään kenen kans puhua.\n"
                          "H: Entä työ?\nP1: Te-toimisto on tosi tärkee.\n", encoding="utf-8")
    assert cli("import", copy, transcript).exit_code == 0  # units that were never analysed
    copy.chmod(0o444)
    before = fingerprint(copy)
    suggested = cli("suggest", copy, "--text", "Ei oo ketään kenen kans puhua illalla.", "--question", "T8",
                    "--json")
    assert suggested.exit_code == 0, suggested.output
    assert json.loads(suggested.output)[0]["category"]
    found = cli("search", copy, "yksinäisyys ja ystävät", "--top", "3", "--json")
    assert found.exit_code == 0, found.output
    hits = json.loads(found.output)
    assert hits and hits[0]["text"] == "Ei oo ketään kenen kans puhua."
    assert fingerprint(copy) == before


def test_voikko_splits_compounds_the_lemmatiser_left_whole():
    """Compound parts as lexical features (Voikko's [Bc] boundaries), and the abbreviation speakers use for a
    coordinated compound written out in a category name (TE-toimisto = Työ- ja elinkeinotoimisto)."""
    from koodari.classify import Features
    from koodari.compounds import abbreviations, abbreviations_of, compound_parts

    assert compound_parts("mielenterveysongelmat") == ("mielen", "terveys", "ongelma")
    assert compound_parts("päihdeongelma") == ("päihde", "ongelma")
    assert compound_parts("kissa") == () and compound_parts("xqzwv") == ()
    assert abbreviations(["työ-", "elin#keino#toimisto"]) == ["te-toimisto"]
    assert abbreviations(["elinkeino-", "liikenne-", "ympäristö#keskus"]) == ["ely-keskus"]

    def doc(*tokens: tuple[str, str]) -> AnalysedText:
        return AnalysedText.from_json([{"text": t, "lemma": lemma, "normalised": t, "upos": "NOUN"}
                                       for t, lemma in tokens])

    name = doc(("Työ-", "työ"), ("ja", "ja"), ("elinkeinotoimisto", "elin#keino#toimisto"))
    assert abbreviations_of(name) == ["te-toimisto"]
    evidence = [doc(("päihdeongelma", "päihdeongelma")), name, doc(("asunto", "asunto"))]
    utterances = [doc(("ongelma", "ongelma")), doc(("Te-toimisto", "te-toimisto"))]
    for compounds, shared in ((False, False), (True, True)):
        features = Features(compounds=compounds).fit(evidence + utterances)
        n = features.n_lemma
        lemma_sims = (features.transform(utterances)[:, :n] @ features.transform(evidence)[:, :n].T).toarray()
        assert bool(lemma_sims[0, 0] > 0) is shared  # ongelma ~ päihde|ongelma
        assert bool(lemma_sims[1, 1] > 0) is shared  # te-toimisto ~ Työ- ja elinkeinotoimisto
        assert lemma_sims[0, 2] == 0 and lemma_sims[1, 2] == 0


def test_suggest_survives_a_10000_letter_word(trained_seed, tmp_path):
    """A turn typed without spaces: Voikko's transducer (compound parts, lemmas) crashed the process on it."""
    import subprocess
    import sys

    path, _ = trained_seed
    utterances = tmp_path / "u.txt"
    utterances.write_text("Kiire kuormittaa " + "asiakas" * 1500 + "\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", "from koodari.cli import app; app()", "suggest", str(path),
                             "--file", str(utterances), "--question", "T8", "--json"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-500:]
    assert len(json.loads(result.stdout.splitlines()[0])) > 0
