"""Tokens that are written, not spoken: acronyms (*EKG*, *EU:n*, *TE-toimiston*), abbreviations with a period
(*ks.*, *pot.*) and numbers and symbols with a case ending (*20:een*, *%:lla*, *§:n*). No dialect normaliser or
seq2seq lemmatizer should rewrite them: the normaliser read *RR* as *R*, *EKG* as *eikä* and the *n* of *§:n* as
*niin*, the lemmatizer gave *ks.* the lemma *ks.dä*, *TE-toimiston* *tu-toimisto* and *20:een* *20:e*. Nursing
notes, reports and the social-services vocabulary of interviews (*TE-toimisto*, *Kela*) are full of them.

UD Finnish's conventions: an acronym's lemma is the acronym (*EU:n* → *EU*), an abbreviation's its lower-cased
self (*Esim.* → *esim.*), an acronym compound keeps the acronym as written (*EU-maan* → *EU-maa*), a number or a
symbol with a case ending is the number or the symbol (*20:een* → *20*, *%:lla* → *%*).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from koodari.nlp.tokeniser import ABBREVIATIONS, CASE_ENDING

ACRONYM = re.compile(rf"([A-ZÅÄÖ]{{2,5}})(?::{CASE_ENDING})?")  # EKG, EU:n
ACRONYM_COMPOUND = re.compile(r"([A-ZÅÄÖ]{2,5})-(?=[a-zåäö])")  # TE-toimiston, ATK-kurssilla
ABBREVIATION = re.compile(r"([^\W\d_]+)\.")  # ks., Pot.


def acronym(token: str, is_word: Callable[[str], bool]) -> str | None:
    """The acronym TOKEN is (its lemma), or None: two to five capitals, perhaps with a case ending after a colon,
    that are not an ordinary word in capitals (*ON*, *TÄMÄN*: IS_WORD tells, given the lower-cased letters)."""
    match = ACRONYM.fullmatch(token)
    if match is None or is_word(match.group(1).lower()):
        return None
    return match.group(1)


def acronym_head(token: str) -> str | None:
    """The acronym a hyphenated compound starts with (*TE* of *TE-toimiston*), or None."""
    match = ACRONYM_COMPOUND.match(token)
    return match.group(1) if match else None


def abbreviation(token: str) -> str | None:
    """The lemma of an abbreviation written with its period (*Esim.* → *esim.*), or None."""
    match = ABBREVIATION.fullmatch(token)
    return token.lower() if match and match.group(1).lower() in ABBREVIATIONS else None


def symbol_stem(token: str) -> str | None:
    """The number or symbol a case ending follows after a colon (*20:een*, *5 %:lla*, *3 §:n* → *20*, *%*, *§*),
    as UD lemmatises it; None for any other token."""
    stem, colon, ending = token.rpartition(":")
    return stem if colon and stem and not latin(stem) and re.fullmatch(CASE_ENDING, ending) else None


def written_as_is(token: str, is_word: Callable[[str], bool]) -> bool:
    """True for a token the dialect normaliser must leave as it is (an acronym, an abbreviation, a number or a
    symbol with a case ending)."""
    return acronym(token, is_word) is not None or abbreviation(token) is not None or symbol_stem(token) is not None


def keep_head(head: str, form: str) -> str:
    """FORM (a normalised form or a lemma of an acronym compound) with the acronym as written before its first
    hyphen (*tu-toimisto* → *TE-toimisto*); FORM as it is when it has no hyphen."""
    cut = form.find("-")
    return head + form[cut:] if cut > 0 else form


def latin(token: str) -> bool:
    """True when TOKEN has a letter of the Latin script; a token without one (digits, punctuation, emoji, another
    script: *汉字*, *мир*) is its own lemma, as UD writes it, never a guess of the Finnish lemmatizer."""
    return any(ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN") for ch in token)
