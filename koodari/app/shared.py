"""What every action shares: one pipeline per configuration, opening a study, the tree as of a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from koodari import sentences
from koodari.lazy import load
from koodari.nlp.pipeline import FinnishPipeline, ModelSource
from koodari.store import Study
from koodari.store.embeddings import EmbeddingCache
from koodari.treeops import categories_as_of, parse_time

_suggest = load("koodari.suggest")  # scikit-learn: loads on first use (koodari.lazy)

if TYPE_CHECKING:
    from koodari.suggest import Tree

StudyRef = Path | str | Study
LEVEL_NAMES = ("sub", "upper", "combining")
MODEL_KINDS = ("linear", "neighbours")

# -- shared resources ------------------------------------------------------------------------------

_PIPELINES: dict[tuple, FinnishPipeline] = {}
_PIPELINES_LOCK = threading.Lock()
# sentence embeddings are kept across processes in the user's cache folder (opened on first use)
sentences.use_backing(EmbeddingCache.default())


def pipeline(normalise: bool = True, dictionary_backoff: bool = True, tagger: str | None = None,
             models: str | Path | None = None) -> FinnishPipeline:
    """This process's pipeline for one configuration, built once (its models load on first use)."""
    source = ModelSource.official(models) if models else ModelSource.default()
    key = (source, normalise, dictionary_backoff, tagger)
    with _PIPELINES_LOCK:
        if key not in _PIPELINES:
            _PIPELINES[key] = FinnishPipeline(source, normalise=normalise, dictionary_backoff=dictionary_backoff,
                                              tagger=tagger)
        return _PIPELINES[key]


def open_study(path: Path | str) -> Study:
    """An existing study file, opened (use it as a context manager)."""
    return Study.open(path)


@contextmanager
def opened(study: StudyRef) -> Iterator[Study]:
    """The study at a path, opened and closed again; an open ``Study`` as it is (its owner closes it)."""
    if isinstance(study, Study):
        yield study
        return
    with Study.open(study) as s:
        yield s


def tree_as_of(study: Study, as_of: str | None) -> tuple[str | None, Tree]:
    """(the time in the study's format or None, the suggestion tree as it is now or was then)."""
    if as_of is None:
        return None, _suggest.Tree(study)
    at = parse_time(as_of)
    return at, _suggest.Tree(study, categories_as_of(study, at))


