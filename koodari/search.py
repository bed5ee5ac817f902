"""Search by meaning and by words: analysis units (``koodari search``), categories (``/`` in review) and the
uncoded units closest to one unit (``n`` in review).

A query is scored against each text three ways; each kind of score is standardised over the texts (mean 0,
standard deviation 1) and the three are added with fixed weights:

* words: cosine of the lexical features (lemma and character TF-IDF, as the suggestion model uses);
* meaning, word by word: each content word of the query finds its most similar word form in the text
  (floret vectors, similarity above a floor), idf-weighted over the query's words;
* meaning, whole text: cosine of idf-weighted sentence vectors.

An index over a study's units is kept per process, so searches after the first one only score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from koodari.classify import Features
from koodari.errors import KoodariError
from koodari.nlp.analysed import EMPTY, AnalysedText
from koodari.nlp.cache import analyse_texts, analyse_units
from koodari.semantic import FLOOR
from koodari.vectors import load_vectors

# weights of (words, meaning word by word, meaning of the whole text); fixed a priori, not tuned
WEIGHTS = (0.4, 0.4, 0.2)


class MeaningIndex:
    """Texts indexed for search by words and by meaning."""

    def __init__(self, docs: list[AnalysedText]) -> None:
        self.vectors = load_vectors()
        self.n = len(docs)
        try:
            self.features: Features | None = Features().fit(docs)
            self.X = self.features.transform(docs)
        except ValueError:  # no docs, or not one word in them: only meaning can score
            self.features, self.X = None, sp.csr_matrix((len(docs), 1))
        df: dict[str, int] = {}
        for doc in docs:
            for lemma in {w[2] for w in doc.words}:
                df[lemma] = df.get(lemma, 0) + 1
        self.idf = {w: math.log((self.n + 1) / (c + 1)) + 1 for w, c in df.items()}
        self.default_idf = math.log(self.n + 1) + 1
        forms: dict[str, int] = {}
        rows, cols = [], []
        for r, doc in enumerate(docs):
            for form in {f for word in doc.words for f in word if f}:
                rows.append(r)
                cols.append(forms.setdefault(form, len(forms)))
        self.forms = list(forms)
        self.form_vectors = self.vectors(self.forms)
        self.contains = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(self.n, len(forms)))
        self.contains.sort_indices()
        self.common = np.zeros(self.vectors.dim, dtype=np.float32)
        raw = self._raw_sentences(docs)
        if int((np.abs(raw).sum(axis=1) > 0).sum()) >= 3:  # remove the component all texts share (as in SIF)
            self.common = np.linalg.svd(raw, full_matrices=False)[2][0].astype(np.float32)
        self.sentences = self.sentence_vectors(docs)

    def _raw_sentences(self, docs: list[AnalysedText]) -> np.ndarray:
        out = np.zeros((len(docs), self.vectors.dim), dtype=np.float32)
        for r, doc in enumerate(docs):
            if doc.words:
                weights = np.array([self.idf.get(w[2], self.default_idf) for w in doc.words], dtype=np.float32)
                both = self.vectors([w[2] for w in doc.words]) + self.vectors([w[1] for w in doc.words])
                out[r] = weights @ both / (2 * weights.sum())
        return out

    def sentence_vectors(self, docs: list[AnalysedText]) -> np.ndarray:
        """Unit idf-weighted means of each doc's lemma and normalised-form vectors, common component removed."""
        raw = self._raw_sentences(docs)
        raw = raw - np.outer(raw @ self.common, self.common)
        return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9)

    def soft(self, query: AnalysedText) -> np.ndarray:
        """Per text: how well each query word finds a word of similar meaning in it (0–1)."""
        if not query.words or not self.forms:
            return np.zeros(self.n, dtype=np.float32)
        per_form = self.form_vectors @ self.vectors([f for word in query.words for f in word]).T
        per_word = per_form.reshape(len(self.forms), len(query.words), 3).max(axis=2)  # forms → query words
        matched = per_word[self.contains.indices]  # nnz × query words
        best = np.zeros((self.n, len(query.words)), dtype=np.float32)
        filled = np.flatnonzero(np.diff(self.contains.indptr))
        if filled.size:
            best[filled] = np.maximum.reduceat(matched, self.contains.indptr[filled], axis=0)
        credit = np.clip((best - FLOOR) / (1 - FLOOR), 0, 1)
        weights = np.array([self.idf.get(w[2], self.default_idf) for w in query.words], dtype=np.float32)
        return credit @ weights / weights.sum()

    def scores(self, query: AnalysedText) -> np.ndarray:
        """The combined score of every text for a query."""
        if self.n == 0:
            return np.zeros(0)
        words = (np.asarray((self.X @ self.features.transform([query]).T).todense()).ravel()
                 if self.features is not None else np.zeros(self.n))
        whole = self.sentences @ self.sentence_vectors([query])[0]
        parts = [words, self.soft(query), np.clip(whole, 0, None)]
        return sum(w * _standardised(part) for w, part in zip(WEIGHTS, parts, strict=True))

    def similarity_matrix(self) -> np.ndarray:
        """Pairwise similarity of the indexed texts: words and whole-text meaning (for grouping)."""
        words = np.asarray((self.X @ self.X.T).todense())
        meaning = np.clip(self.sentences @ self.sentences.T, 0, None)
        return 0.5 * words + 0.5 * meaning


