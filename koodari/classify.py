"""Suggesting subcategories: scikit-learn models trained on the researcher's own coding.

Data flow: coded material (reductions, original expressions, review decisions, the category names
themselves) → token analyses (``koodari.nlp``) → features (lemma n-grams with compound parts, and
character n-grams of the normalised text) → a calibrated classifier over the finest coded level →
probabilities rolled up the tree (sub → upper → combining) and restricted to the question's tree.

Two estimators share the feature space and the scikit-learn API (fit / predict_proba):
``LinearSuggester`` (multinomial logistic regression) and ``NeighbourSuggester`` (cosine nearest
neighbours over the coded examples). Both are calibrated by temperature scaling on out-of-fold
predictions. Models are saved as plain arrays (``numpy.savez`` without pickle): opening a study
from someone else never executes code.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import KFold
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from koodari.errors import KoodariError

STOP_LEMMAS = frozenset(
    [
        "olla",
        "se",
        "ja",
        "että",
        "ei",
        "tuo",
        "tämä",
        "niin",
        "kuin",
        "sitten",
        "kun",
        "joka",
        "mikä",
        "vain",
        "myös",
        "nyt",
        "ne",
        "me",
        "minä",
        "sinä",
        "hän",
        "he",
        "te",
        "ihan",
        "kyllä",
        "vähän",
        "siellä",
        "täällä",
        "siinä",
        "tässä",
        "mutta",
        "tai",
        "jos",
        "eli",
        "vaan",
        "no",
        "joo",
        "niinku",
        "tuota",
        "totta",
        "kai",
        "jo",
        "vielä",
        "aina",
        "sitä",
        "siitä",
        "siihen",
        "sen",
        "sillä",
        "itse",
        "oma",
        "muu",
        "kaikki",
        "jokin",
        "joku",
        "mitä",
        "kuka",
        "koko",
        "kanssa",
        "ollut",
        "olisi",
        "ovat",
        "oli",
        "on",
        "ole",
        "nämä",
        "noi",
        "nää",
        "ku",
        "sit",
        "sillon",
        "semmoinen",
        "sellainen",
        "tällainen",
        "tuollainen",
        "niinkuin",
        "eikä",
        "ettei",
        "vaikka",
        "koska",
        "jotta",
    ]
)


# -- documents and features ---------------------------------------------------------------------


@dataclass(frozen=True)
class Doc:
    """What the models see of a text: its content lemmas and its normalised surface."""

    lemmas: str  # space-separated lemmas (compound boundaries kept as '#')
    normalised: str
    # content words as (spoken, normalised, lemma without '#'), lower case: the semantic block's input
    words: tuple[tuple[str, str, str], ...] = ()


def doc_from_tokens(tokens: list[dict]) -> Doc:
    lemmas = []
    words = []
    for t in tokens:
        upos = t.get("upos", "X")
        lemma = (t.get("lemma") or t.get("text") or "").lower()
        if upos == "PUNCT" or not any(ch.isalnum() for ch in lemma):
            continue
        kept = [part for part in lemma.split() if part.replace("#", "") not in STOP_LEMMAS]
        lemmas += kept  # a multiword normalised form carries several lemmas
        if kept:
            spoken = (t.get("text") or "").lower()
            normalised = (t.get("normalised") or spoken).lower()
            words += [(spoken, normalised, part.replace("#", "")) for part in kept]
    normalised = " ".join(t.get("normalised") or t.get("text") or "" for t in tokens).lower()
    return Doc(" ".join(lemmas), normalised, tuple(words))


STEM = 5  # Finnish stems by truncation: työtön/työttömyys, motivointi/motivoida share "~tyött", "~motiv"


def lemma_analyzer(text: str) -> list[str]:
    """Lemma unigrams and bigrams, compound parts (`työ#valmentaja` → +työ, +valmentaja) and 5-letter stems."""
    lemmas = text.split()
    plain = [lemma.replace("#", "") for lemma in lemmas]
    features = list(plain)
    for lemma in lemmas:
        parts = lemma.split("#")
        if len(parts) > 1:
            features.extend("+" + part for part in parts if len(part) > 2)
        features.extend("~" + part[:STEM] for part in {lemma.replace("#", ""), *parts} if len(part) > STEM)
    features.extend(f"{a} {b}" for a, b in zip(plain, plain[1:], strict=False))
    return features


def _lemma_vectorizer(vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer=lemma_analyzer, sublinear_tf=True, vocabulary=vocabulary)


def _char_vectorizer(vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=1, vocabulary=vocabulary)


class Features:
    """The joint feature space: lemma TF-IDF and character TF-IDF, each L2-normalised, side by side."""

    def __init__(self, char_weight: float = 1.5) -> None:
        self.char_weight = char_weight
        self.lemma = _lemma_vectorizer()
        self.char = _char_vectorizer()

    def fit(self, docs: list[Doc]) -> Features:
        self.lemma.fit([d.lemmas for d in docs])
        self.char.fit([d.normalised for d in docs])
        return self

    def transform(self, docs: list[Doc]) -> sp.csr_matrix:
        lemma = self.lemma.transform([d.lemmas for d in docs])
        char = self.char.transform([d.normalised for d in docs]) * self.char_weight
        return normalize(sp.hstack([lemma, char]).tocsr())

    @property
    def n_lemma(self) -> int:
        return len(self.lemma.vocabulary_)

    @cached_property
    def lemma_names(self) -> list[str]:
        names = [""] * len(self.lemma.vocabulary_)
        for name, index in self.lemma.vocabulary_.items():
            names[index] = name
        return names

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        meta = {
            "char_weight": self.char_weight,
            "lemma_vocabulary": self.lemma.vocabulary_,
            "char_vocabulary": self.char.vocabulary_,
        }
        return meta, {"lemma_idf": self.lemma.idf_, "char_idf": self.char.idf_}

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> Features:
        features = cls(meta["char_weight"])
        features.lemma = _lemma_vectorizer({k: int(v) for k, v in meta["lemma_vocabulary"].items()})
        features.lemma.idf_ = arrays["lemma_idf"]
        features.char = _char_vectorizer({k: int(v) for k, v in meta["char_vocabulary"].items()})
        features.char.idf_ = arrays["char_idf"]
        return features


# -- estimators ----------------------------------------------------------------------------------


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = scores / max(temperature, 1e-6)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(scores: np.ndarray, y_index: np.ndarray, allowed: np.ndarray | None = None) -> float:
    """Temperature that minimises the negative log-likelihood of out-of-fold scores.

    ``allowed`` (rows × classes, boolean) restricts each row's softmax to its candidates: suggestions are
    ranked within the utterance's research question, so that is where probabilities must be calibrated."""
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)

    def nll(t: float) -> float:
        p = softmax(scores, t)[np.arange(len(y_index)), y_index]
        return float(-np.log(np.clip(p, 1e-12, 1)).mean())

    return float(minimize_scalar(nll, bounds=(0.02, 20.0), method="bounded").x)


