"""Inter-coder agreement on analysis units: percent, Cohen's and Fleiss' kappa, Krippendorff's alpha.

The unit of agreement is the analysis unit (a study unit, or a `unit` id of imported coding), never
characters. Each coder contributes one code per unit at the chosen level (their first active coding
of the unit, rolled up to that level); a unit a coder did not code is missing, which Krippendorff's
alpha allows. The computations are the reference implementations: scikit-learn (Cohen), statsmodels
(Fleiss) and the `krippendorff` package (alpha); koodari only arranges the data and bootstraps.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from koodari.classify import SuggestionModel
from koodari.crossfit import fold_of
from koodari.errors import KoodariError
from koodari.hierarchy import Tree, rank, unit_key
from koodari.nlp.analysed import AnalysedText
from koodari.nlp.cache import analyse_texts, analyse_units
from koodari.store import LEVELS, Study
from koodari.suggest import training_data
from koodari.treeops import categories_as_of

MODEL = "model"


@dataclass
class CodingTable:
    """codes[unit][coder] = category id at the chosen level; texts[unit] = what was coded."""

    level: str
    coders: list[str]
    codes: dict[str, dict[str, int]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    questions: dict[str, int] = field(default_factory=dict)

    def shared_units(self) -> list[str]:
        """Units coded by at least two of the coders."""
        return [u for u, by in self.codes.items() if sum(c in by for c in self.coders) >= 2]


def coding_table(study: Study, coders: list[str] | None, level: str = "sub",
                 question: int | None = None, as_of: str | None = None) -> CodingTable:
    """The codes per unit and coder on the tree as it is now (codes follow merges and moves), or as it was
    at the time ``as_of`` (the codes that existed then, on the categories they had then)."""
    if level not in LEVELS:
        raise KoodariError(f"unknown level '{level}' (sub, upper, combining)")
    tree = Tree(study, categories_as_of(study, as_of) if as_of else None)
    rows = study.codings(as_of)
    everyone = sorted({r["coder"] for r in rows})
    wanted = [c for c in (coders or everyone) if c != MODEL]
    missing = [c for c in wanted if c not in everyone]
    if missing:
        raise KoodariError(f"no codings by coder(s) {', '.join(missing)} (coders: {', '.join(everyone) or 'none yet'})",
                           study.path)
    table = CodingTable(level, list(coders or everyone))
    for r in rows:
        if r["coder"] not in wanted or (question is not None and r["question_id"] != question):
            continue
        key = unit_key(r)
        target = tree.ancestor(r["category_id"], level) if r["category_id"] in tree.categories else None
        if target is None:
            continue
        by = table.codes.setdefault(key, {})
        by.setdefault(r["coder"], target)
        table.texts.setdefault(key, r["text"] or "")
        table.questions.setdefault(key, r["question_id"])
    return table


def model_folds(units: list[str], folds: int = 5, seed: int = 0) -> dict[str, int]:
    """The cross-fitting fold of each unit for the model coder (units dealt out in a random order)."""
    units = sorted(units)
    k = max(2, min(folds, len(units)))
    return dict(zip(units, fold_of(len(units), k, seed, stride=True).tolist(), strict=True)) if units else {}


def add_model_coder(
    study: Study, table: CodingTable, pipeline, folds: int = 5, seed: int = 0, blocks: str = "both"
) -> None:
    """The model as a coder, cross-fitted: each unit is predicted by a model that never saw its codes
    (no coder's codes of the held-out units are in its training data; folds as ``model_folds`` deals them)."""
    units = sorted(table.codes)
    if not units:
        raise KoodariError("no codings to compare the model with", study.path)
    fold = model_folds(units, folds, seed)
    data = training_data(study, pipeline)
    tree, always = data.tree, data.always
    analysed = _analyse_table_units(study, pipeline, table, units)
    coded = [e for e in data.examples if e.coder != MODEL]  # analysed once, filtered per fold
    for k in sorted(set(fold.values())):
        held = {u for u in units if fold[u] == k}
        examples = [e for e in coded if e.unit not in held]
        if not examples:
            continue
        model = SuggestionModel.fit(examples, always, blocks=blocks)
        questions = tree.question_of(model.classes)
        held_units = sorted(held)
        proba = model.predict_proba([analysed[u] for u in held_units])
        for unit, p in zip(held_units, proba, strict=True):
            ranked = rank(p, model.classes, questions, tree, table.questions[unit], table.level)
            if ranked:
                table.codes[unit][MODEL] = ranked[0][0]
    if MODEL not in table.coders:
        table.coders.append(MODEL)


def _analyse_table_units(study: Study, pipeline, table: CodingTable, units: list[str]) -> dict[str, AnalysedText]:
    """The analysed text of each unit: a study unit from the unit cache, any other coded text from the text
    cache (each text analysed once, in one of the two)."""
    segments = {u: int(u[1:]) for u in units if u[:1] == "S" and u[1:].isdigit()}
    out = {u: a for u, a in zip(segments, analyse_units(study, pipeline, list(segments.values())), strict=True)
           if a.text == table.texts[u]}
    rest = [u for u in units if u not in out]
    out.update(zip(rest, analyse_texts(study, pipeline, [table.texts[u] for u in rest]), strict=True))
    return out


def agreement(table: CodingTable, tree: Tree, bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """All agreement figures for a coding table, with the disagreements, biggest confusions first."""
    from sklearn.metrics import cohen_kappa_score

    coders = table.coders
    units = table.shared_units()
    if len(coders) < 2:
        raise KoodariError("agreement needs at least two coders")
    if not units:
        raise KoodariError(f"no unit is coded by two of the coders {', '.join(coders)}")
    categories = sorted({c for u in units for c in table.codes[u].values()})
    index = {c: i for i, c in enumerate(categories)}
    matrix = np.full((len(coders), len(units)), np.nan)
    for j, unit in enumerate(units):
        for i, coder in enumerate(coders):
            if coder in table.codes[unit]:
                matrix[i, j] = index[table.codes[unit][coder]]

    pairs_equal = []
    for unit in units:
        present = [table.codes[unit][c] for c in coders if c in table.codes[unit]]
        pairs_equal += [a == b for a, b in itertools.combinations(present, 2)]
    result: dict[str, Any] = {
        "level": table.level,
        "coders": coders,
        "n_units": len(units),
        "percent": round(100 * float(np.mean(pairs_equal)), 2),
        "cohen_kappa": None,
        "fleiss_kappa": None,
        "krippendorff_alpha": None,
        "alpha_ci": None,
    }
    if len(coders) == 2:
        both = ~np.isnan(matrix).any(axis=0)
        if both.any():
            a, b = matrix[0, both], matrix[1, both]
            result["cohen_kappa"] = _round(1.0 if len(set(a) | set(b)) == 1 else cohen_kappa_score(a, b))
    complete = ~np.isnan(matrix).any(axis=0)
    if complete.sum() >= 1:
        from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

        counts, _ = aggregate_raters(matrix[:, complete].T.astype(int))
        result["fleiss_kappa"] = _round(fleiss_kappa(counts, method="fleiss"))
    alpha = krippendorff_alpha(matrix)
    result["krippendorff_alpha"] = _round(alpha)
    if alpha is not None and bootstrap:
        rng = np.random.default_rng(seed)
        samples = []
        for _ in range(bootstrap):
            resampled = krippendorff_alpha(matrix[:, rng.integers(0, len(units), len(units))])
            if resampled is not None and not np.isnan(resampled):
                samples.append(resampled)
        if samples:
            result["alpha_ci"] = [_round(np.percentile(samples, 2.5)), _round(np.percentile(samples, 97.5))]
    result["per_category"] = per_category(table, units, tree)
    result["disagreements"] = disagreements(table, units, tree)
    return result


def krippendorff_alpha(matrix: np.ndarray) -> float | None:
    import krippendorff

    values = matrix[~np.isnan(matrix)]
    if len(set(values.tolist())) < 2:
        return 1.0 if values.size else None  # one category used by everyone: perfect (alpha undefined)
    try:
        return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))
    except (ValueError, ZeroDivisionError):
        return None


