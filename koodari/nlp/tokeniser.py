"""A rule-based Finnish tokeniser and sentence splitter (pure Python, no model: no torch, no stanza).

``sentences(text)`` → sentences of ``(token, start, end)`` with ``text[start:end] == token``. Every character that
is not whitespace (``str.isspace``) lies in exactly one token; a token never contains whitespace.

Tokens follow UD Finnish-TDT's conventions: punctuation apart, but a word keeps its inner hyphens, slashes, ``&``,
apostrophes and dots (*Luonto-Liitto*, *ja/tai*, *H&M*, *1.12.2020*, *Mieli.net*), a case ending after a colon
(*EU:n*, *20:n*, *%:lla*), a leading or trailing hyphen (*-listalla*, *talous- ja*), and the period of an abbreviation
(*esim.*, *ns.*, *n.*) or of an ordinal (*3. luokka*, *4.5.*). URLs, e-mail addresses, emoticons (``:)``),
ellipses (``...``) and emoji (with skin tones, flags and joiners) are one token each.

A sentence ends at ``.``, ``!``, ``?`` (closing quotes and brackets stay with it), at an ellipsis or an emoticon
followed by a capital, and at a blank line (a paragraph) or a line break before a capital (a speaker turn).
Transcripts often write no capital after a full stop, so a lone ``.`` ends a sentence whatever follows; an
abbreviation's period ends one only for abbreviations that close a list (*jne.*, *yms.*) before a capital.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Span = tuple[str, int, int]

# Finnish abbreviations written with a period (lower case; a capitalised one matches too): the period is part of
# the token and, except for LIST_END, never ends a sentence
_ABBREVIATIONS = """
    aik alk alv ao ap apul ark dos ed ekr eaa em ent engl esim ev evl fil hlö huom ilm ip jaa jkr jms jne jpt
    jap kesk kh kk klo kok kpl krs ks kts lat lis lk lkm lt läh lähist maks milj mk mlj mm mrd ms myöh mt
    n nk nro ns nyk oik os pj pkl pl prof ps puh psyk pvm rak ruots ry s sd sek skr suom synt tjs tjsp tk tms toim
    tri ts tv ukr ust v vas ven vihr vk vol vp vrt vs vt yl ym yms yo
    as lääk pot sair vko vrk
