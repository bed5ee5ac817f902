"""Read-only views of a study for listing and export."""

from __future__ import annotations

from typing import Any

from koodari.store import Study


def unit_rows(study: Study, document: str | None = None) -> list[dict[str, Any]]:
    # an unknown document is a one-line error
    rows = study.unit_listing(study.document_id(document) if document else None)
    return [
        {
            "id": r["id"],
            "document": r["document"],
            "seq": r["seq"],
            "speaker": r["speaker"],
            "theme": r["theme"],
            "question": r["question"],
            "start": r["char_start"],
            "end": r["char_end"],
            "text": r["text"],
            "interviewer": bool(r["is_interviewer"]),
            "time_start": r["time_start"],
            "time_end": r["time_end"],
        }
        for r in rows
    ]
