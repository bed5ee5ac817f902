"""The study file has one way in: ``Study`` (koodari/store/). No other module of koodari, and no benchmark script
in bench/, runs SQL, touches a study's connection or imports sqlite3; a new query goes into a ``Study`` method."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "koodari"
BENCH = ROOT / "bench"
STORE = PACKAGE / "store"
SQL_CALLS = {"execute", "executemany", "executescript"}

ALLOWED: dict[str, str] = {  # a script that truly needs SQL of its own, and why
    "bench/soak.py": "checks from outside koodari, with plain sqlite3, what koodari wrote: the file's integrity and"
                     " every logged decision, after reviewers were killed mid-session",
    "bench/scale.py": "watches from outside how many analyses a `koodari analyse` process has committed (to kill it"
                      " halfway) and compares the raw stored rows of runs: an outside check of what koodari wrote",
}


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
    """koodari's modules outside the store, and the benchmark scripts."""
    return sorted([p for p in PACKAGE.rglob("*.py") if STORE not in p.parents] + list(BENCH.glob("*.py")))


def test_no_module_outside_the_store_speaks_sql():
    offenders = {}
    for path in modules():
        name = path.relative_to(ROOT).as_posix()
        uses = sql_uses(path.read_text(encoding="utf-8"))
        if uses and name not in ALLOWED:
            offenders[name] = uses
    assert offenders == {}, "SQL outside koodari/store/ (add a Study method instead): " + repr(offenders)
    names = {p.relative_to(ROOT).as_posix() for p in modules()}
    assert len(names) > 30 and "bench/agreement.py" in names  # the walk saw the package and bench/


def test_the_allow_list_holds_only_modules_that_still_need_it():
    for name in ALLOWED:
        path = ROOT / name
        assert path.exists() and sql_uses(path.read_text(encoding="utf-8")), f"{name} no longer needs its entry"


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
