"""Meaning: floret word vectors in suggestions, `koodari search`, `koodari group`, and their errors."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from koodari.cli import app
from tests.conftest import fingerprint

pytestmark = pytest.mark.slow

REDUCTIONS = """reduction;subcategory;upper;combining;question
asiakas on yksinäinen;yksinäisyys;sosiaaliset ongelmat;elämäntilanne;T1
ystävät puuttuvat elämästä;yksinäisyys;sosiaaliset ongelmat;elämäntilanne;T1
asuu yksin eikä tapaa muita;yksinäisyys;sosiaaliset ongelmat;elämäntilanne;T1
rahat ei riitä mihinkään;taloudelliset vaikeudet;taloudelliset ongelmat;elämäntilanne;T1
velkaa on paljon;taloudelliset vaikeudet;taloudelliset ongelmat;elämäntilanne;T1
toimeentulotuki on pieni;taloudelliset vaikeudet;taloudelliset ongelmat;elämäntilanne;T1
masennus vaivaa;terveysongelmat;terveys;elämäntilanne;T1
sairaus estää työnteon;terveysongelmat;terveys;elämäntilanne;T1
selkä on kipeä;terveysongelmat;terveys;elämäntilanne;T1
työpaikkaa ei löydy;työttömyys;työelämä;elämäntilanne;T1
pitkään työttömänä;työttömyys;työelämä;elämäntilanne;T1
ei töitä tarjolla;työttömyys;työelämä;elämäntilanne;T1
"""

TRANSCRIPT = """H: Miten teillä menee nykyään?
V: No ei oo ketään kenen kans puhua.
H: Entä raha-asiat?
V: Rahat loppuu aina kesken kuukautta.
H: Entä terveys?
V: Selkä on ollut kipeä pitkään ja lääkäriin on vaikea päästä.
H: Onko töitä?
V: Työpaikkoja ei oo täällä tarjolla ollenkaan.
H: Mitä teet vapaa-aikana?
V: Käyn kalassa ja metsässä kävelemässä koiran kanssa.
"""


def run(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A small study: 12 reductions in 4 subcategories, one transcript of 5 interviewee units, two models
    (version 1 lexical only, version 2 with the semantic block)."""
    folder = tmp_path_factory.mktemp("meaning")
    path = folder / "s.koodari"
    (folder / "r.csv").write_text(REDUCTIONS, encoding="utf-8")
    (folder / "t.txt").write_text(TRANSCRIPT, encoding="utf-8")
    assert run("init", path).exit_code == 0
    assert run("reductions", "import", path, folder / "r.csv").exit_code == 0
    assert run("import", path, folder / "t.txt", "--question", "T1").exit_code == 0
    for blocks in ("lexical", "both"):
        result = run("train", path, "--blocks", blocks, "--folds", "0", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["blocks"] == blocks
    return path


def copy_with_versions(small: Path, tmp_path: Path, keep: int) -> Path:
    """A copy of the small study whose latest model is version ``keep``."""
    path = tmp_path / "copy.koodari"
    src, dst = sqlite3.connect(small), sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.execute("DELETE FROM model_versions WHERE id > ?", (keep,))
    dst.commit()
    dst.close()
    return path


def suggest(path: Path, text: str) -> list[dict]:
    result = run("suggest", path, "--text", text, "--question", "T1", "--top", "4", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_few_coded_examples_give_no_certainty(small, tmp_path):
    """12 reductions fit the score weights to certainty (a sentence about a red car was 1.00 'taloudelliset
    vaikeudet'): what is shown is shrunk toward the uniform by 5 / (12 + 5), the order kept."""
    path = copy_with_versions(small, tmp_path, 2)
    for text in ("auto on punainen", "selkä on kipee"):
        shown = suggest(path, text)
        probabilities = [item["probability"] for item in shown]
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0.7 < probabilities[0] < 0.8 and min(probabilities) > 0.07
        assert abs(sum(probabilities) - 1) < 1e-3  # the question's four subcategories (rounded to 4 places)
    assert suggest(path, "selkä on kipee")[0]["category"] == "terveysongelmat"


def test_meaning_changes_a_ranking_where_no_word_is_shared(small, tmp_path):
    lexical_only = copy_with_versions(small, tmp_path, 1)
    text = "kaverit on kaikki muuttaneet pois"  # no word shared with 'ystävät puuttuvat elämästä'
    before = suggest(lexical_only, text)
    after = suggest(small, text)
    assert before[0]["category"] != "yksinäisyys"
    assert after[0]["category"] == "yksinäisyys"
    assert "meaning: kaverit ≈ ystävä in ‘ystävät puuttuvat elämästä’" in after[0]["reason"]
    lonely = suggest(small, "ei oo ketään kenen kans puhua")
    assert lonely[0]["category"] == "yksinäisyys" and "≈" in lonely[0]["reason"]


def test_new_category_flag_uses_meaning(small, tmp_path):
    lexical_only = copy_with_versions(small, tmp_path, 1)
    far = "auto on punainen ja nopea"  # shares 'on' with 'asiakas on yksinäinen', nothing by meaning
    assert suggest(lexical_only, far)[0]["new"] is False
    assert suggest(small, far)[0]["new"] is True
    assert suggest(small, "masennus ja sairaudet vaivaa")[0]["new"] is False


def test_search_by_meaning_finds_a_unit_sharing_no_word(small):
    result = run("search", small, "sairaus", "--json", "--top", "3")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert len(hits) == 3
    assert set(hits[0]) == {"unit", "document", "speaker", "text", "score", "codes"}
    assert hits[0]["text"].startswith("Selkä on ollut kipeä")  # no form of 'sairaus' in it
    assert hits[0]["document"] == "t.txt" and hits[0]["speaker"] == "V" and hits[0]["codes"] == []
    assert hits[0]["score"] > hits[1]["score"] >= hits[2]["score"]
    money = json.loads(run("search", small, "taloudellinen ahdinko", "--json").output)
    assert money[0]["text"].startswith("Rahat loppuu")
    table = run("search", small, "sairaus", "--question", "T1")
    assert table.exit_code == 0 and "Selkä on ollut kipeä" in table.output


def test_search_coded_and_uncoded(small, tmp_path):
    path = copy_with_versions(small, tmp_path, 2)
    with sqlite3.connect(path) as conn:
        unit = conn.execute("SELECT id FROM segments WHERE text LIKE 'Selkä%'").fetchone()[0]
        category = conn.execute("SELECT id FROM categories WHERE name = 'terveysongelmat'").fetchone()[0]
        conn.execute("INSERT INTO reductions (segment_id, reduction, category_id, coder, source, created_at)"
                     " VALUES (?, 'selkä kipeä', ?, 'anna', 'review', '2026-01-01')", (unit, category))
    coded = json.loads(run("search", path, "sairaus", "--coded", "--json").output)
    assert [h["unit"] for h in coded] == [unit] and coded[0]["codes"] == ["terveysongelmat"]
    uncoded = json.loads(run("search", path, "sairaus", "--uncoded", "--json").output)
    assert unit not in [h["unit"] for h in uncoded] and len(uncoded) == 4


@pytest.mark.parametrize("query", ["", "   ", "ja se on niin"])
def test_empty_or_stop_word_query_is_a_one_line_error(small, query):
    before = fingerprint(small)
    result = run("search", small, query)
    assert result.exit_code != 0
    assert "no content words" in result.output and len(result.output.strip().splitlines()) == 1
    assert fingerprint(small) == before


def test_search_bad_options(small):
    both = run("search", small, "sairaus", "--coded", "--uncoded")
    assert both.exit_code != 0 and "at most one of --coded and --uncoded" in both.output
    assert run("search", small, "sairaus", "--question", "T99").exit_code != 0


def test_search_and_group_keep_to_the_question(small, tmp_path):
    """--question narrows `search` and `group` to that research question's units and reductions."""
    path = copy_with_versions(small, tmp_path, 2)
    (tmp_path / "r2.csv").write_text("reduction;subcategory;upper;combining;question\n"
                                     "sairaus vaivaa;sairastaminen;terveys2;elämä2;T2\n", encoding="utf-8")
    (tmp_path / "t2.txt").write_text("V: Sairaus vaivaa ja selkä on kipeä.\n", encoding="utf-8")
    assert run("reductions", "import", path, tmp_path / "r2.csv").exit_code == 0
    assert run("import", path, tmp_path / "t2.txt", "--question", "T2").exit_code == 0

    def units(*args: str) -> list[str]:
        result = run("search", path, "sairaus", "--json", "--top", "20", *args)
        assert result.exit_code == 0, result.output
        return [h["document"] for h in json.loads(result.output)]

    assert units()[0] == "t2.txt" and len(units()) == 6
    assert units("--question", "T2") == ["t2.txt"]
    assert "t2.txt" not in units("--question", "T1") and len(units("--question", "T1")) == 5
    few = run("group", path, "--question", "T2")
    assert few.exit_code != 0 and "grouping needs at least 3 reductions; found 1" in few.output
    assert json.loads(run("group", path, "--question", "T1", "--json").output)["items"] == 12


def test_group_reductions_structure_and_threshold(small):
    result = run("group", small, "--question", "T1", "--json", "--threshold", "0.9")
    assert result.exit_code == 0, result.output
    grouped = json.loads(result.output)
    assert grouped["items"] == 12 and grouped["of"] == "reductions" and grouped["groups"]
    for g in grouped["groups"]:
        assert set(g) == {"name", "size", "cohesion", "members", "upper", "upper_score"}
        assert g["size"] == len(g["members"]) >= 2
        assert g["name"] in [m["text"] for m in g["members"]]
        assert g["upper"] in {"sosiaaliset ongelmat", "taloudelliset ongelmat", "terveys", "työelämä"}
    assert grouped["ungrouped"] + sum(g["size"] for g in grouped["groups"]) == 12
    # the groups are mostly pure: members of a group share their subcategory
    pure = sum(max([m["category"] for m in g["members"]].count(c) for c in {m["category"] for m in g["members"]})
               for g in grouped["groups"])
    assert pure >= 0.7 * sum(g["size"] for g in grouped["groups"])
    tight = json.loads(run("group", small, "--json", "--threshold", "0.01").output)
    assert tight["groups"] == [] and tight["ungrouped"] == 12
    loose = json.loads(run("group", small, "--json", "--threshold", "1.99").output)
    assert len(loose["groups"]) == 1 and loose["groups"][0]["size"] == 12
    text = run("group", small, "--threshold", "0.9")
    assert text.exit_code == 0 and "candidate groups of 12 reductions" in text.output


def test_group_counts_a_reduction_coded_alike_by_several_coders_once(small, tmp_path):
    """Two coders (and a consensus) coding one text with the same subcategory are one reduction to group, not three
    members of a group; coded with another subcategory it is a reduction of its own."""
    path = tmp_path / "coders.koodari"
    shutil.copy(small, path)
    rows = ["reduction,subcategory,upper,combining,question,coder"]
    rows += [f"velkaa on paljon,taloudelliset vaikeudet,taloudelliset ongelmat,elämäntilanne,T1,{coder}"
             for coder in ("ben", "consensus")]
    rows.append("velkaa on paljon,terveysongelmat,terveys,elämäntilanne,T1,cecilia")
    (tmp_path / "more.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert run("reductions", "import", path, tmp_path / "more.csv").exit_code == 0
    grouped = json.loads(run("group", path, "--question", "T1", "--json", "--threshold", "1.99").output)
    assert grouped["items"] == 13
    members = [(m["text"], m["category"]) for g in grouped["groups"] for m in g["members"]]
    assert members.count(("velkaa on paljon", "taloudelliset vaikeudet")) == 1
    assert members.count(("velkaa on paljon", "terveysongelmat")) == 1


def test_group_uncoded_units_and_too_few_items(small, tmp_path):
    units = json.loads(run("group", small, "--uncoded", "--json", "--threshold", "1.5").output)
    assert units["of"] == "uncoded units" and units["items"] == 5
    path = tmp_path / "few.koodari"
    run("init", path)
    (tmp_path / "r.csv").write_text(REDUCTIONS.splitlines()[0] + "\n" + "\n".join(REDUCTIONS.splitlines()[1:3]) + "\n",
                                    encoding="utf-8")
    assert run("reductions", "import", path, tmp_path / "r.csv").exit_code == 0
    few = run("group", path)
    assert few.exit_code != 0 and "grouping needs at least 3 reductions; found 2" in few.output
    no_units = run("group", path, "--uncoded")
    assert no_units.exit_code != 0 and "grouping needs at least 3 uncoded units; found 0" in no_units.output
    bad = run("group", small, "--threshold", "0")
    assert bad.exit_code != 0 and "--threshold" in bad.output


def koodari_without_vectors(folder: Path, *args: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "KOODARI_VECTORS": str(folder), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", "from koodari.cli import app; app()", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("damage", ["missing", "damaged"])
def test_missing_or_damaged_vectors_name_the_package(small, tmp_path, damage):
    folder = tmp_path / "vocab"
    if damage == "damaged":
        folder.mkdir()
        (folder / "vectors.cfg").write_text('{"mode": "floret"}', encoding="utf-8")
        (folder / "vectors").write_bytes(b"not a vector table")
    before = fingerprint(small)
    args = ("search", small, "sairaus") if damage == "damaged" else ("suggest", small, "--text", "rahat loppuu")
    result = koodari_without_vectors(folder, *args)
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.stderr
    assert "spacy-fi-experimental-web-md" in message and "pip install spacy-fi-experimental-web-md" in message
    assert ("cannot be read" if damage == "damaged" else "has no vector table") in message
    assert fingerprint(small) == before


def test_a_lexical_model_still_works_without_the_vectors(small, tmp_path):
    """A study whose model predates the semantic block (lexical only) suggests without the package."""
    path = copy_with_versions(small, tmp_path, 1)
    result = koodari_without_vectors(tmp_path / "nowhere", "suggest", path, "--text", "rahat loppuu", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["category"] == "taloudelliset vaikeudet"
    trained = koodari_without_vectors(tmp_path / "nowhere", "train", path, "--blocks", "lexical", "--folds", "0",
                                      "--json")  # and a new lexical model trains without it
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["blocks"] == "lexical"


def test_vectors_package_not_installed(small, tmp_path):
    """Without the package at all (no KOODARI_VECTORS, the module not importable): a command that needs the vectors
    names the package and its install command in one line; a lexical model still suggests (with stanza's tagger in
    place of the package's)."""
    hidden = "import sys; sys.modules['spacy_fi_experimental_web_md'] = None; from koodari.cli import app; app()"
    env = {k: v for k, v in os.environ.items() if k != "KOODARI_VECTORS"}

    def koodari(*args: str | Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", hidden, *map(str, args)], capture_output=True, text=True,
                              env={**env, "OMP_NUM_THREADS": "1"}, timeout=300)

    before = fingerprint(small)
    found = koodari("search", small, "sairaus")
    assert found.returncode != 0 and "Traceback" not in found.stderr
    assert found.stderr.strip().splitlines() == [
        "error: Finnish word vectors missing: the package spacy-fi-experimental-web-md is not installed "
        "(pip install spacy-fi-experimental-web-md)"]
    assert fingerprint(small) == before
    lexical = koodari("suggest", copy_with_versions(small, tmp_path, 1), "--text", "rahat loppuu", "--json")
    assert lexical.returncode == 0, lexical.stderr
    assert json.loads(lexical.stdout)[0]["category"] == "taloudelliset vaikeudet"


def test_a_damaged_package_names_it_and_its_install_command(small, tmp_path):
    """The package importable but broken (its spaCy pipeline, the tagger, cannot load; no vector table): analysing
    and searching each end in one line that names the package and how to reinstall it, the study unchanged."""
    fake = tmp_path / "broken" / "spacy_fi_experimental_web_md"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("def load(**overrides):\n    raise OSError('[E050] model data truncated\\n"
                                      "  at config.cfg line 3')\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "KOODARI_VECTORS"}
    env = {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(fake.parent), env.get("PYTHONPATH", "")])}
    path = copy_with_versions(small, tmp_path, 2)
    (tmp_path / "new.txt").write_text("V: Uusi vastaus jota ei ole analysoitu.\n", encoding="utf-8")
    assert run("import", path, tmp_path / "new.txt", "--question", "T1").exit_code == 0
    before = fingerprint(path)
    for args in (["analyse", path], ["search", path, "sairaus"]):
        result = subprocess.run([sys.executable, "-c", "from koodari.cli import app; app()", *map(str, args)],
                                capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode != 0 and "Traceback" not in result.stderr, args
        message = result.stderr.strip()
        assert len(message.splitlines()) == 1, message
        assert "pip install spacy-fi-experimental-web-md --force-reinstall" in message, message
    assert fingerprint(path) == before


def test_vectors_are_spacys_floret_vectors_without_importing_spacy():
    """The loader reads the package's table itself (a fresh process: no spaCy, no torch, a few MB), and a word's
    vector is exactly the one spaCy's floret lookup gives (dialect spellings, ä/ö, hyphens, one letter)."""
    words = ["kaveri", "ystävä", "tärkee", "te-toimisto", "Työ", "ääliö", "a", "mielenterveysongelmat"]
    code = (
        "import json, sys, psutil; p = psutil.Process(); import numpy; before = p.memory_info().rss;"
        "from koodari.vectors import load_vectors; v = load_vectors(); v(['kaveri', 'ystävä']);"
        "print(json.dumps(['spacy' in sys.modules, 'torch' in sys.modules, (p.memory_info().rss - before) / 2**20]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
    spacy_loaded, torch_loaded, megabytes = json.loads(out)
    assert not spacy_loaded and not torch_loaded and megabytes < 100
    import numpy as np
    from spacy.vectors import Vectors

    from koodari.vectors import FloretTable, vectors_dir

    theirs = Vectors(shape=(1, 1)).from_disk(vectors_dir())
    assert np.array_equal(FloretTable.from_disk(vectors_dir()).get_batch(words),
                          np.asarray(theirs.get_batch(words), dtype=np.float32))


def test_old_model_without_semantic_block_loads(small, tmp_path):
    """A model saved by koodari before the semantic block (no sem_* arrays) loads and ranks lexically."""
    from koodari.classify import SuggestionModel
    from koodari.store import Study

    with Study.open(small) as study:
        blob = study.conn.execute("SELECT model FROM model_versions WHERE id = 1").fetchone()[0]
    model = SuggestionModel.from_bytes(blob)
    assert model.semantic is None and model.weights is None


def review(path: Path, **env: str):
    """`koodari review PATH --coder anna` in a real terminal."""
    import pexpect

    env = {**os.environ, "COLUMNS": "160", "LINES": "60", "TERM": "xterm", "OMP_NUM_THREADS": "1", **env}
    return pexpect.spawn(str(Path(sys.executable).with_name("koodari")), ["review", str(path), "--coder", "anna"],
                         env=env, encoding="utf-8", timeout=120, dimensions=(60, 160))


def test_review_slash_and_n_use_meaning(small, tmp_path):
    """In a real terminal: `/` finds a category by meaning alone (*sairaus*: no word, lemma or letters shared with
    *terveysongelmat*), and `n` lists the uncoded units closest to the one on screen first, to code together."""
    import pexpect

    child = review(copy_with_versions(small, tmp_path, 2))
    child.expect(r"unit (\d+) ·")
    unit = child.match.group(1)
    child.expect("q quit")
    child.send("/")
    child.expect("search the tree")
    child.sendline("sairaus")
    assert child.expect(["terveysongelmat", "no category matches"]) == 0
    child.expect("number")
    child.sendline("")
    child.expect("search cancelled")
    child.send("n")
    child.expect(r"close \((\d\.\d\d)\), uncoded #(\d+):")
    assert child.match.group(2) != unit
    child.expect("new subcategory name:")
    child.sendline("")
    child.expect("no new category")
    child.send("q")
    child.expect(pexpect.EOF)


def test_review_n_codes_the_close_units_the_coder_picks(small, tmp_path):
    """In a real terminal: `n` numbers the closest uncoded units; the numbers given after the upper category are
    coded with the new subcategory too, each its own decision."""
    import pexpect

    path = copy_with_versions(small, tmp_path, 2)
    child = review(path)
    child.expect(r"unit (\d+) ·")
    unit = int(child.match.group(1))
    child.expect("q quit")
    child.send("n")
    child.expect(r"1\. close \((\d\.\d\d)\), uncoded #(\d+):")
    first_close = int(child.match.group(2))
    child.expect("new subcategory name:")
    child.sendline("yksin kotona")
    child.expect("upper category")
    child.sendline("")
    child.expect("code the close units above with it too")
    child.sendline("1")
    child.expect(r"unit (\d+) ·")
    assert int(child.match.group(1)) not in (unit, first_close)  # both coded: the next uncoded unit
    child.send("q")
    child.expect(pexpect.EOF)
    with sqlite3.connect(path) as conn:
        coded = conn.execute("SELECT r.segment_id FROM reductions r JOIN categories c ON c.id = r.category_id"
                             " WHERE c.name = 'yksin kotona' AND r.coder = 'anna' ORDER BY r.id").fetchall()
        actions = conn.execute("SELECT action FROM decisions WHERE coder = 'anna' ORDER BY id").fetchall()
    assert coded == [(unit,), (first_close,)] and actions == [("new",), ("new",)]


def test_review_n_without_the_vectors_creates_the_subcategory(small, tmp_path):
    """A lexical model's review where the vectors package is missing: `n` lists no close units (they need the
    vectors) but nothing stands in the way of the new subcategory."""
    import pexpect

    path = copy_with_versions(small, tmp_path, 1)
    child = review(path, KOODARI_VECTORS=str(tmp_path / "nowhere"))
    child.expect(r"unit (\d+) ·")
    unit = int(child.match.group(1))
    child.expect("q quit")
    child.send("n")
    assert child.expect(["new subcategory name:", "word vectors missing"]) == 0
    child.sendline("yksin kotona")
    child.expect("upper category")
    child.sendline("")
    child.expect(r"unit (\d+) ·")
    child.send("q")
    child.expect(pexpect.EOF)
    with sqlite3.connect(path) as conn:
        coded = conn.execute("SELECT r.segment_id FROM reductions r JOIN categories c ON c.id = r.category_id"
                             " WHERE c.name = 'yksin kotona' AND r.coder = 'anna'").fetchall()
    assert coded == [(unit,)]


def test_hierarchy_lifts_a_category_whose_upper_category_is_likely():
    """The hierarchy combination: a subcategory whose siblings and upper category score well overtakes
    slightly better-scoring categories that stand alone; the weight is chosen on out-of-fold ranks (top 3),
    0 when the parent does not help."""
    import numpy as np

    from koodari.semantic import fit_hierarchy, hierarchical, parent_index

    classes = np.array([10, 11, 12, 30, 31, 32])  # upper 10 with subs 11 and 12; 30–32 stand alone
    parents = parent_index(classes, {11: 10, 12: 10, 10: None})
    assert parents.tolist() == [-1, 0, 0, -1, -1, -1]
    scores = np.array([[0.5, 0.9, 0.8, 1.0, 0.99, 0.98]])
    assert int(np.argmax(hierarchical(scores, parents, 0.0))) == 3  # alone, 30 leads
    assert int(np.argmax(hierarchical(scores, parents, 1.0))) == 1  # with its upper category, 11 leads
    allowed = np.ones((1, 6), dtype=bool)
    assert fit_hierarchy(scores, np.array([1]), allowed, parents) > 0  # the truth is 11: the parent helps
    assert fit_hierarchy(scores, np.array([4]), allowed, parents) == 0.0  # the truth is 31: no weight


def test_trained_model_keeps_its_hierarchy(small):
    """`train` stores each class's parent (the upper category of a subcategory) with the model."""
    import numpy as np

    from koodari.classify import SuggestionModel
    from koodari.store import Study

    with Study.open(small) as study:
        blob = study.conn.execute("SELECT model FROM model_versions WHERE id = 2").fetchone()[0]
        ids = {c.name: c.id for c in study.categories()}
    model = SuggestionModel.from_bytes(blob)
    hierarchy = model.meta["hierarchy"]
    classes = list(model.classes)
    parents = np.asarray(hierarchy["parents"])
    lonely = classes.index(ids["yksinäisyys"])
    assert classes[parents[lonely]] == ids["sosiaaliset ongelmat"]
    assert 0.0 <= hierarchy["weight"] <= 1.0


def test_search_scores_are_standardised_before_they_are_added():
    """Words and meaning count on a common scale: each kind of score is standardised over the texts."""
    import numpy as np

    from koodari import search
    from koodari.nlp.analysed import AnalysedText

    def word(w: str) -> AnalysedText:
        return AnalysedText.from_json([{"text": w, "normalised": w, "lemma": w, "upos": "NOUN"}], w)

    docs = [word("kaveri"), word("ystävä"), word("auto"), word("raha")]
    index = search.MeaningIndex(docs)
    query = word("ystävä")
    scores = index.scores(query)
    assert abs(float(scores.mean())) < 1e-6  # each part has mean 0 over the texts
    assert int(np.argmax(scores)) == 1 and scores[0] > scores[2]  # kaveri is closer to ystävä than auto
    z = search._standardised(np.array([0.0, 0.1, 0.2, 0.3]))
    assert abs(float(z.std()) - 1) < 1e-6 and abs(float(z.mean())) < 1e-6