def per_category(table: CodingTable, units: list[str], tree: Tree) -> list[dict[str, Any]]:
    """Specific agreement per category: 2 × (pairs both using it) / (uses of it in pairs)."""
    both: Counter = Counter()
    uses: Counter = Counter()
    for unit in units:
        present = [table.codes[unit][c] for c in table.coders if c in table.codes[unit]]
        for a, b in itertools.combinations(present, 2):
            uses[a] += 1
            uses[b] += 1
            if a == b:
                both[a] += 2
    out = [{"category": tree.categories[c].name, "path": tree.path(c), "uses": uses[c],
            "agreement": round(both[c] / uses[c], 4)} for c in uses]
    return sorted(out, key=lambda x: (-x["uses"], x["category"]))


def disagreements(table: CodingTable, units: list[str], tree: Tree) -> list[dict[str, Any]]:
    confusion: Counter = Counter()
    rows = []
    for unit in units:
        by = {c: table.codes[unit][c] for c in table.coders if c in table.codes[unit]}
        if len(set(by.values())) > 1:
            key = tuple(sorted(set(by.values())))
            confusion[key] += 1
            rows.append((key, unit, by))
    rows.sort(key=lambda r: (-confusion[r[0]], r[1]))
    return [{"unit": unit, "text": table.texts.get(unit, ""), "question": table.questions.get(unit),
             "codes": {coder: tree.categories[c].name for coder, c in by.items()},
             "confusion_count": confusion[key]} for key, unit, by in rows]


def _round(value: float | None) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 4)
