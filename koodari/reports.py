"""Report-ready exports: coded units as CSV/XLSX, the category tree as Markdown/DOCX tables.

Quotes are checked for personal names and places before they go out: names the researcher lists are
pseudonymised (inflected forms too: "Pekalle" for "Pekka"), and every other name-like token found
(proper nouns by the tagger, capitalised words inside a sentence) is listed in a warning.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from koodari.errors import KoodariError
from koodari.store import Study
from koodari.textio import atomic_output
from koodari.tree import TreeRow, tree_rows

UNIT_COLUMNS = ["unit", "document", "speaker", "question", "original", "normalised", "reduction", "sub", "upper",
                "combining", "coder", "model_version", "decision"]
WORD = re.compile(r"\w[\w-]*", re.UNICODE)


@dataclass
class Pseudonymiser:
    """Replaces the listed names (and their inflected forms) and collects other name-like tokens."""

    names: dict[str, str] = field(default_factory=dict)
    found: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, spec: str | None) -> Pseudonymiser:
        names = {}
        for item in (spec or "").split(","):
            if item.strip():
                name, _, alias = item.partition("=")
                names[name.strip()] = alias.strip() or "[nimi]"
        return cls(names)

    def _alias(self, word: str, lemma: str | None) -> str | None:
        for name, alias in self.names.items():
            stem = name[: max(3, len(name) - 2)]  # Finnish inflection changes the end: Pekka, Pekan, Pekalle
            if word == name or lemma == name or (word[:1].isupper() and word.startswith(stem)):
                return alias
        return None

    def apply(self, text: str, tokens: list[dict] | None = None) -> str:
        """Pseudonymise a text; ``tokens`` (cached analysis) add lemmas and proper-noun tags."""
        lemmas = {t["text"]: t for t in tokens or []}
        out, pos = [], 0
        for i, match in enumerate(WORD.finditer(text)):
            word = match.group()
            info = lemmas.get(word, {})
            alias = self._alias(word, info.get("lemma"))
            out.append(text[pos:match.start()])
            if alias is not None:
                out.append(alias)
            else:
                out.append(word)
                sentence_start = i == 0 or text[:match.start()].rstrip()[-1:] in ".!?"
                if info.get("upos") == "PROPN" or (word[:1].isupper() and not sentence_start and len(word) > 1
                                                    and not word.isupper()):
                    self.found.add(word)
            pos = match.end()
        out.append(text[pos:])
        return "".join(out)


def coded_unit_rows(study: Study, pseudonymiser: Pseudonymiser) -> list[dict]:
    rows = study.codings_for_export()
    out = []
    for r in rows:
        tokens = json.loads(r["tokens"]) if r["tokens"] else None
        sub, upper, combining = study.path_of(r["category_id"])
        original = r["unit_text"] or r["original"] or ""
        out.append({
            "unit": f"S{r['segment_id']}" if r["segment_id"] else (r["unit"] or f"R{r['id']}"),
            "document": r["document"] or "",
            "speaker": r["speaker"] or "",
            "question": r["question"],
            "original": pseudonymiser.apply(original, tokens),
            "normalised": pseudonymiser.apply(r["normalised"] or "", tokens),
            "reduction": pseudonymiser.apply(r["reduction"] or "", None),
            "sub": sub or "", "upper": upper or "", "combining": combining or "",
            "coder": r["coder"],
            "model_version": r["model_version"] or "",
            "decision": r["decision"] or "imported",
        })
    return out


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """A text a spreadsheet would run as a formula gets a leading ``'`` (OWASP's CSV-injection advice)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_units(rows: list[dict], out: Path, kind: str) -> None:
    """Coded units as CSV or XLSX; no cell starts as a formula (see ``neutralise``)."""
    rows = [{c: neutralise(row[c]) for c in UNIT_COLUMNS} for row in rows]
    if kind == "csv":
        with out.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=UNIT_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        return
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "coded units"
    sheet.append(UNIT_COLUMNS)
    for row in rows:
        sheet.append([row[c] for c in UNIT_COLUMNS])
    sheet.freeze_panes = "A2"
    book.save(out)