def _standardised(scores: np.ndarray) -> np.ndarray:
    """Scores on a common scale before they are added: standard deviations above the texts' mean (the three
    kinds of score spread over very different ranges, so raw sums let the widest one decide)."""
    if scores.size < 3:
        return scores
    spread = float(scores.std())
    return (scores - scores.mean()) / spread if spread > 0 else scores - scores.mean()


def query_doc(study, pipeline, query: str) -> AnalysedText:
    """The analysed query (from the study's cache when there; a search writes nothing to the study); a one-line
    error when it has no content word."""
    doc = analyse_texts(study, pipeline, [query], keep=False)[0] if query.strip() else EMPTY
    if not doc.words:
        raise KoodariError(f"the query '{query.strip()}' has no content words to search by (only stop words or none)")
    return doc


@dataclass
class _UnitIndex:
    key: tuple
    rows: list[Any]
    index: MeaningIndex


_unit_indexes: dict[str, _UnitIndex] = {}


def unit_index(study, pipeline, question_id: int | None = None) -> tuple[list[Any], MeaningIndex]:
    """The study's units (of a question) and their index; rebuilt only when the units changed."""
    rows = study.units_for_search(question_id)
    key = (question_id, len(rows), rows[-1]["id"] if rows else None)
    cached = _unit_indexes.get(str(study.path))
    if cached is None or cached.key != key:
        docs = analyse_units(study, pipeline, [r.id for r in rows])
        cached = _UnitIndex(key, rows, MeaningIndex(docs))
        _unit_indexes[str(study.path)] = cached
    return cached.rows, cached.index


def search_units(
    study, pipeline, query: str, question_id: int | None = None, coded: bool | None = None, top: int = 10
) -> list[dict[str, Any]]:
    """Units ranked by meaning and words: ``{"unit", "document", "speaker", "text", "score", "codes"}``."""
    load_vectors()  # a missing vectors package is reported before any analysis
    doc = query_doc(study, pipeline, query)
    rows, index = unit_index(study, pipeline, question_id)
    codes = study.unit_codes()
    scores = index.scores(doc)
    out = []
    for i in np.argsort(-scores, kind="stable"):
        row = rows[i]
        unit_codes = codes.get(row.id, [])
        if coded is not None and bool(unit_codes) != coded:
            continue
        out.append({"unit": row.id, "document": row.document, "speaker": row.speaker, "text": row.text,
                    "score": round(float(scores[i]), 4), "codes": unit_codes})
        if len(out) >= top:
            break
    return out


def closest_uncoded(study, pipeline, unit_id: int, uncoded: list[int], top: int = 5) -> list[tuple[int, str, float]]:
    """The uncoded units most similar to one unit, by meaning and words: (id, text, score)."""
    others = [u for u in uncoded if u != unit_id]
    if not others:
        return []
    docs = analyse_units(study, pipeline, [unit_id, *others])
    if not docs[0].words:
        return []
    scores = MeaningIndex(docs[1:]).scores(docs[0])
    order = np.argsort(-scores)[:top]
    return [(others[i], docs[i + 1].text, float(scores[i])) for i in order if scores[i] > 0]
