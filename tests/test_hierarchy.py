"""The pure tree module and the cross-fitting helper, without a study file."""

import numpy as np
import pytest
from sklearn.model_selection import KFold, StratifiedKFold

from koodari.crossfit import cross_fit, fold_of
from koodari.hierarchy import CONSENSUS, Tree, coded_examples_from, disagreements_of, rank
from koodari.store import Category


def cat(id, level, name, parent=None, question=1, state="active", merged_into=None):
    return Category(id, question, level, name, parent, None, False, state, merged_into)


TREE = Tree(categories=[
    cat(1, "combining", "jaksaminen"), cat(2, "upper", "kuormitus", 1), cat(3, "sub", "kiire", 2),
    cat(4, "sub", "asiakasmäärä", 2), cat(5, "sub", "vanha kiire", 2, state="merged", merged_into=3),
    cat(6, "sub", "muu", None, question=2)])


def test_tree_and_rank_without_a_study():
    assert TREE.path(3) == ["kiire", "kuormitus", "jaksaminen"] and TREE.current(5) == 3
    assert TREE.ancestor(3, "upper") == 2 and TREE.ancestor(2, "sub") is None
    classes = np.array([3, 4, 5, 6])
    ranked = rank(np.array([0.2, 0.3, 0.3, 0.2]), classes, TREE.question_of(classes), TREE, 1, "sub")
    assert ranked == [(3, pytest.approx(0.625)), (4, pytest.approx(0.375))]  # the merged class counts for 3
    assert rank(np.array([0.2, 0.3, 0.3, 0.2]), classes, TREE.question_of(classes), TREE, 1, "upper") == [
        (2, pytest.approx(1.0))]


def row(id, coder, category, unit="u1", source="reduction"):
    return {"id": id, "segment_id": None, "unit": unit, "original": None, "reduction": f"teksti {id}",
            "category_id": category, "coder": coder, "source": source, "speaker": None, "unit_text": None,
            "question_id": 1}


def test_consensus_and_blind_rules():
    rows = [row(1, "anna", 3, source="review"), row(2, "ben", 4, source="review"), row(3, CONSENSUS, 4),
            row(4, "anna", 3, "u2", "review"), row(5, "ben", 4, "u2", "review"), row(6, "thesis", 5, "u3")]
    examples = coded_examples_from(rows, TREE)
    assert [(e.unit, e.coder) for e in examples] == [("u1", CONSENSUS), ("u2", "anna"), ("u2", "ben")]
    assert [e.coder for e in coded_examples_from(rows, TREE, blind_for="anna")] == [CONSENSUS, "anna"]
    assert disagreements_of({"u1": {"anna": 3, "ben": 4}, "u2": {"anna": 3, "ben": 3}, "u3": {"anna": 3}},
                            ["anna", "ben"]) == ["u1"]


def test_cross_fit_never_predicts_an_item_from_a_model_that_saw_it():
    strata = np.array([0, 1] * 10)
    for kwargs, splitter in (({}, KFold(4, shuffle=True, random_state=3).split(np.zeros(20))),
                             ({"strata": strata}, StratifiedKFold(4, shuffle=True, random_state=3).split(
                                 np.zeros(20), strata))):
        fitted = cross_fit(20, lambda train: set(train.tolist()), lambda seen, test: [i in seen for i in test],
                           folds=4, seed=3, **kwargs)
        assert not any(p for fold in fitted.folds for p in fold.predictions)
        assert sorted(fitted.by_item()) == list(range(20))
        assert [sorted(f.test) for f in fitted.folds] == [sorted(t) for _, t in splitter]  # scikit-learn's folds
    order = np.random.default_rng(0).permutation(7)  # stride: a permutation dealt out, as the model coder's folds
    assert [set(np.flatnonzero(fold_of(7, 3, stride=True) == k)) for k in range(3)] == [
        set(order[k::3]) for k in range(3)]
    with pytest.raises(ValueError, match="at least 2 folds"):
        fold_of(5, 1)
