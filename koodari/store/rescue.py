"""Rescuing a damaged study: every row that can still be read, copied into a new study file.

SQLite's own ``.recover`` needs a library built with the ``sqlite_dbpage`` table (Debian's sqlite3 3.40 has
none), and ``.dump`` gives SQL that koodari cannot open (no application id, no schema version). This copies the
damaged file's schema as it was, then each table's rows: in order while they read, and after a damaged page row
by row, so that a row on a damaged page is lost and the rows after it are not. The new study keeps the damaged
one's schema version, so koodari opens it as the same study.

The damaged file is read without creating a file beside it, so a study on read-only media (a USB stick, a backup,
a read-only share) can be rescued and the file and its folder are left as they were. Changes still in its ``-wal``
file (a session that ended without closing the study) are read from a private copy; when that fails the report
says so, since SQLite's ``immutable`` mode, the way left, reads the study file alone.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from koodari.errors import KoodariError
from koodari.store.readonly import reading
from koodari.store.study import APPLICATION_ID, built_beside, check_study_file

# past a damaged page every row id is looked up; after this many in a row without a row the next one is sought in
# the table's index of row ids instead, and a gap that cannot be skipped so is walked at most this far
SEEK_AFTER = 10_000
MAX_PROBES = 10_000_000
# the only statements taken from the damaged file's schema (it may come from anyone: never ATTACH, a trigger, ...)
SCHEMA_STATEMENT = re.compile(r"\s*CREATE\s+(?:TABLE|(?:UNIQUE\s+)?INDEX|VIEW)\s", re.IGNORECASE)


@dataclass
class RescueReport:
    """Per table: rows copied, and row ids that could not be read (None: how many is unknown); and why the damaged
    study's -wal file, holding changes not yet in the study file, could not be read (None: read, or none)."""

    tables: dict[str, tuple[int, int | None]]
    unread_wal: str | None = None

    @property
    def complete(self) -> bool:
        return self.unread_wal is None and all(lost == 0 for _, lost in self.tables.values())

    def as_dict(self) -> dict[str, dict[str, int | None]]:
        return {name: {"copied": copied, "unreadable": lost} for name, (copied, lost) in self.tables.items()}


def rescue_study(source: Path, target: Path) -> RescueReport:
    """Copy what can be read of the study SOURCE into a new study file TARGET (built beside it and renamed into
    place when complete; SOURCE is only read)."""
    check_study_file(source)
    with reading(source, _connect, scratch=target.parent) as (src, unread_wal):
        try:
            version = int(src.execute("PRAGMA user_version").fetchone()[0])
            schema = src.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"
                                 " AND name NOT LIKE 'sqlite_%' AND type IN ('table', 'index', 'view')"
                                 " ORDER BY rowid").fetchall()
        except sqlite3.DatabaseError as exc:
            raise KoodariError(f"its list of tables cannot be read ({exc}); nothing can be rescued: restore your "
                               "last backup", source) from exc
        strange = next((sql for _, _, sql in schema if not SCHEMA_STATEMENT.match(sql)), None)
        if strange is not None:
            raise KoodariError(f"its schema holds a statement koodari never writes ({strange[:60]!r}); not rescued",
                               source)
        report = _copy(src, schema, version, target)
    report.unread_wal = unread_wal
    return report


def _connect(uri: str) -> sqlite3.Connection:
    return sqlite3.connect(uri, uri=True, timeout=30)


def _copy(src: sqlite3.Connection, schema: list[tuple[str, str, str]], version: int, target: Path) -> RescueReport:
    with built_beside(target, "write the rescued study") as partial:
        dst = sqlite3.connect(partial)
        try:
            dst.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for kind, _, sql in schema:
                if kind == "table":
                    dst.execute(sql)
            tables = {name: _copy_rows(src, dst, name) for kind, name, _ in schema if kind == "table"}
            for kind, _, sql in schema:  # indexes and views once the rows are in
                if kind != "table":
                    dst.execute(sql)
            dst.execute(f"PRAGMA user_version = {version}")
            dst.commit()
        finally:
            dst.close()
    return RescueReport(tables)


def _copy_rows(src: sqlite3.Connection, dst: sqlite3.Connection, table: str) -> tuple[int, int | None]:
    """Copy a table's readable rows (with their row ids); returns (copied, rows unreadable or None: some, how many
    unknown). Rows are read in order while they read in rising row ids; past a damaged page (an error, or row ids
    out of order: a page holding another page's rows) every row id is looked up. A row the table's constraints
    refuse (garbled bytes) is unreadable, not the end of the rescue."""
    quoted = '"' + table.replace('"', '""') + '"'
    names = [r[1] for r in src.execute(f"PRAGMA table_info({quoted})")]
    columns = ", ".join('"' + name.replace('"', '""') + '"' for name in names)
    insert = f"INSERT INTO {quoted} (rowid, {columns}) VALUES ({', '.join('?' * (len(names) + 1))})"
    done: set[int] = set()
    refused: set[int] = set()

    def put(row: tuple) -> None:
        try:
            dst.execute(insert, row)
            done.add(row[0])
        except sqlite3.IntegrityError:
            refused.add(row[0])

    last = None
    try:
        cursor = src.execute(f"SELECT rowid, * FROM {quoted} ORDER BY rowid")
        while (row := cursor.fetchone()) is not None:
            if last is not None and row[0] <= last:
                break  # out of order: a damaged page
            last = row[0]
            put(row)
        else:
            return len(done), len(refused)
    except sqlite3.DatabaseError:
        pass  # a damaged page: every row id, one at a time
    try:
        top = src.execute(f"SELECT max(rowid) FROM {quoted}").fetchone()[0]
    except sqlite3.DatabaseError:
        return len(done), None
    if top is None:
        return len(done), None
    try:
        low = min(1, src.execute(f"SELECT min(rowid) FROM {quoted}").fetchone()[0] or 1)
    except sqlite3.DatabaseError:
        low = 1
    unreadable = absent = gap = 0
    rowid, end = low, max(top, last or 0)
    while rowid <= end:
        if rowid in done or rowid in refused:
            rowid += 1
            continue
        try:
            row = src.execute(f"SELECT rowid, * FROM {quoted} WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            unreadable, gap, rowid = unreadable + 1, 0, rowid + 1
            continue
        if row is not None:
            put(row)
            gap = 0
        else:
            absent, gap = absent + 1, gap + 1  # a row deleted long ago, or one on a page now holding other rows
            if gap >= SEEK_AFTER:  # a long run of row ids without a row (a garbled largest row id): seek the next
                try:
                    following = src.execute(f"SELECT min(rowid) FROM {quoted} WHERE rowid > ?", (rowid,)).fetchone()[0]
                except sqlite3.DatabaseError:
                    following = None
                if following is None and end - rowid > MAX_PROBES:
                    break  # no way past the gap but one row id at a time, for too long: what is left is unknown
                if following is not None:
                    rowid, gap = following, 0
                    continue
                gap = 0
        rowid += 1
    return len(done), None if absent else unreadable + len(refused)
