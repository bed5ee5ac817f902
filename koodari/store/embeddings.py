"""The sentence-embedding cache: one small SQLite file in the user's cache folder, shared by every study.

The sentence encoder costs ≈ 0.1-0.3 s of CPU for each interview turn; a turn's embedding depends only on its
text and the encoder, so it is kept here once computed and read back by every later process (a second
``suggest``, a review started again, ``group``, another study with the same text). It is a cache, never a
record: it holds no coding, a study never refers to it, and any trouble with it (a damaged or locked file, a
read-only or full disk) only makes koodari compute the embedding again. ``KOODARI_EMBEDDING_CACHE`` names
another file, or ``off`` for none.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

ENV_CACHE = "KOODARI_EMBEDDING_CACHE"
FILE_NAME = "sentence-embeddings.sqlite3"
OPEN_TRIES = 3  # uses whose open finds the file locked (another process is creating it) before the cache turns off
OPEN_WAITS = (0.05, 0.1, 0.2, 0.4)  # within one use: seconds to wait before each new try of a locked open
ROW_LIMIT = 200_000  # ≈ 300 MB of 384-dimensional rows: past it, the older half is dropped when a process opens it
SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    kind TEXT NOT NULL,
    encoder TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (kind, encoder, sha256)
)
"""


def default_path() -> Path | None:
    """The cache file: ``KOODARI_EMBEDDING_CACHE`` when set (``off``: none), else the user's cache folder."""
    value = os.environ.get(ENV_CACHE, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value)
    import platformdirs

    return Path(platformdirs.user_cache_dir("koodari")) / FILE_NAME


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """Embeddings by (kind, encoder, text), float32 rows exactly as the encoder gave them.

    Opened on first use; safe to share between threads (one connection behind a lock) and processes (WAL,
    a short busy timeout, a write that finds the file locked is skipped). After any other database or file
    error the cache turns itself off for the process (``disabled``) and answers nothing."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.disabled = path is None
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._locked_opens = 0

    @classmethod
    def default(cls) -> EmbeddingCache:
        return cls(default_path())

    def get(self, kind: str, encoder: str, texts: list[str]) -> dict[str, np.ndarray]:
        """The stored embeddings of those texts that have one."""
        keys = {_key(t): t for t in dict.fromkeys(texts)}
        found: dict[str, np.ndarray] = {}
        with self._lock:
            conn = self._open()
            if conn is None or not keys:
                return found
            try:
                hashes = list(keys)
                for start in range(0, len(hashes), 500):
                    chunk = hashes[start : start + 500]
                    rows = conn.execute(
                        f"SELECT sha256, vector FROM embeddings WHERE kind = ? AND encoder = ? "
                        f"AND sha256 IN ({','.join('?' * len(chunk))})", [kind, encoder, *chunk]).fetchall()
                    found.update((keys[h], np.frombuffer(v, dtype=np.float32).copy()) for h, v in rows)
            except sqlite3.OperationalError as exc:
                if not _locked(exc):
                    self._disable()
            except sqlite3.Error:
                self._disable()
        return found

    def put(self, kind: str, encoder: str, rows: dict[str, np.ndarray]) -> None:
        """Keep these embeddings (one short transaction)."""
        if not rows:
            return
        with self._lock:
            conn = self._open()
            if conn is None:
                return
            try:
                with conn:
                    conn.executemany(
                        "INSERT OR REPLACE INTO embeddings (kind, encoder, sha256, vector) VALUES (?, ?, ?, ?)",
                        [(kind, encoder, _key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in rows.items()])
            except sqlite3.OperationalError as exc:
                if not _locked(exc):
                    self._disable()
            except sqlite3.Error:
                self._disable()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _open(self) -> sqlite3.Connection | None:
        if self.disabled:
            return None
        if self._conn is None:
            assert self.path is not None
            for wait in (*OPEN_WAITS, None):
                conn: sqlite3.Connection | None = None
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    conn = sqlite3.connect(self.path, timeout=2.0, check_same_thread=False, isolation_level=None)
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute("PRAGMA synchronous = NORMAL")
                    conn.execute(SCHEMA)
                    (count,) = conn.execute("SELECT count(*) FROM embeddings").fetchone()
                    if count > ROW_LIMIT:
                        conn.execute("DELETE FROM embeddings WHERE rowid IN "
                                     "(SELECT rowid FROM embeddings ORDER BY rowid LIMIT ?)", (count - ROW_LIMIT // 2,))
                except sqlite3.OperationalError as exc:
                    if conn is not None:
                        conn.close()
                    if not _locked(exc):
                        self.disabled = True
                        return None
                    # another process turning a new file to WAL answers "locked" at once, without SQLite's busy
                    # wait: wait a moment and try again; after the last try, the next use tries again
                    if wait is not None:
                        time.sleep(wait)
                        continue
                    self._locked_opens += 1
                    self.disabled = self._locked_opens >= OPEN_TRIES
                    return None
                except (sqlite3.Error, OSError):
                    if conn is not None:
                        conn.close()
                    self.disabled = True
                    return None
                self._conn = conn
                break
        return self._conn

    def _disable(self) -> None:
        self.disabled = True
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)