"""
ABBREVIATIONS = frozenset(_ABBREVIATIONS.split())
# abbreviations that can close a sentence (a list's end): their period ends it when a capital follows
# and units after a number (*50 000 mk. Leivos maistui*)
LIST_END = frozenset({"jne", "yms", "ym", "tms", "jms", "ms", "jpt", "jtk", "tjs", "tjsp", "ymv", "mk", "kpl", "milj",
                      "mrd", "mlj"})

_WORD_CHAR = r"[^\W_]|[\u0300-\u036f]"  # letters and digits (and combining accents of decomposed letters)
_W = rf"(?:{_WORD_CHAR})"
CASE_ENDING = r"[a-zåäö]{1,6}"  # a case ending written after a colon: EU:n, 20:een, %:lla
_JOIN = (
    r"(?:-/|[-–/&'’_+]"  # Luonto-Liitto, 2–1, ja/tai, touko-/kesäkuu, H&M, can't
    r"|\.(?![A-ZÅÄÖ][a-zåäö])"  # 1.12.2020, Mieli.net, but kotona.Sitten splits
    r"|(?<=\d)[,:](?=\d)"  # 3,5 and 12:30
    rf"|:(?={CASE_ENDING}(?![\w]))"  # a case ending after a colon: EU:n, 20:n (checked in _colon_split)
    r")"
)
_URL = r"(?:https?://|www\.)[^\s<>\"”]+"
_EMAIL = r"[\w.+-]{1,64}@\w[\w-]*(?:\.\w[\w-]*)+"
_EMOTICON = r"(?:[:;=][-'^]?(?:\)+|\(+|[DPpOo3/\\|*](?![\w]))|<3|\*\w+\*)"  # :) ;D <3 *virn*
_EMOJI_TAIL = r"[\ufe0e\ufe0f\u20e3\U0001F3FB-\U0001F3FF]*"
_OTHER = (rf"(?:[\U0001F1E6-\U0001F1FF]{{2}}"  # a flag: two regional indicators
          rf"|\S{_EMOJI_TAIL}(?:\u200d\S{_EMOJI_TAIL})*)")  # any other character, with its emoji modifiers and joiners
_PUNCT = r"(?:\.{2,}|…+|[-–—]{2,})"  # (UD writes "!!" as two tokens)
_WORD = rf"(?:(?<![\w–-])[-–#@](?={_W}))?{_W}+(?:{_JOIN}{_W}+)*(?:-(?=[\s,/]|$))?"
_SYMBOL_CASE = rf"[%‰§€$£°]:{CASE_ENDING}(?![\w])"  # a symbol with a case ending: 5 %:lla, 3 §:n, 10 €:lla
TOKEN = re.compile(rf"(?P<url>{_URL})|(?P<email>{_EMAIL})|(?P<word>{_WORD})|{_SYMBOL_CASE}|(?P<emo>{_EMOTICON})"
                   rf"|{_PUNCT}|{_OTHER}")

_TRAILING = re.compile(r"[.,;:!?'’\"”»)\]]+$")
SENTENCE_END = re.compile(r"^(?:[.!?]+|\.{2,}|…+)$")
CLOSERS = frozenset("\"”’'»)]")


def tokens(text: str) -> list[Span]:
    """The tokens of TEXT with their offsets (abbreviation and ordinal periods not yet attached)."""
    out: list[Span] = []
    for m in TOKEN.finditer(text):
        start, end = m.span()
        if m.lastgroup == "url":  # a URL's trailing punctuation belongs to the sentence
            trail = _TRAILING.search(m.group())
            if trail and not (")" in trail.group() and "(" in m.group()):
                end -= len(trail.group())
            out.append((text[start:end], start, end))
            out.extend(_rest(text, end, m.end()))
        elif m.lastgroup == "word" and ":" in m.group():
            out.extend(_colon_split(text, start, end))
        else:
            out.append((m.group(), start, end))
    return out


def _rest(text: str, start: int, end: int) -> list[Span]:
    return [(m.group(), start + m.start(), start + m.end()) for m in TOKEN.finditer(text[start:end])]


def _colon_split(text: str, start: int, end: int) -> list[Span]:
    """A word with a colon keeps it only as a case ending after an acronym, a number or a short abbreviation
    (*EU:n*, *20:n*, *km:n*); otherwise (*kiva:p*) the colon starts a new token."""
    word = text[start:end]
    stem = word[: word.index(":")]
    if not stem.islower() or len(stem) <= 3 or "." in stem:
        return [(word, start, end)]
    cut = start + len(stem)
    rest = text[cut:end]
    emo = re.match(_EMOTICON, rest)
    if emo:
        return [(stem, start, cut), (emo.group(), cut, cut + emo.end()), *_rest(text, cut + emo.end(), end)]
    return [(stem, start, cut), (":", cut, cut + 1), *_rest(text, cut + 1, end)]


def _attach_periods(text: str, spans: list[Span]) -> list[Span]:
    """An abbreviation's or an ordinal's period joins the word before it (no space between them)."""

    def joins(out: list[Span], i: int) -> bool:
        after = spans[i + 2][0] if i + 2 < len(spans) else ""
        return _takes_period(spans[i][0], after) or _list_number(spans[i][0], out[-1][0] if out else "", after)

    return _join_with_next(text, spans, ".", joins)


def _join_with_next(text: str, spans: list[Span], mark: str, joins: Callable[[list[Span], int], bool]) -> list[Span]:
    """Spans where span ``i`` and a ``mark`` right after it (no space between) become one token when
    ``joins(tokens so far, i)`` says so."""
    out: list[Span] = []
    i = 0
    while i < len(spans):
        tok, start, end = spans[i]
        if i + 1 < len(spans) and spans[i + 1][:2] == (mark, end) and joins(out, i):
            out.append((text[start : end + 1], start, end + 1))
            i += 2
            continue
        out.append((tok, start, end))
        i += 1
    return out


def _list_number(word: str, before: str, after: str) -> bool:
    """A numbered list's item number (*ohjeita: 1. Mene ...*): after a colon or a sentence's end, before a capital."""
    return (bool(re.fullmatch(r"\d{1,2}", word)) and _starts_sentence(after)
            and (not before or before == ":" or bool(SENTENCE_END.match(before)) or before in CLOSERS))


def _takes_period(word: str, after: str) -> bool:
    """True when the period after WORD is part of it (an abbreviation, an initial or an ordinal)."""
    key = word.split("-")[-1].lower()
    if key in ABBREVIATIONS or word in ABBREVIATIONS:
        return key not in LIST_END or not (not after or _starts_sentence(after) and not after[:1].isdigit())
    if re.fullmatch(r"[A-ZÅÄÖ]", word) or re.fullmatch(r"[IVX]{1,4}", word):  # an initial, a Roman ordinal
        return _starts_sentence(after) or after[:1].isdigit() or after[:1].islower()
    if re.fullmatch(r"\d{1,4}(?:\.\d{1,2})?", word):  # 3. luokka, 4.5. (a date without its year)
        return bool(after) and (after[:1].islower() or after[:1].isdigit() or after in ("-", "–"))
    return bool(re.fullmatch(r"(?:[a-zåäö]\.)+[a-zåäö]", word))  # o.s., e.m.


def _starts_sentence(token: str) -> bool:
    return bool(token) and (token[:1].isupper() or token[:1] in "\"”“«»'‘’([–—-" or token[:1].isdigit())


def sentences(text: str) -> list[list[Span]]:
    """TEXT split into sentences of tokens with offsets."""
    return split(text, _attach_labels(text, _attach_periods(text, tokens(text))))


SPEAKER = re.compile(r"[A-ZÅÄÖ][A-Za-zÅÄÖåäö]{0,2}\d{0,2}")


def _attach_labels(text: str, spans: list[Span]) -> list[Span]:
    """A speaker label or question id at the start of a line (*H:*, *P1:*, *T8:*) is one token with its colon."""

    def joins(_out: list[Span], i: int) -> bool:
        _, start, end = spans[i]
        return bool(SPEAKER.fullmatch(spans[i][0]) and not text[text.rfind("\n", 0, start) + 1 : start].strip()
                    and (end + 1 == len(text) or text[end + 1].isspace()))

    return _join_with_next(text, spans, ":", joins)


def split(text: str, spans: list[Span]) -> list[list[Span]]:
    """Tokens (of this or another tokeniser) grouped into sentences."""
    out: list[list[Span]] = []
    current: list[Span] = []
    last = ""  # the current sentence's last token before any closing quotes or brackets
    for i, span in enumerate(spans):
        if current and _boundary_before(text, spans, i, current, last):
            out.append(current)
            current = []
        if not current or span[0] not in CLOSERS:
            last = span[0]
        current.append(span)
    if current:
        out.append(current)
    return out


def _boundary_before(text: str, spans: list[Span], i: int, current: list[Span], last: str) -> bool:
    """True when a new sentence begins at token I (LAST: the sentence's last token before closing quotes)."""
    tok, start, _ = spans[i]
    prev_end = spans[i - 1][2]
    gap = text[prev_end:start]
    if gap.count("\n") >= 2 or gap.count("\r") >= 2:
        return True  # a blank line: a new paragraph
    if len(current) == 1 and current[0][0].endswith(":") and SPEAKER.fullmatch(current[0][0][:-1]):
        return True  # a speaker label is a sentence of its own
    if "\n" not in gap and re.fullmatch(_EMOTICON, tok):
        return False  # an emoticon ends the sentence before it (*kivaa.:)*, *löytyi :)*)
    if not gap and (tok in CLOSERS or SENTENCE_END.match(tok)):
        return False  # a closing quote or bracket, or more punctuation, right after the full stop stays with it
    capital = _starts_sentence(tok)
    if "\n" in gap and capital:
        return True  # a line break before a capital: a new line, a speaker turn
    if last in (".", "!", "?"):
        return True  # transcripts often write no capital after a full stop
    if re.fullmatch(r"\.{2,}|…+", last):
        return capital and tok[:1] not in "\"”’»)]"
    if last.endswith(".") and len(last) > 1:  # an abbreviation or an ordinal kept its period
        key = last[:-1].split("-")[-1].lower()
        return key in LIST_END and capital and not tok[:1].isdigit()
    if re.fullmatch(_EMOTICON, last):
        return capital
    if re.fullmatch(r"\d{1,2}\.", tok) and (last == ":" or current[-1][0] in CLOSERS) and i + 1 < len(spans):
        return _starts_sentence(spans[i + 1][0])  # a numbered list's item: ohjeita: 1. Mene ...
    return False
