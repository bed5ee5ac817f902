"""`koodari review` driven in a real pseudo-terminal (pexpect), and the session logic behind it."""

import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pexpect
import pytest

from koodari.nlp.pipeline import FinnishPipeline
from koodari.review import ReviewSession
from koodari.store import Study
from tests.studies import REDUCTIONS, TRANSCRIPT, build_study, copy_study  # noqa: F401

pytestmark = pytest.mark.slow

KOODARI = str(Path(sys.executable).with_name("koodari"))  # the console script of this venv


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_study(tmp_path_factory.mktemp("review"))


@pytest.fixture
def study(template, tmp_path) -> Path:
    return copy_study(template, tmp_path / "review.koodari")


def spawn(study: Path, coder: str, *extra: str) -> pexpect.spawn:
    env = {**os.environ, "COLUMNS": "160", "LINES": "60", "TERM": "xterm"}
    child = pexpect.spawn(KOODARI, ["review", str(study), "--coder", coder, *extra], env=env, encoding="utf-8",
                          timeout=90, dimensions=(60, 160))
    return child


def screen(child: pexpect.spawn, coded: int) -> str:
    """Wait for the screen that shows `coded N/` and its key prompt; returns the unit line."""
    child.expect(rf"coded {coded}/5")
    child.expect(r"unit (\d+) ·")
    unit = child.match.group(1)
    child.expect("q quit")
    return unit


def codings(study: Path, coder: str) -> list[tuple]:
    conn = sqlite3.connect(study)
    rows = conn.execute(
        "SELECT r.segment_id, c.name, r.reduction, d.action, d.suggestion_rank FROM reductions r"
        " JOIN categories c ON c.id = r.category_id JOIN decisions d ON d.reduction_id = r.id"
        " WHERE r.coder = ? AND r.retracted_by IS NULL ORDER BY r.id", (coder,)).fetchall()
    conn.close()
    return rows


def test_accept_pick_skip_quit_and_resume(study):
    child = spawn(study, "anna")
    first = screen(child, 0)
    child.send("\r")  # Enter accepts suggestion 1
    second = screen(child, 1)
    child.send("2")  # pick suggestion 2
    third = screen(child, 2)
    child.send("s")  # skip
    screen(child, 2)
    child.send("q")
    child.expect("saved: 2/5 units coded by anna")
    child.expect(pexpect.EOF)
    rows = codings(study, "anna")
    assert [(str(r[0]), r[3], r[4]) for r in rows] == [(first, "accept", 1), (second, "pick", 2)]
    # resume: the next review starts at the first uncoded unit, the skipped one
    child = spawn(study, "anna")
    assert screen(child, 2) == third
    child.send("q")
    child.expect(pexpect.EOF)


def test_new_category_with_upper_suggestions(study):
    child = spawn(study, "anna")
    unit = screen(child, 0)
    child.send("n")
    child.expect("new subcategory name:")
    child.sendline("kiireen tunne")
    child.expect(r"1\. ")  # the upper categories suggested for this unit
    child.expect("upper category")
    child.sendline("työn kuormitus")
    child.expect("code the close units above with it too")  # Enter: none of them
    child.sendline("")
    screen(child, 1)
    child.send("q")
    child.expect(pexpect.EOF)
    with Study.open(study) as s:
        sub = s.find_category(s.find_question("T1"), "sub", "kiireen tunne")
        assert s.path_of(sub.id) == ["kiireen tunne", "työn kuormitus", "työssä jaksaminen"]
    assert codings(study, "anna") == [(int(unit), "kiireen tunne", None, "new", None)]


def test_reduction_draft_without_fillers(study):
    child = spawn(study, "anna")
    for coded in range(4):  # Enter past the first four units to reach P3's utterance
        screen(child, coded)
        child.send("\r")
    screen(child, 4)
    child.send("r")
    child.expect("reduction: ")
    child.expect("motivointi")  # the draft is prefilled: fillers (niinku, tuota, sitten) are gone
    child.sendline("")
    child.expect("goes with the next code")
    child.expect("q quit")
    child.send("\r")
    child.expect("saved: 5/5 units coded by anna — all done")
    child.expect(pexpect.EOF)
    reduction = codings(study, "anna")[-1][2]
    assert reduction and "motivointi" in reduction.lower()
    assert "niin kuin" not in reduction and "tuota" not in reduction and "sitten" not in reduction


