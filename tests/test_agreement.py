"""`koodari agree`: inter-coder agreement checked against published worked examples and reference packages."""

import csv
import json

import numpy as np
import pytest

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", nominal data, 4 observers x 12 units;
# published nominal alpha = 0.743. "." is a missing value.
KRIPPENDORFF = {
    "A": "1 2 3 3 2 1 4 1 2 . . .",
    "B": "1 2 3 3 2 2 4 1 2 5 . 3",
    "C": ". 3 3 3 2 3 4 2 2 5 1 .",
    "D": "1 2 3 3 2 4 4 1 2 5 1 .",
}
# Fleiss (1971) as printed in the standard worked example: 10 subjects, 14 raters, 5 categories; kappa = 0.210.
FLEISS = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
          [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]


def write_codings(path, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["unit", "coder", "reduction", "subcategory", "upper", "question"])
        writer.writerows(rows)


def study_with(cli, tmp_path, rows):
    study = tmp_path / "agree.koodari"
    assert cli("init", study).exit_code == 0
    csv_path = tmp_path / "codings.csv"
    write_codings(csv_path, rows)
    result = cli("reductions", "import", study, csv_path)
    assert result.exit_code == 0, result.output
    return study


def test_krippendorff_published_example(cli, tmp_path):
    rows = []
    for coder, values in KRIPPENDORFF.items():
        for unit, value in enumerate(values.split(), 1):
            if value != ".":
                rows.append([f"u{unit}", coder, f"arvo {value}", f"luokka {value}", "kaikki", "Q"])
    study = study_with(cli, tmp_path, rows)
    result = cli("agree", study, "--coders", "A,B,C,D", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["krippendorff_alpha"] == pytest.approx(0.743, abs=0.0005)
    low, high = data["alpha_ci"]
    assert low < 0.743 < high
    assert data["n_units"] == 11  # unit 12 has a single value: not pairable
    assert set(data) >= {"n_units", "percent", "cohen_kappa", "fleiss_kappa", "krippendorff_alpha", "alpha_ci",
                         "per_category", "disagreements"}
    assert data["cohen_kappa"] is None  # four coders: Cohen's kappa is for two
    # Fleiss uses the units all four coded
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    matrix = np.array([[int(v) if v != "." else -1 for v in KRIPPENDORFF[c].split()] for c in "ABCD"])
    complete = (matrix >= 0).all(axis=0)
    expected = fleiss_kappa(aggregate_raters(matrix[:, complete].T)[0])
    assert data["fleiss_kappa"] == pytest.approx(expected, abs=1e-4)


def test_fleiss_published_example(cli, tmp_path):
    rows = []
    for subject, counts in enumerate(FLEISS, 1):
        labels = [category for category, n in enumerate(counts, 1) for _ in range(n)]
        for rater, label in enumerate(labels, 1):
            rows.append([f"s{subject}", f"r{rater}", "x", f"luokka {label}", "kaikki", "Q"])
    study = study_with(cli, tmp_path, rows)
    data = json.loads(cli("agree", study, "--json").output)
    assert data["fleiss_kappa"] == pytest.approx(0.210, abs=0.0005)
    assert data["n_units"] == 10 and len(data["coders"]) == 14


def test_two_coders_cohen_percent_and_disagreements(cli, tmp_path):
    from sklearn.metrics import cohen_kappa_score

    a = ["kiire", "kiire", "tuki", "tuki", "motivointi", "kiire", "tuki", "motivointi"]
    b = ["kiire", "tuki", "tuki", "tuki", "motivointi", "tuki", "kiire", "motivointi"]
    upper = {"kiire": "kuormitus", "tuki": "työyhteisö", "motivointi": "asiakastyö"}
    rows = [[f"u{i}", "anna", f"teksti {i}", x, upper[x], "Q"] for i, x in enumerate(a)]
    rows += [[f"u{i}", "ben", f"teksti {i}", x, upper[x], "Q"] for i, x in enumerate(b)]
    study = study_with(cli, tmp_path, rows)
    data = json.loads(cli("agree", study, "--coders", "anna,ben", "--json").output)
    assert data["n_units"] == 8 and data["percent"] == 62.5
    assert data["cohen_kappa"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-4)
    # the confusion kiire/tuki happens three times: it comes first
    assert {frozenset(d["codes"].values()) for d in data["disagreements"][:3]} == {frozenset({"kiire", "tuki"})}
    assert data["disagreements"][0]["confusion_count"] == 3
    per = {row["category"]: row["agreement"] for row in data["per_category"]}
    assert per["motivointi"] == 1.0 and per["kiire"] == pytest.approx(2 / 5)  # 2 agreeing uses of 5
    upper_level = json.loads(cli("agree", study, "--coders", "anna,ben", "--level", "upper", "--json").output)
    assert upper_level["percent"] == 62.5
    table = cli("agree", study, "--coders", "anna,ben")
    assert table.exit_code == 0 and "Krippendorff" in table.output and "disagreements" in table.output


def test_unknown_coder_and_no_overlap(cli, tmp_path):
    rows = [["u1", "anna", "x", "kiire", "kuormitus", "Q"], ["u2", "ben", "y", "kiire", "kuormitus", "Q"]]
    study = study_with(cli, tmp_path, rows)
    unknown = cli("agree", study, "--coders", "anna,carl")
    assert unknown.exit_code != 0 and "no codings by coder(s) carl" in unknown.output
    none = cli("agree", study, "--coders", "anna,ben")
    assert none.exit_code != 0 and "no unit is coded by two" in none.output


ORDINARY = {  # category: texts of units both coders coded with it
    "kiire": ["kiire kuormittaa töissä", "kova kiire joka päivä", "kiireinen työpäivä väsyttää",
              "aikataulut kiristyy ja kiire kasvaa"],
    "esimiehen tuki": ["esimies tukee työssä", "esimies kuuntelee ja auttaa", "hyvä esimies antaa tukea",
                       "esimieheltä saa apua"],
    "asiakasmäärä": ["liikaa asiakkaita jonossa", "asiakkaita on aivan liikaa", "asiakasmäärä kasvaa koko ajan",
                     "asiakkaita tulee ovista ja ikkunoista"],
}
# units whose code nobody used elsewhere, their text close to another category's: a model that saw the
# unit's own codes reproduces them, a model that never saw them cannot
PROBES = {"p1": ("kiire kuormittaa töissä kovasti", "lomat"), "p2": ("esimies tukee työssä paljon", "palkka")}


@pytest.mark.slow
def test_model_as_a_cross_fitted_coder(cli, tmp_path):
    rows = []
    for category, texts in ORDINARY.items():
        for i, text in enumerate(texts):
            rows += [[f"{category}-{i}", coder, text, category, "työ", "Q"] for coder in ("anna", "ben")]
    for unit, (text, category) in PROBES.items():
        rows += [[unit, coder, text, category, "työ", "Q"] for coder in ("anna", "ben")]
    study = study_with(cli, tmp_path, rows)
    result = cli("agree", study, "--coders", "model,anna", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["coders"] == ["model", "anna"] and data["n_units"] == 14
    model_codes = {row["unit"]: row["codes"]["model"] for row in data["disagreements"]}
    # the probes' own codes were held out of the model that coded them: it codes them by their neighbours
    assert model_codes["p1"] == "kiire" and model_codes["p2"] == "esimiehen tuki"
    # and the model does code: the ordinary units it gets right, but for the probes' twins (held out, their
    # nearest neighbour is the probe)
    assert set(model_codes) <= {"p1", "p2", "kiire-0", "esimiehen tuki-0"}
