"""Units whose theme names no research question: koodari asks which question they belong to (import hint,
`koodari assign`, or a choice in review), remembers the answer, and never mixes trees or invents a question."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pexpect
import pytest

from koodari.store import Study
from tests.test_review import KOODARI

TRANSCRIPT = """\
Teema 1

H: Keiden kanssa teette yhteistyötä?
P1: Te-toimiston kanssa ollaan tosi paljon tekemisissä.
P2: Kunnan sosiaalitoimi on kans tärkee kumppani.
"""


def write(folder: Path, name: str, text: str = TRANSCRIPT) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def questions_of_units(study: Path) -> list:
    conn = sqlite3.connect(study)
    try:
        return [r[0] for r in conn.execute(
            "SELECT q.code FROM segments s LEFT JOIN questions q ON q.id = s.question_id"
            " WHERE s.is_interviewer = 0 ORDER BY s.id")]
    finally:
        conn.close()


def test_import_names_the_unlinked_theme_and_assign_links_and_remembers_it(seed_study, cli, tmp_path):
    result = cli("import", seed_study, write(tmp_path, "a.txt"))
    assert result.exit_code == 0
    assert "3 units (theme 'Teema 1') belong to no research question" in result.output and 'assign' in result.output
    assert questions_of_units(seed_study) == [None, None]
    result = cli("assign", seed_study, "--theme", "Teema 1", "--question", "T8", "--json")
    assert result.exit_code == 0, result.output
    assert '"units": 3' in result.output  # the interviewer's turn too
    assert questions_of_units(seed_study) == ["T8", "T8"]
    # a later interview with the same theme follows the remembered answer
    cli("import", seed_study, write(tmp_path, "b.txt", TRANSCRIPT.replace("tosi paljon", "aika usein")))
    assert questions_of_units(seed_study) == ["T8"] * 4


def test_assign_refuses_bad_input(seed_study, cli):
    assert cli("assign", seed_study, "--question", "T8").exit_code != 0
    result = cli("assign", seed_study, "--question", "T99", "--theme", "Teema 1")
    assert result.exit_code != 0 and "no research question 'T99'" in result.output
    result = cli("assign", seed_study, "--question", "T8", "--document", "nope.txt")
    assert result.exit_code != 0 and "no document 'nope.txt'" in result.output


@pytest.mark.slow
def test_review_asks_for_the_question_and_new_categories_go_there(seed_study, cli, tmp_path):
    assert cli("import", seed_study, write(tmp_path, "a.txt")).exit_code == 0
    env = {**os.environ, "COLUMNS": "160", "LINES": "60", "TERM": "xterm"}
    child = pexpect.spawn(KOODARI, ["review", str(seed_study), "--coder", "anna"], env=env, encoding="utf-8",
                          timeout=180, dimensions=(60, 160))
    child.expect("belongs to no research question yet")
    child.expect("number or code")
    child.sendline("T8")
    child.expect(r"unit \d+ · P1 · T8: Mitkä ovat")  # the screen now names the question
    child.expect("q quit")
    child.send("n")
    child.expect("new subcategory name:")
    child.sendline("te-toimiston tiivis yhteistyö")
    child.expect("upper category")
    child.sendline("")
    child.expect("code the close units above with it too")
    child.sendline("")
    child.expect(r"unit \d+ · P2 · T8")  # the second unit shares the theme: no second question asked
    child.send("q")
    child.expect(pexpect.EOF)
    with Study.open(seed_study) as s:
        t8 = s.find_question("T8")
        created = [c for c in s.categories(level="sub") if c.name == "te-toimiston tiivis yhteistyö"]
        assert [c.question_id for c in created] == [t8]
        assert s.find_question("default") is None
    assert questions_of_units(seed_study) == ["T8", "T8"]
