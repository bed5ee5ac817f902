"""simplemma's Finnish dictionary (word form → lemma), opened fast.

simplemma ships its dictionary lzma-compressed: opening it takes ≈ 1.2 s of CPU in every process (its
``low_memory`` stream) or 5.7 s and 400 MB (decoded into a dict). simplemma's own trie backend
(``TrieDictionaryFactory``, marisa-trie) builds a memory-mapped trie once and keeps it in the user's cache
folder; later processes open it in ≈ 0.01 s with the same answers. Without marisa-trie the stream is used.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass

LANG = "fi"
ENV_CACHE = "KOODARI_DICTIONARY_CACHE"  # the folder of the trie (default: simplemma's, in the user's cache)


@dataclass(frozen=True)
class FinnishDictionary:
    """``is_known(word)`` and ``lemmatize(word)`` over simplemma's Finnish dictionary."""

    is_known: Callable[[str], bool]
    lemmatize: Callable[[str], str]
    backend: str  # "trie" or "stream"


@functools.lru_cache(maxsize=1)
def finnish_dictionary() -> FinnishDictionary:
    """The dictionary, opened once per process (the trie is built on first use on this machine)."""
    import simplemma

    try:
        from simplemma.strategies import DefaultStrategy, DictionaryLookupStrategy
        from simplemma.strategies.dictionaries.trie_dictionary_factory import TrieDictionaryFactory
        from simplemma.utils import normalize_token

        factory = TrieDictionaryFactory(disk_cache_dir=os.environ.get(ENV_CACHE) or None)
    except (ImportError, AttributeError):  # marisa-trie missing, or another simplemma layout: the stream
        return FinnishDictionary(_stream_is_known, _stream_lemmatize, "stream")
    lookup = DictionaryLookupStrategy(factory)
    lemmatizer = simplemma.Lemmatizer(lemmatization_strategy=DefaultStrategy(dictionary_factory=factory))

    def is_known(word: str) -> bool:  # as simplemma.is_known
        if "\x00" in word:  # the trie's C++ keys end at a NUL (a crash or a wrong match): the stream answers
            return _stream_is_known(word)
        return lookup.get_lemma(normalize_token(word), LANG) is not None

    def lemmatize(word: str) -> str:
        return _stream_lemmatize(word) if "\x00" in word else lemmatizer.lemmatize(word, lang=LANG)

    return FinnishDictionary(is_known, lemmatize, "trie")


def _stream_is_known(word: str) -> bool:
    import simplemma

    return simplemma.is_known(word, lang=LANG, low_memory=True)


def _stream_lemmatize(word: str) -> str:
    import simplemma

    return simplemma.lemmatize(word, lang=LANG, low_memory=True)
