"""Grouping new material: reductions (or uncoded units) that mean the same become candidate subcategories.

The inductive step of data-driven content analysis, proposed: agglomerative clustering (average linkage)
over a similarity that adds words (lemma and character TF-IDF) and meaning (sentence vectors of floret
word vectors). Each group gets a proposed name (its most central member) and the existing upper
category of the question that is closest to it by meaning.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from koodari.errors import KoodariError
from koodari.nlp.analysed import AnalysedText
from koodari.nlp.cache import analyse_texts, analyse_units
from koodari.search import MeaningIndex
from koodari.suggest import description_sentences

DEFAULT_THRESHOLD = 0.6  # average-linkage distance (1 − similarity) at which groups stop merging


def group(
    study, pipeline, question_id: int | None = None, uncoded: bool = False, threshold: float = DEFAULT_THRESHOLD
) -> dict[str, Any]:
    """Candidate subcategories: ``{"items", "threshold", "groups": [{"name", "members", "upper", ...}],
    "ungrouped"}``; groups with at least two members, biggest first."""
    if not 0 < threshold <= 2:
        raise KoodariError(f"--threshold must be a distance between 0 and 2, not {threshold}")
    if uncoded:
        codes = study.unit_codes()
        rows = [r for r in study.units_for_search(question_id) if r.id not in codes]
        items = [{"id": r.id, "text": r.text} for r in rows]
        docs = analyse_units(study, pipeline, [r.id for r in rows])
        what = "uncoded units"
    else:
        # a text coded with the same category by several coders (their codings, a consensus) is one reduction
        unique = {(" ".join(r.text.split()), r.category): r for r in reversed(study.reductions_of(question_id))}
        rows = sorted(unique.values(), key=lambda r: r.id)
        items = [{"id": r.id, "text": r.text, "category": r.category} for r in rows]
        docs = analyse_texts(study, pipeline, [r.text for r in rows])
        what = "reductions"
    if len(items) < 3:
        raise KoodariError(f"grouping needs at least 3 {what}; found {len(items)}", study.path)
    index = MeaningIndex(docs)
    similarity = index.similarity_matrix()
    distance = np.clip(1.0 - similarity, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    labels = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=threshold
    ).fit(distance).labels_
    uppers = study.categories(question_id, "upper")
    upper_vectors = _category_vectors(study, pipeline, index, uppers)
    groups = []
    for label in set(labels.tolist()):
        members = np.flatnonzero(labels == label)
        if len(members) < 2:
            continue
        inner = similarity[np.ix_(members, members)]
        central = members[int(inner.mean(axis=1).argmax())]
        entry: dict[str, Any] = {
            "name": items[central]["text"],
            "size": int(len(members)),
            "cohesion": round(float(inner[np.triu_indices(len(members), 1)].mean()), 4),
            "members": [items[i] for i in members],
            "upper": None,
            "upper_score": None,
        }
        if uppers:
            centroid = index.sentences[members].mean(axis=0)
            scores = upper_vectors @ (centroid / (np.linalg.norm(centroid) or 1.0))
            best = int(scores.argmax())
            entry["upper"], entry["upper_score"] = uppers[best].name, round(float(scores[best]), 4)
        groups.append(entry)
    groups.sort(key=lambda g: (-g["size"], -g["cohesion"]))
    grouped = sum(g["size"] for g in groups)
    return {"items": len(items), "of": what, "threshold": threshold, "groups": groups,
            "ungrouped": len(items) - grouped}


def _category_vectors(study, pipeline, index: MeaningIndex, categories) -> np.ndarray:
    """One sentence vector per category: its name and its description as one text."""
    if not categories:
        return np.zeros((0, index.vectors.dim), dtype=np.float32)
    parts = [[c.name, *description_sentences(c.description)] for c in categories]
    analysed = iter(analyse_texts(study, pipeline, [text for texts in parts for text in texts]))  # cached by train
    docs = [AnalysedText.join(next(analysed) for _ in texts) for texts in parts]
    return index.sentence_vectors(docs)