def examples_by_category(study: Study, pseudonymiser: Pseudonymiser) -> dict[int, str]:
    """One example quote per category: the shortest coded original expression."""
    best: dict[int, str] = {}
    for r in study.coded_quotes():
        text = r["text"]
        if r["category_id"] not in best or len(text) < len(best[r["category_id"]]):
            tokens = json.loads(r["tokens"]) if r["tokens"] else None
            best[r["category_id"]] = pseudonymiser.apply(text, tokens)
    return best


def tree_with_examples(study: Study, question: str | None, pseudonymiser: Pseudonymiser | None) -> list[tuple]:
    rows = tree_rows(study, question)
    examples = examples_by_category(study, pseudonymiser) if pseudonymiser else {}
    out = []
    for row in rows:
        example = ""
        if examples:
            for category_id in (row.sub_id, row.upper_id):
                if category_id in examples:
                    example = examples[category_id]
                    break
        out.append((row, example))
    return out


def tree_markdown(rows: list[tuple[TreeRow, str]], with_examples: bool) -> str:
    lines: list[str] = []
    current = None
    for row, example in rows:
        if row.question != current:
            current = row.question
            header = "| subcategory | upper category | combining category | reductions | speakers |"
            rule = "|---|---|---|---:|---:|"
            if with_examples:
                header += " example |"
                rule += "---|"
            lines += ["", f"### {row.question}: {row.question_text}", "", header, rule]
        cells = [row.subcategory or "–", row.upper or "–", row.combining or "–", str(row.reductions),
                 str(row.speakers)] + ([f"“{example}”" if example else ""] if with_examples else [])
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines).strip() + "\n"


def tree_docx(rows: list[tuple[TreeRow, str]], with_examples: bool, out: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Category tree", level=1)
    current, table = None, None
    columns = ["subcategory", "upper category", "combining category", "reductions", "speakers"]
    if with_examples:
        columns.append("example")
    for row, example in rows:
        if row.question != current:
            current = row.question
            document.add_heading(f"{row.question}: {row.question_text}", level=2)
            table = document.add_table(rows=1, cols=len(columns))
            table.style = "Table Grid"
            for cell, name in zip(table.rows[0].cells, columns, strict=True):
                cell.text = name
        assert table is not None
        cells = table.add_row().cells
        values = [row.subcategory or "–", row.upper or "–", row.combining or "–", str(row.reductions),
                  str(row.speakers)] + ([example] if with_examples else [])
        for cell, value in zip(cells, values, strict=True):
            cell.text = value
    document.save(out)


REPORT_KINDS = ("csv", "xlsx", "tree-md", "tree-docx")


def export_report(study: Study, kind: str, out: Path, pseudonymise: str | None = None, examples: bool = False,
                  question: str | None = None, force: bool = False) -> tuple[int, list[str]]:
    """Write a report file; returns (rows written, name-like tokens left as they are)."""
    if kind not in REPORT_KINDS:
        raise KoodariError(f"unknown export format '{kind}'")
    pseudonymiser = Pseudonymiser.parse(pseudonymise)
    with atomic_output(out, force) as tmp:
        if kind in ("csv", "xlsx"):
            rows = coded_unit_rows(study, pseudonymiser)
            if not rows:
                raise KoodariError("the study has no coded units to export", study.path)
            write_units(rows, tmp, kind)
            count = len(rows)
        else:
            study.require_question(question)
            rows_with = tree_with_examples(study, question, pseudonymiser if examples else None)
            if kind == "tree-md":
                tmp.write_text(tree_markdown(rows_with, examples), encoding="utf-8")
            else:
                tree_docx(rows_with, examples, tmp)
            count = len(rows_with)
    return count, sorted(pseudonymiser.found)
