"""The seed study as a corpus, `koodari tree` and `koodari demo`."""

import csv
import io
import json
from pathlib import Path

import pytest

from koodari.store import Study

ROOT = Path(__file__).resolve().parent.parent


def test_init_with_the_seed_corpus(tmp_path, cli):
    path = tmp_path / "kainuu.koodari"
    result = cli("init", path, "--corpus", "kainuu-2012", "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    assert counts["questions"] == 15
    # 35 + 35 sub/upper/combining names per table, as extracted: every table's tree is there
    assert counts["categories"] > 400
    with Study.open(path) as study:
        t4 = study.find_question("T4")
        sub = study.find_category(t4, "sub", "asiakkaan motivointi")
        assert study.path_of(sub.id) == [
            "asiakkaan motivointi",
            "asiakkaan voimavarojen vahvistaminen",
            "asiakkaan osallisuuden vahvistaminen",
        ]
        reductions = study.conn.execute(
            "SELECT count(*) FROM reductions WHERE category_id = ? AND reduction IS NOT NULL", (sub.id,)
        ).fetchone()[0]
        assert reductions == 6  # TAULUKKO 2-3: six unique reductions
        quotes = study.conn.execute("SELECT count(*) FROM reductions WHERE reduction IS NULL").fetchone()[0]
        assert quotes == 138


def test_the_seed_corpus_carries_the_thesis_descriptions_without_quotes(tmp_path):
    from koodari.corpus import load_corpus

    quotes = [json.loads(line) for line in (ROOT / "corpora/kainuu-2012/quotes.jsonl").read_text("utf-8").splitlines()]
    with Study.create(tmp_path / "a.koodari") as study:
        load_corpus(study, "kainuu-2012")
        t5 = study.find_question("T5")
        upper = study.find_category(t5, "upper", "avointen työmarkkinoiden ulkopuolella")
        assert "pitkäaikaistyöttömiä" in upper.description
        # the sentence that introduces quote 4 (P7: "vähän vanahemmat, joilla jo työ- tai toimintakyky...")
        assert "arvioitiin heidän työkykyään" in upper.description
        descriptions = [c.description for c in study.categories() if c.description]
        assert len(descriptions) > 300
        for text in descriptions:
            assert not any(mark in text for mark in '”“"')
            assert not any(" ".join(q["text"].split())[:40] in text for q in quotes)
    # holding quote 4 out (the demo does so) holds its paraphrase out too
    with Study.create(tmp_path / "b.koodari") as study:
        load_corpus(study, "kainuu-2012", exclude_quotes={4})
        upper = study.find_category(study.find_question("T5"), "upper", "avointen työmarkkinoiden ulkopuolella")
        assert "pitkäaikaistyöttömiä" in upper.description
        assert "arvioitiin heidän työkykyään" not in upper.description


def test_unknown_corpus_creates_nothing(tmp_path, cli):
    path = tmp_path / "x.koodari"
    result = cli("init", path, "--corpus", "nope")
    assert result.exit_code != 0 and "unknown corpus 'nope'" in result.output
    assert not path.exists()


def test_tree_formats(cli, seed_study):
    md = cli("tree", seed_study, "--question", "T4", "--format", "md")
    assert md.exit_code == 0
    assert "| subcategory | upper category | combining category | reductions | speakers |" in md.output
    assert (
        "| asiakkaan motivointi | asiakkaan voimavarojen vahvistaminen | asiakkaan osallisuuden vahvistaminen |"
        in md.output
    )
    rows = list(csv.DictReader(io.StringIO(cli("tree", seed_study, "--format", "csv").output)))
    motivation = [r for r in rows if r["subcategory"] == "asiakkaan motivointi" and r["question"] == "T4"]
    assert len(motivation) == 1
    # 6 reductions (E1, E3, E6) + the quotes coded under it
    assert int(motivation[0]["reductions"]) >= 6 and int(motivation[0]["speakers"]) >= 3
    assert {r["question"] for r in rows} == {f"T{i}" for i in range(4, 18)} | {"L1"}
    table = cli("tree", seed_study, "--question", "T8")
    assert table.exit_code == 0 and "Kela" in table.output


def test_tree_unknown_question_and_format(cli, seed_study):
    assert "no research question" in cli("tree", seed_study, "--question", "T99").output
    bad = cli("tree", seed_study, "--format", "xml")
    assert bad.exit_code != 0 and "unknown format" in bad.output


@pytest.mark.slow
def test_demo_builds_a_real_study_and_ends_with_suggestions(tmp_path, cli):
    result = cli("demo", tmp_path / "demo")
    assert result.exit_code == 0, result.output
    study = tmp_path / "demo" / "kainuu-2012.koodari"
    assert study.exists()
    assert "Jokkainen voijaan tietää se kyllä" in result.output
    assert "T10: Millaiset asiat kuormittavat" in result.output.split("the whole tree:")[-1]  # the tree
    # ... and it ends with suggestions for the first units, with their reasons
    tail = result.output.split("Training the suggestion model")[-1].split("Next")[0]
    assert tail.count("unit ") == 5 and "words:" in tail and "→" in tail
    # ... and then says what to do next, with commands that work on the demo study
    next_steps = result.output.split("Next")[-1]
    assert f"review {study} --coder YOUR_NAME" in next_steps and f"export {study} qdpx" in next_steps
    assert "ulosottoasiat" in result.output  # T6's tree is printed
    with Study.open(study) as s:
        # the quotes the demo transcript was composed from are held out of the coded material
        held = s.conn.execute("SELECT count(*) FROM reductions WHERE unit IN ('Q7', 'Q47', 'Q62')").fetchone()[0]
        assert held == 0
        assert s.counts()["segments"] > 10
    again = cli("demo", tmp_path / "demo")  # re-running replaces its own demo study
    assert again.exit_code == 0