def test_undo_retracts_and_shows_the_unit_again(study):
    child = spawn(study, "anna")
    first = screen(child, 0)
    child.send("\r")
    screen(child, 1)
    child.send("u")
    assert screen(child, 0) == first
    child.send("q")
    child.expect(pexpect.EOF)
    assert codings(study, "anna") == []
    conn = sqlite3.connect(study)
    actions = [r[0] for r in conn.execute("SELECT action FROM decisions ORDER BY id")]
    retracted = conn.execute("SELECT count(*) FROM reductions WHERE retracted_by IS NOT NULL").fetchone()[0]
    conn.close()
    assert actions == ["accept", "undo"] and retracted == 1  # nothing deleted, the coding is marked


def test_search_by_dialect_or_inflected_form(study):
    child = spawn(study, "anna")
    unit = screen(child, 0)
    child.send("/")
    child.expect("search the tree")
    child.sendline("työkavereilta")
    child.expect("työkavereiden tuki")
    child.expect("number")
    child.sendline("1")
    screen(child, 1)
    child.send("q")
    child.expect(pexpect.EOF)
    assert codings(study, "anna") == [(int(unit), "työkavereiden tuki", None, "search", None)]


def test_ctrl_c_and_kill_lose_nothing(study):
    child = spawn(study, "anna")
    screen(child, 0)
    child.send("\r")
    screen(child, 1)
    child.sendintr()  # Ctrl-C
    child.expect("everything decided so far is saved")
    child.expect(pexpect.EOF)
    assert len(codings(study, "anna")) == 1
    child = spawn(study, "anna")
    screen(child, 1)
    child.send("\r")
    screen(child, 2)
    os.kill(child.pid, signal.SIGKILL)  # kill -9 in the middle of a session
    child.expect(pexpect.EOF)
    assert len(codings(study, "anna")) == 2
    child = spawn(study, "anna")
    screen(child, 2)  # resumes after the two committed decisions
    child.send("q")
    child.expect(pexpect.EOF)


def screen_version(child: pexpect.spawn, coded: int) -> tuple[int, int]:
    """Wait for the screen that shows `coded N/`; returns (its unit, the model version that suggested)."""
    child.expect(rf"coded {coded}/5[^\n]*model v(\d+)")
    version = int(child.match.group(1))
    return int(screen_rest(child)), version


def screen_rest(child: pexpect.spawn) -> str:
    child.expect(r"unit (\d+) ·")
    unit = child.match.group(1)
    child.expect("q quit")
    return unit


def blind_versions(study: Path, coder: str) -> set[int]:
    conn = sqlite3.connect(study)
    rows = conn.execute("SELECT id, training FROM model_versions").fetchall()
    conn.close()
    return {v for v, training in rows if json.loads(training).get("blind_for") == coder}


def test_two_concurrent_blind_reviewers(study):
    """Two coders review the same units at once, in two terminals, retraining after every decision: each is
    suggested to only by models that never saw the other's codes, and every decision of both is stored."""
    import time

    anna, ben = spawn(study, "anna", "--retrain-every", "1"), spawn(study, "ben", "--retrain-every", "1")
    seen: dict[str, list[tuple[int, int]]] = {"anna": [screen_version(anna, 0)], "ben": [screen_version(ben, 0)]}
    assert seen["anna"][0][0] == seen["ben"][0][0]  # the same first unit: ben's queue does not see anna's work
    for coded in (1, 2, 3):
        anna.send("\r")  # anna accepts the first suggestion, ben picks the second: their codes differ
        ben.send("2")
        seen["anna"].append(screen_version(anna, coded))
        seen["ben"].append(screen_version(ben, coded))
        deadline = time.monotonic() + 120  # let both background retrainings finish before the next decision
        while not (len(blind_versions(study, "anna")) >= coded and len(blind_versions(study, "ben")) >= coded):
            assert time.monotonic() < deadline, "retraining did not finish"
            time.sleep(0.5)
    anna.send("\r")
    ben.send("2")
    seen["anna"].append(screen_version(anna, 4))
    seen["ben"].append(screen_version(ben, 4))
    for child in (anna, ben):
        child.send("q")
        child.expect(pexpect.EOF)
    conn = sqlite3.connect(study)
    records = {v: json.loads(t) for v, t in conn.execute("SELECT id, training FROM model_versions")}
    decisions = {coder: conn.execute("SELECT segment_id, model_version_id FROM decisions WHERE coder = ?"
                                     " ORDER BY id", (coder,)).fetchall() for coder in ("anna", "ben")}
    conn.close()
    for coder, other in (("anna", "ben"), ("ben", "anna")):
        # every decision stored, on the unit shown, with the version the screen named
        assert decisions[coder] == seen[coder][:4]
        assert [unit for unit, *_ in codings(study, coder)] == [unit for unit, _ in seen[coder][:4]]
        for _, version in seen[coder]:  # no model that suggested to this coder saw the other's review codes
            assert other not in records[version]["review_coders"] and other not in records[version]["coders"]
        # the suggestions came from models retrained on this coder's own decisions as the review went on
        assert records[seen[coder][-1][1]]["review_coders"] == [coder]
        assert records[seen[coder][-1][1]]["blind_for"] == coder
    assert codings(study, "anna") != codings(study, "ben")  # both coders' own codes, not one copied


