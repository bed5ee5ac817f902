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

