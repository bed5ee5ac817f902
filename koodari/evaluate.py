"""Cross-validation of the suggestion model on a study's own coded material."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from sklearn.metrics import cohen_kappa_score, f1_score

from koodari.classify import DEFAULT_BLOCKS, DEFAULT_KIND, Example, SuggestionModel
from koodari.crossfit import cross_fit
from koodari.hierarchy import Tree, rank

LEARNING_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)


@dataclass
class Evaluation:
    level: str
    folds: int
    gold: list[int] = field(default_factory=list)
    predicted: list[int] = field(default_factory=list)
    coders: list[str] = field(default_factory=list)
    top3_hits: int = 0
    learning_curve: list[dict[str, float]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.gold)

    def summary(self) -> dict[str, Any]:
        if not self.gold:
            return {"n": 0, "top1": None, "top3": None, "macro_f1": None, "kappa": None}
        gold, pred = np.array(self.gold), np.array(self.predicted)
        kappa = cohen_kappa_score(gold, pred) if len(set(self.gold) | set(self.predicted)) > 1 else 1.0
        return {
            "n": self.n,
            "top1": round(float((gold == pred).mean()), 4),
            "top3": round(self.top3_hits / self.n, 4),
            "macro_f1": round(
                float(f1_score(gold, pred, average="macro", labels=sorted(set(self.gold)), zero_division=0)), 4
            ),
            "kappa": round(float(kappa), 4),
        }

    def by_coder(self) -> dict[str, dict[str, Any]]:
        """The model's (cross-validated) agreement with each coder's own codes."""
        out = {}
        for coder in sorted(set(self.coders)):
            idx = [i for i, c in enumerate(self.coders) if c == coder]
            gold = [self.gold[i] for i in idx]
            pred = [self.predicted[i] for i in idx]
            agree = float(np.mean([g == p for g, p in zip(gold, pred, strict=True)]))
            labels = set(gold) | set(pred)
            kappa = cohen_kappa_score(gold, pred) if len(labels) > 1 else 1.0
            out[coder] = {"n": len(idx), "percent": round(100 * agree, 2), "kappa": round(float(kappa), 4)}
        return out


class Prediction(NamedTuple):
    """A held-out example's true category at the evaluated level and the model's ranking of that level."""

    gold: int
    ranked: list[int]


def _fold_predictions(
    train: list[Example], test: list[Example], always: list[Example], tree: Tree, level: str, kind: str,
    blocks: str = DEFAULT_BLOCKS,
) -> list[Prediction]:
    model = SuggestionModel.fit(train, always, kind=kind, blocks=blocks)  # as `koodari train` makes it: calibrated
    questions = tree.question_of(model.classes)
    proba = model.predict_proba([e.doc for e in test])
    return [Prediction(tree.ancestor(example.label, level),
                       [c for c, _ in rank(p, model.classes, questions, tree, example.question_id, level)])
            for example, p in zip(test, proba, strict=True)]


def cross_validate(
    examples: list[Example],
    always: list[Example],
    tree: Tree | None = None,
    folds: int = 5,
    level: str = "sub",
    kind: str = DEFAULT_KIND,
    curve: bool = False,
    seed: int = 0,
    blocks: str = DEFAULT_BLOCKS,
) -> Evaluation:
    """Stratified k-fold CV: train on the other folds (and the category names), rank within the question."""
    if tree is None:
        raise ValueError("cross_validate needs the study's tree")
    usable = [e for e in examples if tree.ancestor(e.label, level) is not None]
    result = Evaluation(level, folds)
    if len(usable) < folds:
        return result
    labels = np.array([tree.ancestor(e.label, level) for e in usable])
    counts = {label: int((labels == label).sum()) for label in set(labels.tolist())}
    strata = np.array([label if counts[label] >= folds else -1 for label in labels])
    curve_hits = {f: [0, 0] for f in LEARNING_FRACTIONS}
    rng = np.random.default_rng(seed)

    def predict(train_idx: np.ndarray, test_idx: np.ndarray) -> list[Prediction]:
        train = [usable[i] for i in train_idx]
        test = [usable[i] for i in test_idx]
        if curve:  # the learning curve: the same held-out fold, predicted from part of the training folds
            order = rng.permutation(len(train))
            for fraction in LEARNING_FRACTIONS:
                subset = [train[i] for i in order[: max(1, int(round(fraction * len(train))))]]
                for gold, ranked in _fold_predictions(subset, test, always, tree, level, kind, blocks):
                    curve_hits[fraction][0] += bool(ranked) and ranked[0] == gold
                    curve_hits[fraction][1] += 1
        return _fold_predictions(train, test, always, tree, level, kind, blocks)

    fitted = cross_fit(len(usable), lambda train_idx: train_idx, predict, folds, seed, strata=strata)
    for fold in fitted.folds:
        for i, (gold, ranked) in zip(fold.test, fold.predictions, strict=True):
            result.gold.append(gold)
            result.predicted.append(ranked[0] if ranked else -1)
            result.coders.append(usable[i].coder or "?")
            result.top3_hits += gold in ranked[:3]
    if curve:
        train_size = len(usable) * (folds - 1) / folds
        result.learning_curve = [
            {"fraction": f, "examples": int(round(f * train_size)), "top1": round(h / max(1, n), 4)}
            for f, (h, n) in curve_hits.items()
        ]
    return result
