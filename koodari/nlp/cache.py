"""Lemmas cached per study: each unit is analysed once per pipeline version and stored beside it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from koodari.nlp.pipeline import FinnishPipeline, Token
from koodari.store import Study


@dataclass(frozen=True)
class UnitAnalysis:
    segment_id: int
    tokens: list[dict]

    @property
    def normalised(self) -> str:
        return " ".join(t["normalised"] for t in self.tokens)

    @property
    def lemmas(self) -> list[str]:
        return [t["lemma"] for t in self.tokens]


def ensure_analysed(
    study: Study, pipeline: FinnishPipeline, segment_ids: list[int] | None = None, batch: int = 64
) -> int:
    """Analyse the units that have no cached analysis from this pipeline; returns how many were analysed."""
    query = """
        SELECT s.id, s.text, s.char_start FROM segments s
        LEFT JOIN segment_nlp n ON n.segment_id = s.id AND n.pipeline = ?
        WHERE n.segment_id IS NULL
    """
    rows = study.conn.execute(query + " ORDER BY s.id", (pipeline.id,)).fetchall()
    if segment_ids is not None:
        wanted = set(segment_ids)
        rows = [r for r in rows if r["id"] in wanted]
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        analysed = pipeline.analyse_many([r["text"] for r in chunk])
        with study.transaction():
            for row, tokens in zip(chunk, analysed, strict=True):
                store_analysis(study, row["id"], pipeline.id, tokens, offset=row["char_start"])
    return len(rows)


def store_analysis(study: Study, segment_id: int, pipeline_id: str, tokens: list[Token], offset: int = 0) -> None:
    """Store tokens with offsets into the document text (unit offset + token offset)."""
    data = [
        {
            **t.as_dict(),
            "start": None if t.start is None else offset + t.start,
            "end": None if t.end is None else offset + t.end,
        }
        for t in tokens
    ]
    study.conn.execute(
        "INSERT INTO segment_nlp (segment_id, pipeline, tokens, normalised, lemmas) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(segment_id) DO UPDATE SET pipeline = excluded.pipeline, tokens = excluded.tokens,"
        " normalised = excluded.normalised, lemmas = excluded.lemmas",
        (
            segment_id,
            pipeline_id,
            json.dumps(data, ensure_ascii=False),
            " ".join(t.normalised for t in tokens),
            " ".join(t.lemma for t in tokens),
        ),
    )


def cached_analysis(study: Study, segment_id: int) -> UnitAnalysis | None:
    row = study.conn.execute("SELECT tokens FROM segment_nlp WHERE segment_id = ?", (segment_id,)).fetchone()
    return UnitAnalysis(segment_id, json.loads(row["tokens"])) if row else None


def analyse_texts(study: Study, pipeline: FinnishPipeline, texts: list[str], batch: int = 64) -> list[list[dict]]:
    """Token analyses of free texts (reductions, quotes), cached in the study by the text's sha256."""
    keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
    found: dict[str, list[dict]] = {}
    unique = list(dict.fromkeys(keys))
    for i in range(0, len(unique), 500):
        chunk = unique[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for row in study.conn.execute(
            f"SELECT sha256, tokens FROM text_nlp WHERE pipeline = ? AND sha256 IN ({marks})", (pipeline.id, *chunk)
        ):
            found[row["sha256"]] = json.loads(row["tokens"])
    missing = [(k, t) for k, t in dict(zip(keys, texts, strict=True)).items() if k not in found]
    found.update(_from_units(study, pipeline, missing))  # an utterance that is also an analysed unit
    missing = [(k, t) for k, t in missing if k not in found]
    for i in range(0, len(missing), batch):
        chunk = missing[i : i + batch]
        analysed = pipeline.analyse_many([t for _, t in chunk])
        with study.transaction():
            for (key, _), tokens in zip(chunk, analysed, strict=True):
                data = [t.as_dict() for t in tokens]
                found[key] = data
                study.conn.execute(
                    "INSERT OR REPLACE INTO text_nlp VALUES (?, ?, ?)",
                    (key, pipeline.id, json.dumps(data, ensure_ascii=False)),
                )
    return [found[k] for k in keys]


def _from_units(study: Study, pipeline: FinnishPipeline, wanted: list[tuple[str, str]]) -> dict[str, list[dict]]:
    """Analyses of units whose text is one of the wanted texts (by this pipeline), offsets made text-relative."""
    by_text = {t: k for k, t in wanted}
    out: dict[str, list[dict]] = {}
    texts = list(by_text)
    for i in range(0, len(texts), 500):
        chunk = texts[i : i + 500]
        marks = ",".join("?" * len(chunk))
        rows = study.conn.execute(
            "SELECT s.text, s.char_start, n.tokens FROM segments s JOIN segment_nlp n ON n.segment_id = s.id"
            f" WHERE n.pipeline = ? AND s.text IN ({marks})",
            (pipeline.id, *chunk),
        )
        for row in rows:
            tokens = json.loads(row["tokens"])
            for t in tokens:
                for key in ("start", "end"):
                    if t.get(key) is not None:
                        t[key] -= row["char_start"]
            out[by_text[row["text"]]] = tokens
    return out


def analyse_units(study: Study, pipeline: FinnishPipeline, segment_ids: list[int]) -> list[list[dict]]:
    """Token analyses of units, from the cache (analysing the ones missing)."""
    ensure_analysed(study, pipeline, segment_ids)
    out = []
    for segment_id in segment_ids:
        cached = cached_analysis(study, segment_id)
        out.append(cached.tokens if cached else [])
    return out
