"""The study file: one SQLite database holding documents, units, the category tree and all coding.

Habits borrowed from sqlite-utils: plain SQL, one connection per process, WAL, foreign keys,
``PRAGMA user_version`` for migrations. Every write runs inside ``Study.transaction()``;
a failure rolls back, so a failed import leaves the file as it was.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from koodari.errors import KoodariError

APPLICATION_ID = 0x4B4F4F44  # "KOOD"
SQLITE_MAGIC = b"SQLite format 3\x00"
LEVELS = ("sub", "upper", "combining")
PARENT_LEVEL = {"sub": "upper", "upper": "combining"}
DEFAULT_QUESTION = "default"

MIGRATIONS: list[str] = [
    # 1: the spine
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE questions (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL UNIQUE,
        text TEXT NOT NULL,
        description TEXT,
        source_group TEXT
    );
    CREATE TABLE categories (
        id INTEGER PRIMARY KEY,
        question_id INTEGER NOT NULL REFERENCES questions(id),
        level TEXT NOT NULL CHECK (level IN ('sub', 'upper', 'combining')),
        name TEXT NOT NULL,
        parent_id INTEGER REFERENCES categories(id),
        description TEXT,
        uncertain INTEGER NOT NULL DEFAULT 0,
        created_by TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (question_id, level, name)
    );
    CREATE INDEX categories_parent ON categories(parent_id);
    CREATE TABLE documents (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        sha256 TEXT NOT NULL UNIQUE,
        text TEXT NOT NULL,
        format TEXT NOT NULL,
        encoding TEXT NOT NULL,
        imported_at TEXT NOT NULL
    );
    CREATE TABLE segments (
        id INTEGER PRIMARY KEY,
        document_id INTEGER NOT NULL REFERENCES documents(id),
        seq INTEGER NOT NULL,
        speaker TEXT,
        is_interviewer INTEGER NOT NULL DEFAULT 0,
        theme TEXT,
        question_id INTEGER REFERENCES questions(id),
        char_start INTEGER NOT NULL,
        char_end INTEGER NOT NULL,
        text TEXT NOT NULL,
        time_start REAL,
        time_end REAL,
        turn INTEGER NOT NULL,
        UNIQUE (document_id, seq),
        CHECK (char_start >= 0 AND char_end > char_start)
    );
    CREATE TABLE segment_nlp (
        segment_id INTEGER PRIMARY KEY REFERENCES segments(id),
        pipeline TEXT NOT NULL,
        tokens TEXT NOT NULL,
        normalised TEXT NOT NULL,
        lemmas TEXT NOT NULL
    );
    CREATE TABLE reductions (
        id INTEGER PRIMARY KEY,
        segment_id INTEGER REFERENCES segments(id),
        unit TEXT,
        original TEXT,
        reduction TEXT,
        category_id INTEGER NOT NULL REFERENCES categories(id),
        speaker TEXT,
        coder TEXT NOT NULL,
        source TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX reductions_category ON reductions(category_id);
    CREATE TABLE model_versions (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        kind TEXT NOT NULL,
        training TEXT NOT NULL,
        metrics TEXT NOT NULL,
        model BLOB
    );
    CREATE TABLE suggestions (
        id INTEGER PRIMARY KEY,
        segment_id INTEGER NOT NULL REFERENCES segments(id),
        model_version_id INTEGER NOT NULL REFERENCES model_versions(id),
        level TEXT NOT NULL,
        ranked TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        segment_id INTEGER NOT NULL REFERENCES segments(id),
        coder TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('accept', 'pick', 'search', 'new', 'skip', 'undo')),
        category_id INTEGER REFERENCES categories(id),
        reduction_id INTEGER REFERENCES reductions(id),
        suggestion_rank INTEGER,
        model_version_id INTEGER REFERENCES model_versions(id),
        undoes INTEGER REFERENCES decisions(id),
        created_at TEXT NOT NULL
    );
    CREATE INDEX decisions_segment ON decisions(segment_id, coder);
    CREATE TABLE imports (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        kind TEXT NOT NULL,
        summary TEXT NOT NULL,
        imported_at TEXT NOT NULL
    );
    """,
    # 2: analyses of free texts (reductions, original expressions) cached like those of units
    """
    CREATE TABLE text_nlp (
        sha256 TEXT NOT NULL,
        pipeline TEXT NOT NULL,
        tokens TEXT NOT NULL,
        PRIMARY KEY (sha256, pipeline)
    );
    """,
    # 3: undo retracts a coding (the row stays, marked by the undo decision) instead of deleting it
    """
    ALTER TABLE reductions ADD COLUMN retracted_by INTEGER REFERENCES decisions(id);
    CREATE INDEX reductions_segment ON reductions(segment_id, coder);
    """,
]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Category:
    id: int
    question_id: int
    level: str
    name: str
    parent_id: int | None
    description: str | None
    uncertain: bool


