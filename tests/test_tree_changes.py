"""The tree evolves: `koodari tree STUDY rename|merge|move|split|retire|undo`, its history, and the codes
seen on the tree as it is now or as it was (no NLP models needed here; see test_tree_changes_model.py)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from koodari import treeops
from koodari.errors import KoodariError
from koodari.store import MIGRATIONS, Study
from tests.conftest import fingerprint
from tests.studies import copy_study

KOODARI = str(Path(sys.executable).with_name("koodari"))

CODINGS = """\
reduction,subcategory,upper,combining,question,unit,coder
kiire kuormittaa,kiire,työn kuormitus,työssä jaksaminen,T1,u1,anna
kiire on kova,kiireen tunne,työn kuormitus,työssä jaksaminen,T1,u1,ben
asiakkaita on liikaa,asiakkaiden määrä,työn kuormitus,työssä jaksaminen,T1,u2,anna
asiakkaita paljon,asiakkaiden määrä,työn kuormitus,työssä jaksaminen,T1,u2,ben
esimies tukee,esimiehen tuki,työyhteisön tuki,työssä jaksaminen,T1,u3,anna
esimies auttaa,esimiehen tuki,työyhteisön tuki,työssä jaksaminen,T1,u3,ben
työkaverit auttavat,työkavereiden tuki,työyhteisön tuki,työssä jaksaminen,T1,u4,anna
kollegat tukevat,kiire,työn kuormitus,työssä jaksaminen,T1,u4,ben
motivointi on tärkeää,asiakkaan motivointi,asiakkaan voimavarat,asiakastyö,T1,u5,anna
"""

# TAULUKKO 10 of the seed thesis: 'työn pirstaleisuus' stands under two upper categories
TABLE_10 = {
    "työyhteisön asiat": {
        "asiakkaiden määrä": ["kiire", "asiakkaiden määrä"],
        "yhteistyön toimimattomuus": ["palvelujärjestelmän toimimattomuus",
                                      "yhteistyön toimimattomuus omassa organisaatiossa",
                                      "yhteistyö muiden toimijoiden kanssa"],
        "oman organisaation toiminta": ["johtajuus", "työnjaolliset kysymykset", "työn pirstaleisuus", "rahoitus"],
    },
    "asiakkaiden asiat": {
        "asiakkaiden erilaiset odottamattomat ongelmatilanteet": [
            "odottamattomat tilanteet", "asiakkaan yhteydenotto ongelmatilanteessa", "asiakkaiden päihteidenkäyttö",
            "työn pirstaleisuus"],
        "asiakkaan tilanne ei edisty": ["asiakkaan tulisi ohjautua eteenpäin", "asiakkaat, joilla ei ole omaa tahtoa",
                                        "asiakkaan epärealistiset odotukset"],
    },
}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    from koodari.reductions import import_reductions

    folder = tmp_path_factory.mktemp("tree")
    (folder / "codings.csv").write_text(CODINGS, encoding="utf-8")
    path = folder / "template.koodari"
    with Study.create(path) as study:
        import_reductions(study, folder / "codings.csv")
    return path


@pytest.fixture
def study(template, tmp_path) -> Path:
    return copy_study(template, tmp_path / "study.koodari")


def codings(path: Path) -> list[tuple]:
    """Every coding with what must survive a tree change: coder, unit, time, reduction, and its category now."""
    with Study.open(path) as s:
        return [tuple(r) for r in s.conn.execute(
            "SELECT r.id, r.coder, r.unit, r.created_at, r.reduction, c.name, c.state FROM reductions r"
            " JOIN categories c ON c.id = r.category_id ORDER BY r.id")]


# -- the same name at two places -------------------------------------------------------------------


def test_table_10_keeps_tyon_pirstaleisuus_under_both_upper_categories(tmp_path, cli, study_path):
    rows = ["reduction,subcategory,upper,combining,question"]
    for combining, uppers in TABLE_10.items():
        for upper, subs in uppers.items():
            rows += [f'"{sub} (pelkistys)","{sub}","{upper}","{combining}",T10' for sub in subs]
    table = tmp_path / "taulukko10.csv"
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = cli("reductions", "import", study_path, table, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["reductions"] == 16
    csv_out = cli("tree", study_path, "--question", "T10", "--format", "csv").output
    assert "T10,työn pirstaleisuus,oman organisaation toiminta,työyhteisön asiat,1," in csv_out
    assert ("T10,työn pirstaleisuus,asiakkaiden erilaiset odottamattomat ongelmatilanteet,asiakkaiden asiat,1,"
            in csv_out)
    # a row without an upper category: which 'työn pirstaleisuus'? reported with its line, nothing imported
    before = fingerprint(study_path)
    vague = tmp_path / "vague.csv"
    vague.write_text("reduction,subcategory,question\nrahoitus on epävarmaa,rahoitus,T10\n"
                     "työ on pirstaleista,työn pirstaleisuus,T10\n", encoding="utf-8")
    result = cli("reductions", "import", study_path, vague)
    assert result.exit_code != 0 and len(result.output.strip().splitlines()) == 1
    assert "line 3" in result.output and "työn pirstaleisuus" in result.output and "2 places" in result.output
    assert "nothing imported" in result.output
    assert fingerprint(study_path) == before
    # and a tree change names either one by its place; the short name alone is ambiguous
    before = fingerprint(study_path)
    result = cli("tree", study_path, "rename", "työn pirstaleisuus", "pirstaleinen työ")
    assert result.exit_code != 0 and len(result.output.strip().splitlines()) == 1
    assert "ambiguous" in result.output and "T10/asiakkaiden asiat/" in result.output
    assert fingerprint(study_path) == before
    result = cli("tree", study_path, "rename", "T10/asiakkaiden asiat/…/työn pirstaleisuus", "pirstaleinen työ",
                 "--format", "csv")
    assert result.exit_code == 0, result.output
    assert "pirstaleinen työ,asiakkaiden erilaiset odottamattomat ongelmatilanteet" in result.output
    assert "työn pirstaleisuus,oman organisaation toiminta" in result.output


def test_migration_keeps_ids_and_references(tmp_path):
    """A study made before the tree could change (schema 3) opens with the same ids and intact references."""
    path = tmp_path / "old.koodari"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1263488836")
    for script in MIGRATIONS[:3]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO questions (id, code, text) VALUES (1, 'T1', 'T1')")
    conn.execute("INSERT INTO categories (id, question_id, level, name, created_at) VALUES (7, 1, 'upper', 'u', 'x')")
    conn.execute("INSERT INTO categories (id, question_id, level, name, parent_id, created_at)"
                 " VALUES (9, 1, 'sub', 's', 7, 'x')")
    conn.execute("INSERT INTO reductions (id, reduction, category_id, coder, source, created_at)"
                 " VALUES (3, 'r', 9, 'anna', 'csv', 'x')")
    conn.commit()
    conn.close()
    with Study.open(path) as s:
        assert s.schema_version == len(MIGRATIONS)
        assert s.path_of(9) == ["s", "u", None] and s.category(9).state == "active"
        assert s.conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert s.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        sql = s.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'reductions'").fetchone()[0]
        assert "REFERENCES categories(id)" in sql
        s.ensure_path(1, "s", "u2")  # the same name at a second place is allowed now
        assert len(s.categories_named(1, "sub", "s")) == 2


# -- the changes through the CLI -------------------------------------------------------------------


def test_rename_merge_move_retire_undo_from_the_command_line(cli, study):
    before = codings(study)
    result = cli("tree", study, "rename", "T1/työn kuormitus/kiire", "kiireen kokemus", "--coder", "anna")
    assert result.exit_code == 0, result.output
    assert "change 1: renamed T1/työssä jaksaminen/työn kuormitus/kiire → kiireen kokemus" in result.output
    assert "kiireen kokemus" in result.output and "T1: T1" in result.output  # the thesis-style table follows
    # merge: the codings follow, with their coder, unit, time and reduction
    result = cli("tree", study, "merge", "kiireen tunne", "INTO", "kiireen kokemus", "--coder", "ben")
    assert result.exit_code == 0, result.output
    after = codings(study)
    assert len(after) == len(before)
    assert [r[:5] for r in after] == [r[:5] for r in before]
    assert [r[5] for r in after].count("kiireen kokemus") == 3 and "kiireen tunne" not in [r[5] for r in after]
    md = cli("tree", study, "--format", "md").output
    assert "| kiireen kokemus | työn kuormitus | työssä jaksaminen | 3 |" in md and "kiireen tunne" not in md
    # move a subcategory under another upper category
    result = cli("tree", study, "move", "asiakkaan motivointi", "--to", "työyhteisön tuki", "--format", "md")
    assert result.exit_code == 0, result.output
    assert "| asiakkaan motivointi | työyhteisön tuki | työssä jaksaminen | 1 |" in result.output
    # retire: no new codes, old ones visible and counted
    result = cli("tree", study, "retire", "esimiehen tuki", "--format", "md")
    assert result.exit_code == 0, result.output
    assert "| esimiehen tuki (retired) | työyhteisön tuki | työssä jaksaminen | 2 |" in result.output
    with Study.open(study) as s:
        retired = s.find_category(s.find_question("T1"), "sub", "esimiehen tuki")
        with pytest.raises(KoodariError, match="retired"):
            s.add_reduction("uusi", retired.id, "anna", "review")
    # history lists every change: who, when, what
    history = json.loads(cli("history", study, "--tree", "--json").output)
    assert [h["action"] for h in history] == ["rename", "merge", "move", "retire"]
    assert [h["who"] for h in history][:2] == ["anna", "ben"]
    assert history[0]["before"] != history[0]["after"] and all(h["at"] for h in history)
    table = cli("history", study, "--tree").output
    assert "merged T1/työssä jaksaminen/työn kuormitus/kiireen tunne into" in table
    # undo, change by change, back to where the tree started
    for expected in ("retire", "move", "merge", "rename"):
        result = cli("tree", study, "undo")
        assert result.exit_code == 0 and "undid change" in result.output and f"({expected}" in result.output
    assert [r[:6] for r in codings(study)] == [r[:6] for r in before]
    result = cli("tree", study, "undo")
    assert result.exit_code != 0 and "no tree change to undo" in result.output


def test_split_then_undo(cli, study):
    result = cli("tree", study, "split", "kiire", "--into", "kiire työssä,kiire vapaalla")
    assert result.exit_code == 0, result.output
    assert "kiire (split, awaits re-coding)" in result.output and "kiire työssä" in result.output
    with Study.open(study) as s:
        new = s.find_category(s.find_question("T1"), "sub", "kiire työssä")
        with pytest.raises(KoodariError, match="was split"):
            s.add_reduction("x", s.find_category(s.find_question("T1"), "sub", "kiire").id, "anna", "review")
        assert s.add_reduction("x", new.id, "anna", "review")
    result = cli("tree", study, "undo")
    assert result.exit_code == 0, result.output
    with Study.open(study) as s:
        assert s.find_category(s.find_question("T1"), "sub", "kiire").active
        assert s.find_category(s.find_question("T1"), "sub", "kiire työssä") is None
        # the coding made in the split-off category went back to the category it was split from
        assert s.conn.execute("SELECT count(*) FROM reductions r JOIN categories c ON c.id = r.category_id"
                              " WHERE c.name = 'kiire'").fetchone()[0] == 3


@pytest.mark.parametrize("args, message", [
    (["merge", "kiire", "INTO", "kiire"], "cannot merge 'kiire' into itself"),
    (["merge", "työn kuormitus", "INTO", "kiire"], "into its own descendant 'kiire'"),
    (["merge", "työssä jaksaminen", "INTO", "kiire"], "into its own descendant 'kiire'"),
    (["move", "kiire", "--to", "työn kuormitukset"], "no upper category 'työn kuormitukset'"),
    (["move", "kiire", "--to", "asiakkaan motivointi"], "no upper category 'asiakkaan motivointi'"),
    (["rename", "kiire", "asiakkaiden määrä"], "already exists at T1/työssä jaksaminen/työn kuormitus/asiakkaiden"),
    (["rename", "T1/kiire", "kiire"], "already called that"),
    (["retire", "kiir"], "no category 'kiir'"),
    (["split", "kiire", "--into", "yksi"], "two or more different names"),
    (["merge", "kiire", "kiireen tunne"], "usage: koodari tree STUDY merge PATH... INTO PATH"),
    (["move", "kiire"], "usage"),
    (["shuffle", "kiire"], "unknown tree change 'shuffle'"),
])
def test_bad_tree_changes_are_one_line_and_change_nothing(cli, study, args, message):
    before = fingerprint(study)
    result = cli("tree", study, *args)
    assert result.exit_code != 0
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert fingerprint(study) == before


# -- codes on the tree now, and as it was ----------------------------------------------------------


@pytest.mark.slow
def test_agreement_on_the_tree_now_and_as_it_was(cli, study):
    then = json.loads(cli("agree", study, "--coders", "anna,ben", "--json").output)
    assert then["n_units"] == 4 and then["percent"] == 50.0
    time.sleep(0.01)
    moment = treeops.parse_time(__import__("datetime").datetime.now().isoformat())
    time.sleep(0.01)
    assert cli("tree", study, "merge", "kiireen tunne", "INTO", "kiire").exit_code == 0
    now = json.loads(cli("agree", study, "--coders", "anna,ben", "--json").output)
    assert now["percent"] == 75.0  # u1: anna's 'kiire' and ben's 'kiireen tunne' are one category now
    before = json.loads(cli("agree", study, "--coders", "anna,ben", "--json", "--as-of", moment).output)
    assert before["percent"] == 50.0
    assert {d["codes"]["ben"] for d in before["disagreements"]} == {"kiireen tunne", "kiire"}
    bad = cli("agree", study, "--as-of", "yesterday")
    assert bad.exit_code != 0 and "cannot read the time 'yesterday'" in bad.output


def test_training_data_follows_the_tree_now_or_as_it_was(cli, study):
    from koodari.suggest import category_examples, coded_examples

    moment = treeops.parse_time(__import__("datetime").datetime.now().isoformat())
    time.sleep(0.01)
    assert cli("tree", study, "merge", "kiireen tunne", "INTO", "kiire").exit_code == 0
    assert cli("tree", study, "retire", "esimiehen tuki").exit_code == 0
    with Study.open(study) as s:
        t1 = s.find_question("T1")
        kiire = s.find_category(t1, "sub", "kiire").id
        tunne = s.categories_named(t1, "sub", "kiireen tunne")
        assert tunne == []  # merged away: not in the tree any more
        tunne_id = next(c.id for c in s.categories(include_merged=True) if c.name == "kiireen tunne")
        retired = s.find_category(t1, "sub", "esimiehen tuki").id
        now = coded_examples(s)
        assert [e.label for e in now].count(kiire) == 3 and tunne_id not in {e.label for e in now}
        assert retired not in {e.label for e in now}  # no new codes: not a class to suggest
        assert retired not in {e.label for e in category_examples(s)}
        then = coded_examples(s, as_of=moment)
        assert [e.label for e in then].count(kiire) == 2 and [e.label for e in then].count(tunne_id) == 1
        assert [e.label for e in then].count(retired) == 2


def test_refi_export_writes_the_current_tree(cli, study, tmp_path):
    assert cli("tree", study, "merge", "kiireen tunne", "INTO", "kiire").exit_code == 0
    assert cli("tree", study, "rename", "esimiehen tuki", "lähiesihenkilön tuki").exit_code == 0
    out = tmp_path / "book.qdc"
    assert cli("export", study, "qdc", out).exit_code == 0, out
    xml = out.read_text(encoding="utf-8")
    assert 'name="kiire"' in xml and "kiireen tunne" not in xml
    assert 'name="lähiesihenkilön tuki"' in xml and 'name="esimiehen tuki"' not in xml


# -- two coders at once ----------------------------------------------------------------------------


def test_a_stale_change_gets_a_conflict_not_a_silent_overwrite(study):
    with Study.open(study) as first, Study.open(study) as second:
        seen = first.last_tree_event_id()
        treeops.move(second, "kiire", "työyhteisön tuki", who="ben")
        before = fingerprint(study)
        with pytest.raises(treeops.TreeChangeConflict, match="the tree changed meanwhile: ben made change 1"):
            treeops.rename(first, "kiire", "kova kiire", who="anna", expected_event=seen)
        assert fingerprint(study) == before
        # a change elsewhere in the tree lands after the other coder's
        treeops.rename(first, "asiakkaiden määrä", "asiakasmäärä", who="anna", expected_event=seen)
        assert [e["who"] for e in first.tree_events()] == ["ben", "anna"]


@pytest.mark.slow
def test_two_coders_changing_the_tree_at_once_land_in_order(study):
    env = {**os.environ, "COLUMNS": "200"}
    commands = [
        [KOODARI, "tree", str(study), "merge", "kiireen tunne", "INTO", "kiire", "--coder", "anna"],
        [KOODARI, "tree", str(study), "rename", "kiireen tunne", "kiireen tuntu", "--coder", "ben"],
        [KOODARI, "tree", str(study), "move", "asiakkaan motivointi", "--to", "työn kuormitus", "--coder", "cai"],
    ]
    processes = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for c in commands]
    results = [(p.wait(120), *p.communicate()) for p in processes]
    with Study.open(study) as s:
        events = s.tree_events()
        bad = s.conn.execute("SELECT count(*) FROM reductions r JOIN categories c ON c.id = r.category_id"
                             " WHERE c.state = 'merged'").fetchone()[0]
    landed = [r for r in results if r[0] == 0]
    assert results[2][0] == 0  # no overlap: always lands
    assert len(events) == len(landed) and [e["id"] for e in events] == sorted(e["id"] for e in events)
    for code, _, err in results:
        if code != 0:  # the loser of the race on 'kiireen tunne': one line saying why
            assert len(err.strip().splitlines()) == 1 and "no category 'kiireen tunne'" in err
    assert len(landed) >= 2 and bad == 0


# -- any sequence of changes -----------------------------------------------------------------------


OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["rename", "merge", "move", "split", "retire", "undo"]),
              st.integers(0, 30), st.integers(0, 30), st.sampled_from(["a", "b", "kiire", "uusi"])),
    min_size=1, max_size=12)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(OPERATIONS)
def test_any_sequence_of_changes_orphans_no_coding_and_conserves_counts(template, operations):
    with tempfile.TemporaryDirectory() as folder:
        path = copy_study(template, Path(folder) / "s.koodari")
        with Study.open(path) as s:
            total = s.counts()["reductions"]
            original = {c.id: s.snapshot(c.id) for c in s.categories(include_merged=True)}
            start = treeops.parse_time("2000-01-01")
            for action, i, j, name in operations:
                cats = s.categories()
                a, b = cats[i % len(cats)], cats[j % len(cats)]
                pa, pb = s.place(a.id), s.place(b.id)
                fp = fingerprint(path)
                try:
                    if action == "rename":
                        treeops.rename(s, pa, name)
                    elif action == "merge":
                        treeops.merge(s, [pa], pb)
                    elif action == "move":
                        treeops.move(s, pa, pb)
                    elif action == "split":
                        treeops.split(s, pa, [name + "1", name + "2"])
                    elif action == "retire":
                        treeops.retire(s, pa)
                    else:
                        treeops.undo(s)
                except KoodariError:
                    assert fingerprint(path) == fp  # a refused change changes nothing
                orphans = s.conn.execute(
                    "SELECT count(*) FROM reductions r LEFT JOIN categories c ON c.id = r.category_id"
                    " WHERE c.id IS NULL OR c.state = 'merged'").fetchone()[0]
                assert orphans == 0
                assert s.counts()["reductions"] == total
                assert sum(len(s.codings_of(c.id)) for c in s.categories()) == total
                assert len(treeops.categories_as_of(s, start)) == 0  # before the study: nothing
            # the past is recoverable: the tree as of before the first change is the original one
            first = s.tree_events()
            if first:
                then = treeops.categories_as_of(s, _before(first[0]["at"]))
                assert {cid: {f: getattr(c, f) for f in treeops.FIELDS} for cid, c in then.items()} == original
            # and undoing every change gives the original tree back
            while s.undoable_tree_event() is not None:
                treeops.undo(s)
            assert {c.id: s.snapshot(c.id) for c in s.categories()} == {
                cid: snap for cid, snap in original.items()}


def _before(moment: str) -> str:
    from datetime import datetime, timedelta

    return (datetime.fromisoformat(moment) - timedelta(milliseconds=1)).isoformat(timespec="milliseconds")


def test_history_without_changes_says_so(cli, study):
    result = cli("history", study, "--tree")
    assert result.exit_code != 0 and "has not been changed" in result.output
    assert json.loads(cli("history", study, "--tree", "--json").output) == []


def test_help_shows_the_tree_changes(cli):
    result = cli("tree", "--help")
    assert result.exit_code == 0
    for word in ("rename", "merge", "move", "split", "retire", "undo", "--to", "--into"):
        assert word in result.output
