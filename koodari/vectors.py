"""Finnish word vectors: the floret table of ``spacy-fi-experimental-web-md``, without its pipeline.

Floret builds a vector for any string from its character n-grams (50,000 hashed rows × 300 dimensions,
trained on Finnish web text), so dialect spellings and unseen compounds get one too. Only the package's
vector table is read: memory-mapped with numpy (the ``vectors`` file is a .npy array) and its settings from
``vectors.cfg``. A word's vector is the mean of the rows its n-grams hash to (MurmurHash3 x64-128 from
``mmh3``, the hash and settings spaCy's ``Vectors.get_batch`` uses in floret mode): neither spaCy nor the
package's pipeline (which needs libvoikko) is imported, and only the rows the study's words touch are read
from disk. Word vectors are cached per word, unit length, float32.

``KOODARI_VECTORS`` may point to another copy of the package's ``vocab`` folder.
"""

from __future__ import annotations

import importlib.util
import json
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


class FloretTable:
    """The floret rows and settings of the package's ``vocab`` folder: vectors of words on demand."""

    def __init__(self, rows: np.ndarray, config: dict) -> None:
        import mmh3  # a small C extension; imported here so a lexical-only study never needs it

        self._hash = mmh3.hash64
        self.rows = rows
        self.shape = rows.shape
        self.minn, self.maxn = int(config["minn"]), int(config["maxn"])
        self.hash_count = min(int(config["hash_count"]), 4)
        self.seed = int(config["hash_seed"])
        self.bow, self.eow = str(config.get("bow", "<")), str(config.get("eow", ">"))

    @classmethod
    def from_disk(cls, folder: Path) -> FloretTable:
        config = json.loads((folder / "vectors.cfg").read_text(encoding="utf-8"))
        if config.get("mode") != "floret":
            raise ValueError(f"expected floret vectors, found mode {config.get('mode')!r}")
        rows = np.load(folder / "vectors", mmap_mode="r", allow_pickle=False)
        if rows.ndim != 2 or rows.shape[1] != DIM or rows.dtype != np.float32:
            raise ValueError(f"expected a float32 table of {DIM} columns, found {rows.dtype} {rows.shape}")
        return cls(rows, config)

    def _row_indices(self, word: str) -> list[int]:
        """The table rows of a word's n-grams: the padded word itself and its minn–maxn character n-grams,
        each hashed ``hash_count`` times (32-bit parts of one 128-bit hash)."""
        key = self.bow + word + self.eow
        ngrams = [key] + [key[start:start + size] for size in range(self.minn, self.maxn + 1)
                          for start in range(0, len(key) - size + 1)]
        n_rows = self.shape[0]
        out = []
        for ngram in ngrams:
            low, high = self._hash(ngram.encode("utf-8"), self.seed, x64arch=True, signed=False)
            parts = (low & 0xFFFFFFFF, low >> 32, high & 0xFFFFFFFF, high >> 32)
            out.extend(part % n_rows for part in parts[: self.hash_count])
        return out

    def get_batch(self, words: list[str]) -> np.ndarray:
        """A (len(words), dim) float32 matrix: each word's mean n-gram row (zeros for an empty string)."""
        out = np.zeros((len(words), self.shape[1]), dtype=np.float32)
        for i, word in enumerate(words):
            if word:
                indices = self._row_indices(word)
                scale = np.float32(1.0 / len(indices))  # as spaCy's mean: each row scaled, then summed in order
                out[i] = (np.asarray(self.rows[indices], dtype=np.float32) * scale).sum(axis=0, dtype=np.float32)
        return out


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
            table = FloretTable.from_disk(folder)
            table.get_batch(["koe"])
        except Exception as exc:  # noqa: BLE001 - any failure to read the table is a damaged package
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise KoodariError(
                f"Finnish word vectors in {folder} cannot be read ({message}); reinstall the package {PACKAGE} "
                f"({INSTALL} --force-reinstall)"
            ) from exc
        _loaded = WordVectors(table)
        return _loaded
