"""Compound parts and coordinated-compound abbreviations of Finnish lemmas, from Voikko's morphology.

The lemmatiser marks compound boundaries (``työ#valmentaja``) only for compounds it has seen; Voikko
(``pyvoikko.analyse``) splits most others: its FST output separates compound parts with ``[Bc]`` and gives
each part's base form between ``[Xp]`` and ``[X]``. Pure and cached per word.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from koodari.nlp.loader import voikko_analyser

if TYPE_CHECKING:
    from koodari.nlp.analysed import AnalysedText

_TAG = re.compile(r"\[[^\]]*\]")
_BASE = re.compile(r"\[Xp\]([^\[]*)\[X\]")
_BASES = re.compile(r"\[X[a-z]\][^\[]*\[X\]")  # every base-form annotation, the part's own and derivations'


@lru_cache(maxsize=100_000)
def compound_parts(word: str) -> tuple[str, ...]:
    """A compound word's parts as they stand in it, the last as the base form ends (``mielenterveysongelma`` →
    mielen, terveys, ongelma); an empty tuple for a word Voikko does not know or that is not a compound."""
    if len(word) < 6 or not word.isalpha():
        return ()
    try:
        analyses = voikko_analyser()(word)  # at most VOIKKO_MAX_WORD letters: a longer run crashed the transducer
    except Exception:  # noqa: BLE001 - no morphology: no parts (the lemma and its stems still count)
        return ()
    for analysis in analyses:
        fst = getattr(analysis, "FSTOUTPUT", None) or ""
        if "[Bc]" not in fst:
            continue
        segments = fst.split("[Bc]")
        # a part before the last as it stands in the compound (its surface: *mielen*, *terveys*); the last one
        # as the base form ends (*ongelma* of *mielenterveysongelmat*), else its own base form
        heads = [_TAG.sub("", _BASES.sub("", seg)).strip("-").lower() for seg in segments[:-1]]
        base = str(getattr(analysis, "BASEFORM", "") or "").lower().replace("-", "")
        prefix = "".join(heads)
        if base.startswith(prefix) and len(base) > len(prefix):
            last = base[len(prefix):]
        else:
            found = _BASE.search(segments[-1])
            last = (found.group(1) if found else _TAG.sub("", segments[-1])).lower()
        parts = [p for p in (*heads, last) if p]
        return tuple(parts) if len(parts) > 1 else ()
    return ()


def abbreviations(lemmas: list[str]) -> list[str]:
    """Initial-letter abbreviations of coordinated compounds: ``työ- [ja] elinkeino#toimisto`` (the lemmas with
    the conjunction already left out) → ``te-toimisto``, the way *TE-toimisto* abbreviates *työ- ja
    elinkeinotoimisto* (and *ELY-keskus* *elinkeino-, liikenne- ja ympäristökeskus*)."""
    out = []
    run: list[str] = []
    for lemma in lemmas:
        if len(lemma) > 1 and lemma.endswith("-") and lemma[0].isalpha():
            run.append(lemma)
            continue
        if run:
            parts = [p for p in lemma.split("#") if p] if "#" in lemma else list(compound_parts(lemma))
            if len(parts) >= 2 and parts[0][0].isalpha():
                out.append("".join(r[0] for r in run) + parts[0][0] + "-" + parts[-1])
        run = []
    return out


COORDINATORS = frozenset({"ja", "tai", "sekä", "eli", ","})


def abbreviations_of(doc: AnalysedText) -> list[str]:
    """The abbreviations of the coordinated compounds a text writes out (*Työ- ja elinkeinotoimisto* →
    te-toimisto): a word spoken with a trailing hyphen, then any more of them and conjunctions, then the
    compound they share their last part with."""
    out: list[str] = []
    run: list[str] = []
    for token in doc.tokens:
        spoken = token.spoken
        if len(spoken) > 1 and spoken.endswith("-") and spoken[0].isalpha():
            run.append(spoken.lower())
        elif run and (token.lemma.lower() in COORDINATORS or token.upos == "CCONJ"):
            continue
        elif run:
            out.extend(abbreviations([*run, token.lemma.lower()]))
            run = []
    return out
