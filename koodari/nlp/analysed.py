"""The one shape of an analysed text: what the pipeline makes, the cache stores and the models read.

``AnalysedText`` is a text with its tokens (``AnalysedToken``: spoken form, normalised form, lemma, UPOS,
character offsets) and the derived views the features need (content lemmas, normalised surface, content
words). It is frozen and hashable. ``to_json``/``from_json`` read and write the study's cache format (a
JSON list of token objects with the keys ``text``, ``normalised``, ``lemma``, ``upos``, ``start``, ``end``),
so rows cached by any earlier koodari still load.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

# lemmas that carry no content: left out of the lexical features and of the semantic block's words
STOP_LEMMAS = frozenset([
    "olla", "se", "ja", "että", "ei", "tuo", "tämä", "niin", "kuin", "sitten", "kun", "joka", "mikä", "vain", "myös",
    "nyt", "ne", "me", "minä", "sinä", "hän", "he", "te", "ihan", "kyllä", "vähän", "siellä", "täällä", "siinä",
    "tässä", "mutta", "tai", "jos", "eli", "vaan", "no", "joo", "niinku", "tuota", "totta", "kai", "jo", "vielä",
    "aina", "sitä", "siitä", "siihen", "sen", "sillä", "itse", "oma", "muu", "kaikki", "jokin", "joku", "mitä",
    "kuka", "koko", "kanssa", "ollut", "olisi", "ovat", "oli", "on", "ole", "nämä", "noi", "nää", "ku", "sit",
    "sillon", "semmoinen", "sellainen", "tällainen", "tuollainen", "niinkuin", "eikä", "ettei", "vaikka", "koska",
    "jotta",
])


@dataclass(frozen=True)
class AnalysedToken:
    """One token: as spoken, its standard form, lemma (UD compound boundaries as ``#``) and UPOS.

    A normalised form may be several words (``niinku`` → ``niin kuin``): then the lemma has one lemma per
    word and the UPOS joins the words' tags with ``+``. Offsets are ``None`` for pretokenized input."""

    spoken: str
    normalised: str
    lemma: str
    upos: str
    start: int | None = None
    end: int | None = None

    @property
    def text(self) -> str:
        """The spoken form (the name stanza, spaCy and the stored JSON use)."""
        return self.spoken

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.spoken, "normalised": self.normalised, "lemma": self.lemma, "upos": self.upos,
                "start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalysedToken:
        """A token as stored; missing keys (rows from older versions, hand-made tokens) fall back to the text."""
        spoken = data.get("text") or data.get("spoken") or ""
        return cls(spoken, data.get("normalised") or "", data.get("lemma") or "", data.get("upos") or "X",
                   data.get("start"), data.get("end"))

    def shifted(self, by: int) -> AnalysedToken:
        """The token with its offsets moved by ``by`` characters."""
        if by == 0:
            return self
        start = None if self.start is None else self.start + by
        end = None if self.end is None else self.end + by
        return AnalysedToken(self.spoken, self.normalised, self.lemma, self.upos, start, end)


@dataclass(frozen=True)
class AnalysedText:
    """A text and its tokens. ``offset``: where ``text`` starts in the string the token offsets count in
    (a unit's tokens count in its document, so ``text[t.start - offset : t.end - offset] == t.spoken``)."""

    text: str
    tokens: tuple[AnalysedToken, ...] = ()
    offset: int = 0

    @classmethod
    def join(cls, parts: Iterable[AnalysedText]) -> AnalysedText:
        """Several analysed texts as one (a category's name and description sentences as one profile)."""
        parts = list(parts)
        return cls(" ".join(p.text for p in parts), tuple(t for p in parts for t in p.tokens))

    # -- the cache's format -------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps([t.as_dict() for t in self.tokens], ensure_ascii=False)

    @classmethod
    def from_json(cls, data: str | Sequence[dict[str, Any]] | None, text: str = "", offset: int = 0) -> AnalysedText:
        """Tokens as stored (a JSON string or the parsed list of token objects)."""
        tokens = json.loads(data) if isinstance(data, str) else (data or [])
        return cls(text, tuple(AnalysedToken.from_dict(t) for t in tokens), offset)

    def relative(self) -> AnalysedText:
        """The same analysis with offsets into ``text`` itself (offset 0)."""
        if self.offset == 0:
            return self
        return AnalysedText(self.text, tuple(t.shifted(-self.offset) for t in self.tokens))

    def placed(self, offset: int) -> AnalysedText:
        """A text-relative analysis placed at ``offset`` in a longer string (a unit in its document)."""
        return AnalysedText(self.text, tuple(t.shifted(offset - self.offset) for t in self.tokens), offset)

    # -- views --------------------------------------------------------------------------------------

    @property
    def lemmas(self) -> list[str]:
        return [t.lemma for t in self.tokens]

    @property
    def normalised(self) -> str:
        """The normalised forms as written, space-separated (the review screen's line)."""
        return " ".join(t.normalised for t in self.tokens)

    @cached_property
    def _content(self) -> tuple[str, tuple[tuple[str, str, str], ...]]:
        lemmas: list[str] = []
        words: list[tuple[str, str, str]] = []
        for t in self.tokens:
            lemma = (t.lemma or t.spoken).lower()
            if t.upos == "PUNCT" or not any(ch.isalnum() for ch in lemma):
                continue
            kept = [part for part in lemma.split() if part.replace("#", "") not in STOP_LEMMAS]
            lemmas += kept  # a multiword normalised form carries several lemmas
            if kept:
                spoken = t.spoken.lower()
                normalised = (t.normalised or spoken).lower()
                words += [(spoken, normalised, part.replace("#", "")) for part in kept]
        return " ".join(lemmas), tuple(words)

    @property
    def lemma_text(self) -> str:
        """The content lemmas, space-separated, compound boundaries kept as ``#``: the lexical features' input."""
        return self._content[0]

    @property
    def words(self) -> tuple[tuple[str, str, str], ...]:
        """Content words as (spoken, normalised, lemma without ``#``), lower case: the semantic block's input."""
        return self._content[1]

    @cached_property
    def normalised_text(self) -> str:
        """The normalised surface in lower case: the character n-gram features' input."""
        return " ".join(t.normalised or t.spoken for t in self.tokens).lower()


EMPTY = AnalysedText("")
