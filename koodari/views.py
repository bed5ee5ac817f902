"""Read-only views of a study for listing and export."""

from __future__ import annotations

from typing import Any

from koodari.store import Study


def unit_rows(study: Study, document: str | None = None) -> list[dict[str, Any]]:
    sql = """
        SELECT s.id, d.name AS document, s.seq, s.speaker, s.theme, q.code AS question, s.char_start, s.char_end,
               s.text, s.is_interviewer, s.time_start, s.time_end
        FROM segments s JOIN documents d ON d.id = s.document_id LEFT JOIN questions q ON q.id = s.question_id
    """
    args: list[Any] = []
    if document:
        sql += " WHERE d.id = ?"
        args = [study.document_id(document)]  # an unknown document is a one-line error
    rows = study.conn.execute(sql + " ORDER BY s.document_id, s.seq", args).fetchall()
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
