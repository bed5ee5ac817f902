"""Tree editing on the web Tree page: rename, merge, move, split, retire and undo, through ``app.edit_tree``
(the rules of `koodari tree`, in ``treeops``; this module only turns a form into a call), with the server's
coder as who.

A form carries the last tree change its page showed: a change by someone else since, to the same categories,
is refused as a conflict by treeops (``expected_event``); undo refuses when the last change is no longer the
one the page offered to undo.
"""

from __future__ import annotations

from typing import Any

from koodari import app as actions
from koodari.errors import KoodariError
from koodari.store import PARENT_LEVEL, Category, Study
from koodari.web.workspace import NotFound, Workspace

ACTIONS = actions.TREE_EDITS
RECENT = 10  # tree changes listed on the page


def change(ws: Workspace, form: dict[str, str]) -> str:
    """Make the tree change a form asks for; returns the message for the page.
    A rule broken or a conflict: KoodariError, nothing changed."""
    action = form.get("action", "")
    if action not in ACTIONS:
        raise NotFound(f"no tree change {action!s:.40}")
    seen = _number(form.get("seen"))
    if action == "undo":
        done = actions.edit_tree(ws.study, ws.coder, "undo", undoes=_number(form.get("undoes")))
    else:
        category = ws.category(form.get("category"))
        what = {"merge": "the category to merge into", "move": "the category to move under"}
        target = _given(form, "target", what[action]) if action in what else ""
        done = actions.edit_tree(ws.study, ws.coder, action, category, name=form.get("name", ""), target=target,
                                 names=form.get("names", ""), seen=seen)
    ws.session.tree_changed()  # the review suggests from the changed tree (as `m` in `koodari review` does)
    ws.tree_seen = ws.study.last_tree_event_id()
    waiting = "".join(f"; {units} units coded by {who} await re-coding in the review"
                      for who, units in done.awaiting)
    return f"change {done.event_id}: {done.summary}{waiting}"


def _number(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    if not text.strip().isdigit():
        raise KoodariError("the form is damaged: reload the page")
    return int(text)


def _given(form: dict[str, str], key: str, what: str) -> str:
    value = form.get(key, "").strip()
    if not value:
        raise KoodariError(f"name {what}")
    return value


# -- what the Tree page shows -----------------------------------------------------------------------


def context(ws: Workspace, edit: Any) -> dict[str, Any]:
    """The Tree page's editing parts: the category being changed (its forms), the undo button, recent changes."""
    study = ws.study
    last = study.undoable_tree_event()
    out: dict[str, Any] = {"editing": True, "seen": study.last_tree_event_id(), "editor": None, "recent": recent(study),
                           "undoable": {"id": last.id, "summary": last.summary} if last else None}
    if edit not in (None, ""):
        out["editor"] = editor(study, study.category(ws.category(edit)))
    return out


def editor(study: Study, cat: Category) -> dict[str, Any]:
    """One category's forms: where it is, and the places it could be merged into or moved under (hints;
    any path or short unique name may be typed, as in `koodari tree`)."""
    below, frontier = {cat.id}, [cat.id]
    while frontier:
        frontier = [c.id for parent in frontier for c in study.children(parent)]
        below |= set(frontier)
    others = [c for c in study.categories(cat.question_id) if c.active and c.id not in below]
    parent_level = PARENT_LEVEL.get(cat.level)
    return {
        "category": cat, "place": study.place(cat.id),
        "merge": sorted(study.place(c.id) for c in others if c.level == cat.level),
        "move": sorted(study.place(c.id) for c in others if c.level == parent_level and c.id != cat.parent_id),
        "can_move": parent_level is not None,
    }


def recent(study: Study, limit: int = RECENT) -> list[dict[str, Any]]:
    """The latest tree changes, newest first: who, when, what, and each category before → after."""
    rows = actions.tree_history(study)
    undone = {r["undoes"] for r in rows if r["undoes"] is not None}
    names: dict[int, str] = {}

    def name(category_id: int | None) -> str:
        if category_id not in names:
            names[category_id] = study.category(category_id).name
        return names[category_id]

    def describe(snap: dict | None) -> str:
        if snap is None:
            return "(not yet made)"
        text = snap["name"] + (f" under {name(snap['parent_id'])}" if snap["parent_id"] is not None else "")
        if snap["state"] == "merged" and snap.get("merged_into") is not None:
            return f"{text}, merged into {name(snap['merged_into'])}"
        return text if snap["state"] == "active" else f"{text} ({snap['state']})"

    out = []
    for r in reversed(rows[-limit:]):
        pairs = []
        for key, was in r["before"].items():
            before, after = describe(was), describe(r["after"].get(key))
            if before != after:
                pairs.append((before, after))
        out.append({"change": r["change"], "at": r["at"][:16].replace("T", " "), "who": r["who"],
                    "summary": r["summary"], "pairs": pairs, "undone": r["change"] in undone})
    return out
