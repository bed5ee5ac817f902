"""Lemmas from Voikko's description of Finnish morphology, for words stanza's lemmatizer never saw.

stanza's seq2seq lemmatizer guesses an unseen word's lemma one character at a time (*otettua* → *ottua*,
*päätyy* → *päädä*). Voikko (``pyvoikko``, the voikko-fi transducer) knows how Finnish words inflect. This module
turns Voikko's analyses into UD-style lemmas: the analysis's class must fit the word's UPOS, a participle tagged
VERB gets its verb (*otettua* → *ottaa*), and a compound keeps UD's ``#`` boundaries (*poikkeuslupahakemukset* →
*poikkeus#lupa#hakemus*: the first parts as written, the last part's base form).

Pure: the analyser (``pyvoikko.analyse``) is handed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

# Voikko's word classes and the UPOS each may carry
CLASS_UPOS: dict[str, frozenset[str]] = {
    "nimisana": frozenset({"NOUN"}),
    "laatusana": frozenset({"ADJ"}),
    "nimisana_laatusana": frozenset({"NOUN", "ADJ"}),
    "teonsana": frozenset({"VERB", "AUX"}),
    "seikkasana": frozenset({"ADV"}),
    "asemosana": frozenset({"PRON", "DET"}),
    "suhdesana": frozenset({"ADP"}),
    "huudahdussana": frozenset({"INTJ"}),
    "sidesana": frozenset({"CCONJ", "SCONJ"}),
    "etunimi": frozenset({"PROPN"}),
    "sukunimi": frozenset({"PROPN"}),
    "paikannimi": frozenset({"PROPN"}),
    "nimi": frozenset({"PROPN"}),
    "lukusana": frozenset({"NUM", "ADJ"}),
    "lyhenne": frozenset({"NOUN", "PROPN", "ADV"}),
    "kieltosana": frozenset({"AUX", "VERB"}),
    "etuliite": frozenset({"NOUN", "ADJ"}),
}
# the parts of speech whose unseen words Voikko lemmatises (chosen on the development split: pronouns, adverbs
# and numerals gained nothing, and stanza's training dictionary already knows nearly all of them)
VOIKKO_UPOS = frozenset({"NOUN", "VERB", "ADJ"})
BASE_FORM = re.compile(r"\[Xp\]([^\[]*)\[X\]")
BASE_GROUP = re.compile(r"\[X[pj]\][^\[]*\[X\]")
TAG = re.compile(r"\[[^\]]*\]")
COMPOUND = "[Bc]"


def _surface(part: str) -> str:
    """The written characters of one compound part of Voikko's transducer output."""
    return TAG.sub("", BASE_GROUP.sub("", part))


def _tidy(base: str) -> str:
    """Voikko marks morpheme joins with ``=`` and keeps a written hyphen as ``--``."""
    return base.replace("=", "").replace("--", "-")


class VoikkoLemmatiser:
    """UD-style lemmas from Voikko analyses; ``analyse`` is ``pyvoikko.analyse`` (word → analyses)."""

    def __init__(self, analyse: Callable[[str], Sequence[Any]]) -> None:
        self.analyse = analyse
        self.lemmas = lru_cache(maxsize=200_000)(self._lemmas)
        self.is_lemma = lru_cache(maxsize=200_000)(self._is_lemma)

    def _single(self, analysis: Any, upos: str) -> str | None:
        """The lemma one analysis of an uncompounded word gives for ``upos``, or None when the class does not fit."""
        if analysis.PARTICIPLE and upos in ("VERB", "AUX"):
            verbs = BASE_FORM.findall(analysis.FSTOUTPUT)
            return _tidy(verbs[0]) if verbs and "[Lt]" in analysis.FSTOUTPUT else None
        return _tidy(analysis.BASEFORM) if upos in CLASS_UPOS.get(analysis.CLASS, ()) else None

    def _lemmas(self, word: str, upos: str, compounds: bool = True) -> frozenset[str]:
        """Every lemma Voikko's analyses of ``word`` give for ``upos`` (empty: Voikko does not know the word)."""
        found: set[str] = set()
        for analysis in self.analyse(word):
            parts = analysis.FSTOUTPUT.split(COMPOUND)
            if len(parts) > 1 and compounds:
                heads = [_surface(p).rstrip("-") for p in parts[:-1]]
                tail = _surface(parts[-1])
                tails = self.lemmas(tail, upos, False) if tail and all(heads) and upos != "PROPN" else frozenset()
                if len(tails) == 1:
                    found.add("#".join([*heads, next(iter(tails))]))
                    continue
            lemma = self._single(analysis, upos)
            if lemma:
                found.add(lemma)
        if upos != "PROPN" and not word[:1].isupper():
            found = {lemma.lower() for lemma in found}
        return frozenset(found)

    def lemma(self, word: str, upos: str) -> str | None:
        """Voikko's lemma when all its analyses for ``upos`` agree (``#`` aside), else None."""
        found = self.lemmas(word, upos)
        if len({lemma.replace("#", "").lower() for lemma in found}) != 1:
            return None
        return min(found)

    def sure_lemma(self, word: str, upos: str | None) -> str | None:
        """Voikko's lemma when it needs no second opinion: a noun, verb or adjective whose analyses for ``upos``
        agree and none of which is a derivation (*haastatella* → *haastattaa*, *-minen* → *-ma*: there stanza's
        seq2seq is right more often). None: ask the lemmatizer."""
        if upos not in VOIKKO_UPOS or not word or " " in word:
            return None
        lemma = self.lemma(word, upos)
        if lemma is None:
            return None
        for analysis in self.analyse(word):
            last = analysis.FSTOUTPUT.split(COMPOUND)[-1]
            allowed = 1 if analysis.PARTICIPLE else 0
            if last.count("[Xj]") > allowed or "[Tn4]" in last:
                return None
        return lemma

    def _is_lemma(self, lemma: str, upos: str) -> bool:
        """True when ``lemma`` is a base form of a ``upos`` word by Voikko (a noun or adjective in the nominative
        without a possessive suffix or clitic, a verb in the first infinitive)."""
        plain = lemma.replace("#", "")
        for analysis in self.analyse(plain):
            output = analysis.FSTOUTPUT
            if _tidy(analysis.BASEFORM).lower() == plain.lower() and upos in CLASS_UPOS.get(analysis.CLASS, ()):
                return True
            if upos in ("NOUN", "ADJ") and "[Sn]" in output and "[O" not in output and "[F" not in output:
                return True
            if upos in ("VERB", "AUX") and analysis.CLASS == "teonsana" and "[Tn1]" in output:
                return True
        return False

    def correct(self, word: str, upos: str | None, lemma: str) -> str:
        """``lemma`` kept when Voikko accepts it as a base form; else Voikko's own lemma when it has exactly one."""
        if upos not in VOIKKO_UPOS or not word or " " in word or self.is_lemma(lemma, upos):
            return lemma
        return self.lemma(word, upos) or lemma
