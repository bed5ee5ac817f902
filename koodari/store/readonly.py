"""Reading a study without creating a file beside it, as a study on read-only media must be read.

A plain ``mode=ro`` SQLite connection to a WAL-mode study creates a -wal and a -shm file beside it, leaves them
there, and fails where it cannot create them (a USB stick, a read-only backup or share). So: a study whose -wal
file exists beside its -shm (perhaps open in a session) is read in place, under SQLite's locks; one whose -wal
file holds changes not yet in the study file is read from a private copy of the two, in a temporary folder; any
other is read ``immutable``: the study file alone, without a lock or a file beside it. Nothing is written to the
study, and nothing is left beside it. A private copy's folder is named after the process that made it
(``.koodari-PID-…``); one left by a process that was killed is removed the next time a copy is made there.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from koodari.errors import reason

COPY_FOLDER = re.compile(r"\.koodari-(\d+)-")  # a private copy's folder: .koodari-PID-random


def _alive(pid: int) -> bool:
    """Whether process PID still runs (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # not ours to signal: it runs
        return True
    return True


def sweep_copies(folder: Path) -> None:
    """Remove the private copies in FOLDER whose process is gone (killed before it could remove its own)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        found = COPY_FOLDER.match(entry.name)
        if found and int(found.group(1)) != os.getpid() and not _alive(int(found.group(1))) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


@contextmanager
def reading(path: Path, connect: Callable[[str], sqlite3.Connection],
            scratch: Path | None = None) -> Iterator[tuple[sqlite3.Connection, str | None]]:
    """A read-only connection to the study PATH, made by CONNECT from an SQLite URI, that creates no file beside
    it; and why its -wal file could not be read (None: read, or nothing in it), in which case the study file alone
    is read. The private copy goes in a temporary folder in SCRATCH (default: the system's), removed on leaving."""
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    uri = path.resolve().as_uri()
    with ExitStack() as stack:
        conn, unread = None, None
        if wal.exists() and shm.exists():  # perhaps open in a session: read in place, under SQLite's locks
            conn = connect(uri + "?mode=ro")
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:  # cannot open, read-only, locked: read-only media
                conn.close()
                conn = None
            except sqlite3.DatabaseError:
                pass  # damaged: the caller says so
        if conn is None and wal.exists() and wal.stat().st_size > 0:  # changes not yet in the study file
            try:
                sweep_copies(Path(scratch or tempfile.gettempdir()))
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=scratch,
                                                                              prefix=f".koodari-{os.getpid()}-")))
                shutil.copyfile(path, folder / path.name)
                shutil.copyfile(wal, folder / wal.name)
                conn = connect((folder / path.name).as_uri() + "?mode=ro")
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except (OSError, sqlite3.OperationalError) as exc:
                if conn is not None:
                    conn.close()
                    conn = None
                unread = reason(exc)
            except sqlite3.DatabaseError:
                pass  # damaged: the caller says so
        if conn is None:  # no locks, no -wal or -shm: the study file alone
            conn = connect(uri + "?mode=ro&immutable=1")
        stack.callback(conn.close)
        yield conn, unread