def test_help_key(study):
    child = spawn(study, "anna")
    screen(child, 0)
    child.send("?")
    child.expect("keep the unit open")
    child.send("q")
    child.expect(pexpect.EOF)


# -- the session logic, called directly ---------------------------------------------------------


@pytest.fixture(scope="module")
def pipeline() -> FinnishPipeline:
    return FinnishPipeline()


def test_retraining_after_n_decisions(study, pipeline):
    with Study.open(study) as s:
        session = ReviewSession(s, "anna", pipeline, retrain_every=2, background=False)
        before = session.suggester.version
        for _ in range(2):
            session.accept(session.next_unit())
        session.next_unit()
        assert session.suggester.version > before
        progress = session.progress()
        assert progress.coded == 2 and progress.accept_rate == 1.0 and progress.seconds_per_unit is not None


def test_background_retraining_is_picked_up(study, pipeline):
    with Study.open(study) as s:
        session = ReviewSession(s, "anna", pipeline, retrain_every=1, background=True)
        before = session.suggester.version
        session.accept(session.next_unit())
        session.wait_for_training()
        session.next_unit()
        assert session.suggester.version > before


def test_uncertain_order_and_multiple_codes(study, pipeline):
    with Study.open(study) as s:
        session = ReviewSession(s, "anna", pipeline, order="uncertain")
        queue = session.uncoded()
        margins = {}
        for unit in queue:
            top = [x.probability for x in session.suggestions(unit)[:2]]
            margins[unit] = top[0] - top[1]
        assert session.next_unit() == min(queue, key=lambda u: (margins[u], u))
        unit = queue[0]
        session.accept(unit, 1)
        session.accept(unit, 2)  # a long utterance can carry more than one code
        assert len(session.view(unit).codes) == 2


def test_uncertain_order_suggests_the_queue_in_one_batch_as_unit_by_unit(study, pipeline):
    with Study.open(study) as s:
        batch = ReviewSession(s, "anna", pipeline, order="uncertain")
        calls = []
        original = batch.suggester.suggest_docs
        batch.suggester.suggest_docs = lambda docs, *a, **k: calls.append(len(docs)) or original(docs, *a, **k)
        shown = batch.next_unit()
        queue = batch.uncoded()
        assert calls == [len(queue)]  # the whole queue at once (the sentence encoder runs once)
        single = ReviewSession(s, "anna", pipeline, order="uncertain")
        for unit in queue:
            one = single._model_suggestions(unit, 9)
            assert [x.category_id for x in batch.suggestions(unit)] == [x.category_id for x in one]
            expected = pytest.approx([x.probability for x in one], abs=1e-6)
            assert [x.probability for x in batch.suggestions(unit)] == expected
        assert shown == single.next_unit()


def test_blind_model_excludes_other_coders(study, pipeline):
    with Study.open(study) as s:
        ben = ReviewSession(s, "ben", pipeline)
        ben.accept(ben.next_unit())
        anna = ReviewSession(s, "anna", pipeline)
        import json

        training = json.loads(s.conn.execute(
            "SELECT training FROM model_versions WHERE id = ?", (anna.suggester.version,)).fetchone()[0])
        assert "ben" not in training["coders"]
        assert anna.next_unit() not in ben.uncoded()  # ben's coded unit is still in anna's queue


def test_closed_terminal_loses_nothing(study):
    child = spawn(study, "anna")
    screen(child, 0)
    child.send("\r")
    screen(child, 1)
    child.close(force=True)  # the terminal goes away (SIGHUP, then SIGKILL if needed)
    assert len(codings(study, "anna")) == 1
    child = spawn(study, "anna")
    screen(child, 1)
    child.send("q")
    child.expect(pexpect.EOF)