class _Suggester(BaseEstimator, ClassifierMixin):
    """Shared API: fit(X, y, sample_weight, always=...) / decision_function / predict_proba."""

    temperature_: float = 1.0

    def decision_function(self, X) -> np.ndarray:  # pragma: no cover - implemented by subclasses
        raise NotImplementedError

    def predict_proba(self, X) -> np.ndarray:
        return softmax(self.decision_function(X), self.temperature_)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]

    def calibrate(
        self,
        X,
        y,
        sample_weight=None,
        always=None,
        folds: int = 3,
        seed: int = 0,
        groups: np.ndarray | None = None,
        class_groups: dict[int, int] | None = None,
    ) -> _Suggester:
        """Fit on all data, then fit the temperature on out-of-fold scores (category names always train).

        With ``groups`` (the research question of each example) and ``class_groups`` (the question of each
        class), each example's probabilities are calibrated among its own question's categories."""
        self.fit(X, y, sample_weight, always)
        n = X.shape[0]
        if n < 3 * folds:
            self.temperature_ = 1.0
            return self
        scores, truth, rows = [], [], []
        index = {c: i for i, c in enumerate(self.classes_)}
        for train, test in KFold(folds, shuffle=True, random_state=seed).split(np.zeros(n)):
            part = self.__class__(**self.get_params()).fit(
                X[train], y[train], None if sample_weight is None else sample_weight[train], always
            )
            raw = part.decision_function(X[test])
            full = np.full((len(test), len(self.classes_)), raw.min() - 5.0 if raw.size else -5.0)
            for j, c in enumerate(part.classes_):
                full[:, index[c]] = raw[:, j]
            scores.append(full)
            truth.append([index[c] for c in y[test]])
            rows.append(test)
        allowed = None
        if groups is not None and class_groups is not None:
            order = np.concatenate(rows)
            per_class = np.array([class_groups.get(int(c), -1) for c in self.classes_])
            allowed = per_class[None, :] == np.asarray(groups)[order][:, None]
        self.temperature_ = fit_temperature(np.vstack(scores), np.concatenate(truth), allowed)
        return self


