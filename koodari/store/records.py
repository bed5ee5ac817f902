"""The typed records that ``Study`` methods return (frozen dataclasses, never ``sqlite3.Row``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, Protocol, Self


class Row(Protocol):
    """What a record is read from: a query's row, its values by column name (``sqlite3.Row``)."""

    def keys(self) -> list[str]: ...
    def __getitem__(self, key: str) -> Any: ...


class Record:
    """A record also reads as a mapping (``row["name"]``), as the ``sqlite3.Row`` it replaces did, so callers
    written against rows keep working; new code reads attributes."""

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str) or key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def keys(self) -> list[str]:
        return [f.name for f in fields(self)]  # type: ignore[arg-type]

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """The record of a query's row: each field read by its column name (other columns are left out, a missing
        one with a default keeps it), a ``bool`` field as a bool (SQLite stores 0/1)."""
        columns = set(row.keys())
        values = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name in columns:
                value = row[f.name]
                values[f.name] = bool(value) if f.type == "bool" and value is not None else value
        return cls(**values)

    @classmethod
    def from_rows(cls, rows: Iterable[Row]) -> list[Self]:
        """The records of a query's rows, in their order."""
        return [cls.from_row(r) for r in rows]


@dataclass(frozen=True)
class Category(Record):
    """A category of a research question's tree: sub, upper or combining, under its parent."""

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


@dataclass(frozen=True)
class Segment(Record):
    """An analysis unit of a document (a turn, or part of a long one), with its place in the document's text."""

    id: int
    document_id: int
    seq: int
    speaker: str | None
    is_interviewer: bool
    theme: str | None
    question_id: int | None
    char_start: int
    char_end: int
    text: str
    time_start: float | None
    time_end: float | None
    turn: int


@dataclass(frozen=True)
class UnplacedCoding(Record):
    """An active coding without a unit in a document (from a reductions CSV or a corpus)."""

    id: int
    reduction: str | None
    original: str | None
    category_id: int
    coder: str
    speaker: str | None


@dataclass(frozen=True)
class UnitToAnalyse(Record):
    """A unit not yet analysed by a pipeline, with its document's name (for `koodari analyse`'s reports)."""

    id: int
    text: str
    char_start: int
    seq: int
    document: str
    is_interviewer: bool = False


@dataclass(frozen=True)
class SearchUnit(Record):
    """An interviewee's analysis unit as search and grouping show it: with its document's name."""

    id: int
    document: str
    speaker: str | None
    text: str


@dataclass(frozen=True)
class ReductionText(Record):
    """An active coding's text (the reduction, else the original expression) and its category's name."""

    id: int
    text: str
    category: str


@dataclass(frozen=True)
class TreeEvent(Record):
    """A change of the category tree; ``before`` and ``after`` are JSON (category id → its fields, or null)."""

    id: int
    question_id: int | None
    action: str
    who: str
    at: str
    summary: str
    before: str
    after: str
    undoes: int | None


@dataclass(frozen=True)
class CodingMove(Record):
    """A coding re-pointed from one category to another, by a tree change (``event_id``) or in review."""

    id: int
    reduction_id: int
    from_category: int
    to_category: int
    event_id: int | None
    decision_id: int | None
    at: str


@dataclass(frozen=True)
class SplitCoding(Record):
    """A coder's active coding of a unit that points at a split category (it awaits re-coding)."""

    id: int
    category_id: int


@dataclass(frozen=True)
class DocumentCoding(Record):
    """An active coding of a document's unit, with the model version of the decision that made it."""

    id: int
    segment_id: int
    category_id: int
    coder: str
    source: str
    reduction: str | None
    model_version_id: int | None


@dataclass(frozen=True)
class CategoryQuote(Record):
    """A quote coded with a category (the unit's text, else the original expression, else the reduction)."""

    quote: str
    reduction: str | None
    coder: str
    speaker: str | None


@dataclass(frozen=True)
class UnitAnalysis(Record):
    """A unit's text and place with its cached tokens JSON by one pipeline (None: not analysed by it)."""

    id: int
    text: str
    char_start: int
    tokens: str | None
