"""The category tree as the thesis prints it: subcategory → upper category → combining category."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from koodari.store import Study

NO_PARENT = "–"
STATE_LABEL = {"retired": "retired", "split": "split, awaits re-coding"}


@dataclass(frozen=True)
class TreeRow:
    question: str
    question_text: str
    subcategory: str | None
    upper: str | None
    combining: str | None
    reductions: int
    speakers: int
    sub_id: int | None = None  # the categories themselves (names may repeat at other places)
    upper_id: int | None = None


def tree_rows(study: Study, question: str | None = None) -> list[TreeRow]:
    """One row per subcategory (and per upper category without subcategories), grouped by question: the tree as
    it is now (merged-away categories are gone, retired and split ones marked, their codes still counted)."""
    counts = _counts(study)
    rows: list[TreeRow] = []
    for q in study.questions():
        if question and study.find_question(question) != q.id:
            continue
        cats = study.categories(q.id)
        if not cats:
            continue
        by_id = {c.id: c for c in cats}
        children: dict[int | None, list] = {}
        for c in cats:
            children.setdefault(c.parent_id, []).append(c)

        def label(cat) -> str | None:
            return None if cat is None else cat.name if cat.active else f"{cat.name} ({STATE_LABEL[cat.state]})"

        def row(sub, upper, comb, q=q) -> TreeRow:
            ids = [c.id for c in (sub, upper) if c is not None]
            n = sum(counts.get(i, (0, set()))[0] for i in ids)
            speakers: set[str] = set()
            for i in ids:
                speakers |= counts.get(i, (0, set()))[1]
            return TreeRow(
                q.code,
                q.text,
                label(sub),
                label(upper),
                label(comb),
                n,
                len(speakers),
                sub.id if sub else None,
                upper.id if upper else None,
            )

        combining = [c for c in cats if c.level == "combining"]
        orphans_upper = [c for c in cats if c.level == "upper" and c.parent_id is None]
        for comb in [*combining, None]:
            uppers = [c for c in children.get(comb.id, []) if c.level == "upper"] if comb else orphans_upper
            for upper in uppers:
                subs = [c for c in children.get(upper.id, []) if c.level == "sub"]
                if not subs:
                    rows.append(row(None, upper, comb))
                for sub in subs:
                    rows.append(row(sub, upper, comb))
        for sub in cats:
            if sub.level == "sub" and (sub.parent_id is None or by_id.get(sub.parent_id) is None):
                rows.append(row(sub, None, None))
    return rows


def _counts(study: Study) -> dict[int, tuple[int, set[str]]]:
    return study.coding_counts()


HEADER = ["question", "subcategory", "upper category", "combining category", "reductions", "speakers"]


def to_csv(rows: list[TreeRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for r in rows:
        writer.writerow([r.question, r.subcategory or "", r.upper or "", r.combining or "", r.reductions, r.speakers])
    return buffer.getvalue()


def to_markdown(rows: list[TreeRow]) -> str:
    """Markdown tables, one per research question, laid out like the thesis tables."""
    out: list[str] = []
    current = None
    for r in rows:
        if r.question != current:
            current = r.question
            out += [
                "" if out else "",
                f"### {r.question}: {r.question_text}",
                "",
                "| subcategory | upper category | combining category | reductions | speakers |",
                "|---|---|---|---:|---:|",
            ]
        cells = [r.subcategory or NO_PARENT, r.upper or NO_PARENT, r.combining or NO_PARENT]
        cells = [c.replace("|", "\\|") for c in cells]
        out.append(f"| {' | '.join(cells)} | {r.reductions} | {r.speakers} |")
    return "\n".join(out).strip() + "\n"


def to_rich(rows: list[TreeRow]):  # -> list[rich.table.Table]
    """rich tables for the terminal, the upper and combining names printed once per group."""
    from rich.table import Table

    tables = []
    current = None
    table = None
    last_upper = last_comb = None
    for r in rows:
        if r.question != current:
            current = r.question
            table = Table(title=f"{r.question}: {r.question_text}", title_justify="left", show_lines=False)
            for name in ("subcategory", "upper category", "combining category"):
                table.add_column(name, overflow="fold")
            table.add_column("reductions", justify="right")
            table.add_column("speakers", justify="right")
            tables.append(table)
            last_upper = last_comb = None
        assert table is not None
        upper = r.upper if r.upper != last_upper else ""
        comb = r.combining if r.combining != last_comb else ""
        if r.combining != last_comb and last_comb is not None:
            table.add_section()
        table.add_row(
            r.subcategory or NO_PARENT,
            upper or ("" if r.upper else NO_PARENT),
            comb or ("" if r.combining else NO_PARENT),
            str(r.reductions),
            str(r.speakers),
        )
        last_upper, last_comb = r.upper, r.combining
    return tables
