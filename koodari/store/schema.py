"""The study file's schema: the migrations, applied in order, and the ``PRAGMA user_version`` they set.

A new table, column, index or view is a new migration APPENDED to ``MIGRATIONS``; never edit one that has
shipped (studies in the field have run it). A migration that rebuilds a table (SQLite's twelve-step
procedure) drops and recreates the views over it, ``active_codings`` among them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from koodari.errors import KoodariError

APPLICATION_ID = 0x4B4F4F44  # "KOOD"
LEVELS = ("sub", "upper", "combining")
PARENT_LEVEL = {"sub": "upper", "upper": "combining"}
DEFAULT_QUESTION = "default"
THEME_QUESTION_KEY = "theme-question:"  # meta key prefix: a theme the researcher linked to a question

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
    # 4: the tree evolves. Categories are identified by their place (question, level, parent, name), not
    # by name alone; a category can be retired, merged away or split; every tree change is an event, and
    # every coding re-pointed by one is a coding move (so the tree and the codes can be seen as of any time).
    # A table rebuild (foreign keys are off during migrations): ids and references are kept.
    """
    CREATE TABLE categories_rebuilt (
        id INTEGER PRIMARY KEY,
        question_id INTEGER NOT NULL REFERENCES questions(id),
        level TEXT NOT NULL CHECK (level IN ('sub', 'upper', 'combining')),
        name TEXT NOT NULL,
        parent_id INTEGER REFERENCES categories(id),
        description TEXT,
        uncertain INTEGER NOT NULL DEFAULT 0,
        created_by TEXT,
        created_at TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired', 'merged', 'split')),
        merged_into INTEGER REFERENCES categories(id)
    );
    INSERT INTO categories_rebuilt (id, question_id, level, name, parent_id, description, uncertain, created_by,
                                    created_at)
        SELECT id, question_id, level, name, parent_id, description, uncertain, created_by, created_at
        FROM categories;
    DROP TABLE categories;
    ALTER TABLE categories_rebuilt RENAME TO categories;
    CREATE INDEX categories_parent ON categories(parent_id);
    CREATE INDEX categories_name ON categories(question_id, level, name);
    CREATE UNIQUE INDEX categories_place ON categories(question_id, level, coalesce(parent_id, 0), name)
        WHERE state != 'merged';
    CREATE TABLE tree_events (
        id INTEGER PRIMARY KEY,
        question_id INTEGER REFERENCES questions(id),
        action TEXT NOT NULL CHECK (action IN ('rename', 'merge', 'move', 'split', 'retire', 'undo')),
        who TEXT NOT NULL,
        at TEXT NOT NULL,
        summary TEXT NOT NULL,
        before TEXT NOT NULL,
        after TEXT NOT NULL,
        undoes INTEGER REFERENCES tree_events(id)
    );
    CREATE TABLE coding_moves (
        id INTEGER PRIMARY KEY,
        reduction_id INTEGER NOT NULL REFERENCES reductions(id),
        from_category INTEGER NOT NULL REFERENCES categories(id),
        to_category INTEGER NOT NULL REFERENCES categories(id),
        event_id INTEGER REFERENCES tree_events(id),
        decision_id INTEGER REFERENCES decisions(id),
        at TEXT NOT NULL
    );
    CREATE INDEX coding_moves_reduction ON coding_moves(reduction_id);
    """,
    # 5: the one place that says what an active coding is: one not retracted by an undo. Every query of the
    # codings as they stand now reads this view, never the rule written out again.
    """
    CREATE VIEW active_codings AS SELECT * FROM reductions WHERE retracted_by IS NULL;
    """,
]


def schema_version(conn: sqlite3.Connection) -> int:
    """The number of migrations a study has run (``PRAGMA user_version``)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: Path, read_only: bool, transaction) -> None:
    """Bring a study's schema up to date, one transaction per migration; refuse a newer study.

    ``transaction`` is the study's own transaction context (a failed migration leaves the study as it was)."""
    version = schema_version(conn)
    if version > len(MIGRATIONS):
        raise KoodariError(
            f"study schema version {version} is newer than this koodari ({len(MIGRATIONS)}); upgrade koodari",
            path,
        )
    if version == len(MIGRATIONS):
        return
    if read_only:
        raise KoodariError("the study is read-only and needs an upgrade of its schema; make it writable", path)
    conn.execute("PRAGMA foreign_keys = OFF")  # SQLite's table-rebuild procedure; checked before commit
    try:
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with transaction():
                for statement in _statements(script):
                    conn.execute(statement)
                if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise KoodariError(f"migration {number} would break a reference; study left as it was", path)
                conn.execute(f"PRAGMA user_version = {number}")
    finally:
        conn.execute("PRAGMA foreign_keys = ON")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]

