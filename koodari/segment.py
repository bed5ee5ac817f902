"""Cutting turns into analysis units: a sentence, or a clause of a long sentence.

The seed study's unit is "ajatuskokonaisuus, lause tai lauseen osa" (a thought, a sentence or part
of one). Every unit keeps its exact character span: ``text[start:end] == unit.text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from koodari.transcripts import Transcript, Turn

ABBREVIATIONS = {
    "esim",
    "mm",
    "ns",
    "n",
    "kl",
    "klo",
    "ym",
    "jne",
    "yms",
    "tms",
    "ks",
    "vrt",
    "ts",
    "tri",
    "prof",
    "s",
    "v",
    "vs",
    "nk",
    "ko",
    "em",
    "yo",
    "ap",
    "ip",
    "os",
    "puh",
    "psyk",
    "ohj",
    "t",
    "h",
}
SENTENCE_END = re.compile(r"[.!?…]+[\"”»')\]]*(?=\s+)")
HARD_BREAK = re.compile(r"\n+|\s--\s|;\s")
CLAUSE_BREAK = re.compile(r",\s+(?=(?:ja|mutta|koska|vaikka|jotta|joten|sillä|eli|kun|niin)\s)")
MIN_CLAUSE_WORDS = 6
LONG_SENTENCE_WORDS = 30


@dataclass(frozen=True)
class Unit:
    start: int
    end: int
    text: str
    turn: int
    speaker: str | None
    theme: str | None
    is_interviewer: bool
    time_start: float | None
    time_end: float | None


def segment_transcript(transcript: Transcript) -> list[Unit]:
    units: list[Unit] = []
    for turn_index, turn in enumerate(transcript.turns):
        for start, end in split_span(transcript.text, turn.start, turn.end):
            units.append(_unit(transcript.text, start, end, turn_index, turn))
    return units


def _unit(text: str, start: int, end: int, index: int, turn: Turn) -> Unit:
    return Unit(
        start,
        end,
        text[start:end],
        index,
        turn.speaker,
        turn.theme,
        turn.is_interviewer,
        turn.time_start,
        turn.time_end,
    )


def split_span(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split text[start:end] into unit spans, trimmed of whitespace, never crossing the span."""
    spans: list[tuple[int, int]] = []
    for a, b in _cut(text, start, end, HARD_BREAK):
        for c, d in _sentences(text, a, b):
            spans.extend(_clauses(text, c, d))
    return [s for s in (_trim(text, a, b) for a, b in spans) if s is not None]


def _cut(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    out, pos = [], start
    for match in pattern.finditer(text, start, end):
        out.append((pos, match.start()))
        pos = match.end()
    out.append((pos, end))
    return out


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out, pos = [], start
    for match in SENTENCE_END.finditer(text, start, end):
        word = re.search(r"(\w+)\W*$", text[pos : match.start() + 1])
        if match.group().startswith(".") and word and word.group(1).lower() in ABBREVIATIONS:
            continue
        if word and word.group(1).isdigit() and match.group() == ".":
            # "1. päivä": an ordinal, unless a capital letter follows
            follow = text[match.end() : end].lstrip()[:1]
            if not follow.isupper():
                continue
        out.append((pos, match.end()))
        pos = match.end()
    out.append((pos, end))
    return out


def _clauses(text: str, start: int, end: int) -> list[tuple[int, int]]:
    if len(text[start:end].split()) < LONG_SENTENCE_WORDS:
        return [(start, end)]
    out, pos = [], start
    for match in CLAUSE_BREAK.finditer(text, start, end):
        left = text[pos : match.start()].split()
        right = text[match.end() : end].split()
        if len(left) >= MIN_CLAUSE_WORDS and len(right) >= MIN_CLAUSE_WORDS:
            out.append((pos, match.start() + 1))
            pos = match.end()
    out.append((pos, end))
    return out


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if not any(ch.isalnum() for ch in text[start:end]):
        return None
    return start, end