class Study:
    """An open study file. Use ``Study.create`` or ``Study.open``; close with ``close()`` or ``with``."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self._depth = 0

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path) -> Study:
        path = Path(path)
        if path.exists():
            raise KoodariError("already exists; refusing to overwrite a study", path)
        if not path.parent.exists():
            raise KoodariError("folder does not exist", path.parent)
        conn = _connect(path)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        study = cls(path, conn)
        study._migrate()
        with study.transaction():
            conn.execute("INSERT INTO meta VALUES ('created_at', ?)", (now(),))
        return study

    @classmethod
    def open(cls, path: str | Path) -> Study:
        path = Path(path)
        check_study_file(path)
        conn = _connect(path)
        study = cls(path, conn)
        study._migrate()
        return study

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise KoodariError(
                f"study schema version {version} is newer than this koodari ({len(MIGRATIONS)}); upgrade koodari",
                self.path,
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in _statements(script):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; nested calls join the outer transaction."""
        if self._depth == 0:
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

    def questions(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM questions ORDER BY id").fetchall()

    # -- categories ----------------------------------------------------------------------------

    def category(self, category_id: int) -> Category:
        row = self.conn.execute("SELECT * FROM categories WHERE id = ?", (category_id,)).fetchone()
        if row is None:
            raise KoodariError(f"no category with id {category_id}", self.path)
        return _category(row)

    def find_category(self, question_id: int, level: str, name: str) -> Category | None:
        row = self.conn.execute(
            "SELECT * FROM categories WHERE question_id = ? AND level = ? AND name = ?",
            (question_id, level, name.strip()),
        ).fetchone()
        return _category(row) if row else None

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
        """Return the category, creating it when new.

        A missing parent link is filled in; a *different* parent is a contradiction and raises
        ``TreeConflict`` rather than silently moving the category.
        """
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}")
        name = " ".join(name.split())
        if not name:
            raise KoodariError(f"empty {level} category name")
        with self.transaction():
            existing = self.find_category(question_id, level, name)
            if existing is None:
                cur = self.conn.execute(
                    "INSERT INTO categories (question_id, level, name, parent_id, description, uncertain, created_by,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (question_id, level, name, parent_id, description, int(uncertain), created_by, now()),
                )
                return int(cur.lastrowid)
            if parent_id is not None and existing.parent_id not in (None, parent_id):
                raise TreeConflict(level, name, self.category(existing.parent_id).name, self.category(parent_id).name)
            if parent_id is not None and existing.parent_id is None:
                self.conn.execute("UPDATE categories SET parent_id = ? WHERE id = ?", (parent_id, existing.id))
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

    def categories(self, question_id: int | None = None, level: str | None = None) -> list[Category]:
        sql, args = "SELECT * FROM categories WHERE 1=1", []
        if question_id is not None:
            sql += " AND question_id = ?"
            args.append(question_id)
        if level is not None:
            sql += " AND level = ?"
            args.append(level)
        return [_category(r) for r in self.conn.execute(sql + " ORDER BY id", args)]

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

    def document_by_sha(self, sha256: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM documents WHERE sha256 = ?", (sha256,)).fetchone()

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

    def documents(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM documents ORDER BY id").fetchall()

    def segments(self, document_id: int | None = None) -> list[sqlite3.Row]:
        if document_id is None:
            return self.conn.execute("SELECT * FROM segments ORDER BY document_id, seq").fetchall()
        return self.conn.execute("SELECT * FROM segments WHERE document_id = ? ORDER BY seq", (document_id,)).fetchall()

    def segment(self, segment_id: int) -> sqlite3.Row:
        row = self.conn.execute("SELECT * FROM segments WHERE id = ?", (segment_id,)).fetchone()
        if row is None:
            raise KoodariError(f"no unit with id {segment_id}", self.path)
        return row

    def units_for_search(self, question_id: int | None = None) -> list[sqlite3.Row]:
        """The interviewees' analysis units (id, document name, speaker, text), optionally of one question."""
        sql = ("SELECT s.id, d.name AS document, s.speaker, s.text FROM segments s JOIN documents d ON d.id ="
               " s.document_id WHERE s.is_interviewer = 0")
        args: list[Any] = []
        if question_id is not None:
            sql += " AND s.question_id = ?"
            args.append(question_id)
        return self.conn.execute(sql + " ORDER BY s.document_id, s.seq", args).fetchall()

    def reductions_of(self, question_id: int | None = None) -> list[sqlite3.Row]:
        """Current (not retracted) reductions with their text and category: id, text, category."""
        sql = ("SELECT r.id, coalesce(r.reduction, r.original) AS text, c.name AS category FROM reductions r"
               " JOIN categories c ON c.id = r.category_id WHERE r.retracted_by IS NULL"
               " AND coalesce(r.reduction, r.original) IS NOT NULL")
        args: list[Any] = []
        if question_id is not None:
            sql += " AND c.question_id = ?"
            args.append(question_id)
        return self.conn.execute(sql + " ORDER BY r.id", args).fetchall()

    def unit_codes(self) -> dict[int, list[str]]:
        """Unit id → the names of the categories it is coded with (any coder, retracted codings left out)."""
        out: dict[int, list[str]] = {}
        for row in self.conn.execute(
            "SELECT r.segment_id, c.name FROM reductions r JOIN categories c ON c.id = r.category_id"
            " WHERE r.segment_id IS NOT NULL AND r.retracted_by IS NULL ORDER BY r.id"
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
            cur = self.conn.execute(
                "INSERT INTO reductions (segment_id, unit, original, reduction, category_id, speaker, coder, source,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (segment_id, unit, original, reduction, category_id, speaker, coder, source, now()),
            )
            return int(cur.lastrowid)

    def log_import(self, path: str, sha256: str, kind: str, summary: dict[str, Any]) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO imports (path, sha256, kind, summary, imported_at) VALUES (?, ?, ?, ?, ?)",
                (path, sha256, kind, json.dumps(summary, ensure_ascii=False), now()),
            )

    def counts(self) -> dict[str, int]:
        tables = ("questions", "categories", "documents", "segments", "reductions", "decisions", "model_versions")
        return {t: self.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


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


def check_study_file(path: Path) -> None:
    """Refuse, without touching it, anything that is not a koodari study."""
    if not path.exists():
        raise KoodariError("no such study file (create one with `koodari init`)", path)
    if path.is_dir():
        raise KoodariError("is a directory, not a study file", path)
    try:
        with path.open("rb") as fh:
            header = fh.read(100)
    except OSError as exc:
        raise KoodariError(f"cannot read study file ({exc.strerror})", path) from exc
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise KoodariError("not a koodari study (not an SQLite database)", path)
    if int.from_bytes(header[68:72], "big") != APPLICATION_ID:
        raise KoodariError("not a koodari study (an SQLite database of another application)", path)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        raise KoodariError(f"cannot open study ({exc})", path) from exc
    return conn


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _category(row: sqlite3.Row) -> Category:
    return Category(
        id=row["id"],
        question_id=row["question_id"],
        level=row["level"],
        name=row["name"],
        parent_id=row["parent_id"],
        description=row["description"],
        uncertain=bool(row["uncertain"]),
    )
