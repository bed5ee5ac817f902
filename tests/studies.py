"""Small real studies for tests: built through the CLI (init, reductions import, import, train, analyse),
then copied per test with SQLite's backup API."""

from __future__ import annotations

import sqlite3
from pathlib import Path

REDUCTIONS = """\
reduction,subcategory,upper,combining,question,coder
kiire kuormittaa,kiire,työn kuormitus,työssä jaksaminen,T1,thesis
asiakkaita on liikaa,asiakkaiden määrä,työn kuormitus,työssä jaksaminen,T1,thesis
esimies tukee jaksamista,esimiehen tuki,työyhteisön tuki,työssä jaksaminen,T1,thesis
työkaverit auttavat,työkavereiden tuki,työyhteisön tuki,työssä jaksaminen,T1,thesis
motivointi on tärkeää,asiakkaan motivointi,asiakkaan voimavarat,asiakastyö,T1,thesis
kannustaminen auttaa asiakasta,asiakkaan kannustaminen,asiakkaan voimavarat,asiakastyö,T1,thesis
"""
TRANSCRIPT = """\
T1

H: Mikä kuormittaa?
P1: Kiire on hirvee. Asiakkaita on niin palijon ettei ehi.
P2: Esimies tukkee hyvin. Työkaverit auttaa aina.
P3: Niinku tuota motivointi on sitten tärkee taito.
"""


def build_study(folder: Path, reductions: str = REDUCTIONS, transcript: str = TRANSCRIPT) -> Path:
    """A study with the reductions, one transcript, a trained model and analysed units, made with the CLI."""
    from typer.testing import CliRunner

    from koodari.cli import app

    (folder / "red.csv").write_text(reductions, encoding="utf-8")
    (folder / "h.txt").write_text(transcript, encoding="utf-8")
    path = folder / "template.koodari"
    run = CliRunner()
    for args in (["init", path], ["reductions", "import", path, folder / "red.csv"], ["import", path, folder / "h.txt"],
                 ["train", path, "--folds", "0"], ["analyse", path]):
        result = run.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
    return path


def copy_study(template: Path, path: Path) -> Path:
    """A fresh copy of a template study (consistent even if the template is in WAL mode)."""
    src, dst = sqlite3.connect(template), sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    return path