def test_resolve_disagreements_into_consensus(study, pipeline, cli):
    with Study.open(study) as s:
        anna = ReviewSession(s, "anna", pipeline)
        ben = ReviewSession(s, "ben", pipeline)
        units = anna.uncoded()[:2]
        for unit in units:
            anna.accept(unit, 1)
            ben.accept(unit, 2)  # ben disagrees on both units
        ben_first = s.conn.execute("SELECT c.name FROM reductions r JOIN categories c ON c.id = r.category_id"
                                   " WHERE r.coder = 'ben' AND r.segment_id = ?", (units[0],)).fetchone()[0]
    # the consensus step: ben's code (option 2) on the first disagreement, then quit
    result = cli("review", study, "--resolve", "anna,ben", input="2\nq\n")
    assert result.exit_code == 0, result.output
    assert "anna's code" in result.output and "ben's code" in result.output
    assert "saved: 1/2 units coded by consensus" in result.output
    with Study.open(study) as s:
        row = s.conn.execute("SELECT c.name, r.segment_id FROM reductions r JOIN categories c ON"
                             " c.id = r.category_id WHERE r.coder = 'consensus'").fetchone()
        assert tuple(row) == (ben_first, units[0])
        from koodari.suggest import coded_examples

        coders_for_unit = {e.coder for e in coded_examples(s) if e.unit == f"S{units[0]}"}
        assert coders_for_unit == {"consensus"}  # training prefers the consensus code over single coders'
    again = cli("review", study, "--resolve", "anna,ben", input="q\n")
    assert "unit " + str(units[1]) in again.output  # resumes at the remaining disagreement
    agree = json.loads(cli("agree", study, "--coders", "anna,ben", "--json").output)
    assert agree["n_units"] == 2 and agree["percent"] == 0.0


def test_history_shows_versions_with_coder_agreement(study, cli):
    with Study.open(study) as s:
        session = ReviewSession(s, "anna", FinnishPipeline())
        for _ in range(3):
            session.accept(session.next_unit())
    assert cli("train", study, "--folds", "3").exit_code == 0
    data = json.loads(cli("history", study, "--json").output)
    assert len(data) >= 2 and data[-1]["version"] > data[0]["version"]
    assert "anna" in data[-1]["metrics"]["agreement_with_coders"]
    table = cli("history", study)
    assert table.exit_code == 0 and "κ vs anna" in table.output and "model versions" in table.output


def test_plus_keeps_the_unit_open_for_a_second_code(study):
    child = spawn(study, "anna")
    unit = screen(child, 0)
    child.send("+")
    child.expect("keeps this unit open")
    child.expect("q quit")
    child.send("\r")  # first code: suggestion 1
    child.expect(r"unit (\d+) ·[\s\S]*stays open for another code")  # the same unit, with the message
    assert child.match.group(1) == unit
    child.expect("q quit")
    child.send("2")  # second code for the same unit, then the next unit comes
    screen(child, 1)
    child.send("q")
    child.expect(pexpect.EOF)
    rows = codings(study, "anna")
    assert [(str(r[0]), r[4]) for r in rows] == [(unit, 1), (unit, 2)]


def test_uncertain_order_from_the_command_line(study, pipeline):
    with Study.open(study) as s:
        expected = ReviewSession(s, "anna", pipeline, order="uncertain").next_unit()
    child = spawn(study, "anna", "--order", "uncertain")
    assert screen(child, 0) == str(expected)
    child.expect(pexpect.TIMEOUT, timeout=0.5)
    child.send("q")
    child.expect(pexpect.EOF)


def test_screen_names_the_model_version(study):
    with Study.open(study) as s:
        version = s.conn.execute("SELECT max(id) FROM model_versions").fetchone()[0]
    child = spawn(study, "anna")
    child.expect(rf"model v{version}")
    child.expect("q quit")
    child.send("q")
    child.expect(pexpect.EOF)


def test_a_unit_is_analysed_once_per_screen(study, pipeline):
    """The screen, its suggestions and the draft reduction share one analysis of the unit: one cache read."""
    with Study.open(study) as s:
        session = ReviewSession(s, "anna", pipeline, background=False)
        unit = session.next_unit()
        reads: list[list[int]] = []
        unit_analyses = s.unit_analyses
        s.unit_analyses = lambda pipeline_id, ids: reads.append(list(ids)) or unit_analyses(pipeline_id, ids)
        calls = pipeline.calls
        view = session.view(unit)
        session.suggestions(unit)
        draft = session.draft_reduction(unit)
        session.view(unit)
        assert reads == [[unit]] and pipeline.calls == calls
        assert view.normalised and draft and view.normalised == session.analysis(unit).normalised
