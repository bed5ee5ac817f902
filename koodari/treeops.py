"""The tree evolves: rename, merge, move, split and retire categories, undo the last change, see the past.

Each change is one transaction (``BEGIN IMMEDIATE``: two coders changing the tree at once are serialised,
and the second change is checked against the tree the first one left) and one tree event: who, when, what,
and every changed category before → after. Codings follow merges by being re-pointed, each re-pointing
kept as a coding move, so that nothing about a coding (coder, time, reduction, model version of its
decision) is lost and the codes can be seen on the tree as it was at any time (``categories_as_of``,
``Study.codings_as_of``). Nothing is ever deleted: a merged-away category stays as a row that points to
where it went.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from koodari.errors import KoodariError
from koodari.store import LEVELS, PARENT_LEVEL, Category, PlaceTaken, Study

ELLIPSIS = ("…", "...")
FIELDS = ("name", "parent_id", "state", "merged_into")


class TreeChangeConflict(KoodariError):
    """Another coder changed the same part of the tree since this coder looked at it."""


@dataclass
class TreeChange:
    event_id: int
    action: str
    summary: str
    question_id: int | None
    awaiting: list[tuple[str, int]]  # split: (coder, units) whose codings wait for re-coding in review


# -- naming a category ------------------------------------------------------------------------------


def resolve(study: Study, path: str, question_id: int | None = None, levels: tuple[str, ...] | None = None,
            what: str = "category") -> Category:
    """The one category a PATH names: `T10/upper/…/sub` (names from the top, any of them left out) or a short
    unique name. No match or several matches: a one-line error (the candidates listed), nothing changed."""
    text = " ".join(path.split())
    if not text:
        raise KoodariError(f"empty {what} path")
    cats = study.categories(question_id)
    by_id = {c.id: c for c in cats}
    if any(c.name.lower() == text.lower() for c in cats):
        name, ancestors = text, []
    else:
        parts = [p.strip() for p in text.split("/") if p.strip() and p.strip() not in ELLIPSIS]
        named = study.find_question(parts[0]) if len(parts) > 1 else None
        if named is not None and question_id in (None, named):
            question_id = named
            parts = parts[1:]
        name, ancestors = parts[-1], [p.lower() for p in parts[:-1]]
    found = []
    for c in cats:
        if c.name.lower() != name.lower() or (question_id is not None and c.question_id != question_id):
            continue
        if levels is not None and c.level not in levels:
            continue
        chain = _ancestor_names(c, by_id)
        if _subsequence(ancestors, chain):
            found.append(c)
    if not found:
        where = "" if question_id is None else f" in {_question_code(study, question_id)}"
        raise KoodariError(f"no {what} '{path}'{where}")
    exact = [c for c in found if _ancestor_names(c, by_id) == ancestors]
    if len(found) > 1 and len(exact) == 1 and ancestors:  # the full path from the top names exactly one
        found = exact
    if len(found) > 1:
        raise KoodariError(f"'{path}' is ambiguous: {'; '.join(study.place(c.id) for c in found)}"
                           " (give more of its path); nothing changed")
    return found[0]


def _ancestor_names(cat: Category, by_id: dict[int, Category]) -> list[str]:
    names: list[str] = []
    current = cat.parent_id
    while current is not None and current in by_id:
        names.append(by_id[current].name.lower())
        current = by_id[current].parent_id
    return list(reversed(names))


def _subsequence(wanted: list[str], chain: list[str]) -> bool:
    it = iter(chain)
    return all(any(w == c for c in it) for w in wanted)


def _question_code(study: Study, question_id: int) -> str:
    return next(q.code for q in study.questions() if q.id == question_id)


def _descendants(study: Study, category_id: int) -> list[Category]:
    out = []
    for child in study.children(category_id):
        out += [child, *_descendants(study, child.id)]
    return out


# -- recording ---------------------------------------------------------------------------------------


class _Change:
    """Collects the categories a change touches (their state before), then writes the event and its moves."""

    def __init__(self, study: Study, expected_event: int | None, involved: list[int]) -> None:
        self.study = study
        self.before: dict[int, Any] = {}
        self.moves: list[tuple[int, int, int]] = []
        if expected_event is not None:
            for event in study.tree_events():
                if event.id <= expected_event:
                    continue
                touched = {int(k) for k in json.loads(event.before)}
                if touched & set(involved):
                    raise TreeChangeConflict(
                        f"the tree changed meanwhile: {event.who} made change {event.id} "
                        f"({event.summary}); nothing changed, look again")

    def touch(self, category_id: int) -> None:
        if category_id not in self.before:
            self.before[category_id] = self.study.snapshot(category_id)

    def set(self, category_id: int, **fields: Any) -> None:
        self.touch(category_id)
        self.study.set_category(category_id, fields)

    def created(self, category_id: int) -> None:
        self.before[category_id] = None

    def move_codings(self, source: int, target: int) -> None:
        self.moves += [(r, source, target) for r in self.study.codings_of(source)]

    def commit(self, action: str, who: str, question_id: int | None, summary: str, undoes: int | None = None,
               extra_after: dict[int, dict] | None = None) -> int:
        after = {cid: {**self.study.snapshot(cid), **(extra_after or {}).get(cid, {})} for cid in self.before}
        event_id = self.study.add_tree_event(action, who, question_id, summary, self.before, after, undoes)
        self.study.move_codings(self.moves, event_id=event_id, at=self.study.tree_event(event_id).at)
        return event_id


def _who(who: str | None) -> str:
    if who and who.strip():
        return who.strip()
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return "unknown"


def _require_active(cat: Category, role: str) -> None:
    if cat.state == "retired":
        raise KoodariError(f"{role} '{cat.name}' is retired")
    if cat.state == "split":
        raise KoodariError(f"{role} '{cat.name}' was split")


def _free_place(study: Study, question_id: int, level: str, parent_id: int | None, name: str,
                except_id: int | None = None) -> None:
    for other in study.categories_named(question_id, level, name):
        if other.parent_id == parent_id and other.id != except_id:
            raise KoodariError(f"a {level} category '{name}' already exists at {study.place(other.id)};"
                               " merge instead")


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise KoodariError("a category needs a name")
    if "/" in name:
        raise KoodariError(f"a category name cannot contain '/' ('{name}')")
    return name


# -- the changes -------------------------------------------------------------------------------------


def rename(study: Study, path: str, new: str, who: str | None = None, question: str | None = None,
           expected_event: int | None = None) -> TreeChange:
    with study.transaction():
        cat = resolve(study, path, study.require_question(question))
        new = _clean_name(new)
        if new == cat.name:
            raise KoodariError(f"'{cat.name}' is already called that")
        _free_place(study, cat.question_id, cat.level, cat.parent_id, new)
        change = _Change(study, expected_event, [cat.id])
        old_place = study.place(cat.id)
        change.set(cat.id, name=new)
        summary = f"renamed {old_place} → {new}"
        return _done(study, change, "rename", who, cat.question_id, summary)


def merge(study: Study, sources: list[str], target: str, who: str | None = None, question: str | None = None,
          expected_event: int | None = None) -> TreeChange:
    if not sources:
        raise KoodariError("merge what? koodari tree STUDY merge PATH... INTO PATH")
    with study.transaction():
        question_id = study.require_question(question)
        into = resolve(study, target, question_id)
        cats: list[Category] = []
        for path in sources:
            cat = resolve(study, path, into.question_id)
            if cat.id not in [c.id for c in cats]:
                cats.append(cat)
        _require_active(into, "the category to merge into")
        change = _Change(study, expected_event, [into.id, *[c.id for c in cats]])
        names = []
        for cat in cats:
            names.append(study.place(cat.id))
            _check_merge(study, cat, into)
            _merge_into(study, change, study.category(cat.id), into)
        summary = f"merged {', '.join(names)} into {study.place(into.id)}"
        return _done(study, change, "merge", who, into.question_id, summary)


def _check_merge(study: Study, cat: Category, into: Category) -> None:
    if cat.id == into.id:
        raise KoodariError(f"cannot merge '{cat.name}' into itself")
    ancestor = into.parent_id
    while ancestor is not None:
        if ancestor == cat.id:
            raise KoodariError(f"cannot merge '{cat.name}' into its own descendant '{into.name}'")
        ancestor = study.category(ancestor).parent_id
    if cat.question_id != into.question_id:
        raise KoodariError(f"'{cat.name}' and '{into.name}' belong to different research questions")
    if study.children(cat.id) and cat.level != into.level:
        raise KoodariError(f"'{cat.name}' has categories under it: merge it into another {cat.level} category")
    if LEVELS.index(into.level) < LEVELS.index(cat.level):
        raise KoodariError(f"cannot merge {cat.level} category '{cat.name}' into {into.level} category '{into.name}'")


def _merge_into(study: Study, change: _Change, cat: Category, into: Category) -> None:
    """cat's codings go to into; cat's children go under into (merged with a same-named child there)."""
    change.set(cat.id, state="merged", merged_into=into.id)
    change.move_codings(cat.id, into.id)
    for child in study.children(cat.id):
        twin = next((c for c in study.children(into.id) if c.level == child.level and c.name == child.name), None)
        if twin is not None and twin.active:
            _merge_into(study, change, child, twin)
        else:
            if twin is not None:
                raise KoodariError(f"'{child.name}' exists under '{into.name}' and is {twin.state}; "
                                   "rename one of them first")
            change.set(child.id, parent_id=into.id)


def move(study: Study, path: str, to: str, who: str | None = None, question: str | None = None,
         expected_event: int | None = None) -> TreeChange:
    with study.transaction():
        cat = resolve(study, path, study.require_question(question))
        if cat.level not in PARENT_LEVEL:
            raise KoodariError(f"'{cat.name}' is a combining category: it stands at the top")
        parent_level = PARENT_LEVEL[cat.level]
        upper = resolve(study, to, cat.question_id, (parent_level,), what=f"{parent_level} category")
        if upper.id == cat.parent_id:
            raise KoodariError(f"'{cat.name}' is already under '{upper.name}'")
        _require_active(upper, f"the {parent_level} category")
        _free_place(study, cat.question_id, cat.level, upper.id, cat.name)
        change = _Change(study, expected_event, [cat.id, upper.id])
        old_place = study.place(cat.id)
        change.set(cat.id, parent_id=upper.id)
        summary = f"moved {old_place} → {study.place(cat.id)}"
        return _done(study, change, "move", who, cat.question_id, summary)


def split(study: Study, path: str, into: list[str], who: str | None = None, question: str | None = None,
          expected_event: int | None = None) -> TreeChange:
    names = [_clean_name(n) for n in into if n.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise KoodariError("split into two or more different names: --into NAME1,NAME2")
    with study.transaction():
        cat = resolve(study, path, study.require_question(question))
        _require_active(cat, "the category to split")
        if study.children(cat.id):
            raise KoodariError(f"'{cat.name}' has categories under it: move them instead of splitting it")
        for name in names:
            if name == cat.name:
                raise KoodariError(f"'{name}' is the name of the category being split")
            _free_place(study, cat.question_id, cat.level, cat.parent_id, name)
        change = _Change(study, expected_event, [cat.id])
        new_ids = [study.add_category(cat.question_id, cat.level, n, cat.parent_id, created_by=_who(who))
                   for n in names]
        for cid in new_ids:
            change.created(cid)
        old_place = study.place(cat.id)
        change.set(cat.id, state="split")
        summary = f"split {old_place} into {', '.join(names)}"
        result = _done(study, change, "split", who, cat.question_id, summary, {cat.id: {"into": new_ids}})
        result.awaiting = study.awaiting_recoding(cat.id)
        return result


def retire(study: Study, path: str, who: str | None = None, question: str | None = None,
           expected_event: int | None = None) -> TreeChange:
    with study.transaction():
        cat = resolve(study, path, study.require_question(question))
        if not cat.active:
            raise KoodariError(f"'{cat.name}' is already {cat.state}")
        change = _Change(study, expected_event, [cat.id])
        for c in [cat, *_descendants(study, cat.id)]:
            if c.active:
                change.set(c.id, state="retired")
        summary = f"retired {study.place(cat.id)}"
        return _done(study, change, "retire", who, cat.question_id, summary)


def undo(study: Study, who: str | None = None) -> TreeChange:
    """Undo the last tree change (not yet undone): the categories as they were, the codings moved back."""
    with study.transaction():
        event = study.undoable_tree_event()
        if event is None:
            raise KoodariError("no tree change to undo", study.path)
        before = {int(k): v for k, v in json.loads(event.before).items()}
        after = {int(k): v for k, v in json.loads(event.after).items()}
        change = _Change(study, None, [])
        for cid, was in after.items():
            now_ = study.snapshot(cid)
            if any(now_[f] != was[f] for f in FIELDS):
                raise KoodariError(f"cannot undo change {event.id}: '{now_['name']}' changed since")
        created = [cid for cid, was in before.items() if was is None]
        split_source = next((cid for cid, was in before.items()
                             if was is not None and after[cid]["state"] == "split"), None)
        for move_row in study.moves_of_event(event.id):
            current = study.coding_category(move_row.reduction_id)
            if current == move_row.to_category:
                change.moves.append((move_row.reduction_id, current, move_row.from_category))
        for cid in created:  # categories the change made (a split): their codings back to the split one
            if split_source is None:
                raise KoodariError(f"cannot undo change {event.id}")
            change.move_codings(cid, split_source)
            change.set(cid, state="merged", merged_into=split_source)
        try:
            for cid, was in before.items():
                if was is not None:
                    change.set(cid, **{f: was[f] for f in FIELDS})
        except PlaceTaken as exc:  # a category created since stands at the restored place
            raise KoodariError(f"cannot undo change {event.id}: a category with the same name now stands"
                               " at its old place") from exc
        summary = f"undid change {event.id} ({event.summary})"
        return _done(study, change, "undo", who, event.question_id, summary, undoes=event.id)


def _done(study: Study, change: _Change, action: str, who: str | None, question_id: int | None, summary: str,
          extra_after: dict[int, dict] | None = None, undoes: int | None = None) -> TreeChange:
    event_id = change.commit(action, _who(who), question_id, summary, undoes=undoes, extra_after=extra_after)
    return TreeChange(event_id, action, summary, question_id, [])


def apply_action(study: Study, action: str, args: list[str], question: str | None, to: str | None,
                 into: str | None, who: str | None) -> TreeChange:
    """`koodari tree STUDY ACTION ARGS...`: check the arguments, then make the change."""
    usage = {
        "rename": "rename PATH NEW",
        "merge": "merge PATH... INTO PATH",
        "move": "move PATH --to UPPER_PATH",
        "split": "split PATH --into NAME1,NAME2",
        "retire": "retire PATH",
        "undo": "undo",
    }
    if action not in usage:
        raise KoodariError(f"unknown tree change '{action}' ({', '.join(usage)})")
    wrong = KoodariError(f"usage: koodari tree STUDY {usage[action]}")
    if (to is not None) != (action == "move") or (into is not None) != (action == "split"):
        raise wrong
    if action == "rename":
        if len(args) != 2:
            raise wrong
        return rename(study, args[0], args[1], who, question)
    if action == "merge":
        marks = [i for i, a in enumerate(args) if a.upper() == "INTO"]
        if len(marks) != 1 or marks[0] == 0 or marks[0] != len(args) - 2:
            raise wrong
        return merge(study, args[:marks[0]], args[-1], who, question)
    if action == "undo":
        if args:
            raise wrong
        return undo(study, who)
    if len(args) != 1:
        raise wrong
    if action == "move":
        return move(study, args[0], to or "", who, question)
    if action == "split":
        return split(study, args[0], (into or "").split(","), who, question)
    return retire(study, args[0], who, question)


# -- re-coding after a split (review) ---------------------------------------------------------------


def split_into(study: Study, category_id: int) -> list[int]:
    """The categories a split category was split into (by its latest split)."""
    for event in reversed(study.tree_events()):
        if event.action == "split":
            after = json.loads(event.after).get(str(category_id))
            if after and "into" in after:
                return [c for c in after["into"] if study.category(c).state != "merged"]
    return []


def recode(study: Study, reduction_id: int, source: int, target: int, decision_id: int) -> None:
    """Re-point a coding of a split category to the category chosen in review (kept as a coding move)."""
    cat = study.category(target)
    if not cat.active:
        _require_active(cat, "category")
        raise KoodariError(f"category '{cat.name}' was merged away")
    study.move_codings([(reduction_id, source, target)], decision_id=decision_id)


def undo_recode(study: Study, decision_id: int) -> bool:
    """Move a re-coded coding back to the split category (the undo of a review decision); False if none."""
    moves = study.moves_of_decision(decision_id)
    study.move_codings([(m.reduction_id, m.to_category, m.from_category) for m in moves])
    return bool(moves)


# -- the past ----------------------------------------------------------------------------------------


def parse_time(text: str) -> str:
    """A time given by the user (ISO 8601; without a zone: local time) in the study's format (UTC)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise KoodariError(f"cannot read the time '{text}' (use e.g. 2026-03-01T14:30 or 2026-03-01)") from exc
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def categories_as_of(study: Study, at: str) -> dict[int, Category]:
    """The tree as it was at a time: categories that existed then, with their names, places and states then."""
    cats = {c.id: c for c in study.categories(include_merged=True) if (c.created_at or "") <= at}
    for event in reversed(study.tree_events(since=at)):
        for key, was in json.loads(event.before).items():
            cid = int(key)
            if was is None:
                cats.pop(cid, None)
            elif cid in cats:
                cats[cid] = replace(cats[cid], **{f: was[f] for f in FIELDS})
    return cats


def history_rows(study: Study) -> list[dict[str, Any]]:
    """The tree changes, oldest first, for `koodari history --tree`."""
    return [{"change": e.id, "at": e.at, "who": e.who, "action": e.action, "summary": e.summary,
             "undoes": e.undoes, "before": json.loads(e.before), "after": json.loads(e.after)}
            for e in study.tree_events()]
