"""`koodari reductions import`: the researcher's own analysis as CSV."""

import json

import pytest

from koodari.store import Study
from tests.conftest import fingerprint

CSV = (
    (
        "reduction;subcategory;upper;combining;question;speaker;unit;coder;original\n"
        "motivointitaito on tärkeä;asiakkaan motivointi;asiakkaan voimavarojen vahvistaminen;"
        "asiakkaan osallisuuden vahvistaminen;T1;E1;1/T1;anna;motivointi taito -- se on hirveen tärkee\n"
    )
    + """\
osataan motivoida ihmiset;asiakkaan motivointi;;;T1;E3;3/T1;anna;
kiire kuormittaa;kiire;;;T2;P3;;;
"""
)


def test_a_row_without_a_question_is_refused_once_the_study_has_questions(tmp_path, cli, study_path):
    """A row with no research question in a study that has them would have started a question "default" with copies
    of the study's categories; it is refused in one line and nothing is imported. A new question code is named."""
    path = tmp_path / "r.csv"
    path.write_text(CSV, encoding="utf-8")
    assert cli("reductions", "import", study_path, path).exit_code == 0
    before = fingerprint(study_path)
    bare = tmp_path / "bare.csv"
    bare.write_text("reduction,subcategory\nkiire painaa,kiire\n", encoding="utf-8")
    result = cli("reductions", "import", study_path, bare)
    assert result.exit_code != 0
    assert "bare.csv" in result.output and "line 2: no research question (the study has T1, T2)" in result.output
    assert "Traceback" not in result.output and fingerprint(study_path) == before
    typo = tmp_path / "typo.csv"
    typo.write_text("reduction,subcategory,question\nkiire painaa,kiire,T22\n", encoding="utf-8")
    result = cli("reductions", "import", study_path, typo)
    assert result.exit_code == 0 and "new research questions: T22 (check the 'question' column" in result.output
    with Study.open(study_path) as study:
        assert [q["code"] for q in study.questions()] == ["T1", "T2", "T22"]


def test_a_row_without_a_question_is_refused_when_the_file_s_other_rows_name_one(tmp_path, cli, study_path):
    """Into a study without questions, a file whose rows name T1 but one row leaves the question empty (a slip) would
    file that row under a question "default" of its own, with a copy of T1's categories: refused, nothing imported."""
    before = fingerprint(study_path)
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("reduction,subcategory,upper,question\nrahat loppuu,talous,ongelmat,T1\n"
                     "velkaa on,talous,ongelmat,\n", encoding="utf-8")
    result = cli("reductions", "import", study_path, mixed)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "mixed.csv" in result.output and "line 3: no research question (other rows name T1)" in result.output
    assert fingerprint(study_path) == before


def test_csv_import_builds_and_grows_the_tree(tmp_path, cli, study_path):
    path = tmp_path / "r.csv"
    path.write_text(CSV, encoding="utf-8")
    result = cli("reductions", "import", study_path, path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"reductions": 3, "categories_created": 4, "questions_created": ["T1", "T2"]}
    with Study.open(study_path) as study:
        t1 = study.find_question("T1")
        sub = study.find_category(t1, "sub", "asiakkaan motivointi")
        assert study.path_of(sub.id) == [
            "asiakkaan motivointi",
            "asiakkaan voimavarojen vahvistaminen",
            "asiakkaan osallisuuden vahvistaminen",
        ]
        kiire = study.find_category(study.find_question("T2"), "sub", "kiire")
        assert study.path_of(kiire.id) == ["kiire", None, None]  # missing links are allowed
        rows = study.conn.execute("SELECT coder, unit, speaker FROM reductions ORDER BY id").fetchall()
        assert [tuple(r) for r in rows] == [("anna", "1/T1", "E1"), ("anna", "3/T1", "E3"), ("default", None, "P3")]
    # the tree grows: a later file links kiire to an upper category
    later = tmp_path / "later.csv"
    later.write_text("reduction,subcategory,upper,question\nei ehi,kiire,asiakkaiden määrä,T2\n", encoding="utf-8")
    assert cli("reductions", "import", study_path, later).exit_code == 0
    with Study.open(study_path) as study:
        kiire = study.find_category(study.find_question("T2"), "sub", "kiire")
        assert study.path_of(kiire.id) == ["kiire", "asiakkaiden määrä", None]


