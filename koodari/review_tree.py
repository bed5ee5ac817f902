"""`m` in `koodari review`: merge the current unit's category into another one, or move it under another
upper category, found by searching the tree. The change goes through ``koodari.treeops`` (an event, undoable
with `koodari tree STUDY undo`)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from koodari import treeops
from koodari.review import ReviewSession
from koodari.store import LEVELS, PARENT_LEVEL, Category, Study


def current_category(session: ReviewSession, unit: int) -> int | None:
    """The unit's category: this coder's latest code of it, else the model's first suggestion."""
    codes = session.study.coder_codes(unit, session.coder)
    if codes:
        return codes[-1]
    suggestions = session.suggestions(unit)
    return suggestions[0].category_id if suggestions else None


def targets(study: Study, category: Category, query: str, limit: int = 9) -> list[tuple[str, Category]]:
    """('merge', a category of the same level) or ('move', one a level up) whose names match the query."""
    from rapidfuzz import fuzz

    below = {category.id}
    frontier = [category.id]
    while frontier:
        kids = [c.id for parent in frontier for c in study.children(parent)]
        below |= set(kids)
        frontier = kids
    scored = []
    for cat in study.categories(category.question_id):
        if cat.id in below or not cat.active:
            continue
        if cat.level == category.level:
            action = "merge"
        elif cat.level == PARENT_LEVEL.get(category.level) and cat.id != category.parent_id:
            action = "move"
        else:
            continue
        score = fuzz.partial_ratio(query.lower(), cat.name.lower())
        if score >= 60:
            scored.append((-score, LEVELS.index(cat.level), cat.id, action, cat))
    scored.sort()
    return [(action, cat) for *_, action, cat in scored[:limit]]


def merge_or_move(session: ReviewSession, unit: int, console: Console, keys) -> str:
    """Ask where the unit's category goes, then merge or move it; returns the message for the screen."""
    study = session.study
    seen = study.last_tree_event_id()  # a change by another coder meanwhile is a conflict, not overwritten
    category_id = current_category(session, unit)
    if category_id is None:
        return "no category to merge or move"
    category = study.category(category_id)
    console.print(f"merge or move [bold]{category.name}[/] ({study.place(category.id)})", highlight=False)
    query = keys.line("search the tree for where it goes: ")
    if not query or not query.strip():
        return "tree unchanged"
    found = targets(study, category, query.strip())
    if not found:
        return f"no category matches '{query.strip()}'"
    table = Table("#", "change", "target")
    for i, (action, cat) in enumerate(found, 1):
        table.add_row(str(i), "merge into" if action == "merge" else "move under", study.place(cat.id))
    console.print(table)
    choice = keys.line("number (Enter cancels): ")
    if not choice or not choice.strip().isdigit() or not 1 <= int(choice) <= len(found):
        return "tree unchanged"
    action, target = found[int(choice) - 1]
    if action == "merge":
        change = treeops.merge(study, [study.place(category.id)], study.place(target.id), session.coder,
                               expected_event=seen)
    else:
        change = treeops.move(study, study.place(category.id), study.place(target.id), session.coder,
                              expected_event=seen)
    session.tree_changed()
    return f"[green]change {change.event_id}: {change.summary}[/] (koodari tree STUDY undo reverts it)"
