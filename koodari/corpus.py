"""Embedded corpora: the seed study (kainuu-2012) as a ready study with questions, tree and codings."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from koodari.errors import KoodariError
from koodari.nlp.resources import shipped_dir
from koodari.reductions import import_reductions
from koodari.store import Study

PACKAGE_DIR = Path(__file__).resolve().parent


def data_root(name: str) -> Path:
    """Where a shipped resource folder (`corpora`, `models`) lives: inside a wheel or in the checkout."""
    return shipped_dir(name)


def available_corpora() -> list[str]:
    return sorted(p.name for p in data_root("corpora").iterdir() if (p / "questions.json").is_file())


def corpus_dir(name: str) -> Path:
    path = data_root("corpora") / name
    if not (path / "questions.json").is_file():
        raise KoodariError(f"unknown corpus '{name}' (available: {', '.join(available_corpora())})")
    return path


def load_corpus(study: Study, name: str, exclude_quotes: set[int] | None = None) -> dict[str, int]:
    """Load a corpus's research questions, category trees, example reductions and coded quotes.

    ``exclude_quotes`` holds quote ids to leave out of the coded material (e.g. the demo's held-out quotes);
    the description sentences that paraphrase or introduce those quotes are left out with them.
    """
    folder = corpus_dir(name)
    questions = json.loads((folder / "questions.json").read_text(encoding="utf-8"))
    exclude_quotes = exclude_quotes or set()

    def add(question_id: int, level: str, entry: dict, parent_id: int | None = None) -> int:
        return study.ensure_category(
            question_id,
            level,
            entry["name"],
            parent_id,
            description=describe(entry, exclude_quotes),
            uncertain=entry.get("uncertain", False),
            created_by=name,
        )

    with study.transaction():
        for question in questions:
            qid = study.add_question(
                question["code"], question["question"], question["title"], question["source_group"]
            )
            for comb in question["tree"]:
                comb_id = add(qid, "combining", comb)
                for upper in comb["upper"]:
                    upper_id = add(qid, "upper", upper, comb_id)
                    for sub in upper["subcategories"]:
                        add(qid, "sub", sub, upper_id)
        reductions = 0
        if (folder / "reductions.csv").is_file():
            reductions = import_reductions(study, folder / "reductions.csv", source=f"corpus:{name}").reductions
        quotes = load_quotes(study, folder, name, exclude_quotes)
        study.set_meta("corpus", name)
    counts = study.counts()
    return {"questions": len(questions), "categories": counts["categories"], "reductions": reductions, "quotes": quotes}


def describe(category: dict, exclude_quotes: set[int]) -> str | None:
    """A category's description in the corpus, one sentence a line (``description``: a string, or sentences
    ``{"text", "quotes"}`` that name the quotes each one paraphrases or introduces)."""
    given = category.get("description")
    if not given:
        return None
    if isinstance(given, str):
        return given
    kept = [s["text"] for s in given if not set(s.get("quotes", ())) & exclude_quotes]
    return "\n".join(kept) or None


def load_quotes(study: Study, folder: Path, name: str, exclude: set[int]) -> int:
    """Coded original expressions: codings with the quote as the original and no reduction text."""
    path = folder / "quotes.jsonl"
    if not path.is_file():
        return 0
    coder = _corpus_coder(folder)
    count = 0
    for record in map(json.loads, path.read_text(encoding="utf-8").splitlines()):
        qid = study.find_question(record["question"])
        if qid is None or record["id"] in exclude:
            continue
        level, category = ("sub", record["subcategory"]) if record["subcategory"] else ("upper", record["upper"])
        found = study.find_category(qid, level, category)
        if found is None:
            raise KoodariError(f"quote {record['id']}: category '{category}' is not in the tree", path)
        study.add_reduction(
            None,
            found.id,
            coder,
            source=f"corpus:{name}",
            unit=f"Q{record['id']}",
            original=record["text"],
            speaker=record["speaker"],
        )
        count += 1
    return count


def _corpus_coder(folder: Path) -> str:
    path = folder / "reductions.csv"
    if path.is_file():
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("coder"):
                    return row["coder"]
    return folder.name


def demo_transcript(name: str = "kainuu-2012") -> tuple[Path, set[int]]:
    """The corpus's demo transcript and the ids of the quotes it was composed from."""
    path = corpus_dir(name) / "demo-transcript.txt"
    if not path.is_file():
        raise KoodariError("corpus has no demo transcript", corpus_dir(name))
    held_out: set[int] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("% quote ids:"):
            held_out = {int(x) for x in line.split(":", 1)[1].split(",") if x.strip()}
    return path, held_out
