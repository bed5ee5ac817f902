"""Tree changes and the model: retraining on the changed tree, suggestions, re-coding a split category in
review, and `m` (merge/move) on the review screen in a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pytest

from koodari.nlp.pipeline import FinnishPipeline
from koodari.review import ReviewSession
from koodari.store import Study
from tests.studies import REDUCTIONS, TRANSCRIPT, build_study, copy_study

pytestmark = pytest.mark.slow
KOODARI = str(Path(sys.executable).with_name("koodari"))


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_study(tmp_path_factory.mktemp("treemodel"), REDUCTIONS, TRANSCRIPT)


@pytest.fixture
def study(template, tmp_path) -> Path:
    return copy_study(template, tmp_path / "s.koodari")


@pytest.fixture(scope="module")
def pipeline() -> FinnishPipeline:
    return FinnishPipeline()


def versions(study: Path) -> list[dict]:
    with Study.open(study) as s:
        return [json.loads(r[0]) for r in s.conn.execute("SELECT training FROM model_versions ORDER BY id")]


def test_suggestions_after_merge_and_retire_never_name_them(cli, study):
    first = json.loads(cli("suggest", study, "--text", "Kiire on hirvee", "--question", "T1", "--json").output)
    assert first[0]["category"] == "kiire"
    from koodari.treeops import parse_time

    moment = parse_time(__import__("datetime").datetime.now().isoformat())
    time.sleep(0.01)
    assert cli("tree", study, "merge", "kiire", "INTO", "asiakkaiden määrä").exit_code == 0
    assert cli("tree", study, "retire", "esimiehen tuki").exit_code == 0
    trained = len(versions(study))
    for text in ("Kiire on hirvee", "Esimies tukkee hyvin", "Ei oo aikaa, kiire"):
        result = cli("suggest", study, "--text", text, "--question", "T1", "--json", "--top", "9")
        assert result.exit_code == 0, result.output
        names = [item["category"] for item in json.loads(result.output)]
        assert names and "kiire" not in names and "esimiehen tuki" not in names
        if text == "Kiire on hirvee":  # the old code of 'kiire' now teaches its merge target
            assert names[0] == "asiakkaiden määrä"
    assert len(versions(study)) == trained + 1  # retrained once, on the changed tree, then reused
    upper = json.loads(cli("suggest", study, "--text", "Esimies tukkee", "--question", "T1", "--level", "upper",
                           "--json").output)
    assert upper  # upper categories still suggested (työyhteisön tuki keeps its other subcategory)
    with Study.open(study) as s:
        t1 = s.find_question("T1")
        gone = {c.id for c in s.categories(include_merged=True) if c.name in ("kiire", "esimiehen tuki")}
        from koodari.suggest import latest_model

        _, model = latest_model(s)
        assert not gone & {int(c) for c in model.classes}
        assert s.find_category(t1, "sub", "asiakkaiden määrä")
    # evaluation on the tree now (the retired category's codes are no examples) and as it was before the changes
    now = json.loads(cli("evaluate", study, "--folds", "2", "--json").output)
    then = json.loads(cli("evaluate", study, "--folds", "2", "--as-of", moment, "--json").output)
    assert (now["n"], then["n"]) == (5, 6)
    result = cli("evaluate", study, "--folds", "2", "--as-of", "2000-01-01", "--json")
    assert result.exit_code != 0 and "no coded material" in result.output  # nothing was coded in 2000


def test_split_codings_are_offered_once_for_recoding(study, pipeline):
    with Study.open(study) as s:
        session = ReviewSession(s, "anna", pipeline, background=False)
        kiire = s.find_category(s.find_question("T1"), "sub", "kiire").id
        units = session.uncoded()
        for unit in units:
            session.code(unit, kiire, "search")
        first_times = [r[0] for r in s.conn.execute(
            "SELECT created_at FROM reductions WHERE coder = 'anna' ORDER BY id")]
    from koodari import treeops

    with Study.open(study) as s:
        change = treeops.split(s, "kiire", ["kiireen tunne", "kiireen määrä"], who="anna")
        assert change.awaiting == [("anna", len(units))]
        session = ReviewSession(s, "anna", pipeline, background=False)
        assert session.uncoded() == units  # each of anna's kiire units once
        ben = ReviewSession(s, "ben", pipeline, background=False)
        assert ben.uncoded() == units  # ben's queue is his own, as before
        shown = []
        unit = session.next_unit()
        while unit is not None:
            assert unit not in shown
            shown.append(unit)
            suggestions = session.suggestions(unit)
            assert [x.category for x in suggestions[:2]] == ["kiireen tunne", "kiireen määrä"]
            assert suggestions[0].reason == "split from 'kiire'"
            assert "kiire" not in [x.category for x in suggestions]
            session.accept(unit, 1 if len(shown) % 2 else 2)
            unit = session.next_unit()
        assert shown == units
        rows = s.conn.execute("SELECT c.name, r.created_at, r.coder FROM reductions r JOIN categories c"
                              " ON c.id = r.category_id WHERE r.coder = 'anna' ORDER BY r.id").fetchall()
        assert len(rows) == len(units)  # re-coded, not coded twice
        assert [r[1] for r in rows] == first_times  # the codings keep their time
        assert {r[0] for r in rows} == {"kiireen tunne", "kiireen määrä"}
        # undo in review moves the last one back to the split category: it is offered again
        back = session.undo()
        assert back == units[-1] and session.next_unit() == units[-1]


def test_m_merges_and_moves_from_the_review_screen(study):
    env = {**os.environ, "COLUMNS": "160", "LINES": "60", "TERM": "xterm"}
    child = pexpect.spawn(KOODARI, ["review", str(study), "--coder", "anna"], env=env, encoding="utf-8",
                          timeout=90, dimensions=(60, 160))
    child.expect(r"coded 0/5")
    child.expect("q quit")
    child.send("m")
    child.expect(r"merge or move (.+?) \((T1/[^)]+)\)")
    name = re.sub(r"\x1b\[[0-9;]*m", "", child.match.group(1)).strip()
    other = "esimiehen tuki" if name != "esimiehen tuki" else "kiire"
    child.expect("search the tree for where it goes")
    child.sendline(other)
    child.expect("number")
    child.sendline("1")
    child.expect(r"merged T1/.+? into T1/")  # "change 1: ..." (rich colours the number)
    child.expect("q quit")
    # and move: the unit's category (now perhaps another one) under an upper category it is not under
    child.send("m")
    child.expect(r"merge or move (.+?) \((T1/[^)]+)\)")
    place = re.sub(r"\x1b\[[0-9;]*m", "", child.match.group(2))
    upper = next(u for u in ("työyhteisön tuki", "työn kuormitus", "asiakkaan voimavarat") if u not in place)
    child.expect("search the tree for where it goes")
    child.sendline(upper)
    child.expect(r"(\d+)\s*│\s*move under")
    number = child.match.group(1)
    child.expect("number")
    child.sendline(number)
    child.expect(r"moved T1/\S+")
    child.expect("q quit")
    child.send("q")
    child.expect(pexpect.EOF)
    with Study.open(study) as s:
        events = s.tree_events()
        assert [(e["action"], e["who"]) for e in events] == [("merge", "anna"), ("move", "anna")]
        merged = [c for c in s.categories(include_merged=True) if c.state == "merged"]
        assert [c.name for c in merged] == [name]
        assert re.search(re.escape(upper), events[1]["summary"])
