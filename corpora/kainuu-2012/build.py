"""Derive the kainuu-2012 corpus files from ../shared/seed-data and the thesis text (run from the repository root).

    python corpora/kainuu-2012/build.py [--seed-data ../shared/seed-data] [--thesis ../shared/seeds/000_….txt]

Writes questions.json (research questions with their category trees and the thesis's own description of
each category, quotes removed), quotes.jsonl (the thesis's coded original expressions) and reductions.csv
(the example reductions of TAULUKKO 2-3).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
CODER = "Similä & Valtanen 2012"

# -- category descriptions from the running text of chapter 4 -------------------------------------
#
# Chapter 4 describes every table in prose: "Heikko taloudellinen tilanne –kategoria kuvattiin asiakkaan
# heikkona taloudellisena tilanteena, …", followed by more sentences and interview quotes. Each sentence
# is given to the category named last ("X –kategoria…"), and to a subcategory of it when the sentence
# spells all the words of the subcategory's name. Quotes are cut out; a sentence that held a quote, or
# that introduced one (the quote follows it as a sentence of its own), records the quote's id, so that
# holding a quote out (the benchmark, the demo) can hold out the author's paraphrase of it too.

QUOTE = re.compile(r'[”"“]([^”"“]{2,}?)[”"“]\s*(\(\s*[PE]?\s*\d+\s*\))?')
MENTION = re.compile(r"\s*[–-]\s?kategori\w*")
WORD = re.compile(r"[a-zåäöA-ZÅÄÖ]+")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÅÄÖ⟦])")
PLACEHOLDER = re.compile(r"⟦(\d+)⟧")
TABLE_CAPTION = re.compile(r"\s*(TAULUKKO|LIITE) \d+\.")
NOT_NAME_WORDS = {"liit", "erila"}  # "liittyvät", "erilaiset": too common to tell a subcategory by


def stems(text: str, n: int = 4) -> list[str]:
    return [w.lower()[:n] for w in WORD.findall(text) if len(w) >= 3]


def join_lines(lines: list[tuple[int, str]]) -> tuple[str, list[int]]:
    """One text from numbered lines with end-of-line hyphenation undone, and the line of each character."""
    text, where = "", []
    for number, line in lines:
        line = line.strip()
        if not line:
            continue
        if text.endswith("-") and len(text) > 1 and text[-2].isalpha():
            following = WORD.match(line)
            if (following and following.group(0) in ("ja", "tai", "sekä")) or line[:1].isupper():
                piece = " " + line  # "päihde- ja", "Te- toimisto": a real hyphen
            else:
                text, where = text[:-1], where[:-1]
                piece = line
        else:
            piece = (" " if text else "") + line
        text += piece
        where += [number] * len(piece)
    return text, where


def without_tables(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Drop a printed table (caption to the first prose line that names a category) from the narrative."""
    out, in_table = [], False
    for number, line in lines:
        if TABLE_CAPTION.match(line):
            in_table = True
            continue
        if in_table and not ("kategori" in line and len(line.strip()) > 40):
            continue
        in_table = False
        out.append((number, line))
    return out


