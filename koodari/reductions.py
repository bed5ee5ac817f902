"""Importing the researcher's hand-made analysis: reductions with their categories, from CSV."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from koodari.errors import KoodariError
from koodari.store import DEFAULT_QUESTION, AmbiguousCategory, Study
from koodari.textio import read_text_file

REQUIRED = ("reduction", "subcategory")
OPTIONAL = ("original", "upper", "combining", "question", "speaker", "unit", "coder")
DEFAULT_CODER = "default"


@dataclass
class ReductionImport:
    reductions: int
    categories_created: int
    questions_created: list[str] = field(default_factory=list)  # codes of research questions the file added
    had_questions: bool = False  # the study had research questions before (a new one may be a misspelt code)

    def as_dict(self) -> dict[str, Any]:
        return {"reductions": self.reductions, "categories_created": self.categories_created,
                "questions_created": self.questions_created}


def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Read a reductions CSV (comma, semicolon or tab separated) into (line number, row) pairs."""
    decoded = read_text_file(path)
    reader = csv.DictReader(io.StringIO(decoded.text), delimiter=_delimiter(decoded.text.split("\n", 1)[0]))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise KoodariError(f"CSV lacks required column(s): {', '.join(missing)} (header: {', '.join(header)})", path)
    reader.fieldnames = header
    rows = []
    for row in reader:
        clean = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if not any(clean.values()):
            continue
        rows.append((reader.line_num, clean))
    if not rows:
        raise KoodariError("CSV has a header but no rows", path)
    return rows


def _delimiter(header: str) -> str:
    """The header's delimiter (comma, semicolon or tab).

    Only the delimiter is sniffed: the rest of the dialect is the csv module's and Excel's own (``""``
    inside a quoted field is one quote). ``csv.Sniffer`` guesses ``doublequote`` from the header line alone,
    which has no quotes, and would turn it off.
    """
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def import_reductions(study: Study, path: str | Path, source: str | None = None) -> ReductionImport:
    """Import a reductions CSV in one transaction. The `upper` column places a subcategory (one name may stand
    under two upper categories); a row without it whose name stands at two places is reported, and then
    nothing is written."""
    path = Path(path)
    rows = read_rows(path)
    before = study.counts()["categories"]
    known = [q.code for q in study.questions()]
    named = list(dict.fromkeys(row["question"] for _, row in rows if row.get("question")))  # the file's own codes
    conflicts: list[str] = []
    with study.transaction():
        count = 0
        for line, row in rows:
            if not row.get("reduction") or not row.get("subcategory"):
                raise KoodariError(f"line {line}: empty 'reduction' or 'subcategory'", path)
            if (known or named) and not row.get("question") and study.find_question(DEFAULT_QUESTION) is None:
                # the study's (or the file's) codes belong to research questions: a row without one would start a
                # question of its own ("default") with copies of their categories
                where = f"the study has {_codes(known)}" if known else f"other rows name {_codes(named)}"
                raise KoodariError(f"line {line}: no research question ({where}); add a 'question' column; nothing "
                                   "imported", path)
            question_id = study.question_for(row.get("question"))
            coder = row.get("coder") or DEFAULT_CODER
            try:
                category_id = study.ensure_path(
                    question_id, row["subcategory"], row.get("upper"), row.get("combining"), created_by=coder
                )
            except AmbiguousCategory as conflict:
                conflicts.append(f"line {line}: {conflict}")
                continue
            except KoodariError as exc:
                raise KoodariError(f"line {line}: {exc.message}", path) from exc
            original = row.get("original") or None
            study.add_reduction(
                row["reduction"],
                category_id,
                coder,
                source=source or f"csv:{path.name}",
                segment_id=_segment_for(study, original),
                unit=row.get("unit") or None,
                original=original,
                speaker=row.get("speaker") or None,
            )
            count += 1
        if conflicts:
            more = f" (and {len(conflicts) - 1} more conflicts)" if len(conflicts) > 1 else ""
            raise KoodariError(f"{conflicts[0]}{more}; nothing imported", path)
        created = study.counts()["categories"] - before
        new_questions = [q.code for q in study.questions() if q.code not in known]
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        study.log_import(str(path), sha, "reductions", {"reductions": count, "categories_created": created,
                                                        "questions_created": new_questions})
    return ReductionImport(count, created, new_questions, bool(known))


def _codes(codes: list[str], shown: int = 6) -> str:
    return ", ".join(codes[:shown]) + (f" and {len(codes) - shown} more" if len(codes) > shown else "")


def _segment_for(study: Study, original: str | None) -> int | None:
    """Link a reduction to a unit of an imported transcript when its original expression is that unit."""
    if not original:
        return None
    return study.unit_with_text(original)
