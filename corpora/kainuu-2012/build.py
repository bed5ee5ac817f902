"""Derive the kainuu-2012 corpus files from ../shared/seed-data (run from the repository root).

    python corpora/kainuu-2012/build.py [--seed-data ../shared/seed-data]

Writes questions.json (research questions with their category trees), quotes.jsonl (the thesis's
coded original expressions) and reductions.csv (the example reductions of TAULUKKO 2-3).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
CODER = "Similä & Valtanen 2012"


def table_code(table: str | None) -> str | None:
    if not table:
        return None
    kind, number = table.split()
    if kind == "TAULUKKO" and number in ("2", "3"):
        return "T4"  # the reduction examples belong to TAULUKKO 4's question
    return ("T" if kind == "TAULUKKO" else "L") + number


def build(seed: Path) -> None:
    tables = json.loads((seed / "categories.json").read_text(encoding="utf-8"))
    questions = []
    for table in tables:
        if table["kind"] != "category_table":
            continue
        tree = []
        sub_parent: dict[str, str] = {}
        for comb in table["tree"]:
            uppers = []
            for upper in comb.get("upper", []):
                details = {d["name"]: d for d in upper.get("sub_details", [])}
                subs = []
                for name in upper["sub"]:
                    entry = {"name": name, "uncertain": bool(details.get(name, {}).get("uncertain", False))}
                    if sub_parent.setdefault(name, upper["name"]) != upper["name"]:
                        # the thesis uses one subcategory name under two upper categories of one table:
                        # keep both, told apart by their upper category
                        entry["name"] = f"{name} ({upper['name']})"
                        entry["note"] = f"named '{name}' in the thesis, under two upper categories"
                    subs.append(entry)
                uppers.append(
                    {
                        "name": upper["name"],
                        "uncertain": bool(upper.get("uncertain", False)),
                        "note": upper.get("note"),
                        "subcategories": subs,
                        "subcategories_from_text": bool(upper.get("sub_from_text", False)),
                        "line": upper.get("line"),
                    }
                )
            tree.append({"name": comb["combining"], "line": comb.get("combining_line"), "upper": uppers})
        questions.append(
            {
                "code": table_code(table["table"]),
                "table": table["table"],
                "title": table["title"],
                "question": table["question"],
                "source_group": table["source_group"],
                "data_source": table.get("data_source"),
                "interview_theme": table.get("interview_theme"),
                "tree": tree,
            }
        )
    (HERE / "questions.json").write_text(json.dumps(questions, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    with (HERE / "quotes.jsonl").open("w", encoding="utf-8") as out:
        for quote in map(json.loads, (seed / "quotes.jsonl").read_text(encoding="utf-8").splitlines()):
            if quote["quote_type"] not in ("interview", "diary_entry", "table_original_expression", "untagged_quote"):
                continue
            record = {
                "id": quote["id"],
                "speaker": quote["speaker"] or quote.get("speaker_guess"),
                "speaker_certain": quote["speaker"] is not None,
                "question": table_code(quote["table"]),
                "text": quote["text"],
                "subcategory": quote["category_sub"],
                "subcategory_inferred": bool(quote.get("category_sub_inferred", False)),
                "upper": quote["category_upper"],
                "combining": quote["category_combining"],
                "uncertain": bool(quote.get("uncertain", False)),
                "quote_type": quote["quote_type"],
                "line": quote["line"],
                "dialect_features": quote["dialect_features"],
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")

    with (HERE / "reductions.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["unit", "speaker", "question", "original", "reduction", "subcategory", "upper", "combining", "coder"]
        )
        for row in map(json.loads, (seed / "reductions.jsonl").read_text(encoding="utf-8").splitlines()):
            if row.get("duplicate_of"):
                continue
            writer.writerow(
                [
                    row["source_id"],
                    row["speaker"],
                    "T4",
                    row.get("original_expression") or "",
                    row["reduction"],
                    row["subcategory"],
                    row["upper"],
                    row["combining"],
                    CODER,
                ]
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed-data", type=Path, default=HERE.parents[2] / "shared" / "seed-data")
    build(parser.parse_args().seed_data)
