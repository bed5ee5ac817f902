import sqlite3

import pytest

from koodari.errors import KoodariError
from koodari.store import APPLICATION_ID, MIGRATIONS, AmbiguousCategory, Record, Study
from tests.conftest import fingerprint


def test_init_creates_a_versioned_wal_sqlite_study(study_path):
    conn = sqlite3.connect(study_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "documents",
        "segments",
        "categories",
        "reductions",
        "suggestions",
        "decisions",
        "model_versions",
        "questions",
    } <= tables


def test_foreign_keys_are_enforced(study_path):
    with Study.open(study_path) as study, pytest.raises(sqlite3.IntegrityError), study.transaction():
        study.conn.execute(
            "INSERT INTO segments (document_id, seq, char_start, char_end, text, turn) VALUES (999, 0, 0, 1, 'x', 0)"
        )


def test_init_refuses_to_overwrite(cli, study_path):
    before = fingerprint(study_path)
    result = cli("init", study_path)
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert fingerprint(study_path) == before


def test_failed_transaction_rolls_back(study_path):
    with Study.open(study_path) as study:
        with pytest.raises(RuntimeError), study.transaction():
            study.add_question("Q1", "Mitä?")
            raise RuntimeError("boom")
        assert study.questions() == []


def test_categories_are_identified_by_place_not_silently_moved(study_path):
    with Study.open(study_path) as study:
        q = study.add_question("Q1", "Mitä?")
        first = study.ensure_path(q, "kiire", "työn kuormitus", "työssä jaksaminen")
        second = study.ensure_path(q, "kiire", "asiakkaiden määrä")  # a second place, the first one unmoved
        assert first != second
        assert study.path_of(first) == ["kiire", "työn kuormitus", "työssä jaksaminen"]
        assert study.path_of(second) == ["kiire", "asiakkaiden määrä", None]
        assert study.ensure_path(q, "kiire", "asiakkaiden määrä") == second
        with pytest.raises(AmbiguousCategory, match="kiire.*2 places"):
            study.ensure_path(q, "kiire")  # no upper: which one?


@pytest.mark.parametrize("content", [b"just some text, not a database\n" * 10, b"SQLite format 3\x00" + b"\x00" * 200])
def test_not_a_study_is_refused_and_untouched(tmp_path, cli, content):
    path = tmp_path / "other.koodari"
    path.write_bytes(content)
    result = cli("tree", path)
    assert result.exit_code != 0
    assert str(path) in result.output and "not a koodari study" in result.output
    assert path.read_bytes() == content
    assert len(result.output.strip().splitlines()) == 1


def test_sqlite_database_of_another_application_is_refused(tmp_path, cli):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    result = cli("import", path, tmp_path / "x.txt")
    assert result.exit_code != 0 and "another application" in result.output
    assert path.read_bytes() == before


def test_missing_study(tmp_path, cli):
    result = cli("tree", tmp_path / "nope.koodari")
    assert result.exit_code != 0
    assert "no such study file" in result.output


