"""The one lazy loader of the slow optional libraries: stanza (and with it torch) and spaCy (without torch).

Nothing here runs at import time; each function imports its library on first use, so that importing
koodari (the CLI's start-up, the tests that never analyse) stays fast.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_LOAD_LOCK = threading.Lock()


@contextmanager
def inference_only() -> Iterator[None]:
    """Build stanza pipelines without their training optimizers.

    stanza's tokenizer and lemmatizer trainers create an Adam optimizer even to predict, and torch's first
    optimizer imports torch._dynamo: 3-9 s of a cold start on 2 shared cores. Nothing in koodari trains a
    stanza model in-process (models/train_models.py runs stanza's trainers in subprocesses).
    """
    from stanza.models.common import utils

    with _LOAD_LOCK:
        original = utils.get_optimizer
        utils.get_optimizer = lambda *args, **kwargs: None
        try:
            yield
        finally:
            utils.get_optimizer = original


def stanza_pipeline(**kwargs: Any) -> Any:
    """A ``stanza.Pipeline`` (never downloads: callers pass ``download_method=None``)."""
    with _LOAD_LOCK:  # not while spaCy is imported with torch hidden (below)
        import stanza

    logging.getLogger("stanza").setLevel(logging.ERROR)
    with inference_only():  # prediction only: no training optimizers (and no torch._dynamo import)
        return stanza.Pipeline(**kwargs)


def torch_module() -> Any:
    """torch, imported under the loader's lock: never while spaCy is imported with torch hidden in another thread
    (``_torch_hidden``), where ``import torch`` fails (the sentence encoder's first text, embedded by the review's
    prefetch thread or a web request while another loads spaCy)."""
    with _LOAD_LOCK:
        import torch

    return torch


def stanza_document(sentences: list[list[dict[str, Any]]]) -> Any:
    """A stanza ``Document`` of pretokenized (and possibly tagged) words."""
    from stanza.models.common.doc import Document

    return Document(sentences)


def spacy_available(package: str) -> bool:
    """True when a spaCy pipeline package is installed (without importing it)."""
    return importlib.util.find_spec(package) is not None


@contextmanager
def _torch_hidden() -> Iterator[None]:
    """``import torch`` fails inside, unless torch is loaded already; afterwards it works again.

    thinc (spaCy's machine-learning library) imports torch when it is installed, only to offer torch layers;
    spaCy's Finnish morphologizer has none. Hidden, torch is not loaded (1.1 s of a cold start, and
    its thread pool), and stanza can still import it later in the same process (thinc then keeps thinking
    torch is absent, which only its torch wrappers would notice).
    """
    if "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` raise ImportError
    try:
        yield
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


def _import_spacy() -> Any:
    """spaCy, imported without torch (``_torch_hidden``)."""
    if "spacy" in sys.modules:
        return sys.modules["spacy"]
    with _LOAD_LOCK, _torch_hidden():
        import spacy
        import thinc.api  # noqa: F401  # thinc's compat module decides about torch here, once per process

    return spacy


def spacy_load(package: str, exclude: list[str]) -> Any:
    spacy = _import_spacy()
    with _LOAD_LOCK, _torch_hidden():  # the package's entry points and registered layers import thinc modules
        return spacy.load(package, exclude=exclude)


def spacy_docs(nlp: Any, words: list[list[str]]) -> list[Any]:
    """spaCy ``Doc`` objects of pretokenized sentences."""
    from spacy.tokens import Doc

    return [Doc(nlp.vocab, words=ws) for ws in words]


def voikko_available() -> bool:
    """True when pyvoikko (Voikko's Finnish morphology) is installed (without loading its transducer)."""
    try:
        return importlib.util.find_spec("pyvoikko") is not None
    except ValueError:  # blocked in sys.modules: as good as missing
        return False


# Voikko's transducer recurses over compound parts: a 10,000-character run of letters ("talotalotalo...", a
# transcript turn without spaces) crashed the process (kfst-rs 1.0.1, segmentation fault) and 5,000 took 0.4 s.
# No Finnish word comes near 100 characters, so longer tokens are not analysed at all.
VOIKKO_MAX_WORD = 100


@functools.lru_cache(maxsize=1)
def voikko_analyser() -> Callable[[str], tuple[Any, ...]]:
    """``pyvoikko.analyse`` for words of at most ``VOIKKO_MAX_WORD`` characters (a longer one has no analysis),
    remembered per word.
    Importing pyvoikko reads its 1 MB transducer (≈ 0.6-0.9 s with kfst-rs), so only on first use."""
    with _LOAD_LOCK:
        import pyvoikko

    @functools.lru_cache(maxsize=1 << 18)  # one transducer run per word form for the normaliser, lemmas, compounds
    def analyse(word: str) -> tuple[Any, ...]:
        return tuple(pyvoikko.analyse(word)) if 0 < len(word) <= VOIKKO_MAX_WORD else ()

    return analyse


def spacy_blank(lang: str) -> Any:
    """spaCy's rule-based tokenizer for LANG (``spacy.blank``: no model, no statistical components)."""
    import spacy

    return spacy.blank(lang)