def match_category(phrase: str, names: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The category an (inflected) phrase names: the most of its name's word stems present, then the
    longer name, then the higher level."""
    have = set(stems(phrase))
    best, best_score = None, 0.0
    for level, name in names:
        want = stems(name)
        if not want:
            continue
        score = sum(w in have for w in want) / len(want)
        tie_break = 0.01 * len(want) + {"combining": 0.003, "upper": 0.002, "sub": 0.0}[level]
        if score >= 0.6 and score + tie_break > best_score:
            best, best_score = (level, name), score + tie_break
    return best


def describe(
    thesis_lines: list[str], table: dict, quote_ids: dict[int, list[int]], quote_starts: list[str]
) -> dict[tuple[str, str], list[dict]]:
    """Description sentences per (level, name) for one table, from its narrative lines.

    ``quote_ids`` maps a thesis line to the quotes that open on it; ``quote_starts`` are the first words of
    every quote: a quote whose marks the PDF lost stays in the prose, and its sentence is dropped."""
    start, end = table["narrative_lines"]
    text, where = join_lines(without_tables([(n, thesis_lines[n - 1]) for n in range(start, end + 1)]))
    # cut the quotes out, leaving a numbered placeholder; keep the thesis line of every character
    hidden, hidden_where, found, at = "", [], [], 0  # found: the line of each quote cut out
    for match in QUOTE.finditer(text):
        placeholder = f" ⟦{len(found)}⟧ "
        found.append(where[match.start()])
        hidden += text[at : match.start()] + placeholder
        hidden_where += where[at : match.start()] + [where[match.start()]] * len(placeholder)
        at = match.end()
    hidden += text[at:]
    hidden_where += where[at:]

    names: list[tuple[str, str]] = []
    subs_of: dict[str, list[str]] = {}
    for comb in table["tree"]:
        names.append(("combining", comb["combining"]))
        for upper in comb.get("upper", []):
            names.append(("upper", upper["name"]))
            names += [("sub", s) for s in upper["sub"]]
            subs_of[upper["name"]] = list(upper["sub"])
    parent = {s: u for u, subs in subs_of.items() for s in subs}

    out: dict[tuple[str, str], list[dict]] = {}
    current: tuple[str, str] | None = None
    last: dict | None = None
    starts = [0] + [m.end() for m in SENTENCE_END.finditer(hidden)]
    for start_at, sentence in zip(starts, SENTENCE_END.split(hidden), strict=True):
        quotes = sorted({q for i in PLACEHOLDER.findall(sentence) for q in quote_ids.get(found[int(i)], [])})
        if quotes and sentence.lstrip().startswith("⟦") and last is not None:
            last["quotes"] = sorted(set(last["quotes"]) | set(quotes))  # it introduced this quote
        clean = PLACEHOLDER.sub(" ", sentence)
        clean = re.sub(r"\s+", " ", re.sub(r"\s+([.,:;])", r"\1", clean)).strip(" :;,")
        clean = re.sub(r":(?: (?:ja|sekä|että))?(?=[.,]|$)", "", clean)  # "…tärkeänä: [quote] ja [quote]."
        clean = re.sub(r": (ja|sekä|että) ", r" \1 ", clean)
        for mention in MENTION.finditer(clean):
            phrase = clean[: mention.start()]
            if len(stems(phrase)) > 6:  # a long lead-in: the name is after the last clause break
                phrase = re.split(r"[.:;]|\b(?:ja|sekä)\b", phrase)[-1]
            current = match_category(phrase, names) or current
        last = None
        if current is None or len(WORD.findall(clean)) < 4 or any(q in clean.lower() for q in quote_starts):
            continue
        entry = {"text": clean, "line": hidden_where[start_at], "quotes": quotes}
        targets = [current]
        upper = {"upper": current[1], "sub": parent.get(current[1])}.get(current[0])
        if current[0] == "sub" and upper:
            targets.append(("upper", upper))
        if upper:
            have = set(stems(clean))
            for sub in subs_of[upper]:
                want = [w for w in stems(sub) if w not in NOT_NAME_WORDS] or stems(sub)
                if all(w in have for w in want) and ("sub", sub) not in targets:
                    targets.append(("sub", sub))
        for target in targets:
            out.setdefault(target, []).append(entry)
        last = entry
    return out


def table_code(table: str | None) -> str | None:
    if not table:
        return None
    kind, number = table.split()
    if kind == "TAULUKKO" and number in ("2", "3"):
        return "T4"  # the reduction examples belong to TAULUKKO 4's question
    return ("T" if kind == "TAULUKKO" else "L") + number


def build(seed: Path, thesis: Path) -> None:
    tables = json.loads((seed / "categories.json").read_text(encoding="utf-8"))
    seed_quotes = [json.loads(line) for line in (seed / "quotes.jsonl").read_text(encoding="utf-8").splitlines()]
    quote_ids: dict[int, list[int]] = {}
    for quote in seed_quotes:
        quote_ids.setdefault(quote["line"], []).append(quote["id"])
    quote_starts = [" ".join(q["text"].split())[:25].lower() for q in seed_quotes if len(q["text"]) >= 25]
    thesis_lines = thesis.read_text(encoding="utf-8").splitlines()
    questions = []
    for table in tables:
        if table["kind"] != "category_table":
            continue
        described = describe(thesis_lines, table, quote_ids, quote_starts)

        tree = []
        sub_parent: dict[str, str] = {}
        for comb in table["tree"]:
            uppers = []
            for upper in comb.get("upper", []):
                details = {d["name"]: d for d in upper.get("sub_details", [])}
                subs = []
                for name in upper["sub"]:
                    entry = {
                        "name": name,
                        "uncertain": bool(details.get(name, {}).get("uncertain", False)),
                        "description": described.get(("sub", name), []),
                    }
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
                        "description": described.get(("upper", upper["name"]), []),
                    }
                )
            tree.append(
                {
                    "name": comb["combining"],
                    "line": comb.get("combining_line"),
                    "description": described.get(("combining", comb["combining"]), []),
                    "upper": uppers,
                }
            )
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
        for quote in seed_quotes:
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
    parser.add_argument(
        "--thesis", type=Path, default=HERE.parents[2] / "shared" / "seeds" / "000_04f57ccb10a70daf.txt"
    )
    args = parser.parse_args()
    build(args.seed_data, args.thesis)
