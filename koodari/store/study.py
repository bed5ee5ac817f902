"""The study file: one SQLite database holding documents, units, the category tree and all coding.

Habits borrowed from sqlite-utils: plain SQL, one connection per process, WAL, foreign keys,
``PRAGMA user_version`` for migrations. Every write runs inside ``Study.transaction()``;
a failure rolls back, so a failed import leaves the file as it was.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from itertools import takewhile
from pathlib import Path
from typing import Any

from koodari.errors import KoodariError, reason
from koodari.store.readonly import reading
from koodari.store.records import (
    Category,
    CategoryQuote,
    CodedQuote,
    Coding,
    CodingMove,
    Decision,
    Document,
    DocumentCoding,
    ExportedCoding,
    ModelVersion,
    Neighbour,
    Question,
    ReductionText,
    SearchUnit,
    Segment,
    Selection,
    SplitCoding,
    TreeEvent,
    UnitAnalysis,
    UnitListing,
    UnitToAnalyse,
    UnplacedCoding,
)
from koodari.store.schema import (
    APPLICATION_ID,
    DEFAULT_QUESTION,
    LEVELS,
    PARENT_LEVEL,
    THEME_QUESTION_KEY,
    migrate,
    schema_version,
)

READ_ONLY_FILE = "the study file is read-only (no write permission)"
# a writable study file in a folder that is not: SQLite writes (and, in WAL mode, reads) through a -wal file beside it
READ_ONLY_FOLDER = ("the study's folder is read-only (no write permission; a study is written through a -wal file "
                    "beside it)")
_log = logging.getLogger(__name__)  # a note the front end shows (Python's last-resort handler: one line on stderr)
DatabaseError = sqlite3.Error  # what the database itself raises when a check of the study's own comes too late


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Study:
    """An open study file. Use ``Study.create`` or ``Study.open``; close with ``close()`` or ``with``."""

    def __init__(self, path: Path, conn: sqlite3.Connection, read_only: bool = False,
                 closing: ExitStack | None = None, read_only_reason: str = READ_ONLY_FILE) -> None:
        self.path = path
        self.conn = conn
        self.read_only = read_only
        self.read_only_reason = read_only_reason  # why a read-only study is (a change is refused with it)
        # what else closing the study releases (a private copy of it)
        self._closing = closing if closing is not None else ExitStack()
        self._depth = 0

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path) -> Study:
        """A new, empty study. It is built beside ``path`` and renamed into place when complete, so a full
        disk or a crash never leaves a half-made file under the study's name."""
        path = Path(path)
        with built_beside(path, "create the study") as partial:
            conn = _connect(partial)
            try:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                study = cls(partial, conn)
                study._migrate()
                with study.transaction():
                    conn.execute("INSERT INTO meta VALUES ('created_at', ?)", (now(),))
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
        return cls.open(path)

    @classmethod
    def open(cls, path: str | Path) -> Study:
        """Open an existing study: refuse anything that is not a koodari study, a damaged one, or one of a
        newer koodari; migrate an older one. A study whose file has no write permission opens read-only."""
        path = Path(path)
        check_study_file(path)
        read_only = not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222
        reason = READ_ONLY_FILE
        if not read_only and not os.access(path.parent, os.W_OK | os.X_OK):  # SQLite cannot make its -wal file
            read_only, reason = True, READ_ONLY_FOLDER
        closing = ExitStack()
        try:
            if read_only:  # on read-only media too: nothing is created beside the study (koodari.store.readonly)
                conn, unread_wal = closing.enter_context(reading(path, _connect_uri))
                _set_up(conn, path, read_only=True)
                if unread_wal is not None:
                    _log.warning("note: %s-wal could not be read (%s), so the study's last changes, kept in it, are "
                                 "not shown", path, unread_wal)
            else:
                conn = _connect(path, existing=True)
            study = cls(path, conn, read_only=read_only, closing=closing, read_only_reason=reason)
            study._check_integrity()
            study._migrate()
        except BaseException:
            closing.close()
            raise
        return study

    def close(self) -> None:
        self.conn.close()
        self._closing.close()

    def copy_to(self, path: str | Path) -> None:
        """Write a consistent copy of the study to ``path`` (SQLite's online backup; an existing file is replaced)."""
        target = sqlite3.connect(path)
        try:
            self.conn.backup(target)
        finally:
            target.close()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_integrity(self) -> None:
        """Refuse a damaged study before anything reads or writes it (``PRAGMA quick_check``)."""
        try:
            problems = [r[0] for r in self.conn.execute("PRAGMA quick_check(3)")]
        except sqlite3.DatabaseError as exc:
            problems = [str(exc)]
        if problems != ["ok"]:
            self.conn.close()
            raise KoodariError(
                f"the study file is damaged ({problems[0]}); koodari will not read or write it. Restore your last "
                f"backup, or copy what can be read into a new study: `koodari rescue {shlex.quote(str(self.path))} "
                f"{shlex.quote(str(self.path.with_name(self.path.stem + '-rescued.koodari')))}`",
                self.path,
            )

    def _migrate(self) -> None:
        migrate(self.conn, self.path, self.read_only, self.transaction)

    @property
    def schema_version(self) -> int:
        return schema_version(self.conn)

    def check_writable(self) -> None:
        """Refuse a change to a read-only study (before any work on it is done)."""
        if self.read_only:
            raise KoodariError(f"{self.read_only_reason}; nothing was changed", self.path)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; nested calls join the outer transaction."""
        if self._depth == 0:
            self.check_writable()
            self.conn.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield self.conn
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.conn.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.conn.execute("COMMIT")

    # -- meta ----------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value)
            )

    # -- questions -----------------------------------------------------------------------------

    def add_question(
        self, code: str, text: str, description: str | None = None, source_group: str | None = None
    ) -> int:
        with self.transaction():
            row = self.conn.execute("SELECT id, text FROM questions WHERE code = ?", (code,)).fetchone()
            if row:
                return row[0]
            cur = self.conn.execute(
                "INSERT INTO questions (code, text, description, source_group) VALUES (?, ?, ?, ?)",
                (code, text, description, source_group),
            )
            return int(cur.lastrowid)

    def find_question(self, key: str | None) -> int | None:
        """Find a question by code or text (case-insensitive); None when there is no match."""
        if key is None or not key.strip():
            return None
        key = key.strip()
        row = self.conn.execute(
            "SELECT id FROM questions WHERE lower(code) = lower(?) OR lower(text) = lower(?)", (key, key)
        ).fetchone()
        return row[0] if row else None

    def require_question(self, key: str | None) -> int | None:
        """The question named by code or text; None for no key; a clear error for an unknown one."""
        if key is None:
            return None
        found = self.find_question(key)
        if found is None:
            raise KoodariError(f"no research question '{key}'", self.path)
        return found

    def question_for(self, key: str | None) -> int:
        """The question a coding belongs to: a known one, a new one, or the default question."""
        if key is None or not key.strip():
            key = DEFAULT_QUESTION
        found = self.find_question(key)
        if found is not None:
            return found
        return self.add_question(key.strip(), key.strip())

    def remembered_theme_question(self, theme: str | None) -> int | None:
        """The question a researcher linked this theme to (``assign_question``), if any."""
        if not theme or not theme.strip():
            return None
        value = self.get_meta(THEME_QUESTION_KEY + " ".join(theme.split()).casefold())
        return int(value) if value is not None and self.has_question(int(value)) else None

    def has_question(self, question_id: int) -> bool:
        return self.conn.execute("SELECT 1 FROM questions WHERE id = ?", (question_id,)).fetchone() is not None

    def assign_question(self, question_id: int, theme: str | None = None, document_id: int | None = None) -> int:
        """Link the units that have no research question to one: those of a theme (remembered, so later
        imports with that theme follow), or those of a document. Returns how many units changed."""
        if theme is None and document_id is None:
            raise ValueError("assign a question to a theme or a document")
        sql, args = "UPDATE segments SET question_id = ? WHERE question_id IS NULL", [question_id]
        with self.transaction():
            if theme is not None:
                theme = " ".join(theme.split())
                self.set_meta(THEME_QUESTION_KEY + theme.casefold(), str(question_id))
                sql += " AND lower(trim(theme)) = lower(?)"
                args.append(theme)
            if document_id is not None:
                sql += " AND document_id = ?"
                args.append(document_id)
            return self.conn.execute(sql, args).rowcount

    def units_without_question(self) -> dict[str | None, int]:
        """Themes (None: no theme) of the units (interviewers' turns too, as `assign` counts them) that have no
        research question, with counts; only themes with an interviewee's unit are listed."""
        rows = self.conn.execute(
            "SELECT theme, count(*) FROM segments WHERE question_id IS NULL GROUP BY theme"
            " HAVING max(is_interviewer = 0) ORDER BY min(id)")
        return {r[0]: r[1] for r in rows}

    def document_id(self, key: str) -> int:
        """A document by name or id; a clear error for an unknown one."""
        row = self.conn.execute(
            "SELECT id FROM documents WHERE name = ? OR CAST(id AS TEXT) = ? ORDER BY id LIMIT 1", (key, key)
        ).fetchone()
        if row is None:
            raise KoodariError(f"no document '{key}' in the study", self.path)
        return int(row[0])

    def question(self, question_id: int) -> Question:
        row = self.conn.execute("SELECT * FROM questions WHERE id = ?", (question_id,)).fetchone()
        if row is None:
            raise KoodariError(f"no research question with id {question_id}", self.path)
        return Question.from_row(row)

    def questions(self) -> list[Question]:
        return Question.from_rows(self.conn.execute("SELECT * FROM questions ORDER BY id"))

    # -- categories ----------------------------------------------------------------------------

    def category(self, category_id: int) -> Category:
        row = self.conn.execute("SELECT * FROM categories WHERE id = ?", (category_id,)).fetchone()
        if row is None:
            raise KoodariError(f"no category with id {category_id}", self.path)
        return Category.from_row(row)

    def categories_named(self, question_id: int, level: str, name: str) -> list[Category]:
        """The categories of a name at a level of a question, one per place (merged-away ones left out)."""
        rows = self.conn.execute(
            "SELECT * FROM categories WHERE question_id = ? AND level = ? AND name = ? AND state != 'merged'"
            " ORDER BY id",
            (question_id, level, " ".join(name.split())),
        )
        return Category.from_rows(rows)

    def find_category(self, question_id: int, level: str, name: str) -> Category | None:
        """The category of that name; a name standing at two places raises ``AmbiguousCategory``."""
        found = self.categories_named(question_id, level, name)
        if len(found) > 1:
            raise AmbiguousCategory(level, name, [self.place(c.id) for c in found])
        return found[0] if found else None

    def place(self, category_id: int) -> str:
        """Where a category stands: `T10/combining/upper/sub` (question code, then names from the top)."""
        cat = self.category(category_id)
        names: list[str] = []
        current: int | None = category_id
        while current is not None:
            c = self.category(current)
            names.append(c.name)
            current = c.parent_id
        code = self.conn.execute("SELECT code FROM questions WHERE id = ?", (cat.question_id,)).fetchone()[0]
        return "/".join([code, *reversed(names)])

    def ensure_category(
        self,
        question_id: int,
        level: str,
        name: str,
        parent_id: int | None = None,
        description: str | None = None,
        uncertain: bool = False,
        created_by: str | None = None,
    ) -> int:
        """Return the category, creating it when new. Categories are identified by their place.

        With a parent, the category of that name under that parent (a name met once without a parent gets
        its link filled in; a name under another parent is a second place). Without a parent, the one
        category of that name; a name at two places raises ``AmbiguousCategory``.
        """
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}")
        name = " ".join(name.split())
        if not name:
            raise KoodariError(f"empty {level} category name")
        with self.transaction():
            named = self.categories_named(question_id, level, name)
            existing: Category | None = None
            if parent_id is None:
                if len(named) > 1:
                    raise AmbiguousCategory(level, name, [self.place(c.id) for c in named])
                existing = named[0] if named else None
            else:
                at_place = [c for c in named if c.parent_id == parent_id]
                if at_place:
                    existing = at_place[0]
                elif len(named) == 1 and named[0].parent_id is None:
                    existing = named[0]
                    self.conn.execute("UPDATE categories SET parent_id = ? WHERE id = ?", (parent_id, existing.id))
            if existing is None:
                cur = self.conn.execute(
                    "INSERT INTO categories (question_id, level, name, parent_id, description, uncertain, created_by,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (question_id, level, name, parent_id, description, int(uncertain), created_by, now()),
                )
                return int(cur.lastrowid)
            if description and not existing.description:
                self.conn.execute("UPDATE categories SET description = ? WHERE id = ?", (description, existing.id))
            return existing.id

    def ensure_path(
        self,
        question_id: int,
        sub: str,
        upper: str | None = None,
        combining: str | None = None,
        created_by: str | None = None,
    ) -> int:
        """Create or link a sub → upper → combining chain; returns the subcategory id."""
        with self.transaction():
            combining_id = (
                self.ensure_category(question_id, "combining", combining, created_by=created_by)
                if combining and combining.strip()
                else None
            )
            upper_id = None
            if upper and upper.strip():
                upper_id = self.ensure_category(question_id, "upper", upper, combining_id, created_by=created_by)
            elif combining_id is not None:
                raise KoodariError(f"subcategory '{sub}' names a combining category but no upper category")
            return self.ensure_category(question_id, "sub", sub, upper_id, created_by=created_by)

    def categories(
        self, question_id: int | None = None, level: str | None = None, include_merged: bool = False
    ) -> list[Category]:
        """The tree as it is now; ``include_merged`` adds the categories merged away (kept for history)."""
        sql, args = "SELECT * FROM categories WHERE 1=1", []
        if not include_merged:
            sql += " AND state != 'merged'"
        if question_id is not None:
            sql += " AND question_id = ?"
            args.append(question_id)
        if level is not None:
            sql += " AND level = ?"
            args.append(level)
        return Category.from_rows(self.conn.execute(sql + " ORDER BY id", args))

    def path_of(self, category_id: int) -> list[str | None]:
        """[sub, upper, combining] names for a category at any level (None where unlinked)."""
        names: dict[str, str | None] = {level: None for level in LEVELS}
        current: int | None = category_id
        while current is not None:
            cat = self.category(current)
            names[cat.level] = cat.name
            current = cat.parent_id
        return [names["sub"], names["upper"], names["combining"]]

    # -- documents and segments ----------------------------------------------------------------

    def document_by_sha(self, sha256: str) -> Document | None:
        row = self.conn.execute("SELECT * FROM documents WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else Document.from_row(row)

    def add_document(self, name: str, sha256: str, text: str, fmt: str, encoding: str) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO documents (name, sha256, text, format, encoding, imported_at) VALUES (?, ?, ?, ?, ?, ?)",
                (name, sha256, text, fmt, encoding, now()),
            )
            return int(cur.lastrowid)

    def add_segment(self, document_id: int, seq: int, **fields: Any) -> int:
        columns = ["document_id", "seq", *fields]
        with self.transaction():
            cur = self.conn.execute(
                f"INSERT INTO segments ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                (document_id, seq, *fields.values()),
            )
            return int(cur.lastrowid)

    def document(self, document_id: int) -> Document | None:
        """A document by id; None when there is none."""
        row = self.conn.execute("SELECT * FROM documents WHERE id = ?", (document_id,)).fetchone()
        return None if row is None else Document.from_row(row)

    def documents(self) -> list[Document]:
        return Document.from_rows(self.conn.execute("SELECT * FROM documents ORDER BY id"))

    def was_imported(self, sha256: str, kind: str) -> bool:
        """Whether a file with this content was already imported as ``kind``."""
        row = self.conn.execute("SELECT 1 FROM imports WHERE sha256 = ? AND kind = ? LIMIT 1", (sha256, kind))
        return row.fetchone() is not None

    def unplaced_codings(self) -> list[UnplacedCoding]:
        """Active codings without a unit in a document (from a reductions CSV or a corpus), oldest first."""
        return UnplacedCoding.from_rows(self.conn.execute(
            "SELECT id, reduction, original, category_id, coder, speaker FROM active_codings"
            " WHERE segment_id IS NULL ORDER BY id"))

    def segments(self, document_id: int | None = None) -> list[Segment]:
        if document_id is None:
            return Segment.from_rows(self.conn.execute("SELECT * FROM segments ORDER BY document_id, seq"))
        return Segment.from_rows(
            self.conn.execute("SELECT * FROM segments WHERE document_id = ? ORDER BY seq", (document_id,)))

    def segment(self, segment_id: int) -> Segment:
        row = self.conn.execute("SELECT * FROM segments WHERE id = ?", (segment_id,)).fetchone()
        if row is None:
            raise KoodariError(f"no unit with id {segment_id}", self.path)
        return Segment.from_row(row)

    def units_in_scope(self, document_id: int | None = None, question_id: int | None = None) -> list[int]:
        """The interviewees' units (of a document, of a question), in document order."""
        sql, args = _narrowed("SELECT id FROM segments WHERE is_interviewer = 0",
                              document_id=document_id, question_id=question_id)
        return [r[0] for r in self.conn.execute(sql + " ORDER BY document_id, seq", args)]

    def neighbours(self, segment_id: int, radius: int = 2) -> list[Neighbour]:
        """The units around a unit in its document (``radius`` turns each way), the unit itself among them."""
        seg = self.segment(segment_id)
        rows = self.conn.execute(
            "SELECT seq, speaker, text FROM segments WHERE document_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            (seg.document_id, seg.seq - radius, seg.seq + radius),
        )
        return Neighbour.from_rows(rows)

    def unit_spans(self, document_id: int) -> dict[tuple[int, int], int]:
        """(char_start, char_end) → unit id, for a document's units."""
        rows = self.conn.execute("SELECT id, char_start, char_end FROM segments WHERE document_id = ?", (document_id,))
        return {(r["char_start"], r["char_end"]): r["id"] for r in rows}

    def next_seq(self, document_id: int) -> int:
        """The sequence number a new unit at the end of a document gets."""
        return self.conn.execute(
            "SELECT coalesce(max(seq), -1) + 1 FROM segments WHERE document_id = ?", (document_id,)).fetchone()[0]

    def unit_with_text(self, text: str) -> int | None:
        """The first unit whose text is exactly ``text``; None when there is none."""
        row = self.conn.execute("SELECT id FROM segments WHERE text = ? ORDER BY id LIMIT 1", (text,)).fetchone()
        return row[0] if row else None

    def unit_listing(self, document_id: int | None = None) -> list[UnitListing]:
        """Every unit (of a document) with its document's name and its question's code, in document order."""
        sql = """SELECT s.id, d.name AS document, s.seq, s.speaker, s.theme, q.code AS question, s.char_start,
                        s.char_end, s.text, s.is_interviewer, s.time_start, s.time_end
                 FROM segments s JOIN documents d ON d.id = s.document_id
                 LEFT JOIN questions q ON q.id = s.question_id"""
        args: list[Any] = []
        if document_id is not None:
            sql += " WHERE d.id = ?"
            args.append(document_id)
        rows = self.conn.execute(sql + " ORDER BY s.document_id, s.seq", args)
        return UnitListing.from_rows(rows)

    # -- token analyses in bulk (`koodari analyse` on an archive) ------------------------------

    def analysis_backlog(self, pipeline: str) -> tuple[int, int]:
        """(units, words) not yet analysed by ``pipeline`` (no analysis, or one by an older pipeline)."""
        row = self.conn.execute(
            "SELECT count(*), coalesce(sum(length(trim(s.text)) - length(replace(trim(s.text), ' ', '')) + 1), 0)"
            " FROM segments s LEFT JOIN segment_nlp n ON n.segment_id = s.id"
            " WHERE n.segment_id IS NULL OR n.pipeline != ?",
            (pipeline,),
        ).fetchone()
        return int(row[0]), int(row[1])

    def units_to_analyse(self, pipeline: str, after_id: int = 0, limit: int = 1000) -> list[UnitToAnalyse]:
        """The next ``limit`` units by id (after ``after_id``) not yet analysed by ``pipeline``, with their
        document's name: id, text, char_start, seq, document, is_interviewer."""
        return UnitToAnalyse.from_rows(self.conn.execute(
            "SELECT s.id, s.text, s.char_start, s.seq, d.name AS document, s.is_interviewer FROM segments s"
            " JOIN documents d ON d.id = s.document_id LEFT JOIN segment_nlp n ON n.segment_id = s.id"
            " WHERE (n.segment_id IS NULL OR n.pipeline != ?) AND s.id > ? ORDER BY s.id LIMIT ?",
            (pipeline, after_id, limit),
        ))

    def store_analyses(self, pipeline: str, rows: list[tuple[int, str, str, str]]) -> None:
        """Store a batch of unit analyses (segment id, tokens JSON, normalised text, lemmas) in one transaction."""
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO segment_nlp (segment_id, pipeline, tokens, normalised, lemmas) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(segment_id) DO UPDATE SET pipeline = excluded.pipeline, tokens = excluded.tokens,"
                " normalised = excluded.normalised, lemmas = excluded.lemmas",
                [(segment_id, pipeline, tokens, normalised, lemmas) for segment_id, tokens, normalised, lemmas in rows],
            )

    def units_for_search(self, question_id: int | None = None) -> list[SearchUnit]:
        """The interviewees' analysis units (id, document name, speaker, text), optionally of one question."""
        sql = ("SELECT s.id, d.name AS document, s.speaker, s.text FROM segments s JOIN documents d ON d.id ="
               " s.document_id WHERE s.is_interviewer = 0")
        sql, args = _narrowed(sql, **{"s.question_id": question_id})
        return SearchUnit.from_rows(self.conn.execute(sql + " ORDER BY s.document_id, s.seq", args))

    def reductions_of(self, question_id: int | None = None) -> list[ReductionText]:
        """Current (not retracted) reductions with their text and category: id, text, category."""
        sql = ("SELECT r.id, coalesce(r.reduction, r.original) AS text, c.name AS category FROM active_codings r"
               " JOIN categories c ON c.id = r.category_id WHERE coalesce(r.reduction, r.original) IS NOT NULL")
        sql, args = _narrowed(sql, **{"c.question_id": question_id})
        return ReductionText.from_rows(self.conn.execute(sql + " ORDER BY r.id", args))

    def unit_codes(self) -> dict[int, list[str]]:
        """Unit id → the names of the categories it is coded with (any coder, retracted codings left out)."""
        out: dict[int, list[str]] = {}
        for row in self.conn.execute(
            "SELECT r.segment_id, c.name FROM active_codings r JOIN categories c ON c.id = r.category_id"
            " WHERE r.segment_id IS NOT NULL ORDER BY r.id"
        ):
            names = out.setdefault(row[0], [])
            if row[1] not in names:
                names.append(row[1])
        return out

    # -- coding --------------------------------------------------------------------------------

    def add_reduction(
        self,
        reduction: str | None,
        category_id: int,
        coder: str,
        source: str,
        segment_id: int | None = None,
        unit: str | None = None,
        original: str | None = None,
        speaker: str | None = None,
    ) -> int:
        with self.transaction():
            category = self.category(category_id)
            if not category.active:
                raise KoodariError(_inactive(category, self))
            cur = self.conn.execute(
                "INSERT INTO reductions (segment_id, unit, original, reduction, category_id, speaker, coder, source,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (segment_id, unit, original, reduction, category_id, speaker, coder, source, now()),
            )
            return int(cur.lastrowid)

    def review_coders(self) -> set[str]:
        """Everyone who has coded in review (their codes are kept from each other: blind coding)."""
        return {r[0] for r in self.conn.execute("SELECT DISTINCT coder FROM reductions WHERE source = 'review'")}

    # -- model versions ------------------------------------------------------------------------

    def add_model_version(self, kind: str, training: dict[str, Any], metrics: dict[str, Any], model: bytes) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO model_versions (created_at, kind, training, metrics, model) VALUES (?, ?, ?, ?, ?)",
                (now(), kind, json.dumps(training, ensure_ascii=False), json.dumps(metrics), model),
            )
            return int(cur.lastrowid)

    def model_versions(self, newest_first: bool = False) -> list[ModelVersion]:
        """Every model version's record (without the model itself)."""
        order = "DESC" if newest_first else "ASC"
        rows = self.conn.execute(
            f"SELECT id, created_at, kind, training, metrics FROM model_versions ORDER BY id {order}")
        return [_model_version(r) for r in rows]

    def current_model_versions(self) -> list[ModelVersion]:
        """The model versions trained on the tree as it is now, newest first: up to the first one older than the
        tree's last change (it and every older one predate the tree)."""
        changed = self.last_tree_change_at()
        return list(takewhile(lambda r: changed is None or r.created_at >= changed,
                              self.model_versions(newest_first=True)))

    def latest_model_version(self) -> ModelVersion | None:
        """The newest model version's record, None before the first training."""
        row = self.conn.execute(
            "SELECT id, created_at, kind, training, metrics FROM model_versions ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else _model_version(row)

    def model_blob(self, version: int) -> bytes:
        row = self.conn.execute("SELECT model FROM model_versions WHERE id = ?", (version,)).fetchone()
        if row is None:
            raise KoodariError(f"no model version {version}", self.path)
        return bytes(row[0])
    # -- tree changes (koodari.treeops decides; these write) -------------------------------------

    def snapshot(self, category_id: int) -> dict[str, Any]:
        """The changeable fields of a category, as a tree event records them."""
        c = self.category(category_id)
        return {"name": c.name, "parent_id": c.parent_id, "state": c.state, "merged_into": c.merged_into}

    def set_category(self, category_id: int, fields: dict[str, Any]) -> None:
        allowed = {"name", "parent_id", "state", "merged_into"}
        if not fields or set(fields) - allowed:
            raise ValueError(f"cannot set {sorted(set(fields) - allowed)}")
        with self.transaction():
            try:
                self.conn.execute(
                    f"UPDATE categories SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                    (*fields.values(), category_id),
                )
            except sqlite3.IntegrityError as exc:  # another category of that name stands at that place
                raise PlaceTaken(f"category {category_id}: {exc}", self.path) from exc

    def set_description(self, category_id: int, description: str | None) -> None:
        """Replace a category's description (None: no description)."""
        with self.transaction():
            self.conn.execute("UPDATE categories SET description = ? WHERE id = ?", (description, category_id))

    def add_category(
        self, question_id: int, level: str, name: str, parent_id: int | None, created_by: str | None = None
    ) -> int:
        """A new category at a place (the caller has checked that the place is free)."""
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO categories (question_id, level, name, parent_id, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (question_id, level, name, parent_id, created_by, now()),
            )
            return int(cur.lastrowid)

    def children(self, category_id: int) -> list[Category]:
        """The categories directly under a category (merged-away ones left out)."""
        rows = self.conn.execute(
            "SELECT * FROM categories WHERE parent_id = ? AND state != 'merged' ORDER BY id", (category_id,))
        return Category.from_rows(rows)

    def coder_codes(self, segment_id: int, coder: str) -> list[int]:
        """The categories of a coder's active codings of a unit, oldest first."""
        return [r[0] for r in self.conn.execute(
            "SELECT category_id FROM active_codings WHERE segment_id = ? AND coder = ? ORDER BY id",
            (segment_id, coder))]

    def coding_category(self, reduction_id: int) -> int:
        return self.conn.execute("SELECT category_id FROM reductions WHERE id = ?", (reduction_id,)).fetchone()[0]

    def codings_of(self, category_id: int, active_only: bool = False) -> list[int]:
        """The reductions (codings) pointing at a category, retracted ones too unless ``active_only``."""
        sql = f"SELECT id FROM {'active_codings' if active_only else 'reductions'} WHERE category_id = ?"
        return [r[0] for r in self.conn.execute(sql + " ORDER BY id", (category_id,))]

    def move_codings(
        self,
        moves: list[tuple[int, int, int]],
        event_id: int | None = None,
        decision_id: int | None = None,
        at: str | None = None,
    ) -> None:
        """Re-point codings (reduction, from, to); each move is kept, so a coding's category at any time is known.
        Coder, time, reduction text and the decisions are untouched."""
        with self.transaction():
            at = at or now()
            for reduction_id, source, target in moves:
                self.conn.execute("UPDATE reductions SET category_id = ? WHERE id = ?", (target, reduction_id))
                self.conn.execute(
                    "INSERT INTO coding_moves (reduction_id, from_category, to_category, event_id, decision_id, at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (reduction_id, source, target, event_id, decision_id, at),
                )

    def add_tree_event(
        self,
        action: str,
        who: str,
        question_id: int | None,
        summary: str,
        before: dict[int, Any],
        after: dict[int, Any],
        undoes: int | None = None,
    ) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO tree_events (question_id, action, who, at, summary, before, after, undoes)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (question_id, action, who, now(), summary, json.dumps(before, ensure_ascii=False),
                 json.dumps(after, ensure_ascii=False), undoes),
            )
            return int(cur.lastrowid)

    def tree_events(self, since: str | None = None) -> list[TreeEvent]:
        """Tree changes, oldest first (only those after ``since`` when given)."""
        sql, args = "SELECT * FROM tree_events", []
        if since is not None:
            sql += " WHERE at > ?"
            args.append(since)
        return TreeEvent.from_rows(self.conn.execute(sql + " ORDER BY id", args))

    def last_tree_event_id(self) -> int:
        return self.conn.execute("SELECT coalesce(max(id), 0) FROM tree_events").fetchone()[0]

    def last_tree_change_at(self) -> str | None:
        return self.conn.execute("SELECT max(at) FROM tree_events").fetchone()[0]

    def undoable_tree_event(self) -> TreeEvent | None:
        """The latest tree change that is not an undo and not undone yet."""
        row = self.conn.execute(
            "SELECT * FROM tree_events e WHERE action != 'undo' AND NOT EXISTS"
            " (SELECT 1 FROM tree_events u WHERE u.undoes = e.id) ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else TreeEvent.from_row(row)

    def tree_event(self, event_id: int) -> TreeEvent:
        row = self.conn.execute("SELECT * FROM tree_events WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            raise KoodariError(f"no tree change with id {event_id}", self.path)
        return TreeEvent.from_row(row)

    def moves_of_event(self, event_id: int) -> list[CodingMove]:
        return CodingMove.from_rows(
            self.conn.execute("SELECT * FROM coding_moves WHERE event_id = ? ORDER BY id", (event_id,)))

    def moves_of_decision(self, decision_id: int) -> list[CodingMove]:
        return CodingMove.from_rows(
            self.conn.execute("SELECT * FROM coding_moves WHERE decision_id = ? ORDER BY id", (decision_id,)))

    def split_codings(self, segment_id: int, coder: str) -> list[SplitCoding]:
        """A coder's active codings of a unit that point at a split category (they await re-coding)."""
        return SplitCoding.from_rows(self.conn.execute(
            "SELECT r.id, r.category_id FROM active_codings r JOIN categories c ON c.id = r.category_id"
            " WHERE r.segment_id = ? AND r.coder = ? AND c.state = 'split' ORDER BY r.id",
            (segment_id, coder),
        ))

    def awaiting_recoding(self, category_id: int) -> list[tuple[str, int]]:
        """(coder, units) whose active codings on units point at a (split) category."""
        rows = self.conn.execute(
            "SELECT coder, count(DISTINCT segment_id) FROM active_codings WHERE category_id = ?"
            " AND segment_id IS NOT NULL GROUP BY coder ORDER BY coder", (category_id,))
        return [(r[0], r[1]) for r in rows]

    def codings(self, as_of: str | None = None) -> list[Coding]:
        """The active codings, oldest first; with ``as_of``, those that existed (and were not retracted) at that
        time, each with the category it had then (``codings_as_of``)."""
        if as_of is not None:
            return self.codings_as_of(as_of)
        rows = self.conn.execute(
            """SELECT r.id, r.segment_id, r.unit, r.original, r.reduction, r.category_id, r.coder, r.source,
                      coalesce(r.speaker, s.speaker) AS speaker, s.text AS unit_text, c.question_id,
                      coalesce(s.text, r.original, r.reduction) AS text
               FROM active_codings r JOIN categories c ON c.id = r.category_id
               LEFT JOIN segments s ON s.id = r.segment_id ORDER BY r.id""")
        return Coding.from_rows(rows)

    def codings_as_of(self, at: str) -> list[Coding]:
        """The codings that existed (and were not retracted) at a time, each with the category it had then."""
        rows = self.conn.execute(
            """SELECT r.id, r.segment_id, r.unit, r.original, r.reduction, r.coder, r.source,
                      coalesce((SELECT m.from_category FROM coding_moves m WHERE m.reduction_id = r.id AND m.at > ?
                                ORDER BY m.id LIMIT 1), r.category_id) AS category_id,
                      coalesce(r.speaker, s.speaker) AS speaker, s.text AS unit_text, c.question_id,
                      coalesce(s.text, r.original, r.reduction) AS text
               FROM reductions r JOIN categories c ON c.id = r.category_id
               LEFT JOIN segments s ON s.id = r.segment_id
               LEFT JOIN decisions d ON d.id = r.retracted_by
               WHERE r.created_at <= ? AND (r.retracted_by IS NULL OR d.created_at > ?) ORDER BY r.id""",
            (at, at, at),
        )
        return Coding.from_rows(rows)

    def coded_categories(self) -> set[int]:
        """The categories that some active coding uses."""
        return {r[0] for r in self.conn.execute("SELECT DISTINCT category_id FROM active_codings")}

    def active_coders(self) -> list[str]:
        """Everyone with an active coding, by name."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT coder FROM active_codings ORDER BY coder")]

    def coding_counts(self) -> dict[int, tuple[int, set[str]]]:
        """Category id → (active codings, the speakers of their units)."""
        rows = self.conn.execute(
            """SELECT r.category_id, count(*), group_concat(DISTINCT coalesce(r.speaker, s.speaker))
               FROM active_codings r LEFT JOIN segments s ON s.id = r.segment_id GROUP BY r.category_id""")
        return {cid: (n, set(speakers.split(",")) if speakers else set()) for cid, n, speakers in rows}

    def document_selections(self, document_id: int) -> list[Selection]:
        """The active codings of a document's units, in text order, with the units' places in the text."""
        rows = self.conn.execute(
            """SELECT r.id, r.reduction, r.category_id, r.coder, r.created_at, s.char_start, s.char_end
               FROM active_codings r JOIN segments s ON s.id = r.segment_id
               WHERE s.document_id = ? ORDER BY s.char_start, r.id""", (document_id,))
        return Selection.from_rows(rows)

    def codings_for_export(self) -> list[ExportedCoding]:
        """Every active coding as the coded-units export writes it, in document and unit order."""
        rows = self.conn.execute(
            """SELECT r.id, r.segment_id, r.unit, r.reduction, r.original, r.category_id, r.coder,
                      coalesce(r.speaker, s.speaker) AS speaker, s.text AS unit_text, d.name AS document,
                      q.code AS question, n.tokens, n.normalised,
                      dc.action AS decision, dc.model_version_id AS model_version
               FROM active_codings r JOIN categories c ON c.id = r.category_id JOIN questions q ON q.id = c.question_id
               LEFT JOIN segments s ON s.id = r.segment_id LEFT JOIN documents d ON d.id = s.document_id
               LEFT JOIN segment_nlp n ON n.segment_id = r.segment_id
               LEFT JOIN decisions dc ON dc.reduction_id = r.id
               ORDER BY d.id, s.seq, r.id""")
        return ExportedCoding.from_rows(rows)

    def coded_quotes(self) -> list[CodedQuote]:
        """The texts of the active codings (the unit's text, else the original expression), with the category and
        the unit's tokens JSON; codings with neither text are left out."""
        rows = self.conn.execute(
            """SELECT r.category_id, coalesce(s.text, r.original) AS text, n.tokens FROM active_codings r
               LEFT JOIN segments s ON s.id = r.segment_id LEFT JOIN segment_nlp n ON n.segment_id = r.segment_id
               WHERE coalesce(s.text, r.original) IS NOT NULL""")
        return CodedQuote.from_rows(rows)

    def log_import(self, path: str, sha256: str, kind: str, summary: dict[str, Any]) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO imports (path, sha256, kind, summary, imported_at) VALUES (?, ?, ?, ?, ?)",
                (path, sha256, kind, json.dumps(summary, ensure_ascii=False), now()),
            )

    # -- read-only views for `koodari serve` -------------------------------------------------------

    def document_codings(self, document_id: int, coder: str) -> list[DocumentCoding]:
        """Active codings of a document's units that a coder may see (blind: other coders' review codes are left
        out), with the model version of the decision that made each one."""
        return DocumentCoding.from_rows(self.conn.execute(
            """SELECT r.id, r.segment_id, r.category_id, r.coder, r.source, r.reduction, d.model_version_id
               FROM active_codings r JOIN segments s ON s.id = r.segment_id
               LEFT JOIN decisions d ON d.reduction_id = r.id
               WHERE s.document_id = ? AND (r.source != 'review' OR r.coder = ?)
               ORDER BY r.id""",
            (document_id, coder),
        ))

    def category_quotes(self, category_id: int, coder: str, limit: int = 5) -> list[CategoryQuote]:
        """Quotes coded with a category that a coder may see (blind), shortest first."""
        return CategoryQuote.from_rows(self.conn.execute(
            """SELECT coalesce(s.text, r.original, r.reduction) AS quote, r.reduction, r.coder,
                      coalesce(r.speaker, s.speaker) AS speaker
               FROM active_codings r LEFT JOIN segments s ON s.id = r.segment_id
               WHERE r.category_id = ? AND (r.source != 'review' OR r.coder = ?)
                 AND coalesce(s.text, r.original, r.reduction) IS NOT NULL
               ORDER BY length(coalesce(s.text, r.original, r.reduction)), r.id LIMIT ?""",
            (category_id, coder, limit),
        ))

    # -- review decisions ------------------------------------------------------------------------

    def record_decision(
        self,
        segment_id: int,
        coder: str,
        action: str,
        category_id: int | None = None,
        reduction_id: int | None = None,
        suggestion_rank: int | None = None,
        model_version_id: int | None = None,
        undoes: int | None = None,
    ) -> int:
        """Record a coder's decision about a unit; returns its id."""
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO decisions (segment_id, coder, action, category_id, reduction_id, suggestion_rank,"
                " model_version_id, undoes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (segment_id, coder, action, category_id, reduction_id, suggestion_rank, model_version_id, undoes,
                 now()),
            )
            return int(cur.lastrowid)

    def decisions(self, coder: str | None = None, segment_id: int | None = None) -> list[Decision]:
        """Decisions, oldest first (a coder's, a unit's, or all)."""
        sql, args = _narrowed("SELECT * FROM decisions WHERE 1=1", coder=coder, segment_id=segment_id)
        return Decision.from_rows(self.conn.execute(sql + " ORDER BY id", args))

    def last_undoable_decision(self, coder: str) -> Decision | None:
        """A coder's latest decision that is not an undo and not undone yet (of any session)."""
        row = self.conn.execute(
            "SELECT * FROM decisions d WHERE coder = ? AND action != 'undo'"
            " AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.undoes = d.id) ORDER BY id DESC LIMIT 1",
            (coder,),
        ).fetchone()
        return None if row is None else Decision.from_row(row)

    def decisions_of_active_codings(self, segment_id: int, coder: str) -> list[Decision]:
        """A coder's decisions about a unit whose codings are still active, oldest first."""
        rows = self.conn.execute(
            "SELECT d.* FROM decisions d JOIN active_codings r ON r.id = d.reduction_id"
            " WHERE d.segment_id = ? AND d.coder = ? ORDER BY d.id",
            (segment_id, coder),
        )
        return Decision.from_rows(rows)

    def retract_coding(self, reduction_id: int, decision_id: int) -> None:
        """Retract a coding (the row stays), marked with the undo decision that retracted it."""
        with self.transaction():
            self.conn.execute("UPDATE reductions SET retracted_by = ? WHERE id = ?", (decision_id, reduction_id))

    def coded_units(self, coder: str) -> set[int]:
        """The units a coder has coded: an active coding that does not await re-coding (of a split category)."""
        rows = self.conn.execute(
            "SELECT DISTINCT segment_id FROM active_codings WHERE coder = ? AND segment_id IS NOT NULL"
            " AND category_id NOT IN (SELECT id FROM categories WHERE state = 'split')",
            (coder,),
        )
        return {r[0] for r in rows}

    def counts(self) -> dict[str, int]:
        tables = ("questions", "categories", "documents", "segments", "reductions", "decisions", "model_versions")
        return {t: self.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}

    # -- the analysis cache (koodari.nlp.cache; unit analyses are stored by ``store_analyses``) ----------

    def unit_analyses(self, pipeline: str, segment_ids: list[int]) -> list[UnitAnalysis]:
        """Units (id, text, char_start) with their tokens JSON by ``pipeline`` (None when not analysed by it)."""
        rows: list[UnitAnalysis] = []
        ids = list(dict.fromkeys(segment_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows += UnitAnalysis.from_rows(self.conn.execute(
                "SELECT s.id, s.text, s.char_start, n.tokens FROM segments s LEFT JOIN segment_nlp n"
                f" ON n.segment_id = s.id AND n.pipeline = ? WHERE s.id IN ({','.join('?' * len(chunk))})"
                " ORDER BY s.id", (pipeline, *chunk)))
        return rows

    def unit_analyses_of_texts(self, pipeline: str, texts: list[str]) -> list[UnitAnalysis]:
        """Units whose text is one of ``texts``, analysed by ``pipeline``: id, text, char_start, tokens JSON."""
        rows: list[UnitAnalysis] = []
        for i in range(0, len(texts), 500):
            chunk = texts[i : i + 500]
            rows += UnitAnalysis.from_rows(self.conn.execute(
                "SELECT s.id, s.text, s.char_start, n.tokens FROM segments s JOIN segment_nlp n"
                f" ON n.segment_id = s.id WHERE n.pipeline = ? AND s.text IN ({','.join('?' * len(chunk))})",
                (pipeline, *chunk)))
        return rows

    def text_analyses(self, pipeline: str, keys: list[str]) -> dict[str, str]:
        """Cached analyses of free texts by ``pipeline``: text key (sha256) → tokens JSON."""
        found: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            found.update(self.conn.execute(
                f"SELECT sha256, tokens FROM text_nlp WHERE pipeline = ? AND sha256 IN ({','.join('?' * len(chunk))})",
                (pipeline, *chunk)).fetchall())
        return found

    def store_text_analyses(self, pipeline: str, rows: list[tuple[str, str]]) -> None:
        """Store analyses of free texts (text key, tokens JSON) in one transaction."""
        with self.transaction():
            self.conn.executemany("INSERT OR REPLACE INTO text_nlp (sha256, pipeline, tokens) VALUES (?, ?, ?)",
                                  [(key, pipeline, tokens) for key, tokens in rows])


class AmbiguousCategory(KoodariError):
    """A category name that stands at more than one place, given without the place."""

    def __init__(self, level: str, name: str, places: list[str]) -> None:
        self.places = places
        super().__init__(
            f"{level} category '{name}' stands at {len(places)} places ({'; '.join(places)}): "
            f"name its {PARENT_LEVEL.get(level, 'upper')} category"
        )


class TreeConflict(KoodariError):
    """A category named under a different parent than the tree already has."""

    def __init__(self, level: str, name: str, existing_parent: str, new_parent: str) -> None:
        self.level, self.name = level, name
        self.existing_parent, self.new_parent = existing_parent, new_parent
        parent_level = PARENT_LEVEL[level]
        super().__init__(
            f"{level} category '{name}' is under {parent_level} category '{existing_parent}' in the tree, "
            f"not '{new_parent}'"
        )



class PlaceTaken(KoodariError):
    """A category change that would put two categories of one name at one place."""


def _inactive(category: Category, study: Study) -> str:
    if category.state == "merged" and category.merged_into is not None:
        return f"category '{category.name}' was merged into '{study.category(category.merged_into).name}'"
    if category.state == "split":
        return f"category '{category.name}' was split; code with one of its new categories"
    return f"category '{category.name}' is retired: no new codes"


@contextmanager
def built_beside(path: Path, what: str) -> Iterator[Path]:
    """A new database file built at a partial path beside PATH (yielded) and renamed into place when the block
    ends; on a failure nothing is left under either name and the error is one line (``cannot WHAT``). An existing
    PATH (never overwritten) or a missing folder is refused first."""
    if path.exists() or path.is_symlink():
        raise KoodariError("already exists; refusing to overwrite a study", path)
    if not path.parent.is_dir():
        raise KoodariError("folder does not exist", path.parent)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    try:
        yield partial
        os.replace(partial, path)
    except (sqlite3.Error, OSError) as exc:
        raise KoodariError(f"cannot {what} ({reason(exc)}); nothing was written", path) from exc
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{partial}{suffix}").unlink(missing_ok=True)


def check_study_file(path: Path) -> None:
    """Refuse, without changing it, anything that is not a koodari study.

    The header is read through SQLite, never with a plain ``open()``: closing any other descriptor of a
    database file drops every POSIX lock SQLite holds on it in this process (and a review session's
    background retraining opens the study in the reviewer's own process). It is read ``immutable``: no lock, and no
    -wal or -shm file created beside the study (which fails on read-only media); its application id never changes
    after the study file is built, so the study file alone holds it."""
    if not path.exists():
        raise KoodariError("no such study file (create one with `koodari init`)", path)
    if path.is_dir():
        raise KoodariError("is a directory, not a study file", path)
    if not path.is_file():
        raise KoodariError("is not a regular file", path)
    if path.stat().st_size < 100:
        raise KoodariError("not a koodari study (not an SQLite database)", path)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, timeout=30)
        try:
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise KoodariError("not a koodari study (not an SQLite database)", path) from exc
        raise KoodariError(f"cannot read study file ({exc})", path) from exc
    if application_id != APPLICATION_ID:
        raise KoodariError("not a koodari study (an SQLite database of another application)", path)


def _narrowed(sql: str, **filters: object) -> tuple[str, list[object]]:
    """``sql`` (ending in a WHERE clause) narrowed by ``column = value`` for each filter that is not None (the
    column names come from this module, never from input)."""
    args = []
    for column, value in filters.items():
        if value is not None:
            sql += f" AND {column} = ?"
            args.append(value)
    return sql, args


def _connect(path: Path, existing: bool = False) -> sqlite3.Connection:
    """A read-write connection to the study file PATH (with EXISTING, never one that creates it by accident)."""
    try:
        if existing:
            conn = _connect_uri(f"{path.resolve().as_uri()}?mode=rw")
        else:
            conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    except sqlite3.DatabaseError as exc:
        raise KoodariError(f"cannot open study ({exc})", path) from exc
    _set_up(conn, path, read_only=False)
    return conn


def _connect_uri(uri: str) -> sqlite3.Connection:
    return sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)


def _set_up(conn: sqlite3.Connection, path: Path, read_only: bool) -> None:
    """The settings of every connection to a study (a writable one in WAL mode, each write on the disk)."""
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
        if not read_only:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise KoodariError(f"cannot open study ({exc})", path) from exc


def _model_version(row: sqlite3.Row) -> ModelVersion:
    return ModelVersion(row["id"], row["created_at"], row["kind"], json.loads(row["training"]),
                        json.loads(row["metrics"]))