def test_a_name_at_two_places_without_upper_is_reported_not_guessed(tmp_path, cli, study_path):
    good = tmp_path / "r.csv"
    good.write_text(CSV, encoding="utf-8")
    cli("reductions", "import", study_path, good)
    second = tmp_path / "second.csv"  # the upper column decides: a second place for the same name
    second.write_text("reduction,subcategory,upper,question\nmotivoi,asiakkaan motivointi,ohjaajan soveltuvuus,T1\n",
                      encoding="utf-8")
    assert cli("reductions", "import", study_path, second).exit_code == 0
    before = fingerprint(study_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "reduction,subcategory,upper,question\n"
        "uusi pelkistys,uusi alakategoria,jokin,T1\n"
        "motivoi,asiakkaan motivointi,,T1\n"
        "motivoi taas,asiakkaan motivointi,,T1\n",
        encoding="utf-8",
    )
    result = cli("reductions", "import", study_path, bad)
    assert result.exit_code != 0
    line = result.output.strip()
    assert len(line.splitlines()) == 1
    assert "bad.csv" in line and "line 3" in line and "asiakkaan motivointi" in line and "2 places" in line
    assert "asiakkaan voimavarojen vahvistaminen" in line and "ohjaajan soveltuvuus" in line
    assert "1 more" in line and "nothing imported" in line
    assert fingerprint(study_path) == before


@pytest.mark.parametrize(
    "content, message",
    [
        ("reduction,upper\nx,y\n", "lacks required column(s): subcategory"),
        ("text,category\nx,y\n", "lacks required column(s): reduction, subcategory"),
        ("reduction,subcategory\n", "no rows"),
        ("reduction,subcategory\nx,\n", "line 2: empty"),
        ("", "file is empty"),
    ],
)
def test_bad_csv(tmp_path, cli, study_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    before = fingerprint(study_path)
    result = cli("reductions", "import", study_path, path)
    assert result.exit_code != 0
    assert "bad.csv" in result.output and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert fingerprint(study_path) == before


def test_cp1252_csv_from_excel(tmp_path, cli, study_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("reduction;subcategory\nTyöllistyminen on tärkeää;työllistyminen\n".encode("cp1252"))
    assert cli("reductions", "import", study_path, path).exit_code == 0
    with Study.open(study_path) as study:
        assert study.conn.execute("SELECT reduction FROM reductions").fetchone()[0] == "Työllistyminen on tärkeää"


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_doubled_quotes_as_excel_and_the_csv_module_write_them(tmp_path, cli, study_path, delimiter):
    import csv
    import io

    original = 'Se sano että "ei käy", ja lähti pois'
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)  # the csv module's (and Excel's) dialect: "" inside quotes
    writer.writerow(["original", "reduction", "subcategory", "upper", "question"])
    writer.writerow([original, "ei käy hänelle", "kieltäytyminen", "asiakkaan valinnat", "T3"])
    writer.writerow(["toinen", "lähti pois", "poistuminen", "asiakkaan valinnat", "T3"])
    assert '""ei käy""' in buffer.getvalue()
    path = tmp_path / "quoted.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    result = cli("reductions", "import", study_path, path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"reductions": 2, "categories_created": 3, "questions_created": ["T3"]}
    with Study.open(study_path) as study:
        rows = study.conn.execute("SELECT original, reduction FROM reductions ORDER BY id").fetchall()
        assert [tuple(r) for r in rows] == [(original, "ei käy hänelle"), ("toinen", "lähti pois")]
        assert [q["code"] for q in study.questions()] == ["T3"]
        sub = study.find_category(study.find_question("T3"), "sub", "kieltäytyminen")
        assert study.path_of(sub.id) == ["kieltäytyminen", "asiakkaan valinnat", None]
