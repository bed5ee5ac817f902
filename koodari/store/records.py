"""The typed records that ``Study`` methods return (frozen dataclasses, never ``sqlite3.Row``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


class Record:
    """A record also reads as a mapping (``row["name"]``), as the ``sqlite3.Row`` it replaces did, so callers
    written against rows keep working; new code reads attributes."""

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str) or key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def keys(self) -> list[str]:
        return [f.name for f in fields(self)]  # type: ignore[arg-type]


@dataclass(frozen=True)
class Category(Record):
    id: int
    question_id: int
    level: str
    name: str
    parent_id: int | None
    description: str | None
    uncertain: bool
    state: str = "active"  # active, retired (no new codes), merged (into merged_into), split (awaits re-coding)
    merged_into: int | None = None
    created_at: str | None = None

    @property
    def active(self) -> bool:
        return self.state == "active"


@dataclass(frozen=True)
class ModelVersion(Record):
    """A trained model's record: what it was trained on (``training``) and how well it did (``metrics``)."""

    id: int
    created_at: str
    kind: str
    training: dict[str, Any]
    metrics: dict[str, Any]

    def trained_on(self) -> set[str]:
        """The coders whose codes this model has seen."""
        return set(self.training.get("coders", {}))

    def saw_review_codes_of(self, review_coders: set[str]) -> set[str]:
        """The coders whose review codes this model saw (older records only list coders: assume the worst)."""
        if "review_coders" in self.training:
            return set(self.training["review_coders"])
        return self.trained_on() & review_coders



@dataclass(frozen=True)
class Question(Record):
    """A research question."""

    id: int
    code: str
    text: str
    description: str | None
    source_group: str | None

    @property
    def label(self) -> str:
        """``code: text``, or the text alone when the code is the text."""
        return self.text if self.code == self.text else f"{self.code}: {self.text}"


@dataclass(frozen=True)
class Document(Record):
    """An imported transcript."""

    id: int
    name: str
    sha256: str
    text: str
    format: str
    encoding: str
    imported_at: str


@dataclass(frozen=True)
class Coding(Record):
    """An active coding with what training and agreement need: the unit's text and speaker, the question.
    ``text`` is the unit's text, else the original expression, else the reduction."""

    id: int
    segment_id: int | None
    unit: str | None
    original: str | None
    reduction: str | None
    category_id: int
    coder: str
    source: str
    speaker: str | None
    unit_text: str | None
    question_id: int
    text: str | None


@dataclass(frozen=True)
class Selection(Record):
    """A coding of a unit of a document, with the unit's place in the document's text (a QDA-XML selection)."""

    id: int
    reduction: str | None
    category_id: int
    coder: str
    created_at: str
    char_start: int
    char_end: int


@dataclass(frozen=True)
class ExportedCoding(Record):
    """An active coding as the coded-units export writes it: its unit, document, question, the unit's
    analysis (tokens JSON, normalised text) and the decision that made it (None: imported)."""

    id: int
    segment_id: int | None
    unit: str | None
    reduction: str | None
    original: str | None
    category_id: int
    coder: str
    speaker: str | None
    unit_text: str | None
    document: str | None
    question: str
    tokens: str | None
    normalised: str | None
    decision: str | None
    model_version: int | None


@dataclass(frozen=True)
class CodedQuote(Record):
    """A coded text (the unit's, else the original expression) of a category, with the unit's tokens JSON."""

    category_id: int
    text: str
    tokens: str | None


@dataclass(frozen=True)
class UnitListing(Record):
    """An analysis unit as `koodari units` lists it: with its document's name and its question's code."""

    id: int
    document: str
    seq: int
    speaker: str | None
    theme: str | None
    question: str | None
    char_start: int
    char_end: int
    text: str
    is_interviewer: bool
    time_start: float | None
    time_end: float | None


@dataclass(frozen=True)
class Neighbour(Record):
    """A unit near another one in its document (its turn in the conversation)."""

    seq: int
    speaker: str | None
    text: str


@dataclass(frozen=True)
class Decision(Record):
    """A coder's decision in review: accept, pick, search, new, skip or undo (``undoes`` names the undone one)."""

    id: int
    segment_id: int
    coder: str
    action: str
    category_id: int | None
    reduction_id: int | None
    suggestion_rank: int | None
    model_version_id: int | None
    undoes: int | None
    created_at: str
