"""`koodari demo`: the seed study's corpus, the demo transcript, and what koodari makes of them."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from koodari import app as actions
from koodari.store import Study
from koodari.tree import to_rich

CORPUS = actions.DEMO_CORPUS
DEMO_SUGGESTIONS = 5
build_demo_study = actions.build_demo_study  # bench/ and tests build the demo study with it


def run_demo(directory: Path, console: Console) -> Path:
    console.rule("koodari demo: Similä & Valtanen (2012), work coaching in Kainuu")
    path = build_demo_study(directory)
    with actions.open_study(path) as study:
        counts = study.counts()
        console.print(
            f"study [bold]{path}[/]: {counts['questions']} research questions, {counts['categories']} categories,"
            f" {counts['reductions']} coded expressions;"
            f" demo transcript cut into {counts['segments']} analysis units"
        )
        rows = [r for r in actions.units(study) if not r["interviewer"]]
        table = Table(
            "unit",
            "speaker",
            "question",
            "span",
            "text (as spoken)",
            title="Analysis units of the demo transcript (interviewer turns left out)",
            title_justify="left",
        )
        for r in rows:
            table.add_row(str(r["id"]), r["speaker"] or "", r["question"] or "", f"{r['start']}–{r['end']}", r["text"])
        console.print(table)
        console.print(f"The category trees of the demo's questions; the whole tree: koodari tree {path}")
        questions = sorted({r["question"] for r in rows if r["question"]}, key=lambda c: int(c[1:]))
        for code in questions:
            for rich_table in to_rich(actions.tree(study, code).rows):
                console.print(rich_table)
        assert all(r["question"] for r in rows)
        show_suggestions(study, rows[:DEMO_SUGGESTIONS], console)
    show_next_steps(path, console)
    return path


def show_next_steps(path: Path, console: Console) -> None:
    """What a researcher does next with the demo study."""
    program = sys.argv[0] if Path(sys.argv[0]).name == "koodari" else "koodari"
    console.rule("Next")
    console.print(
        f"Code the demo interview yourself, one unit at a time (Enter accepts, 1-9 pick, ? helps):\n"
        f"  {program} review {path} --coder YOUR_NAME\n"
        f"Then see your codes in the tree and export them for your report or another QDA tool:\n"
        f"  {program} tree {path} --question T6\n"
        f"  {program} export {path} xlsx coded-units.xlsx\n"
        f"  {program} export {path} qdpx kainuu.qdpx",
        highlight=False,
        soft_wrap=True,  # commands are copied: never broken across lines
    )


def show_suggestions(study: Study, rows: list[dict], console: Console) -> None:
    """Train on the corpus (the demo's own quotes held out) and suggest for the first units."""
    console.print("\nTraining the suggestion model on the thesis's coding (category names, reductions, quotes)…")
    record = actions.train(study)
    results = actions.suggest_units(study, [r["id"] for r in rows], top=3).results
    console.print(
        f"model version {record['version']}: {record['examples']} coded examples"
        f" + {record['category_names']} category names"
        f" + {record['description_sentences']} description sentences, trained in {record['metrics']['train_seconds']} s"
    )
    for row, result in zip(rows, results, strict=True):
        flag = "  [yellow](possibly a new category)[/]" if result and result[0].new else ""
        table = Table("#", "p", "subcategory → upper → combining", "why", title_justify="left",
                      title=f"unit {row['id']} ({row['speaker']}, {row['question']}): “{row['text']}”{flag}")
        for i, r in enumerate(result, 1):
            table.add_row(str(i), f"{r.probability:.2f}", " → ".join(p or "–" for p in r.path), r.reason)
        console.print(table)