def test_open_study_of_a_newer_schema_is_refused(study_path):
    conn = sqlite3.connect(study_path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(KoodariError, match="newer"):
        Study.open(study_path)


def test_a_study_of_schema_4_migrates_and_active_codings_leave_out_retracted_ones(tmp_path):
    """An older study (before the active_codings view) opens, gains the view, and every reader of the codings
    as they stand leaves out the one an undo retracted."""
    path = tmp_path / "old.koodari"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    for script in MIGRATIONS[:4]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 4")
    conn.executescript("""
        INSERT INTO questions (id, code, text) VALUES (1, 'T1', 'T1');
        INSERT INTO categories (id, question_id, level, name, created_at) VALUES (9, 1, 'sub', 'kiire', 'x');
        INSERT INTO documents VALUES (1, 'd', 'sha', 'Kiire on. Ei oo.', 'txt', 'utf-8', 'x');
        INSERT INTO segments (id, document_id, seq, char_start, char_end, text, turn)
            VALUES (5, 1, 0, 0, 9, 'Kiire on.', 0);
        INSERT INTO reductions (id, segment_id, reduction, category_id, coder, source, created_at)
            VALUES (1, 5, 'kiire', 9, 'anna', 'review', 'x'), (2, 5, 'ei kiirettä', 9, 'ben', 'review', 'x'),
                   (3, NULL, 'irrallinen', 9, 'ben', 'csv', 'x');
        INSERT INTO decisions (id, segment_id, coder, action, category_id, reduction_id, created_at)
            VALUES (1, 5, 'ben', 'accept', 9, 2, 'x');
        INSERT INTO decisions (id, segment_id, coder, action, undoes, created_at) VALUES (2, 5, 'ben', 'undo', 1, 'y');
        UPDATE reductions SET retracted_by = 2 WHERE id = 2;
    """)
    conn.commit()
    conn.close()
    with Study.open(path) as study:
        assert study.schema_version == len(MIGRATIONS)
        assert [r[0] for r in study.conn.execute("SELECT id FROM active_codings ORDER BY id")] == [1, 3]
        assert [c.id for c in study.codings()] == [1, 3]
        assert study.coder_codes(5, "ben") == [] and study.coder_codes(5, "anna") == [9]
        assert study.coded_units("ben") == set() and study.coded_units("anna") == {5}
        assert study.active_coders() == ["anna", "ben"]  # ben's coding from the CSV still stands
        assert study.coding_counts() == {9: (2, set())}
        assert study.last_undoable_decision("ben") is None  # his one decision is undone already
        assert [d.action for d in study.decisions(coder="ben")] == ["accept", "undo"]


def test_undoing_a_rename_onto_a_place_taken_since_is_a_clear_error(study_path):
    """The store turns the database's uniqueness failure into PlaceTaken; the tree's undo explains it."""
    from koodari import treeops

    with Study.open(study_path) as study:
        q = study.add_question("T1", "T1")
        first = study.ensure_path(q, "kiire", "työn kuormitus")
        treeops.rename(study, "kiire", "kova kiire", who="anna")
        second = study.ensure_path(q, "kiire", "työn kuormitus")  # a new category at the renamed one's old place
        with pytest.raises(KoodariError, match="cannot undo change 1: a category with the same name now stands"):
            treeops.undo(study, who="anna")
        assert study.category(first).name == "kova kiire" and study.category(second).name == "kiire"
        assert study.undoable_tree_event()["id"] == 1  # nothing was recorded


def _rows_in(value) -> list:
    """The sqlite3.Row objects in a method's result (in lists, tuples, sets, dicts and records' fields)."""
    if isinstance(value, sqlite3.Row):
        return [value]
    if isinstance(value, dict):
        return [r for v in [*value.keys(), *value.values()] for r in _rows_in(v)]
    if isinstance(value, list | tuple | set | frozenset):
        return [r for v in value for r in _rows_in(v)]
    if isinstance(value, Record):
        names = value.keys()
        return [r for k in names for r in _rows_in(getattr(value, k))]
    return []


def test_study_methods_return_typed_records_never_sqlite_rows(study_path):
    """Each reading method of Study, on a small study that gives every one of them something to return: typed
    records (read by attribute, and by name as the rows they replace were), never a sqlite3.Row."""
    import inspect

    from koodari import treeops

    with Study.open(study_path) as study:
        q = study.add_question("T1", "Mitä?")
        sha = "ab" * 32
        doc = study.add_document("h.txt", sha, "P1: Kiire.\nP1: Kela.\n", "txt", "utf-8")
        first = study.add_segment(doc, 0, speaker="P1", char_start=4, char_end=10, text="Kiire.", turn=0,
                                  question_id=q)
        second = study.add_segment(doc, 1, speaker="P1", char_start=15, char_end=20, text="Kela.", turn=1,
                                   question_id=q)
        kiire = study.ensure_path(q, "kiire", "kuormitus")
        kela = study.ensure_path(q, "kela", "kuormitus")
        placed = study.add_reduction("kiire", kiire, "anna", "review", segment_id=first, original="Kiire.")
        study.add_reduction("kiire oli", kiire, "ben", "csv", original="Kiire oli.")  # no unit: unplaced
        merged = study.add_reduction(None, kela, "anna", "review", segment_id=second, original="Kela.")
        study.record_decision(second, "anna", "accept", kela, merged)
        study.store_analyses("p", [(first, "[]", "kiire", "kiire")])
        treeops.merge(study, ["kela"], "kiire", who="anna")  # event 1 moves the coding of 'kela'
        treeops.split(study, "kiire", ["kova kiire", "pieni kiire"], who="anna")  # event 2
        decision = study.record_decision(first, "anna", "pick", None, placed)
        kova = study.find_category(q, "sub", "kova kiire").id
        awaiting = study.split_codings(second, "anna")
        treeops.recode(study, placed, kiire, kova, decision)

        found = {
            "questions": study.questions(),
            "document_by_sha": [study.document_by_sha(sha)],
            "documents": study.documents(),
            "unplaced_codings": study.unplaced_codings(),
            "segments": study.segments(),
            "segments of a document": study.segments(doc),
            "segment": [study.segment(first)],
            "units_to_analyse": study.units_to_analyse("p"),
            "units_for_search": study.units_for_search(q),
            "reductions_of": study.reductions_of(q),
            "tree_events": study.tree_events(),
            "undoable_tree_event": [study.undoable_tree_event()],
            "tree_event": [study.tree_event(1)],
            "moves_of_event": study.moves_of_event(1),
            "moves_of_decision": study.moves_of_decision(decision),
            "split_codings": awaiting,
            "document_codings": study.document_codings(doc, "anna"),
            "category_quotes": study.category_quotes(kova, "anna"),
            "unit_analyses": study.unit_analyses("p", [first, second]),
            "unit_analyses_of_texts": study.unit_analyses_of_texts("p", ["Kiire."]),
        }
        for method, records in found.items():
            assert records and all(r is not None for r in records), f"{method} returned nothing to check"
            for record in records:
                assert not isinstance(record, sqlite3.Row) and isinstance(record, Record), method
                names = record.keys()
                assert all(record[k] == getattr(record, k) for k in names), method
                assert dict(record) == {k: getattr(record, k) for k in names}, method
        assert study.segment(first).is_interviewer is False and study.segment(first).document_id == doc
        assert study.unit_analyses("p", [first, second])[1].tokens is None  # not analysed: None, as the row had
        assert [m.reduction_id for m in found["moves_of_event"]] == [merged]
        assert [(m.from_category, m.to_category) for m in found["moves_of_decision"]] == [(kiire, kova)]
        assert [c.id for c in awaiting] == [merged]

        # and every public method that needs no arguments (a new one included) returns no row either
        for name, method in inspect.getmembers(study, inspect.ismethod):
            if name.startswith("_") or name in {"close", "transaction", "create", "open"}:
                continue
            if all(p.default is not p.empty for p in inspect.signature(method).parameters.values()):
                assert _rows_in(method()) == [], f"Study.{name}() returned a sqlite3.Row"


def test_a_description_is_replaced_and_a_copy_of_the_study_holds_it(study_path, tmp_path):
    """What bench/ needs without SQL of its own: a category's description replaced, a consistent copy of a study."""
    with Study.open(study_path) as study:
        category = study.ensure_category(study.add_question("T1", "T1"), "sub", "kiire", description="Kiire on kova.")
        assert study.category(category).description == "Kiire on kova."
        study.set_description(category, "Kiire.")
        study.copy_to(tmp_path / "copy.koodari")
    with Study.open(tmp_path / "copy.koodari") as copy:
        assert copy.category(category).description == "Kiire." and [q.code for q in copy.questions()] == ["T1"]
        copy.set_description(category, None)
        assert copy.category(category).description is None
