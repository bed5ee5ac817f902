"""Finnish word vectors: the floret table of ``spacy-fi-experimental-web-md``, without its pipeline.

Floret builds a vector for any string from its character n-grams (50,000 hashed rows × 300 dimensions,
trained on Finnish web text), so dialect spellings and unseen compounds get one too. Only the vector
table is read (``spacy.vectors.Vectors.from_disk``): the package's pipeline, which needs libvoikko, is
never loaded. Word vectors are computed on demand and cached per word, unit length, float32.

``KOODARI_VECTORS`` may point to another copy of the package's ``vocab`` folder.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import numpy as np

from koodari.errors import KoodariError

PACKAGE = "spacy-fi-experimental-web-md"
MODULE = "spacy_fi_experimental_web_md"
VERSION_DIR = "fi_experimental_web_md-0.15.0"
INSTALL = f"pip install {PACKAGE}"
DIM = 300


def vectors_dir() -> Path:
    """The folder that holds the package's ``vectors`` and ``vectors.cfg``."""
    override = os.environ.get("KOODARI_VECTORS")
    if override:
        return Path(override)
    spec = importlib.util.find_spec(MODULE)  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise KoodariError(f"Finnish word vectors missing: the package {PACKAGE} is not installed ({INSTALL})")
    return Path(next(iter(spec.submodule_search_locations))) / VERSION_DIR / "vocab"


class WordVectors:
    """Unit-length word vectors with a per-word cache."""

    def __init__(self, table) -> None:
        self._table = table
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.dim = int(table.shape[1])

    def __call__(self, words: list[str]) -> np.ndarray:
        """A (len(words), 300) float32 matrix of unit vectors (a zero row for an empty string)."""
        missing = list(dict.fromkeys(w for w in words if w not in self._cache))
        if missing:
            with self._lock:
                raw = np.asarray(self._table.get_batch(missing), dtype=np.float32)
                norms = np.linalg.norm(raw, axis=1, keepdims=True)
                raw = raw / np.where(norms > 0, norms, 1.0)
                for word, row in zip(missing, raw, strict=True):
                    self._cache[word] = row if word else np.zeros(self.dim, dtype=np.float32)
        if not words:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._cache[w] for w in words])


_loaded: WordVectors | None = None
_load_lock = threading.Lock()


def load_vectors() -> WordVectors:
    """The word vectors, loaded once per process. One-line KoodariError if the package is missing or damaged."""
    global _loaded
    with _load_lock:
        if _loaded is not None:
            return _loaded
        folder = vectors_dir()
        if not (folder / "vectors").is_file() or not (folder / "vectors.cfg").is_file():
            raise KoodariError(
                f"Finnish word vectors missing: {folder} has no vector table; reinstall the package {PACKAGE} "
                f"({INSTALL} --force-reinstall)"
            )
        try:
            from spacy.vectors import Vectors

            table = Vectors(shape=(1, 1)).from_disk(folder)
            if table.mode != "floret" or table.shape[1] != DIM:
                raise ValueError(f"expected floret vectors of {DIM} dimensions, found {table.mode} {table.shape}")
            table.get_batch(["koe"])
        except Exception as exc:  # noqa: BLE001 - any failure to read the table is a damaged package
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise KoodariError(
                f"Finnish word vectors in {folder} cannot be read ({message}); reinstall the package {PACKAGE} "
                f"({INSTALL} --force-reinstall)"
            ) from exc
        _loaded = WordVectors(table)
        return _loaded
