"""The category tree in memory, and the rules that read codings against it. Pure: no SQL, no study file.

``Tree`` holds the categories (merged-away ones kept, so old codes follow their merge target); ``rank``
turns class probabilities into categories of one level within a research question; ``unit_key`` names
the analysis unit a coding belongs to; ``coded_examples_from`` turns coding records into training
examples under the consensus rule (a unit with a ``consensus`` code keeps only that code) and the
blind-coding rule (a blind coder never learns from another coder's review codes); ``disagreements_of``
finds the units two coders coded differently, which ``review --resolve`` walks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from koodari.classify import Example
from koodari.store import LEVELS  # the level names only: nothing here reads the study file

if TYPE_CHECKING:
    from koodari.store import Category

CONSENSUS = "consensus"  # the coder name of codes agreed in `review --resolve`


class Tree:
    """The category tree: parents, levels, names, questions, states.

    Built from categories (a mapping by id or an iterable), or, for the callers that predate this module,
    from anything with a ``categories(include_merged=True)`` method (a ``Study``): ``Tree(study)``."""

    def __init__(
        self, source: Any = None, categories: Mapping[int, Category] | Iterable[Category] | None = None
    ) -> None:
        if categories is None:
            categories = source.categories(include_merged=True) if hasattr(source, "categories") else source
        if categories is None:
            raise ValueError("a tree needs its categories")
        self.categories: dict[int, Category] = (
            dict(categories) if isinstance(categories, Mapping) else {c.id: c for c in categories})

    def current(self, category_id: int) -> int:
        """Where a category went: a merged-away one's merge target (followed through later merges)."""
        seen = set()
        while (cat := self.categories.get(category_id)) is not None and cat.merged_into is not None \
                and cat.state == "merged" and category_id not in seen:
            seen.add(category_id)
            category_id = cat.merged_into
        return category_id

    def ancestor(self, category_id: int, level: str) -> int | None:
        """The category itself or its ancestor at ``level``; None when it sits above that level."""
        current: int | None = category_id
        want = LEVELS.index(level)
        while current is not None:
            cat = self.categories[current]
            have = LEVELS.index(cat.level)
            if have == want:
                return current
            if have > want:
                return None
            current = cat.parent_id
        return None

    def path(self, category_id: int) -> list[str | None]:
        """[sub, upper, combining] names of a category and its ancestors (None where it has none)."""
        names: dict[str, str | None] = dict.fromkeys(LEVELS)
        current: int | None = category_id
        while current is not None:
            cat = self.categories[current]
            names[cat.level] = cat.name
            current = cat.parent_id
        return [names["sub"], names["upper"], names["combining"]]

    def question_of(self, classes: np.ndarray) -> np.ndarray:
        """The research question of each class (-1 for a class no longer in the tree)."""
        return np.array([self.categories[int(c)].question_id if int(c) in self.categories else -1 for c in classes])


def rank(
    p: np.ndarray, classes: np.ndarray, class_questions: np.ndarray, tree: Tree, question: int | None, level: str
) -> list[tuple[int, float]]:
    """Categories at ``level`` ranked by probability: leaf probabilities restricted to the question's
    tree, renormalised, and summed up the hierarchy."""
    return rank_by(p, rank_targets(classes, class_questions, tree, question, level))


def rank_targets(
    classes: np.ndarray, class_questions: np.ndarray, tree: Tree, question: int | None, level: str
) -> list[tuple[int, int]]:
    """What ``rank`` sums: (class index, category at ``level``) for each class of the question's tree that
    counts, in class order. Depends on the tree only, so a caller may keep it for many rankings."""
    mask = np.ones(len(classes), dtype=bool) if question is None else class_questions == question
    if not mask.any():
        mask = np.ones(len(classes), dtype=bool)
    out = []
    for j in np.flatnonzero(mask):
        cid = tree.current(int(classes[j]))  # a class merged away since training counts for its merge target
        if cid not in tree.categories:
            continue  # a category deleted since training
        target = tree.ancestor(cid, level)
        if target is not None and tree.categories[target].active:  # never a retired, split or merged-away one
            out.append((int(j), target))
    return out


def rank_by(p: np.ndarray, targets: list[tuple[int, int]]) -> list[tuple[int, float]]:
    """Probabilities summed per target category (``rank_targets``), renormalised, best first."""
    mass: dict[int, float] = {}
    for j, target in targets:
        mass[target] = mass.get(target, 0.0) + float(p[j])
    total = sum(mass.values()) or 1.0
    return sorted(((c, v / total) for c, v in mass.items()), key=lambda item: -item[1])


def unit_key(row: Mapping[str, Any]) -> str:
    """The analysis unit a coding belongs to: a study unit (`S12`), a CSV/corpus unit id, or the coding itself."""
    if row["segment_id"] is not None:
        return f"S{row['segment_id']}"
    if row["unit"]:
        return str(row["unit"])
    return f"R{row['id']}"


def coded_examples_from(
    rows: Iterable[Mapping[str, Any]],
    tree: Tree,
    exclude_coders: set[str] | None = None,
    only_coders: set[str] | None = None,
    exclude_units: set[str] | None = None,
    blind_for: str | None = None,
) -> list[Example]:
    """Active codings (records with id, segment_id, unit, original, reduction, category_id, coder, source,
    speaker, unit_text, question_id) as training examples.

    A unit with a consensus code keeps only that code; ``blind_for`` leaves out every other coder's review
    codes; codings of a category that may not be coded any more (retired, split) are not examples."""
    rows = list(rows)
    consensus_units = {unit_key(r) for r in rows if r["coder"] == CONSENSUS}
    examples = []
    for r in rows:
        key = unit_key(r)
        if exclude_coders and r["coder"] in exclude_coders:
            continue
        if blind_for is not None and r["source"] == "review" and r["coder"] != blind_for:
            continue
        if only_coders and r["coder"] not in only_coders:
            continue
        if exclude_units and key in exclude_units:
            continue
        if key in consensus_units and r["coder"] != CONSENSUS:
            continue
        if r["category_id"] not in tree.categories or not tree.categories[r["category_id"]].active:
            continue
        text = " ".join(t for t in (r["reduction"], r["original"] or r["unit_text"]) if t)
        examples.append(Example(text=text, label=r["category_id"], question_id=r["question_id"], source=r["source"],
                                unit=key, speaker=r["speaker"], coder=r["coder"],
                                parent=tree.categories[r["category_id"]].parent_id))
    return examples


def disagreements_of(codes: Mapping[str, Mapping[str, int]], pair: list[str]) -> list[str]:
    """The units (keys of ``codes[unit][coder]``) both coders of ``pair`` coded, differently: what the
    consensus coder resolves."""
    first, second = pair
    return [unit for unit, by in codes.items() if first in by and second in by and by[first] != by[second]]
