"""The study file has one way in: ``Study`` (koodari/store/). No other module of koodari runs SQL, touches a
study's connection or imports sqlite3; a new query goes into a ``Study`` method."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "koodari"
STORE = PACKAGE / "store"
SQL_CALLS = {"execute", "executemany", "executescript"}

ALLOWED: set[str] = set()  # a module that truly needs SQL of its own would be named here, with why


def sql_uses(source: str) -> list[str]:
    """Where a module's source runs SQL itself: `line: what`, empty when it leaves the database to Study."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] == "sqlite3"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlite3":
            found.append(f"{node.lineno}: from sqlite3 import ...")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
            found.append(f"{node.lineno}: .{node.func.attr}(...)")
        elif isinstance(node, ast.Attribute) and node.attr == "conn":
            found.append(f"{node.lineno}: .conn")
    return found


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if STORE not in p.parents)


def test_no_module_outside_the_store_speaks_sql():
    offenders = {}
    for path in modules():
        name = path.relative_to(PACKAGE.parent).as_posix()
        uses = sql_uses(path.read_text(encoding="utf-8"))
        if uses and name not in ALLOWED:
            offenders[name] = uses
    assert offenders == {}, "SQL outside koodari/store/ (add a Study method instead): " + repr(offenders)
    assert len(modules()) > 30  # the walk saw the package, not an empty folder


def test_the_allow_list_holds_only_modules_that_still_need_it():
    for name in ALLOWED:
        path = PACKAGE.parent / name
        assert not path.exists() or sql_uses(path.read_text(encoding="utf-8")), f"{name} no longer needs its entry"


def test_the_store_itself_is_where_the_sql_is():
    assert sql_uses((STORE / "study.py").read_text(encoding="utf-8"))  # the check sees SQL where it is


@pytest.mark.parametrize("snippet", [
    "import sqlite3",
    "from sqlite3 import connect",
    "import sqlite3.dbapi2 as db",
    "study.conn.execute('SELECT 1')",
    "rows = self.study.conn.execute('SELECT id FROM segments').fetchall()",
    "conn = study.conn",
    "cursor.executemany('INSERT INTO t VALUES (?)', rows)",
    "db.executescript('DROP TABLE x')",
])
def test_the_check_catches_sql_written_in_a_module(snippet):
    review = (PACKAGE / "review.py").read_text(encoding="utf-8")
    assert sql_uses(review) == []
    assert sql_uses(review + "\n\ndef added(study, self, cursor, db):\n    " + snippet + "\n")
