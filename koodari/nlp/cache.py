"""The analysis cache: every text is analysed once per pipeline version and stored in the study.

One entry point per kind of text, both returning ``AnalysedText``:

* ``analyse_units``: analysis units, stored beside the unit (``segment_nlp``, token offsets into the document);
* ``analyse_texts``: free texts (reductions, category names, ``suggest --file`` lines, search queries), stored
  by the text's sha256 (``text_nlp``); a text that is also an analysed unit reuses the unit's analysis.

The SQL lives in ``Study`` (its analysis-cache methods); this module only decides what to analyse.
"""

from __future__ import annotations

import hashlib

from koodari.nlp.analysed import AnalysedText
from koodari.nlp.pipeline import FinnishPipeline
from koodari.store import Study

BATCH = 64  # texts tagged in one pipeline call


def analyse_units(
    study: Study, pipeline: FinnishPipeline, unit_ids: list[int], batch: int = BATCH
) -> list[AnalysedText]:
    """The analyses of units (offsets into their document), from the cache; the missing ones are analysed and
    stored first. An id that is no unit gets an empty analysis."""
    rows = study.unit_analyses(pipeline.id, unit_ids)
    found = {r.id: AnalysedText.from_json(r.tokens, r.text, r.char_start)
             for r in rows if r.tokens is not None}
    missing = [r for r in rows if r.tokens is None]
    for analysed in _analyse_and_store(study, pipeline, missing, batch):
        found[analysed[0]] = analysed[1]
    empty = AnalysedText("")
    return [found.get(unit_id, empty) for unit_id in unit_ids]


def ensure_analysed(study: Study, pipeline: FinnishPipeline, unit_ids: list[int] | None = None,
                    batch: int = BATCH) -> int:
    """Analyse the units (all of them by default) that have no analysis by this pipeline; returns how many."""
    if unit_ids is not None:
        missing = [r for r in study.unit_analyses(pipeline.id, unit_ids) if r.tokens is None]
        return len(list(_analyse_and_store(study, pipeline, missing, batch)))
    count, after = 0, 0
    while rows := study.units_to_analyse(pipeline.id, after_id=after, limit=1000):
        count += len(list(_analyse_and_store(study, pipeline, rows, batch)))
        after = rows[-1]["id"]
    return count


def _analyse_and_store(study: Study, pipeline: FinnishPipeline, rows: list, batch: int):
    """Analyse units (rows with id, text, char_start) in batches, each batch stored in one transaction (not in a
    read-only study: reading never needs to write); yields (unit id, analysis)."""
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        analysed = [a.placed(r.char_start) for r, a in zip(chunk, pipeline.pipe([r.text for r in chunk]),
                                                               strict=True)]
        if not study.read_only:
            study.store_analyses(pipeline.id, [unit_row(r.id, a) for r, a in zip(chunk, analysed, strict=True)])
        yield from ((r.id, a) for r, a in zip(chunk, analysed, strict=True))


def unit_row(unit_id: int, analysed: AnalysedText) -> tuple[int, str, str, str]:
    """A unit's row in the cache: id, tokens JSON (offsets into the document), normalised text, lemmas."""
    return unit_id, analysed.to_json(), analysed.normalised, " ".join(analysed.lemmas)


def analyse_texts(study: Study, pipeline: FinnishPipeline, texts: list[str], batch: int = BATCH,
                  keep: bool = True) -> list[AnalysedText]:
    """The analyses of free texts (offsets into each text), from the cache; each distinct text is analysed once.
    New analyses are kept in the cache unless ``keep`` is False or the study is read-only (reading never
    needs to write)."""
    keys = [text_key(t) for t in texts]
    by_key = dict(zip(keys, texts, strict=True))
    found = {key: AnalysedText.from_json(tokens, by_key[key])
             for key, tokens in study.text_analyses(pipeline.id, list(by_key)).items()}
    wanted = {text: key for key, text in by_key.items() if key not in found}
    for row in study.unit_analyses_of_texts(pipeline.id, list(wanted)):  # an utterance that is an analysed unit
        found[wanted[row.text]] = AnalysedText.from_json(row.tokens, row.text, row.char_start).relative()
    missing = [(key, text) for key, text in by_key.items() if key not in found]
    for i in range(0, len(missing), batch):
        chunk = missing[i : i + batch]
        analysed = pipeline.pipe([text for _, text in chunk])
        if keep and not study.read_only:
            study.store_text_analyses(pipeline.id, [(key, a.to_json()) for (key, _), a in zip(chunk, analysed,
                                                                                              strict=True)])
        found.update((key, a) for (key, _), a in zip(chunk, analysed, strict=True))
    return [found[k] for k in keys]


def text_key(text: str) -> str:
    """A free text's key in the cache."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
