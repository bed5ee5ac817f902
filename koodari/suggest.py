"""Training, storing and asking the suggestion model of a study.

This is the service layer between the study file and ``koodari.classify``: it gathers the coded
material, analyses it (cached), trains and records model versions, and turns class probabilities
into ranked, hierarchy-aware suggestions with reasons.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from koodari import sentences
from koodari.classify import DEFAULT_BLOCKS, DEFAULT_KIND, Example, SuggestionModel
from koodari.errors import KoodariError
from koodari.evaluate import cross_validate
from koodari.hierarchy import (  # noqa: F401 (re-exported)
    CONSENSUS,
    Tree,
    coded_examples_from,
    rank,
    rank_by,
    rank_targets,
    unit_key,
)
from koodari.nlp.analysed import AnalysedText
from koodari.nlp.cache import analyse_texts, analyse_units
from koodari.nlp.pipeline import FinnishPipeline
from koodari.store import LEVELS, Study
from koodari.treeops import categories_as_of

# Tree, rank, unit_key and CONSENSUS live in koodari.hierarchy; imported here too for the callers of old.
NEW_CATEGORY_PROBABILITY = 0.25  # below this top-1 probability (sub level) a unit may need a new category
NEW_CATEGORY_SIMILARITY = 0.2  # ...or when no coded example is this similar (lexical model)
NEW_CATEGORY_MEANING = 0.35  # ...or when no evidence of the question's categories is this close by meaning
# A model fitted on few coded examples fits its score weights to near-certainty (12 reductions: p = 1.00 for a
# guess that shares no word with its category). The probabilities shown are therefore shrunk toward the uniform
# over the question's categories by PRIOR_EXAMPLES / (n + PRIOR_EXAMPLES), n the model's coded examples: about
# 0.3 with 12, 0.03 with the seed study's 144; the order of the suggestions never changes.
PRIOR_EXAMPLES = 5


@dataclass(frozen=True)
class Suggestion:
    category_id: int
    category: str
    level: str
    probability: float
    path: list[str | None]
    reason: str
    new: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "level": self.level,
            "probability": round(self.probability, 4),
            "path": self.path,
            "reason": self.reason,
            "new": self.new,
        }


# -- gathering coded material --------------------------------------------------------------------


def coded_examples(
    study: Study,
    exclude_coders: set[str] | None = None,
    only_coders: set[str] | None = None,
    exclude_units: set[str] | None = None,
    blind_for: str | None = None,
    as_of: str | None = None,
) -> list[Example]:
    """Every coding in the study as a training example; a unit with a consensus code keeps only that.
    ``blind_for``: leave out every other coder's review codes (blind coding), read in the same query, so a
    code added while this runs can never slip in. Codings of retired or split categories are not examples
    (nothing may be coded with those any more); ``as_of`` takes the codings and the tree as they were then."""
    tree = Tree(study, categories_as_of(study, as_of) if as_of else None)
    rows = study.codings(as_of)
    return coded_examples_from(rows, tree, exclude_coders, only_coders, exclude_units, blind_for)


def category_examples(study: Study, tree: Tree | None = None) -> list[Example]:
    """The category tree as evidence: every category stays suggestible.

    Each category's name is an example of it (``source="category"``), and so is each sentence of its
    description (``source="description"``). An upper or combining category's examples count at its own
    level and above (``rank`` drops them at the levels below). Retired, split and merged-away categories
    are left out."""
    tree = tree or Tree(study)
    out = []
    for cat in tree.categories.values():
        if not cat.active:
            continue
        out.append(Example(text=cat.name, label=cat.id, question_id=cat.question_id, source="category",
                           parent=cat.parent_id))
        for sentence in description_sentences(cat.description):
            out.append(Example(text=sentence, label=cat.id, question_id=cat.question_id, source="description",
                               parent=cat.parent_id))
    return out


SENTENCE_BREAK = re.compile(r"\n+|(?<=[.!?])\s+(?=[A-ZÅÄÖ])")


def description_sentences(description: str | None) -> list[str]:
    """A category description split into sentences (a line break always ends one)."""
    if not description:
        return []
    return [s.strip() for s in SENTENCE_BREAK.split(description) if len(s.split()) >= 2]


def attach_analyses(study: Study, pipeline: FinnishPipeline, examples: list[Example]) -> list[Example]:
    """Give each example its analysed text (from the study's cache)."""
    analyses = analyse_texts(study, pipeline, [e.text for e in examples])
    for example, analysis in zip(examples, analyses, strict=True):
        example.analysis = analysis
    return examples




@dataclass(frozen=True)
class TrainingData:
    """What a model learns from: the coded examples, the tree's own evidence (category names and description
    sentences, ``always`` in training) and the tree they were read against; analysed unless asked not to."""

    examples: list[Example]
    always: list[Example]
    tree: Tree


def training_data(
    study: Study,
    pipeline: FinnishPipeline | None,
    question: int | None = None,
    blind_for: str | None = None,
    exclude_coders: set[str] | None = None,
    exclude_units: set[str] | None = None,
    as_of: str | None = None,
) -> TrainingData:
    """The one way to gather training data (train, evaluate, the model as a coder, the benchmarks).

    ``question`` keeps one research question's examples; ``blind_for`` leaves out every other coder's review
    codes; ``exclude_coders``/``exclude_units`` drop codes by coder or unit (``agree``'s model coder drops the
    held-out units); ``as_of`` reads the codings and the tree as they were then. With ``pipeline`` None the
    examples come without tokens (nothing is analysed)."""
    tree = Tree(study, categories_as_of(study, as_of) if as_of else None)
    examples = coded_examples(study, exclude_coders=exclude_coders, exclude_units=exclude_units,
                              blind_for=blind_for, as_of=as_of)
    always = category_examples(study, tree)
    if question is not None:
        examples = [e for e in examples if e.question_id == question]
        always = [e for e in always if e.question_id == question]
    if pipeline is not None:
        examples = attach_analyses(study, pipeline, examples)
        always = attach_analyses(study, pipeline, always)
    return TrainingData(examples, always, tree)


# -- training and model versions -----------------------------------------------------------------


def train(
    study: Study,
    pipeline: FinnishPipeline,
    kind: str = DEFAULT_KIND,
    evaluate_folds: int = 3,
    exclude_coders: set[str] | None = None,
    blind_for: str | None = None,
    blocks: str = DEFAULT_BLOCKS,
) -> tuple[int, dict[str, Any]]:
    """Train on all coded material, store a new model version, return (version id, its record).
    ``blind_for``: a model for one coder's blind review (no other coder's review codes). A read-only study is
    refused before the training."""
    study.check_writable()
    data = _data_to_train_on(study, pipeline, exclude_coders=exclude_coders, blind_for=blind_for)
    examples, always = data.examples, data.always
    started, embedded = time.perf_counter(), sentences.embedding_seconds()
    model = SuggestionModel.fit(examples, always, kind=kind, blocks=blocks)
    seconds = time.perf_counter() - started
    metrics: dict[str, Any] = {"train_seconds": round(seconds, 3), "temperature": model.estimator.temperature_,
                               # of which embedding new texts with the sentence encoder (once per text)
                               "embed_seconds": round(sentences.embedding_seconds() - embedded, 3)}
    if model.weights is not None:
        metrics["block_weights"] = [round(float(w), 4) for w in model.weights]
    if evaluate_folds:
        evaluation = cross_validate(examples, always, data.tree, folds=evaluate_folds, kind=kind, blocks=blocks)
        metrics.update(evaluation.summary())
        metrics["agreement_with_coders"] = evaluation.by_coder()
    coders: dict[str, int] = {}
    for e in examples:
        coders[e.coder or "?"] = coders.get(e.coder or "?", 0) + 1
    training = {
        "examples": len(examples),
        "category_names": sum(e.source == "category" for e in always),
        "description_sentences": sum(e.source == "description" for e in always),
        "classes": int(len(model.classes)),
        "coders": coders,
        "review_coders": sorted({e.coder for e in examples if e.source == "review" and e.coder}),
        "blind_for": blind_for,
        "kind": kind,
        "blocks": blocks,
        "pipeline": pipeline.id,
    }
    version = study.add_model_version(kind, training, metrics, model.to_bytes())
    return version, {"version": version, **training, "metrics": metrics}


def _data_to_train_on(study: Study, pipeline: FinnishPipeline, exclude_coders: set[str] | None = None,
                      blind_for: str | None = None) -> TrainingData:
    """The training data, refused when there is none; the latest model's embeddings reused."""
    data = training_data(study, pipeline, exclude_coders=exclude_coders, blind_for=blind_for)
    if not data.examples:
        raise KoodariError(
            "the study has no coded material yet (import reductions or code units in review)", study.path
        )
    _reuse_embeddings(study)
    return data


def _reuse_embeddings(study: Study) -> None:
    """The latest model's sentence embeddings of its evidence into the process's cache: a retrain embeds only
    new evidence texts (the seed study's 1,909 take ≈ 17 s to embed, its model loads in under a second)."""
    record = study.latest_model_version()
    if record is None:
        return
    try:
        semantic = load_model(study, record.id).semantic
    except KoodariError:  # an unreadable old model: everything is embedded afresh
        return
    if semantic is not None:
        sentences.remember(semantic.passage_texts, semantic.passages)


def load_model(study: Study, version: int) -> SuggestionModel:
    return SuggestionModel.from_bytes(study.model_blob(version))


def latest_model(study: Study, blind_for: str | None = None) -> tuple[int, SuggestionModel] | None:
    """The newest model version trained on the tree as it is now; for a blind coder, the newest that never
    saw another coder's review codes. None when there is no such version (train one)."""
    review_coders = study.review_coders() if blind_for is not None else set()
    for record in study.current_model_versions():
        if blind_for is None or record.saw_review_codes_of(review_coders) <= {blind_for}:
            return record.id, load_model(study, record.id)
    return None


def ensure_model(study: Study, pipeline: FinnishPipeline) -> tuple[int, SuggestionModel]:
    """The latest model version, training one first when the study has none or its tree changed since. A read-only
    study's is trained for this process alone, version 0, and not kept: reading never needs to write."""
    found = latest_model(study)
    if found is None and study.read_only:
        data = _data_to_train_on(study, pipeline)
        return 0, SuggestionModel.fit(data.examples, data.always)
    if found is None:
        version, _ = train(study, pipeline)
        found = version, load_model(study, version)
    return found


# -- suggesting ----------------------------------------------------------------------------------


class Suggester:
    """Ranked suggestions for texts or units from a study's model."""

    def __init__(
        self, study: Study, pipeline: FinnishPipeline, version: int | None = None, model: SuggestionModel | None = None
    ) -> None:
        self.study = study
        self.pipeline = pipeline
        if model is None:
            version, model = ensure_model(study, pipeline)
        self.version = version
        self.model = model
        self.tree = Tree(study)
        self._leaf_map: dict[int, list[int]] = {}
        self._targets: dict[tuple[int | None, str], list[tuple[int, int]]] = {}
        self.class_questions = np.array(
            [self.tree.categories[c].question_id if c in self.tree.categories else -1 for c in model.classes]
        )

    def docs_for_texts(self, texts: list[str]) -> list[AnalysedText]:
        """Analysed free texts, cached in the study (an utterance that is an analysed unit reuses its analysis)."""
        return analyse_texts(self.study, self.pipeline, texts)

    def docs_for_units(self, segment_ids: list[int]) -> list[AnalysedText]:
        return analyse_units(self.study, self.pipeline, segment_ids)

    def suggest_docs(
        self, docs: list[AnalysedText], questions: list[int | None], level: str = "sub", top: int = 5
    ) -> list[list[Suggestion]]:
        if level not in LEVELS:
            raise KoodariError(f"unknown level '{level}' (sub, upper, combining)")
        X = self.model.transform(docs)
        proba = self.model.proba(X, docs)
        if self.model.semantic is None:
            far = self.model.max_similarity(X) < NEW_CATEGORY_SIMILARITY
        else:  # far by meaning from every category of the question: no evidence text is close
            nearest = self.model.semantic.nearest(docs)
            far = np.array([self._closest(nearest[i], questions[i]) < NEW_CATEGORY_MEANING for i in range(len(docs))])
        results = []
        for i, doc in enumerate(docs):
            ranked = self._shrunk(self._rank(proba[i], questions[i], level))
            sub_ranked = ranked if level == "sub" else self._shrunk(self._rank(proba[i], questions[i], "sub"))
            top_sub = sub_ranked[0][1] if sub_ranked else 0.0
            new = bool(top_sub < NEW_CATEGORY_PROBABILITY or far[i])
            out = []
            for category_id, p in ranked[:top]:
                out.append(
                    Suggestion(
                        category_id,
                        self.tree.categories[category_id].name,
                        level,
                        p,
                        self.tree.path(category_id),
                        self._reason(doc, X[i], category_id),
                        new,
                    )
                )
            results.append(out)
        return results

    def _closest(self, nearest: np.ndarray, question: int | None) -> float:
        """The best sentence cosine between an utterance and the evidence of its question's categories."""
        mask = self.class_questions == question if question is not None else np.ones(len(nearest), bool)
        return float(nearest[mask].max()) if mask.any() else float(nearest.max())

    def _shrunk(self, ranked: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """The ranked probabilities shrunk toward the uniform over the ranked categories (``PRIOR_EXAMPLES``)."""
        if not ranked:
            return ranked
        share = PRIOR_EXAMPLES / (len(self.model.example_labels) + PRIOR_EXAMPLES)
        return [(c, (1 - share) * p + share / len(ranked)) for c, p in ranked]

    def _rank(self, p: np.ndarray, question: int | None, level: str) -> list[tuple[int, float]]:
        key = (question, level)
        if key not in self._targets:  # the same as rank(), with the tree's part kept per question and level
            self._targets[key] = rank_targets(self.model.classes, self.class_questions, self.tree, question, level)
        return rank_by(p, self._targets[key])

    def _leaves(self, category_id: int) -> list[int]:
        """The model's classes under (or at) a category, in the model's order (cached: the tree is fixed)."""
        if category_id not in self._leaf_map:
            level = self.tree.categories[category_id].level
            tree = self.tree
            self._leaf_map[category_id] = [
                int(c) for c in self.model.classes
                if int(c) in tree.categories and tree.ancestor(tree.current(int(c)), level) == category_id
            ]
        return self._leaf_map[category_id]

    def _reason(self, doc: AnalysedText, x_row, category_id: int) -> str:
        leaves = self._leaves(category_id)
        lemmas: list[str] = []
        similar: list[tuple[float, str]] = []
        described: list[tuple[float, str]] = []
        for leaf in leaves:
            lemmas += [lemma for lemma in self.model.top_lemmas(doc, leaf, x_row=x_row) if lemma not in lemmas]
            similar += self.model.similar_examples(x_row, leaf)
            described += self.model.similar_descriptions(x_row, leaf)
        parts = []
        meaning = self._meaning(doc, leaves)
        if meaning:
            parts.append("meaning: " + meaning)
        if lemmas:
            parts.append("words: " + ", ".join(feature_in_words(lemma) for lemma in lemmas[:3]))
        if similar:
            best = sorted(similar, reverse=True)[:2]
            parts.append("like: " + "; ".join(f"“{_short(text)}” ({sim:.2f})" for sim, text in best))
        elif described:
            sim, text = max(described)
            parts.append(f"described: “{_short(text)}” ({sim:.2f})")
        return " | ".join(parts) if parts else "no shared words: a weak guess"


    def _meaning(self, doc: AnalysedText, leaves: list[int]) -> str | None:
        """The evidence of these categories that matches the utterance by meaning, not by shared words."""
        block = self.model.semantic
        if block is None:
            return None
        for leaf in leaves[:20]:
            found = block.explain(doc, int(np.searchsorted(self.model.classes, leaf)))
            if found:
                return found
        return None


def feature_in_words(feature: str) -> str:
    """A lexical feature as a reason shows it: a lemma, a compound part, or a word stem."""
    if feature.startswith("+"):
        return f"{feature[1:]} (part of a compound)"
    if feature.startswith("~"):
        return f"{feature[1:]}… (stem)"
    return feature.replace("#", "")


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
