"""Cross-fitting: predict every item with a model that never saw it. Pure (numpy and scikit-learn's splitters).

One helper serves the three places that need out-of-fold predictions: the softmax temperature and block
weights (``koodari.classify``), cross-validation (``koodari.evaluate``) and the model as a coder
(``koodari.agreement``). ``fold_of`` assigns the folds; ``cross_fit`` fits one model per fold on the other
folds and predicts the held-out items.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

M = TypeVar("M")
P = TypeVar("P")


def fold_of(n: int, folds: int, seed: int = 0, strata: Sequence[Any] | np.ndarray | None = None,
            stride: bool = False) -> np.ndarray:
    """The fold (0 … folds-1) of each of ``n`` items.

    Shuffled k-fold as scikit-learn's ``KFold`` makes it, or ``StratifiedKFold`` over ``strata``; with
    ``stride`` a random permutation dealt out in turn (fold i holds permutation[i::folds])."""
    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, not {folds}")
    out = np.empty(n, dtype=np.int64)
    if stride:  # a fold may stay empty when there are fewer items than folds
        order = np.random.default_rng(seed).permutation(n)
        for fold in range(folds):
            out[order[fold::folds]] = fold
        return out
    if n < folds:
        raise ValueError(f"cannot split {n} items into {folds} folds")
    if strata is not None:
        if len(strata) != n:
            raise ValueError(f"{len(strata)} strata for {n} items")
        splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(n), np.asarray(strata))
    else:
        splits = KFold(folds, shuffle=True, random_state=seed).split(np.zeros(n))
    for fold, (_, test) in enumerate(splits):
        out[test] = fold
    return out


@dataclass(frozen=True)
class Fold(Generic[P]):
    """One fold: the items trained on, the held-out items, and the predictions for the held-out ones."""

    index: int
    train: np.ndarray
    test: np.ndarray
    predictions: P


@dataclass(frozen=True)
class CrossFit(Generic[P]):
    """Out-of-fold predictions, fold by fold (folds whose training set was empty are left out)."""

    folds: list[Fold[P]]
    fold: np.ndarray  # the fold of each item

    @property
    def order(self) -> np.ndarray:
        """The items in the order of ``stacked`` predictions (fold by fold)."""
        return np.concatenate([f.test for f in self.folds]) if self.folds else np.zeros(0, dtype=np.int64)

    def stacked(self) -> np.ndarray:
        """The folds' prediction arrays stacked row-wise, in ``order``."""
        return np.vstack([f.predictions for f in self.folds])

    def by_item(self) -> dict[int, Any]:
        """item index → its prediction (for predictions given as one sequence entry per held-out item)."""
        return {int(i): p for f in self.folds for i, p in zip(f.test, f.predictions, strict=True)}


def cross_fit(
    n: int,
    fit: Callable[[np.ndarray], M | None],
    predict: Callable[[M, np.ndarray], P],
    folds: int = 5,
    seed: int = 0,
    strata: Sequence[Any] | np.ndarray | None = None,
    stride: bool = False,
    fold: np.ndarray | None = None,
) -> CrossFit[P]:
    """For each fold: ``fit(train indices)`` → a model (None to skip the fold), then
    ``predict(model, held-out indices)``. Folds come from ``fold_of`` unless given (``fold``)."""
    fold = fold_of(n, folds, seed, strata, stride) if fold is None else np.asarray(fold)
    if len(fold) != n:
        raise ValueError(f"{len(fold)} fold numbers for {n} items")
    out: list[Fold[P]] = []
    for k in range(int(fold.max()) + 1 if n else 0):
        test = np.flatnonzero(fold == k)
        if not test.size:
            continue
        train = np.flatnonzero(fold != k)
        model = fit(train)
        if model is None:
            continue
        out.append(Fold(k, train, test, predict(model, test)))
    return CrossFit(out, fold)