class LinearSuggester(_Suggester):
    """A linear SVM (one-vs-rest) on the joint features; its scores become probabilities by softmax
    with a temperature fitted on out-of-fold predictions (``calibrate``)."""

    def __init__(self, C: float = 0.3) -> None:
        self.C = C

    def fit(self, X, y, sample_weight=None, always=None) -> LinearSuggester:
        X, y, w = _with_always(X, y, sample_weight, always)
        self.classes_ = np.unique(y)
        if len(self.classes_) == 1:
            self.coef_ = np.zeros((1, X.shape[1]))
            self.intercept_ = np.zeros(1)
            return self
        model = LinearSVC(C=self.C, tol=1e-3, max_iter=2000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y, sample_weight=w)
        coef, intercept = model.coef_, model.intercept_
        if len(self.classes_) == 2:  # sklearn stores one row for two classes
            coef = np.vstack([-coef[0] / 2, coef[0] / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        self.coef_, self.intercept_ = coef, intercept
        return self

    def decision_function(self, X) -> np.ndarray:
        return np.asarray(X @ self.coef_.T) + self.intercept_


class NeighbourSuggester(_Suggester):
    """Cosine similarity to the coded examples; a category scores the mean of its k best matches."""

    def __init__(self, k: int = 2, name_weight: float = 6.0, description_weight: float = 2.0) -> None:
        self.k = k
        self.name_weight = name_weight
        self.description_weight = description_weight

    def fit(self, X, y, sample_weight=None, always=None) -> NeighbourSuggester:
        n_coded = X.shape[0]
        X, y, _ = _with_always(X, y, sample_weight, always)
        self.classes_ = np.unique(y)
        self.X_ = sp.csr_matrix(X)
        self.y_index_ = np.searchsorted(self.classes_, y)
        # short category names match long utterances weakly; name_weight rescales their similarity
        is_name = always[3] if always is not None else np.zeros(0, dtype=bool)
        self.row_weight_ = np.concatenate(
            [np.ones(n_coded), np.where(is_name, self.name_weight, self.description_weight)]
        )
        return self

    def decision_function(self, X) -> np.ndarray:
        sims = np.asarray((X @ self.X_.T).todense()) * self.row_weight_
        scores = np.zeros((X.shape[0], len(self.classes_)))
        for c in range(len(self.classes_)):
            cols = sims[:, self.y_index_ == c]
            k = min(self.k, cols.shape[1])
            top = -np.sort(-cols, axis=1)[:, :k]
            scores[:, c] = top.mean(axis=1) if k else 0.0
        return scores * 10.0


def _with_always(X, y, sample_weight, always):
    """Append the examples that are always in training (category names and descriptions) to a training set.

    ``always`` is ``(X, labels, weights, is_name)``."""
    y = np.asarray(y)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if always is not None:
        Xa, ya, wa, _ = always
        X = sp.vstack([X, Xa]).tocsr()
        y = np.concatenate([y, ya])
        w = np.concatenate([w, wa])
    return X, y, w


ESTIMATORS = {"linear": LinearSuggester, "neighbours": NeighbourSuggester}
DEFAULT_KIND = "neighbours"  # it won on the seed study (BENCHMARKS.md, bench/suggest.py)
BLOCKS = ("lexical", "both", "semantic")
DEFAULT_BLOCKS = "both"
# (lexical, soft match, sentence) weights for a study too small to fit them (fewer than 9 coded examples)
# then soft match and sentence cosine for names, descriptions and coded examples
DEFAULT_WEIGHTS = (0.3, 3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 1.0, 1.0)


# -- the fitted model with its training examples -------------------------------------------------


@dataclass
class Example:
    """One piece of coded material: a text and the category (sub, or upper when no sub) it was coded with."""

    text: str
    label: int
    question_id: int
    source: str = "reduction"
    weight: float = 1.0
    unit: str | None = None
    speaker: str | None = None
    coder: str | None = None
    tokens: list[dict] | None = None
    parent: int | None = None  # the category's parent in the tree (the hierarchy of the suggestions)


@dataclass
class SuggestionModel:
    """Features + estimator + what they were trained on; saved without pickle."""

    kind: str
    features: Features
    estimator: _Suggester
    example_texts: list[str]
    example_labels: np.ndarray
    example_matrix: sp.csr_matrix
    meta: dict[str, Any] = field(default_factory=dict)
    # the description sentences of the categories, kept to explain a suggestion ("described: …")
    description_texts: list[str] = field(default_factory=list)
    description_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    description_matrix: sp.csr_matrix = field(default_factory=lambda: sp.csr_matrix((0, 0)))
    # the semantic block (word vectors) and the weights of (lexical, soft match, sentence) scores;
    # None in models saved before it existed, which rank by the lexical block alone
    semantic: Any = None
    weights: np.ndarray | None = None

    @classmethod
    def fit(
        cls,
        examples: list[Example],
        always: list[Example],
        kind: str = DEFAULT_KIND,
        calibrate: bool = True,
        blocks: str = DEFAULT_BLOCKS,
        **params: Any,
    ) -> SuggestionModel:
        """Fit the lexical estimator and, unless ``blocks == "lexical"``, the semantic block and the weights
        that combine them (fitted on out-of-fold scores of the coded examples; ``"semantic"`` drops the
        lexical block from the combination)."""
        if blocks not in BLOCKS:
            raise KoodariError(f"unknown blocks '{blocks}' ({', '.join(BLOCKS)})")
        if not examples and not always:
            raise KoodariError("no coded material to learn from")
        if blocks != "lexical":
            return cls._fit_combined(examples, always, kind, calibrate, blocks, **params)
        docs = [doc_from_tokens(e.tokens or []) for e in examples]
        always_docs = [doc_from_tokens(e.tokens or []) for e in always]
        features = Features().fit(docs + always_docs)
        X = features.transform(docs) if docs else sp.csr_matrix((0, 1))
        y = np.array([e.label for e in examples], dtype=np.int64)
        w = np.array([e.weight for e in examples], dtype=float)
        extra = None
        if always:
            Xa = features.transform(always_docs)
            extra = (
                Xa,
                np.array([e.label for e in always], dtype=np.int64),
                np.array([e.weight for e in always]),
                np.array([e.source == "category" for e in always], dtype=bool),
            )
        estimator = ESTIMATORS[kind](**params)
        if calibrate and len(examples) >= 9:
            class_groups = {e.label: e.question_id for e in [*examples, *always]}
            groups = np.array([e.question_id for e in examples])
            estimator.calibrate(X, y, w, extra, groups=groups, class_groups=class_groups)
        else:
            estimator.fit(X if docs else extra[0][:0], y, w, extra)
        described = [i for i, e in enumerate(always) if e.source == "description"]
        return cls(
            kind,
            features,
            estimator,
            [e.text for e in examples],
            y,
            sp.csr_matrix(X),
            description_texts=[always[i].text for i in described],
            description_labels=np.array([always[i].label for i in described], dtype=np.int64),
            description_matrix=sp.csr_matrix(extra[0][described]) if described else sp.csr_matrix((0, X.shape[1])),
        )

    @property
    def classes(self) -> np.ndarray:
        return self.estimator.classes_

    def transform(self, docs: list[Doc]) -> sp.csr_matrix:
        return self.features.transform(docs)

    def predict_proba(self, docs: list[Doc]) -> np.ndarray:
        return self.proba(self.transform(docs), docs)

    def proba(self, X: sp.csr_matrix, docs: list[Doc]) -> np.ndarray:
        """Class probabilities of texts given both as features (``X``) and as analysed docs."""
        if self.semantic is None:
            return self.estimator.predict_proba(X)
        scores = _combine(self.weights, *self.components(X, docs))
        hierarchy = self.meta.get("hierarchy")
        if hierarchy and hierarchy["weight"] > 0:
            from koodari.semantic import hierarchical

            scores = hierarchical(scores, np.asarray(hierarchy["parents"]), hierarchy["weight"])
        return softmax(scores)

    def components(self, X: sp.csr_matrix, docs: list[Doc]) -> list[np.ndarray]:
        """The class scores of each block: lexical, then the semantic block's (none without it)."""
        lexical = self.estimator.decision_function(X)
        if self.semantic is None:
            return [lexical]
        return [lexical, *self.semantic.class_scores(docs)]

    @classmethod
    def _fit_combined(
        cls, examples: list[Example], always: list[Example], kind: str, calibrate: bool, blocks: str, **params: Any
    ) -> SuggestionModel:
        from koodari.semantic import SemanticBlock

        model = cls.fit(examples, always, kind=kind, calibrate=False, blocks="lexical", **params)
        docs = [doc_from_tokens(e.tokens or []) for e in [*examples, *always]]
        classes = model.classes
        labels = list(np.searchsorted(classes, [e.label for e in [*examples, *always]]))
        groups = [2] * len(examples) + [0 if e.source == "category" else 1 for e in always]
        texts = [e.text for e in [*examples, *always]]
        # each category's profile: its name and whole description as one text
        profile: dict[int, list[int]] = {}
        for i in range(len(examples), len(examples) + len(always)):
            profile.setdefault(int(labels[i]), []).append(i)
        for label, rows in profile.items():
            docs.append(Doc("", "", tuple(w for r in rows for w in docs[r].words)))
            labels.append(label)
            groups.append(3)
            texts.append(always[rows[0] - len(examples)].text)
        model.semantic = SemanticBlock.fit(docs, np.array(labels), len(classes), texts, groups)
        weights = np.array(DEFAULT_WEIGHTS)
        oof: dict[str, np.ndarray] = {}
        if calibrate and len(examples) >= 9:
            weights = _fit_weights(model, examples, always, docs[: len(examples) + len(always)], blocks == "semantic",
                                   oof=oof, **params)
        elif blocks == "semantic":
            weights[0] = 0.0
        model.weights = weights
        model.meta["hierarchy"] = _fit_hierarchy(classes, [*examples, *always], weights, oof)
        model.meta["blocks"] = blocks
        return model

    def top_lemmas(self, doc: Doc, label: int, n: int = 3, x_row: sp.csr_matrix | None = None) -> list[str]:
        """The lemmas of the text that weigh most for a category."""
        row = self.features.transform([doc]) if x_row is None else x_row
        x = row[:, : self.features.n_lemma].tocoo()
        if x.nnz == 0:
            return []
        names = self.features.lemma_names
        if isinstance(self.estimator, LinearSuggester):
            row = int(np.searchsorted(self.classes, label))
            weights = self.estimator.coef_[row, : self.features.n_lemma]
            scored = [(float(v * weights[j]), names[j]) for j, v in zip(x.col, x.data, strict=True)]
        else:  # neighbours: the lemmas shared with the category's examples and its name
            est = self.estimator
            rows = est.X_[est.y_index_ == int(np.searchsorted(self.classes, label))][:, : self.features.n_lemma]
            centroid = np.asarray(rows.sum(axis=0)).ravel() if rows.shape[0] else np.zeros(self.features.n_lemma)
            scored = [(float(v * centroid[j]), names[j]) for j, v in zip(x.col, x.data, strict=True)]
        return [name for score, name in sorted(scored, reverse=True)[:n] if score > 0]

    def similar_examples(self, x_row: sp.csr_matrix, label: int, n: int = 2) -> list[tuple[float, str]]:
        """The coded examples of a category most similar to a text: (cosine, text), best first."""
        return _most_similar(x_row, self.example_matrix, self.example_labels, self.example_texts, label, n)

    def similar_descriptions(self, x_row: sp.csr_matrix, label: int, n: int = 1) -> list[tuple[float, str]]:
        """The sentences of a category's description most similar to a text."""
        return _most_similar(x_row, self.description_matrix, self.description_labels, self.description_texts, label, n)

    def max_similarity(self, X: sp.csr_matrix) -> np.ndarray:
        if self.example_matrix.shape[0] == 0:
            return np.zeros(X.shape[0])
        return np.asarray((X @ self.example_matrix.T).max(axis=1).todense()).ravel()

    # -- persistence without pickle ------------------------------------------------------------

    def to_bytes(self) -> bytes:
        feature_meta, arrays = self.features.state()
        est = self.estimator
        arrays = dict(arrays)
        arrays["classes"] = est.classes_
        arrays["example_labels"] = self.example_labels
        arrays.update(_csr_arrays("ex", self.example_matrix))
        arrays.update(_csr_arrays("desc", self.description_matrix), desc_labels=self.description_labels)
        params: dict[str, Any] = {"temperature": est.temperature_}
        if isinstance(est, LinearSuggester):
            arrays.update(coef=est.coef_, intercept=est.intercept_)
            params["C"] = est.C
        else:
            arrays.update(_csr_arrays("nn", est.X_), nn_y=est.y_index_)
            params["k"] = est.k
            params["name_weight"] = est.name_weight
            params["description_weight"] = est.description_weight
            arrays["nn_row_weight"] = est.row_weight_
        meta = {
            "format": 1,
            "kind": self.kind,
            "features": feature_meta,
            "params": params,
            "texts": self.example_texts,
            "descriptions": self.description_texts,
            "meta": self.meta,
        }
        if self.semantic is not None:
            semantic_meta, semantic_arrays = self.semantic.state()
            meta["semantic"] = semantic_meta
            arrays.update(semantic_arrays, sem_weights=self.weights)
        arrays["meta_json"] = np.array(json.dumps(meta, ensure_ascii=False))
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SuggestionModel:
        try:
            arrays = dict(np.load(io.BytesIO(data), allow_pickle=False))
            meta = json.loads(str(arrays["meta_json"]))
        except (ValueError, OSError, KeyError) as exc:
            raise KoodariError(f"stored model cannot be read ({exc})") from exc
        if meta.get("format") != 1:
            raise KoodariError("stored model has an unknown format")
        features = Features.from_state(meta["features"], arrays)
        params = meta["params"]
        if meta["kind"] == "linear":
            est: _Suggester = LinearSuggester(C=params["C"])
            est.coef_, est.intercept_ = arrays["coef"], arrays["intercept"]
        else:
            est = NeighbourSuggester(
                k=params["k"],
                name_weight=params["name_weight"],
                description_weight=params.get("description_weight", 1.0),
            )
            est.row_weight_ = arrays["nn_row_weight"]
            est.X_ = _csr_from(arrays, "nn")
            est.y_index_ = arrays["nn_y"]
        est.classes_ = arrays["classes"]
        est.temperature_ = params["temperature"]
        matrix = _csr_from(arrays, "ex")
        model = cls(meta["kind"], features, est, meta["texts"], arrays["example_labels"], matrix, meta["meta"])
        if "desc_labels" in arrays:  # models saved before descriptions were kept have none
            model.description_texts = meta.get("descriptions", [])
            model.description_labels = arrays["desc_labels"]
            model.description_matrix = _csr_from(arrays, "desc")
        if "semantic" in meta:  # models saved before the semantic block have none
            from koodari.semantic import SemanticBlock

            model.semantic = SemanticBlock.from_state(meta["semantic"], arrays)
            model.weights = arrays["sem_weights"]
        return model


def _csr_arrays(prefix: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    """A sparse matrix as plain arrays for an .npz archive: `{prefix}_data`, `_indices`, `_indptr`, `_shape`."""
    return {f"{prefix}_data": m.data, f"{prefix}_indices": m.indices, f"{prefix}_indptr": m.indptr,
            f"{prefix}_shape": np.array(m.shape)}


def _csr_from(arrays: dict[str, np.ndarray], prefix: str) -> sp.csr_matrix:
    """The sparse matrix that ``_csr_arrays`` stored under ``prefix``."""
    return sp.csr_matrix(
        (arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]),
        shape=tuple(arrays[f"{prefix}_shape"]),
    )


def _most_similar(
    x_row: sp.csr_matrix, matrix: sp.csr_matrix, labels: np.ndarray, texts: list[str], label: int, n: int
) -> list[tuple[float, str]]:
    mask = np.flatnonzero(labels == label)
    if mask.size == 0:
        return []
    sims = np.asarray((matrix[mask] @ x_row.T).todense()).ravel()
    order = np.argsort(-sims)[:n]
    return [(float(sims[i]), texts[mask[i]]) for i in order if sims[i] > 0]


def _combine(weights: np.ndarray, *scores: np.ndarray) -> np.ndarray:
    return sum(w * s for w, s in zip(weights, scores, strict=True))


def _fit_weights(
    model: SuggestionModel, examples: list[Example], always: list[Example], docs: list[Doc], no_lexical: bool,
    folds: int = 3, seed: int = 0, oof: dict[str, np.ndarray] | None = None, **params: Any,
) -> np.ndarray:
    """Weights of the lexical and semantic scores that minimise the negative log-likelihood of
    out-of-fold examples, each among its own research question's categories (the weights absorb the
    softmax temperature). The held-out fold's examples are hidden from both blocks. ``oof`` receives the
    out-of-fold scores ("blocks", "truth", "allowed") for what is fitted after the weights."""
    from scipy.optimize import minimize

    n = len(examples)
    classes = model.classes
    index = {int(c): i for i, c in enumerate(classes)}
    feats = model.features
    X = feats.transform(docs[:n])
    always_docs = docs[n:]
    extra = (
        feats.transform(always_docs),
        np.array([e.label for e in always], dtype=np.int64),
        np.array([e.weight for e in always]),
        np.array([e.source == "category" for e in always], dtype=bool),
    ) if always else None
    y = np.array([e.label for e in examples], dtype=np.int64)
    w = np.array([e.weight for e in examples], dtype=float)
    parts: list[list[np.ndarray]] = [[] for _ in DEFAULT_WEIGHTS]
    truth, order = [], []
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(np.zeros(n)):
        est = ESTIMATORS[model.kind](**params).fit(X[train], y[train], w[train], extra)
        raw = est.decision_function(X[test])
        full = np.full((len(test), len(classes)), raw.min() - 5.0 if raw.size else -5.0)
        for j, c in enumerate(est.classes_):
            full[:, index[int(c)]] = raw[:, j]
        exclude = np.zeros((len(test), model.semantic.recall.shape[0]), dtype=bool)
        exclude[:, test] = True
        semantic = model.semantic.class_scores([docs[i] for i in test], exclude)
        for store, scores in zip(parts, (full, *semantic), strict=True):
            store.append(scores)
        truth += [index[int(c)] for c in y[test]]
        order += list(test)
    blocks = [np.vstack(p) for p in parts]
    questions = {e.label: e.question_id for e in [*examples, *always]}
    per_class = np.array([questions.get(int(c), -1) for c in classes])
    allowed = per_class[None, :] == np.array([examples[i].question_id for i in order])[:, None]
    truth_index = np.array(truth)

    def nll(weights: np.ndarray) -> float:
        z = np.where(allowed, _combine(weights, *blocks), -np.inf)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z[np.arange(len(truth_index)), truth_index] - np.log(np.exp(z).sum(axis=1))
        return float(-log_p.mean())

    start = np.array(DEFAULT_WEIGHTS)
    bounds = [(0.0, 100.0)] * len(start)
    if no_lexical:  # the lexical scores stay out
        start[0] = 0.0
        bounds[0] = (0.0, 0.0)
    result = minimize(nll, start, method="L-BFGS-B", bounds=bounds)
    if oof is not None:
        oof.update(blocks=blocks, truth=truth_index, allowed=allowed)
    return np.asarray(result.x, dtype=float)


def _fit_hierarchy(
    classes: np.ndarray, examples: list[Example], weights: np.ndarray, oof: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Each class's parent class and the weight of the parent's subtree in its score (chosen on the out-of-fold
    scores of the coded examples; 0 without them)."""
    from koodari.semantic import fit_hierarchy, parent_index

    parents = parent_index(classes, {e.label: e.parent for e in examples})
    weight = 0.0
    if oof:
        weight = fit_hierarchy(_combine(weights, *oof["blocks"]), oof["truth"], oof["allowed"], parents)
    return {"weight": weight, "parents": parents.tolist()}


def entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy per row (the review's "least sure first" order)."""
    return -(p * np.log(np.clip(p, 1e-12, 1))).sum(axis=1)


def log_loss_bits(p: float) -> float:
    return -math.log2(max(p, 1e-12))
